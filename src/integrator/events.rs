//! Callback events an integrator change causes, written in the same
//! transaction as the change; stored and delivered by
//! [`crate::notify::callbacks`].

use crate::db::DbConn;
use crate::ledger::{AccountId, LedgerError};

/// Queues `event_type` with `data` for `till`'s callback, if it has one.
pub fn enqueue(
    conn: &mut DbConn,
    till: AccountId,
    event_type: &str,
    data: serde_json::Value,
    now_ms: i64,
) -> Result<Option<String>, LedgerError> {
    crate::notify::callbacks::enqueue_event(conn, till.0, event_type, data, now_ms)
}

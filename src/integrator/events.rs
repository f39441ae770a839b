//! Callback events an integrator change causes, written in the same
//! transaction as the change; delivered by `notify`'s callback sender.

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
    use crate::db::schema::{callback_events as ev, merchant_callbacks as mc};
    use crate::with_conn;
    use diesel::prelude::*;
    use rand::distr::{Alphanumeric, SampleString};
    let configured: Option<i64> = with_conn!(conn, c => mc::table
        .select(mc::account_id)
        .filter(mc::account_id.eq(till.0))
        .first(c)
        .optional())?;
    if configured.is_none() {
        return Ok(None);
    }
    let event_id = format!("evt_{}", Alphanumeric.sample_string(&mut rand::rng(), 24));
    let payload = serde_json::json!({
        "id": event_id,
        "type": event_type,
        "created_at": crate::domain::time::rfc3339(now_ms),
        "data": data,
    })
    .to_string();
    let row = (
        ev::event_id.eq(&event_id),
        ev::account_id.eq(till.0),
        ev::event_type.eq(event_type),
        ev::payload.eq(&payload),
        ev::next_attempt_at_ms.eq(now_ms),
        ev::created_at_ms.eq(now_ms),
    );
    with_conn!(conn, c => diesel::insert_into(ev::table).values(row).execute(c))?;
    Ok(Some(event_id))
}

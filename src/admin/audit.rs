//! The audit log (SPEC §10): one row per admin write — who (an admin key's
//! name, or `cli`), what, to what, with what outcome, when — refused
//! attempts included. The table is append-only: triggers on both backends
//! refuse any UPDATE or DELETE, so this module only appends and reads.
//! An effect and its row are written in one transaction where the effect
//! allows ([`append`] takes the caller's connection).

use crate::db::schema::audit_log;
use crate::db::DbConn;
use crate::ledger::LedgerError;
use crate::with_conn;
use diesel::prelude::*;
use serde::Serialize;

/// The actor of CLI commands.
pub const CLI: &str = "cli";
/// Longest detail kept.
const DETAIL_MAX_CHARS: usize = 500;
/// Most entries listed at once.
pub const LIST_MAX: i64 = 500;

/// One admin write, about to be recorded.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: String,
    pub action: String,
    pub target: String,
    /// `ok`, or the refusal's code (`forbidden`, `invalid_state`, …).
    pub outcome: String,
    pub detail: String,
}

impl Entry {
    pub fn new(actor: &str, action: &str, target: &str) -> Entry {
        Entry {
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            outcome: "ok".to_string(),
            detail: String::new(),
        }
    }

    pub fn outcome(mut self, outcome: &str) -> Entry {
        self.outcome = outcome.to_string();
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Entry {
        self.detail = detail.into().chars().take(DETAIL_MAX_CHARS).collect();
        self
    }
}

/// A recorded entry.
#[derive(Debug, Clone, Serialize, Queryable)]
pub struct Recorded {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub created_at_ms: i64,
}

/// Appends `entry` in the caller's transaction.
pub fn append(conn: &mut DbConn, entry: &Entry, now_ms: i64) -> Result<(), LedgerError> {
    let row = (
        audit_log::actor.eq(&entry.actor),
        audit_log::action.eq(&entry.action),
        audit_log::target.eq(&entry.target),
        audit_log::outcome.eq(&entry.outcome),
        audit_log::detail.eq(&entry.detail),
        audit_log::created_at_ms.eq(now_ms),
    );
    with_conn!(conn, c => diesel::insert_into(audit_log::table).values(row).execute(c))?;
    Ok(())
}

/// The latest `limit` entries, newest first.
pub fn latest(conn: &mut DbConn, limit: i64) -> Result<Vec<Recorded>, LedgerError> {
    Ok(with_conn!(conn, c => audit_log::table
        .select((
            audit_log::id,
            audit_log::actor,
            audit_log::action,
            audit_log::target,
            audit_log::outcome,
            audit_log::detail,
            audit_log::created_at_ms,
        ))
        .order(audit_log::id.desc())
        .limit(limit.clamp(1, LIST_MAX))
        .load(c))?)
}

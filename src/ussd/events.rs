//! How sessions ended (the aggregator's session-end notifications), which
//! sessions a returning caller may resume, and the deadline a hop is
//! answered within (SPEC §12).

use super::menu::Screen;
use super::session::{self, SessionKey};
use crate::db::prepared::Prepared;
use crate::db::DbConn;
use crate::inbound::{SessionEnd, UssdSessionEvent};
use crate::ledger::LedgerError;
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use std::sync::atomic::{AtomicU8, Ordering};

/// Records a session-end notification once (a repeat changes nothing).
/// It touches no session: a later hop is handled as if it had not come.
pub fn record(conn: &mut DbConn, aggregator: &str, e: &UssdSessionEvent, now_ms: i64) -> Result<bool, LedgerError> {
    const SQL: &str = "INSERT INTO ussd_session_events (aggregator, session_id, msisdn, status, hops_count, \
        duration_ms, cost, error_message, service_code, network_code, received_at_ms) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
    let n = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Text, _>(aggregator.to_string())
        .bind::<Text, _>(e.session_id.clone())
        .bind::<Nullable<Text>, _>(e.msisdn.as_ref().map(|m| m.to_string()))
        .bind::<Text, _>(e.status.as_str())
        .bind::<Integer, _>(e.hops_count)
        .bind::<BigInt, _>(e.duration_ms)
        .bind::<Text, _>(e.cost.clone())
        .bind::<Text, _>(e.error_message.clone())
        .bind::<Text, _>(e.service_code.clone())
        .bind::<Text, _>(e.network_code.clone())
        .bind::<BigInt, _>(now_ms)
        .execute(c))?;
    Ok(n == 1)
}

#[derive(QueryableByName)]
struct Dropped {
    #[diesel(sql_type = Text)]
    session_id: String,
}

/// The screen of `msisdn`'s latest session that ended Incomplete since
/// `since_ms`, if it was never offered for resuming and holds something to
/// resume (not a home screen).
pub fn resumable(
    conn: &mut DbConn,
    aggregator: &str,
    msisdn: &str,
    since_ms: i64,
) -> Result<Option<(String, Screen)>, LedgerError> {
    const SQL: &str = "SELECT session_id FROM ussd_session_events WHERE msisdn = ? AND aggregator = ? \
        AND status = ? AND received_at_ms >= ? AND resume_offered = 0 ORDER BY received_at_ms DESC LIMIT 1";
    let rows: Vec<Dropped> = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Text, _>(msisdn.to_string())
        .bind::<Text, _>(aggregator.to_string())
        .bind::<Text, _>(SessionEnd::Incomplete.as_str())
        .bind::<BigInt, _>(since_ms)
        .load(c))?;
    let Some(dropped) = rows.into_iter().next() else { return Ok(None) };
    let key = SessionKey { aggregator: aggregator.to_string(), session_id: dropped.session_id.clone() };
    let Some(row) = session::load(conn, &key)? else { return Ok(None) };
    if row.msisdn != msisdn {
        return Ok(None);
    }
    let screen = row.screen();
    let worth = !matches!(screen, Screen::Start | Screen::Main | Screen::UnregMain | Screen::AgentMain);
    Ok(worth.then_some((dropped.session_id, screen)))
}

/// The dropped session was offered: never again.
pub fn mark_offered(conn: &mut DbConn, aggregator: &str, session_id: &str) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE ussd_session_events SET resume_offered = 1 WHERE aggregator = ? AND session_id = ?";
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Text, _>(aggregator.to_string())
        .bind::<Text, _>(session_id.to_string())
        .execute(c))?;
    Ok(())
}

/// Forgets events received before `cutoff_ms` (housekeeping).
pub fn forget_before(conn: &mut DbConn, cutoff_ms: i64) -> Result<usize, LedgerError> {
    const SQL: &str = "DELETE FROM ussd_session_events WHERE received_at_ms < ?";
    Ok(with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(cutoff_ms).execute(c))?)
}

/// Whether a hop's answer is still awaited: the hop's commit and the
/// handler giving up at `ussd.deadline_ms` race for it, and exactly one
/// wins. If the commit wins, the caller gets its reply; if the handler
/// does, the caller gets "processing, you will get an SMS", and the commit
/// stores that as the hop's reply and sends the real one by SMS.
#[derive(Debug, Default)]
pub struct Deadline(AtomicU8);

const RUNNING: u8 = 0;
const IN_TIME: u8 = 1;
const LATE: u8 = 2;

impl Deadline {
    /// Called by the commit: true if the caller still waits for this reply.
    pub fn claim_in_time(&self) -> bool {
        match self.0.compare_exchange(RUNNING, IN_TIME, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(state) => state == IN_TIME,
        }
    }

    /// Called by the handler at the deadline: true if it may answer now.
    pub fn give_up(&self) -> bool {
        match self.0.compare_exchange(RUNNING, LATE, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(state) => state == LATE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Deadline;

    #[test]
    fn exactly_one_side_wins_the_deadline() {
        let d = Deadline::default();
        assert!(d.claim_in_time());
        assert!(d.claim_in_time(), "a retried commit still owns it");
        assert!(!d.give_up());
        let d = Deadline::default();
        assert!(d.give_up());
        assert!(!d.claim_in_time());
        assert!(d.give_up());
    }
}

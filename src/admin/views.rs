//! What an operator reads: an account's statement, one transfer with what
//! became of it, held transfers, agents' float against the low-float
//! threshold, recent alert emails, and transfers per hour. Read-only.

use crate::db::prepared::Prepared;
use crate::db::schema::{accounts, transfers};
use crate::db::DbConn;
use crate::domain::time::rfc3339;
use crate::ledger::account::{self, AccountId};
use crate::ledger::holds;
use crate::ledger::{statement, transfer, Account, LedgerError};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Serialize;
use utoipa::ToSchema;

/// Most rows any list returns.
pub const LIST_MAX: i64 = 200;

/// One line of a statement, from the account's own view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementEntry {
    pub reference: String,
    pub kind: String,
    /// Signed: negative when the account paid.
    pub amount_minor: i64,
    /// The fee this account paid on it.
    pub fee_minor: i64,
    /// The other party's name.
    pub counterparty: String,
    /// RFC 3339.
    pub created_at: String,
}

/// The latest `limit` transfers of an account, newest first.
pub fn statement_of(conn: &mut DbConn, a: &Account, limit: i64) -> Result<Vec<StatementEntry>, LedgerError> {
    let lines = statement::statement(conn, a.id, limit.clamp(1, LIST_MAX))?;
    let mut entries = Vec::with_capacity(lines.len());
    for line in lines {
        let row = transfer::find_by_reference(conn, &line.reference)?
            .ok_or_else(|| LedgerError::TransferNotFound(line.reference.clone()))?;
        let paid = row.debit_account_id == a.id.0;
        entries.push(StatementEntry {
            amount_minor: if paid { -row.amount_minor } else { row.amount_minor },
            fee_minor: if paid { row.fee_minor } else { 0 },
            reference: line.reference,
            kind: line.kind,
            counterparty: line.counterparty,
            created_at: rfc3339(line.created_at_ms),
        });
    }
    Ok(entries)
}

/// One transfer, as an operator sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransferView {
    pub reference: String,
    pub kind: String,
    /// `completed`, `reversed`, `held`, `released` or `returned`.
    pub status: String,
    pub amount_minor: i64,
    pub fee_minor: i64,
    /// The payer's phone, till or system code.
    pub from: String,
    pub to: String,
    pub created_at: String,
    /// The reversal's reference, once reversed.
    pub reversed_by: Option<String>,
}

/// The transfer with `reference`, if any.
pub fn transfer_view(conn: &mut DbConn, reference: &str) -> Result<Option<TransferView>, LedgerError> {
    let Some(row) = transfer::find_by_reference(conn, reference)? else {
        return Ok(None);
    };
    let reversed_by: Option<String> = with_conn!(conn, c => transfers::table
        .select(transfers::reference)
        .filter(transfers::reverses_transfer_id.eq(row.id))
        .first(c)
        .optional())?;
    let hold = holds::of_transfers(conn, &[row.id])?.into_iter().find(|h| h.hold_transfer_id == row.id);
    let status = match (&hold, &reversed_by) {
        (Some(h), _) => h.status.clone(),
        (None, Some(_)) => "reversed".to_string(),
        (None, None) => "completed".to_string(),
    };
    Ok(Some(TransferView {
        from: handle_of(conn, row.debit_account_id)?,
        to: handle_of(conn, row.credit_account_id)?,
        reference: row.reference,
        kind: row.kind,
        status,
        amount_minor: row.amount_minor,
        fee_minor: row.fee_minor,
        created_at: rfc3339(row.created_at_ms),
        reversed_by,
    }))
}

fn handle_of(conn: &mut DbConn, id: i64) -> Result<String, LedgerError> {
    Ok(account::find_by_id(conn, AccountId(id))?.map_or_else(|| format!("#{id}"), |a| a.handle()))
}

/// A transfer held in suspense.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldView {
    pub reference: String,
    pub from: String,
    pub to: String,
    pub amount_minor: i64,
    /// The fraud rule that held it.
    pub rule: String,
    pub held_at: String,
}

/// Transfers still held, oldest first.
pub fn held(conn: &mut DbConn) -> Result<Vec<HeldView>, LedgerError> {
    Ok(holds::list(conn, 1_000)?
        .into_iter()
        .map(|h| HeldView {
            reference: h.reference,
            from: h.payer,
            to: h.payee,
            amount_minor: h.amount_minor,
            rule: h.rule,
            held_at: h.held_at,
        })
        .collect())
}

/// An agent's float.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentFloat {
    pub msisdn: String,
    pub name: String,
    pub balance_minor: i64,
    /// Below `alerts.float_low_minor`.
    pub low: bool,
}

/// Every agent's float (up to 1,000), lowest first.
pub fn agents(conn: &mut DbConn, low_float_minor: i64) -> Result<Vec<AgentFloat>, LedgerError> {
    let rows: Vec<(Option<String>, String, i64)> = with_conn!(conn, c => accounts::table
        .select((accounts::msisdn, accounts::name, accounts::balance_minor))
        .filter(accounts::kind.eq("agent"))
        .order((accounts::balance_minor, accounts::id))
        .limit(1_000)
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(msisdn, name, balance_minor)| AgentFloat {
            msisdn: msisdn.unwrap_or_default(),
            name,
            balance_minor,
            low: balance_minor < low_float_minor,
        })
        .collect())
}

/// An alert email from the outbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertView {
    pub to: String,
    pub subject: String,
    /// The outbox status: `pending`, `sending`, `sent`, `delivered`, `failed`.
    pub status: String,
    pub created_at: String,
}

#[derive(QueryableByName)]
struct AlertRow {
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    created_at_ms: i64,
}

/// The latest `limit` alert emails, newest first.
pub fn alerts(conn: &mut DbConn, limit: i64) -> Result<Vec<AlertView>, LedgerError> {
    const SQL: &str = "SELECT recipient, subject, status, created_at_ms FROM outbox WHERE channel = 'email' \
        ORDER BY id DESC LIMIT $1";
    let rows: Vec<AlertRow> =
        with_conn!(conn, c => diesel::sql_query(SQL).bind::<BigInt, _>(limit.clamp(1, LIST_MAX)).load(c))?;
    Ok(rows
        .into_iter()
        .map(|r| AlertView {
            to: r.recipient,
            subject: r.subject,
            status: r.status,
            created_at: rfc3339(r.created_at_ms),
        })
        .collect())
}

/// Transfers that started in one hour.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HourCount {
    /// The hour's start, RFC 3339.
    pub hour: String,
    pub count: i64,
    pub amount_minor: i64,
}

#[derive(QueryableByName)]
struct HourRow {
    #[diesel(sql_type = BigInt)]
    hour_no: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// Longest span of hours asked for.
pub const HOURS_MAX: i64 = 24 * 31;

/// How far a transfer's stamp may run behind one with a smaller id. Ids
/// follow commit order and each writer stamps its transfers inside the
/// write lock, so stamps fall back only by the clock differences between
/// nodes (or a clock stepped back): far less than this.
const STAMP_DISORDER_MS: i64 = 15 * 60_000;

/// Transfers per hour over the last `hours` hours (this one included),
/// oldest first, one entry per hour, zeros too.
///
/// `created_at_ms` has no index (one more index entry on every transfer's
/// write path, for a back-office chart), so the window is found by id: a
/// binary search of rowid/primary-key probes for the first transfer
/// stamped within [`STAMP_DISORDER_MS`] before it, then one range scan
/// from there. The cost follows the window, not the whole journal.
pub fn per_hour(conn: &mut DbConn, hours: i64, now_ms: i64) -> Result<Vec<HourCount>, LedgerError> {
    const HOUR_MS: i64 = 3_600_000;
    let hours = hours.clamp(1, HOURS_MAX);
    let first = (now_ms.div_euclid(HOUR_MS) - hours + 1) * HOUR_MS;
    let from_id = first_stamped_from(conn, first.saturating_sub(STAMP_DISORDER_MS))?;
    const SQL: &str = "SELECT CAST(created_at_ms / 3600000 AS BIGINT) AS hour_no, CAST(COUNT(*) AS BIGINT) AS n, \
        CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM transfers WHERE id >= ? AND created_at_ms >= ? \
        GROUP BY created_at_ms / 3600000";
    let rows: Vec<HourRow> =
        with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(from_id).bind::<BigInt, _>(first).load(c))?;
    let mut counts: Vec<HourCount> =
        (0..hours).map(|i| HourCount { hour: rfc3339(first + i * HOUR_MS), count: 0, amount_minor: 0 }).collect();
    for r in rows {
        let Ok(i) = usize::try_from(r.hour_no - first / HOUR_MS) else { continue };
        if let Some(slot) = counts.get_mut(i) {
            slot.count = r.n;
            slot.amount_minor = r.total;
        }
    }
    Ok(counts)
}

/// The smallest transfer id whose stamp is at or after `at_ms`, assuming
/// stamps grow with ids; one past the last id if there is none.
fn first_stamped_from(conn: &mut DbConn, at_ms: i64) -> Result<i64, LedgerError> {
    #[derive(QueryableByName)]
    struct Stamp {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = BigInt)]
        created_at_ms: i64,
    }
    const NEXT: &str = "SELECT id, created_at_ms FROM transfers WHERE id >= ? ORDER BY id LIMIT 1";
    const LAST: &str = "SELECT id, created_at_ms FROM transfers ORDER BY id DESC LIMIT 1";
    let last: Vec<Stamp> = with_conn!(conn, c => Prepared::new(LAST).load(c))?;
    let Some(last) = last.into_iter().next() else { return Ok(0) };
    if last.created_at_ms < at_ms {
        return Ok(last.id.saturating_add(1));
    }
    // Invariant: every id below `lo` is stamped before `at_ms`; the row at
    // or after `hi` is stamped at or after it.
    let (mut lo, mut hi) = (0i64, last.id);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let next: Vec<Stamp> = with_conn!(conn, c => Prepared::new(NEXT).bind::<BigInt, _>(mid).load(c))?;
        match next.first() {
            Some(row) if row.created_at_ms < at_ms => lo = row.id.saturating_add(1),
            _ => hi = mid,
        }
    }
    Ok(lo)
}

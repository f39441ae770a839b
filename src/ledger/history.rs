//! What the velocity rules and the SIM-swap cap look at, read inside the
//! posting engine's write transaction (so nothing changes under the
//! decision). Only read when a rule is on or a SIM swap is in its cool-off.
//!
//! A payer's history is its newest [`POSTINGS_MAX`] principal postings,
//! found through `postings_account`; held transfers are seen with their real
//! payee. Limits on more than that many payments in a window see only those.

use super::account::AccountId;
use super::LedgerError;
use crate::db::prepared::Prepared;
use crate::db::DbConn;
use crate::limits::velocity::{History, OutEvent, DAY_MS, HOUR_MS};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

/// Postings of a payer read per decision, newest first.
pub const POSTINGS_MAX: i64 = 500;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    transfer_id: i64,
    #[diesel(sql_type = BigInt)]
    created_at_ms: i64,
    #[diesel(sql_type = BigInt)]
    amount_minor: i64,
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = BigInt)]
    credit_account_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    held_payee_id: Option<i64>,
}

/// Settings the loader needs.
pub struct Want {
    /// Look up, for each payment of the last hour, whether its payee had
    /// been paid before (the new-recipients rule).
    pub known_payees: bool,
    pub large_in_minor: Option<i64>,
    pub swap_cooloff_ms: i64,
}

/// The payer's recent history as of `now_ms`.
pub fn load(
    conn: &mut DbConn,
    payer: AccountId,
    msisdn: Option<&str>,
    want: &Want,
    now_ms: i64,
) -> Result<History, LedgerError> {
    const SQL: &str = "SELECT t.id AS transfer_id, t.created_at_ms, p.amount_minor, p.code, t.credit_account_id, \
        h.payee_id AS held_payee_id \
        FROM postings p JOIN transfers t ON t.id = p.transfer_id LEFT JOIN holds h ON h.hold_transfer_id = t.id \
        WHERE p.account_id = ? AND p.code IN ('p2p', 'cash_in', 'cash_out', 'merchant_payment') \
        ORDER BY p.transfer_id DESC LIMIT ?";
    let rows: Vec<Row> =
        with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(payer.0).bind::<BigInt, _>(POSTINGS_MAX).load(c))?;
    let swapped_at_ms = match msisdn {
        Some(m) => swapped_at(conn, m, now_ms - want.swap_cooloff_ms)?,
        None => None,
    };
    let oldest = now_ms - DAY_MS.max(swapped_at_ms.map_or(0, |s| now_ms - s));
    let mut history = History { swapped_at_ms, ..History::default() };
    // Oldest first, so each payment can say whether its payee was paid before it.
    for row in rows.iter().rev() {
        if row.amount_minor > 0 {
            let large = want.large_in_minor.is_some_and(|l| row.amount_minor >= l);
            if large && matches!(row.code.as_str(), "p2p" | "cash_in") {
                history.last_large_in_ms = Some(row.created_at_ms.max(history.last_large_in_ms.unwrap_or(0)));
            }
            continue;
        }
        if row.created_at_ms < oldest {
            continue;
        }
        let payee = AccountId(row.held_payee_id.unwrap_or(row.credit_account_id));
        let mut payee_known = history.has_paid(payee);
        if !payee_known && want.known_payees && row.created_at_ms > now_ms - HOUR_MS {
            payee_known = paid_before(conn, payer, payee, row.transfer_id)?;
        }
        let amount_minor = row.amount_minor.checked_neg().unwrap_or(i64::MAX);
        history.push(OutEvent { at_ms: row.created_at_ms, amount_minor, payee, payee_known });
    }
    Ok(history)
}

/// Whether `payer` paid `payee` in a transfer before `before_id` (held
/// payments included). With `i64::MAX`: ever.
pub fn paid_before(conn: &mut DbConn, payer: AccountId, payee: AccountId, before_id: i64) -> Result<bool, LedgerError> {
    #[derive(QueryableByName)]
    struct One {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    const SQL: &str = "SELECT CAST(1 AS BIGINT) AS n FROM postings p1 JOIN postings p2 ON p2.transfer_id = p1.transfer_id \
        WHERE p1.account_id = ? AND p1.amount_minor < 0 AND p1.transfer_id < ? \
        AND p1.code IN ('p2p', 'cash_out', 'merchant_payment') AND p2.account_id = ? AND p2.amount_minor > 0 \
        UNION ALL SELECT CAST(1 AS BIGINT) AS n FROM holds WHERE payer_id = ? AND payee_id = ? AND hold_transfer_id < ? \
        LIMIT 1";
    let rows: Vec<One> = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(payer.0)
        .bind::<BigInt, _>(before_id)
        .bind::<BigInt, _>(payee.0)
        .bind::<BigInt, _>(payer.0)
        .bind::<BigInt, _>(payee.0)
        .bind::<BigInt, _>(before_id)
        .load(c))?;
    Ok(rows.first().is_some_and(|r| r.n == 1))
}

#[derive(QueryableByName)]
struct Swap {
    #[diesel(sql_type = BigInt)]
    swapped_at_ms: i64,
}

/// When `msisdn`'s SIM was swapped, if after `since_ms`.
pub fn swapped_at(conn: &mut DbConn, msisdn: &str, since_ms: i64) -> Result<Option<i64>, LedgerError> {
    const SQL: &str = "SELECT swapped_at_ms FROM sim_swaps WHERE msisdn = ? AND swapped_at_ms > ?";
    let rows: Vec<Swap> = with_conn!(conn, c => Prepared::new(SQL).bind::<Text, _>(msisdn.to_string()).bind::<BigInt, _>(since_ms).load(c))?;
    Ok(rows.first().map(|r| r.swapped_at_ms))
}

/// Whether any SIM swap is still in its cool-off: one index probe per group
/// spares every payer a look-up when none is.
pub fn any_swap_since(conn: &mut DbConn, since_ms: i64) -> Result<bool, LedgerError> {
    const SQL: &str = "SELECT swapped_at_ms FROM sim_swaps WHERE swapped_at_ms > ? LIMIT 1";
    let rows: Vec<Swap> = with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(since_ms).load(c))?;
    Ok(!rows.is_empty())
}

/// Marks `msisdn` as SIM-swapped at `swapped_at_ms` (a later mark wins).
pub fn mark_swap(
    conn: &mut DbConn,
    msisdn: &str,
    swapped_at_ms: i64,
    source: &str,
    now_ms: i64,
) -> Result<(), LedgerError> {
    const SQL: &str = "INSERT INTO sim_swaps (msisdn, swapped_at_ms, source, marked_at_ms) VALUES (?, ?, ?, ?) \
        ON CONFLICT (msisdn) DO UPDATE SET swapped_at_ms = excluded.swapped_at_ms, source = excluded.source, \
        marked_at_ms = excluded.marked_at_ms WHERE sim_swaps.swapped_at_ms < excluded.swapped_at_ms";
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Text, _>(msisdn.to_string())
        .bind::<BigInt, _>(swapped_at_ms)
        .bind::<Text, _>(source.to_string())
        .bind::<BigInt, _>(now_ms)
        .execute(c))?;
    Ok(())
}

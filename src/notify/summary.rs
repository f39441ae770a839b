//! The daily ledger summary for the operator: totals per transfer kind for
//! a day and the result of `ledger verify`, sent as an alert email.

use super::Notices;
use crate::db::DbConn;
use crate::domain::time::iso_date;
use crate::ledger::{verify, LedgerError};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

#[derive(QueryableByName)]
struct KindTotal {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    amount_minor: i64,
    #[diesel(sql_type = BigInt)]
    fee_minor: i64,
}

/// Enqueues the summary of `day` (a day number in the operator's zone),
/// once: a second call for the same day adds nothing.
pub fn enqueue_daily(conn: &mut DbConn, notices: &Notices, day: i64, offset_minutes: i64) -> Result<(), LedgerError> {
    let start_ms = day * 86_400_000 - offset_minutes * 60_000;
    let end_ms = start_ms + 86_400_000;
    const SQL: &str =
        "SELECT kind, CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount_minor, \
        CAST(COALESCE(SUM(fee_minor), 0) AS BIGINT) AS fee_minor FROM transfers \
        WHERE created_at_ms >= $1 AND created_at_ms < $2 GROUP BY kind ORDER BY kind";
    let totals: Vec<KindTotal> = with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<BigInt, _>(start_ms)
        .bind::<BigInt, _>(end_ms)
        .load(c))?;
    let report = verify::checks_in_transaction(conn, offset_minutes)?;
    let date = iso_date(day);
    let mut body = format!(
        "mkoba daily summary for {date} (UTC{:+03}:{:02})\n\n",
        offset_minutes / 60,
        (offset_minutes % 60).abs()
    );
    body.push_str(&format!("{:<18} {:>8} {:>22} {:>18}\n", "kind", "count", "amount", "fees"));
    let (mut count, mut amount, mut fees) = (0i64, 0i64, 0i64);
    for t in &totals {
        body.push_str(&format!(
            "{:<18} {:>8} {:>22} {:>18}\n",
            t.kind,
            t.n,
            notices.money(t.amount_minor),
            notices.money(t.fee_minor)
        ));
        count += t.n;
        amount = amount.saturating_add(t.amount_minor);
        fees = fees.saturating_add(t.fee_minor);
    }
    body.push_str(&format!(
        "{:<18} {:>8} {:>22} {:>18}\n\n",
        "total",
        count,
        notices.money(amount),
        notices.money(fees)
    ));
    if report.ok() {
        body.push_str(&format!(
            "ledger verify: ok ({} accounts, {} transfers, {} postings; balances sum to 0)\n",
            report.accounts, report.transfers, report.postings
        ));
    } else {
        body.push_str("ledger verify: FAILED\n");
        for p in &report.problems {
            body.push_str(&format!("  - {p}\n"));
        }
    }
    let verdict = if report.ok() { "ok" } else { "LEDGER VERIFY FAILED" };
    notices.alert(
        conn,
        format!("mkoba daily summary {date}: {count} transfers, {verdict}"),
        body,
        format!("summary:{day}"),
    )
}

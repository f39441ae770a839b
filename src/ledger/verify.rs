//! The ledger's invariants, checked against the database as it is.

use crate::db::DbConn;
use crate::with_conn;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Serialize;

use super::LedgerError;

/// What `mkoba ledger verify` found. Empty `problems` means every invariant holds.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub accounts: i64,
    pub transfers: i64,
    pub postings: i64,
    pub balance_sum_minor: i64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Mismatch {
    #[diesel(sql_type = Text)]
    what: String,
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
}

/// Problems listed per invariant, at most this many each.
const SHOWN_MAX: usize = 20;

fn count(conn: &mut DbConn, sql: &str) -> Result<i64, LedgerError> {
    let rows: Vec<Count> = with_conn!(conn, c => diesel::sql_query(sql).load(c))?;
    Ok(rows.first().map_or(0, |r| r.n))
}

fn mismatches(conn: &mut DbConn, sql: &str) -> Result<Vec<Mismatch>, LedgerError> {
    Ok(with_conn!(conn, c => diesel::sql_query(sql).load(c))?)
}

/// The checks inside a transaction the caller already holds. Allowance
/// periods are days in the zone `offset_minutes` east of UTC.
pub fn checks_in_transaction(conn: &mut DbConn, offset_minutes: i64) -> Result<VerifyReport, LedgerError> {
    checks(conn, offset_minutes)
}

/// Runs every check in one read transaction, so the figures agree with each other.
pub fn verify(conn: &mut DbConn, offset_minutes: i64) -> Result<VerifyReport, LedgerError> {
    // One snapshot for every check (SQLite: a read transaction in WAL mode).
    match conn {
        DbConn::Pg(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?
        }
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN DEFERRED")?,
    }
    let report = checks(conn, offset_minutes);
    let _ = with_conn!(conn, c => AnsiTransactionManager::rollback_transaction(c));
    report
}

/// Invariants a query finds breaches of, each with how to say one.
const QUERY_CHECKS: [(&str, &str); 8] = [
    (
        "SELECT CAST(COALESCE(a.system_code, a.msisdn, a.till, CAST(a.id AS TEXT)) AS TEXT) AS what, \
         a.balance_minor AS a, CAST(COALESCE(p.total, 0) AS BIGINT) AS b \
         FROM accounts a LEFT JOIN (SELECT account_id, SUM(amount_minor) AS total FROM postings GROUP BY account_id) p \
         ON p.account_id = a.id WHERE a.balance_minor <> COALESCE(p.total, 0)",
        "account {what}: balance {a} minor but its postings sum to {b}",
    ),
    (
        "SELECT CAST(COALESCE(msisdn, till, CAST(id AS TEXT)) AS TEXT) AS what, balance_minor AS a, CAST(0 AS BIGINT) AS b \
         FROM accounts WHERE kind <> 'system' AND balance_minor < 0",
        "account {what} (not a system account) has a negative balance: {a} minor",
    ),
    (
        "SELECT t.reference AS what, CAST(COALESCE(SUM(p.amount_minor), 0) AS BIGINT) AS a, CAST(COUNT(p.id) AS BIGINT) AS b \
         FROM transfers t LEFT JOIN postings p ON p.transfer_id = t.id \
         GROUP BY t.id, t.reference HAVING COALESCE(SUM(p.amount_minor), 0) <> 0 OR COUNT(p.id) < 2",
        "transfer {what} does not balance: its {b} postings sum to {a} minor",
    ),
    (
        "SELECT t.reference AS what, t.amount_minor AS a, \
         CAST(COALESCE(SUM(CASE WHEN p.amount_minor > 0 AND p.code = t.kind THEN p.amount_minor ELSE 0 END), 0) AS BIGINT) AS b \
         FROM transfers t LEFT JOIN postings p ON p.transfer_id = t.id WHERE t.kind <> 'reversal' \
         GROUP BY t.id, t.reference, t.amount_minor HAVING t.amount_minor <> \
         COALESCE(SUM(CASE WHEN p.amount_minor > 0 AND p.code = t.kind THEN p.amount_minor ELSE 0 END), 0)",
        "transfer {what} is for {a} minor but its principal postings move {b}",
    ),
    // A reversal must undo its original exactly: per account, the two sum to zero.
    (
        "SELECT r.reference AS what, CAST(COUNT(*) AS BIGINT) AS a, CAST(0 AS BIGINT) AS b FROM transfers r \
         JOIN (SELECT account_id, transfer_id, SUM(amount_minor) AS s FROM postings GROUP BY account_id, transfer_id) pr \
           ON pr.transfer_id = r.id \
         LEFT JOIN (SELECT account_id, transfer_id, SUM(amount_minor) AS s FROM postings GROUP BY account_id, transfer_id) po \
           ON po.transfer_id = r.reverses_transfer_id AND po.account_id = pr.account_id \
         WHERE r.kind = 'reversal' AND pr.s + COALESCE(po.s, 0) <> 0 GROUP BY r.reference",
        "reversal {what} does not exactly undo its original ({a} accounts differ)",
    ),
    // Refunds never return more than the payment paid, in total.
    (
        "SELECT o.reference AS what, o.amount_minor AS a, CAST(SUM(r.amount_minor) AS BIGINT) AS b \
         FROM transfers r JOIN transfers o ON o.id = r.refunds_transfer_id WHERE r.kind = 'refund' \
         GROUP BY o.id, o.reference, o.amount_minor HAVING SUM(r.amount_minor) > o.amount_minor",
        "payment {what} paid {a} minor but was refunded {b}",
    ),
    // A refund goes back from the till that was paid to the payer who paid.
    (
        "SELECT r.reference AS what, r.amount_minor AS a, CAST(0 AS BIGINT) AS b \
         FROM transfers r JOIN transfers o ON o.id = r.refunds_transfer_id WHERE r.kind = 'refund' \
         AND (r.debit_account_id <> o.credit_account_id OR r.credit_account_id <> o.debit_account_id \
              OR o.kind NOT IN ('merchant_payment', 'charge'))",
        "refund {what} does not return a payment to its payer",
    ),
    // An approved payment request was paid by its own transfer, as asked.
    (
        "SELECT ap.public_id AS what, ap.amount_minor AS a, CAST(COALESCE(t.amount_minor, 0) AS BIGINT) AS b \
         FROM approvals ap LEFT JOIN transfers t ON t.id = ap.transfer_id \
         WHERE ap.kind = 'payment' AND ap.status = 'approved' AND (t.id IS NULL OR t.kind <> 'merchant_payment' \
           OR t.amount_minor <> ap.amount_minor OR t.debit_account_id <> ap.customer_id OR t.credit_account_id <> ap.till_id)",
        "payment request {what} for {a} minor is approved but its transfer moved {b}",
    ),
];

fn checks(conn: &mut DbConn, offset_minutes: i64) -> Result<VerifyReport, LedgerError> {
    let mut problems = Vec::new();
    let accounts = count(conn, "SELECT COUNT(*) AS n FROM accounts")?;
    let transfers = count(conn, "SELECT COUNT(*) AS n FROM transfers")?;
    let postings = count(conn, "SELECT COUNT(*) AS n FROM postings")?;
    let balance_sum_minor = count(conn, "SELECT CAST(COALESCE(SUM(balance_minor), 0) AS BIGINT) AS n FROM accounts")?;
    if balance_sum_minor != 0 {
        problems.push(format!("the balances of all accounts sum to {balance_sum_minor} minor, not 0"));
    }
    for (sql, template) in QUERY_CHECKS {
        let found = mismatches(conn, sql)?;
        let total = found.len();
        for m in found.into_iter().take(SHOWN_MAX) {
            problems.push(
                template.replace("{what}", &m.what).replace("{a}", &m.a.to_string()).replace("{b}", &m.b.to_string()),
            );
        }
        if total > SHOWN_MAX {
            problems.push(format!("… and {} more like the above", total - SHOWN_MAX));
        }
    }
    // Suspense holds exactly what waits in holds still held.
    let suspense = mismatches(
        conn,
        "SELECT CAST('suspense' AS TEXT) AS what, a.balance_minor AS a, \
         CAST(COALESCE((SELECT SUM(amount_minor + fee_minor) FROM holds WHERE status = 'held'), 0) AS BIGINT) AS b \
         FROM accounts a WHERE a.system_code = 'suspense'",
    )?;
    for m in suspense.into_iter().filter(|m| m.a != m.b) {
        problems.push(format!("the suspense account holds {} minor but held transfers total {}", m.a, m.b));
    }
    problems.extend(allowances(conn, offset_minutes)?);
    Ok(VerifyReport { accounts, transfers, postings, balance_sum_minor, problems })
}

/// Every allowance's charges stay within its limit in each period, and what
/// it says it spent in its current period is what its charges add up to.
fn allowances(conn: &mut DbConn, offset_minutes: i64) -> Result<Vec<String>, LedgerError> {
    #[derive(QueryableByName)]
    struct Charged {
        #[diesel(sql_type = Text)]
        public_id: String,
        #[diesel(sql_type = BigInt)]
        limit_minor: i64,
        #[diesel(sql_type = Text)]
        period: String,
        #[diesel(sql_type = BigInt)]
        period_no: i64,
        #[diesel(sql_type = BigInt)]
        spent_minor: i64,
        #[diesel(sql_type = BigInt)]
        amount_minor: i64,
        #[diesel(sql_type = BigInt)]
        created_at_ms: i64,
    }
    const SQL: &str = "SELECT ap.public_id, ap.amount_minor AS limit_minor, ap.period, ap.period_no, ap.spent_minor, \
        t.amount_minor, t.created_at_ms FROM allowance_charges ac JOIN approvals ap ON ap.id = ac.approval_id \
        JOIN transfers t ON t.id = ac.transfer_id ORDER BY ap.id, t.id";
    let rows: Vec<Charged> = with_conn!(conn, c => diesel::sql_query(SQL).load(c))?;
    let mut per_period: std::collections::BTreeMap<(String, i64), (i64, i64, i64, i64)> = Default::default();
    for r in rows {
        let period = crate::domain::time::Period::parse(&r.period)
            .ok_or_else(|| LedgerError::corrupt("approvals.period", &r.period))?;
        let no = period.number(r.created_at_ms, offset_minutes);
        let entry = per_period.entry((r.public_id, no)).or_insert((0, r.limit_minor, r.period_no, r.spent_minor));
        entry.0 = entry.0.saturating_add(r.amount_minor);
    }
    let mut problems = Vec::new();
    for ((id, no), (sum, limit, stored_no, spent)) in per_period {
        if sum > limit {
            problems.push(format!("allowance {id} charged {sum} minor in period {no}, over its limit of {limit}"));
        }
        if no == stored_no && sum != spent {
            problems
                .push(format!("allowance {id} says it spent {spent} minor this period but its charges sum to {sum}"));
        }
    }
    problems.truncate(SHOWN_MAX);
    Ok(problems)
}

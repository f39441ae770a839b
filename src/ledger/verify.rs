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

/// The checks inside a transaction the caller already holds.
pub fn checks_in_transaction(conn: &mut DbConn) -> Result<VerifyReport, LedgerError> {
    checks(conn)
}

/// Runs every check in one read transaction, so the figures agree with each other.
pub fn verify(conn: &mut DbConn) -> Result<VerifyReport, LedgerError> {
    // One snapshot for every check (SQLite: a read transaction in WAL mode).
    match conn {
        DbConn::Pg(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?
        }
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN DEFERRED")?,
    }
    let report = checks(conn);
    let _ = with_conn!(conn, c => AnsiTransactionManager::rollback_transaction(c));
    report
}

fn checks(conn: &mut DbConn) -> Result<VerifyReport, LedgerError> {
    let mut problems = Vec::new();
    let accounts = count(conn, "SELECT COUNT(*) AS n FROM accounts")?;
    let transfers = count(conn, "SELECT COUNT(*) AS n FROM transfers")?;
    let postings = count(conn, "SELECT COUNT(*) AS n FROM postings")?;
    let balance_sum_minor = count(conn, "SELECT CAST(COALESCE(SUM(balance_minor), 0) AS BIGINT) AS n FROM accounts")?;
    if balance_sum_minor != 0 {
        problems.push(format!("the balances of all accounts sum to {balance_sum_minor} minor, not 0"));
    }
    let checks: [(&str, &str); 4] = [
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
            "account {what} ({kind}) has a negative balance: {a} minor",
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
    ];
    for (sql, template) in checks {
        let found = mismatches(conn, sql)?;
        let total = found.len();
        for m in found.into_iter().take(SHOWN_MAX) {
            problems.push(
                template
                    .replace("{what}", &m.what)
                    .replace("{kind}", "not a system account")
                    .replace("{a}", &m.a.to_string())
                    .replace("{b}", &m.b.to_string()),
            );
        }
        if total > SHOWN_MAX {
            problems.push(format!("… and {} more like the above", total - SHOWN_MAX));
        }
    }
    // A reversal must undo its original exactly: per account, the two sum to zero.
    let unbalanced_reversals = mismatches(
        conn,
        "SELECT r.reference AS what, CAST(COUNT(*) AS BIGINT) AS a, CAST(0 AS BIGINT) AS b FROM transfers r \
         JOIN (SELECT account_id, transfer_id, SUM(amount_minor) AS s FROM postings GROUP BY account_id, transfer_id) pr \
           ON pr.transfer_id = r.id \
         LEFT JOIN (SELECT account_id, transfer_id, SUM(amount_minor) AS s FROM postings GROUP BY account_id, transfer_id) po \
           ON po.transfer_id = r.reverses_transfer_id AND po.account_id = pr.account_id \
         WHERE r.kind = 'reversal' AND pr.s + COALESCE(po.s, 0) <> 0 GROUP BY r.reference",
    )?;
    for m in unbalanced_reversals.into_iter().take(SHOWN_MAX) {
        problems.push(format!("reversal {} does not exactly undo its original ({} accounts differ)", m.what, m.a));
    }
    // Suspense holds exactly what waits in holds still held.
    let suspense = mismatches(
        conn,
        "SELECT CAST('suspense' AS TEXT) AS what, a.balance_minor AS a,          CAST(COALESCE((SELECT SUM(amount_minor + fee_minor) FROM holds WHERE status = 'held'), 0) AS BIGINT) AS b          FROM accounts a WHERE a.system_code = 'suspense'",
    )?;
    for m in suspense.into_iter().filter(|m| m.a != m.b) {
        problems.push(format!("the suspense account holds {} minor but held transfers total {}", m.a, m.b));
    }
    Ok(VerifyReport { accounts, transfers, postings, balance_sum_minor, problems })
}

//! Mini statements: an account's latest transfers, net of fees, with the
//! counterparty's name.

use super::account::{self, AccountId};
use super::LedgerError;
use crate::db::DbConn;
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct StatementLine {
    pub reference: String,
    pub kind: String,
    /// What this account gained (positive) or lost (negative), fees included.
    pub net_minor: i64,
    pub counterparty: String,
    pub created_at_ms: i64,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    transfer_id: i64,
    #[diesel(sql_type = BigInt)]
    net_minor: i64,
}

/// The latest `limit` transfers that touched the account, newest first.
pub fn statement(conn: &mut DbConn, id: AccountId, limit: i64) -> Result<Vec<StatementLine>, LedgerError> {
    const SQL: &str = "SELECT transfer_id, CAST(SUM(amount_minor) AS BIGINT) AS net_minor FROM postings \
        WHERE account_id = $1 GROUP BY transfer_id ORDER BY transfer_id DESC LIMIT $2";
    let rows: Vec<Row> = with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<BigInt, _>(id.0)
        .bind::<BigInt, _>(limit)
        .load(c))?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(t) = super::transfer::find_by_id(conn, row.transfer_id)? else {
            continue;
        };
        let other = if t.debit_account_id == id.0 { t.credit_account_id } else { t.debit_account_id };
        let counterparty = account::find_by_id(conn, AccountId(other))?.map_or_else(String::new, |a| a.name);
        lines.push(StatementLine {
            reference: t.reference,
            kind: t.kind,
            net_minor: row.net_minor,
            counterparty,
            created_at_ms: t.created_at_ms,
        });
    }
    Ok(lines)
}

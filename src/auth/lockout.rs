//! Consecutive wrong PINs lock an account (state in the database, shared by
//! every process and channel) until `mkoba pin unlock`.

use crate::db::DbConn;
use crate::ledger::{AccountId, AccountStatus, LedgerError};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};

#[derive(QueryableByName)]
struct FailureRow {
    #[diesel(sql_type = Integer)]
    pin_failures: i32,
    #[diesel(sql_type = Text)]
    status: String,
}

/// Counts a wrong PIN; the `max_attempts`-th in a row locks the account.
/// Returns the failures so far and whether the account is now locked.
pub fn record_failure(conn: &mut DbConn, id: AccountId, max_attempts: u32) -> Result<(u32, bool), LedgerError> {
    const SQL: &str = "UPDATE accounts SET pin_failures = pin_failures + 1, \
        status = CASE WHEN pin_failures + 1 >= $1 AND status = 'active' THEN 'locked' ELSE status END \
        WHERE id = $2 RETURNING pin_failures, status";
    let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
    let rows: Vec<FailureRow> = with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Integer, _>(max)
        .bind::<BigInt, _>(id.0)
        .load(c))?;
    let row = rows.into_iter().next().ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?;
    let failures = u32::try_from(row.pin_failures).unwrap_or(0);
    Ok((failures, row.status == AccountStatus::Locked.as_str()))
}

/// A right PIN clears the count (written only when there is one to clear).
pub fn reset_failures(conn: &mut DbConn, id: AccountId) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE accounts SET pin_failures = 0 WHERE id = $1 AND pin_failures <> 0";
    with_conn!(conn, c => diesel::sql_query(SQL).bind::<BigInt, _>(id.0).execute(c))?;
    Ok(())
}

pub fn set_pin_hash(conn: &mut DbConn, id: AccountId, pin_hash: &str) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE accounts SET pin_hash = $1, pin_failures = 0 WHERE id = $2";
    with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(pin_hash)
        .bind::<BigInt, _>(id.0)
        .execute(c))?;
    Ok(())
}

pub fn set_language(conn: &mut DbConn, id: AccountId, language: &str) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE accounts SET language = $1 WHERE id = $2";
    with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(language)
        .bind::<BigInt, _>(id.0)
        .execute(c))?;
    Ok(())
}

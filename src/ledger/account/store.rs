//! The queries on `accounts`: insert, look up by number, till, id or system
//! code, and set a status.

use super::{Account, AccountId, AccountKey, AccountRow, AccountStatus, NewAccount};
use crate::db::schema::accounts;
use crate::db::DbConn;
use crate::ledger::LedgerError;
use crate::with_conn;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, new: &NewAccount) -> Result<AccountId, LedgerError> {
    let inserted = with_conn!(conn, c => diesel::insert_into(accounts::table)
        .values(new)
        .returning(accounts::id)
        .get_result::<i64>(c));
    match inserted {
        Ok(id) => Ok(AccountId(id)),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            let what = new
                .msisdn
                .clone()
                .or_else(|| new.till.as_ref().map(|t| format!("till {t}")))
                .unwrap_or_else(|| new.name.clone());
            Err(LedgerError::DuplicateAccount(what))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn find(conn: &mut DbConn, key: &AccountKey) -> Result<Option<Account>, LedgerError> {
    let row = match key {
        AccountKey::Msisdn(m) => with_conn!(conn, c => accounts::table
            .select(AccountRow::as_select())
            .filter(accounts::msisdn.eq(m.as_str()))
            .first(c)
            .optional()),
        AccountKey::Till(t) => with_conn!(conn, c => accounts::table
            .select(AccountRow::as_select())
            .filter(accounts::till.eq(t.as_str()))
            .first(c)
            .optional()),
    };
    row?.map(Account::try_from).transpose()
}

pub fn find_by_id(conn: &mut DbConn, id: AccountId) -> Result<Option<Account>, LedgerError> {
    let row = with_conn!(conn, c => accounts::table
        .select(AccountRow::as_select())
        .find(id.0)
        .first(c)
        .optional())?;
    row.map(Account::try_from).transpose()
}

/// The rows of many accounts, in a few statements prepared once each.
pub fn find_rows(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<AccountRow>, LedgerError> {
    crate::ledger::write::rows_with_ids(conn, "SELECT * FROM accounts WHERE id IN", ids)
}

pub fn find_system(conn: &mut DbConn, code: &str) -> Result<AccountId, LedgerError> {
    let id = with_conn!(conn, c => accounts::table
        .select(accounts::id)
        .filter(accounts::system_code.eq(code))
        .first::<i64>(c)
        .optional())?;
    id.map(AccountId).ok_or_else(|| LedgerError::UnknownAccount(format!("system account {code} (run mkoba migrate)")))
}

pub fn set_status(conn: &mut DbConn, id: AccountId, status: AccountStatus) -> Result<(), LedgerError> {
    with_conn!(conn, c => diesel::update(accounts::table.find(id.0))
        .set((
            accounts::status.eq(status.as_str()),
            accounts::pin_failures.eq(0),
            // Attempts still running when the account is unlocked count no more.
            accounts::pin_cleared_ticket.eq(accounts::pin_tickets),
        ))
        .execute(c))?;
    Ok(())
}

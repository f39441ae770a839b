//! A caller's chosen language before they have an account (set from the
//! unregistered menu, used by every channel), keyed by phone number.

use crate::db::DbConn;
use crate::ledger::LedgerError;
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// A language chosen before registering, remembered for the next dial.
pub fn preferred_language(conn: &mut DbConn, msisdn: &str) -> Result<Option<String>, LedgerError> {
    #[derive(QueryableByName)]
    struct Lang {
        #[diesel(sql_type = Text)]
        language: String,
    }
    const SQL: &str = "SELECT language FROM msisdn_preferences WHERE msisdn = $1";
    let rows: Vec<Lang> = with_conn!(conn, c => diesel::sql_query(SQL).bind::<Text, _>(msisdn).load(c))?;
    Ok(rows.into_iter().next().map(|l| l.language))
}

pub fn set_preferred_language(conn: &mut DbConn, msisdn: &str, language: &str, now_ms: i64) -> Result<(), LedgerError> {
    const SQL: &str = "INSERT INTO msisdn_preferences (msisdn, language, updated_at_ms) VALUES ($1, $2, $3) \
        ON CONFLICT (msisdn) DO UPDATE SET language = excluded.language, updated_at_ms = excluded.updated_at_ms";
    with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(msisdn)
        .bind::<Text, _>(language)
        .bind::<BigInt, _>(now_ms)
        .execute(c))?;
    Ok(())
}

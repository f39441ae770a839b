//! Accounts: customer wallets, agent floats, merchant tills and the
//! operator's system accounts.

use super::LedgerError;
use crate::db::schema::accounts;
use crate::db::DbConn;
use crate::domain::{now_ms, Money, Msisdn, Till};
use crate::with_conn;
use diesel::prelude::*;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AccountId(pub i64);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Customer,
    Agent,
    Merchant,
    System,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Customer => "customer",
            AccountKind::Agent => "agent",
            AccountKind::Merchant => "merchant",
            AccountKind::System => "system",
        }
    }

    /// A kind read from the database; anything else is a corrupt row, never
    /// guessed (an unknown kind taken as `system` would carry no limits).
    pub fn from_stored(s: &str) -> Result<AccountKind, LedgerError> {
        Ok(match s {
            "customer" => AccountKind::Customer,
            "agent" => AccountKind::Agent,
            "merchant" => AccountKind::Merchant,
            "system" => AccountKind::System,
            other => return Err(LedgerError::corrupt("accounts.kind", other)),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    /// Too many wrong PINs; `mkoba pin unlock` reopens it.
    Locked,
    /// Stopped by the operator: moves no money either way.
    Suspended,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Locked => "locked",
            AccountStatus::Suspended => "suspended",
        }
    }

    /// A status read from the database; anything else is a corrupt row.
    pub fn from_stored(s: &str) -> Result<AccountStatus, LedgerError> {
        Ok(match s {
            "active" => AccountStatus::Active,
            "locked" => AccountStatus::Locked,
            "suspended" => AccountStatus::Suspended,
            other => return Err(LedgerError::corrupt("accounts.status", other)),
        })
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    En,
    Sw,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Sw => "sw",
        }
    }

    /// What a person typed (`EN`, ` sw `).
    pub fn parse(s: &str) -> Option<Language> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Language::En),
            "sw" => Some(Language::Sw),
            _ => None,
        }
    }

    /// A language read from the database; anything else is a corrupt row.
    pub fn from_stored(s: &str) -> Result<Language, LedgerError> {
        match s {
            "en" => Ok(Language::En),
            "sw" => Ok(Language::Sw),
            other => Err(LedgerError::corrupt("language", other)),
        }
    }
}

/// A row of `accounts` as stored.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: i64,
    pub kind: String,
    pub msisdn: Option<String>,
    pub till: Option<String>,
    pub system_code: Option<String>,
    pub contact_msisdn: Option<String>,
    pub name: String,
    pub id_number: Option<String>,
    pub tier: String,
    pub status: String,
    pub language: String,
    pub balance_minor: i64,
    pub allow_negative: i32,
    pub out_day: i64,
    pub out_day_minor: i64,
    pub pin_hash: Option<String>,
    pub pin_failures: i32,
    pub created_at_ms: i64,
}

/// An account as the rest of mkoba sees it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub kind: AccountKind,
    pub msisdn: Option<Msisdn>,
    pub till: Option<Till>,
    pub system_code: Option<String>,
    pub contact_msisdn: Option<Msisdn>,
    pub name: String,
    pub id_number: Option<String>,
    pub tier: String,
    pub status: AccountStatus,
    pub language: Language,
    pub balance_minor: i64,
    pub pin_hash: Option<String>,
    pub pin_failures: i32,
    pub out_day: i64,
    pub out_day_minor: i64,
    pub created_at_ms: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = LedgerError;

    fn try_from(r: AccountRow) -> Result<Account, LedgerError> {
        Ok(Account {
            id: AccountId(r.id),
            kind: AccountKind::from_stored(&r.kind)?,
            msisdn: r.msisdn.map(Msisdn::from_stored),
            till: r.till.map(Till::from_stored),
            system_code: r.system_code,
            contact_msisdn: r.contact_msisdn.map(Msisdn::from_stored),
            name: r.name,
            id_number: r.id_number,
            tier: r.tier,
            status: AccountStatus::from_stored(&r.status)?,
            language: Language::from_stored(&r.language)?,
            balance_minor: r.balance_minor,
            pin_hash: r.pin_hash,
            pin_failures: r.pin_failures,
            out_day: r.out_day,
            out_day_minor: r.out_day_minor,
            created_at_ms: r.created_at_ms,
        })
    }
}

impl Account {
    /// How the account is named to people: phone, till or system code.
    pub fn handle(&self) -> String {
        self.msisdn
            .as_ref()
            .map(|m| m.to_string())
            .or_else(|| self.till.as_ref().map(|t| format!("till {t}")))
            .or_else(|| self.system_code.clone())
            .unwrap_or_else(|| self.id.to_string())
    }

    pub fn balance(&self) -> Money {
        Money::from_minor(self.balance_minor.max(0)).unwrap_or_default()
    }
}

/// A new customer, agent or merchant, built by [`NewAccount::customer`],
/// [`NewAccount::agent`] or [`NewAccount::merchant`] (which keep kind,
/// number or till, and tier consistent).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = accounts)]
pub struct NewAccount {
    kind: String,
    msisdn: Option<String>,
    till: Option<String>,
    contact_msisdn: Option<String>,
    name: String,
    id_number: Option<String>,
    tier: String,
    language: String,
    pin_hash: Option<String>,
    created_at_ms: i64,
}

impl NewAccount {
    fn new(kind: AccountKind, name: &str, tier: &str) -> NewAccount {
        NewAccount {
            kind: kind.as_str().to_string(),
            msisdn: None,
            till: None,
            contact_msisdn: None,
            name: name.to_string(),
            id_number: None,
            tier: tier.to_string(),
            language: Language::En.as_str().to_string(),
            pin_hash: None,
            created_at_ms: now_ms(),
        }
    }

    /// A customer of `tier` (`basic` when self-registered, `standard` once
    /// the ID is verified).
    pub fn customer(msisdn: &Msisdn, name: &str, tier: &str, pin_hash: Option<String>) -> NewAccount {
        NewAccount { msisdn: Some(msisdn.to_string()), pin_hash, ..NewAccount::new(AccountKind::Customer, name, tier) }
    }

    pub fn agent(msisdn: &Msisdn, name: &str, pin_hash: Option<String>) -> NewAccount {
        NewAccount { msisdn: Some(msisdn.to_string()), pin_hash, ..NewAccount::new(AccountKind::Agent, name, "agent") }
    }

    /// A merchant, paid by till; `contact` gets its receipts.
    pub fn merchant(till: &Till, name: &str, contact: &Msisdn) -> NewAccount {
        NewAccount {
            till: Some(till.to_string()),
            contact_msisdn: Some(contact.to_string()),
            ..NewAccount::new(AccountKind::Merchant, name, "merchant")
        }
    }

    pub fn with_id_number(self, id_number: Option<String>) -> NewAccount {
        NewAccount { id_number, ..self }
    }

    pub fn with_language(self, language: Language) -> NewAccount {
        NewAccount { language: language.as_str().to_string(), ..self }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn language(&self) -> &str {
        &self.language
    }
}

/// How someone names an account: by phone number or till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountKey {
    Msisdn(Msisdn),
    Till(Till),
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountKey::Msisdn(m) => f.write_str(m.as_str()),
            AccountKey::Till(t) => write!(f, "till {t}"),
        }
    }
}

/// A till number, or a refusal saying what a till looks like.
pub fn parse_till(s: &str) -> Result<Till, LedgerError> {
    Till::parse(s).map_err(|e| LedgerError::InvalidInput(e.to_string()))
}

/// A person's or shop's name, or why not (see [`crate::domain::name`]).
pub fn clean_name(s: &str) -> Result<String, LedgerError> {
    crate::domain::name::clean(s).map_err(|e| LedgerError::InvalidInput(e.to_string()))
}

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
    /// Ids per statement: a handful of distinct statements to keep prepared.
    const PER_STATEMENT: usize = 64;
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(PER_STATEMENT) {
        let sql = format!("SELECT * FROM accounts WHERE id IN {}", crate::db::prepared::row(chunk.len()));
        let rows: Vec<AccountRow> = with_conn!(conn, c => {
            let mut q = crate::db::prepared::Prepared::new(sql.clone());
            for &id in chunk {
                q = q.bind::<diesel::sql_types::BigInt, _>(id);
            }
            q.load(c)
        })?;
        found.extend(rows);
    }
    Ok(found)
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

#[cfg(test)]
mod tests {

    #[test]
    fn unknown_stored_values_are_errors_not_guesses() {
        use super::{AccountKind, AccountStatus, Language};
        assert_eq!(AccountKind::from_stored("agent").ok(), Some(AccountKind::Agent));
        assert!(AccountKind::from_stored("vip").is_err(), "an unknown kind must not become system (no limits)");
        assert_eq!(AccountStatus::from_stored("locked").ok(), Some(AccountStatus::Locked));
        assert!(AccountStatus::from_stored("Active").is_err());
        assert_eq!(Language::from_stored("sw").ok(), Some(Language::Sw));
        assert!(Language::from_stored("SW").is_err(), "stored values are exact; people's input goes through parse");
        assert_eq!(Language::parse(" SW "), Some(Language::Sw));
        let e = AccountKind::from_stored("vip").expect_err("corrupt");
        assert!(!e.is_refusal() && e.to_string().contains("accounts.kind"), "{e}");
    }
}

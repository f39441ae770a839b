//! Accounts: customer wallets, agent floats, merchant tills and the
//! operator's system accounts. This module owns the account types and the
//! rules for naming one; the stored kinds, statuses and languages are in
//! `kinds`, the queries in `store` (re-exported here, so
//! `account::find`, `account::insert`… keep their paths).

use super::LedgerError;
use crate::db::schema::accounts;
use crate::domain::{now_ms, Money, Msisdn, Till};
use diesel::prelude::*;
use serde::Serialize;
use std::fmt;

mod kinds;
mod store;

pub use kinds::{AccountKind, AccountStatus, Language};
pub use store::{find, find_by_id, find_rows, find_system, insert, set_status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AccountId(pub i64);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
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

    pub fn is_agent(&self) -> bool {
        self.kind == AccountKind::Agent.as_str()
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

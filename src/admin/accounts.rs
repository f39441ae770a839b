//! Accounts as an operator sees and steers them: the account view (the
//! fields of `mkoba account show --json`), creating customers, agents and
//! merchants (with the welcome SMS in the same transaction), and
//! suspending, resuming and unlocking. Every change is audited.

use super::audit::Entry;
use super::run::{audited_once, Done, Idem};
use crate::config::Config;
use crate::db::DbConn;
use crate::domain::{Currency, Msisdn};
use crate::ledger::account::{self, parse_till};
use crate::ledger::{Account, AccountKey, AccountStatus, Language, Ledger, LedgerError, NewAccount};
use crate::notify::Notices;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// An account as `mkoba account show --json` and the admin API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    /// The account's phone (E.164 digits), or a merchant's contact phone.
    pub msisdn: Option<String>,
    /// A merchant's till.
    pub till: Option<String>,
    pub name: String,
    /// `customer`, `agent`, `merchant` (or `system`).
    pub kind: String,
    pub balance_minor: i64,
    /// The balance for people, e.g. `KES 1,250.50`.
    pub balance: String,
    pub currency: String,
    pub tier: String,
    /// `active`, `locked` or `suspended`.
    pub status: String,
    pub language: String,
    pub id_number: Option<String>,
    pub created_at_ms: i64,
}

impl AccountView {
    pub fn of(a: &Account, currency: &Currency) -> AccountView {
        AccountView {
            msisdn: a.msisdn.as_ref().or(a.contact_msisdn.as_ref()).map(|m| m.to_string()),
            till: a.till.as_ref().map(|t| t.to_string()),
            name: a.name.clone(),
            kind: a.kind.as_str().to_string(),
            balance_minor: a.balance_minor,
            balance: currency.show(a.balance_minor),
            currency: currency.code.clone(),
            tier: a.tier.clone(),
            status: a.status.as_str().to_string(),
            language: a.language.as_str().to_string(),
            id_number: a.id_number.clone(),
            created_at_ms: a.created_at_ms,
        }
    }
}

/// A till is 5 to 8 digits; anything else is read as a phone number.
pub fn parse_key(s: &str, config: &Config) -> Result<AccountKey, LedgerError> {
    if let Ok(till) = parse_till(s) {
        return Ok(AccountKey::Till(till));
    }
    Msisdn::parse(s, &config.number_plan())
        .map(AccountKey::Msisdn)
        .map_err(|_| LedgerError::InvalidInput(format!("'{}' is neither a phone number nor a till", s.trim())))
}

/// The account, or `UnknownAccount`.
pub fn existing(conn: &mut DbConn, key: &AccountKey) -> Result<Account, LedgerError> {
    account::find(conn, key)?.ok_or_else(|| LedgerError::UnknownAccount(key.to_string()))
}

/// What an operator does to an account's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Suspend,
    Resume,
    /// Clears wrong-PIN failures and a lock.
    Unlock,
}

impl Change {
    pub fn action(self) -> &'static str {
        match self {
            Change::Suspend => "account.suspend",
            Change::Resume => "account.resume",
            Change::Unlock => "account.unlock",
        }
    }

    /// The new status, or why the change makes no sense now.
    fn apply(self, a: &Account) -> Result<AccountStatus, LedgerError> {
        let who = a.handle();
        match (self, a.status) {
            (Change::Suspend, AccountStatus::Suspended) => {
                Err(LedgerError::InvalidState(format!("{who} is already suspended")))
            }
            (Change::Suspend, _) => Ok(AccountStatus::Suspended),
            (Change::Resume, AccountStatus::Suspended) => Ok(AccountStatus::Active),
            (Change::Resume, _) => Err(LedgerError::InvalidState(format!("{who} is not suspended"))),
            (Change::Unlock, AccountStatus::Locked) => Ok(AccountStatus::Active),
            (Change::Unlock, AccountStatus::Active) if a.pin_failures > 0 => Ok(AccountStatus::Active),
            (Change::Unlock, AccountStatus::Active) => Err(LedgerError::InvalidState(format!("{who} is not locked"))),
            (Change::Unlock, AccountStatus::Suspended) => {
                Err(LedgerError::InvalidState(format!("{who} is suspended, not locked")))
            }
        }
    }
}

/// Suspends, resumes or unlocks an account, audited as `actor`; returns the
/// account after the change.
pub async fn change(
    ledger: &Ledger,
    actor: &str,
    key: AccountKey,
    how: Change,
    idem: Option<Idem>,
) -> Result<Done<AccountView>, LedgerError> {
    let currency = ledger.settings().currency.clone();
    let entry = Entry::new(actor, how.action(), &key.to_string());
    audited_once(ledger, entry, idem, move |conn, _| {
        let a = existing(conn, &key)?;
        let status = how.apply(&a)?;
        account::set_status(conn, a.id, status)?;
        let after = existing(conn, &key)?;
        Ok(AccountView::of(&after, &currency))
    })
    .await
}

/// Creates a customer, agent or merchant and, in the same transaction, the
/// welcome SMS of a customer or agent; audited as `actor`. A number or till
/// already there is `DuplicateAccount`.
pub async fn create(
    ledger: &Ledger,
    notices: Arc<Notices>,
    actor: &str,
    new: NewAccount,
    key: AccountKey,
    idem: Option<Idem>,
) -> Result<Done<AccountView>, LedgerError> {
    let currency = ledger.settings().currency.clone();
    let kind = match &key {
        AccountKey::Till(_) => "merchant",
        AccountKey::Msisdn(_) => new_kind(&new),
    };
    let entry = Entry::new(actor, &format!("{kind}.create"), &key.to_string());
    audited_once(ledger, entry, idem, move |conn, _| {
        if account::find(conn, &key)?.is_some() {
            return Err(LedgerError::DuplicateAccount(key.to_string()));
        }
        account::insert(conn, &new)?;
        // Customers and agents; a merchant's till is no account its contact dials.
        if let AccountKey::Msisdn(msisdn) = &key {
            let lang = Language::from_stored(new.language())?;
            notices.registered(conn, msisdn.as_str(), new.name(), lang)?;
        }
        Ok(AccountView::of(&existing(conn, &key)?, &currency))
    })
    .await
}

fn new_kind(new: &NewAccount) -> &'static str {
    if new.is_agent() {
        "agent"
    } else {
        "customer"
    }
}

/// A SIM swap as marked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SimSwap {
    pub msisdn: String,
    pub swapped_at: String,
}

/// Marks a number SIM-swapped at `at_ms` (not in the future), audited and,
/// with `idem`, once: a retry of a mark made "now" replays the first answer
/// rather than starting the cool-off again.
pub async fn mark_sim_swap(
    ledger: &Ledger,
    actor: &str,
    msisdn: &Msisdn,
    at_ms: i64,
    now_ms: i64,
    idem: Option<Idem>,
) -> Result<Done<SimSwap>, LedgerError> {
    let number = msisdn.to_string();
    let swapped_at = crate::domain::time::rfc3339(at_ms);
    let entry = Entry::new(actor, "sim_swap.mark", &number).detail(swapped_at.clone());
    audited_once(ledger, entry, idem, move |conn, _| {
        if at_ms > now_ms {
            return Err(LedgerError::InvalidInput("a SIM swap cannot be in the future".into()));
        }
        crate::ledger::history::mark_swap(conn, &number, at_ms, "operator", now_ms)?;
        Ok(SimSwap { msisdn: number.clone(), swapped_at: swapped_at.clone() })
    })
    .await
}

//! The closed sets an account row stores as text: kind, status and
//! language. Reading anything else is a corrupt row, never a guess.

use crate::ledger::LedgerError;
use serde::Serialize;
use std::fmt;

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

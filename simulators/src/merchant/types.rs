//! What goes over the wire of `/api/v1` (SPEC §9): request bodies (`New…`),
//! responses, ids and statuses.
//!
//! Where SPEC fixes a response's fields they are plain fields (a server
//! that leaves one out fails to decode, which is the point of a contract
//! client); fields SPEC leaves open are `Option`s, and anything else the
//! server sends is kept in `extra`, so printing a response loses nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// A payment request's `id`.
    PaymentRequestId
);
string_id!(
    /// An allowance's `id`.
    AllowanceId
);
string_id!(
    /// A transfer's 10-character `reference` (`QK7H2M9XTA`).
    Reference
);

/// How often an allowance's limit starts afresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            other => Err(format!("period must be day, week or month, not '{other}'")),
        }
    }
}

/// `pending|approved|declined|expired`; anything else is kept as `Other`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentRequestStatus {
    Pending,
    Approved,
    Declined,
    Expired,
    #[serde(untagged)]
    Other(String),
}

/// `pending|active|declined|revoked|expired`; anything else is kept as `Other`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllowanceStatus {
    Pending,
    Active,
    Declined,
    Revoked,
    Expired,
    #[serde(untagged)]
    Other(String),
}

impl PaymentRequestStatus {
    /// The wire name (`pending`, …).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Other(s) => s,
        }
    }
}

impl AllowanceStatus {
    /// The wire name (`active`, …).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Declined => "declined",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for PaymentRequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AllowanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn new_key_or(key: &Option<String>) -> String {
    key.clone().unwrap_or_else(super::new_idempotency_key)
}

macro_rules! idempotent {
    ($name:ident) => {
        impl $name {
            /// Sends this operation under `key` (retries of one logical
            /// operation must reuse it); without one the client makes a
            /// fresh key for each call.
            pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
                self.idempotency_key = Some(key.into());
                self
            }

            pub(crate) fn key_for_send(&self) -> String {
                new_key_or(&self.idempotency_key)
            }
        }
    };
}

/// `POST /api/v1/payment-requests`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewPaymentRequest {
    pub msisdn: String,
    pub amount_minor: i64,
    pub description: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

impl NewPaymentRequest {
    pub fn new(msisdn: impl Into<String>, amount_minor: i64, description: impl Into<String>) -> Self {
        Self { msisdn: msisdn.into(), amount_minor, description: description.into(), idempotency_key: None }
    }
}
idempotent!(NewPaymentRequest);

/// `POST /api/v1/allowances`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewAllowance {
    pub msisdn: String,
    pub limit_minor: i64,
    pub period: Period,
    pub description: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

impl NewAllowance {
    pub fn new(msisdn: impl Into<String>, limit_minor: i64, period: Period, description: impl Into<String>) -> Self {
        Self { msisdn: msisdn.into(), limit_minor, period, description: description.into(), idempotency_key: None }
    }
}
idempotent!(NewAllowance);

/// `POST /api/v1/charges`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewCharge {
    pub allowance_id: AllowanceId,
    pub amount_minor: i64,
    pub description: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

impl NewCharge {
    pub fn new(allowance_id: impl Into<AllowanceId>, amount_minor: i64, description: impl Into<String>) -> Self {
        Self { allowance_id: allowance_id.into(), amount_minor, description: description.into(), idempotency_key: None }
    }
}
idempotent!(NewCharge);

/// `POST /api/v1/payouts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewPayout {
    pub msisdn: String,
    pub amount_minor: i64,
    pub description: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

impl NewPayout {
    pub fn new(msisdn: impl Into<String>, amount_minor: i64, description: impl Into<String>) -> Self {
        Self { msisdn: msisdn.into(), amount_minor, description: description.into(), idempotency_key: None }
    }
}
idempotent!(NewPayout);

/// `POST /api/v1/refunds`; no `amount_minor`: all that is not yet refunded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NewRefund {
    pub reference: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

impl NewRefund {
    pub fn new(reference: impl Into<Reference>, amount_minor: Option<i64>) -> Self {
        Self { reference: reference.into(), amount_minor, idempotency_key: None }
    }
}
idempotent!(NewRefund);

/// A payment request (`POST` answer and `GET`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentRequest {
    pub id: PaymentRequestId,
    pub status: PaymentRequestStatus,
    /// What the customer types in `APPROVE <code> <PIN>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_minor: Option<i64>,
    /// The transfer's reference, once approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An allowance (`POST` answers `{id, status}`; `GET` adds the amounts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Allowance {
    pub id: AllowanceId,
    pub status: AllowanceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_minor: Option<i64>,
    /// What is left in the current period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `POST /api/v1/charges` answer: every field fixed by SPEC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    pub reference: Reference,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub remaining_minor: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A money movement the till made: the answer to a payout or a refund.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Movement {
    pub reference: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_minor: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /api/v1/transactions/{reference}`: the transfer as the till sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub reference: Reference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_minor: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /api/v1/balance`. SPEC fixes no field; `balance_minor` is read when
/// present, everything is kept in `extra` otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_the_contract() {
        let body = NewCharge::new("al_1", 100, "article").with_idempotency_key("k1");
        assert_eq!(
            serde_json::to_value(&body).expect("serialises"),
            json!({"allowance_id": "al_1", "amount_minor": 100, "description": "article"})
        );
        assert_eq!(body.key_for_send(), "k1");
        let full = NewRefund::new("QK7H2M9XTA", None);
        assert_eq!(serde_json::to_value(&full).expect("serialises"), json!({"reference": "QK7H2M9XTA"}));
        assert_ne!(full.key_for_send(), full.key_for_send(), "a fresh key per call");
        let allowance = NewAllowance::new("254712345678", 5_000, Period::Week, "news");
        assert_eq!(serde_json::to_value(&allowance).expect("serialises")["period"], "week");
    }

    #[test]
    fn responses_keep_unknown_fields_and_statuses() {
        let a: Allowance = serde_json::from_value(json!({
            "id": "al_1", "status": "active", "limit_minor": 5000, "remaining_minor": 4900,
            "period": "day", "description": "news"
        }))
        .expect("decodes");
        assert_eq!(a.status, AllowanceStatus::Active);
        assert_eq!(a.remaining_minor, Some(4900));
        assert_eq!(a.extra["description"], "news");
        let odd: PaymentRequest = serde_json::from_value(json!({"id": "pr_1", "status": "on_hold"})).expect("decodes");
        assert_eq!(odd.status, PaymentRequestStatus::Other("on_hold".into()));
        assert_eq!((odd.status.to_string(), a.status.to_string()), ("on_hold".to_string(), "active".to_string()));
        assert_eq!(serde_json::to_value(&odd).expect("serialises"), json!({"id": "pr_1", "status": "on_hold"}));
        assert!(serde_json::from_value::<Charge>(json!({"reference": "R", "amount_minor": 1})).is_err());
        assert_eq!("Month".parse::<Period>(), Ok(Period::Month));
        assert!("year".parse::<Period>().is_err());
    }
}

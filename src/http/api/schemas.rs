//! Request and response bodies of the API (their OpenAPI schemas too), and
//! the parsing of request fields into domain types at the edge.

use super::errors::ApiError;
use crate::config::Config;
use crate::domain::money::MONEY_MAX_MINOR;
use crate::domain::time::Period;
use crate::domain::{Money, Msisdn};
use crate::integrator::clean_description;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `amount_minor` (or another amount field) as money: a whole number of
/// minor units from 1 up. Zero, negative or absurdly large is the
/// request's shape, so 400 (a rule's refusal of a sound amount is 422).
pub fn amount(field: &str, minor: i64) -> Result<Money, ApiError> {
    if minor <= 0 || minor > MONEY_MAX_MINOR {
        let message = format!("{field} must be a whole number of minor units from 1 to {MONEY_MAX_MINOR}");
        return Err(ApiError::bad_request("invalid_amount", message));
    }
    Money::from_minor(minor).map_err(|e| ApiError::bad_request("invalid_amount", e.to_string()))
}

pub fn msisdn(config: &Config, s: &str) -> Result<Msisdn, ApiError> {
    Msisdn::parse(s, &config.number_plan()).map_err(|e| ApiError::bad_request("invalid_msisdn", e.to_string()))
}

pub fn description(s: &str) -> Result<String, ApiError> {
    clean_description(s).map_err(|e| ApiError::bad_request("invalid_description", e.to_string()))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodName {
    Day,
    Week,
    Month,
}

impl From<PeriodName> for Period {
    fn from(p: PeriodName) -> Period {
        match p {
            PeriodName::Day => Period::Day,
            PeriodName::Week => Period::Week,
            PeriodName::Month => Period::Month,
        }
    }
}

/// Ask a customer to pay once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPaymentRequest {
    /// The customer's number: 0712345678, 712345678, +254712345678 or 254712345678.
    #[schema(example = "0712345678")]
    pub msisdn: String,
    #[schema(example = 5000)]
    pub amount_minor: i64,
    /// 1 to 140 printable characters, shown to the customer.
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentRequestView {
    #[schema(example = "pr_Xq7dN0aZ3LmK2pT9sVbW")]
    pub id: String,
    /// pending, approved, declined or expired.
    pub status: String,
    /// What the customer types to approve by SMS (`APPROVE <code> <PIN>`).
    pub code: String,
    pub amount_minor: i64,
    /// What the customer pays on top (the merchant_payment tariff).
    pub fee_minor: i64,
    pub description: String,
    /// RFC 3339; a request not approved by then expires.
    pub expires_at: String,
    /// The transfer that paid it, once approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Ask a customer for an allowance: up to `limit_minor` per period, charged
/// without a PIN each time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAllowance {
    #[schema(example = "0712345678")]
    pub msisdn: String,
    #[schema(example = 20000)]
    pub limit_minor: i64,
    pub period: PeriodName,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllowanceView {
    #[schema(example = "al_Xq7dN0aZ3LmK2pT9sVbW")]
    pub id: String,
    /// pending, active, declined, revoked or expired.
    pub status: String,
    /// What the customer types to approve by SMS.
    pub code: String,
    pub limit_minor: i64,
    /// What may still be charged in the current period (0 unless active).
    pub remaining_minor: i64,
    pub period: PeriodName,
    pub description: String,
    /// RFC 3339; an allowance not approved by then expires.
    pub expires_at: String,
}

/// Charge under an active allowance, without a PIN.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCharge {
    pub allowance_id: String,
    #[schema(example = 500)]
    pub amount_minor: i64,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChargeView {
    #[schema(example = "QK7H2M9XTA")]
    pub reference: String,
    pub amount_minor: i64,
    /// Paid by the customer on top of the amount.
    pub fee_minor: i64,
    /// What the allowance has left in this period after this charge.
    pub remaining_minor: i64,
    pub allowance_id: String,
}

/// Pay a customer from the till's balance.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayout {
    #[schema(example = "0712345678")]
    pub msisdn: String,
    pub amount_minor: i64,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutView {
    pub reference: String,
    pub amount_minor: i64,
    pub fee_minor: i64,
}

/// Return part of a payment (or, without `amount_minor`, all that is not
/// yet refunded).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    /// The payment's reference (a merchant payment or charge to this till).
    pub reference: String,
    pub amount_minor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundView {
    /// The refund's own reference.
    pub reference: String,
    /// The payment it returns part of.
    pub refunded_reference: String,
    pub amount_minor: i64,
    pub fee_minor: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Counterparty {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msisdn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub till: Option<String>,
}

/// A transfer as this till sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionView {
    pub reference: String,
    /// merchant_payment, charge, payout, refund, reversal…
    pub kind: String,
    /// `in` when the till was paid, `out` when it paid.
    pub direction: String,
    pub amount_minor: i64,
    /// Paid by the payer on top of the amount.
    pub fee_minor: i64,
    pub counterparty: Counterparty,
    /// For a payment to the till: what it has refunded of it so far.
    pub refunded_minor: i64,
    /// For a refund: the payment it returns part of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_of: Option<String>,
    /// The till's balance right after this transfer, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_after_minor: Option<i64>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceView {
    pub balance_minor: i64,
    #[schema(example = "KES")]
    pub currency: String,
}

//! Ledger errors with stable codes; the channel layer turns a code into
//! words in the caller's language.

use super::account::AccountStatus;
use crate::db::{DbError, WriteError};
use crate::domain::Currency;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("no account {0}")]
    UnknownAccount(String),
    #[error("{0} is already registered")]
    DuplicateAccount(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("account {who} is {status}")]
    AccountNotActive { who: String, status: AccountStatus },
    #[error("{0}")]
    WrongParty(String),
    #[error("cannot send money to the same account")]
    SelfTransfer,
    #[error("insufficient funds in {who}")]
    InsufficientFunds { who: String, available_minor: i64 },
    #[error("amount is above the per-transfer limit of tier {tier}")]
    OverTransferLimit { tier: String, max_minor: i64 },
    #[error("amount is above what {who} may still send today")]
    OverDailyLimit { who: String, remaining_minor: i64 },
    #[error("{who} cannot hold that much (tier balance limit)")]
    ReceiverOverBalanceLimit { who: String },
    #[error("amount is above the largest tariff band")]
    AmountOutsideTariff { max_minor: i64 },
    #[error("idempotency key was already used for a different request")]
    IdempotencyConflict,
    #[error("no transfer with reference {0}")]
    TransferNotFound(String),
    #[error("transfer {original} was already reversed by {reversal}")]
    AlreadyReversed { original: String, reversal: String },
    #[error("a reversal cannot itself be reversed")]
    NotReversible,
    #[error("cannot reverse: {who} no longer holds the funds")]
    ReversalFundsGone { who: String },
    #[error("declined by the fraud rule {rule}")]
    RuleDeclined { rule: String },
    #[error("transfer {0} is not held")]
    NotHeld(String),
    #[error("held transfer {reference} was already {status}")]
    AlreadySettled { reference: String, status: String },
    #[error("transfer {0} belongs to a hold: use mkoba held release/return")]
    HeldTransfer(String),
    /// An operator's change that makes no sense in the account's state
    /// (suspending a suspended account, unlocking one not locked).
    #[error("{0}")]
    InvalidState(String),
    #[error("no payment request or allowance {0}")]
    UnknownApproval(String),
    #[error("the payment request or allowance is {status}")]
    ApprovalNotOpen { status: String },
    /// The API key a request was made with was revoked (or never existed).
    #[error("the API key is not valid")]
    KeyRevoked,
    #[error("the allowance has only {remaining_minor} minor units left in this period")]
    AllowanceExhausted { remaining_minor: i64 },
    #[error("a refund cannot exceed what is left of the payment ({remaining_minor} minor units)")]
    RefundExceedsPaid { remaining_minor: i64 },
    /// A stored value mkoba does not understand: never guessed at.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Something mkoba itself could not do (hashing, running out of fresh
    /// references, contention it gave up on): not the caller's doing.
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl LedgerError {
    /// Stable snake_case code, for JSON output and message catalogues.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::UnknownAccount(_) => "unknown_account",
            LedgerError::DuplicateAccount(_) => "duplicate_account",
            LedgerError::InvalidInput(_) => "invalid_input",
            LedgerError::AccountNotActive { .. } => "account_not_active",
            LedgerError::WrongParty(_) => "wrong_party",
            LedgerError::SelfTransfer => "self_transfer",
            LedgerError::InsufficientFunds { .. } => "insufficient_funds",
            LedgerError::OverTransferLimit { .. } => "over_transfer_limit",
            LedgerError::OverDailyLimit { .. } => "over_daily_limit",
            LedgerError::ReceiverOverBalanceLimit { .. } => "receiver_over_balance_limit",
            LedgerError::AmountOutsideTariff { .. } => "amount_outside_tariff",
            LedgerError::IdempotencyConflict => "idempotency_conflict",
            LedgerError::TransferNotFound(_) => "transfer_not_found",
            LedgerError::AlreadyReversed { .. } => "already_reversed",
            LedgerError::NotReversible => "not_reversible",
            LedgerError::ReversalFundsGone { .. } => "reversal_funds_gone",
            LedgerError::RuleDeclined { .. } => "rule_declined",
            LedgerError::NotHeld(_) => "not_held",
            LedgerError::AlreadySettled { .. } => "already_settled",
            LedgerError::HeldTransfer(_) => "held_transfer",
            LedgerError::InvalidState(_) => "invalid_state",
            LedgerError::UnknownApproval(_) => "not_found",
            LedgerError::ApprovalNotOpen { status } => match status.as_str() {
                "revoked" => "allowance_revoked",
                "expired" => "expired",
                "declined" => "declined",
                "pending" => "not_approved",
                _ => "already_approved",
            },
            LedgerError::KeyRevoked => "unauthorized",
            LedgerError::AllowanceExhausted { .. } => "allowance_exhausted",
            LedgerError::RefundExceedsPaid { .. } => "refund_exceeds_paid",
            LedgerError::Corrupt(_) | LedgerError::Internal(_) | LedgerError::Db(_) => "internal",
        }
    }

    /// A refusal the caller caused (as opposed to a system failure).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, LedgerError::Db(_) | LedgerError::Corrupt(_) | LedgerError::Internal(_))
    }

    /// A stored `field` holding `value`, which mkoba does not understand.
    pub fn corrupt(field: &str, value: &str) -> LedgerError {
        let shown: String = value.chars().take(40).collect();
        LedgerError::Corrupt(format!("{field} holds '{}', which mkoba does not know", shown.escape_debug()))
    }

    /// The message for an operator, with amounts in the currency.
    pub fn describe(&self, currency: &Currency) -> String {
        let money = |minor: i64| currency.show(minor);
        match self {
            LedgerError::InsufficientFunds { who, available_minor } => {
                format!("insufficient funds in {who} (available {})", money(*available_minor))
            }
            LedgerError::OverTransferLimit { tier, max_minor } => {
                format!("amount is above the per-transfer limit of {} for tier {tier}", money(*max_minor))
            }
            LedgerError::OverDailyLimit { who, remaining_minor } => {
                format!("amount is above what {who} may still send today ({})", money(*remaining_minor))
            }
            LedgerError::AmountOutsideTariff { max_minor } => {
                format!("amount is above the largest allowed, {}", money(*max_minor))
            }
            LedgerError::AllowanceExhausted { remaining_minor } => {
                format!("the allowance has only {} left in this period", money(*remaining_minor))
            }
            LedgerError::RefundExceedsPaid { remaining_minor } => {
                format!("a refund cannot exceed what is left of the payment, {}", money(*remaining_minor))
            }
            other => other.to_string(),
        }
    }
}

impl WriteError for LedgerError {
    fn retryable(&self) -> bool {
        matches!(self, LedgerError::Db(e) if e.is_retryable())
    }
}

impl From<diesel::result::Error> for LedgerError {
    fn from(e: diesel::result::Error) -> Self {
        LedgerError::Db(DbError::Query(e))
    }
}

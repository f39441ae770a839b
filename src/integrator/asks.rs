//! A till asks a customer for a payment or an allowance: the parties are
//! checked and the approval created (with its SMS) in the caller's write
//! transaction, so an integrator's idempotency record can commit with it.

use super::{approvals, check_customer, Approval, ApprovalKind, Ask, NewApproval};
use crate::db::DbConn;
use crate::domain::time::Period;
use crate::domain::{Money, Msisdn};
use crate::ledger::account::{self, AccountKind, AccountStatus};
use crate::ledger::transfer::{self, TransferRow};
use crate::ledger::{tariff, AccountId, AccountKey, LedgerError, Settings, TransferKind};
use crate::notify::Notices;

/// What a till asks for, parsed.
#[derive(Debug, Clone)]
pub struct AskInput {
    pub kind: ApprovalKind,
    pub msisdn: Msisdn,
    /// The payment's amount, or the allowance's limit per period.
    pub amount: Money,
    /// An allowance's period (none for a payment request).
    pub period: Option<Period>,
    pub description: String,
}

/// Creates the payment request or allowance `input` for `till`, expiring
/// `ttl_ms` from now, and tells the customer. An unknown number is
/// [`LedgerError::UnknownAccount`]; a locked customer cannot be asked.
pub fn create(
    conn: &mut DbConn,
    notices: &Notices,
    settings: &Settings,
    till: AccountId,
    input: &AskInput,
    ttl_ms: i64,
    now_ms: i64,
) -> Result<Approval, LedgerError> {
    let till_account = account::find_by_id(conn, till)?.ok_or_else(|| LedgerError::UnknownAccount(till.to_string()))?;
    if till_account.kind != AccountKind::Merchant {
        return Err(LedgerError::WrongParty("only a till may ask".into()));
    }
    if till_account.status != AccountStatus::Active {
        return Err(LedgerError::AccountNotActive { who: till_account.handle(), status: till_account.status });
    }
    let found = account::find(conn, &AccountKey::Msisdn(input.msisdn.clone()))?;
    let customer = check_customer(found, input.msisdn.as_str())?;
    let fee_minor = match input.kind {
        ApprovalKind::Payment => fee_of_payment(settings, input.amount.minor())?,
        ApprovalKind::Allowance => 0,
    };
    let new = NewApproval {
        kind: input.kind,
        till,
        customer: customer.id,
        amount_minor: input.amount.minor(),
        period: input.period,
        description: input.description.clone(),
        expires_at_ms: now_ms.saturating_add(ttl_ms),
    };
    super::ask(conn, notices, Ask { till: &till_account, customer: &customer }, &new, fee_minor, now_ms)
}

/// The fee the customer pays for a payment of `amount_minor` to a till
/// (the `merchant_payment` tariff).
pub fn fee_of_payment(settings: &Settings, amount_minor: i64) -> Result<i64, LedgerError> {
    let amount = Money::from_minor(amount_minor).map_err(|e| LedgerError::InvalidInput(e.to_string()))?;
    Ok(tariff::quote(&settings.tariffs, TransferKind::MerchantPayment, amount)?.fee.minor())
}

/// The till's own approval with this public id and kind; another till's
/// (or none) is [`LedgerError::UnknownApproval`], so a till cannot learn
/// whether another till's id exists.
pub fn find_own(
    conn: &mut DbConn,
    till: AccountId,
    kind: ApprovalKind,
    public_id: &str,
) -> Result<Approval, LedgerError> {
    approvals::find_by_public_id(conn, public_id)?
        .filter(|a| a.till == till && a.kind == kind)
        .ok_or_else(|| unknown(public_id))
}

/// Not found, whoever's it is: another till's approval looks the same. The
/// id is cut short, since it came from the caller.
pub(super) fn unknown(public_id: &str) -> LedgerError {
    LedgerError::UnknownApproval(public_id.chars().take(40).collect())
}

/// The till's payment request `public_id`, with the transfer that paid it
/// once approved.
pub fn payment_request(
    conn: &mut DbConn,
    till: AccountId,
    public_id: &str,
) -> Result<(Approval, Option<TransferRow>), LedgerError> {
    let approval = find_own(conn, till, ApprovalKind::Payment, public_id)?;
    let paid_by = match approval.transfer_id {
        Some(id) => transfer::find_by_id(conn, id)?,
        None => None,
    };
    Ok((approval, paid_by))
}

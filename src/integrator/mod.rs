//! The integrator's side of mkoba (SPEC §9), channel-neutral: API keys,
//! payment requests and allowances (asked by a till, decided by the
//! customer on the phone), and the transfers they lead to. The HTTP API
//! (`http::api`) and the customer's channels (USSD menu 5, SMS `APPROVE`)
//! are adapters over these functions; each runs inside the caller's write
//! transaction, so a change, its callback event and its SMS commit together.

pub mod approvals;
pub mod asks;
pub mod directory;
pub mod events;
pub mod keys;
pub mod money;

pub use approvals::{Approval, ApprovalKind, ApprovalStatus, NewApproval};

use crate::db::DbConn;
use crate::domain::time::Period;
use crate::domain::Money;
use crate::ledger::account::{self, Account, AccountKind, AccountStatus};
use crate::ledger::{AccountId, Guard, LedgerError, TransferKind, TransferRequest};
use crate::notify::outbox::{self, NewMessage};
use crate::notify::Notices;
use serde_json::json;

/// Descriptions are kept to this many characters.
pub const DESCRIPTION_MAX_CHARS: usize = 140;

/// A description as given, or why not: 1 to 140 printable characters.
pub fn clean_description(s: &str) -> Result<String, LedgerError> {
    let text = s.split_whitespace().collect::<Vec<_>>().join(" ");
    // Folded whitespace is gone from `text`: any control character left disguises.
    let disguising = text.chars().any(crate::domain::name::disguises);
    if text.is_empty() || text.chars().count() > DESCRIPTION_MAX_CHARS || disguising {
        return Err(LedgerError::InvalidInput(format!(
            "description must be 1 to {DESCRIPTION_MAX_CHARS} printable characters"
        )));
    }
    Ok(text)
}

/// `text` cut to `max` characters, ending in `...` when cut. Three ASCII
/// dots, not `…`: the ellipsis is outside GSM-7, and one such character
/// turns the whole request SMS into UCS-2 (70 characters a segment, not 160).
pub fn shorten(text: &str, max: usize) -> String {
    const MARK: &str = "...";
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(MARK.len())).collect();
    cut.truncate(cut.trim_end().len());
    cut.push_str(MARK);
    cut
}

/// What asking a customer needs to know about the parties.
pub struct Ask<'a> {
    pub till: &'a Account,
    pub customer: &'a Account,
}

/// Checks that a till may ask this customer: a customer account that is
/// active (a locked or suspended one cannot approve anything).
pub fn check_customer(customer: Option<Account>, msisdn: &str) -> Result<Account, LedgerError> {
    let customer = customer.ok_or_else(|| LedgerError::UnknownAccount(msisdn.to_string()))?;
    if customer.kind != AccountKind::Customer {
        return Err(LedgerError::WrongParty(format!("{msisdn} is not a customer")));
    }
    if customer.status != AccountStatus::Active {
        return Err(LedgerError::AccountNotActive { who: customer.handle(), status: customer.status });
    }
    Ok(customer)
}

/// Creates a payment request or allowance and tells the customer by SMS,
/// with its code, in the same transaction.
pub fn ask(
    conn: &mut DbConn,
    notices: &Notices,
    ask: Ask<'_>,
    new: &NewApproval,
    fee_minor: i64,
    now_ms: i64,
) -> Result<Approval, LedgerError> {
    let approval = approvals::insert(conn, new, now_ms)?;
    let Some(to) = ask.customer.msisdn.as_ref() else {
        return Ok(approval);
    };
    let amount = notices.money(approval.amount_minor);
    let fee = notices.money(fee_minor);
    let description = shorten(&approval.description, 40);
    let period = approval.period.map(|p| notices.text(ask.customer.language, &format!("period_{}", p.as_str()), &[]));
    let (key, period) = match period {
        Some(p) => ("sms_allowance_request", p),
        None => ("sms_payment_request", String::new()),
    };
    let body = notices.text(
        ask.customer.language,
        key,
        &[
            ("merchant", &ask.till.name),
            ("amount", &amount),
            ("fee", &fee),
            ("description", &description),
            ("period", &period),
            ("code", &approval.code),
            ("service_code", notices.service_code()),
        ],
    );
    let dedupe = format!("approval-ask:{}", approval.id);
    outbox::enqueue(conn, &NewMessage::sms(to.as_str(), body, Some(dedupe)), now_ms)?;
    Ok(approval)
}

/// The transfer that pays an approved payment request: idempotent by the
/// request, guarded so that it is paid once and only while pending.
pub fn payment_of(approval: &Approval) -> Result<TransferRequest, LedgerError> {
    let amount = Money::from_minor(approval.amount_minor)
        .map_err(|e| LedgerError::corrupt("approvals.amount_minor", &e.to_string()))?;
    let mut req = TransferRequest::new(
        format!("approval:{}", approval.id),
        TransferKind::MerchantPayment,
        approval.customer,
        approval.till,
        amount,
    );
    req.guard = Some(Guard::Request { approval_id: approval.id });
    Ok(req)
}

/// The customer declines a pending request or allowance. False when it was
/// no longer pending.
pub fn decline(conn: &mut DbConn, approval: &Approval, now_ms: i64) -> Result<bool, LedgerError> {
    if !approvals::transition(conn, approval.id, ApprovalStatus::Pending, ApprovalStatus::Declined, now_ms)? {
        return Ok(false);
    }
    let event = match approval.kind {
        ApprovalKind::Payment => "payment_request.declined",
        ApprovalKind::Allowance => "allowance.declined",
    };
    events::enqueue(conn, approval.till, event, approval_data(approval, "declined"), now_ms)?;
    Ok(true)
}

/// The customer approves a pending allowance (after their PIN). False when
/// it was no longer pending.
pub fn activate(conn: &mut DbConn, approval: &Approval, now_ms: i64) -> Result<bool, LedgerError> {
    if approval.kind != ApprovalKind::Allowance {
        return Err(LedgerError::Internal("only an allowance is activated".into()));
    }
    if !approvals::transition(conn, approval.id, ApprovalStatus::Pending, ApprovalStatus::Active, now_ms)? {
        return Ok(false);
    }
    events::enqueue(conn, approval.till, "allowance.approved", approval_data(approval, "active"), now_ms)?;
    Ok(true)
}

/// The customer revokes an allowance (no PIN: revoking only protects them).
/// A pending one is declined instead. False when there was nothing to stop.
pub fn revoke(conn: &mut DbConn, approval: &Approval, now_ms: i64) -> Result<bool, LedgerError> {
    if approval.kind != ApprovalKind::Allowance {
        return Ok(false);
    }
    if approval.status == ApprovalStatus::Pending {
        return decline(conn, approval, now_ms);
    }
    if !approvals::transition(conn, approval.id, ApprovalStatus::Active, ApprovalStatus::Revoked, now_ms)? {
        return Ok(false);
    }
    events::enqueue(conn, approval.till, "allowance.revoked", approval_data(approval, "revoked"), now_ms)?;
    Ok(true)
}

/// `STOP <till>`: every allowance of the customer's for that till is
/// revoked (pending ones declined). Returns how many.
pub fn stop_till(conn: &mut DbConn, customer: AccountId, till: AccountId, now_ms: i64) -> Result<usize, LedgerError> {
    let mut stopped = 0;
    for approval in approvals::active_for_till(conn, customer, till)? {
        if revoke(conn, &approval, now_ms)? {
            stopped += 1;
        }
    }
    Ok(stopped)
}

/// Whether any pending approval is past its expiry: a cheap read, so an
/// idle system's sweeper takes no write lock.
pub fn any_due(conn: &mut DbConn, now_ms: i64) -> Result<bool, LedgerError> {
    Ok(!approvals::due_to_expire(conn, now_ms, 1)?.is_empty())
}

/// Marks up to `limit` pending approvals past their expiry as expired, with
/// their events. Returns how many.
pub fn expire_due(conn: &mut DbConn, now_ms: i64, limit: i64) -> Result<usize, LedgerError> {
    let mut expired = 0;
    for approval in approvals::due_to_expire(conn, now_ms, limit)? {
        if approvals::transition(conn, approval.id, ApprovalStatus::Pending, ApprovalStatus::Expired, now_ms)? {
            expired += 1;
            let event = match approval.kind {
                ApprovalKind::Payment => "payment_request.expired",
                ApprovalKind::Allowance => "allowance.expired",
            };
            events::enqueue(conn, approval.till, event, approval_data(&approval, "expired"), now_ms)?;
        }
    }
    Ok(expired)
}

/// The data of an approval's callback event.
pub fn approval_data(approval: &Approval, status: &str) -> serde_json::Value {
    let mut data = json!({
        "id": approval.public_id,
        "status": status,
        "amount_minor": approval.amount_minor,
        "description": approval.description,
    });
    if let Some(period) = approval.period {
        data["limit_minor"] = json!(approval.amount_minor);
        data["period"] = json!(period.as_str());
    }
    data
}

/// The customer's account behind an approval, for a channel that has only
/// the approval.
pub fn customer_of(conn: &mut DbConn, approval: &Approval) -> Result<Account, LedgerError> {
    account::find_by_id(conn, approval.customer)?
        .ok_or_else(|| LedgerError::UnknownAccount(approval.customer.to_string()))
}

/// The period a string names, or why not.
pub fn parse_period(s: &str) -> Result<Period, LedgerError> {
    Period::parse(s).ok_or_else(|| LedgerError::InvalidInput("period must be day, week or month".into()))
}

#[cfg(test)]
mod tests {
    use super::shorten;
    use crate::ussd::render::gsm7_len;

    #[test]
    fn shortened_descriptions_stay_in_gsm7_and_within_max() {
        assert_eq!(shorten("Article 12", 40), "Article 12");
        let long = "Pay per article: The long read about water kiosks in Kibera";
        let cut = shorten(long, 40);
        assert_eq!(cut, "Pay per article: The long read about...");
        assert!(cut.chars().count() <= 40);
        assert_eq!(gsm7_len(&cut), Some(cut.chars().count()), "an ellipsis would make the SMS UCS-2");
        assert_eq!(shorten("abcdefgh", 5), "ab...");
    }
}

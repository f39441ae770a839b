//! The customer's side of payment requests and allowances (SPEC §9),
//! channel-neutral: what a customer sees of them ([`Request`]), finding one
//! by the code its SMS carried, and what approving, declining, revoking and
//! stopping a till do inside the channel's transaction. USSD (menu `5`, My
//! account → `5`) and SMS (`APPROVE`, `DECLINE`, `STOP`) parse and render.

use super::effects::{done_reply, nested, refused, Env, Outcome};
use super::lookup::Refusal;
use super::{Effect, Flow, Party};
use crate::db::DbConn;
use crate::domain::time::Period;
use crate::domain::{now_ms, Money};
use crate::integrator::{self, approvals, Approval, ApprovalKind, ApprovalStatus};
use crate::ledger::{account, tariff, transfer, AccountId, Ledger, LedgerError, Settings, TransferKind};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// At most this many are listed, newest first.
pub const LIST_MAX: i64 = 20;

/// A payment request or allowance as its customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub approval_id: i64,
    /// An allowance's period; `None` for a payment request.
    pub period: Option<Period>,
    pub merchant: String,
    pub till: String,
    /// The payment's amount, or the allowance's limit per period.
    pub amount_minor: i64,
    pub description: String,
    /// The payment's fee; for an allowance, the fee of a charge of the whole
    /// limit (the most one charge costs).
    pub fee_minor: i64,
    /// What an allowance may still charge in the current period.
    pub remaining_minor: i64,
}

impl Request {
    pub fn is_allowance(&self) -> bool {
        self.period.is_some()
    }
}

/// The caller's pending payment requests and allowances (not expired),
/// newest first.
pub async fn pending(ledger: &Ledger, customer: AccountId) -> Result<Vec<Request>, LedgerError> {
    let settings = ledger.settings_arc();
    ledger
        .read(move |conn| {
            let now = now_ms();
            let found = approvals::for_customer(conn, customer, ApprovalStatus::Pending, now, LIST_MAX)?;
            found.iter().map(|a| view(conn, &settings, a, now)).collect()
        })
        .await
}

/// The caller's active allowances, newest first.
pub async fn allowances(ledger: &Ledger, customer: AccountId) -> Result<Vec<Request>, LedgerError> {
    let settings = ledger.settings_arc();
    ledger
        .read(move |conn| {
            let now = now_ms();
            let found = approvals::for_customer(conn, customer, ApprovalStatus::Active, now, LIST_MAX)?;
            found.iter().filter(|a| a.kind == ApprovalKind::Allowance).map(|a| view(conn, &settings, a, now)).collect()
        })
        .await
}

/// The caller's pending request with `code` (what its SMS carried), or why
/// not. The code is never echoed: a caller who swapped code and PIN would
/// see their PIN.
pub async fn open_by_code(
    ledger: &Ledger,
    customer: AccountId,
    code: &str,
) -> Result<Result<i64, Refusal>, LedgerError> {
    let code = code.to_string();
    ledger
        .read(move |conn| {
            let Some(approval) = approvals::find_by_code(conn, customer, &code)? else {
                return Ok(Err(Refusal { key: "err_unknown_code", args: Vec::new(), retry: false }));
            };
            match approval.status_at(now_ms()) {
                ApprovalStatus::Pending => Ok(Ok(approval.id)),
                status => Ok(Err(closed(conn, &approval, status)?)),
            }
        })
        .await
}

fn view(conn: &mut DbConn, settings: &Arc<Settings>, approval: &Approval, now: i64) -> Result<Request, LedgerError> {
    let till = party_of(conn, approval)?;
    // The till asked with an amount the tariff quotes (the API checks it);
    // one it no longer quotes is refused by the ledger on approval.
    let fee_minor = Money::from_minor(approval.amount_minor)
        .ok()
        .and_then(|amount| tariff::quote(&settings.tariffs, TransferKind::MerchantPayment, amount).ok())
        .map_or(0, |q| q.fee.minor());
    Ok(Request {
        approval_id: approval.id,
        period: approval.period,
        merchant: till.name,
        till: till.handle,
        amount_minor: approval.amount_minor,
        description: approval.description.clone(),
        fee_minor,
        remaining_minor: approval.remaining_minor(now, settings.day_utc_offset_minutes),
    })
}

/// The till that asked, as the customer's screens name it.
fn party_of(conn: &mut DbConn, approval: &Approval) -> Result<Party, LedgerError> {
    let till = account::find_by_id(conn, approval.till)?
        .ok_or_else(|| LedgerError::UnknownAccount(approval.till.to_string()))?;
    let handle = till.till.as_ref().map(ToString::to_string).unwrap_or_default();
    Ok(Party { id: till.id.0, name: till.name, handle })
}

/// Why a request that is no longer pending cannot be decided: its status
/// in words (with the payment's reference once approved).
fn closed(conn: &mut DbConn, approval: &Approval, status: ApprovalStatus) -> Result<Refusal, LedgerError> {
    let key = match status {
        ApprovalStatus::Approved => "approval_closed_approved",
        ApprovalStatus::Active => "approval_closed_active",
        ApprovalStatus::Declined => "approval_closed_declined",
        ApprovalStatus::Revoked => "approval_closed_revoked",
        // Not open, yet pending: only its expiry can have closed it.
        ApprovalStatus::Expired | ApprovalStatus::Pending => "approval_closed_expired",
    };
    let reference = match approval.transfer_id {
        Some(id) => transfer::find_by_id(conn, id)?.map(|t| t.reference).unwrap_or_default(),
        None => String::new(),
    };
    Ok(Refusal { key, args: vec![("ref", reference)], retry: false })
}

/// The answer for a request found closed, read again as it is now.
fn closed_now(conn: &mut DbConn, env: &Env, approval_id: i64) -> Result<Outcome, LedgerError> {
    let Some(approval) = approvals::find_by_id(conn, approval_id)? else {
        return Ok(env.end("err_unknown_code", &[]));
    };
    let refusal = closed(conn, &approval, approval.status_at(now_ms()))?;
    Ok(env.end(refusal.key, &refusal.args()))
}

/// Applies an approvals effect for the caller `me`.
pub(super) fn apply(conn: &mut DbConn, env: &Env, me: AccountId, effect: &Effect) -> Result<Outcome, LedgerError> {
    let now = now_ms();
    let id = match effect {
        Effect::StopTill { till } => return stop_till(conn, env, me, till, now),
        Effect::Approve { approval_id } | Effect::Decline { approval_id } | Effect::Revoke { approval_id } => {
            *approval_id
        }
        _ => return Ok(env.end("err_unavailable", &[])),
    };
    // Only the caller's own: anyone else's is not found.
    let Some(approval) = approvals::find_by_id(conn, id)?.filter(|a| a.customer == me) else {
        return Ok(env.end("err_unknown_code", &[]));
    };
    let till = party_of(conn, &approval)?;
    let status = approval.status_at(now);
    let open = match effect {
        Effect::Revoke { .. } => matches!(status, ApprovalStatus::Active | ApprovalStatus::Pending),
        _ => status == ApprovalStatus::Pending,
    };
    if !open {
        return closed_now(conn, env, approval.id);
    }
    match effect {
        Effect::Approve { .. } if approval.kind == ApprovalKind::Payment => pay(conn, env, me, &approval, &till),
        Effect::Approve { .. } => activate(conn, env, &approval, &till, now),
        Effect::Decline { .. } => decline(conn, env, &approval, &till, now),
        _ => revoke(conn, env, &approval, &till, now),
    }
}

/// Pays a payment request with its guarded transfer: paid once, whichever
/// channel (or process) approves it first.
fn pay(conn: &mut DbConn, env: &Env, me: AccountId, approval: &Approval, till: &Party) -> Result<Outcome, LedgerError> {
    let req = integrator::payment_of(approval)?;
    let result = nested(conn, |c| transfer::apply(c, &env.settings, &req));
    env.settings.metrics.transfer(req.kind.as_str(), &result);
    match result {
        // Another channel approved it first, with this same transfer.
        Ok(receipt) if receipt.replayed => Ok(env.end("approval_closed_approved", &[("ref", &receipt.reference)])),
        // Its `payment_request.approved` callback comes from the journal,
        // with the transfer (see `notify::events`).
        Ok(receipt) => done_reply(conn, env, me, Flow::Pay, till, &receipt),
        Err(LedgerError::ApprovalNotOpen { .. }) => closed_now(conn, env, approval.id),
        Err(e) => refused(conn, env, me, &req, till, e),
    }
}

fn activate(conn: &mut DbConn, env: &Env, approval: &Approval, till: &Party, now: i64) -> Result<Outcome, LedgerError> {
    if !integrator::activate(conn, approval, now)? {
        return closed_now(conn, env, approval.id);
    }
    let period = approval.period.map_or(String::new(), |p| env.t(&format!("period_{}", p.as_str()), &[]));
    Ok(env.end(
        "allowance_active",
        &[
            ("merchant", &till.name),
            ("amount", &env.money(approval.amount_minor)),
            ("period", &period),
            ("till", &till.handle),
        ],
    ))
}

fn decline(conn: &mut DbConn, env: &Env, approval: &Approval, till: &Party, now: i64) -> Result<Outcome, LedgerError> {
    if !integrator::decline(conn, approval, now)? {
        return closed_now(conn, env, approval.id);
    }
    Ok(env.end("approval_declined", &[("merchant", &till.name)]))
}

fn revoke(conn: &mut DbConn, env: &Env, approval: &Approval, till: &Party, now: i64) -> Result<Outcome, LedgerError> {
    if approval.kind != ApprovalKind::Allowance {
        return Ok(env.end("err_unknown_code", &[]));
    }
    if !integrator::revoke(conn, approval, now)? {
        return closed_now(conn, env, approval.id);
    }
    Ok(env.end("allowance_revoked", &[("merchant", &till.name)]))
}

/// `STOP <till>`: every allowance of the caller's for the till.
fn stop_till(conn: &mut DbConn, env: &Env, me: AccountId, till: &Party, now: i64) -> Result<Outcome, LedgerError> {
    let stopped = integrator::stop_till(conn, me, AccountId(till.id), now)?;
    if stopped == 0 {
        return Ok(env.end("allowances_none_for_till", &[("merchant", &till.name), ("till", &till.handle)]));
    }
    Ok(env.end("allowances_stopped", &[("count", &stopped.to_string()), ("merchant", &till.name)]))
}

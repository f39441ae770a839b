//! The callback events a transfer causes (SPEC §9 "Callbacks"), queued by
//! the receipts feeder in the transaction that moves its cursor, so each
//! transfer's events are written exactly once. A till with a callback
//! learns of its payments this way instead of by SMS.

use super::callbacks::NewEvent;
use crate::db::prepared::Prepared;
use crate::db::DbConn;
use crate::domain::time::rfc3339;
use crate::ledger::{LedgerError, Receipt, TransferKind};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::json;
use std::collections::HashSet;

/// The till a transfer concerns, if it is one of the kinds tills hear of.
pub(super) fn till_of(r: &Receipt) -> Option<i64> {
    match r.kind {
        TransferKind::MerchantPayment | TransferKind::Charge => Some(r.to.account_id.0),
        TransferKind::Payout | TransferKind::Refund => Some(r.from.account_id.0),
        _ => None,
    }
}

/// The events of transfer `r` for its till, if the till is among
/// `with_callback`, added to `out` for the caller to write; returns whether
/// there are any (the till then gets no SMS receipt).
/// `refunds_transfer_id` is a refund's original payment.
pub(super) fn of_transfer(
    conn: &mut DbConn,
    r: &Receipt,
    refunds_transfer_id: Option<i64>,
    with_callback: &HashSet<i64>,
    now_ms: i64,
    out: &mut Vec<NewEvent>,
) -> Result<bool, LedgerError> {
    let Some(till) = till_of(r).filter(|t| with_callback.contains(t)) else {
        return Ok(false);
    };
    let created_at = rfc3339(r.created_at_ms);
    match r.kind {
        TransferKind::MerchantPayment => {
            let data = json!({
                "reference": r.reference,
                "amount_minor": r.amount_minor,
                "fee_minor": r.fee_minor,
                "msisdn": r.from.msisdn,
                "created_at": created_at,
            });
            out.push(NewEvent::new(till, "payment.received", data, now_ms));
            if let Some(request_id) = request_paid_by(conn, r.transfer_id.0)? {
                let data = json!({ "id": request_id, "reference": r.reference, "amount_minor": r.amount_minor });
                out.push(NewEvent::new(till, "payment_request.approved", data, now_ms));
            }
        }
        TransferKind::Charge => {
            let (allowance_id, remaining_minor) = allowance_of(conn, r.transfer_id.0)?.unzip();
            let data = json!({
                "reference": r.reference,
                "allowance_id": allowance_id,
                "amount_minor": r.amount_minor,
                "fee_minor": r.fee_minor,
                "remaining_minor": remaining_minor,
                "msisdn": r.from.msisdn,
                "created_at": created_at,
            });
            out.push(NewEvent::new(till, "charge.succeeded", data, now_ms));
        }
        TransferKind::Payout => {
            let data = json!({
                "reference": r.reference,
                "amount_minor": r.amount_minor,
                "fee_minor": r.fee_minor,
                "msisdn": r.to.msisdn,
                "created_at": created_at,
            });
            out.push(NewEvent::new(till, "payout.sent", data, now_ms));
        }
        TransferKind::Refund => {
            let payment_reference = match refunds_transfer_id {
                Some(id) => crate::ledger::transfer::find_by_id(conn, id)?.map(|t| t.reference),
                None => None,
            };
            let data = json!({
                "reference": r.reference,
                "payment_reference": payment_reference,
                "amount_minor": r.amount_minor,
                "fee_minor": r.fee_minor,
                "msisdn": r.to.msisdn,
                "created_at": created_at,
            });
            out.push(NewEvent::new(till, "refund.sent", data, now_ms));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[derive(QueryableByName)]
struct PublicId {
    #[diesel(sql_type = Text)]
    public_id: String,
}

/// The payment request this transfer paid, if any.
fn request_paid_by(conn: &mut DbConn, transfer_id: i64) -> Result<Option<String>, LedgerError> {
    const SQL: &str = "SELECT public_id FROM approvals WHERE transfer_id = ? AND kind = 'payment'";
    let rows: Vec<PublicId> = with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(transfer_id).load(c))?;
    Ok(rows.into_iter().next().map(|r| r.public_id))
}

/// A charge's allowance and what was left of it right after.
fn allowance_of(conn: &mut DbConn, transfer_id: i64) -> Result<Option<(String, i64)>, LedgerError> {
    #[derive(QueryableByName)]
    struct Charged {
        #[diesel(sql_type = Text)]
        public_id: String,
        #[diesel(sql_type = BigInt)]
        remaining_after_minor: i64,
    }
    const SQL: &str = "SELECT a.public_id AS public_id, c.remaining_after_minor AS remaining_after_minor \
        FROM allowance_charges c JOIN approvals a ON a.id = c.approval_id WHERE c.transfer_id = ?";
    let rows: Vec<Charged> = with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(transfer_id).load(c))?;
    Ok(rows.into_iter().next().map(|r| (r.public_id, r.remaining_after_minor)))
}

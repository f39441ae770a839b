//! `POST /api/v1/charges`, `/payouts` and `/refunds`: money the till moves.
//! Each is one ledger transfer keyed by the request's Idempotency-Key, so
//! a retry is answered as the first request was and moves nothing again.

use super::auth::{KeyHolder, Till};
use super::body::JsonBody;
use super::errors::{ApiError, ErrorBody};
use super::idempotency::IdempotencyKey;
use super::schemas::{self, ChargeView, NewCharge, NewPayout, NewRefund, PayoutView, RefundView};
use crate::integrator::keys;
use crate::integrator::money::{self, Caller};
use crate::startup::AppState;
use actix_web::{web, HttpResponse};

#[utoipa::path(
    post, path = "/api/v1/charges", tag = "money",
    request_body = NewCharge,
    params(("Idempotency-Key" = String, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "Charged", body = ChargeView),
        (status = 422, description = "Refused: allowance_exhausted, allowance_revoked, not_approved, expired, declined, insufficient_funds…", body = ErrorBody),
    )
)]
pub async fn create_charge(
    state: web::Data<AppState>,
    holder: KeyHolder,
    key: Result<IdempotencyKey, ApiError>,
    body: Result<JsonBody<NewCharge>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let checked = key.and_then(|key| {
        let body = body?;
        let amount = schemas::amount("amount_minor", body.value.amount_minor)?;
        schemas::description(&body.value.description)?;
        Ok((key, body, amount))
    });
    let (key, body, amount) = match checked {
        Ok(checked) => checked,
        Err(e) => return Err(unless_revoked(&state, holder, e).await),
    };
    let b = &body.value;
    // The hot path: the key's liveness is decided with the charge itself.
    let caller = Caller::with_key(holder.0.till, holder.0.key_row, &key.0, body.hash.clone());
    let charged = money::charge(&state.ledger, &state.allowances, &caller, &b.allowance_id, amount).await?;
    Ok(HttpResponse::Created().json(ChargeView {
        reference: charged.receipt.reference,
        amount_minor: charged.receipt.amount_minor,
        fee_minor: charged.receipt.fee_minor,
        remaining_minor: charged.remaining_minor,
        allowance_id: charged.allowance_id,
    }))
}

/// `refusal`, for a charge the engine never saw; but a revoked key (whose
/// liveness the engine would have decided first) hears 401 instead.
async fn unless_revoked(state: &AppState, holder: KeyHolder, refusal: ApiError) -> ApiError {
    match keys::refuse_if_revoked(&state.ledger, holder.0.key_row).await {
        Ok(()) => refusal,
        Err(e) => e.into(),
    }
}

#[utoipa::path(
    post, path = "/api/v1/payouts", tag = "money",
    request_body = NewPayout,
    params(("Idempotency-Key" = String, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "Paid", body = PayoutView),
        (status = 422, description = "Refused: insufficient_funds, unknown_customer…", body = ErrorBody),
    )
)]
pub async fn create_payout(
    state: web::Data<AppState>,
    till: Till,
    key: IdempotencyKey,
    body: JsonBody<NewPayout>,
) -> Result<HttpResponse, ApiError> {
    let b = &body.value;
    let msisdn = schemas::msisdn(&state.config, &b.msisdn)?;
    let amount = schemas::amount("amount_minor", b.amount_minor)?;
    schemas::description(&b.description)?;
    let caller = Caller::new(till.0, &key.0, body.hash.clone());
    let receipt = money::payout(&state.ledger, &caller, &msisdn, amount).await?;
    Ok(HttpResponse::Created().json(PayoutView {
        reference: receipt.reference,
        amount_minor: receipt.amount_minor,
        fee_minor: receipt.fee_minor,
    }))
}

#[utoipa::path(
    post, path = "/api/v1/refunds", tag = "money",
    request_body = NewRefund,
    params(("Idempotency-Key" = String, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "Refunded", body = RefundView),
        (status = 404, description = "No payment with this reference to this till", body = ErrorBody),
        (status = 422, description = "Refused: refund_exceeds_paid, insufficient_funds…", body = ErrorBody),
    )
)]
pub async fn create_refund(
    state: web::Data<AppState>,
    till: Till,
    key: IdempotencyKey,
    body: JsonBody<NewRefund>,
) -> Result<HttpResponse, ApiError> {
    let b = &body.value;
    let amount = b.amount_minor.map(|a| schemas::amount("amount_minor", a)).transpose()?;
    let caller = Caller::new(till.0, &key.0, body.hash.clone());
    let refunded = money::refund(&state.ledger, &caller, &b.reference, amount).await?;
    Ok(HttpResponse::Created().json(RefundView {
        reference: refunded.receipt.reference,
        refunded_reference: refunded.refunded_reference,
        amount_minor: refunded.receipt.amount_minor,
        fee_minor: refunded.receipt.fee_minor,
    }))
}

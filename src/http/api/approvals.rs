//! `POST/GET /api/v1/payment-requests` and `/api/v1/allowances`: what a
//! till asks a customer to approve on the phone.

use super::auth::Till;
use super::body::JsonBody;
use super::errors::{ApiError, ErrorBody};
use super::idempotency::{self, IdempotencyKey};
use super::schemas::{self, AllowanceView, NewAllowance, NewPaymentRequest, PaymentRequestView, PeriodName};
use crate::domain::now_ms;
use crate::domain::time::{rfc3339, Period};
use crate::integrator::asks::{self, AskInput};
use crate::integrator::{Approval, ApprovalKind};
use crate::ledger::{LedgerError, Settings};
use crate::startup::AppState;
use actix_web::{web, HttpResponse};

#[utoipa::path(
    post, path = "/api/v1/payment-requests", tag = "payment requests",
    request_body = NewPaymentRequest,
    params(("Idempotency-Key" = String, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "Asked; the customer is told by SMS", body = PaymentRequestView),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn create_payment_request(
    state: web::Data<AppState>,
    till: Till,
    key: IdempotencyKey,
    body: JsonBody<NewPaymentRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = &body.value;
    let input = AskInput {
        kind: ApprovalKind::Payment,
        msisdn: schemas::msisdn(&state.config, &b.msisdn)?,
        amount: schemas::amount("amount_minor", b.amount_minor)?,
        period: None,
        description: schemas::description(&b.description)?,
    };
    create(&state, till, key, body.hash, input).await
}

#[utoipa::path(
    get, path = "/api/v1/payment-requests/{id}", tag = "payment requests",
    params(("id" = String, Path, description = "The request's id (pr_…)")),
    responses(
        (status = 200, description = "The request now", body = PaymentRequestView),
        (status = 404, description = "No such request of this till", body = ErrorBody),
    )
)]
pub async fn get_payment_request(
    state: web::Data<AppState>,
    till: Till,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (settings, id) = (state.ledger.settings_arc(), id.into_inner());
    let view = state
        .ledger
        .read(move |conn| {
            let (approval, paid_by) = asks::payment_request(conn, till.0, &id)?;
            payment_request_view(&settings, &approval, paid_by.map(|t| (t.reference, t.fee_minor)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(
    post, path = "/api/v1/allowances", tag = "allowances",
    request_body = NewAllowance,
    params(("Idempotency-Key" = String, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "Asked; the customer is told by SMS", body = AllowanceView),
        (status = "4XX", description = "Refused", body = ErrorBody),
    )
)]
pub async fn create_allowance(
    state: web::Data<AppState>,
    till: Till,
    key: IdempotencyKey,
    body: JsonBody<NewAllowance>,
) -> Result<HttpResponse, ApiError> {
    let b = &body.value;
    let input = AskInput {
        kind: ApprovalKind::Allowance,
        msisdn: schemas::msisdn(&state.config, &b.msisdn)?,
        amount: schemas::amount("limit_minor", b.limit_minor)?,
        period: Some(b.period.into()),
        description: schemas::description(&b.description)?,
    };
    create(&state, till, key, body.hash, input).await
}

#[utoipa::path(
    get, path = "/api/v1/allowances/{id}", tag = "allowances",
    params(("id" = String, Path, description = "The allowance's id (al_…)")),
    responses(
        (status = 200, description = "The allowance now", body = AllowanceView),
        (status = 404, description = "No such allowance of this till", body = ErrorBody),
    )
)]
pub async fn get_allowance(
    state: web::Data<AppState>,
    till: Till,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (settings, id) = (state.ledger.settings_arc(), id.into_inner());
    let view = state
        .ledger
        .read(move |conn| allowance_view(&settings, &asks::find_own(conn, till.0, ApprovalKind::Allowance, &id)?))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Creates the request or allowance once per idempotency key.
async fn create(
    state: &AppState,
    till: Till,
    key: IdempotencyKey,
    hash: String,
    input: AskInput,
) -> Result<HttpResponse, ApiError> {
    let (notices, settings) = (state.notices.clone(), state.ledger.settings_arc());
    let ttl_ms = i64::try_from(state.config.api.request_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let answer = idempotency::once(&state.ledger, till.0, key.0, hash, move |conn| {
        let approval = asks::create(conn, &notices, &settings, till.0, &input, ttl_ms, now_ms())?;
        let json = match approval.kind {
            ApprovalKind::Payment => serde_json::to_string(&payment_request_view(&settings, &approval, None)?),
            ApprovalKind::Allowance => serde_json::to_string(&allowance_view(&settings, &approval)?),
        };
        json.map_err(|e| LedgerError::Internal(e.to_string()))
    })
    .await?;
    answer.response()
}

fn payment_request_view(
    settings: &Settings,
    a: &Approval,
    paid_by: Option<(String, i64)>,
) -> Result<PaymentRequestView, LedgerError> {
    let fee_minor = match &paid_by {
        Some((_, fee)) => *fee,
        None => asks::fee_of_payment(settings, a.amount_minor)?,
    };
    Ok(PaymentRequestView {
        id: a.public_id.clone(),
        status: a.status_at(now_ms()).as_str().to_string(),
        code: a.code.clone(),
        amount_minor: a.amount_minor,
        fee_minor,
        description: a.description.clone(),
        expires_at: rfc3339(a.expires_at_ms),
        reference: paid_by.map(|(reference, _)| reference),
    })
}

fn allowance_view(settings: &Settings, a: &Approval) -> Result<AllowanceView, LedgerError> {
    let now = now_ms();
    let status = a.status_at(now);
    let remaining_minor = match status {
        crate::integrator::ApprovalStatus::Active => a.remaining_minor(now, settings.day_utc_offset_minutes),
        _ => 0,
    };
    let period = match a.period {
        Some(Period::Day) => PeriodName::Day,
        Some(Period::Week) => PeriodName::Week,
        Some(Period::Month) => PeriodName::Month,
        None => return Err(LedgerError::corrupt("approvals.period", "")),
    };
    Ok(AllowanceView {
        id: a.public_id.clone(),
        status: status.as_str().to_string(),
        code: a.code.clone(),
        limit_minor: a.amount_minor,
        remaining_minor,
        period,
        description: a.description.clone(),
        expires_at: rfc3339(a.expires_at_ms),
    })
}

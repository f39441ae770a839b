//! `/admin/v1/float`, `/transfers/{reference}` (show, reverse) and
//! `/held` (list, release, return).

use super::auth::Caller;
use super::reply::{checked, done, refusal, MaybeKey};
use crate::admin::money::{self as ops, FloatIssued, Reversed, Settled};
use crate::admin::views::{self, HeldView, TransferView};
use crate::domain::Reference;
use crate::http::api::body::JsonBody;
use crate::http::api::errors::{ApiError, ErrorBody};
use crate::http::api::schemas;
use crate::ledger::holds::Settle;
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Float to issue. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewFloat {
    /// The agent's phone number.
    pub agent: String,
    pub amount_minor: i64,
}

#[utoipa::path(
    post, path = "/admin/v1/float", tag = "money",
    request_body = NewFloat,
    params(("Idempotency-Key" = String, Header, description = "Required: the same key never issues twice")),
    responses(
        (status = 201, description = "Issued from the issuance account", body = FloatIssued),
        (status = 400, description = "idempotency_key_required, invalid_amount, invalid_msisdn…", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "The key was used for another request: idempotency_conflict", body = ErrorBody),
        (status = 422, description = "Not an agent (wrong_party), or above a limit", body = ErrorBody),
    )
)]
pub async fn issue_float(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    body: Result<JsonBody<NewFloat>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let parsed = key.required().map(str::to_string).and_then(|k| {
        let body = body?;
        let agent = schemas::msisdn(&state.config, &body.value.agent)?;
        let amount = schemas::amount("amount_minor", body.value.amount_minor)?;
        Ok((k, agent, amount, body.hash))
    });
    let (k, agent, amount, hash) = checked(&state, &caller, &req, parsed).await?;
    let idem = key.idem(&req, Some(&hash), StatusCode::CREATED);
    let issued = ops::issue_float(&state.ledger, &caller.0.name, agent, amount, format!("admin:float:{k}"), idem);
    done(issued.await, StatusCode::CREATED)
}

fn reference(s: &str) -> Result<Reference, ApiError> {
    Reference::parse(s).map_err(|e| ApiError::bad_request("invalid_reference", e.to_string()))
}

#[utoipa::path(
    get, path = "/admin/v1/transfers/{reference}", tag = "money",
    params(("reference" = String, Path, description = "A transfer's 10-character reference")),
    responses(
        (status = 200, description = "The transfer and what became of it", body = TransferView),
        (status = 400, description = "Not a reference: invalid_reference", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn get_transfer(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let reference = reference(&path)?;
    let found = state.ledger.read(move |conn| views::transfer_view(conn, reference.as_str())).await;
    let view = found.map_err(refusal)?.ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(
    post, path = "/admin/v1/transfers/{reference}/reverse", tag = "money",
    params(("reference" = String, Path, description = "The transfer to reverse"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "Reversed by a compensating transfer", body = Reversed),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "already_reversed, not_reversible, reversal_funds_gone (the recipient spent it), held_transfer", body = ErrorBody),
    )
)]
pub async fn reverse_transfer(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reference = checked(&state, &caller, &req, reference(&path)).await?;
    let idem = key.idem(&req, None, StatusCode::CREATED);
    done(ops::reverse(&state.ledger, &caller.0.name, reference, idem).await, StatusCode::CREATED)
}

/// Transfers held in suspense.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldList {
    /// Oldest first.
    pub held: Vec<HeldView>,
}

#[utoipa::path(
    get, path = "/admin/v1/held", tag = "fraud",
    responses((status = 200, description = "Transfers a fraud rule held, oldest first", body = HeldList))
)]
pub async fn list_held(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let held = state.ledger.read(views::held).await.map_err(refusal)?;
    Ok(HttpResponse::Ok().json(HeldList { held }))
}

async fn settle(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    path: &str,
    how: Settle,
) -> Result<HttpResponse, ApiError> {
    let reference = checked(&state, &caller, &req, reference(path)).await?;
    let idem = key.idem(&req, None, StatusCode::OK);
    done(ops::settle_hold(&state.ledger, &caller.0.name, reference, how, idem).await, StatusCode::OK)
}

#[utoipa::path(
    post, path = "/admin/v1/held/{reference}/release", tag = "fraud",
    params(("reference" = String, Path, description = "The held transfer's reference"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 200, description = "Paid to the payee as it would have been", body = Settled),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not_held, already_settled", body = ErrorBody),
    )
)]
pub async fn release_held(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    settle(state, caller, req, key, &path, Settle::Release).await
}

#[utoipa::path(
    post, path = "/admin/v1/held/{reference}/return", tag = "fraud",
    params(("reference" = String, Path, description = "The held transfer's reference"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 200, description = "Given back to the payer, fee included", body = Settled),
        (status = 404, body = ErrorBody),
        (status = 409, description = "not_held, already_settled", body = ErrorBody),
    )
)]
pub async fn return_held(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    settle(state, caller, req, key, &path, Settle::Return).await
}

//! `/admin/v1/whoami`, `/accounts/{account}` (show, statement, suspend,
//! resume, unlock), `/agents` and `/merchants` (create) and `/sim-swaps`.

use super::auth::Caller;
use super::reply::{checked, done, refusal, MaybeKey};
use crate::admin::accounts::{self as ops, AccountView, Change, SimSwap};
use crate::admin::views::{self, StatementEntry, LIST_MAX};
use crate::domain::{now_ms, Pin};
use crate::http::api::body::JsonBody;
use crate::http::api::errors::{ApiError, ErrorBody};
use crate::http::api::schemas;
use crate::ledger::account::{clean_name, parse_till};
use crate::ledger::{AccountKey, NewAccount};
use crate::startup::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Who the key is.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    pub name: String,
    /// `viewer` or `operator`.
    pub role: String,
}

#[utoipa::path(
    get, path = "/admin/v1/whoami", tag = "keys",
    responses((status = 200, description = "The key's name and role", body = WhoAmI), (status = 401, body = ErrorBody))
)]
pub async fn whoami(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(WhoAmI { name: caller.0.name, role: caller.0.role.as_str().to_string() })
}

fn key_of(state: &AppState, account: &str) -> Result<AccountKey, ApiError> {
    ops::parse_key(account, &state.config).map_err(refusal)
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{account}", tag = "accounts",
    params(("account" = String, Path, description = "A phone number (any accepted form) or a till")),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 400, description = "Neither a phone number nor a till", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
pub async fn get_account(state: web::Data<AppState>, account: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let key = key_of(&state, &account)?;
    let currency = state.ledger.settings().currency.clone();
    let view = state.ledger.read(move |conn| Ok(AccountView::of(&ops::existing(conn, &key)?, &currency))).await;
    Ok(HttpResponse::Ok().json(view.map_err(refusal)?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct Limit {
    /// How many (default 20, at most 200).
    pub limit: Option<i64>,
}

impl Limit {
    /// The number asked for, 20 when none was, within 1..=[`LIST_MAX`].
    pub fn get(&self) -> i64 {
        self.limit.unwrap_or(20).clamp(1, LIST_MAX)
    }
}

/// An account with its latest transfers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Statement {
    pub account: AccountView,
    /// Newest first.
    pub entries: Vec<StatementEntry>,
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{account}/statement", tag = "accounts",
    params(("account" = String, Path, description = "A phone number or a till"), Limit),
    responses(
        (status = 200, description = "The account and its latest transfers, newest first", body = Statement),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
pub async fn get_statement(
    state: web::Data<AppState>,
    account: web::Path<String>,
    query: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&state, &account)?;
    let limit = query.get();
    let currency = state.ledger.settings().currency.clone();
    let statement = state.ledger.read(move |conn| {
        let a = ops::existing(conn, &key)?;
        Ok(Statement { entries: views::statement_of(conn, &a, limit)?, account: AccountView::of(&a, &currency) })
    });
    Ok(HttpResponse::Ok().json(statement.await.map_err(refusal)?))
}

async fn change(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    account: &str,
    how: Change,
) -> Result<HttpResponse, ApiError> {
    let account = checked(&state, &caller, &req, key_of(&state, account)).await?;
    let idem = key.idem(&req, None, StatusCode::OK);
    done(ops::change(&state.ledger, &caller.0.name, account, how, idem).await, StatusCode::OK)
}

#[utoipa::path(
    post, path = "/admin/v1/accounts/{account}/suspend", tag = "accounts",
    params(("account" = String, Path, description = "A phone number or a till"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 200, description = "Suspended: nothing leaves or enters it by the customer's hand", body = AccountView),
        (status = 404, body = ErrorBody), (status = 409, description = "Already suspended: invalid_state", body = ErrorBody),
    )
)]
pub async fn suspend(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    account: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change(state, caller, req, key, &account, Change::Suspend).await
}

#[utoipa::path(
    post, path = "/admin/v1/accounts/{account}/resume", tag = "accounts",
    params(("account" = String, Path, description = "A phone number or a till"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 200, description = "Active again", body = AccountView),
        (status = 404, body = ErrorBody), (status = 409, description = "Not suspended: invalid_state", body = ErrorBody),
    )
)]
pub async fn resume(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    account: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change(state, caller, req, key, &account, Change::Resume).await
}

#[utoipa::path(
    post, path = "/admin/v1/accounts/{account}/unlock", tag = "accounts",
    params(("account" = String, Path, description = "A phone number"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 200, description = "Unlocked, wrong-PIN count cleared", body = AccountView),
        (status = 404, body = ErrorBody), (status = 409, description = "Not locked: invalid_state", body = ErrorBody),
    )
)]
pub async fn unlock(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    account: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change(state, caller, req, key, &account, Change::Unlock).await
}

/// A new agent. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAgent {
    pub msisdn: String,
    pub name: String,
    /// The agent's PIN; without one the agent cannot confirm anything yet.
    pub pin: Option<String>,
}

#[utoipa::path(
    post, path = "/admin/v1/agents", tag = "accounts",
    request_body = NewAgent,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "Created (a welcome SMS goes to the agent)", body = AccountView),
        (status = 400, body = ErrorBody), (status = 409, description = "already_exists", body = ErrorBody),
    )
)]
pub async fn create_agent(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    body: Result<JsonBody<NewAgent>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let parsed = body.and_then(|body| {
        let msisdn = schemas::msisdn(&state.config, &body.value.msisdn)?;
        let name = clean_name(&body.value.name).map_err(refusal)?;
        let pin = body.value.pin.as_deref().map(|p| Pin::parse_new(p, state.config.pin.length)).transpose();
        let pin = pin.map_err(|e| ApiError::bad_request("invalid_pin", e.to_string()))?;
        Ok((msisdn, name, pin, body.hash))
    });
    let (msisdn, name, pin, hash) = checked(&state, &caller, &req, parsed).await?;
    let pin_hash = match pin {
        Some(pin) => Some(state.pins.hash_async(pin).await.map_err(|e| ApiError::internal(&e))?),
        None => None,
    };
    let new = NewAccount::agent(&msisdn, &name, pin_hash);
    let idem = key.idem(&req, Some(&hash), StatusCode::CREATED);
    let created =
        ops::create(&state.ledger, state.notices.clone(), &caller.0.name, new, AccountKey::Msisdn(msisdn), idem);
    done(created.await, StatusCode::CREATED)
}

/// A new merchant. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewMerchant {
    /// 5 to 8 digits.
    pub till: String,
    pub name: String,
    /// The merchant's contact phone, where receipts go.
    pub msisdn: String,
}

#[utoipa::path(
    post, path = "/admin/v1/merchants", tag = "accounts",
    request_body = NewMerchant,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 201, description = "Created", body = AccountView),
        (status = 400, body = ErrorBody), (status = 409, description = "already_exists", body = ErrorBody),
    )
)]
pub async fn create_merchant(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    body: Result<JsonBody<NewMerchant>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let parsed = body.and_then(|body| {
        let till = parse_till(&body.value.till).map_err(refusal)?;
        let name = clean_name(&body.value.name).map_err(refusal)?;
        let contact = schemas::msisdn(&state.config, &body.value.msisdn)?;
        Ok((NewAccount::merchant(&till, &name, &contact), till, body.hash))
    });
    let (new, till, hash) = checked(&state, &caller, &req, parsed).await?;
    let idem = key.idem(&req, Some(&hash), StatusCode::CREATED);
    let created = ops::create(&state.ledger, state.notices.clone(), &caller.0.name, new, AccountKey::Till(till), idem);
    done(created.await, StatusCode::CREATED)
}

/// A SIM swap to mark. Unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSimSwap {
    pub msisdn: String,
    /// RFC 3339; now when absent. Not in the future.
    pub swapped_at: Option<String>,
}

#[utoipa::path(
    post, path = "/admin/v1/sim-swaps", tag = "fraud",
    request_body = NewSimSwap,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: a mark made now is not made again later")),
    responses(
        (status = 201, description = "Marked: money out of the number is capped for the cool-off", body = SimSwap),
        (status = 400, body = ErrorBody), (status = 409, description = "idempotency_conflict", body = ErrorBody),
    )
)]
pub async fn mark_sim_swap(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: MaybeKey,
    body: Result<JsonBody<NewSimSwap>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let parsed = body.and_then(|body| {
        let msisdn = schemas::msisdn(&state.config, &body.value.msisdn)?;
        let at = body.value.swapped_at.as_deref().map(crate::domain::time::parse_rfc3339).transpose();
        let at = at.map_err(|e| ApiError::bad_request("invalid_request", format!("swapped_at: {e}")))?;
        Ok((msisdn, at.unwrap_or(now), body.hash))
    });
    let (msisdn, at_ms, hash) = checked(&state, &caller, &req, parsed).await?;
    let idem = key.idem(&req, Some(&hash), StatusCode::CREATED);
    let marked = ops::mark_sim_swap(&state.ledger, &caller.0.name, &msisdn, at_ms, now, idem);
    done(marked.await, StatusCode::CREATED)
}

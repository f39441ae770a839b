//! What every keyed admin request passes before its handler: a live admin
//! key (`Authorization: Bearer <key>`; missing, unknown or revoked: 401
//! `unauthorized`), and for anything but a read an operator key (a viewer
//! gets 403 `forbidden`, and the attempt is audited). It wraps the whole
//! scope, so a route added there cannot miss it; the handler learns who
//! calls through [`Caller`].

use super::reply::{audit_target, HandlerAudits};
use crate::admin::audit::Entry;
use crate::admin::keys::{self, AdminKey};
use crate::admin::run::record_entry;
use crate::http::api::auth::bearer;
use crate::http::api::errors::ApiError;
use crate::startup::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use std::future::{ready, Ready};

pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match admin_of(req.request()).await {
        Ok(key) => {
            req.extensions_mut().insert(key.clone());
            let res = next.call(req).await?;
            audit_unhandled_refusal(&res, &key).await?;
            Ok(res.map_into_left_body())
        }
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

/// Audits a write refused before its handler could (an extractor's 400 or
/// 413): every write attempt leaves an entry, whoever refused it.
async fn audit_unhandled_refusal<B>(res: &ServiceResponse<B>, key: &AdminKey) -> Result<(), ApiError> {
    let req = res.request();
    let write = !matches!(*req.method(), Method::GET | Method::HEAD);
    let status = res.status();
    if !write || !(status.is_client_error() || status.is_server_error()) || req.extensions().contains::<HandlerAudits>()
    {
        return Ok(());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Ok(());
    };
    let (outcome, detail) = match res.response().error().and_then(|e| e.as_error::<ApiError>()) {
        Some(e) => (e.code().to_string(), e.to_string()),
        None => (status.as_str().to_string(), status.canonical_reason().unwrap_or("").to_string()),
    };
    let entry = Entry::new(&key.name, &format!("{} {}", req.method(), req.path()), &audit_target(req.path()))
        .outcome(&outcome)
        .detail(detail);
    Ok(record_entry(&state.ledger, entry).await?)
}

/// The request's admin key, once its role allows the method.
async fn admin_of(req: &HttpRequest) -> Result<AdminKey, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| ApiError::internal(&"no app state"))?;
    let key = key_of(&state, req).await?.ok_or_else(unauthorized)?;
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    if reading || key.role.may_write() {
        return Ok(key);
    }
    let entry = Entry::new(&key.name, &format!("{} {}", req.method(), req.path()), &audit_target(req.path()))
        .outcome("forbidden")
        .detail("a viewer key cannot write");
    record_entry(&state.ledger, entry).await?;
    Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this key is a viewer's: it may only read"))
}

/// The live admin key a request presents, if any: what anything that
/// serves operators (the admin API, `/metrics`) checks.
pub async fn key_of(state: &AppState, req: &HttpRequest) -> Result<Option<AdminKey>, ApiError> {
    let Some(presented) = bearer(req) else {
        return Ok(None);
    };
    let secret = state.config.api.key_secret.expose().to_string();
    Ok(state.ledger.read(move |conn| keys::authenticate(conn, &secret, &presented)).await?)
}

pub fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing, unknown or revoked admin key (Authorization: Bearer <key>)",
    )
}

/// Who calls: the admin key that passed [`authenticate`].
#[derive(Debug, Clone)]
pub struct Caller(pub AdminKey);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Only a route outside the keyed scope could get here without one.
        ready(req.extensions().get::<AdminKey>().cloned().map(Caller).ok_or_else(unauthorized))
    }
}

//! What every keyed admin request passes before its handler: a live admin
//! key (`Authorization: Bearer <key>`; missing, unknown or revoked: 401
//! `unauthorized`), and for anything but a read an operator key (a viewer
//! gets 403 `forbidden`, and the attempt is audited). It wraps the whole
//! scope, so a route added there cannot miss it; the handler learns who
//! calls through [`Caller`].

use super::reply::audit_target;
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
            req.extensions_mut().insert(key);
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
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

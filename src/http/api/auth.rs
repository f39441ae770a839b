//! What every keyed API request passes before its handler: a live API key
//! (`Authorization: Bearer <key>`, 401 otherwise), then the key's rate
//! (`rate_limits.per_api_key_per_second`, 429). It wraps the whole keyed
//! scope, so a route added there cannot miss it; the handler learns the
//! till the key acts for through [`Till`].

use super::errors::ApiError;
use crate::integrator::keys::{self, KeyOwner};
use crate::ledger::AccountId;
use crate::startup::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use std::future::{ready, Ready};

pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match owner_of(req.request()).await {
        Ok(owner) => {
            req.extensions_mut().insert(owner);
            next.call(req).await.map(ServiceResponse::map_into_left_body)
        }
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

/// The till the request's key acts for, once its rate allows.
async fn owner_of(req: &HttpRequest) -> Result<KeyOwner, ApiError> {
    let state = req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| ApiError::internal(&"no app state"))?;
    let presented = bearer(req).ok_or_else(ApiError::unauthorized)?;
    let secret = state.config.api.key_secret.expose().to_string();
    let owner = state.ledger.read(move |conn| keys::authenticate(conn, &secret, &presented)).await?;
    let owner = owner.ok_or_else(ApiError::unauthorized)?;
    state.limits.check_api_key(owner.key_row).map_err(|limited| ApiError::rate_limited(&limited))?;
    Ok(owner)
}

/// The key of `Authorization: Bearer <key>` (the scheme in any case).
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then(|| key.to_string())
}

/// The till the request's API key acts for.
#[derive(Debug, Clone, Copy)]
pub struct Till(pub AccountId);

impl FromRequest for Till {
    type Error = ApiError;
    type Future = Ready<Result<Till, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Only a route outside the keyed scope could get here without one.
        ready(req.extensions().get::<KeyOwner>().map(|o| Till(o.till)).ok_or_else(ApiError::unauthorized))
    }
}

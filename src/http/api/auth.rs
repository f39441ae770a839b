//! What every keyed API request passes before its handler: a live API key
//! (`Authorization: Bearer <key>`, 401 otherwise), then the key's rate
//! (`rate_limits.per_api_key_per_second`, 429). It wraps the whole keyed
//! scope, so a route added there cannot miss it; the handler learns the
//! till the key acts for through [`Till`], or, for a charge, through
//! [`KeyHolder`].
//!
//! A key this process has seen is found in its [`KeyCache`] without a read;
//! whether it is still live is then checked where the request is served:
//! [`Till`] reads it before the handler runs, and a charge leaves it to the
//! posting engine, which refuses a revoked key in the transaction that would
//! have moved the money. Either way a key revoked from any process stops at
//! once.

use super::errors::ApiError;
use crate::integrator::keys::{self, KeyOwner};
use crate::ledger::AccountId;
use crate::startup::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use futures_util::future::LocalBoxFuture;
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

/// Set on a request whose key was read live while it was authenticated.
#[derive(Clone, Copy)]
struct ReadLive;

/// The till the request's key acts for, once its rate allows: from the
/// cache, or looked up (and then remembered).
async fn owner_of(req: &HttpRequest) -> Result<KeyOwner, ApiError> {
    let state = app_state(req)?;
    let presented = bearer(req).filter(|k| keys::plausible(k)).ok_or_else(ApiError::unauthorized)?;
    let key_hash = keys::hash(state.config.api.key_secret.expose(), &presented);
    let owner = match state.api_keys.get(&key_hash) {
        Some(known) => known,
        None => {
            let lookup = key_hash.clone();
            let owner = state.ledger.read(move |conn| keys::find_live(conn, &lookup)).await?;
            let owner = owner.ok_or_else(ApiError::unauthorized)?;
            state.api_keys.remember(&key_hash, owner);
            req.extensions_mut().insert(ReadLive);
            owner
        }
    };
    state.limits.check_api_key(owner.key_row).map_err(|limited| ApiError::rate_limited(&limited))?;
    Ok(owner)
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| ApiError::internal(&"no app state"))
}

fn key_owner(req: &HttpRequest) -> Result<KeyOwner, ApiError> {
    // Only a route outside the keyed scope could get here without one.
    req.extensions().get::<KeyOwner>().copied().ok_or_else(ApiError::unauthorized)
}

/// The key of `Authorization: Bearer <key>` (the scheme in any case).
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then(|| key.to_string())
}

/// The till the request's API key acts for, the key read live for this
/// request.
#[derive(Debug, Clone, Copy)]
pub struct Till(pub AccountId);

impl FromRequest for Till {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Till, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let owner = key_owner(req);
        let read_live = req.extensions().get::<ReadLive>().is_some();
        let state = app_state(req);
        Box::pin(async move {
            let owner = owner?;
            if !read_live {
                keys::refuse_if_revoked(&state?.ledger, owner.key_row).await?;
            }
            Ok(Till(owner.till))
        })
    }
}

/// The request's key and the till it acts for, with the key's liveness
/// left to the posting engine: only for a request whose every answer comes
/// from a transfer carrying the key (a charge), since the engine refuses a
/// revoked key before anything else, replays included.
#[derive(Debug, Clone, Copy)]
pub struct KeyHolder(pub KeyOwner);

impl FromRequest for KeyHolder {
    type Error = ApiError;
    type Future = Ready<Result<KeyHolder, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(key_owner(req).map(KeyHolder))
    }
}

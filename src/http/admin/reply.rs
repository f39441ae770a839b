//! The admin API's answers: which status a refusal gets (in one place),
//! the optional `Idempotency-Key` of a write, and how a write's result —
//! fresh or replayed from the store — becomes a response.
//!
//! | status | when | codes |
//! |---|---|---|
//! | 400 | bad JSON or shape, a path parameter that is not a phone number, till or reference, a bad key | `invalid_json`, `invalid_request`, `idempotency_key_required`, `invalid_idempotency_key` |
//! | 401 | no key, an unknown or revoked one | `unauthorized` |
//! | 403 | a viewer key on a write (audited) | `forbidden` |
//! | 404 | no such account, transfer or route | `not_found` |
//! | 405 | a path served with another method | `method_not_allowed` |
//! | 409 | the change makes no sense now, or was already made | `invalid_state`, `already_exists`, `already_reversed`, `not_reversible`, `reversal_funds_gone`, `held_transfer`, `not_held`, `already_settled`, `idempotency_conflict` |
//! | 413 | a body above `api.max_body_bytes` | `payload_too_large` |
//! | 422 | a well-formed request a rule refuses | the ledger's code (`wrong_party`, `amount_outside_tariff`, …) |

use crate::admin::{Done, Idem};
use crate::http::api::body::fingerprint;
use crate::http::api::errors::ApiError;
use crate::http::api::idempotency::{HEADER, KEY_MAX_CHARS};
use crate::ledger::LedgerError;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::HttpMessage;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;
use std::future::{ready, Ready};

/// A ledger refusal as the admin API answers it.
pub fn refusal(e: LedgerError) -> ApiError {
    if !e.is_refusal() {
        return ApiError::internal(&e);
    }
    let message = e.to_string();
    match e.code() {
        "unknown_account" | "transfer_not_found" | "not_found" => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
        }
        "invalid_input" => ApiError::bad_request("invalid_request", message),
        "duplicate_account" => ApiError::new(StatusCode::CONFLICT, "already_exists", message),
        code @ ("invalid_state"
        | "already_reversed"
        | "not_reversible"
        | "reversal_funds_gone"
        | "held_transfer"
        | "not_held"
        | "already_settled"
        | "idempotency_conflict") => ApiError::new(StatusCode::CONFLICT, code, message),
        code => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message),
    }
}

/// The request's `Idempotency-Key`, if it sent one (1 to 200 visible
/// ASCII characters; anything else is 400).
pub struct MaybeKey(pub Option<String>);

impl FromRequest for MaybeKey {
    type Error = ApiError;
    type Future = Ready<Result<MaybeKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(maybe_key(req))
    }
}

fn maybe_key(req: &HttpRequest) -> Result<MaybeKey, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(MaybeKey(None));
    };
    let key = value.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > KEY_MAX_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
        let message = format!("Idempotency-Key must be 1 to {KEY_MAX_CHARS} visible ASCII characters");
        return Err(ApiError::bad_request("invalid_idempotency_key", message));
    }
    Ok(MaybeKey(Some(key.to_string())))
}

impl MaybeKey {
    /// The key with its request's fingerprint (`hash` of the body, or of
    /// the method and path alone for a write without one).
    pub fn idem(&self, req: &HttpRequest, hash: Option<&str>, status: StatusCode) -> Option<Idem> {
        let key = self.0.clone()?;
        let hash = hash
            .map_or_else(|| fingerprint(req.method().as_str(), req.path(), &serde_json::Value::Null), str::to_string);
        Some(Idem { key, hash, status: status.as_u16() })
    }

    /// The key, or 400 `idempotency_key_required`.
    pub fn required(&self) -> Result<&str, ApiError> {
        self.0.as_deref().ok_or_else(|| {
            ApiError::bad_request("idempotency_key_required", "this write needs an Idempotency-Key header")
        })
    }
}

/// A write's result as a response: a fresh one with `status`, a stored one
/// as it was first sent.
pub fn done<T: Serialize>(result: Result<Done<T>, LedgerError>, status: StatusCode) -> Result<HttpResponse, ApiError> {
    match result.map_err(refusal)? {
        Done::Fresh(value) => Ok(HttpResponse::build(status).json(value)),
        Done::Stored(stored) => {
            let status = StatusCode::from_u16(stored.status).map_err(|e| ApiError::internal(&e))?;
            Ok(HttpResponse::build(status).content_type("application/json").body(stored.body))
        }
    }
}

/// What a write to `path` acts on, for the audit log: the path below the
/// prefix, at most 120 characters.
pub fn audit_target(path: &str) -> String {
    path.strip_prefix(super::PREFIX).unwrap_or(path).chars().take(120).collect()
}

/// Marks a write whose handler ran and audits it (through [`checked`]);
/// a write refused before that, by an extractor (a body too large or not
/// JSON, a malformed `Idempotency-Key`), is audited by the admin scope's
/// middleware instead.
#[derive(Debug, Clone, Copy)]
pub struct HandlerAudits;

/// `result`, after recording a refused write's attempt in the audit log
/// (for refusals decided here, before the operation runs: a bad path
/// parameter or body).
pub async fn checked<T>(
    state: &crate::startup::AppState,
    caller: &super::auth::Caller,
    req: &HttpRequest,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    // From here on the write is audited by its handler: the operation's own
    // entry, or this refusal's.
    req.extensions_mut().insert(HandlerAudits);
    let Err(e) = result else {
        return result;
    };
    let action = format!("{} {}", req.method(), req.path());
    let entry = crate::admin::audit::Entry::new(&caller.0.name, &action, &audit_target(req.path()))
        .outcome(e.code())
        .detail(e.to_string());
    crate::admin::run::record_entry(&state.ledger, entry).await?;
    Err(e)
}

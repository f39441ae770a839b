//! The API's one error type and its JSON body,
//! `{"error": {"code": "snake_case", "message": "…"}}`. Which status a
//! ledger refusal gets is decided here, in one place:
//!
//! | status | when | codes |
//! |---|---|---|
//! | 400 | the request's shape: bad JSON, a missing field, a wrong type, an amount that is not a whole number of minor units from 1 up, a bad phone number, description or key | `invalid_json`, `invalid_request`, `invalid_amount`, `invalid_msisdn`, `invalid_description`, `idempotency_key_required`, `invalid_idempotency_key` |
//! | 401 | no key, a wrong one or a revoked one | `unauthorized` |
//! | 404 | nothing there, or another till's | `not_found` |
//! | 405 | a path served with another method | `method_not_allowed` |
//! | 409 | an idempotency key reused with another request | `idempotency_conflict` |
//! | 413 | a body above `api.max_body_bytes` | `payload_too_large` |
//! | 415 | a POST whose body is not `application/json` | `unsupported_media_type` |
//! | 422 | a well-formed request a rule refuses | the ledger's code (`insufficient_funds`, `allowance_exhausted`, `allowance_revoked`, `expired`, `declined`, `not_approved`, `account_not_active`, `refund_exceeds_paid`, …) or `unknown_customer` |
//! | 429 | above `rate_limits.per_api_key_per_second` | `rate_limited` (with `Retry-After`) |
//! | 500 | mkoba's own failure (logged, never described) | `internal` |

use crate::ledger::LedgerError;
use crate::limits::Limited;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: what a program should look at.
    #[schema(example = "allowance_exhausted")]
    pub code: String,
    /// For people; may change.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after_s: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> ApiError {
        let message = "missing, wrong or revoked API key (Authorization: Bearer <key>)";
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this path is not served with this method")
    }

    pub fn rate_limited(limited: &Limited) -> ApiError {
        let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", limited.reason());
        e.retry_after_s = Some(limited.retry_after_s());
        e
    }

    /// mkoba's own failure: logged here, never described to the caller.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "integrator API request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; try again later")
    }

    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message.clone() } };
        let mut response = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after_s {
            response.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        response.json(body)
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> ApiError {
        if !e.is_refusal() {
            return ApiError::internal(&e);
        }
        let message = e.to_string();
        match e.code() {
            "not_found" | "transfer_not_found" => ApiError::not_found(),
            "unauthorized" => ApiError::unauthorized(),
            "idempotency_conflict" => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                "this Idempotency-Key was already used for a different request",
            ),
            "invalid_input" => ApiError::bad_request("invalid_request", message),
            "unknown_account" => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_customer", "no customer has this number")
            }
            code => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_422_with_the_ledger_code_and_failures_500_without_detail() {
        let e = ApiError::from(LedgerError::AllowanceExhausted { remaining_minor: 5 });
        assert_eq!((e.status.as_u16(), e.code), (422, "allowance_exhausted"));
        let e = ApiError::from(LedgerError::ApprovalNotOpen { status: "revoked".into() });
        assert_eq!((e.status.as_u16(), e.code), (422, "allowance_revoked"));
        let e = ApiError::from(LedgerError::UnknownAccount("254700000000".into()));
        assert_eq!((e.status.as_u16(), e.code), (422, "unknown_customer"));
        let e = ApiError::from(LedgerError::IdempotencyConflict);
        assert_eq!(e.status.as_u16(), 409);
        let e = ApiError::from(LedgerError::UnknownApproval("al_x".into()));
        assert_eq!((e.status.as_u16(), e.code), (404, "not_found"));
        let e = ApiError::from(LedgerError::Internal("the disk is on fire".into()));
        assert_eq!((e.status.as_u16(), e.code), (500, "internal"));
        assert!(!e.message.contains("disk"), "no detail leaks: {}", e.message);
    }
}

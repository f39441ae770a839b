//! What every webhook request passes before its handler runs, cheapest and
//! least trusting first: the source's rate (`rate_limits.per_source_*`, so
//! a flood of wrong tokens is slowed too), then the token. It wraps the
//! whole `/webhooks` scope, so a route added there cannot miss it, and the
//! handlers stay thin. A refusal reads no body and stores nothing.

use super::{token_ok, PlainError};
use crate::startup::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn webhook_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal = match req.app_data::<web::Data<AppState>>() {
        Some(state) => refuse(req.request(), state),
        None => Some(HttpResponse::InternalServerError().finish()),
    };
    match refusal {
        Some(response) => Ok(req.into_response(response).map_into_right_body()),
        None => next.call(req).await.map(ServiceResponse::map_into_left_body),
    }
}

/// The answer for a request that may not reach its handler.
fn refuse(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let peer = req.peer_addr().map(|a| a.ip());
    if let Err(limited) = state.limits.check_source(peer) {
        // Debug, not warn: a flood would otherwise flood the log too.
        tracing::debug!(path = req.path(), retry_after_s = limited.retry_after_s(), "source rate limited");
        return Some(PlainError::too_many_requests(&limited));
    }
    if !token_ok(req, state.config.webhook_token.expose()) {
        return Some(PlainError::unauthorized());
    }
    None
}

//! `GET /metrics`: every series of [`crate::metrics`] in the Prometheus text
//! format, for a viewer or operator admin key sent as a Bearer token (401
//! otherwise, before anything is read). The gauges that are cheaper to read
//! than to keep — the outbox backlog by channel, the ledger writer's queue —
//! are read now. With `metrics.enabled = false` it answers 404.

use super::PlainError;
use crate::ledger::LedgerError;
use crate::notify::outbox::{self, Channel};
use crate::startup::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

pub async fn scrape(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match admin_key_ok(&req, &state).await {
        Ok(true) => {}
        Ok(false) => {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .content_type("text/plain; charset=utf-8")
                .body("a viewer or operator admin key is required (Authorization: Bearer <key>)\n")
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics: cannot check the admin key");
            return HttpResponse::ServiceUnavailable().finish();
        }
    }
    let metrics = state.ledger.metrics();
    if !metrics.enabled() {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("metrics are off (metrics.enabled = false)\n");
    }
    let channels = [Channel::Sms, Channel::Email];
    let backlog = state
        .ledger
        .read(move |conn| {
            channels.iter().map(|&ch| Ok((ch, outbox::pending(conn, ch)?))).collect::<Result<Vec<_>, _>>()
        })
        .await;
    match backlog {
        Ok(counts) => counts.into_iter().for_each(|(ch, n)| metrics.set_outbox_pending(ch.as_str(), n)),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the outbox backlog"),
    }
    metrics.set_writer_queue(state.ledger.queue_depth());
    match metrics.render() {
        Some(Ok(text)) => HttpResponse::Ok().content_type(crate::metrics::CONTENT_TYPE).body(text),
        Some(Err(e)) => {
            tracing::error!(error = %e, "metrics: cannot render");
            HttpResponse::InternalServerError().finish()
        }
        None => PlainError::bad_request("metrics are off"),
    }
}

/// The `Bearer` token of `Authorization`, if that is what it carries.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Whether the request carries a live admin key (both roles may read
/// metrics). An unknown or revoked key is no key.
async fn admin_key_ok(req: &HttpRequest, state: &AppState) -> Result<bool, LedgerError> {
    let Some(presented) = bearer(req).map(str::to_string) else {
        return Ok(false);
    };
    let secret = state.config.api.key_secret.expose().to_string();
    let key = state.ledger.read(move |conn| crate::admin::keys::authenticate(conn, &secret, &presented)).await?;
    Ok(key.is_some())
}

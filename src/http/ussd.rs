//! `POST /webhooks/africastalking/ussd` (after [`super::guard`]): body, rate limit, then the
//! USSD service; `…/ussd-events`: session-end notifications, recorded,
//! never a hop. No business logic here.

use super::PlainError;
use crate::aggregators::africastalking::{self, AdapterError};
use crate::domain::msisdn::mask_digits;
use crate::ledger::Language;
use crate::startup::AppState;
use crate::ussd::redact_text;
use actix_web::{web, HttpRequest, HttpResponse};
use tracing::Instrument;

pub async fn africastalking(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if africastalking::is_session_event(&body) {
        return session_event(body, state).await;
    }
    let mut hop = match africastalking::parse_ussd(&body, &state.config.number_plan()) {
        Ok(hop) => hop,
        Err(AdapterError::ForeignNumber(number)) => {
            // The aggregator shows our END screen; an HTTP error would show a generic failure.
            tracing::info!(msisdn = %number, "ussd hop from another country's number");
            let country = &state.config.country_code;
            let text = state.ussd.shared().catalog.text(Language::En, "err_foreign_number", &[("country", country)]);
            return plain(format!("END {text}"));
        }
        Err(AdapterError::Malformed(m) | AdapterError::Invalid(m)) => return PlainError::bad_request(&m),
    };
    hop.source = req.peer_addr().map(|a| a.ip().to_string());
    let span = tracing::info_span!(
        "ussd",
        session = %hop.session_id,
        msisdn = %mask_digits(hop.msisdn.as_str()),
        text = %redact_text(&hop.text),
    );
    if !state.limits.allow(hop.msisdn.as_str()) {
        let _enter = span.enter();
        tracing::warn!("rate limited");
        let text = state.ussd.shared().catalog.text(Language::En, "err_rate_limited", &[]);
        return plain(format!("END {text}"));
    }
    state.ledger.metrics().ussd_hop();
    let started = std::time::Instant::now();
    let reply = state.ussd.handle(hop).instrument(span.clone()).await;
    let _enter = span.enter();
    tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, ends = reply.starts_with("END"), "ussd hop");
    plain(reply)
}

fn plain(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body)
}

/// A session-end notification: recorded (its `input`, which carries PINs,
/// is neither read nor logged) and answered 200; no session changes.
pub async fn session_event(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let event = match africastalking::parse_ussd_event(&body, &state.config.number_plan()) {
        Ok(event) => event,
        Err(AdapterError::Malformed(m) | AdapterError::Invalid(m) | AdapterError::ForeignNumber(m)) => {
            return PlainError::bad_request(&m)
        }
    };
    tracing::info!(
        session = %event.session_id,
        status = event.status.as_str(),
        hops = event.hops_count,
        duration_ms = event.duration_ms,
        error = %event.error_message,
        "ussd session ended"
    );
    let now = crate::domain::now_ms();
    let record = move |conn: &mut _| crate::ussd::events::record(conn, africastalking::NAME, &event, now);
    match state.ledger.write(record).await {
        Ok(_) => HttpResponse::Ok().finish(),
        Err(e) => {
            tracing::error!(error = %e, "ussd session event not recorded");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

//! `POST /webhooks/africastalking/ussd` (after [`super::guard`]): body, rate limit, then the
//! USSD service. No business logic here.

use super::PlainError;
use crate::aggregators::africastalking::{self, AdapterError};
use crate::domain::msisdn::mask_digits;
use crate::ledger::Language;
use crate::startup::AppState;
use crate::ussd::redact_text;
use actix_web::{web, HttpRequest, HttpResponse};
use tracing::Instrument;

pub async fn africastalking(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let mut hop = match africastalking::parse_ussd(&body, &state.config.number_plan()) {
        Ok(hop) => hop,
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
    let started = std::time::Instant::now();
    let reply = state.ussd.handle(hop).instrument(span.clone()).await;
    let _enter = span.enter();
    tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, ends = reply.starts_with("END"), "ussd hop");
    plain(reply)
}

fn plain(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(body)
}

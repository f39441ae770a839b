//! `POST /webhooks/africastalking/sms` and `…/delivery`.

use super::PlainError;
use crate::aggregators::africastalking::{self, AdapterError};
use crate::domain::{msisdn::mask_digits, now_ms};
use crate::notify::outbox;
use crate::startup::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

/// Inbound SMS: handled before answering (the reply goes out as an SMS), so
/// an acknowledged message is never lost; a redelivered id changes nothing.
pub async fn inbound(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let mut sms = match africastalking::parse_sms(&body, &state.config.number_plan()) {
        Ok(sms) => sms,
        Err(AdapterError::Malformed(m) | AdapterError::Invalid(m) | AdapterError::ForeignNumber(m)) => {
            return PlainError::bad_request(&m)
        }
    };
    sms.source = req.peer_addr().map(|a| a.ip().to_string());
    let span = tracing::info_span!("sms", id = %sms.id, msisdn = %mask_digits(sms.from.as_str()));
    let _enter = span.enter();
    if let Err(limited) = state.limits.check(sms.from.as_str()) {
        tracing::warn!(retry_after_s = limited.retry_after_s(), "rate limited");
        return PlainError::too_many_requests(&limited);
    }
    match state.sms.handle(sms).await {
        Ok(first) => {
            tracing::debug!(first, "inbound sms");
            HttpResponse::Ok().finish()
        }
        Err(e) => {
            // Not acknowledged: the aggregator will deliver it again.
            tracing::error!(error = %e, "inbound sms failed");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

/// Looks for a delivery report's message id this many times, 100 ms apart.
const UNKNOWN_ID_ATTEMPTS: u32 = 5;

/// Delivery reports update the message's status; unknown ids are logged.
pub async fn delivery(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let report = match africastalking::parse_delivery(&body) {
        Ok(r) => r,
        Err(AdapterError::Malformed(m) | AdapterError::Invalid(m) | AdapterError::ForeignNumber(m)) => {
            return PlainError::bad_request(&m)
        }
    };
    let outcome = africastalking::delivery_outcome(&report.status);
    let (id, status, reason) = (report.id.clone(), report.status.clone(), report.failure_reason.clone());
    let described = if reason.is_empty() { status.clone() } else { format!("{status}: {reason}") };
    // A fast report can arrive before the sender has stored the message id
    // it answers: look again a few times before calling the id unknown.
    let mut found = Ok(false);
    for attempt in 0..UNKNOWN_ID_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let (id, described) = (id.clone(), described.clone());
        found = state.ledger.write(move |conn| outbox::delivery_report(conn, &id, outcome, &described, now_ms())).await;
        if !matches!(found, Ok(false)) {
            break;
        }
    }
    match found {
        Ok(true) => HttpResponse::Ok().finish(),
        Ok(false) => {
            tracing::warn!(id = %report.id, status = %report.status, "delivery report for an unknown message");
            HttpResponse::Ok().finish()
        }
        Err(e) => {
            tracing::error!(error = %e, "delivery report failed");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

//! `POST /webhooks/africastalking/sms` and `…/delivery`.

use super::PlainError;
use crate::aggregators::africastalking::{self, AdapterError};
use crate::domain::{msisdn::mask_digits, now_ms, Msisdn};
use crate::notify::delivery::{self, Report};
use crate::notify::outbox::{self, ReportApplied};
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
    state.ledger.metrics().sms_inbound();
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

/// Delivery reports move the message's delivery state (see
/// [`crate::notify::delivery`]); unknown ids, reports for another number
/// and late reports for a final state change nothing and are logged.
pub async fn delivery(body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    let report = match africastalking::parse_delivery(&body) {
        Ok(r) => r,
        Err(AdapterError::Malformed(m) | AdapterError::Invalid(m) | AdapterError::ForeignNumber(m)) => {
            return PlainError::bad_request(&m)
        }
    };
    let kind = africastalking::delivery_report(&report.status);
    let recorded = delivery::describe(kind, &report.status, &report.failure_reason);
    // Not a number of ours: it cannot be any message's recipient.
    let Ok(phone) = Msisdn::parse(&report.phone_number, &state.config.number_plan()) else {
        tracing::warn!(id = %report.id, "delivery report for a number that is not a valid one here; ignored");
        return HttpResponse::Ok().finish();
    };
    let id = report.id.clone();
    // A fast report can arrive before the sender has stored the message id
    // it answers: look again a few times before calling the id unknown.
    let mut applied = Ok(ReportApplied::UnknownId);
    for attempt in 0..UNKNOWN_ID_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let (id, phone, recorded) = (id.clone(), phone.to_string(), recorded.clone());
        applied =
            state.ledger.write(move |conn| outbox::delivery_report(conn, &id, &phone, kind, &recorded, now_ms())).await;
        if !matches!(applied, Ok(ReportApplied::UnknownId)) {
            break;
        }
    }
    let masked = mask_digits(phone.as_str());
    let (id, status) = (report.id.as_str(), report.status.as_str());
    match applied {
        Ok(ReportApplied::Applied(now)) => {
            if kind == Report::Unknown {
                tracing::warn!(
                    id,
                    status,
                    state = now.as_str(),
                    "delivery report with an unknown status; recorded, nothing moved"
                );
            } else {
                tracing::debug!(status, state = now.as_str(), "delivery report applied");
            }
            HttpResponse::Ok().finish()
        }
        Ok(ReportApplied::Final(was)) => {
            tracing::info!(id, status, state = %was, "delivery report after a final state; ignored");
            HttpResponse::Ok().finish()
        }
        Ok(ReportApplied::OtherNumber) => {
            tracing::warn!(id, status, msisdn = %masked, "delivery report names another number than the message's; ignored");
            HttpResponse::Ok().finish()
        }
        Ok(ReportApplied::UnknownId) => {
            tracing::warn!(id, status, "delivery report for an unknown message");
            HttpResponse::Ok().finish()
        }
        Err(e) => {
            tracing::error!(id, error = %e, "delivery report failed");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

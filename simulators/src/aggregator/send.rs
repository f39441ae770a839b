//! `POST /version1/messaging`: the send-SMS endpoint, checked and answered
//! as Africa's Talking does, with the failure in force applied.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::state::{DeliveryJob, Inner, Shared};
use super::{Failure, Message};
use crate::msisdn;

#[derive(Debug, Deserialize)]
struct SendForm {
    username: Option<String>,
    to: Option<String>,
    message: Option<String>,
    from: Option<String>,
    #[serde(rename = "linkId")]
    link_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Recipient {
    #[serde(rename = "statusCode")]
    status_code: u16,
    number: String,
    status: String,
    cost: String,
    #[serde(rename = "messageId")]
    message_id: String,
}

pub(super) fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(body.into())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

fn new_message_id() -> String {
    format!("ATXid_{:032x}", rand::random::<u128>())
}

fn reject(shared: &Shared, status: StatusCode, body: &str) -> HttpResponse {
    shared.lock().stats.rejected += 1;
    tracing::warn!(status = status.as_u16(), "send refused: {body}");
    text(status, body)
}

/// A send request that passed the checks.
struct SendRequest {
    /// The `to` numbers as given, blanks dropped.
    numbers: Vec<String>,
    message: String,
    from: String,
    link_id: Option<String>,
}

pub(super) async fn send_sms(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    shared.lock().stats.requests += 1;
    let send = match check_request(&req, &body, &shared) {
        Ok(send) => send,
        Err((status, body)) => return reject(&shared, status, &body),
    };
    let failure = shared.lock().consume_failure();
    if let Some(answer) = apply_failure(&shared, &failure, &send.from).await {
        return answer;
    }
    let (recipients, accepted) = accept_recipients(&shared, &send, &failure);
    shared.notify.notify_waiters();
    let total = recipients.len();
    HttpResponse::Created().json(json!({
        "SMSMessageData": {
            "Message": format!("Sent to {accepted}/{total} Total Cost: {}", shared.cost(accepted)),
            "Recipients": recipients,
        }
    }))
}

/// The credentials and the form, checked in Africa's Talking's order; a
/// refusal is the status and text to answer with.
fn check_request(req: &HttpRequest, body: &[u8], shared: &Shared) -> Result<SendRequest, (StatusCode, String)> {
    let api_key = req.headers().get("apiKey").and_then(|v| v.to_str().ok());
    if api_key != Some(shared.cfg.api_key.as_str()) {
        return Err((StatusCode::UNAUTHORIZED, "The supplied authentication is invalid".into()));
    }
    let form: SendForm = match serde_urlencoded::from_bytes(body) {
        Ok(form) => form,
        Err(e) => return Err((StatusCode::BAD_REQUEST, format!("Invalid form body: {e}"))),
    };
    let username = form.username.unwrap_or_default();
    if username.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "Request is missing required form field 'username'".into()));
    }
    if shared.cfg.username.as_ref().is_some_and(|u| *u != username) {
        return Err((StatusCode::UNAUTHORIZED, "The supplied authentication is invalid".into()));
    }
    let to = form.to.unwrap_or_default();
    let numbers: Vec<String> = to.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect();
    if numbers.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "Request is missing required form field 'to'".into()));
    }
    let Some(message) = form.message else {
        return Err((StatusCode::BAD_REQUEST, "Request is missing required form field 'message'".into()));
    };
    let from = form.from.filter(|f| !f.trim().is_empty()).unwrap_or_else(|| shared.cfg.default_sender.clone());
    let link_id = form.link_id.filter(|l| !l.trim().is_empty());
    Ok(SendRequest { numbers, message, from, link_id })
}

/// The answer a failure mode gives instead of sending, if it gives one; a
/// slow mode waits here and lets the send go on.
async fn apply_failure(shared: &Shared, failure: &Failure, from: &str) -> Option<HttpResponse> {
    match failure {
        Failure::Http500 { .. } => {
            Some(reject(shared, StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error (injected)"))
        }
        Failure::Unauthorized { .. } => {
            Some(reject(shared, StatusCode::UNAUTHORIZED, "The supplied authentication is invalid"))
        }
        Failure::InvalidSenderId { .. } => {
            shared.lock().stats.rejected += 1;
            tracing::warn!(%from, "send refused: InvalidSenderId");
            Some(HttpResponse::Ok().json(json!({"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}})))
        }
        Failure::Slow { delay_ms, .. } => {
            tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
            None
        }
        _ => None,
    }
}

/// Each recipient accepted or refused, and how many were accepted.
fn accept_recipients(shared: &Shared, send: &SendRequest, failure: &Failure) -> (Vec<Recipient>, u64) {
    let mut recipients = Vec::with_capacity(send.numbers.len());
    let mut accepted = 0u64;
    let mut inner = shared.lock();
    for raw in &send.numbers {
        let normalized = shared.normalize(raw);
        let refusal = match (&normalized, failure) {
            (None, _) => Some((403, "InvalidPhoneNumber".to_string())),
            (Some(_), Failure::RecipientFailure { status, status_code, .. }) => Some((*status_code, status.clone())),
            (Some(_), _) => None,
        };
        let number = normalized.as_deref().map_or_else(|| raw.to_string(), msisdn::plus_e164);
        let phone = match (normalized, refusal) {
            (Some(phone), None) => phone,
            (_, refusal) => {
                let (status_code, status) = refusal.unwrap_or((403, "InvalidPhoneNumber".to_string()));
                inner.stats.failed_recipients += 1;
                tracing::warn!(%number, %status, "recipient refused");
                recipients.push(Recipient {
                    status_code,
                    number,
                    status,
                    cost: "0".to_string(),
                    message_id: "None".to_string(),
                });
                continue;
            }
        };
        recipients.push(accept(shared, &mut inner, send, failure, phone, number));
        accepted += 1;
    }
    (recipients, accepted)
}

/// Keeps one accepted message (in the inbox unless its delivery is to
/// fail), queues its delivery report and says so to the sender.
fn accept(
    shared: &Shared,
    inner: &mut Inner,
    send: &SendRequest,
    failure: &Failure,
    phone: String,
    number: String,
) -> Recipient {
    let SendRequest { message, from, link_id, .. } = send;
    let id = new_message_id();
    let delivered = !matches!(failure, Failure::DeliveryFailed { .. });
    tracing::info!(
        to = %number,
        from = %from,
        id = %id,
        delivered,
        "SMS: {message}"
    );
    inner.messages.push(Message {
        id: id.clone(),
        to: phone,
        from: from.clone(),
        message: message.clone(),
        link_id: link_id.clone(),
        received_at_ms: now_ms(),
        delivered,
    });
    inner.stats.sent += 1;
    queue_delivery_report(shared, inner, failure, &id, &number, delivered);
    Recipient { status_code: 101, number, status: "Success".to_string(), cost: shared.cost(1), message_id: id }
}

/// Hands the message's delivery report to the dispatcher, when a callback
/// is set.
fn queue_delivery_report(shared: &Shared, inner: &Inner, failure: &Failure, id: &str, number: &str, delivered: bool) {
    let Some(callback) = &inner.delivery_callback else {
        return;
    };
    let failure_reason = match failure {
        Failure::DeliveryFailed { failure_reason, .. } => failure_reason.clone(),
        _ => String::new(),
    };
    let job = DeliveryJob {
        callback: callback.clone(),
        delay: inner.delivery_delay,
        message_id: id.to_string(),
        phone_number: number.to_string(),
        status: if delivered { "Success" } else { "Failed" },
        failure_reason,
    };
    if shared.delivery_tx.send(job).is_err() {
        tracing::warn!("delivery dispatcher gone; report for {id} dropped");
    }
}

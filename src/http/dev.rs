//! `GET /dev/inbox/{msisdn}?token=…`: the local inbox, for a first run
//! without an aggregator account. Served only while `sms.api_key` is not
//! set (404 otherwise): then every outbound SMS stays on this machine.

use super::{token_ok, PlainError};
use crate::domain::Msisdn;
use crate::notify::outbox;
use crate::startup::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

/// Messages shown at most, the newest.
const INBOX_MESSAGES_MAX: i64 = 50;

pub async fn inbox(req: HttpRequest, msisdn: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let config = &state.config;
    if config.sms.api_key.is_set() {
        return HttpResponse::NotFound().finish();
    }
    // The inbox holds receipts and balances: the webhook token guards it.
    if !token_ok(&req, config.webhook_token.expose()) {
        return PlainError::unauthorized();
    }
    let Ok(msisdn) = Msisdn::parse(&msisdn, &config.number_plan()) else {
        return PlainError::bad_request("not a phone number of this service");
    };
    let recipient = msisdn.to_string();
    let rows = match state.ledger.read(move |conn| outbox::local_inbox(conn, &recipient, INBOX_MESSAGES_MAX)).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "reading the local inbox");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    let default_from = if config.sms.sender_id.is_empty() { "mkoba" } else { config.sms.sender_id.as_str() };
    let messages: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "from": r.sender.as_deref().unwrap_or(default_from),
                "message": r.body,
                "link_id": r.link_id,
                "created_at_ms": r.created_at_ms,
            })
        })
        .collect();
    HttpResponse::Ok().json(serde_json::json!({ "phone": msisdn.to_string(), "messages": messages }))
}

//! The HTTP routes, and the `/sim/…` control API: failures, delivery
//! settings, inboxes, reports and counters.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::delivery::redact_url;
use super::send::{send_sms, text};
use super::state::Shared;
use super::Failure;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/version1/messaging", web::post().to(send_sms))
        .route("/health", web::get().to(health))
        .route("/sim/fail", web::post().to(set_failure))
        .route("/sim/fail", web::get().to(get_failure))
        .route("/sim/config", web::post().to(set_config))
        .route("/sim/inbox", web::delete().to(clear_all))
        .route("/sim/inbox/{phone}", web::get().to(get_inbox))
        .route("/sim/inbox/{phone}", web::delete().to(clear_inbox))
        .route("/sim/messages", web::get().to(get_messages))
        .route("/sim/deliveries", web::get().to(get_deliveries))
        .route("/sim/stats", web::get().to(get_stats));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn set_failure(shared: web::Data<Shared>, failure: web::Json<Failure>) -> HttpResponse {
    let failure = failure.into_inner();
    tracing::info!(?failure, "failure mode set");
    shared.lock().failure = failure.clone();
    HttpResponse::Ok().json(json!({"ok": true, "failure": failure}))
}

async fn get_failure(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(&shared.lock().failure)
}

#[derive(Debug, Deserialize)]
struct ConfigPatch {
    /// `""` removes the callback.
    delivery_callback: Option<String>,
    delivery_delay_ms: Option<u64>,
}

async fn set_config(shared: web::Data<Shared>, patch: web::Json<ConfigPatch>) -> HttpResponse {
    let patch = patch.into_inner();
    let mut inner = shared.lock();
    if let Some(url) = patch.delivery_callback {
        inner.delivery_callback = (!url.is_empty()).then_some(url);
    }
    if let Some(ms) = patch.delivery_delay_ms {
        inner.delivery_delay = Duration::from_millis(ms);
    }
    let callback = inner.delivery_callback.as_deref().map(redact_url);
    tracing::info!(?callback, delay = ?inner.delivery_delay, "config changed");
    HttpResponse::Ok().json(json!({
        "delivery_callback": callback,
        "delivery_delay_ms": u64::try_from(inner.delivery_delay.as_millis()).unwrap_or(u64::MAX),
    }))
}

async fn get_inbox(shared: web::Data<Shared>, phone: web::Path<String>) -> HttpResponse {
    let Some(phone) = shared.normalize(&phone) else {
        return text(StatusCode::BAD_REQUEST, "not a phone number");
    };
    let messages = shared.inbox(&phone);
    HttpResponse::Ok().json(json!({"phone": phone, "messages": messages}))
}

async fn clear_inbox(shared: web::Data<Shared>, phone: web::Path<String>) -> HttpResponse {
    let Some(phone) = shared.normalize(&phone) else {
        return text(StatusCode::BAD_REQUEST, "not a phone number");
    };
    let mut inner = shared.lock();
    let before = inner.messages.len();
    inner.messages.retain(|m| m.to != phone);
    let cleared = before - inner.messages.len();
    HttpResponse::Ok().json(json!({"phone": phone, "cleared": cleared}))
}

async fn clear_all(shared: web::Data<Shared>) -> HttpResponse {
    let mut inner = shared.lock();
    let cleared = inner.messages.len();
    inner.messages.clear();
    inner.reports.clear();
    HttpResponse::Ok().json(json!({"cleared": cleared}))
}

async fn get_messages(shared: web::Data<Shared>) -> HttpResponse {
    let inner = shared.lock();
    HttpResponse::Ok().json(json!({"count": inner.messages.len(), "messages": inner.messages}))
}

async fn get_deliveries(shared: web::Data<Shared>) -> HttpResponse {
    let inner = shared.lock();
    HttpResponse::Ok().json(json!({"count": inner.reports.len(), "reports": inner.reports}))
}

async fn get_stats(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(&shared.lock().stats)
}

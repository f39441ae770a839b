//! The one route of the receiver: every request, whatever its path.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::{Event, ReceivedEvent, ReceiverFailure, Shared};
use crate::merchant::signature::{self, SignatureError, SIGNATURE_HEADER};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn refuse(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

pub(super) async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let failure = {
        let mut state = shared.lock();
        state.stats.requests += 1;
        let failure = state.consume_failure();
        if failure != ReceiverFailure::None {
            state.stats.injected_failures += 1;
        }
        failure
    };
    match failure {
        ReceiverFailure::None => {}
        ReceiverFailure::Status { status, .. } => {
            return HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .finish();
        }
        ReceiverFailure::Delay { delay_ms, .. } => tokio::time::sleep(Duration::from_millis(delay_ms)).await,
        ReceiverFailure::Hang { .. } => std::future::pending::<()>().await,
    }
    if req.method() != Method::POST {
        return refuse(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "callbacks are POSTed");
    }
    let verified = match req.headers().get(SIGNATURE_HEADER) {
        None => Err(SignatureError::Missing),
        Some(value) => match value.to_str() {
            Ok(header) => signature::verify(&shared.secret, header, &body, signature::unix_now_s(), shared.tolerance),
            Err(_) => Err(SignatureError::Malformed("not visible ASCII")),
        },
    };
    let signed_at_s = match verified {
        Ok(t) => t,
        Err(e) => {
            shared.lock().stats.bad_signatures += 1;
            tracing::warn!(code = e.code(), "callback refused: {e}");
            return refuse(StatusCode::BAD_REQUEST, e.code(), &e.to_string());
        }
    };
    let event: Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(e) => {
            shared.lock().stats.bad_bodies += 1;
            return refuse(StatusCode::BAD_REQUEST, "invalid_event", &format!("not an event: {e}"));
        }
    };
    let duplicate = {
        let mut state = shared.lock();
        let seen = state.deliveries.entry(event.id.clone()).or_insert(0);
        *seen = seen.saturating_add(1);
        let duplicate = *seen > 1;
        if duplicate {
            state.stats.duplicates += 1;
        } else {
            state.stats.accepted += 1;
            let received = ReceivedEvent {
                event,
                body: String::from_utf8_lossy(&body).into_owned(),
                signed_at_s,
                received_at_ms: now_ms(),
            };
            state.subscribers.retain(|tx| tx.send(received.clone()).is_ok());
            state.events.push(received);
        }
        duplicate
    };
    shared.notify.notify_waiters();
    HttpResponse::Ok().json(json!({"received": true, "duplicate": duplicate}))
}

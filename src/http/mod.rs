//! HTTP handlers: thin adapters from requests to the domain. Every webhook
//! route sits in the `/webhooks` scope behind [`guard`] (allowed source,
//! per-source rate, token), so a handler starts with an authenticated request.
//! Every request first passes [`observe`] (request id, latency by route).

pub mod admin;
pub mod api;
pub mod backoffice;
pub mod dev;
pub mod guard;
pub mod metrics;
pub mod observe;
pub mod sms;
pub mod ussd;

use crate::limits::Limited;
use crate::startup::AppState;
use actix_web::http::header;
use actix_web::{middleware, web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

/// Largest webhook body accepted; larger gets 413.
pub const BODY_BYTES_MAX: usize = 8 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(BODY_BYTES_MAX))
        .route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics::scrape))
        .route("/dev/inbox/{msisdn}", web::get().to(dev::inbox))
        .service(
            // Every route in this scope passes the guard before its handler.
            web::scope("/webhooks")
                .wrap(middleware::from_fn(guard::webhook_guard))
                .route("/africastalking/ussd", web::post().to(ussd::africastalking))
                .route("/africastalking/ussd-events", web::post().to(ussd::session_event))
                .route("/africastalking/sms", web::post().to(sms::inbound))
                .route("/africastalking/delivery", web::post().to(sms::delivery)),
        )
        .configure(api::routes)
        .configure(admin::routes)
        .configure(backoffice::routes);
}

/// Compares `?token=` with the configured token in constant time. Exactly
/// one `token` parameter: a repeated one is refused whatever the values, so
/// no layer in front of us can pick a different one than we do.
pub fn token_ok(req: &HttpRequest, expected: &str) -> bool {
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string()) else {
        return false;
    };
    let mut tokens = pairs.into_iter().filter(|(k, _)| k == "token").map(|(_, v)| v);
    match (tokens.next(), tokens.next()) {
        (Some(token), None) if !expected.is_empty() => token.as_bytes().ct_eq(expected.as_bytes()).into(),
        _ => false,
    }
}

pub struct PlainError;

impl PlainError {
    pub fn unauthorized() -> HttpResponse {
        HttpResponse::Unauthorized().content_type("text/plain; charset=utf-8").body("missing or wrong token\n")
    }

    pub fn forbidden(message: &str) -> HttpResponse {
        HttpResponse::Forbidden().content_type("text/plain; charset=utf-8").body(format!("{message}\n"))
    }

    /// 429 saying which limit was hit, with `Retry-After` in seconds.
    pub fn too_many_requests(limited: &Limited) -> HttpResponse {
        HttpResponse::TooManyRequests()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::RETRY_AFTER, limited.retry_after_s().to_string()))
            .body(format!("{}\n", limited.reason()))
    }

    pub fn bad_request(message: &str) -> HttpResponse {
        HttpResponse::BadRequest().content_type("text/plain; charset=utf-8").body(format!("{message}\n"))
    }
}

/// Up and able to reach the database.
async fn health(state: web::Data<AppState>) -> HttpResponse {
    let db = state.ledger.read(|conn| conn.batch_execute("SELECT 1").map_err(Into::into)).await;
    match db {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "database": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "degraded", "database": "unreachable" }))
        }
    }
}

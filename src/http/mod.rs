//! HTTP handlers: thin adapters from requests to the domain.

use crate::startup::AppState;
use actix_web::{web, HttpResponse};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health));
}

/// Up and able to reach the database.
async fn health(state: web::Data<AppState>) -> HttpResponse {
    let db = state
        .ledger
        .read(|conn| conn.batch_execute("SELECT 1").map_err(Into::into))
        .await;
    match db {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "database": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({ "status": "degraded", "database": "unreachable" }))
        }
    }
}

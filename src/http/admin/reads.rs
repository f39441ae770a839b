//! `/admin/v1/ledger/verify`, `/audit`, `/agents` (float levels), `/alerts`
//! and `/stats/transfers`: what the back office reads.

use super::accounts::Limit;
use super::reply::refusal;
use crate::admin::audit;
use crate::admin::views::{self, AgentFloat, AlertView, HourCount};
use crate::domain::now_ms;
use crate::domain::time::rfc3339;
use crate::http::api::errors::ApiError;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What `mkoba ledger verify` finds.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    /// Every invariant holds.
    pub ok: bool,
    pub problems: Vec<String>,
}

#[utoipa::path(
    get, path = "/admin/v1/ledger/verify", tag = "ledger",
    responses((status = 200, description = "The ledger's invariants, checked now (200 either way)", body = Verified))
)]
pub async fn verify_ledger(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = state.ledger.verify().await.map_err(refusal)?;
    Ok(HttpResponse::Ok().json(Verified { ok: report.ok(), problems: report.problems }))
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    /// An admin key's name, or `cli`.
    pub actor: String,
    pub action: String,
    pub target: String,
    /// `ok`, or the refusal's code.
    pub outcome: String,
    pub detail: String,
    /// RFC 3339.
    pub at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Newest first.
    pub entries: Vec<AuditView>,
}

#[utoipa::path(
    get, path = "/admin/v1/audit", tag = "audit",
    params(Limit),
    responses((status = 200, description = "The latest audit entries, newest first", body = AuditList))
)]
pub async fn audit_entries(state: web::Data<AppState>, query: web::Query<Limit>) -> Result<HttpResponse, ApiError> {
    let limit = query.get();
    let rows = state.ledger.read(move |conn| audit::latest(conn, limit)).await.map_err(refusal)?;
    let entries = rows
        .into_iter()
        .map(|r| AuditView {
            id: r.id,
            actor: r.actor,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            detail: r.detail,
            at: rfc3339(r.created_at_ms),
        })
        .collect();
    Ok(HttpResponse::Ok().json(AuditList { entries }))
}

/// Agents' float against the low-float threshold.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    /// `alerts.float_low_minor`.
    pub low_float_minor: i64,
    /// Lowest float first.
    pub agents: Vec<AgentFloat>,
}

#[utoipa::path(
    get, path = "/admin/v1/agents", tag = "accounts",
    responses((status = 200, description = "Every agent's float, lowest first", body = AgentList))
)]
pub async fn agents(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let low = state.config.alerts.float_low_minor;
    let agents = state.ledger.read(move |conn| views::agents(conn, low)).await.map_err(refusal)?;
    Ok(HttpResponse::Ok().json(AgentList { low_float_minor: low, agents }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Newest first.
    pub alerts: Vec<AlertView>,
}

#[utoipa::path(
    get, path = "/admin/v1/alerts", tag = "audit",
    params(Limit),
    responses((status = 200, description = "Recent operator alert emails from the outbox, newest first", body = AlertList))
)]
pub async fn alerts(state: web::Data<AppState>, query: web::Query<Limit>) -> Result<HttpResponse, ApiError> {
    let limit = query.get();
    let alerts = state.ledger.read(move |conn| views::alerts(conn, limit)).await.map_err(refusal)?;
    Ok(HttpResponse::Ok().json(AlertList { alerts }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct Hours {
    /// How many hours back, this one included (default 24, at most 744).
    pub hours: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HourList {
    /// Oldest first, one per hour, zeros included.
    pub hours: Vec<HourCount>,
}

#[utoipa::path(
    get, path = "/admin/v1/stats/transfers", tag = "ledger",
    params(Hours),
    responses((status = 200, description = "Transfers per hour", body = HourList))
)]
pub async fn transfer_stats(state: web::Data<AppState>, query: web::Query<Hours>) -> Result<HttpResponse, ApiError> {
    let hours = query.hours.unwrap_or(24);
    let hours = state.ledger.read(move |conn| views::per_hour(conn, hours, now_ms())).await.map_err(refusal)?;
    Ok(HttpResponse::Ok().json(HourList { hours }))
}

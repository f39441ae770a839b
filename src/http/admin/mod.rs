//! The operator API (SPEC §10), JSON under `/admin/v1`: thin handlers over
//! [`crate::admin`]. Every route but the OpenAPI document sits in one scope
//! behind [`auth::authenticate`] (a live admin key; a viewer's write is
//! refused and audited there). The routes and the OpenAPI document come
//! from one list, [`endpoints`], as for the integrator API.
//!
//! `/admin/` itself is left to the back-office page; its routes can be
//! added beside [`routes`].

pub mod accounts;
pub mod auth;
pub mod money;
pub mod openapi;
pub mod reads;
pub mod reply;

use crate::http::api::errors::ApiError;
use crate::http::api::{endpoint_list, keyed_resources};
use actix_web::http::Method;
use actix_web::{middleware, web};

/// Where the API lives.
pub const PREFIX: &str = "/admin/v1";

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the OpenAPI document).
    Public,
    /// Any live admin key.
    Viewer,
    /// A live operator key (a viewer gets 403, audited).
    Operator,
}

pub type Endpoint = crate::http::api::Endpoint<Access>;

endpoint_list![
    Public openapi::spec,
    Viewer accounts::whoami,
    Viewer accounts::get_account,
    Viewer accounts::get_statement,
    Operator accounts::suspend,
    Operator accounts::resume,
    Operator accounts::unlock,
    Operator accounts::create_agent,
    Operator accounts::create_merchant,
    Operator accounts::mark_sim_swap,
    Operator money::issue_float,
    Viewer money::get_transfer,
    Operator money::reverse_transfer,
    Viewer money::list_held,
    Operator money::release_held,
    Operator money::return_held,
    Viewer reads::verify_ledger,
    Viewer reads::audit_entries,
    Viewer reads::agents,
    Viewer reads::alerts,
    Viewer reads::transfer_stats,
];

/// Registers the API: the public document first, then the keyed scope. A
/// path served with another method answers 405, an unknown one 404, both
/// as JSON errors.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope(PREFIX)
        .wrap(middleware::from_fn(auth::authenticate))
        .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::not_found()) }));
    for resource in keyed_resources(cfg, endpoints(), PREFIX, |access| *access == Access::Public) {
        scope = scope.service(resource);
    }
    cfg.service(scope);
}

/// Every (method, path) served, as registered.
pub fn route_table() -> Vec<(Method, String)> {
    endpoints().into_iter().map(|e| (e.method, e.path)).collect()
}

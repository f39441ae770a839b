//! The integrator API (SPEC §9), JSON under `/api/v1`: thin handlers over
//! [`crate::integrator`]. Every route but the OpenAPI document sits in one
//! scope behind [`auth::authenticate`] (API key, then its rate). The routes
//! and the OpenAPI document come from one list, [`endpoints`]: each
//! handler's `#[utoipa::path]` gives both its route and its part of the
//! document.

pub mod account;
pub mod approvals;
pub mod auth;
pub mod body;
pub mod errors;
pub mod idempotency;
pub mod openapi;
pub mod payments;
pub mod schemas;

use actix_web::http::Method;
use actix_web::{middleware, web, Resource, Route};
use errors::ApiError;
use std::collections::BTreeMap;
use utoipa::openapi::OpenApi as Document;

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the OpenAPI document).
    Public,
    /// A live API key of the till acted for.
    Key,
}

/// One route with the part of the OpenAPI document that describes it, and
/// who may call it (`A`: this API's [`Access`], or the admin API's).
pub struct Endpoint<A = Access> {
    pub access: A,
    pub method: Method,
    /// The full path, `{name}` for a parameter (actix's syntax and OpenAPI's).
    pub path: String,
    pub doc: Document,
    to: fn(Route) -> Route,
}

impl<A> Endpoint<A> {
    pub(crate) fn new(access: A, doc: Document, to: fn(Route) -> Route) -> Endpoint<A> {
        let (path, item) = doc.paths.paths.iter().next().expect("an endpoint's document has its path");
        let method = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ]
        .into_iter()
        .find_map(|(m, present)| present.then_some(m))
        .expect("an endpoint's document has its method");
        let path = path.clone();
        Endpoint { access, method, path, doc, to }
    }

    pub(crate) fn route(&self) -> Route {
        (self.to)(web::method(self.method.clone()))
    }
}

/// The list: `Access handler`, one per route. A handler's
/// `#[utoipa::path]` names its method and full path. The admin API uses it
/// too, with its own `Access` and `Endpoint` in scope.
macro_rules! endpoints {
    ($($access:ident $($seg:ident)::+),* $(,)?) => {
        /// Every route of the API, each with its part of the document.
        pub fn endpoints() -> Vec<Endpoint> {
            vec![$({
                #[derive(utoipa::OpenApi)]
                #[openapi(paths($($seg)::+))]
                struct One;
                Endpoint::new(Access::$access, <One as utoipa::OpenApi>::openapi(), |route| route.to($($seg)::+))
            }),*]
        }
    };
}

pub(crate) use endpoints as endpoint_list;

endpoints![
    Public openapi::spec,
    Key approvals::create_payment_request,
    Key approvals::get_payment_request,
    Key approvals::create_allowance,
    Key approvals::get_allowance,
    Key payments::create_charge,
    Key payments::create_payout,
    Key payments::create_refund,
    Key account::get_transaction,
    Key account::get_balance,
];

/// Registers the API: public routes first (so the keyed scope does not
/// claim them), then the keyed scope. A path served with another method
/// answers 405, an unknown path 404, both as JSON errors.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope(PREFIX)
        .wrap(middleware::from_fn(auth::authenticate))
        .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::not_found()) }));
    for resource in keyed_resources(cfg, endpoints(), PREFIX, |access| *access == Access::Public) {
        scope = scope.service(resource);
    }
    cfg.service(scope);
}

/// Routes the `public` endpoints on `cfg` itself and returns the others as
/// resources relative to `prefix`, one per path, for a keyed scope: a
/// method the path does not serve answers 405 as a JSON error. Both APIs
/// register their endpoints this way.
pub(crate) fn keyed_resources<A>(
    cfg: &mut web::ServiceConfig,
    endpoints: Vec<Endpoint<A>>,
    prefix: &str,
    public: impl Fn(&A) -> bool,
) -> Vec<Resource> {
    let mut keyed: BTreeMap<String, Vec<Endpoint<A>>> = BTreeMap::new();
    for endpoint in endpoints {
        if public(&endpoint.access) {
            cfg.route(&endpoint.path, endpoint.route());
            continue;
        }
        let relative = endpoint.path.strip_prefix(prefix).unwrap_or(&endpoint.path).to_string();
        keyed.entry(relative).or_default().push(endpoint);
    }
    keyed
        .into_iter()
        .map(|(path, endpoints)| {
            let not_allowed = || async { Err::<actix_web::HttpResponse, _>(ApiError::method_not_allowed()) };
            let mut resource = web::resource(path).default_service(web::to(not_allowed));
            for endpoint in &endpoints {
                resource = resource.route(endpoint.route());
            }
            resource
        })
        .collect()
}

/// Every (method, path) served, as registered.
pub fn route_table() -> Vec<(Method, String)> {
    endpoints().into_iter().map(|e| (e.method, e.path)).collect()
}

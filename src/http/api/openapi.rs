//! The OpenAPI 3 document of the API, served at `GET /api/v1/openapi.json`
//! without a key. It is the merge of each endpoint's own part (from its
//! `#[utoipa::path]`), taken from the same list the routes are registered
//! from ([`super::endpoints`]), so the document and the routes cannot drift.

use super::errors::ErrorBody;
use actix_web::HttpResponse;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

/// The name of the bearer-key security scheme.
pub const BEARER: &str = "api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mkoba integrator API",
        version = "1",
        description = "Payment requests, allowances, charges, payouts and refunds for a till. \
            Every request but this document's carries `Authorization: Bearer <API key>`; every POST \
            an `Idempotency-Key`. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BEARER_KEY),
    security(("api_key" = [])),
    components(schemas(ErrorBody))
)]
struct Base;

/// A bearer-key security scheme under `name`, added to a document's
/// components (both APIs use one, each with its own name and words).
pub struct BearerScheme {
    pub name: &'static str,
    pub description: &'static str,
}

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(self.description)).build();
        components.add_security_scheme(self.name, SecurityScheme::Http(scheme));
    }
}

const BEARER_KEY: BearerScheme =
    BearerScheme { name: BEARER, description: "An API key from `mkoba merchant key create --till T`" };

/// `base` with each endpoint's own part merged in.
pub fn merged<A>(base: Document, endpoints: Vec<super::Endpoint<A>>) -> Document {
    endpoints.into_iter().fold(base, |mut doc, endpoint| {
        doc.merge(endpoint.doc);
        doc
    })
}

/// The whole document, built once.
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| merged(Base::openapi(), super::endpoints()))
}

#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "meta",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3)", content_type = "application/json"))
)]
pub async fn spec() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

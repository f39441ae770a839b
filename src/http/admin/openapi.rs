//! The OpenAPI 3 document of the admin API, served at
//! `GET /admin/v1/openapi.json` without a key: the merge of each endpoint's
//! own part, from the list the routes are registered from
//! ([`super::endpoints`]), so the document and the routes cannot drift.

use crate::http::api::errors::ErrorBody;
use crate::http::api::openapi::{merged, BearerScheme};
use actix_web::HttpResponse;
use std::sync::OnceLock;
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

/// The name of the bearer-key security scheme.
pub const BEARER: &str = "admin_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mkoba operator API",
        version = "1",
        description = "Accounts, float, reversals, held transfers, SIM swaps, the ledger's checks and the audit log. \
            Every request but this document's carries `Authorization: Bearer <admin key>`: a viewer key reads, an \
            operator key also writes (a viewer's write is 403 and audited). Writes accept an `Idempotency-Key`; \
            `POST /admin/v1/float` requires one. Unknown body fields are ignored. Errors are \
            `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BEARER_KEY),
    security(("admin_key" = [])),
    components(schemas(ErrorBody))
)]
struct Base;

const BEARER_KEY: BearerScheme = BearerScheme {
    name: BEARER,
    description: "An admin key from `mkoba admin key create --name N --role viewer|operator`",
};

/// The whole document, built once.
pub fn document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| merged(Base::openapi(), super::endpoints()))
}

#[utoipa::path(
    get, path = "/admin/v1/openapi.json", tag = "meta",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3)", content_type = "application/json"))
)]
pub async fn spec() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

//! The back office (SPEC §10): the operators' web page at `/admin/`. A small
//! static app — one HTML page, a style sheet and plain scripts, embedded in
//! the binary, no build step — that signs in with an admin key and calls
//! `/admin/v1`. This module owns only serving those files and the headers
//! that keep the page strict: a Content-Security-Policy without inline
//! script or style, no framing, no referrer, no caching of the page.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// Where the page lives.
pub const PREFIX: &str = "/admin";

/// Scripts and styles only from this origin, calls only to this origin,
/// nothing inline, no plugins, no framing, forms post nowhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The page's files, by the name they are served under.
const FILES: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", include_str!("app.css")),
    ("i18n.js", "text/javascript; charset=utf-8", include_str!("i18n.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("api.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_str!("dom.js")),
    ("charts.js", "text/javascript; charset=utf-8", include_str!("charts.js")),
    ("account.js", "text/javascript; charset=utf-8", include_str!("account.js")),
    ("operations.js", "text/javascript; charset=utf-8", include_str!("operations.js")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("app.js")),
];

const PAGE: &str = include_str!("index.html");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(to_page)).route("/admin/", web::get().to(page));
    for &(name, content_type, body) in FILES {
        cfg.route(&format!("{PREFIX}/{name}"), web::get().to(move || asset(content_type, body)));
    }
}

/// `/admin` → `/admin/`, so the page's relative URLs resolve under it.
async fn to_page() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/admin/")).finish()
}

async fn page() -> HttpResponse {
    strict(HttpResponse::Ok())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(PAGE)
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    strict(HttpResponse::Ok()).insert_header((header::CACHE_CONTROL, "no-cache")).content_type(content_type).body(body)
}

fn strict(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    response
}

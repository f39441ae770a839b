//! What every HTTP request passes first: a request id, as the `request`
//! span every log line of the request sits in (and the `X-Request-Id`
//! response header, so an operator can find a caller's request in the
//! log), and its latency in `mkoba_http_request_duration_seconds`, labelled
//! by the matched route pattern, never the raw path (which would put phone
//! numbers and references into label values).

use crate::startup::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use std::fmt;
use std::time::Instant;
use tracing::Instrument;

/// A request's id: 64 random bits, shown as 16 hex digits.
#[derive(Debug, Clone, Copy)]
pub struct RequestId(u64);

impl RequestId {
    pub fn random() -> RequestId {
        RequestId(rand::random())
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The label of a request that matched no route (or failed before routing).
const UNMATCHED: &str = "unmatched";

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = RequestId::random();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.ledger.metrics().clone()).unwrap_or_default();
    let method = req.method().clone();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id);
    let result = next.call(req).instrument(span).await;
    match result {
        Ok(mut res) => {
            if metrics.enabled() {
                let route = res.request().match_pattern();
                let route = route.as_deref().unwrap_or(UNMATCHED);
                metrics.http_request(route, method.as_str(), res.status().as_str(), started.elapsed());
            }
            if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
                res.headers_mut().insert(REQUEST_ID, value);
            }
            Ok(res)
        }
        Err(e) => {
            let status = e.as_response_error().status_code();
            metrics.http_request(UNMATCHED, method.as_str(), status.as_str(), started.elapsed());
            Err(e)
        }
    }
}

//! What every webhook request passes before its handler runs, cheapest and
//! least trusting first: the source address is allowed
//! (`webhooks.allowed_ips`, 403 otherwise), within its rate
//! (`rate_limits.per_source_*`, so a flood of wrong tokens is slowed too;
//! addresses refused by the allow-list never take a place in its map), then
//! the token. It wraps the
//! whole `/webhooks` scope, so a route added there cannot miss it, and the
//! handlers stay thin. A refusal reads no body and stores nothing.

use super::{token_ok, PlainError};
use crate::startup::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use ipnet::IpNet;
use std::net::IpAddr;

pub async fn webhook_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal = match req.app_data::<web::Data<AppState>>() {
        Some(state) => refuse(req.request(), state),
        None => Some(HttpResponse::InternalServerError().finish()),
    };
    match refusal {
        Some(response) => Ok(req.into_response(response).map_into_right_body()),
        None => next.call(req).await.map(ServiceResponse::map_into_left_body),
    }
}

/// The answer for a request that may not reach its handler.
fn refuse(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let peer = req.peer_addr().map(|a| a.ip());
    if !source_allowed(peer, &state.webhook_sources) {
        tracing::debug!(path = req.path(), "source not in webhooks.allowed_ips");
        return Some(PlainError::forbidden("this address may not call the webhooks"));
    }
    if let Err(limited) = state.limits.check_source(peer) {
        // Debug, not warn: a flood would otherwise flood the log too.
        tracing::debug!(path = req.path(), retry_after_s = limited.retry_after_s(), "source rate limited");
        return Some(PlainError::too_many_requests(&limited));
    }
    if !token_ok(req, state.config.webhook_token.expose()) {
        return Some(PlainError::unauthorized());
    }
    None
}

/// Whether the allow-list (empty: anyone) lets `peer` in. An IPv4 peer
/// seen on a dual-stack socket as `::ffff:a.b.c.d` matches IPv4 entries.
fn source_allowed(peer: Option<IpAddr>, allowed: &[IpNet]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    peer.map(|ip| ip.to_canonical()).is_some_and(|ip| allowed.iter().any(|net| net.contains(&ip)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_matches_v4_v6_and_mapped_v4() {
        let nets: Vec<IpNet> = ["10.0.0.0/8", "2001:db8::/32"].iter().map(|n| n.parse().expect("cidr")).collect();
        let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
        assert!(source_allowed(ip("10.200.0.1"), &nets));
        assert!(source_allowed(ip("::ffff:10.0.0.1"), &nets));
        assert!(source_allowed(ip("2001:db8:ff::1"), &nets));
        assert!(!source_allowed(ip("127.0.0.1"), &nets));
        assert!(!source_allowed(ip("2001:db9::1"), &nets));
        assert!(!source_allowed(None, &nets), "no peer address, not allowed");
        assert!(source_allowed(None, &[]), "no list, anyone");
    }
}

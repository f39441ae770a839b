//! Webhook rate limits and the peer addresses allowed to call the webhooks.

use super::load::list;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Webhook requests per phone number per minute.
    pub per_msisdn_per_minute: u32,
    /// Webhook requests per second for the whole process.
    pub global_per_second: u32,
    /// Wrong PINs from one source (the address a webhook came from), across
    /// every number, per window; 0 turns it off. Counted in the database, so
    /// shared by every process. An aggregator's few addresses carry all its
    /// callers: size this to the traffic of the whole service.
    pub wrong_pins_per_source: u32,
    pub wrong_pins_window_s: u64,
    /// Webhook requests per second from one source address (IPv6: one
    /// /64), counted before the token is checked. Per process, like every
    /// limit here: N processes let a source through N times as fast.
    pub per_source_per_second: u32,
    /// Requests a source may send at once above its rate.
    pub per_source_burst: u32,
    /// Source addresses remembered at most; past it, idle ones are dropped
    /// and, if a flood from more addresses is under way, counts start afresh.
    pub source_keys_max: usize,
    /// Integrator API requests per second per API key (per process).
    pub per_api_key_per_second: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Peer addresses allowed to call the webhooks, as CIDRs (`10.0.0.0/8`,
    /// `2001:db8::/32`) or single addresses; empty lets any address in.
    #[serde(deserialize_with = "list")]
    pub allowed_ips: Vec<String>,
}

impl WebhooksConfig {
    /// `allowed_ips` parsed; the first entry that is not a CIDR or an
    /// address is the error.
    pub fn allowed_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.allowed_ips
            .iter()
            .map(|entry| {
                let text = entry.trim();
                text.parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("webhooks.allowed_ips: '{entry}' is not a CIDR or an address (e.g. 10.0.0.0/8, 2001:db8::/32)")
                    })
            })
            .collect()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        // One aggregator address carries every subscriber's traffic, so the
        // per-source limit is far above any real peak; it stops floods.
        RateLimits {
            per_msisdn_per_minute: 60,
            global_per_second: 50_000,
            per_source_per_second: 2_000,
            per_source_burst: 4_000,
            source_keys_max: 100_000,
            per_api_key_per_second: 1_000,
            wrong_pins_per_source: 10_000,
            wrong_pins_window_s: 3_600,
        }
    }
}

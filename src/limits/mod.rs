//! Request rate limits (governor): per phone number, per source address
//! ([`source`]) and for the process. Every count is this process's own.
//! Money limits (KYC tiers) live in the ledger, checked in its transaction.

pub mod sim_swap;
pub mod source;
pub mod velocity;

use crate::config::RateLimits;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use source::SourceLimits;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

pub struct Limits {
    per_msisdn: DefaultKeyedRateLimiter<String>,
    global: DefaultDirectRateLimiter,
    per_source: SourceLimits,
    /// Integrator API requests, by API key (its row id).
    per_api_key: DefaultKeyedRateLimiter<i64>,
}

/// Why a request was refused, and when the caller may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole process is at `rate_limits.global_per_second`.
    Global,
    /// This phone number is at `rate_limits.per_msisdn_per_minute`.
    Msisdn,
    /// This source address is at `rate_limits.per_source_per_second`.
    Source,
    /// This API key is at `rate_limits.per_api_key_per_second`.
    ApiKey,
}

impl Limited {
    /// Words for a `text/plain` refusal.
    pub fn reason(&self) -> &'static str {
        match self.scope {
            Scope::Global => "too many requests; try again later",
            Scope::Msisdn => "too many requests from this number; try again later",
            Scope::Source => "too many requests from this address; try again later",
            Scope::ApiKey => "too many requests with this API key; try again later",
        }
    }

    /// Whole seconds for a `Retry-After` header, rounded up, at least 1.
    pub fn retry_after_s(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Limits {
    pub fn new(config: &RateLimits) -> Limits {
        Limits {
            per_msisdn: RateLimiter::keyed(Quota::per_minute(nz(config.per_msisdn_per_minute))),
            global: RateLimiter::direct(Quota::per_second(nz(config.global_per_second))),
            per_source: SourceLimits::new(config),
            per_api_key: RateLimiter::keyed(Quota::per_second(nz(config.per_api_key_per_second))),
        }
    }

    /// Whether a request from this number may proceed now.
    pub fn allow(&self, msisdn: &str) -> bool {
        self.check(msisdn).is_ok()
    }

    /// Lets a request from this number proceed, or says why not and for how long.
    pub fn check(&self, msisdn: &str) -> Result<(), Limited> {
        if let Err(not_until) = self.global.check() {
            let retry_after = not_until.wait_time_from(self.global.clock().now());
            return Err(Limited { scope: Scope::Global, retry_after });
        }
        self.per_msisdn.check_key(&msisdn.to_string()).map_err(|not_until| Limited {
            scope: Scope::Msisdn,
            retry_after: not_until.wait_time_from(self.per_msisdn.clock().now()),
        })
    }

    /// Counts a webhook request from this peer address (see [`source`]).
    pub fn check_source(&self, peer: Option<IpAddr>) -> Result<(), Limited> {
        self.per_source.check(peer)
    }

    /// Counts an integrator API request made with the API key whose row id
    /// is `key_row`.
    pub fn check_api_key(&self, key_row: i64) -> Result<(), Limited> {
        self.per_api_key.check_key(&key_row).map_err(|not_until| Limited {
            scope: Scope::ApiKey,
            retry_after: not_until.wait_time_from(self.per_api_key.clock().now()),
        })
    }

    /// Forgets numbers and sources whose allowance is full again (bounded
    /// memory).
    pub fn forget_idle(&self) {
        self.per_msisdn.retain_recent();
        self.per_msisdn.shrink_to_fit();
        self.per_source.forget_idle();
        self.per_api_key.retain_recent();
        self.per_api_key.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_number_quota_is_enforced_separately() {
        let limits =
            Limits::new(&RateLimits { per_msisdn_per_minute: 3, global_per_second: 1_000, ..RateLimits::default() });
        assert!((0..3).all(|_| limits.allow("254712000001")));
        assert!(!limits.allow("254712000001"));
        assert!(limits.allow("254712000002"));
    }

    #[test]
    fn a_refusal_says_which_limit_and_when_to_retry() {
        let limits =
            Limits::new(&RateLimits { per_msisdn_per_minute: 1, global_per_second: 1_000, ..RateLimits::default() });
        assert_eq!(limits.check("254712000001"), Ok(()));
        let limited = limits.check("254712000001").expect_err("second in a minute");
        assert_eq!(limited.scope, Scope::Msisdn);
        // One a minute: the next is allowed in at most 60 s, and not at once.
        assert!((50..=60).contains(&limited.retry_after_s()), "{limited:?}");
        assert!(limited.reason().contains("this number"));
    }
}

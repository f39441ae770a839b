//! Request rate limits (governor): per phone number and for the process.
//! Money limits (KYC tiers) live in the ledger, checked in its transaction.

pub mod velocity;

use crate::config::RateLimits;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

pub struct Limits {
    per_msisdn: DefaultKeyedRateLimiter<String>,
    global: DefaultDirectRateLimiter,
}

impl Limits {
    pub fn new(config: &RateLimits) -> Limits {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        Limits {
            per_msisdn: RateLimiter::keyed(Quota::per_minute(nz(config.per_msisdn_per_minute))),
            global: RateLimiter::direct(Quota::per_second(nz(config.global_per_second))),
        }
    }

    /// Whether a request from this number may proceed now.
    pub fn allow(&self, msisdn: &str) -> bool {
        self.global.check().is_ok() && self.per_msisdn.check_key(&msisdn.to_string()).is_ok()
    }

    /// Forgets numbers that have not been seen for a while (bounded memory).
    pub fn forget_idle(&self) {
        self.per_msisdn.retain_recent();
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
}

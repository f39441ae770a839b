//! The per-source limit on webhook requests, checked before the token so a
//! flood of wrong tokens is slowed like any other.
//!
//! The key is the TCP peer's address: an IPv4 address as it is, an IPv6
//! address by its /64 (one host is usually handed a whole /64, and keying by
//! full address would let it spread a flood over 2^64 keys). Behind a proxy
//! the peer is the proxy, so every request shares its key.
//!
//! Each process keeps its own counts: N processes behind a balancer let a
//! source through at up to N times the configured rate.
//!
//! Memory is bounded: housekeeping forgets sources whose allowance is full
//! again, and a hard cap, `rate_limits.source_keys_max`, holds even while a
//! flood from many addresses is under way (see [`SourceLimits::check`]).

use super::{nz, Limited, Scope};
use crate::config::RateLimits;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

/// The cap is looked at once every this many checks (counting the keys
/// takes every shard's lock), so the map can pass `source_keys_max` by at
/// most this many keys.
pub const CAP_CHECK_EVERY: u64 = 256;

pub struct SourceLimits {
    limiter: RwLock<DefaultKeyedRateLimiter<IpAddr>>,
    quota: Quota,
    keys_max: usize,
    checks: AtomicU64,
}

/// What a peer address is counted as: IPv4 (also when IPv4-mapped) as is,
/// IPv6 by its /64; no address at all is one shared key.
pub fn source_key(peer: Option<IpAddr>) -> IpAddr {
    match peer.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        Some(v4) => v4,
        None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

impl SourceLimits {
    pub fn new(config: &RateLimits) -> SourceLimits {
        let quota = Quota::per_second(nz(config.per_source_per_second)).allow_burst(nz(config.per_source_burst));
        SourceLimits {
            limiter: RwLock::new(RateLimiter::keyed(quota)),
            quota,
            keys_max: config.source_keys_max.max(1),
            checks: AtomicU64::new(0),
        }
    }

    fn limiter(&self) -> RwLockReadGuard<'_, DefaultKeyedRateLimiter<IpAddr>> {
        self.limiter.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a request from `peer`; refuses it when its source is over its
    /// rate.
    ///
    /// When more than `source_keys_max` sources are held, those whose
    /// allowance is full again are forgotten at once; if that is not enough
    /// (a flood from that many addresses within one burst window), every
    /// count starts afresh. Refusing unknown sources instead would lock out
    /// the aggregator whenever a flood reached the cap first; starting
    /// afresh at worst gives each source one more burst, which a flood from
    /// that many fresh addresses would get anyway.
    pub fn check(&self, peer: Option<IpAddr>) -> Result<(), Limited> {
        if self.checks.fetch_add(1, Ordering::Relaxed).is_multiple_of(CAP_CHECK_EVERY) {
            self.enforce_cap();
        }
        let limiter = self.limiter();
        limiter.check_key(&source_key(peer)).map_err(|not_until| Limited {
            scope: Scope::Source,
            retry_after: not_until.wait_time_from(limiter.clock().now()),
        })
    }

    fn enforce_cap(&self) {
        {
            let limiter = self.limiter();
            if limiter.len() <= self.keys_max {
                return;
            }
            limiter.retain_recent();
            if limiter.len() <= self.keys_max {
                limiter.shrink_to_fit();
                return;
            }
        }
        let mut limiter = self.limiter.write().unwrap_or_else(PoisonError::into_inner);
        let keys = limiter.len();
        if keys > self.keys_max {
            tracing::warn!(
                keys,
                keys_max = self.keys_max,
                "more recent webhook sources than the cap: source counts start afresh"
            );
            *limiter = RateLimiter::keyed(self.quota);
        }
    }

    /// Forgets sources whose allowance is full again and returns the memory.
    pub fn forget_idle(&self) {
        let limiter = self.limiter();
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }

    /// Sources currently held.
    pub fn len(&self) -> usize {
        self.limiter().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: u32, burst: u32, keys_max: usize) -> SourceLimits {
        SourceLimits::new(&RateLimits {
            per_source_per_second: per_second,
            per_source_burst: burst,
            source_keys_max: keys_max,
            ..RateLimits::default()
        })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("address"))
    }

    #[test]
    fn each_source_gets_its_burst_then_is_refused() {
        let l = limits(1, 3, 100);
        assert!((0..3).all(|_| l.check(ip("10.0.0.1")).is_ok()));
        let refused = l.check(ip("10.0.0.1")).expect_err("over the burst");
        assert_eq!(refused.scope, Scope::Source);
        assert_eq!(refused.retry_after_s(), 1, "{refused:?}");
        assert!(refused.reason().contains("address"));
        assert!(l.check(ip("10.0.0.2")).is_ok(), "another source has its own allowance");
    }

    #[test]
    fn ipv6_is_counted_by_its_64_and_mapped_ipv4_as_ipv4() {
        let l = limits(1, 2, 100);
        assert!(l.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(l.check(ip("2001:db8:1:2:ffff::9")).is_ok());
        assert!(l.check(ip("2001:db8:1:2::77")).is_err(), "same /64, same allowance");
        assert!(l.check(ip("2001:db8:1:3::1")).is_ok(), "next /64");
        assert!(l.check(ip("192.0.2.7")).is_ok());
        assert!(l.check(ip("::ffff:192.0.2.7")).is_ok());
        assert!(l.check(ip("::ffff:192.0.2.7")).is_err(), "IPv4-mapped counts as the IPv4 address");
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn keys_stay_under_the_cap_during_a_flood_from_many_addresses() {
        let keys_max = 1_000;
        let l = limits(1, 5, keys_max);
        let most = keys_max + usize::try_from(CAP_CHECK_EVERY).expect("small");
        for n in 0..20_000u32 {
            assert!(l.check(Some(IpAddr::V4(n.into()))).is_ok(), "a fresh source is never refused");
            assert!(l.len() <= most, "{} keys after {n}", l.len());
        }
    }

    #[test]
    fn housekeeping_forgets_sources_whose_allowance_is_full_again() {
        // 1,000 a second, burst 1: an allowance is full again after 1 ms.
        let l = limits(1_000, 1, 100_000);
        for n in 0..500u32 {
            assert!(l.check(Some(IpAddr::V4(n.into()))).is_ok());
        }
        assert_eq!(l.len(), 500);
        std::thread::sleep(std::time::Duration::from_millis(20));
        l.forget_idle();
        assert!(l.is_empty(), "{} left", l.len());
    }
}

//! Memory held by the per-source webhook limiter: resident set size before,
//! after 100,000 distinct sources (half IPv4 addresses, half IPv6 /64s),
//! and after housekeeping (`retain_recent` + `shrink_to_fit`) once their
//! allowances are full again. Linux only (reads `/proc/self/status`).
//!
//! `cargo bench --bench source_limits [-- KEYS]`

use mkoba::config::RateLimits;
use mkoba::limits::source::SourceLimits;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// `VmRSS` (resident now) or `VmHWM` (peak resident) in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

fn main() {
    let keys: u32 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let config = RateLimits::default();
    let limits = SourceLimits::new(&config);
    let before = rss_kib();
    let started = Instant::now();
    for n in 0..keys {
        let ip = if n % 2 == 0 {
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
        } else {
            // A distinct /64 each: 2001:db8:<n>::1.
            IpAddr::V6(Ipv6Addr::from((0x2001_0db8_u128 << 96) | (u128::from(n) << 64) | 1))
        };
        if limits.check(Some(ip)).is_err() {
            eprintln!("source {ip} refused on its first request");
            std::process::exit(1);
        }
    }
    let filled = rss_kib();
    let fill_ms = started.elapsed().as_millis();
    let held = limits.len();
    // An allowance is full again after burst / rate seconds.
    let refill = Duration::from_secs_f64(f64::from(config.per_source_burst) / f64::from(config.per_source_per_second));
    std::thread::sleep(refill + Duration::from_millis(100));
    let started = Instant::now();
    limits.forget_idle();
    let forget_ms = started.elapsed().as_millis();
    let after = rss_kib();
    println!(
        "source_limits: keys={keys} (per_source_per_second={}, per_source_burst={}, source_keys_max={})",
        config.per_source_per_second, config.per_source_burst, config.source_keys_max
    );
    println!("  VmRSS before   {before:>8} KiB");
    println!(
        "  VmRSS filled   {filled:>8} KiB  (+{} KiB; {held} keys held, {:.0} B per held key; peak VmHWM {} KiB; fill {fill_ms} ms)",
        filled.saturating_sub(before),
        (filled.saturating_sub(before) as f64 * 1024.0) / (held.max(1) as f64),
        status_kib("VmHWM:"),
    );
    println!("  VmRSS after retain_recent+shrink_to_fit {after:>8} KiB  ({} keys held, {forget_ms} ms)", limits.len());
}

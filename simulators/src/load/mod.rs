//! The USSD load generator behind `mkoba-load`.
//!
//! `concurrency` virtual callers each run USSD sessions back to back against
//! one mkoba on a loopback address until `duration` has passed (or
//! `max_requests` hops have been sent):
//!
//! * [`Scenario::Menu`]: dial (`""`) then `4` (My account): two hops that
//!   never ask for a PIN.
//! * [`Scenario::Transfer`]: a full send-money session (SPEC §6):
//!   `""` → `1` → `1*<recipient>` → `1*<recipient>*<amount>` →
//!   `1*<recipient>*<amount>*<PIN>`, the last answer starting with `END`.
//!
//! Every HTTP request is a hop. A hop answered with a status other than 200,
//! or whose body does not start with the expected `CON `/`END `, is an error
//! and abandons its session. Latency is recorded per answered request.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::msisdn;
pub mod mix;
mod phones;
mod report;
#[cfg(test)]
mod tests;

pub use phones::{check_loopback, generate_phones, parse_phones};
pub use report::{has_reference, Latencies, LoadReport};

use crate::ussd::{new_session_id, UssdClient, DEFAULT_NETWORK_CODE, DEFAULT_SERVICE_CODE};

/// Longest run allowed.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// Most virtual callers allowed.
pub const MAX_CONCURRENCY: usize = 4096;

/// Length of the generated phone numbers (E.164 digits, Kenya: 254 + 9).
pub const GENERATED_PHONE_DIGITS: usize = 12;

/// Error samples kept in a report.
const MAX_ERROR_SAMPLES: usize = 10;

/// What each virtual caller does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Dial, then `4` (My account): hops that never ask for a PIN.
    Menu,
    /// A full PIN-confirmed send-money session.
    Transfer,
    /// A realistic crowd against mkoba processes the harness starts, with a
    /// correctness audit (see [`mix`]; run with [`mix::run_mix`]).
    Mix,
}

/// A refused configuration or a run that could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

fn err<T>(msg: impl Into<String>) -> Result<T, LoadError> {
    Err(LoadError(msg.into()))
}

/// A load run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// mkoba's base URL; must be a loopback address.
    pub url: String,
    /// mkoba's `webhook_token`.
    pub token: String,
    /// What each caller does.
    pub scenario: Scenario,
    /// Virtual callers (1..=[`MAX_CONCURRENCY`]).
    pub concurrency: usize,
    /// How long to generate load (at most [`MAX_DURATION`]).
    pub duration: Duration,
    /// Stop after this many hops, if given.
    pub max_requests: Option<u64>,
    /// Callers (E.164 digits); `Transfer` needs at least two (recipients are
    /// chosen among them).
    pub phones: Vec<String>,
    /// PIN of every caller (`Transfer`).
    pub pin: String,
    /// Amount typed in each transfer, as a user types it (`10`, `10.50`).
    pub amount: String,
    /// `serviceCode` field.
    pub service_code: String,
    /// `networkCode` field.
    pub network_code: String,
    /// Used to type recipients the local way (`07…`).
    pub country_code: String,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
}

impl LoadConfig {
    /// A configuration with the usual defaults (10 s, 16 callers, PIN 1357,
    /// amount 10, `*384#`, network 63902).
    pub fn new(url: &str, token: &str, scenario: Scenario, phones: Vec<String>) -> Self {
        Self {
            url: url.to_string(),
            token: token.to_string(),
            scenario,
            concurrency: 16,
            duration: Duration::from_secs(10),
            max_requests: None,
            phones,
            pin: "1357".to_string(),
            amount: "10".to_string(),
            service_code: DEFAULT_SERVICE_CODE.to_string(),
            network_code: DEFAULT_NETWORK_CODE.to_string(),
            country_code: msisdn::DEFAULT_COUNTRY_CODE.to_string(),
            request_timeout: Duration::from_secs(10),
        }
    }

    fn validate(&self) -> Result<(), LoadError> {
        check_loopback(&self.url)?;
        if self.scenario == Scenario::Mix {
            return err("the mix scenario starts its own servers: run it with mix::run_mix");
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return err(format!("duration must be between 1 ms and {} s", MAX_DURATION.as_secs()));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return err(format!("concurrency must be between 1 and {MAX_CONCURRENCY}"));
        }
        if self.max_requests == Some(0) {
            return err("max requests must be at least 1");
        }
        if self.phones.is_empty() {
            return err("no phones to call from");
        }
        if self.scenario == Scenario::Transfer {
            if self.phones.len() < 2 {
                return err("the transfer scenario needs at least two phones");
            }
            if self.pin.is_empty() || !self.pin.bytes().all(|b| b.is_ascii_digit()) {
                return err("the PIN must be digits");
            }
            if self.amount.is_empty() || self.amount.contains('*') {
                return err("bad amount");
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct WorkerStats {
    latencies: Latencies,
    requests: u64,
    sessions_started: u64,
    sessions_completed: u64,
    transfers: u64,
    transfers_with_reference: u64,
    errors_http_status: u64,
    errors_unexpected_body: u64,
    errors_transport: u64,
    samples: Vec<String>,
}

impl WorkerStats {
    fn sample(&mut self, msg: String) {
        if self.samples.len() < MAX_ERROR_SAMPLES && !self.samples.contains(&msg) {
            self.samples.push(msg);
        }
    }

    fn merge(&mut self, other: WorkerStats) {
        self.latencies.merge(&other.latencies);
        self.requests += other.requests;
        self.sessions_started += other.sessions_started;
        self.sessions_completed += other.sessions_completed;
        self.transfers += other.transfers;
        self.transfers_with_reference += other.transfers_with_reference;
        self.errors_http_status += other.errors_http_status;
        self.errors_unexpected_body += other.errors_unexpected_body;
        self.errors_transport += other.errors_transport;
        for s in other.samples {
            self.sample(s);
        }
    }
}

struct Ctx {
    cfg: LoadConfig,
    ussd: UssdClient,
    deadline: Instant,
    issued: AtomicU64,
}

impl Ctx {
    /// Whether another hop may be sent (and counts it).
    fn may_send(&self) -> bool {
        if Instant::now() >= self.deadline {
            return false;
        }
        match self.cfg.max_requests {
            Some(max) => self.issued.fetch_add(1, Ordering::Relaxed) < max,
            None => true,
        }
    }
}

/// Runs the load and returns its report. Refuses non-loopback URLs,
/// durations over [`MAX_DURATION`] and other bad settings before sending
/// anything.
pub async fn run_load(cfg: LoadConfig) -> Result<LoadReport, LoadError> {
    cfg.validate()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.concurrency)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .timeout(cfg.request_timeout)
        .connect_timeout(cfg.request_timeout.min(Duration::from_secs(5)))
        // Never follow a redirect off the loopback target.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| LoadError(format!("cannot build the HTTP client: {e}")))?;
    let ussd = UssdClient::new(http, &cfg.url, &cfg.token, &cfg.service_code, &cfg.network_code)
        .map_err(|e| LoadError(e.to_string()))?;
    let start = Instant::now();
    let ctx = Arc::new(Ctx { deadline: start + cfg.duration, issued: AtomicU64::new(0), ussd, cfg });
    let workers: Vec<_> = (0..ctx.cfg.concurrency).map(|_| tokio::spawn(caller(Arc::clone(&ctx)))).collect();
    let mut total = WorkerStats::default();
    for worker in workers {
        let stats = worker.await.map_err(|e| LoadError(format!("a virtual caller failed: {e}")))?;
        total.merge(stats);
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    Ok(report(&ctx.cfg, total, elapsed))
}

fn report(cfg: &LoadConfig, total: WorkerStats, elapsed: f64) -> LoadReport {
    let lat = &total.latencies;
    let ms = |us: u64| us as f64 / 1000.0;
    let mean_ms = lat.mean_us() / 1000.0;
    let errors = total.errors_http_status + total.errors_unexpected_body + total.errors_transport;
    LoadReport {
        scenario: Some(cfg.scenario),
        concurrency: cfg.concurrency,
        phones: cfg.phones.len(),
        duration_s: elapsed,
        requests: total.requests,
        hops_per_s: total.requests as f64 / elapsed,
        sessions_started: total.sessions_started,
        sessions_completed: total.sessions_completed,
        transfers: total.transfers,
        transfers_with_reference: total.transfers_with_reference,
        transfers_per_s: total.transfers as f64 / elapsed,
        p50_ms: ms(lat.percentile_us(50.0)),
        p90_ms: ms(lat.percentile_us(90.0)),
        p99_ms: ms(lat.percentile_us(99.0)),
        max_ms: ms(lat.max_us()),
        mean_ms,
        errors,
        errors_http_status: total.errors_http_status,
        errors_unexpected_body: total.errors_unexpected_body,
        errors_transport: total.errors_transport,
        error_samples: total.samples,
    }
}

/// The hops of one session: (text, whether the answer must be `CON`).
fn session_hops(cfg: &LoadConfig, rng: &mut StdRng, caller: usize) -> Vec<(String, bool)> {
    match cfg.scenario {
        Scenario::Menu | Scenario::Mix => vec![(String::new(), true), ("4".to_string(), true)],
        Scenario::Transfer => {
            let n = cfg.phones.len();
            let mut r = rng.random_range(0..n - 1);
            if r >= caller {
                r += 1;
            }
            let to = msisdn::local_format(&cfg.phones[r], &cfg.country_code);
            let amount = &cfg.amount;
            let pin = &cfg.pin;
            vec![
                (String::new(), true),
                ("1".to_string(), true),
                (format!("1*{to}"), true),
                (format!("1*{to}*{amount}"), true),
                (format!("1*{to}*{amount}*{pin}"), false),
            ]
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    let flat: String = s.chars().map(|c| if c == '\n' { '|' } else { c }).collect();
    match flat.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

async fn caller(ctx: Arc<Ctx>) -> WorkerStats {
    let mut rng = StdRng::from_os_rng();
    let mut st = WorkerStats::default();
    let cfg = &ctx.cfg;
    'sessions: loop {
        let caller = rng.random_range(0..cfg.phones.len());
        let phone = &cfg.phones[caller];
        let hops = session_hops(cfg, &mut rng, caller);
        let session_id = new_session_id();
        let mut last_screen = String::new();
        for (i, (text, expect_continue)) in hops.iter().enumerate() {
            if !ctx.may_send() {
                break 'sessions;
            }
            if i == 0 {
                st.sessions_started += 1;
            }
            let hop = format!("hop {}/{}", i + 1, hops.len());
            let t0 = Instant::now();
            let result = ctx.ussd.hop(&session_id, phone, text).await;
            let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
            st.requests += 1;
            let reply = match result {
                Ok(reply) => reply,
                Err(e) => {
                    st.errors_transport += 1;
                    st.sample(format!("{hop}: {e}"));
                    // Do not spin when the server is down.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue 'sessions;
                }
            };
            st.latencies.record_us(us);
            if reply.status != 200 {
                st.errors_http_status += 1;
                st.sample(format!("{hop}: HTTP {}: {}", reply.status, truncate(&reply.body, 80)));
                continue 'sessions;
            }
            if reply.continues() != Some(*expect_continue) {
                st.errors_unexpected_body += 1;
                let wanted = if *expect_continue { "CON" } else { "END" };
                st.sample(format!("{hop}: expected {wanted}, got: {}", truncate(&reply.body, 80)));
                continue 'sessions;
            }
            last_screen = reply.body;
        }
        st.sessions_completed += 1;
        if cfg.scenario == Scenario::Transfer {
            st.transfers += 1;
            if has_reference(&last_screen) {
                st.transfers_with_reference += 1;
            }
        }
    }
    st
}

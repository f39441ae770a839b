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
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Url;
use serde::Serialize;

use crate::msisdn;
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

/// Refuses anything but `http://` on 127.0.0.0/8, `localhost` or `[::1]`.
pub fn check_loopback(url: &str) -> Result<Url, LoadError> {
    let parsed = Url::parse(url).map_err(|e| LoadError(format!("bad URL {url}: {e}")))?;
    if parsed.scheme() != "http" {
        return err(format!("{url}: only http:// URLs are supported"));
    }
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return err(format!("{url}: refusing a non-loopback target (only 127.0.0.0/8, localhost and [::1])"));
    }
    Ok(parsed)
}

/// `n` numbers `prefix` followed by 0, 1, 2… zero-padded to
/// [`GENERATED_PHONE_DIGITS`] digits (`25471`, 3 → `254710000000`,
/// `254710000001`, `254710000002`).
pub fn generate_phones(prefix: &str, n: usize) -> Result<Vec<String>, LoadError> {
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return err("the phone prefix must be digits (E.164 without +, e.g. 25471)");
    }
    if prefix.len() >= GENERATED_PHONE_DIGITS {
        return err(format!("the phone prefix must be shorter than {GENERATED_PHONE_DIGITS} digits"));
    }
    let width = GENERATED_PHONE_DIGITS - prefix.len();
    let capacity = u32::try_from(width).ok().and_then(|w| 10usize.checked_pow(w)).unwrap_or(usize::MAX);
    if n == 0 || n > capacity {
        return err(format!("--phones must be between 1 and {capacity} for prefix {prefix}"));
    }
    Ok((0..n).map(|i| format!("{prefix}{i:0width$}")).collect())
}

/// Phones from a file's text: one per line, any accepted form; blank lines
/// and lines starting with `#` are skipped.
pub fn parse_phones(text: &str, country_code: &str) -> Result<Vec<String>, LoadError> {
    let mut phones = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match msisdn::normalize(line, country_code) {
            Some(p) => phones.push(p),
            None => return err(format!("line {}: not a phone number: {line}", i + 1)),
        }
    }
    if phones.is_empty() {
        return err("no phone numbers in the phones file");
    }
    Ok(phones)
}

/// The outcome of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LoadReport {
    pub scenario: Option<Scenario>,
    pub concurrency: usize,
    pub phones: usize,
    /// Wall-clock time of the run, seconds.
    pub duration_s: f64,
    /// HTTP requests sent (hops), errors included.
    pub requests: u64,
    pub hops_per_s: f64,
    pub sessions_started: u64,
    pub sessions_completed: u64,
    /// Transfer sessions that ended with `END` after the PIN.
    pub transfers: u64,
    /// Of those, the ones whose last screen shows a 10-character reference
    /// (the others were most likely refusals: insufficient funds, limits).
    pub transfers_with_reference: u64,
    pub transfers_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// All errors.
    pub errors: u64,
    /// Answers other than 200.
    pub errors_http_status: u64,
    /// 200 answers not starting with the expected `CON `/`END `.
    pub errors_unexpected_body: u64,
    /// No answer (connection refused, timeout).
    pub errors_transport: u64,
    /// A few of the errors, for diagnosis.
    pub error_samples: Vec<String>,
}

impl LoadReport {
    /// The human-readable summary.
    pub fn to_text(&self) -> String {
        let scenario = match self.scenario {
            Some(Scenario::Menu) => "menu",
            Some(Scenario::Transfer) => "transfer",
            None => "-",
        };
        let mut out = format!(
            "scenario      {scenario}\n\
             concurrency   {} callers over {} phones\n\
             duration      {:.2} s\n\
             requests      {} ({:.1} hops/s)\n\
             sessions      {} started, {} completed\n",
            self.concurrency,
            self.phones,
            self.duration_s,
            self.requests,
            self.hops_per_s,
            self.sessions_started,
            self.sessions_completed,
        );
        if self.scenario == Some(Scenario::Transfer) {
            out.push_str(&format!(
                "transfers     {} ({:.1}/s), {} with a reference\n",
                self.transfers, self.transfers_per_s, self.transfers_with_reference
            ));
        }
        out.push_str(&format!(
            "latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}\n\
             errors        {} (http status {}, unexpected body {}, transport {})\n",
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            self.mean_ms,
            self.errors,
            self.errors_http_status,
            self.errors_unexpected_body,
            self.errors_transport,
        ));
        for sample in &self.error_samples {
            out.push_str(&format!("  e.g. {sample}\n"));
        }
        out
    }
}

/// Latencies in microseconds, kept in an HDR histogram (3 significant
/// digits: exact below 2 ms, within 0.1 % above) so that any number of
/// samples costs the same memory and merging workers is cheap.
#[derive(Clone)]
pub struct Latencies(hdrhistogram::Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        // Up to an hour; three significant figures. Cannot fail for these bounds.
        Latencies(hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| {
            hdrhistogram::Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures are valid"))
        }))
    }
}

impl Latencies {
    pub fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.max(1));
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at percentile `p` (0..=100) in microseconds; 0 if empty.
    pub fn percentile_us(&self, p: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.value_at_quantile((p / 100.0).clamp(0.0, 1.0))
    }

    pub fn max_us(&self) -> u64 {
        self.0.max()
    }

    pub fn mean_us(&self) -> f64 {
        self.0.mean()
    }
}

/// Whether a screen shows a transfer reference: a 10-character token of
/// uppercase letters and digits with at least one letter (`QK7H2M9XTA`;
/// the letter rules out a 10-digit phone number such as `0712345678`).
pub fn has_reference(screen: &str) -> bool {
    screen.split(|c: char| !c.is_ascii_alphanumeric()).any(|t| {
        t.len() == 10
            && t.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && t.bytes().any(|b| b.is_ascii_uppercase())
    })
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
        Scenario::Menu => vec![(String::new(), true), ("4".to_string(), true)],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3:1/",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://[::1]:8080",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:8080",
            "http://example.com",
            "http://[::2]:80",
            "http://0.0.0.0:8080",
            "https://127.0.0.1:8443",
            "http://localhost.example.com",
            "nonsense",
        ] {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generates_phones() {
        assert_eq!(generate_phones("25471", 3).expect("valid"), vec!["254710000000", "254710000001", "254710000002"]);
        assert!(generate_phones("2547123456", 100).is_ok());
        assert!(generate_phones("2547123456", 101).is_err());
        assert!(generate_phones("254712345678", 1).is_err());
        assert!(generate_phones("+254", 1).is_err());
        assert!(generate_phones("25471", 0).is_err());
    }

    #[test]
    fn parses_phone_files() {
        let phones = parse_phones("# callers\n0712345678\n\n+254712000002\n", "254").expect("valid file");
        assert_eq!(phones, vec!["254712345678", "254712000002"]);
        assert!(parse_phones("0712345678\nnope\n", "254").is_err());
        assert!(parse_phones("# nothing\n", "254").is_err());
    }

    #[test]
    fn percentiles() {
        let of = |values: &[u64]| {
            let mut l = Latencies::default();
            values.iter().for_each(|&v| l.record_us(v));
            l
        };
        let v = of(&(1..=100).collect::<Vec<_>>());
        assert_eq!(v.percentile_us(50.0), 50);
        assert_eq!(v.percentile_us(90.0), 90);
        assert_eq!(v.percentile_us(99.0), 99);
        assert_eq!(v.percentile_us(100.0), 100);
        assert_eq!(v.percentile_us(0.0), 1);
        assert_eq!(of(&[7]).percentile_us(99.0), 7);
        assert_eq!(of(&[]).percentile_us(50.0), 0);
        // Merged workers, and large values within 0.1 %.
        let mut a = of(&[1_000_000]);
        a.merge(&of(&[2_000_000, 3_000_000]));
        assert_eq!(a.len(), 3);
        assert!(a.max_us().abs_diff(3_000_000) <= 3_000, "{}", a.max_us());
    }

    #[test]
    fn references() {
        assert!(has_reference("END Sent KES 10.00 to JANE. Ref QK7H2M9XTA."));
        assert!(!has_reference("END INSUFFICIENT funds"));
        assert!(!has_reference("END Wrong PIN. 2 attempts left"));
        assert!(has_reference("END Sent. Ref QKWHXMZXTA"));
        assert!(!has_reference("END 0712345678"));
        assert!(!has_reference("END Sent. Ref QK7H2M9XT"));
    }

    #[test]
    fn validates() {
        let phones = vec!["254712345678".to_string(), "254712000002".to_string()];
        let ok = LoadConfig::new("http://127.0.0.1:1", "t", Scenario::Transfer, phones.clone());
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.duration = Duration::from_secs(601);
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.concurrency = 0;
        assert!(c.validate().is_err());
        let mut c = ok.clone();
        c.phones.truncate(1);
        assert!(c.validate().is_err());
        c.scenario = Scenario::Menu;
        assert!(c.validate().is_ok());
        let mut c = ok;
        c.url = "http://192.168.1.1:8080".to_string();
        assert!(c.validate().is_err());
    }
}

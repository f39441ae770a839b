//! What a run measured: the report, latency histograms, and how a screen
//! is recognised as a transfer's receipt.

use super::Scenario;
use serde::Serialize;

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
            Some(Scenario::Mix) => "mix",
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

    /// Counts in buckets growing by half each (from 100 µs): `(upper bound
    /// in ms, samples)`, for a histogram picture.
    pub fn log_buckets_ms(&self) -> Vec<(f64, u64)> {
        if self.0.is_empty() {
            return Vec::new();
        }
        self.0
            .iter_log(100, 1.5)
            .map(|v| (v.value_iterated_to() as f64 / 1000.0, v.count_since_last_iteration()))
            .collect()
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

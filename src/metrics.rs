//! Prometheus metrics (SPEC §10). This module owns every series mkoba
//! exports — its name, help, labels and buckets — and the helpers that record
//! them; `GET /metrics` ([`crate::http::metrics`]) renders them.
//!
//! Each running application has its own registry, reached through the
//! ledger's settings ([`crate::ledger::Settings::metrics`]), so two apps in
//! one process (the tests) never count into each other. Recording is an
//! atomic add (labelled series: a hash lookup under a read lock first); no
//! lock is held across anything else and nothing is allocated. With
//! `metrics.enabled = false` the handle is empty and every call returns at
//! once. Label values come from fixed sets (transfer kinds and error codes,
//! rule names, route patterns): never a phone number or a raw path.
//!
//! Gauges that are cheaper to read than to keep (the outbox backlog, the
//! writer's queue) are set when scraped.
//!
//! A transfer or a wrong PIN is counted where it is decided. Those decided
//! inside a channel's write job (a USSD hop, an SMS) are counted when the job
//! runs: in the rare batch the writer runs again after a transient conflict
//! they count twice. Counters are per process, from its start.

use crate::ledger::{LedgerError, Receipt};
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};
use prometheus::{Registry, TextEncoder};
use std::sync::Arc;
use std::time::Duration;

pub const USSD_HOPS: &str = "mkoba_ussd_hops_total";
pub const SMS_INBOUND: &str = "mkoba_sms_inbound_total";
pub const TRANSFERS: &str = "mkoba_transfers_total";
pub const DECLINES: &str = "mkoba_declines_total";
pub const PIN_FAILURES: &str = "mkoba_pin_failures_total";
pub const OUTBOX_PENDING: &str = "mkoba_outbox_pending";
pub const HTTP_DURATION: &str = "mkoba_http_request_duration_seconds";
pub const WRITER_BATCH: &str = "mkoba_ledger_writer_batch_jobs";
pub const WRITER_QUEUE: &str = "mkoba_ledger_writer_queue_depth";
pub const PIN_WAIT: &str = "mkoba_pin_check_queue_wait_seconds";
pub const PIN_QUEUE: &str = "mkoba_pin_check_queue_depth";

/// The handle every recording site holds. Cheap to clone; empty when
/// metrics are off.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Series>>);

struct Series {
    registry: Registry,
    ussd_hops: IntCounter,
    sms_inbound: IntCounter,
    transfers: IntCounterVec,
    declines: IntCounterVec,
    pin_failures: IntCounter,
    outbox_pending: IntGaugeVec,
    http_duration: HistogramVec,
    writer_batch: Histogram,
    writer_queue: IntGauge,
    pin_wait: Histogram,
    pin_queue: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("enabled", &self.enabled()).finish()
    }
}

/// Registers `c` and hands it back.
fn reg<C: Collector + Clone + 'static>(registry: &Registry, c: C) -> prometheus::Result<C> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Series {
    fn new() -> prometheus::Result<Series> {
        let r = Registry::new();
        let counter = |name: &str, help: &str| reg(&r, IntCounter::new(name, help)?);
        let seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        let http = HistogramOpts::new(HTTP_DURATION, "HTTP request latency by matched route").buckets(seconds.to_vec());
        let batch = HistogramOpts::new(WRITER_BATCH, "Jobs committed in one ledger writer transaction")
            .buckets(prometheus::exponential_buckets(1.0, 2.0, 11)?);
        let wait = HistogramOpts::new(PIN_WAIT, "Time a PIN check waited for a PIN thread").buckets(seconds.to_vec());
        Ok(Series {
            ussd_hops: counter(USSD_HOPS, "USSD hops handed to the menu")?,
            sms_inbound: counter(SMS_INBOUND, "Inbound SMS handed to the command parser")?,
            transfers: reg(
                &r,
                IntCounterVec::new(Opts::new(TRANSFERS, "Transfers asked for, by outcome"), &["kind", "outcome"])?,
            )?,
            declines: reg(&r, IntCounterVec::new(Opts::new(DECLINES, "Transfers a fraud rule declined"), &["rule"])?)?,
            pin_failures: counter(PIN_FAILURES, "Wrong PINs entered")?,
            outbox_pending: reg(
                &r,
                IntGaugeVec::new(Opts::new(OUTBOX_PENDING, "Outbox messages not yet sent"), &["channel"])?,
            )?,
            http_duration: reg(&r, HistogramVec::new(http, &["route", "method", "status"])?)?,
            writer_batch: reg(&r, Histogram::with_opts(batch)?)?,
            writer_queue: reg(&r, IntGauge::new(WRITER_QUEUE, "Jobs waiting for the ledger writer")?)?,
            pin_wait: reg(&r, Histogram::with_opts(wait)?)?,
            pin_queue: reg(&r, IntGauge::new(PIN_QUEUE, "PIN checks and hashes waiting for a PIN thread")?)?,
            registry: r,
        })
    }
}

impl Metrics {
    /// A registry of its own, or the empty handle when `enabled` is false.
    pub fn new(enabled: bool) -> prometheus::Result<Metrics> {
        Ok(Metrics(if enabled { Some(Arc::new(Series::new()?)) } else { None }))
    }

    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    pub fn ussd_hop(&self) {
        if let Some(s) = &self.0 {
            s.ussd_hops.inc();
        }
    }

    pub fn sms_inbound(&self) {
        if let Some(s) = &self.0 {
            s.sms_inbound.inc();
        }
    }

    /// A transfer the ledger answered, by kind and [`outcome`].
    pub fn transfer(&self, kind: &str, result: &Result<Receipt, LedgerError>) {
        if let Some(s) = &self.0 {
            if let Ok(c) = s.transfers.get_metric_with_label_values(&[kind, outcome(result)]) {
                c.inc();
            }
        }
    }

    pub fn decline(&self, rule: &str) {
        if let Some(s) = &self.0 {
            if let Ok(c) = s.declines.get_metric_with_label_values(&[rule]) {
                c.inc();
            }
        }
    }

    pub fn pin_failure(&self) {
        if let Some(s) = &self.0 {
            s.pin_failures.inc();
        }
    }

    /// One HTTP request: `route` is the matched pattern, never the raw path.
    pub fn http_request(&self, route: &str, method: &str, status: &str, elapsed: Duration) {
        if let Some(s) = &self.0 {
            if let Ok(h) = s.http_duration.get_metric_with_label_values(&[route, method, status]) {
                h.observe(elapsed.as_secs_f64());
            }
        }
    }

    /// One commit of the ledger writer, carrying `jobs` jobs.
    pub fn writer_batch(&self, jobs: usize) {
        if let Some(s) = &self.0 {
            s.writer_batch.observe(jobs as f64);
        }
    }

    /// A PIN check or hash queued for a PIN thread.
    pub fn pin_queued(&self) {
        if let Some(s) = &self.0 {
            s.pin_queue.inc();
        }
    }

    /// A PIN thread took work that waited `waited` in the queue.
    pub fn pin_started(&self, waited: Duration) {
        if let Some(s) = &self.0 {
            s.pin_queue.dec();
            s.pin_wait.observe(waited.as_secs_f64());
        }
    }

    /// Work queued for the PIN threads that never reached them.
    pub fn pin_dropped(&self) {
        if let Some(s) = &self.0 {
            s.pin_queue.dec();
        }
    }

    /// Set at scrape: the messages of `channel` not yet sent.
    pub fn set_outbox_pending(&self, channel: &str, pending: i64) {
        if let Some(s) = &self.0 {
            if let Ok(g) = s.outbox_pending.get_metric_with_label_values(&[channel]) {
                g.set(pending);
            }
        }
    }

    /// Set at scrape: the jobs waiting for the ledger writer.
    pub fn set_writer_queue(&self, depth: usize) {
        if let Some(s) = &self.0 {
            s.writer_queue.set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
    }

    /// Every series in the Prometheus text format; `None` when metrics are off.
    pub fn render(&self) -> Option<Result<String, prometheus::Error>> {
        let s = self.0.as_ref()?;
        let mut text = String::new();
        Some(TextEncoder::new().encode_utf8(&s.registry.gather(), &mut text).map(|()| text))
    }
}

/// The `outcome` label of a transfer: `ok`, `held` (a rule held it in
/// suspense), `replayed` (its idempotency key was already used) or the
/// refusal's stable error code.
pub fn outcome(result: &Result<Receipt, LedgerError>) -> &'static str {
    match result {
        Ok(r) if r.replayed => "replayed",
        Ok(r) if r.held_rule.is_some() => "held",
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

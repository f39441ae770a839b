//! The report of a mix run: throughput, latency per hop type, errors by
//! kind, each kill and its recovery, and the audit; as text or one JSON
//! object.

use std::collections::BTreeMap;

use serde::Serialize;

use super::audit::Audit;
use crate::load::Latencies;

/// Latency of one hop type, milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HopStats {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl HopStats {
    pub fn of(l: &Latencies) -> HopStats {
        let ms = |us: u64| us as f64 / 1000.0;
        HopStats {
            count: l.len(),
            p50_ms: ms(l.percentile_us(50.0)),
            p95_ms: ms(l.percentile_us(95.0)),
            p99_ms: ms(l.percentile_us(99.0)),
            max_ms: ms(l.max_us()),
        }
    }
}

/// One SIGKILL and what followed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KillReport {
    pub node: usize,
    /// When it was killed, ms since the Unix epoch.
    pub killed_at_unix_ms: u64,
    /// When it was killed, seconds into the run.
    pub at_s: f64,
    /// How long it stayed down before the restart.
    pub down_ms: u64,
    /// From the restart to the first hop that node served.
    pub recovery_ms: Option<u64>,
    /// From the kill to the first hop that node served.
    pub outage_ms: Option<u64>,
}

/// Everything a mix run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MixReport {
    pub scenario: &'static str,
    pub seed: u64,
    pub backend: String,
    pub nodes: usize,
    pub callers: usize,
    pub customers: usize,
    pub duration_s: f64,
    pub hops: u64,
    pub hops_per_s: f64,
    pub sessions: u64,
    pub sessions_completed: u64,
    pub sessions_abandoned: u64,
    pub refusals: u64,
    pub registrations: u64,
    pub sms_sent: usize,
    pub events_sent: u64,
    pub retries: u64,
    pub wrong_pins: u64,
    /// Transfers acknowledged to callers (END screens with a reference).
    pub transfers_acked: usize,
    pub transfers_acked_per_s: f64,
    /// Transfers mkoba stored during the run (SMS ones included).
    pub transfers_stored: usize,
    pub transfers_stored_per_s: f64,
    /// Integrator charges asked for, answered 201, refused by a rule (422,
    /// by code: `allowance_exhausted`…), and never answered either way.
    pub charges_sent: usize,
    pub charges_acked: usize,
    pub charges_refused: BTreeMap<String, u64>,
    pub charges_unanswered: usize,
    /// Charges sent again (same key, same body) after getting no answer.
    pub charge_resends: u64,
    /// Latency per hop type (`charge`: one `POST /api/v1/charges`).
    pub hop_latency: BTreeMap<String, HopStats>,
    pub errors: BTreeMap<String, u64>,
    pub kills: Vec<KillReport>,
    pub audit: Audit,
    pub audit_ok: bool,
    /// The latency picture, when one was written.
    pub histogram: Option<String>,
}

impl MixReport {
    /// The human-readable summary.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "scenario      mix (seed {}), {} on {} node(s), {} callers over {} customers\n\
             duration      {:.2} s\n\
             hops          {} ({:.1} hops/s); sessions {} ({} completed, {} abandoned, {} refused early)\n\
             also          {} SMS, {} session-end events, {} retries, {} wrong PINs, {} registrations\n\
             transfers     {} acknowledged ({:.1}/s), {} stored ({:.1}/s)\n\
             charges       {} sent: {} acknowledged, {} refused{}, {} unanswered, {} resent\n\
             latency ms    hop type        count      p50      p95      p99      max\n",
            self.seed,
            self.backend,
            self.nodes,
            self.callers,
            self.customers,
            self.duration_s,
            self.hops,
            self.hops_per_s,
            self.sessions,
            self.sessions_completed,
            self.sessions_abandoned,
            self.refusals,
            self.sms_sent,
            self.events_sent,
            self.retries,
            self.wrong_pins,
            self.registrations,
            self.transfers_acked,
            self.transfers_acked_per_s,
            self.transfers_stored,
            self.transfers_stored_per_s,
            self.charges_sent,
            self.charges_acked,
            self.charges_refused.values().sum::<u64>(),
            refusal_codes(&self.charges_refused),
            self.charges_unanswered,
            self.charge_resends,
        );
        for (kind, h) in &self.hop_latency {
            out.push_str(&format!(
                "              {kind:<12} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>8.2}\n",
                h.count, h.p50_ms, h.p95_ms, h.p99_ms, h.max_ms
            ));
        }
        let errors: Vec<String> = self.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out.push_str(&format!("errors        {}\n", if errors.is_empty() { "none".into() } else { errors.join(", ") }));
        for k in &self.kills {
            let ms = |v: Option<u64>| v.map_or("never".to_string(), |v| format!("{v} ms"));
            out.push_str(&format!(
                "kill          node {} at {:.2} s, down {} ms, first hop served {} after the restart ({} after the kill)\n",
                k.node,
                k.at_s,
                k.down_ms,
                ms(k.recovery_ms),
                ms(k.outage_ms)
            ));
        }
        out.push_str(&self.audit_text());
        if let Some(path) = &self.histogram {
            out.push_str(&format!("histogram     {path}\n"));
        }
        out
    }

    fn audit_text(&self) -> String {
        let a = &self.audit;
        let mut out = format!(
            "audit         {}: {} transfers, {} acknowledged, receipts {}/{} due, ledger verify {}\n\
             \x20             charges {}/{} acknowledged found as made, {} refused, {} allowances within their limits\n",
            if a.ok { "PASSED" } else { "FAILED" },
            a.transfers,
            a.acknowledged,
            a.receipts_found,
            a.receipts_expected,
            if a.ledger_verify_ok { "ok" } else { "FAILED" },
            a.charges_checked,
            a.charges_acknowledged,
            a.charges_refused,
            a.allowances_checked,
        );
        let findings = [
            ("acknowledged but missing", &a.acked_missing),
            ("acknowledged, stored twice", &a.acked_duplicated),
            ("silent transfers", &a.silent),
            ("receipts missing", &a.receipts_missing),
            ("receipts duplicated", &a.receipts_duplicated),
            ("SMS answered twice", &a.sms_replies_duplicated),
            ("sent again after a kill (at-least-once, not a failure)", &a.resent_after_kill),
            ("charges acknowledged but missing", &a.charges_missing),
            ("charges stored twice", &a.charges_duplicated),
            ("charges stored otherwise", &a.charges_mismatched),
            ("references given to several charges", &a.charges_shared_reference),
            ("refused charges that moved money", &a.charges_refused_moved),
            ("charges nobody asked for", &a.charges_unexpected),
            ("allowances charged over their limit", &a.allowances_overdrawn),
        ];
        for (what, list) in findings {
            if !list.is_empty() {
                out.push_str(&format!("  {what}: {}\n", list.join(", ")));
            }
        }
        if a.retry_mismatches > 0 {
            out.push_str(&format!("  repeated hops answered differently: {}\n", a.retry_mismatches));
        }
        if let Some(e) = &a.ledger_verify_error {
            out.push_str(&format!("  ledger verify: {}\n", e.trim()));
        }
        if !a.ok {
            out.push_str(&format!("  reproduce with --seed {}\n", self.seed));
        }
        out
    }
}

/// ` (allowance_exhausted 3, insufficient_funds 1)`, or nothing.
fn refusal_codes(refused: &BTreeMap<String, u64>) -> String {
    if refused.is_empty() {
        return String::new();
    }
    let codes: Vec<String> = refused.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(" ({})", codes.join(", "))
}

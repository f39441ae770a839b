//! The correctness audit at the end of a mix run, a pure function of what
//! the crowd was told, what mkoba says exists (`mkoba transfer list
//! --json`), what reached the aggregator simulator and `mkoba ledger
//! verify`:
//!
//! * every transfer acknowledged to a caller exists exactly once;
//! * no transfer exists that nobody was told of: one no caller saw must at
//!   least have a receipt;
//! * every receipt due reached the aggregator exactly once (none missing,
//!   none twice), and no inbound SMS got two replies. One exception, listed
//!   apart and not a failure: a message a node had handed to the
//!   aggregator just before it was SIGKILLed, and so could not record as
//!   sent, goes again once its lease runs out. Africa's Talking's send API
//!   has no idempotency key, so an outbox can be at-least-once or
//!   at-most-once across a crash, never exactly-once; mkoba chose
//!   at-least-once. Such a second copy is recognised by its first copy
//!   arriving at most [`KILL_WINDOW_MS`] before a kill and the second after it;
//! * a hop sent twice got the same answer twice;
//! * the ledger verifies.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::caller::Ack;
use crate::aggregator::Message;

/// One party of a listed transfer.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct PartyRecord {
    pub kind: String,
    #[serde(default)]
    pub msisdn: Option<String>,
    #[serde(default)]
    pub till: Option<String>,
    #[serde(default)]
    pub notify_to: Option<String>,
}

/// One transfer as `mkoba transfer list --json` prints it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TransferRecord {
    pub id: i64,
    pub reference: String,
    pub kind: String,
    pub amount_minor: i64,
    pub idempotency_key: String,
    pub from: PartyRecord,
    pub to: PartyRecord,
}

/// What the audit looks at.
#[derive(Clone, Debug)]
pub struct AuditInput {
    pub acks: Vec<Ack>,
    pub transfers: Vec<TransferRecord>,
    pub messages: Vec<Message>,
    pub retry_mismatches: u64,
    /// `Err(what is wrong)` when `mkoba ledger verify` failed.
    pub ledger_verify: Result<(), String>,
    /// `receipts.digest_below_minor`: the payer's receipt of a small USSD
    /// payment goes into the daily digest instead.
    pub digest_below_minor: i64,
    /// When nodes were SIGKILLed, ms since the Unix epoch (the aggregator's
    /// clock for received messages).
    pub kills_unix_ms: Vec<u64>,
}

impl Default for AuditInput {
    fn default() -> Self {
        AuditInput {
            acks: Vec::new(),
            transfers: Vec::new(),
            messages: Vec::new(),
            retry_mismatches: 0,
            ledger_verify: Ok(()),
            digest_below_minor: 1_000,
            kills_unix_ms: Vec::new(),
        }
    }
}

/// The audit's findings; `ok` when there are none.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Audit {
    pub ok: bool,
    pub transfers: usize,
    pub acknowledged: usize,
    pub receipts_expected: usize,
    pub receipts_found: usize,
    /// Acknowledged references with no transfer (or listed twice).
    pub acked_missing: Vec<String>,
    pub acked_duplicated: Vec<String>,
    /// Transfers nobody was told of: no caller saw them, no receipt went.
    pub silent: Vec<String>,
    /// `reference → recipient` receipts due that never arrived.
    pub receipts_missing: Vec<String>,
    /// `reference → recipient ×n` receipts that arrived more than once.
    pub receipts_duplicated: Vec<String>,
    /// Inbound SMS ids (linkId) answered more than once.
    pub sms_replies_duplicated: Vec<String>,
    /// Second copies of messages a node sent just before it was killed
    /// (receipts and replies): at-least-once across a crash, not a failure.
    pub resent_after_kill: Vec<String>,
    pub retry_mismatches: u64,
    pub ledger_verify_ok: bool,
    pub ledger_verify_error: Option<String>,
}

/// How long before a kill a message may have been handed to the
/// aggregator without its sending being recorded.
pub const KILL_WINDOW_MS: u64 = 1_000;

/// Whether copies received at `times` are one message sent again after a
/// kill: two copies, the first just before a kill, the second after it.
fn resent_after_kill(times: &[u64], kills: &[u64]) -> bool {
    let mut t = times.to_vec();
    t.sort_unstable();
    t.len() == 2 && kills.iter().any(|&k| t[0] <= k && t[0] + KILL_WINDOW_MS >= k && t[1] > k)
}

/// ` (at -12 ms, +3010 ms from a kill)`: the copies' arrival relative to
/// the first kill after the first copy, if any.
fn relative(times: &[u64], kills: &[u64]) -> String {
    let Some(first) = times.iter().min() else { return String::new() };
    let Some(kill) = kills.iter().filter(|&&k| k >= *first).min() else { return String::new() };
    let offsets: Vec<String> = times.iter().map(|&t| format!("{:+} ms", i128::from(t) - i128::from(*kill))).collect();
    format!(" (at {} from a kill)", offsets.join(", "))
}

/// Most items of each finding kept in the report.
const FINDINGS_MAX: usize = 20;

/// Who must get a receipt of `t`, by mkoba's rules (SPEC §9 "Receipts").
pub fn receipts_due(t: &TransferRecord, digest_below_minor: i64) -> Vec<String> {
    let payer_told = matches!(t.kind.as_str(), "p2p" | "cash_out" | "cash_in" | "merchant_payment" | "reversal");
    let digested = matches!(t.kind.as_str(), "p2p" | "merchant_payment")
        && t.amount_minor <= digest_below_minor
        && t.idempotency_key.starts_with("ussd:");
    let payee_told = !matches!(t.kind.as_str(), "fee" | "commission");
    let mut due = Vec::new();
    if payer_told && !digested {
        due.extend(t.from.notify_to.clone());
    }
    if payee_told {
        due.extend(t.to.notify_to.clone());
    }
    due
}

/// Runs the audit.
pub fn audit(input: &AuditInput) -> Audit {
    let mut a = Audit { transfers: input.transfers.len(), ..Audit::default() };
    let mut by_ref: HashMap<&str, usize> = HashMap::new();
    for t in &input.transfers {
        *by_ref.entry(t.reference.as_str()).or_default() += 1;
    }
    let acked: HashSet<&str> = input.acks.iter().map(|x| x.reference.as_str()).collect();
    a.acknowledged = acked.len();
    for r in &acked {
        match by_ref.get(r) {
            None => a.acked_missing.push((*r).to_string()),
            Some(1) => {}
            Some(_) => a.acked_duplicated.push((*r).to_string()),
        }
    }
    check_messages(input, &by_ref, &acked, &mut a);
    a.retry_mismatches = input.retry_mismatches;
    a.ledger_verify_ok = input.ledger_verify.is_ok();
    a.ledger_verify_error = input.ledger_verify.clone().err();
    a.ok = a.acked_missing.is_empty()
        && a.acked_duplicated.is_empty()
        && a.silent.is_empty()
        && a.receipts_missing.is_empty()
        && a.receipts_duplicated.is_empty()
        && a.sms_replies_duplicated.is_empty()
        && a.retry_mismatches == 0
        && a.ledger_verify_ok;
    for list in [
        &mut a.acked_missing,
        &mut a.acked_duplicated,
        &mut a.silent,
        &mut a.receipts_missing,
        &mut a.receipts_duplicated,
        &mut a.sms_replies_duplicated,
        &mut a.resent_after_kill,
    ] {
        list.sort();
        list.truncate(FINDINGS_MAX);
    }
    a
}

/// Receipts (messages whose first word is a listed transfer's reference)
/// and SMS replies (by linkId): missing, twice, or sent again after a kill;
/// and the transfers nobody was told of.
fn check_messages(input: &AuditInput, by_ref: &HashMap<&str, usize>, acked: &HashSet<&str>, a: &mut Audit) {
    let mut received: HashMap<(&str, &str), Vec<u64>> = HashMap::new();
    let mut replies: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for m in &input.messages {
        if let Some(link) = m.link_id.as_deref().filter(|l| !l.is_empty()) {
            replies.entry(link).or_default().push(m.received_at_ms);
        }
        let first = m.message.split_whitespace().next().unwrap_or_default();
        if by_ref.contains_key(first) {
            received.entry((first, m.to.as_str())).or_default().push(m.received_at_ms);
        }
    }
    let kills = &input.kills_unix_ms;
    for t in &input.transfers {
        let due = receipts_due(t, input.digest_below_minor);
        a.receipts_expected += due.len();
        let mut told = acked.contains(t.reference.as_str());
        for to in &due {
            let times = received.get(&(t.reference.as_str(), to.as_str())).map_or(&[][..], Vec::as_slice);
            let what = format!("{} → {} ×{}{}", t.reference, mask(to), times.len(), relative(times, kills));
            match times.len() {
                0 => a.receipts_missing.push(format!("{} → {}", t.reference, mask(to))),
                1 => {}
                _ if resent_after_kill(times, kills) => a.resent_after_kill.push(what),
                _ => a.receipts_duplicated.push(what),
            }
            if !times.is_empty() {
                a.receipts_found += 1;
                told = true;
            }
        }
        if !told {
            a.silent.push(t.reference.clone());
        }
    }
    for (link, times) in replies.into_iter().filter(|(_, t)| t.len() > 1) {
        let what = format!("{link} ×{}{}", times.len(), relative(&times, kills));
        if resent_after_kill(&times, kills) {
            a.resent_after_kill.push(what);
        } else {
            a.sms_replies_duplicated.push(what);
        }
    }
}

/// `254712345678` → `2547****5678`: reports are shared, numbers are personal.
fn mask(phone: &str) -> String {
    if phone.len() < 8 {
        return phone.to_string();
    }
    format!("{}****{}", &phone[..4], &phone[phone.len() - 4..])
}

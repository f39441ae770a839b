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
//! * a hop sent twice got the same answer twice (a charge sent twice, the
//!   same reference);
//! * integrator charges ([`check_charges`]): every charge answered 201 is
//!   in the ledger exactly once under its reference, as a `charge` of its
//!   amount from its customer to its till under its idempotency key; no two
//!   keys were given one reference; a refused charge moved nothing; no
//!   charge exists that the crowd did not ask for; and what was charged
//!   under each allowance in a day, acknowledged or merely stored, is within
//!   its limit. A charge's payer gets no receipt of it (the daily digest
//!   tells them); the till, which has no callback URL here, gets its SMS;
//! * the ledger verifies.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::caller::Ack;
use super::plan::AllowanceRef;
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
    #[serde(default)]
    pub created_at_ms: i64,
    pub from: PartyRecord,
    pub to: PartyRecord,
}

/// What became of a charge the crowd asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Answered 201 with this reference (at first, or when sent again
    /// after no answer).
    Acked { reference: String },
    /// Answered 422 with this code: refused by a rule.
    Refused { code: String },
    /// Never answered either way: it may or may not have been made.
    Unanswered,
}

/// One charge the crowd asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRecord {
    /// Its `Idempotency-Key`.
    pub key: String,
    pub allowance_id: String,
    pub customer: String,
    pub till: String,
    pub amount_minor: i64,
    pub outcome: ChargeOutcome,
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
    /// The allowances the crowd charged under (daily ones).
    pub allowances: Vec<AllowanceRef>,
    pub charges: Vec<ChargeRecord>,
    /// `ledger.day_utc_offset_minutes`: where mkoba's days (and so an
    /// allowance's periods) begin.
    pub day_utc_offset_minutes: i64,
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
            allowances: Vec::new(),
            charges: Vec::new(),
            day_utc_offset_minutes: 180,
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
    /// Charges answered 201, refused (422), and those the audit found in
    /// the ledger as acknowledged.
    pub charges_acknowledged: usize,
    pub charges_refused: usize,
    pub charges_checked: usize,
    /// Allowances whose daily totals were checked against their limit.
    pub allowances_checked: usize,
    /// Acknowledged charges not in the ledger (or in it twice).
    pub charges_missing: Vec<String>,
    pub charges_duplicated: Vec<String>,
    /// Acknowledged charges stored as something else (kind, amount,
    /// parties or idempotency key).
    pub charges_mismatched: Vec<String>,
    /// References given to more than one idempotency key.
    pub charges_shared_reference: Vec<String>,
    /// Refused charges that moved money anyway.
    pub charges_refused_moved: Vec<String>,
    /// Charges in the ledger that the crowd never asked for.
    pub charges_unexpected: Vec<String>,
    /// Allowances charged above their limit in a day.
    pub allowances_overdrawn: Vec<String>,
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

/// Who must get a receipt of `t`, by mkoba's rules (SPEC §9 "Receipts"). A
/// charge's payer is told in the daily digest, never by a receipt each;
/// its till (no callback URL in a mix run) gets one.
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
    let mut acked: HashSet<&str> = input.acks.iter().map(|x| x.reference.as_str()).collect();
    a.acknowledged = acked.len();
    for r in &acked {
        match by_ref.get(r) {
            None => a.acked_missing.push((*r).to_string()),
            Some(1) => {}
            Some(_) => a.acked_duplicated.push((*r).to_string()),
        }
    }
    check_charges(input, &mut a);
    // A till's backend answered 201 was told of its charge too.
    acked.extend(input.charges.iter().filter_map(|c| match &c.outcome {
        ChargeOutcome::Acked { reference } => Some(reference.as_str()),
        _ => None,
    }));
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
        && a.charges_missing.is_empty()
        && a.charges_duplicated.is_empty()
        && a.charges_mismatched.is_empty()
        && a.charges_shared_reference.is_empty()
        && a.charges_refused_moved.is_empty()
        && a.charges_unexpected.is_empty()
        && a.allowances_overdrawn.is_empty()
        && a.ledger_verify_ok;
    for list in [
        &mut a.acked_missing,
        &mut a.acked_duplicated,
        &mut a.silent,
        &mut a.receipts_missing,
        &mut a.receipts_duplicated,
        &mut a.sms_replies_duplicated,
        &mut a.resent_after_kill,
        &mut a.charges_missing,
        &mut a.charges_duplicated,
        &mut a.charges_mismatched,
        &mut a.charges_shared_reference,
        &mut a.charges_refused_moved,
        &mut a.charges_unexpected,
        &mut a.allowances_overdrawn,
    ] {
        list.sort();
        list.truncate(FINDINGS_MAX);
    }
    a
}

/// The crowd's own key of a transfer the integrator API made: mkoba keeps
/// `api:<till id>:<Idempotency-Key>` (SPEC leaves the form to mkoba; a key
/// too long is hashed, which the crowd's never are).
fn api_key_of(t: &TransferRecord) -> Option<&str> {
    let rest = t.idempotency_key.strip_prefix("api:")?;
    rest.split_once(':').map(|(_, key)| key)
}

/// mkoba's day number of `at_ms` (days begin at local midnight).
fn day_of(at_ms: i64, offset_minutes: i64) -> i64 {
    at_ms.saturating_add(offset_minutes.saturating_mul(60_000)).div_euclid(86_400_000)
}

/// The integrator charges: see the module's documentation.
fn check_charges(input: &AuditInput, a: &mut Audit) {
    let mut by_ref: HashMap<&str, Vec<&TransferRecord>> = HashMap::new();
    let mut by_key: HashMap<&str, Vec<&TransferRecord>> = HashMap::new();
    for t in &input.transfers {
        by_ref.entry(t.reference.as_str()).or_default().push(t);
        if let Some(key) = api_key_of(t) {
            by_key.entry(key).or_default().push(t);
        }
    }
    let asked: HashSet<&str> = input.charges.iter().map(|c| c.key.as_str()).collect();
    let mut keys_of_ref: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    // (allowance, day) → acknowledged total.
    let mut acked_total: BTreeMap<(&str, i64), i64> = BTreeMap::new();
    for c in &input.charges {
        match &c.outcome {
            ChargeOutcome::Acked { reference } => {
                a.charges_acknowledged += 1;
                keys_of_ref.entry(reference.as_str()).or_default().insert(c.key.as_str());
                let stored = by_ref.get(reference.as_str()).map_or(&[][..], Vec::as_slice);
                let t = match stored {
                    [] => {
                        a.charges_missing.push(reference.clone());
                        continue;
                    }
                    [t] => t,
                    [t, ..] => {
                        a.charges_duplicated.push(format!("{reference} ×{}", stored.len()));
                        t
                    }
                };
                let wrong = charge_mismatch(c, t);
                if wrong.is_empty() {
                    a.charges_checked += 1;
                } else {
                    a.charges_mismatched.push(format!("{reference}: {}", wrong.join(", ")));
                }
                let day = day_of(t.created_at_ms, input.day_utc_offset_minutes);
                let total = acked_total.entry((c.allowance_id.as_str(), day)).or_default();
                *total = total.saturating_add(c.amount_minor);
            }
            ChargeOutcome::Refused { code } => {
                a.charges_refused += 1;
                if let Some(moved) = by_key.get(c.key.as_str()) {
                    let refs: Vec<&str> = moved.iter().map(|t| t.reference.as_str()).collect();
                    a.charges_refused_moved.push(format!("{} ({code}) → {}", c.key, refs.join(" ")));
                }
            }
            ChargeOutcome::Unanswered => {}
        }
    }
    for (reference, keys) in keys_of_ref.into_iter().filter(|(_, k)| k.len() > 1) {
        a.charges_shared_reference.push(format!("{reference} ← {} keys", keys.len()));
    }
    // (customer, till, day) → stored total, for every charge in the ledger.
    let mut stored_total: BTreeMap<(&str, &str, i64), i64> = BTreeMap::new();
    for t in input.transfers.iter().filter(|t| t.kind == "charge") {
        if !api_key_of(t).is_some_and(|k| asked.contains(k)) {
            a.charges_unexpected.push(format!("{} ({})", t.reference, t.idempotency_key));
        }
        let (Some(customer), Some(till)) = (t.from.msisdn.as_deref(), t.to.till.as_deref()) else { continue };
        let day = day_of(t.created_at_ms, input.day_utc_offset_minutes);
        let total = stored_total.entry((customer, till, day)).or_default();
        *total = total.saturating_add(t.amount_minor);
    }
    for al in &input.allowances {
        a.allowances_checked += 1;
        for ((id, day), total) in acked_total.range((al.id.as_str(), i64::MIN)..=(al.id.as_str(), i64::MAX)) {
            if *total > al.limit_minor {
                a.allowances_overdrawn.push(format!("{id} day {day}: {total} acknowledged > {}", al.limit_minor));
            }
        }
        let (customer, till) = (al.customer.as_str(), al.till.as_str());
        for ((_, _, day), total) in stored_total.range((customer, till, i64::MIN)..=(customer, till, i64::MAX)) {
            if *total > al.limit_minor {
                a.allowances_overdrawn.push(format!("{} day {day}: {total} stored > {}", al.id, al.limit_minor));
            }
        }
    }
}

/// How stored transfer `t` differs from acknowledged charge `c`.
fn charge_mismatch(c: &ChargeRecord, t: &TransferRecord) -> Vec<String> {
    let mut wrong = Vec::new();
    if t.kind != "charge" {
        wrong.push(format!("kind {}", t.kind));
    }
    if t.amount_minor != c.amount_minor {
        wrong.push(format!("amount {} not {}", t.amount_minor, c.amount_minor));
    }
    if t.from.msisdn.as_deref() != Some(c.customer.as_str()) {
        wrong.push(format!("from {}", t.from.msisdn.as_deref().map_or("-".into(), mask)));
    }
    if t.to.till.as_deref() != Some(c.till.as_str()) {
        wrong.push(format!("to till {}", t.to.till.as_deref().unwrap_or("-")));
    }
    if api_key_of(t) != Some(c.key.as_str()) {
        wrong.push(format!("key {}", t.idempotency_key));
    }
    wrong
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

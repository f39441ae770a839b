//! A virtual caller of a mix run: plays its plan's actions over HTTP as the
//! aggregator would (USSD hops, inbound SMS, session-end events) and as a
//! till's backend would (integrator charges, `POST /api/v1/charges`),
//! spreading requests round-robin over the nodes, and keeps what it
//! measured and what it was told (transfer references from END screens and
//! from charges answered 201).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::audit::{ChargeOutcome, ChargeRecord};
use super::plan::{Action, ChargeAsk, Kind, Plan};
use super::proc::{ms_since, Node};
use crate::load::{has_reference, Latencies};
use crate::ussd::webhook_url;

/// The first screen of a caller back after a dropped session (English).
const RESUME_OFFER: &str = "Your last session was cut off";

/// The short code inbound SMS are sent `to`.
pub const SHORT_CODE: &str = "21525";

/// How long a charge that got no answer (its node killed, say) is sent
/// again under the same key and body, once per [`CHARGE_RESEND_PAUSE`].
const CHARGE_RESEND_FOR: Duration = Duration::from_secs(15);
const CHARGE_RESEND_PAUSE: Duration = Duration::from_millis(100);

/// What every caller shares.
pub struct Crowd {
    pub http: reqwest::Client,
    pub nodes: Vec<Arc<Node>>,
    pub token: String,
    pub service_code: String,
    pub network_code: String,
    /// The short code inbound SMS are sent `to`.
    pub short_code: String,
    pub origin: Instant,
    pub deadline: Instant,
    next_node: AtomicUsize,
    /// Hops and SMS sent so far, for the progress bar.
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub errors: AtomicU64,
    /// `(till, API key)` of each till, for the charges.
    pub api_keys: Vec<(String, String)>,
}

impl Crowd {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        http: reqwest::Client,
        nodes: Vec<Arc<Node>>,
        token: &str,
        service_code: &str,
        network_code: &str,
        origin: Instant,
        duration: Duration,
    ) -> Crowd {
        Crowd {
            http,
            nodes,
            token: token.to_string(),
            service_code: service_code.to_string(),
            network_code: network_code.to_string(),
            short_code: SHORT_CODE.to_string(),
            origin,
            deadline: origin + duration,
            next_node: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            api_keys: Vec::new(),
        }
    }

    /// The node the next request goes to (round-robin).
    fn next_node(&self) -> &Arc<Node> {
        let i = self.next_node.fetch_add(1, Ordering::Relaxed) % self.nodes.len().max(1);
        &self.nodes[i]
    }

    /// POSTs a form to `path` on the next node: (status, body, latency µs).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<(u16, String, u64), String> {
        let node = self.next_node();
        let url = webhook_url(&node.url, path, &self.token).map_err(|e| e.to_string())?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        let t0 = Instant::now();
        let resp = self.http.post(url).form(form).send().await.map_err(|e| transport_kind(&e))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| transport_kind(&e))?;
        let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        if status == 200 {
            node.served(ms_since(self.origin));
        }
        Ok((status, body, us))
    }
}

fn transport_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

/// A transfer reference a caller was shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub reference: String,
    pub phone: String,
    pub kind: Kind,
}

/// An inbound SMS the crowd sent.
#[derive(Clone, Debug)]
pub struct SmsSent {
    pub id: String,
    pub from: String,
    pub kind: Kind,
}

/// What one caller measured and was told.
#[derive(Default)]
pub struct CallerStats {
    pub latencies: BTreeMap<&'static str, Latencies>,
    pub errors: BTreeMap<String, u64>,
    pub hops: u64,
    pub sessions: u64,
    pub completed: u64,
    pub abandoned: u64,
    pub refused: u64,
    pub registered: u64,
    pub retries: u64,
    pub wrong_pins: u64,
    pub events: u64,
    pub sms: Vec<SmsSent>,
    pub acks: Vec<Ack>,
    /// Every charge asked for and what became of it.
    pub charges: Vec<ChargeRecord>,
    /// Charges sent again after no answer (same key, same body).
    pub charge_resends: u64,
}

impl CallerStats {
    fn error(&mut self, crowd: &Crowd, kind: String) {
        crowd.errors.fetch_add(1, Ordering::Relaxed);
        *self.errors.entry(kind).or_default() += 1;
    }

    fn record(&mut self, hop_type: &'static str, us: u64) {
        self.hops += 1;
        self.latencies.entry(hop_type).or_default().record_us(us);
    }

    pub fn merge(&mut self, other: CallerStats) {
        for (k, v) in other.latencies {
            self.latencies.entry(k).or_default().merge(&v);
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.hops += other.hops;
        self.sessions += other.sessions;
        self.completed += other.completed;
        self.abandoned += other.abandoned;
        self.refused += other.refused;
        self.registered += other.registered;
        self.retries += other.retries;
        self.wrong_pins += other.wrong_pins;
        self.events += other.events;
        self.sms.extend(other.sms);
        self.acks.extend(other.acks);
        self.charges.extend(other.charges);
        self.charge_resends += other.charge_resends;
    }
}

/// Runs `plan` until the crowd's deadline.
pub async fn run_caller(crowd: Arc<Crowd>, mut plan: Plan) -> CallerStats {
    let mut st = CallerStats::default();
    while Instant::now() < crowd.deadline {
        let action = plan.next_action();
        st.wrong_pins += u64::from(action.wrong_pin);
        let ok = if action.kind == Kind::Charge {
            charge(&crowd, &action, &mut st).await
        } else if action.kind.is_sms() {
            sms(&crowd, &action, &mut st).await
        } else {
            session(&crowd, &action, &mut st).await
        };
        if !ok {
            // Do not spin while a node is down.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    st
}

fn hop_type(kind: Kind, step: usize, last: usize) -> &'static str {
    match (kind, step) {
        (_, 0) => "dial",
        (Kind::Register, _) => "register",
        (Kind::Send | Kind::Withdraw | Kind::Pay, s) if s == last => "pin_transfer",
        (Kind::Balance | Kind::Statement, s) if s == last => "pin_query",
        _ => "menu",
    }
}

/// One USSD session; false when it met an error.
async fn session(crowd: &Crowd, a: &Action, st: &mut CallerStats) -> bool {
    st.sessions += 1;
    let last = a.steps.len() - 1;
    let mut prefix = String::new();
    let (mut sent_text, mut last_reply, mut completed, mut ok) = (String::new(), String::new(), false, true);
    for (i, step) in a.steps.iter().enumerate() {
        if a.abandon_after == Some(i) {
            st.abandoned += 1;
            break;
        }
        let text = if step.is_empty() { String::new() } else { format!("{prefix}{step}") };
        let Some(body) = ussd_hop(crowd, a, &text, hop_type(a.kind, i, last), st).await else {
            ok = false;
            break;
        };
        if a.retry_step == Some(i) {
            st.retries += 1;
            if let Some(again) = ussd_hop(crowd, a, &text, hop_type(a.kind, i, last), st).await {
                if again != body {
                    st.error(crowd, "retry_mismatch".into());
                }
            }
        }
        sent_text = text;
        if i == 0 && body.contains(RESUME_OFFER) {
            // Start again (2): every later text carries that input first.
            prefix = "2*".into();
            if ussd_hop(crowd, a, "2", "menu", st).await.is_none() {
                ok = false;
                break;
            }
        }
        last_reply = body;
        if last_reply.starts_with("END") {
            completed = i == last;
            st.refused += u64::from(i != last);
            break;
        }
    }
    if completed {
        st.completed += 1;
        st.registered += u64::from(a.kind == Kind::Register);
        if a.kind.moves_money() && has_reference(&last_reply) {
            if let Some(reference) = find_reference(&last_reply) {
                crowd.acked.fetch_add(1, Ordering::Relaxed);
                st.acks.push(Ack { reference, phone: a.phone.clone(), kind: a.kind });
            }
        }
    }
    if a.end_event {
        let status = if completed { "Success" } else { "Incomplete" };
        event(crowd, a, status, &sent_text, &last_reply, st).await;
    }
    ok
}

/// One hop; `None` (and an error counted) unless mkoba answered 200 with
/// `CON`/`END`.
async fn ussd_hop(crowd: &Crowd, a: &Action, text: &str, kind: &'static str, st: &mut CallerStats) -> Option<String> {
    let phone = crate::msisdn::plus_e164(&a.phone);
    let form = [
        ("sessionId", a.id.as_str()),
        ("serviceCode", crowd.service_code.as_str()),
        ("phoneNumber", phone.as_str()),
        ("networkCode", crowd.network_code.as_str()),
        ("text", text),
    ];
    match crowd.post(crate::ussd::USSD_PATH, &form).await {
        Err(e) => {
            st.error(crowd, e);
            None
        }
        Ok((status, body, us)) => {
            st.record(kind, us);
            if status != 200 {
                st.error(crowd, format!("http_{status}"));
                None
            } else if !(body.starts_with("CON") || body.starts_with("END")) {
                st.error(crowd, "unexpected_body".into());
                None
            } else {
                Some(body)
            }
        }
    }
}

async fn event(crowd: &Crowd, a: &Action, status: &str, input: &str, last_reply: &str, st: &mut CallerStats) {
    let phone = crate::msisdn::plus_e164(&a.phone);
    let hops = (input.matches('*').count() + 1).to_string();
    let date = now_text();
    let form = [
        ("sessionId", a.id.as_str()),
        ("phoneNumber", phone.as_str()),
        ("status", status),
        ("hopsCount", hops.as_str()),
        ("input", input),
        ("durationInMillis", "4200"),
        ("cost", "KES 0.0000"),
        ("lastAppResponse", last_reply),
        ("errorMessage", ""),
        ("date", date.as_str()),
        ("serviceCode", crowd.service_code.as_str()),
        ("networkCode", crowd.network_code.as_str()),
    ];
    st.events += 1;
    match crowd.post("/webhooks/africastalking/ussd-events", &form).await {
        Ok((200, _, us)) => st.record("event", us),
        Ok((status, _, us)) => {
            st.record("event", us);
            st.error(crowd, format!("http_{status}"));
        }
        Err(e) => st.error(crowd, e),
    }
}

/// The form of SMS `id` from `phone` (E.164 digits) to `short_code`, as
/// Africa's Talking posts it to the SMS webhook.
pub fn inbound_sms_form(
    phone: &str,
    short_code: &str,
    text: &str,
    id: &str,
    network_code: &str,
) -> [(&'static str, String); 7] {
    [
        ("from", crate::msisdn::plus_e164(phone)),
        ("to", short_code.to_string()),
        ("text", text.to_string()),
        ("date", now_text()),
        ("id", id.to_string()),
        ("linkId", id.to_string()),
        ("networkCode", network_code.to_string()),
    ]
}

/// One inbound SMS (twice when the plan retries it); false on an error.
async fn sms(crowd: &Crowd, a: &Action, st: &mut CallerStats) -> bool {
    let fields = inbound_sms_form(&a.phone, &crowd.short_code, &a.steps[0], &a.id, &crowd.network_code);
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let times = if a.retry_step.is_some() { 2 } else { 1 };
    st.retries += u64::from(times == 2);
    let mut delivered = false;
    for _ in 0..times {
        match crowd.post("/webhooks/africastalking/sms", &form).await {
            Ok((200, _, us)) => {
                st.record("sms", us);
                delivered = true;
            }
            Ok((status, _, us)) => {
                st.record("sms", us);
                st.error(crowd, format!("http_{status}"));
            }
            Err(e) => st.error(crowd, e),
        }
    }
    if delivered {
        st.sms.push(SmsSent { id: a.id.clone(), from: a.phone.clone(), kind: a.kind });
    }
    delivered
}

/// What one charge request was answered.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ChargeAnswer {
    /// 201 with this reference.
    Charged(String),
    /// 422 with this error code: a rule refused it (nothing moved).
    Refused(String),
    /// No answer, or a 5xx: it may or may not have been made.
    NoAnswer,
    /// Any other answer (counted as an error).
    Unexpected,
}

/// One charge; false when it met an error. A charge that got no answer
/// is sent again with the same key and body until it gets one (for at most
/// [`CHARGE_RESEND_FOR`]): a 201 then is its acknowledgement. A charge the
/// plan retries is sent once more after its answer, and a 201 must be
/// answered with the same reference again.
async fn charge(crowd: &Crowd, a: &Action, st: &mut CallerStats) -> bool {
    let Some(ask) = &a.charge else { return true };
    let started = Instant::now();
    let mut answer = charge_once(crowd, a, ask, st).await;
    let ok = matches!(answer, ChargeAnswer::Charged(_) | ChargeAnswer::Refused(_));
    while answer == ChargeAnswer::NoAnswer && started.elapsed() < CHARGE_RESEND_FOR {
        tokio::time::sleep(CHARGE_RESEND_PAUSE).await;
        st.charge_resends += 1;
        answer = charge_once(crowd, a, ask, st).await;
    }
    if a.retry_step.is_some() && matches!(answer, ChargeAnswer::Charged(_) | ChargeAnswer::Refused(_)) {
        st.retries += 1;
        let again = charge_once(crowd, a, ask, st).await;
        match (&answer, &again) {
            (ChargeAnswer::Charged(first), ChargeAnswer::Charged(second)) if first == second => {}
            // The repeat was lost (a kill): it tells nothing.
            (ChargeAnswer::Charged(_), ChargeAnswer::NoAnswer) => {}
            (ChargeAnswer::Charged(_), _) => st.error(crowd, "retry_mismatch".into()),
            _ => {}
        }
        // A refusal is not stored: the repeat is asked afresh, and may go
        // through (the day turned, say). Then it is the answer.
        if matches!(answer, ChargeAnswer::Refused(_)) && matches!(again, ChargeAnswer::Charged(_)) {
            answer = again;
        }
    }
    let outcome = match answer {
        ChargeAnswer::Charged(reference) => {
            crowd.acked.fetch_add(1, Ordering::Relaxed);
            ChargeOutcome::Acked { reference }
        }
        ChargeAnswer::Refused(code) => ChargeOutcome::Refused { code },
        ChargeAnswer::NoAnswer | ChargeAnswer::Unexpected => ChargeOutcome::Unanswered,
    };
    st.charges.push(ChargeRecord {
        key: a.id.clone(),
        allowance_id: ask.allowance_id.clone(),
        customer: a.phone.clone(),
        till: ask.till.clone(),
        amount_minor: ask.amount_minor,
        outcome,
    });
    ok
}

/// `POST /api/v1/charges` on the next node with the action's key and body.
async fn charge_once(crowd: &Crowd, a: &Action, ask: &ChargeAsk, st: &mut CallerStats) -> ChargeAnswer {
    let Some((_, key)) = crowd.api_keys.iter().find(|(till, _)| *till == ask.till) else {
        st.error(crowd, "charge_no_api_key".into());
        return ChargeAnswer::Unexpected;
    };
    let node = crowd.next_node();
    let body = serde_json::json!({
        "allowance_id": ask.allowance_id,
        "amount_minor": ask.amount_minor,
        "description": a.steps[0],
    });
    crowd.sent.fetch_add(1, Ordering::Relaxed);
    let t0 = Instant::now();
    let sent = crowd
        .http
        .post(format!("{}/api/v1/charges", node.url))
        .bearer_auth(key)
        .header("Idempotency-Key", &a.id)
        .json(&body)
        .send()
        .await;
    let answered = match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            resp.text().await.map(|text| (status, text))
        }
        Err(e) => Err(e),
    };
    let (status, text) = match answered {
        Ok(answer) => answer,
        Err(e) => {
            st.error(crowd, format!("charge_{}", transport_kind(&e)));
            return ChargeAnswer::NoAnswer;
        }
    };
    st.record("charge", u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let field = |path: &[&str]| {
        let mut v = json.as_ref()?;
        for p in path {
            v = v.get(p)?;
        }
        v.as_str().map(str::to_string)
    };
    match status {
        201 => match field(&["reference"]) {
            Some(reference) => {
                node.served(ms_since(crowd.origin));
                ChargeAnswer::Charged(reference)
            }
            None => {
                st.error(crowd, "charge_unexpected_body".into());
                ChargeAnswer::Unexpected
            }
        },
        422 => {
            node.served(ms_since(crowd.origin));
            ChargeAnswer::Refused(field(&["error", "code"]).unwrap_or_else(|| "unknown".into()))
        }
        500..=599 => {
            st.error(crowd, format!("charge_http_{status}"));
            ChargeAnswer::NoAnswer
        }
        _ => {
            let code = field(&["error", "code"]).unwrap_or_default();
            st.error(crowd, format!("charge_http_{status}_{code}"));
            ChargeAnswer::Unexpected
        }
    }
}

/// The first transfer reference on a screen (see [`has_reference`]).
pub fn find_reference(screen: &str) -> Option<String> {
    screen
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|t| {
            t.len() == 10
                && t.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && t.bytes().any(|b| b.is_ascii_uppercase())
        })
        .map(str::to_string)
}

/// `2026-11-30 18:05:09`, as Africa's Talking writes dates.
fn now_text() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

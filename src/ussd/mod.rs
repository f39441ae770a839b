//! The USSD channel: sessions, the menu state machine, paging, and the
//! exactly-once commit of each hop.
//!
//! A hop is read (session, caller), worked out (menu step, PIN check off the
//! executor), then committed in one group-commit job that records the hop
//! only if no other request recorded it first, together with its effect. A
//! repeated hop (same session, same text) gets the stored reply.

pub mod events;
pub mod menu;
pub mod render;
pub mod session;

use crate::auth::PinHasher;
use crate::command;
use crate::config::Config;
use crate::domain::msisdn::mask_digits as mask;
use crate::domain::now_ms;
use crate::i18n::Catalog;
use crate::ledger::{AccountKey, AccountKind, Language, Ledger, LedgerError};
use crate::limits::sim_swap::SimSwapCheck;
use crate::notify::Notices;
use menu::{Caller, Ctx, Outcome, Reply, Screen};
use session::{HopRecord, SessionKey, TextMac};
use std::sync::Arc;

pub use crate::inbound::UssdRequest;

/// What handlers need, shared across requests.
pub struct Shared {
    pub notices: Arc<Notices>,
    pub ledger: Ledger,
    pub pins: PinHasher,
    pub catalog: Arc<Catalog>,
    pub config: Arc<Config>,
    pub mac: TextMac,
    /// Asks the operator's SIM Swap API before money leaves a customer.
    pub sim_swap: SimSwapCheck,
}

#[derive(Clone)]
pub struct Ussd {
    shared: Arc<Shared>,
}

/// Attempts when another request for the same session commits first.
const HOP_ATTEMPTS: usize = 3;
/// Inputs longer than this are not menu input: refuse before any work.
const INPUT_CHARS_MAX: usize = 64;

impl Ussd {
    pub fn new(
        ledger: Ledger,
        pins: PinHasher,
        catalog: Arc<Catalog>,
        config: Arc<Config>,
        notices: Arc<Notices>,
        sim_swap: SimSwapCheck,
    ) -> Ussd {
        let mac = TextMac::new(config.pin.pepper.expose());
        Ussd { shared: Arc::new(Shared { notices, ledger, pins, catalog, config, mac, sim_swap }) }
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The response body for a hop: `CON …` or `END …`, never an error.
    ///
    /// The hop runs as a task of its own: if it is not done within
    /// `ussd.deadline_ms`, the caller is told it is processing and will get
    /// an SMS, and the task finishes the work (see [`events::Deadline`]).
    pub async fn handle(&self, req: UssdRequest) -> String {
        let deadline = Arc::new(events::Deadline::default());
        let (this, task_req, task_deadline) = (self.clone(), req.clone(), deadline.clone());
        let mut task = tokio::spawn(async move { this.try_handle(&task_req, &task_deadline).await });
        let limit = std::time::Duration::from_millis(self.shared.config.ussd.deadline_ms.max(1));
        let result = match tokio::time::timeout(limit, &mut task).await {
            Ok(joined) => joined,
            Err(_) if deadline.give_up() => {
                tracing::warn!(session = %req.session_id, deadline_ms = limit.as_millis() as u64, "ussd hop past its deadline");
                return processing_reply(&self.shared.catalog);
            }
            // Its commit already claimed the answer: it is about to finish.
            Err(_) => task.await,
        };
        match result {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                tracing::error!(error = %e, session = %req.session_id, "ussd hop failed");
                format!("END {}", self.shared.catalog.text(Language::En, "err_unavailable", &[]))
            }
            Err(e) => {
                tracing::error!(error = %e, session = %req.session_id, "ussd hop task failed");
                format!("END {}", self.shared.catalog.text(Language::En, "err_unavailable", &[]))
            }
        }
    }

    async fn try_handle(&self, req: &UssdRequest, deadline: &Arc<events::Deadline>) -> Result<String, LedgerError> {
        let shared = &self.shared;
        let config = &shared.config;
        if !config.service_code.contains(&req.service_code) {
            let text =
                shared.catalog.text(Language::En, "err_service_code", &[("code", config.service_code.primary())]);
            return Ok(format!("END {text}"));
        }
        let key = SessionKey { aggregator: req.aggregator.to_string(), session_id: req.session_id.clone() };
        let mac = shared.mac.of(&req.text);
        for _ in 0..HOP_ATTEMPTS {
            // SQLite: one trip to the writer reads the session and the caller
            // and, when the step needs no lookup or PIN, works it out and
            // commits it there. PostgreSQL: reads are network round trips, so
            // they run in parallel on the pool, not one after another on the
            // writer.
            let (job_shared, job_key, job_req, job_mac) = (self.shared.clone(), key.clone(), req.clone(), mac.clone());
            let job_deadline = deadline.clone();
            let look = if shared.ledger.is_sqlite() {
                let first = shared
                    .ledger
                    .write(move |conn| quick_hop(conn, &job_shared, &job_key, &job_req, &job_mac, &job_deadline))
                    .await?;
                match first {
                    Quick::Done(body) => return Ok(body),
                    Quick::Conflict => continue,
                    Quick::Slow(look) => look,
                }
            } else {
                match shared.ledger.read(move |conn| look(conn, &job_shared, &job_key, &job_req, &job_mac)).await? {
                    Err(body) => return Ok(body),
                    Ok(look) => Box::new(look),
                }
            };
            // A lookup, a PIN check or a hash: done here, off the writer.
            let hop_key = format!("ussd:{}:{}:{mac}", key.aggregator, key.session_id);
            let ctx =
                Ctx { shared, caller: &look.caller, lang: look.lang, source: req.source.as_deref(), hop_key: &hop_key };
            let outcome = match sync_outcome(&ctx, &look, &req.text) {
                Some(outcome) => outcome,
                None => match &look.session {
                    None => first_hop(&ctx, &split_inputs(&req.text)).await?,
                    Some(s) => menu::advance(&ctx, &s.screen(), &look.input).await?,
                },
            };
            let (env, hop) = hop_parts(shared, &key, req, &look, &outcome, &mac);
            let prev_hops = look.session.as_ref().map(|s| s.hop_count);
            let (job_key, catalog, job_deadline) = (key.clone(), shared.catalog.clone(), deadline.clone());
            let saved = shared
                .ledger
                .write(move |conn| commit_hop(conn, &job_key, prev_hops, &hop, &outcome, &env, &catalog, &job_deadline))
                .await?;
            if let Some(body) = saved {
                return Ok(body);
            }
            // Another request for this session committed first: look again.
        }
        Err(LedgerError::Internal("session kept changing under this hop".into()))
    }
}

/// What a hop found: its session, its caller, and the newest input.
struct Look {
    session: Option<session::SessionRow>,
    caller: Caller,
    lang: Language,
    input: String,
    /// A dropped session this caller may continue: its id and screen.
    resume: Option<(String, Screen)>,
}

enum Quick {
    /// The reply, committed (or a stored one for a repeated hop).
    Done(String),
    /// Another request recorded this hop first.
    Conflict,
    /// The step needs async work; here is what was read.
    Slow(Box<Look>),
}

fn split_inputs(text: &str) -> Vec<&str> {
    if text.is_empty() {
        Vec::new()
    } else {
        text.split('*').collect()
    }
}

/// Runs inside a writer job: reads the hop's state, answers repeated and
/// expired hops, and commits synchronous steps (menu choices, navigation,
/// names, amounts) in the same transaction.
fn quick_hop(
    conn: &mut crate::db::DbConn,
    shared: &Shared,
    key: &SessionKey,
    req: &UssdRequest,
    mac: &str,
    deadline: &events::Deadline,
) -> Result<Quick, LedgerError> {
    let look = match look(conn, shared, key, req, mac)? {
        Ok(look) => look,
        Err(body) => return Ok(Quick::Done(body)),
    };
    // Synchronous steps check no PIN: no hop key needed.
    let ctx = Ctx { shared, caller: &look.caller, lang: look.lang, source: req.source.as_deref(), hop_key: "" };
    let Some(outcome) = sync_outcome(&ctx, &look, &req.text) else {
        return Ok(Quick::Slow(Box::new(look)));
    };
    let (env, hop) = hop_parts(shared, key, req, &look, &outcome, mac);
    let prev_hops = look.session.as_ref().map(|s| s.hop_count);
    Ok(match commit_hop(conn, key, prev_hops, &hop, &outcome, &env, &shared.catalog, deadline)? {
        Some(body) => Quick::Done(body),
        None => Quick::Conflict,
    })
}

/// Reads what a hop needs. `Err` carries the whole answer when there is
/// nothing to work out: a repeated hop, or an ended or expired session.
fn look(
    conn: &mut crate::db::DbConn,
    shared: &Shared,
    key: &SessionKey,
    req: &UssdRequest,
    mac: &str,
) -> Result<Result<Look, String>, LedgerError> {
    let config = &shared.config;
    let session = session::load(conn, key)?;
    if let Some(s) = &session {
        if s.last_mac == mac {
            return Ok(Err(s.last_reply.clone()));
        }
        let idle_ms = now_ms() - s.updated_at_ms;
        let timeout_ms = i64::try_from(config.ussd.session_timeout_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        if s.ended == 1 || idle_ms > timeout_ms || s.msisdn != req.msisdn.as_str() {
            let lang = s.language;
            let text = shared.catalog.text(lang, "err_session", &[("code", config.service_code.primary())]);
            return Ok(Err(format!("END {text}")));
        }
    }
    let account = crate::ledger::account::find(conn, &AccountKey::Msisdn(req.msisdn.clone()))?;
    let preferred = match (&account, &session) {
        (None, None) => command::prefs::preferred_language(conn, req.msisdn.as_str())?,
        _ => None,
    };
    let caller = match account {
        Some(a) if a.kind == AccountKind::Agent => Caller::Agent(a),
        Some(a) if a.kind == AccountKind::Customer => Caller::Customer(a),
        _ => Caller::Unregistered(req.msisdn.clone()),
    };
    let lang = caller
        .account()
        .map(|a| a.language)
        .or_else(|| session.as_ref().map(|s| s.language))
        .or_else(|| preferred.as_deref().and_then(Language::parse))
        .unwrap_or(Language::En);
    let input = match &session {
        Some(s) => {
            session::latest_input(&req.text, usize::try_from(s.inputs_seen).unwrap_or(0), &s.last_mac, &shared.mac)
        }
        None => String::new(),
    };
    // A caller back within the resume window after a dropped session.
    let resume = match (&session, req.text.is_empty(), &caller) {
        (None, true, Caller::Customer(a) | Caller::Agent(a)) if a.status == crate::ledger::AccountStatus::Active => {
            let window_ms = i64::try_from(config.ussd.resume_window_s.saturating_mul(1000)).unwrap_or(i64::MAX);
            events::resumable(conn, &key.aggregator, req.msisdn.as_str(), now_ms().saturating_sub(window_ms))?
        }
        _ => None,
    };
    Ok(Ok(Look { session, caller, lang, input, resume }))
}

/// What committing a hop needs besides its outcome.
fn hop_parts(
    shared: &Shared,
    key: &SessionKey,
    req: &UssdRequest,
    look: &Look,
    outcome: &Outcome,
    mac: &str,
) -> (command::Env, HopRecord) {
    let config = &shared.config;
    let env = command::Env::new(
        shared.ledger.settings_arc(),
        shared.catalog.clone(),
        config,
        shared.notices.clone(),
        req.msisdn.to_string(),
        look.caller.account(),
        look.lang,
        format!("ussd:{}:{}", key.aggregator, key.session_id),
    );
    let hop = HopRecord {
        msisdn: req.msisdn.to_string(),
        language: look.lang.as_str().to_string(),
        screen: outcome.next.clone(),
        inputs_seen: i32::try_from(split_inputs(&req.text).len()).unwrap_or(i32::MAX),
        mac: mac.to_string(),
        reply: String::new(),
        ended: false,
        now_ms: now_ms(),
    };
    (env, hop)
}

/// The outcome of a hop when it needs no lookup, PIN check or hashing.
fn sync_outcome(ctx: &Ctx<'_>, look: &Look, text: &str) -> Option<Outcome> {
    if let (None, Some((from, screen))) = (&look.session, &look.resume) {
        let offer = Screen::Resume { from: from.clone(), dropped: Box::new(screen.clone()) };
        return Some(Outcome { reply: Reply::Con(ctx.prompt(&offer)), next: offer, effect: None });
    }
    match &look.session {
        None => first_hop_sync(ctx, &split_inputs(text)),
        // Longer than any menu input: refused before any work.
        Some(s) if look.input.chars().count() > INPUT_CHARS_MAX => Some(Outcome {
            next: s.screen(),
            reply: Reply::Con(format!("{}\n{}", ctx.t("invalid_choice", &[]), ctx.prompt(&s.screen()))),
            effect: None,
        }),
        Some(s) => menu::advance_sync(ctx, &s.screen(), &look.input),
    }
}

/// [`first_hop`] when every input is a synchronous step.
fn first_hop_sync(ctx: &Ctx<'_>, inputs: &[&str]) -> Option<Outcome> {
    let mut outcome = ctx.home();
    for input in inputs {
        if outcome.effect.is_some() || matches!(outcome.reply, Reply::End(_)) {
            break;
        }
        outcome = menu::advance_sync(ctx, &outcome.next, input)?;
    }
    Some(outcome)
}

/// The first hop shows the home screen. If the aggregator's text already
/// holds inputs (a hop we never saw), they are applied in order.
async fn first_hop(ctx: &Ctx<'_>, inputs: &[&str]) -> Result<Outcome, LedgerError> {
    let mut outcome = ctx.home();
    for input in inputs {
        if outcome.effect.is_some() || matches!(outcome.reply, Reply::End(_)) {
            break;
        }
        outcome = menu::advance(ctx, &outcome.next, input).await?;
    }
    Ok(outcome)
}

/// Records the hop and applies its effect in the same transaction. `None`
/// when another request recorded this hop first (nothing is changed then).
/// Past the deadline, the hop's reply is "processing" and its real outcome
/// goes to the caller by SMS, in the same transaction.
#[allow(clippy::too_many_arguments)]
fn commit_hop(
    conn: &mut crate::db::DbConn,
    key: &SessionKey,
    prev_hops: Option<i32>,
    hop: &HopRecord,
    outcome: &Outcome,
    env: &command::Env,
    catalog: &Catalog,
    deadline: &events::Deadline,
) -> Result<Option<String>, LedgerError> {
    let mut hop = hop.clone();
    if let Screen::Resume { from, .. } = &outcome.next {
        events::mark_offered(conn, &key.aggregator, from)?;
    }
    let Some(effect) = &outcome.effect else {
        // Most hops: one conditional write.
        let more = catalog.text(env.lang, "more", &[]);
        (hop.screen, hop.reply, hop.ended) = finish(outcome.next.clone(), outcome.reply.clone(), &more);
        late(conn, key, &mut hop, catalog, deadline)?;
        return Ok(session::save(conn, key, prev_hops, &hop)?.then_some(hop.reply));
    };
    // Claim the hop before the effect, so the effect runs at most once.
    if !session::save(conn, key, prev_hops, &hop)? {
        return Ok(None);
    }
    let done = command::apply(conn, env, effect)?;
    let lang = done.language.unwrap_or(env.lang);
    // Long answers (a statement) are paged by `finish`.
    let (next, reply) = match done.next {
        command::Next::End => (Screen::Start, Reply::End(done.text)),
        command::Next::AskNewPin => (Screen::PinNew, Reply::Con(done.text)),
    };
    hop.language = lang.as_str().to_string();
    let more = catalog.text(lang, "more", &[]);
    (hop.screen, hop.reply, hop.ended) = finish(next, reply, &more);
    late(conn, key, &mut hop, catalog, deadline)?;
    session::update_reply(conn, key, &hop)?;
    Ok(Some(hop.reply))
}

/// If the caller was already told "processing", the hop's reply becomes
/// that (a replay gets the same) and a final answer goes out by SMS.
fn late(
    conn: &mut crate::db::DbConn,
    key: &SessionKey,
    hop: &mut HopRecord,
    catalog: &Catalog,
    deadline: &events::Deadline,
) -> Result<(), LedgerError> {
    if deadline.claim_in_time() {
        return Ok(());
    }
    if let Some(text) = hop.reply.strip_prefix("END ").filter(|_| hop.ended) {
        let dedupe = format!("ussd-late:{}:{}:{}", key.aggregator, key.session_id, hop.inputs_seen);
        let message = crate::notify::outbox::NewMessage::sms(&hop.msisdn, text.to_string(), Some(dedupe));
        crate::notify::outbox::enqueue(conn, &message, hop.now_ms)?;
    }
    hop.reply = processing_reply(catalog);
    hop.screen = Screen::Start;
    hop.ended = true;
    Ok(())
}

/// "Processing, you will get an SMS": the same words in every language, so
/// that a replay of the hop gets exactly what the first request got.
fn processing_reply(catalog: &Catalog) -> String {
    format!("END {}", catalog.text(Language::En, "processing_sms", &[]))
}

/// Fits a reply to the screen budget: long content becomes pages.
fn finish(next: Screen, reply: Reply, more: &str) -> (Screen, String, bool) {
    match reply {
        Reply::Con(text) => {
            let pages = render::paginate("CON ", &text, more, "CON ");
            if pages.len() == 1 {
                return (next, format!("CON {}", render::clamp("CON ", &text)), false);
            }
            let first = pages[0].clone();
            (Screen::Paged { pages, index: 0, then: Some(Box::new(next)) }, format!("CON {first}"), false)
        }
        Reply::End(text) => {
            let pages = render::paginate("CON ", &text, more, "END ");
            if pages.len() == 1 {
                return (next, format!("END {}", render::clamp("END ", &text)), true);
            }
            let first = pages[0].clone();
            (Screen::Paged { pages, index: 0, then: None }, format!("CON {first}"), false)
        }
    }
}

/// The aggregator's text with every digit run of 4 or more masked: PINs,
/// amounts and phone numbers never reach a log line.
pub fn redact_text(text: &str) -> String {
    text.split('*')
        .map(|part| {
            if part.len() >= 4 && part.bytes().any(|b| b.is_ascii_digit()) {
                if part.len() >= 9 {
                    mask(part)
                } else {
                    "****".to_string()
                }
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_pins_and_numbers() {
        assert_eq!(redact_text("1*0712345678*100*1357"), "1*0712**5678*100*****");
        assert_eq!(redact_text(""), "");
        assert!(!redact_text("4*2*2468").contains("2468"));
    }
}

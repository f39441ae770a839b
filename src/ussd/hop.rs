//! Reading and working out a hop: its session and caller, repeated and
//! expired hops, the synchronous steps committed on the writer, and the
//! first hop of a session (which may carry inputs we never saw).

use super::menu::{self, Caller, Ctx, Outcome, Reply, Screen};
use super::session::{self, HopRecord, SessionKey};
use super::{commit, events, Shared, UssdRequest, INPUT_CHARS_MAX};
use crate::command;
use crate::domain::now_ms;
use crate::ledger::{AccountKey, AccountKind, Language, LedgerError};

/// What a hop found: its session, its caller, and the newest input.
pub(super) struct Look {
    pub(super) session: Option<session::SessionRow>,
    pub(super) caller: Caller,
    pub(super) lang: Language,
    pub(super) input: String,
    /// A dropped session this caller may continue: its id and screen.
    pub(super) resume: Option<(String, Screen)>,
}

pub(super) enum Quick {
    /// The reply, committed (or a stored one for a repeated hop).
    Done(String),
    /// Another request recorded this hop first.
    Conflict,
    /// The step needs async work; here is what was read.
    Slow(Box<Look>),
}

pub(super) fn split_inputs(text: &str) -> Vec<&str> {
    if text.is_empty() {
        Vec::new()
    } else {
        text.split('*').collect()
    }
}

/// Runs inside a writer job: reads the hop's state, answers repeated and
/// expired hops, and commits synchronous steps (menu choices, navigation,
/// names, amounts) in the same transaction.
pub(super) fn quick_hop(
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
    Ok(match commit::commit_hop(conn, key, prev_hops, &hop, &outcome, &env, &shared.catalog, deadline)? {
        Some(body) => Quick::Done(body),
        None => Quick::Conflict,
    })
}

/// Reads what a hop needs. `Err` carries the whole answer when there is
/// nothing to work out: a repeated hop, or an ended or expired session.
pub(super) fn look(
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
pub(super) fn hop_parts(
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
pub(super) fn sync_outcome(ctx: &Ctx<'_>, look: &Look, text: &str) -> Option<Outcome> {
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
pub(super) async fn first_hop(ctx: &Ctx<'_>, inputs: &[&str]) -> Result<Outcome, LedgerError> {
    let mut outcome = ctx.home();
    for input in inputs {
        if outcome.effect.is_some() || matches!(outcome.reply, Reply::End(_)) {
            break;
        }
        outcome = menu::advance(ctx, &outcome.next, input).await?;
    }
    Ok(outcome)
}

//! What a request changes, applied inside the channel's write transaction
//! (a USSD hop, an inbound SMS) so that the channel's record, the PIN
//! counter and the money move together or not at all. The answer is a
//! channel-neutral [`Outcome`]: words in the caller's language and what
//! comes next; each channel shapes it (a screen, an SMS).

use super::{Flow, Party};
use crate::auth::lockout::{self, Ticket};
use crate::db::DbConn;
use crate::domain::{now_ms, Money};
use crate::i18n::Catalog;
use crate::ledger::{
    account, holds, statement, transfer, AccountId, Language, LedgerError, NewAccount, Receipt, Settings,
    TransferRequest,
};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Effect {
    SetLanguage(Language),
    Register {
        name: String,
        id_number: String,
        pin_hash: String,
    },
    Transfer {
        flow: Flow,
        to: Party,
        amount_minor: i64,
    },
    /// A reserved PIN check turned out wrong.
    PinFailed {
        ticket: Ticket,
    },
    /// A reserved PIN check turned out right: settle it, then do `then`.
    PinRight {
        ticket: Ticket,
        then: Box<Effect>,
    },
    Balance,
    /// The last `limit` transfers, one a line, lines joined by `joined_by`.
    Statement {
        limit: i64,
        joined_by: &'static str,
    },
    /// The old PIN was right: clear the failure count and ask for a new one.
    PinOkThenNewPin,
    ChangePin {
        pin_hash: String,
    },
    /// Approve the caller's pending payment request (it is paid, once) or
    /// allowance (it becomes chargeable). Reached through `PinRight`.
    Approve {
        approval_id: i64,
    },
    /// Decline the caller's pending payment request or allowance (no PIN).
    Decline {
        approval_id: i64,
    },
    /// Revoke the caller's allowance (no PIN: revoking only protects them).
    Revoke {
        approval_id: i64,
    },
    /// Revoke every allowance of the caller's for this till (no PIN).
    StopTill {
        till: Party,
    },
}

impl Effect {
    /// Whether the effect lets money leave the caller (now, or later
    /// without a PIN).
    pub fn moves_money(&self) -> bool {
        matches!(self, Effect::Transfer { .. } | Effect::Approve { .. })
    }
}

/// Everything an effect needs, owned so it can run on the writer thread.
#[derive(Clone)]
pub struct Env {
    pub settings: Arc<Settings>,
    pub catalog: Arc<Catalog>,
    pub max_attempts: u32,
    pub service_code: String,
    pub msisdn: String,
    pub account: Option<AccountId>,
    pub is_agent: bool,
    pub lang: Language,
    /// One transfer per session, whatever arrives later.
    pub idempotency_key: String,
    pub pin_length: usize,
    pub notices: Arc<crate::notify::Notices>,
}

impl Env {
    /// The environment of one request by `msisdn` (`account` if registered),
    /// whose transfer, if any, is idempotent under `idempotency_key`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: Arc<Settings>,
        catalog: Arc<Catalog>,
        config: &crate::config::Config,
        notices: Arc<crate::notify::Notices>,
        msisdn: String,
        account: Option<&crate::ledger::Account>,
        lang: Language,
        idempotency_key: String,
    ) -> Env {
        Env {
            settings,
            catalog,
            max_attempts: config.pin.max_attempts,
            service_code: config.service_code.primary().to_string(),
            msisdn,
            account: account.map(|a| a.id),
            is_agent: account.is_some_and(|a| a.kind == crate::ledger::AccountKind::Agent),
            lang,
            idempotency_key,
            pin_length: config.pin.length,
            notices,
        }
    }

    pub(super) fn t(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.catalog.text(self.lang, key, args)
    }

    pub(super) fn money(&self, minor: i64) -> String {
        self.settings.currency.show(minor)
    }

    pub(super) fn end(&self, key: &str, args: &[(&str, &str)]) -> Outcome {
        Outcome::end(self.t(key, args))
    }
}

/// What comes after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing: the exchange is over.
    End,
    /// The old PIN was right: the caller now chooses a new one.
    AskNewPin,
}

/// The answer to a request, before any channel shapes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// In the caller's language (the new one after a language change).
    pub text: String,
    pub next: Next,
    /// Set when the caller changed their language.
    pub language: Option<Language>,
    /// A transfer completed (or was held): its receipts, rendered from the
    /// journal, tell both parties.
    pub completed: bool,
}

impl Outcome {
    pub(super) fn end(text: String) -> Outcome {
        Outcome { text, next: Next::End, language: None, completed: false }
    }
}

/// Applies the effect; refusals become answers, only failures are errors.
pub fn apply(conn: &mut DbConn, env: &Env, effect: &Effect) -> Result<Outcome, LedgerError> {
    if let Effect::SetLanguage(lang) = effect {
        match env.account {
            Some(id) => lockout::set_language(conn, id, lang.as_str())?,
            None => super::prefs::set_preferred_language(conn, &env.msisdn, lang.as_str(), now_ms())?,
        }
        let text = env.catalog.text(*lang, "lang_set", &[]);
        return Ok(Outcome { language: Some(*lang), ..Outcome::end(text) });
    }
    if let Effect::Register { name, id_number, pin_hash } = effect {
        return register(conn, env, name, id_number, pin_hash);
    }
    let Some(me) = env.account else {
        return Ok(env.end("err_unavailable", &[]));
    };
    if let Effect::PinFailed { ticket } = effect {
        env.settings.metrics.pin_failure();
        let wrong = lockout::settle_wrong(conn, ticket, env.max_attempts)?;
        if wrong.locked_now {
            // One lock, one notice: only the wrong PIN that locked sends it.
            env.notices.account_locked(conn, &env.msisdn, env.lang, wrong.failures, ticket.number)?;
        }
        if wrong.locked {
            return Ok(env.end("err_locked", &[]));
        }
        return Ok(env.end("err_wrong_pin", &[("left", &wrong.left.to_string())]));
    }
    if let Effect::PinRight { ticket, then } = effect {
        // Locked while the PIN was checked: answered as any locked account.
        if !lockout::settle_right(conn, ticket)? {
            return Ok(env.end("err_locked", &[]));
        }
        return apply(conn, env, then);
    }
    // Every other effect is reached through `PinRight`, but for declining,
    // revoking and stopping, which need no PIN.
    match effect {
        Effect::PinOkThenNewPin => {
            let len = env.pin_length.to_string();
            let text = format!("{}\n{}", env.t("pin_new", &[("len", &len)]), env.t("back", &[]));
            Ok(Outcome { next: Next::AskNewPin, ..Outcome::end(text) })
        }
        Effect::ChangePin { pin_hash } => {
            lockout::set_pin_hash(conn, me, pin_hash)?;
            Ok(env.end("pin_changed", &[]))
        }
        Effect::Balance => {
            let balance = account::find_by_id(conn, me)?.map_or(0, |a| a.balance_minor);
            let key = if env.is_agent { "float_balance" } else { "balance" };
            Ok(env.end(key, &[("balance", &env.money(balance))]))
        }
        Effect::Statement { limit, joined_by } => {
            let text = statement_text(conn, env, me, *limit, joined_by)?;
            Ok(Outcome::end(text.unwrap_or_else(|| env.t("statement_empty", &[]))))
        }
        Effect::Transfer { flow, to, amount_minor } => transfer_reply(conn, env, me, *flow, to, *amount_minor),
        Effect::Approve { .. } | Effect::Decline { .. } | Effect::Revoke { .. } | Effect::StopTill { .. } => {
            super::approvals::apply(conn, env, me, effect)
        }
        Effect::SetLanguage(_) | Effect::Register { .. } | Effect::PinFailed { .. } | Effect::PinRight { .. } => {
            Ok(env.end("err_unavailable", &[]))
        }
    }
}

/// A caller registers themselves: a basic-tier customer, the ID not yet
/// verified.
fn register(conn: &mut DbConn, env: &Env, name: &str, id_number: &str, pin_hash: &str) -> Result<Outcome, LedgerError> {
    let msisdn = crate::domain::Msisdn::from_stored(env.msisdn.clone());
    let new = NewAccount::customer(&msisdn, name, "basic", Some(pin_hash.to_string()))
        .with_id_number(Some(id_number.to_string()))
        .with_language(env.lang);
    Ok(match nested(conn, |c| account::insert(c, &new)) {
        Ok(_) => {
            env.notices.registered(conn, &env.msisdn, name, env.lang)?;
            env.end("reg_done", &[("name", name), ("code", &env.service_code)])
        }
        Err(LedgerError::DuplicateAccount(_)) => env.end("err_already_registered", &[]),
        Err(e) => return Err(e),
    })
}

/// Runs `f` in a savepoint of its own, so a refused transfer undoes only itself.
pub(super) fn nested<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    conn.begin_nested()?;
    match f(conn) {
        Ok(v) => {
            conn.commit()?;
            Ok(v)
        }
        Err(e) => {
            conn.rollback()?;
            Err(e)
        }
    }
}

fn transfer_reply(
    conn: &mut DbConn,
    env: &Env,
    me: AccountId,
    flow: Flow,
    to: &Party,
    amount_minor: i64,
) -> Result<Outcome, LedgerError> {
    let amount = Money::from_minor(amount_minor).map_err(|e| LedgerError::Internal(e.to_string()))?;
    let req = TransferRequest {
        idempotency_key: env.idempotency_key.clone(),
        kind: flow.kind(),
        from: me,
        to: AccountId(to.id),
        amount,
        guard: None,
        client_hash: None,
        api_key: None,
    };
    let result = nested(conn, |c| transfer::apply(c, &env.settings, &req));
    env.settings.metrics.transfer(req.kind.as_str(), &result);
    match result {
        Ok(receipt) => done_reply(conn, env, me, flow, to, &receipt),
        Err(e) => refused(conn, env, me, &req, to, e),
    }
}

/// The answer to a posted transfer: done (its receipts tell both
/// parties), or held for review.
pub(super) fn done_reply(
    conn: &mut DbConn,
    env: &Env,
    me: AccountId,
    flow: Flow,
    to: &Party,
    receipt: &Receipt,
) -> Result<Outcome, LedgerError> {
    let done = |outcome: Outcome| Outcome { completed: true, ..outcome };
    if receipt.held_rule.is_some() {
        return Ok(done(env.end(
            "held_review",
            &[("amount", &env.money(receipt.amount_minor)), ("name", &to.name), ("ref", &receipt.reference)],
        )));
    }
    let balance = match receipt.from.balance_after_minor {
        Some(b) => b,
        None => account::find_by_id(conn, me)?.map_or(0, |a| a.balance_minor),
    };
    Ok(done(env.end(
        flow.done(),
        &[
            ("amount", &env.money(receipt.amount_minor)),
            ("name", &to.name),
            ("ref", &receipt.reference),
            ("fee", &env.money(receipt.fee_minor)),
            ("balance", &env.money(balance)),
        ],
    )))
}

/// The answer to a transfer the ledger refused (it moved nothing); only
/// failures are errors.
pub(super) fn refused(
    conn: &mut DbConn,
    env: &Env,
    me: AccountId,
    req: &TransferRequest,
    to: &Party,
    e: LedgerError,
) -> Result<Outcome, LedgerError> {
    match e {
        LedgerError::Db(e) => Err(LedgerError::Db(e)),
        LedgerError::RuleDeclined { rule } => {
            // It moved nothing, but the rule that fired is kept (and alerted).
            holds::record_decline(conn, req, &rule)?;
            env.settings.metrics.decline(&rule);
            let key = if rule == crate::limits::velocity::SIM_SWAP { "err_sim_swap" } else { "err_rule_declined" };
            Ok(env.end(key, &[]))
        }
        refusal => Ok(refusal_reply(conn, env, me, to, &refusal)),
    }
}

fn refusal_reply(conn: &mut DbConn, env: &Env, me: AccountId, to: &Party, e: &LedgerError) -> Outcome {
    match e {
        LedgerError::InsufficientFunds { .. } => {
            let balance = account::find_by_id(conn, me).ok().flatten().map_or(0, |a| a.balance_minor);
            env.end("err_insufficient", &[("balance", &env.money(balance))])
        }
        LedgerError::OverTransferLimit { max_minor, .. } => {
            env.end("err_over_transfer_limit", &[("max", &env.money(*max_minor))])
        }
        LedgerError::OverDailyLimit { remaining_minor, .. } => {
            env.end("err_over_daily_limit", &[("remaining", &env.money(*remaining_minor))])
        }
        LedgerError::ReceiverOverBalanceLimit { .. } => env.end("err_receiver_limit", &[("name", &to.name)]),
        LedgerError::AmountOutsideTariff { max_minor } => {
            env.end("err_amount_too_large", &[("max", &env.money(*max_minor))])
        }
        LedgerError::AccountNotActive { who, .. } if *who == env.msisdn => env.end("err_not_active", &[]),
        LedgerError::AccountNotActive { .. } => env.end("err_counterparty_inactive", &[("name", &to.name)]),
        LedgerError::SelfTransfer => env.end("err_self", &[]),
        _ => env.end("err_unavailable", &[]),
    }
}

/// A mini statement: the title, then one line per transfer joined by `separator`
/// (a line break on a USSD screen, `; ` in an SMS). `None` when there is none.
pub fn statement_text(
    conn: &mut DbConn,
    env: &Env,
    me: AccountId,
    limit: i64,
    separator: &str,
) -> Result<Option<String>, LedgerError> {
    let lines = statement::statement(conn, me, limit)?;
    if lines.is_empty() {
        return Ok(None);
    }
    let mut text = env.t("statement_title", &[]);
    for line in lines {
        let key = if line.net_minor >= 0 { "stmt_in" } else { "stmt_out" };
        let date = crate::domain::time::day_month(line.created_at_ms, env.settings.day_utc_offset_minutes);
        text.push_str(separator);
        text.push_str(&env.t(
            key,
            &[
                ("date", &date),
                ("ref", &line.reference),
                ("amount", &env.money(line.net_minor.abs())),
                ("name", &line.counterparty),
            ],
        ));
    }
    Ok(Some(text))
}

//! The SMS channel: inbound commands answered by outbound SMS. Each inbound
//! id is handled once: the id is recorded in the same transaction as the
//! command's effect and its reply.

pub mod grammar;

use crate::auth::PinHasher;
use crate::command::lookup;
use crate::command::pin::{self, Checker};
use crate::command::{self as core, Effect, Flow};
use crate::config::Config;
use crate::domain::{now_ms, Money, Pin, PinError};
use crate::i18n::Catalog;
use crate::ledger::{Account, AccountKey, AccountKind, AccountStatus, Language, Ledger, LedgerError};
use crate::limits::sim_swap::SimSwapCheck;
use crate::notify::outbox::{self, NewMessage};
use crate::notify::Notices;
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use grammar::Command;
use std::sync::Arc;

pub use crate::inbound::InboundSms;

#[derive(Clone)]
pub struct SmsService {
    inner: Arc<Inner>,
}

struct Inner {
    ledger: Ledger,
    pins: PinHasher,
    catalog: Arc<Catalog>,
    config: Arc<Config>,
    notices: Arc<Notices>,
    sim_swap: SimSwapCheck,
}

/// What to do once the inbound id is claimed.
enum Action {
    Reply(String),
    Effect(Effect),
}

impl SmsService {
    pub fn new(
        ledger: Ledger,
        pins: PinHasher,
        catalog: Arc<Catalog>,
        config: Arc<Config>,
        notices: Arc<Notices>,
        sim_swap: SimSwapCheck,
    ) -> SmsService {
        SmsService { inner: Arc::new(Inner { ledger, pins, catalog, config, notices, sim_swap }) }
    }

    /// Handles an inbound SMS; `false` when this id was handled before.
    pub async fn handle(&self, sms: InboundSms) -> Result<bool, LedgerError> {
        let inner = &self.inner;
        let (agg, id, from) = (sms.aggregator, sms.id.clone(), sms.from.clone());
        let (seen, account) = inner
            .ledger
            .read(move |conn| {
                Ok((already_seen(conn, agg, &id)?, crate::ledger::account::find(conn, &AccountKey::Msisdn(from))?))
            })
            .await?;
        if seen {
            return Ok(false);
        }
        let lang = account.as_ref().map_or(Language::En, |a| a.language);
        let request = grammar::parse(&sms.text);
        let action = self.decide(&request, account.as_ref(), lang, &sms).await?;
        let env = core::Env::new(
            inner.ledger.settings_arc(),
            inner.catalog.clone(),
            &inner.config,
            inner.notices.clone(),
            sms.from.to_string(),
            account.as_ref(),
            lang,
            format!("sms:{}:{}", sms.aggregator, sms.id),
        );
        let (aggregator, id, to) = (sms.aggregator, sms.id.clone(), sms.from.to_string());
        // With sms.reply_from_inbound_to the reply goes from the code the
        // customer texted, with its linkId: the reply the aggregator expects.
        let (reply_from, link_id) = if inner.config.sms.reply_from_inbound_to {
            (sms.to.clone(), sms.link_id.clone())
        } else {
            (String::new(), String::new())
        };
        inner
            .ledger
            .write(move |conn| {
                let now = now_ms();
                if !claim(conn, aggregator, &id, &to, now)? {
                    return Ok(false);
                }
                let reply = match &action {
                    Action::Reply(text) => Some(text.clone()),
                    Action::Effect(effect) => {
                        let done = core::apply(conn, &env, effect)?;
                        // A completed transfer's receipts are the answer: no second SMS.
                        (!done.completed).then_some(done.text)
                    }
                };
                if let Some(body) = reply.filter(|b| !b.is_empty()) {
                    outbox::enqueue(
                        conn,
                        &NewMessage::sms(&to, body, Some(format!("sms-reply:{aggregator}:{id}")))
                            .routed(&reply_from, &link_id),
                        now,
                    )?;
                }
                Ok(true)
            })
            .await
    }

    /// Checks and lookups before the write: format, registration, PIN.
    async fn decide(
        &self,
        command: &Command,
        account: Option<&Account>,
        lang: Language,
        sms: &InboundSms,
    ) -> Result<Action, LedgerError> {
        let inner = &self.inner;
        let t = |key: &str, args: &[(&str, &str)]| inner.catalog.text(lang, key, args);
        let code = inner.config.service_code.primary();
        match command {
            Command::Help => return Ok(Action::Reply(t("sms_help", &[("code", code)]))),
            Command::Lang(new) => return Ok(Action::Effect(Effect::SetLanguage(*new))),
            _ => {}
        }
        let Some(account) = account.filter(|a| matches!(a.kind, AccountKind::Customer | AccountKind::Agent)) else {
            return Ok(Action::Reply(t("sms_register_first", &[("code", code)])));
        };
        match account.status {
            AccountStatus::Locked => return Ok(Action::Reply(t("err_locked", &[]))),
            AccountStatus::Suspended => return Ok(Action::Reply(t("err_not_active", &[]))),
            AccountStatus::Active => {}
        }
        // Check what can be checked without the PIN first: a typo costs no attempt.
        let (effect, pin_text) = match self.effect_of(command, account).await? {
            Ok(asked) => asked,
            Err(Refused(key, args)) => {
                let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                return Ok(Action::Reply(t(key, &args)));
            }
        };
        let Some(pin_text) = pin_text else {
            return Ok(Action::Effect(effect));
        };
        // A malformed PIN is still a wrong PIN here: SMS has no retry prompt.
        let pin = Pin::parse(pin_text, inner.config.pin.length).ok();
        let checker =
            Checker { ledger: &inner.ledger, pins: &inner.pins, config: &inner.config, sim_swap: &inner.sim_swap };
        let claim = format!("sms:{}:{}", sms.aggregator, sms.id);
        Ok(match pin::check(&checker, account, pin, claim, sms.source.as_deref(), effect).await? {
            Ok(effect) => Action::Effect(effect),
            Err(refusal) => Action::Reply(t(refusal, &[])),
        })
    }

    /// The effect a command asks for and the PIN it carries (`None`: it
    /// needs none), or why it is refused before any PIN is checked.
    async fn effect_of<'c>(
        &self,
        command: &'c Command,
        account: &Account,
    ) -> Result<Result<(Effect, Option<&'c str>), Refused>, LedgerError> {
        let inner = &self.inner;
        let config = &inner.config;
        let effect = match command {
            Command::Send { amount, phone: to, pin } | Command::Pay { till: to, amount, pin } => {
                let flow = if matches!(command, Command::Send { .. }) { Flow::Send } else { Flow::Pay };
                let Ok(amount) = Money::parse(amount, config.currency.minor_digits) else {
                    return Ok(Err(Refused::key("invalid_amount")));
                };
                let plan = config.number_plan();
                return Ok(match lookup::counterparty(&inner.ledger, &plan, Some(account), flow, to).await? {
                    Ok(to) => Ok((Effect::Transfer { flow, to, amount_minor: amount.minor() }, Some(pin.as_str()))),
                    Err(refusal) => Err(refusal.into()),
                });
            }
            Command::ChangePin { old, new } => match Pin::parse_new(new, config.pin.length) {
                Ok(pin) => {
                    let hash = inner.pins.hash_async(pin).await.map_err(|e| LedgerError::Internal(e.to_string()))?;
                    (Effect::ChangePin { pin_hash: hash }, Some(old.as_str()))
                }
                Err(PinError::TooWeak) => return Ok(Err(Refused::key("weak_pin"))),
                Err(PinError::WrongShape(n)) => return Ok(Err(Refused("invalid_pin", vec![("len", n.to_string())]))),
            },
            Command::Balance { pin } => (Effect::Balance, Some(pin.as_str())),
            Command::Statement { pin } => (Effect::Statement { limit: 5, joined_by: "; " }, Some(pin.as_str())),
            Command::Approve { .. } | Command::Decline { .. } | Command::Stop { .. } => {
                return self.approval_effect(command, account).await;
            }
            Command::Lang(_) | Command::Help => return Ok(Err(Refused::key("err_unavailable"))),
        };
        Ok(Ok(effect))
    }

    /// `APPROVE <code> <PIN>`, `DECLINE <code>`, `STOP <till>`: the request
    /// the code names must be the sender's and still open.
    async fn approval_effect<'c>(
        &self,
        command: &'c Command,
        account: &Account,
    ) -> Result<Result<(Effect, Option<&'c str>), Refused>, LedgerError> {
        let ledger = &self.inner.ledger;
        let (code, pin) = match command {
            Command::Approve { code, pin } => (code, Some(pin.as_str())),
            Command::Decline { code } => (code, None),
            Command::Stop { till } => {
                let plan = self.inner.config.number_plan();
                return Ok(match lookup::counterparty(ledger, &plan, Some(account), Flow::Pay, till).await? {
                    Ok(till) => Ok((Effect::StopTill { till }, None)),
                    Err(refusal) => Err(refusal.into()),
                });
            }
            _ => return Ok(Err(Refused::key("err_unavailable"))),
        };
        Ok(match core::approvals::open_by_code(ledger, account.id, code).await? {
            Ok(approval_id) if pin.is_some() => Ok((Effect::Approve { approval_id }, pin)),
            Ok(approval_id) => Ok((Effect::Decline { approval_id }, None)),
            Err(refusal) => Err(refusal.into()),
        })
    }
}

/// A command refused before its PIN: a catalogue key and its arguments.
struct Refused(&'static str, Vec<(&'static str, String)>);

impl Refused {
    fn key(key: &'static str) -> Refused {
        Refused(key, Vec::new())
    }
}

impl From<lookup::Refusal> for Refused {
    fn from(r: lookup::Refusal) -> Refused {
        Refused(r.key, r.args)
    }
}

fn already_seen(conn: &mut crate::db::DbConn, aggregator: &str, id: &str) -> Result<bool, LedgerError> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    const SQL: &str = "SELECT COUNT(*) AS n FROM inbound_sms WHERE aggregator = $1 AND message_id = $2";
    let rows: Vec<N> =
        with_conn!(conn, c => diesel::sql_query(SQL).bind::<Text, _>(aggregator).bind::<Text, _>(id).load(c))?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// Forgets inbound ids older than `cutoff_ms` (aggregators redeliver within
/// hours, not weeks).
pub fn forget_inbound_before(conn: &mut crate::db::DbConn, cutoff_ms: i64) -> Result<usize, LedgerError> {
    const SQL: &str = "DELETE FROM inbound_sms WHERE received_at_ms < $1";
    Ok(with_conn!(conn, c => diesel::sql_query(SQL).bind::<BigInt, _>(cutoff_ms).execute(c))?)
}

/// Records the inbound id; false if it was recorded already.
fn claim(
    conn: &mut crate::db::DbConn,
    aggregator: &str,
    id: &str,
    msisdn: &str,
    now: i64,
) -> Result<bool, LedgerError> {
    const SQL: &str =
        "INSERT INTO inbound_sms (aggregator, message_id, msisdn, received_at_ms) VALUES ($1, $2, $3, $4) \
        ON CONFLICT DO NOTHING";
    let n = with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(aggregator)
        .bind::<Text, _>(id)
        .bind::<Text, _>(msisdn)
        .bind::<BigInt, _>(now)
        .execute(c))?;
    Ok(n == 1)
}

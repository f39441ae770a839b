//! The SMS channel: inbound commands answered by outbound SMS. Each inbound
//! id is handled once: the id is recorded in the same transaction as the
//! command's effect and its reply.

pub mod command;

use crate::auth::lockout::{self, Attempt, AttemptRequest, Ticket};
use crate::auth::PinHasher;
use crate::config::Config;
use crate::domain::{now_ms, Money, Msisdn, Pin, PinError};
use crate::i18n::Catalog;
use crate::ledger::account::parse_till;
use crate::ledger::{Account, AccountKey, AccountKind, AccountStatus, Language, Ledger, LedgerError};
use crate::limits::sim_swap::SimSwapCheck;
use crate::notify::outbox::{self, NewMessage};
use crate::notify::Notices;
use crate::ussd::effects::{self, Effect};
use crate::ussd::menu::{Flow, Party, Reply};
use crate::with_conn;
use command::Command;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct InboundSms {
    pub aggregator: &'static str,
    pub id: String,
    pub from: Msisdn,
    /// The short code or number the customer texted.
    pub to: String,
    /// Africa's Talking's premium/on-demand SMS `linkId` (empty if none).
    pub link_id: String,
    /// Carries PINs: never logged or stored.
    pub text: String,
    /// The address the webhook came from (wrong PINs are counted per source).
    pub source: Option<String>,
}

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
    /// A mini statement, after this right PIN is settled.
    Statement(Ticket),
}

impl SmsService {
    pub fn new(
        ledger: Ledger,
        pins: PinHasher,
        catalog: Arc<Catalog>,
        config: Arc<Config>,
        sim_swap: SimSwapCheck,
    ) -> SmsService {
        let notices = Arc::new(Notices::new(&config, catalog.clone()));
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
        let command = command::parse(&sms.text);
        let action = self.decide(&command, account.as_ref(), lang, &sms).await?;
        let env = effects::Env {
            settings: inner.ledger.settings_arc(),
            catalog: inner.catalog.clone(),
            max_attempts: inner.config.pin.max_attempts,
            service_code: inner.config.service_code.clone(),
            msisdn: sms.from.to_string(),
            account: account.as_ref().map(|a| a.id),
            is_agent: account.as_ref().is_some_and(|a| a.kind == AccountKind::Agent),
            lang,
            idempotency_key: format!("sms:{}:{}", sms.aggregator, sms.id),
            pin_length: inner.config.pin.length,
            notices: inner.notices.clone(),
        };
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
                    Action::Statement(ticket) => Some(statement_text(conn, &env, ticket)?),
                    Action::Effect(effect) => {
                        let (_, reply, new_lang, receipt_sent) = effects::apply(conn, &env, effect)?;
                        let _ = new_lang;
                        // A completed transfer's receipt is the answer: no second SMS.
                        match reply {
                            _ if receipt_sent => None,
                            Reply::End(text) | Reply::Con(text) => Some(text),
                        }
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
        let (aggregator, id, source) = (sms.aggregator, &sms.id, sms.source.as_deref());
        let inner = &self.inner;
        let config = &inner.config;
        let t = |key: &str, args: &[(&str, &str)]| inner.catalog.text(lang, key, args);
        let code = config.service_code.as_str();
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
        let pin_text = match command {
            Command::Balance { pin }
            | Command::Statement { pin }
            | Command::Send { pin, .. }
            | Command::Pay { pin, .. } => pin,
            Command::ChangePin { old, .. } => old,
            Command::Lang(_) | Command::Help => return Ok(Action::Reply(t("sms_help", &[("code", code)]))),
        };
        // Check what can be checked without the PIN first: a typo costs no attempt.
        let effect = match command {
            Command::Send { amount, phone, .. } => {
                let Ok(amount) = Money::parse(amount, config.currency.minor_digits) else {
                    return Ok(Action::Reply(t("invalid_amount", &[])));
                };
                let Ok(msisdn) = Msisdn::parse(phone, &config.number_plan()) else {
                    return Ok(Action::Reply(t("invalid_phone", &[])));
                };
                if account.msisdn.as_ref() == Some(&msisdn) {
                    return Ok(Action::Reply(t("err_self", &[])));
                }
                match inner.ledger.find_account(AccountKey::Msisdn(msisdn.clone())).await? {
                    Some(to) if to.kind == AccountKind::Customer => Effect::Transfer {
                        flow: Flow::Send,
                        to: Party { id: to.id.0, name: to.name, handle: msisdn.to_string() },
                        amount_minor: amount.minor(),
                    },
                    _ => return Ok(Action::Reply(t("err_unknown_recipient", &[("phone", phone)]))),
                }
            }
            Command::Pay { till, amount, .. } => {
                let Ok(amount) = Money::parse(amount, config.currency.minor_digits) else {
                    return Ok(Action::Reply(t("invalid_amount", &[])));
                };
                let Ok(till) = parse_till(till) else {
                    return Ok(Action::Reply(t("invalid_till", &[])));
                };
                match inner.ledger.find_account(AccountKey::Till(till.clone())).await? {
                    Some(m) if m.kind == AccountKind::Merchant => Effect::Transfer {
                        flow: Flow::Pay,
                        to: Party { id: m.id.0, name: m.name, handle: till },
                        amount_minor: amount.minor(),
                    },
                    _ => return Ok(Action::Reply(t("err_unknown_till", &[("till", &till)]))),
                }
            }
            Command::ChangePin { new, .. } => match Pin::parse_new(new, config.pin.length) {
                Ok(pin) => {
                    let hash =
                        inner.pins.hash_async(pin).await.map_err(|e| LedgerError::InvalidInput(e.to_string()))?;
                    Effect::ChangePin { pin_hash: hash }
                }
                Err(PinError::TooWeak) => return Ok(Action::Reply(t("weak_pin", &[]))),
                Err(PinError::WrongShape(n)) => return Ok(Action::Reply(t("invalid_pin", &[("len", &n.to_string())]))),
            },
            Command::Balance { .. } => Effect::Balance,
            Command::Statement { .. } => Effect::Statement,
            Command::Lang(_) | Command::Help => Effect::Balance,
        };
        if let (Effect::Transfer { .. }, Some(msisdn)) = (&effect, &account.msisdn) {
            inner.sim_swap.check(msisdn).await;
        }
        // The check is reserved first (see `auth::lockout`): a locked account
        // checks nothing, and answers a right PIN as it does a wrong one.
        let limits = config.attempt_limits();
        let request = AttemptRequest { claim: format!("sms:{aggregator}:{id}"), source: source.map(str::to_string) };
        let (ticket, pin_hash) = match lockout::reserve_on(&inner.ledger, account.id, request, limits).await? {
            Attempt::Go(ticket, pin_hash) => (ticket, pin_hash),
            Attempt::Locked => return Ok(Action::Reply(t("err_locked", &[]))),
            Attempt::NotActive => return Ok(Action::Reply(t("err_not_active", &[]))),
            Attempt::SourceLimited => return Ok(Action::Reply(t("err_rate_limited", &[]))),
        };
        // A malformed PIN is still a wrong PIN here: SMS has no retry prompt.
        let right = match Pin::parse(pin_text, config.pin.length) {
            Ok(pin) => inner.pins.verify_async(pin, pin_hash).await,
            Err(_) => false,
        };
        Ok(match (right, effect) {
            (false, _) => Action::Effect(Effect::PinFailed { ticket }),
            (true, Effect::Statement) => Action::Statement(ticket),
            (true, effect) => Action::Effect(Effect::PinRight { ticket, then: Box::new(effect) }),
        })
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

/// The PIN was right: settle it and list the last five transfers.
fn statement_text(conn: &mut crate::db::DbConn, env: &effects::Env, ticket: &Ticket) -> Result<String, LedgerError> {
    let Some(me) = env.account else {
        return Ok(String::new());
    };
    if !lockout::settle_right(conn, ticket)? {
        return Ok(env.catalog.text(env.lang, "err_locked", &[]));
    }
    let text = effects::statement_text(conn, env, me, 5, "; ")?;
    Ok(text.unwrap_or_else(|| env.catalog.text(env.lang, "statement_empty", &[])))
}

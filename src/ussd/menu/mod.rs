//! The menu tree of SPEC §6 as an explicit state machine. A [`Screen`] is
//! what the caller is looking at; [`advance`] takes their input and returns
//! the next screen, the reply, and at most one [`Effect`] to commit.
//!
//! Lookups and PIN checks happen here, before the write; everything that
//! changes state (transfers, PIN counters, registration) is an effect,
//! committed in one transaction with the session's hop.

use super::Shared;
use crate::command::lookup;
use crate::command::pin::{self, Checker};
use crate::command::{Effect, Flow, Party};
use crate::domain::{Money, Msisdn, Pin, PinError};
use crate::ledger::account::clean_name;
use crate::ledger::{Account, AccountStatus, Language, LedgerError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Screen {
    /// Nothing shown yet: the first hop shows the home screen.
    Start,
    UnregMain,
    LanguageMenu {
        registered: bool,
    },
    RegName,
    RegId {
        name: String,
    },
    RegPin {
        name: String,
        id_number: String,
    },
    /// Holds the hash of the first PIN (never the PIN) to compare the second.
    RegPinConfirm {
        name: String,
        id_number: String,
        pin_hash: String,
    },
    Main,
    AccountMenu,
    Recipient {
        flow: Flow,
    },
    Amount {
        flow: Flow,
        to: Party,
    },
    Confirm {
        flow: Flow,
        to: Party,
        amount_minor: i64,
        fee_minor: i64,
    },
    BalancePin,
    StatementPin,
    PinOld,
    PinNew,
    PinNewConfirm {
        pin_hash: String,
    },
    AgentMain,
    FloatPin,
    /// The caller's last session dropped at `screen`: `1` continues there
    /// (a PIN screen asks for the PIN again), `2` starts again.
    Resume {
        from: String,
        dropped: Box<Screen>,
    },
    /// Content longer than a screen, shown a page at a time (`98` More).
    /// With `then`, input on a page goes to that screen; without, the last
    /// page closes the session.
    Paged {
        pages: Vec<String>,
        index: usize,
        then: Option<Box<Screen>>,
    },
}

/// Who is dialling.
#[derive(Debug, Clone)]
pub enum Caller {
    Unregistered(Msisdn),
    Customer(Account),
    Agent(Account),
}

impl Caller {
    pub fn account(&self) -> Option<&Account> {
        match self {
            Caller::Unregistered(_) => None,
            Caller::Customer(a) | Caller::Agent(a) => Some(a),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Con(String),
    End(String),
}

/// The result of one input.
#[derive(Debug)]
pub struct Outcome {
    pub next: Screen,
    pub reply: Reply,
    /// When set, the reply is replaced by what the effect produces.
    pub effect: Option<Effect>,
}

pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub caller: &'a Caller,
    pub lang: Language,
    /// Where the hop came from, for the per-source wrong-PIN limit.
    pub source: Option<&'a str>,
    /// This hop's own key: a repeated hop reuses its PIN attempt.
    pub hop_key: &'a str,
}

impl Ctx<'_> {
    pub fn t(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.shared.catalog.text(self.lang, key, args)
    }

    fn money(&self, minor: i64) -> String {
        self.shared.config.currency.show(minor)
    }

    fn pin_len(&self) -> String {
        self.shared.config.pin.length.to_string()
    }

    fn show(&self, next: Screen) -> Outcome {
        let text = self.prompt(&next);
        Outcome { next, reply: Reply::Con(text), effect: None }
    }

    fn end(&self, key: &str, args: &[(&str, &str)]) -> Outcome {
        Outcome { next: Screen::Start, reply: Reply::End(self.t(key, args)), effect: None }
    }

    /// The same screen again, with what was wrong on top.
    fn retry(&self, screen: &Screen, key: &str, args: &[(&str, &str)]) -> Outcome {
        let text = format!("{}\n{}", self.t(key, args), self.prompt(screen));
        Outcome { next: screen.clone(), reply: Reply::Con(text), effect: None }
    }

    fn effect(&self, next: Screen, effect: Effect) -> Outcome {
        Outcome { next, reply: Reply::End(String::new()), effect: Some(effect) }
    }

    /// The caller's home screen, or why they cannot use the service.
    pub fn home(&self) -> Outcome {
        match self.caller {
            Caller::Unregistered(_) => self.show(Screen::UnregMain),
            Caller::Customer(a) | Caller::Agent(a) if a.status == AccountStatus::Locked => self.end("err_locked", &[]),
            Caller::Customer(a) | Caller::Agent(a) if a.status == AccountStatus::Suspended => {
                self.end("err_not_active", &[])
            }
            Caller::Customer(_) => self.show(Screen::Main),
            Caller::Agent(_) => self.show(Screen::AgentMain),
        }
    }

    fn home_screen(&self) -> Screen {
        match self.caller {
            Caller::Unregistered(_) => Screen::UnregMain,
            Caller::Customer(_) => Screen::Main,
            Caller::Agent(_) => Screen::AgentMain,
        }
    }

    /// What `0` leads to.
    fn back(&self, screen: &Screen) -> Screen {
        match screen {
            Screen::Start | Screen::UnregMain | Screen::Main | Screen::AgentMain => self.home_screen(),
            Screen::LanguageMenu { registered: true } => Screen::AccountMenu,
            Screen::LanguageMenu { registered: false } | Screen::RegName => Screen::UnregMain,
            Screen::RegId { .. } => Screen::RegName,
            Screen::RegPin { name, .. } => Screen::RegId { name: name.clone() },
            Screen::RegPinConfirm { name, id_number, .. } => {
                Screen::RegPin { name: name.clone(), id_number: id_number.clone() }
            }
            Screen::AccountMenu | Screen::FloatPin => self.home_screen(),
            Screen::Recipient { .. } => self.home_screen(),
            Screen::Amount { flow, .. } => Screen::Recipient { flow: *flow },
            Screen::Confirm { flow, to, .. } => Screen::Amount { flow: *flow, to: to.clone() },
            Screen::BalancePin => Screen::AccountMenu,
            Screen::StatementPin | Screen::PinOld => match self.caller {
                Caller::Agent(_) => Screen::AgentMain,
                _ => Screen::AccountMenu,
            },
            Screen::PinNew => Screen::PinOld,
            Screen::PinNewConfirm { .. } => Screen::PinNew,
            Screen::Paged { then, .. } => then.as_deref().map_or_else(|| self.home_screen(), |s| self.back(s)),
            Screen::Resume { .. } => self.home_screen(),
        }
    }

    /// The text of a screen.
    pub fn prompt(&self, screen: &Screen) -> String {
        let with_back = |text: String| format!("{text}\n{}", self.t("back", &[]));
        match screen {
            Screen::Start => String::new(),
            Screen::UnregMain => self.t("unreg_welcome", &[]),
            Screen::LanguageMenu { .. } => with_back(self.t("lang_menu", &[])),
            Screen::RegName => with_back(self.t("reg_name", &[])),
            Screen::RegId { .. } => with_back(self.t("reg_id", &[])),
            Screen::RegPin { .. } => with_back(self.t("reg_pin", &[("len", &self.pin_len())])),
            Screen::RegPinConfirm { .. } => with_back(self.t("reg_pin_confirm", &[])),
            Screen::Main => self.t("main_customer", &[]),
            Screen::AgentMain => self.t("main_agent", &[]),
            Screen::AccountMenu => with_back(self.t("account_menu", &[])),
            Screen::Recipient { flow } => with_back(self.t(flow.prompt(), &[])),
            Screen::Amount { .. } => {
                with_back(self.t("enter_amount", &[("currency", &self.shared.config.currency.code)]))
            }
            Screen::Confirm { flow, to, amount_minor, fee_minor } => self.t(
                flow.confirm(),
                &[
                    ("amount", &self.money(*amount_minor)),
                    ("fee", &self.money(*fee_minor)),
                    ("name", &to.name),
                    ("till", &to.handle),
                ],
            ),
            Screen::BalancePin | Screen::StatementPin | Screen::FloatPin => with_back(self.t("enter_pin", &[])),
            Screen::PinOld => with_back(self.t("pin_old", &[])),
            Screen::PinNew => with_back(self.t("pin_new", &[("len", &self.pin_len())])),
            Screen::PinNewConfirm { .. } => with_back(self.t("pin_new_confirm", &[])),
            Screen::Paged { pages, index, .. } => pages.get(*index).cloned().unwrap_or_default(),
            Screen::Resume { .. } => self.t("resume_offer", &[]),
        }
    }
}

/// Applies one input to a screen.
pub async fn advance(ctx: &Ctx<'_>, screen: &Screen, input: &str) -> Result<Outcome, LedgerError> {
    if let Some(outcome) = advance_sync(ctx, screen, input) {
        return Ok(outcome);
    }
    let input = input.trim();
    let outcome = match screen {
        Screen::Paged { then: Some(inner), .. } => return Box::pin(advance(ctx, inner, input)).await,
        Screen::RegPin { name, id_number } => match new_pin(ctx, screen, input).await? {
            Ok(pin_hash) => {
                ctx.show(Screen::RegPinConfirm { name: name.clone(), id_number: id_number.clone(), pin_hash })
            }
            Err(outcome) => outcome,
        },
        Screen::RegPinConfirm { name, id_number, pin_hash } => {
            if same_pin(ctx, input, pin_hash).await {
                let effect =
                    Effect::Register { name: name.clone(), id_number: id_number.clone(), pin_hash: pin_hash.clone() };
                ctx.effect(Screen::Start, effect)
            } else {
                ctx.end("reg_pin_mismatch", &[("code", ctx.shared.config.service_code.primary())])
            }
        }
        Screen::Recipient { flow } => recipient(ctx, screen, *flow, input).await?,
        Screen::Confirm { flow, to, amount_minor, .. } => {
            let effect = Effect::Transfer { flow: *flow, to: to.clone(), amount_minor: *amount_minor };
            pin_step(ctx, screen, input, effect).await?
        }
        Screen::BalancePin | Screen::FloatPin => pin_step(ctx, screen, input, Effect::Balance).await?,
        Screen::StatementPin => pin_step(ctx, screen, input, Effect::Statement { limit: 10, joined_by: "\n" }).await?,
        Screen::PinOld => pin_step(ctx, screen, input, Effect::PinOkThenNewPin).await?,
        Screen::PinNew => match new_pin(ctx, screen, input).await? {
            Ok(pin_hash) => ctx.show(Screen::PinNewConfirm { pin_hash }),
            Err(outcome) => outcome,
        },
        Screen::PinNewConfirm { pin_hash } => {
            if same_pin(ctx, input, pin_hash).await {
                ctx.effect(Screen::Start, Effect::ChangePin { pin_hash: pin_hash.clone() })
            } else {
                ctx.end("pin_mismatch", &[])
            }
        }
        // Every other screen is answered by `advance_sync`.
        _ => ctx.home(),
    };
    Ok(outcome)
}

/// The steps that need no lookup, PIN check or hashing: navigation, menu
/// choices, names, ID numbers, amounts. `None` for the others, which
/// [`advance`] handles. Being synchronous, these can run inside the hop's
/// database transaction.
pub fn advance_sync(ctx: &Ctx<'_>, screen: &Screen, input: &str) -> Option<Outcome> {
    let input = input.trim();
    if *screen == Screen::Start || input == "00" {
        return Some(ctx.home());
    }
    if let Screen::Paged { pages, index, then } = screen {
        if input == "98" && index + 1 < pages.len() {
            let next = Screen::Paged { pages: pages.clone(), index: index + 1, then: then.clone() };
            let text = pages[index + 1].clone();
            let closing = then.is_none() && index + 2 == pages.len();
            let reply = if closing { Reply::End(text) } else { Reply::Con(text) };
            return Some(Outcome { next, reply, effect: None });
        }
        if input == "0" && *index > 0 {
            let next = Screen::Paged { pages: pages.clone(), index: index - 1, then: then.clone() };
            return Some(Outcome { reply: Reply::Con(pages[index - 1].clone()), next, effect: None });
        }
        return match then {
            Some(inner) => advance_sync(ctx, inner, input),
            None => Some(ctx.retry(screen, "invalid_choice", &[])),
        };
    }
    if input == "0" {
        let back = ctx.back(screen);
        return Some(ctx.show(back));
    }
    let choice = |options: &[(&str, Screen)]| match options.iter().find(|(k, _)| *k == input) {
        Some((_, next)) => ctx.show(next.clone()),
        None => ctx.retry(screen, "invalid_choice", &[]),
    };
    let outcome = match screen {
        Screen::UnregMain => choice(&[("1", Screen::RegName), ("2", Screen::LanguageMenu { registered: false })]),
        Screen::Main => choice(&[
            ("1", Screen::Recipient { flow: Flow::Send }),
            ("2", Screen::Recipient { flow: Flow::Withdraw }),
            ("3", Screen::Recipient { flow: Flow::Pay }),
            ("4", Screen::AccountMenu),
        ]),
        Screen::AccountMenu => choice(&[
            ("1", Screen::BalancePin),
            ("2", Screen::StatementPin),
            ("3", Screen::PinOld),
            ("4", Screen::LanguageMenu { registered: true }),
        ]),
        Screen::AgentMain => choice(&[
            ("1", Screen::Recipient { flow: Flow::Deposit }),
            ("2", Screen::FloatPin),
            ("3", Screen::StatementPin),
            ("4", Screen::PinOld),
        ]),
        Screen::LanguageMenu { .. } => match input {
            "1" => ctx.effect(Screen::Start, Effect::SetLanguage(Language::En)),
            "2" => ctx.effect(Screen::Start, Effect::SetLanguage(Language::Sw)),
            _ => ctx.retry(screen, "invalid_choice", &[]),
        },
        Screen::RegName => match clean_name(input) {
            Ok(name) if name.chars().count() >= 2 && !name.chars().any(|c| c.is_ascii_digit()) => {
                ctx.show(Screen::RegId { name })
            }
            _ => ctx.retry(screen, "invalid_name", &[]),
        },
        Screen::RegId { name } => {
            if (5..=12).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_alphanumeric()) {
                ctx.show(Screen::RegPin { name: name.clone(), id_number: input.to_ascii_uppercase() })
            } else {
                ctx.retry(screen, "invalid_id", &[])
            }
        }
        Screen::Amount { flow, to } => amount(ctx, screen, *flow, to, input),
        Screen::Resume { dropped, .. } => match input {
            "1" => ctx.show((**dropped).clone()),
            "2" => ctx.home(),
            _ => ctx.retry(screen, "invalid_choice", &[]),
        },
        _ => return None,
    };
    Some(outcome)
}

/// A new PIN: shape and strength checked, then hashed (off the executor).
async fn new_pin(ctx: &Ctx<'_>, screen: &Screen, input: &str) -> Result<Result<String, Outcome>, LedgerError> {
    let len = ctx.shared.config.pin.length;
    match Pin::parse_new(input, len) {
        Ok(pin) => {
            let hash = ctx.shared.pins.hash_async(pin).await.map_err(|e| LedgerError::Internal(e.to_string()))?;
            Ok(Ok(hash))
        }
        Err(PinError::TooWeak) => Ok(Err(ctx.retry(screen, "weak_pin", &[]))),
        Err(PinError::WrongShape(_)) => Ok(Err(ctx.retry(screen, "invalid_pin", &[("len", &len.to_string())]))),
    }
}

async fn same_pin(ctx: &Ctx<'_>, input: &str, pin_hash: &str) -> bool {
    match Pin::parse(input, ctx.shared.config.pin.length) {
        Ok(pin) => ctx.shared.pins.verify_async(pin, Some(pin_hash.to_string())).await,
        Err(_) => false,
    }
}

/// Checks the caller's PIN; the effect runs only if it is right. The check
/// is reserved first (see `auth::lockout`): a locked account checks nothing.
async fn pin_step(ctx: &Ctx<'_>, screen: &Screen, input: &str, on_ok: Effect) -> Result<Outcome, LedgerError> {
    let Some(account) = ctx.caller.account() else {
        return Ok(ctx.home());
    };
    match account.status {
        AccountStatus::Locked => return Ok(ctx.end("err_locked", &[])),
        AccountStatus::Suspended => return Ok(ctx.end("err_not_active", &[])),
        AccountStatus::Active => {}
    }
    let len = ctx.shared.config.pin.length;
    let Ok(pin) = Pin::parse(input, len) else {
        return Ok(ctx.retry(screen, "invalid_pin", &[("len", &len.to_string())]));
    };
    let shared = ctx.shared;
    let checker =
        Checker { ledger: &shared.ledger, pins: &shared.pins, config: &shared.config, sim_swap: &shared.sim_swap };
    Ok(match pin::check(&checker, account, Some(pin), ctx.hop_key.to_string(), ctx.source, on_ok).await? {
        Ok(effect) => ctx.effect(Screen::Start, effect),
        Err(refusal) => ctx.end(refusal, &[]),
    })
}

async fn recipient(ctx: &Ctx<'_>, screen: &Screen, flow: Flow, input: &str) -> Result<Outcome, LedgerError> {
    let shared = ctx.shared;
    let plan = shared.config.number_plan();
    Ok(match lookup::counterparty(&shared.ledger, &plan, ctx.caller.account(), flow, input).await? {
        Ok(to) => ctx.show(Screen::Amount { flow, to }),
        Err(refusal) if refusal.retry => ctx.retry(screen, refusal.key, &refusal.args()),
        Err(refusal) => ctx.end(refusal.key, &refusal.args()),
    })
}

fn amount(ctx: &Ctx<'_>, screen: &Screen, flow: Flow, to: &Party, input: &str) -> Outcome {
    let Ok(amount) = Money::parse(input, ctx.shared.config.currency.minor_digits) else {
        return ctx.retry(screen, "invalid_amount", &[]);
    };
    match ctx.shared.ledger.quote(flow.kind(), amount) {
        Ok(quote) => ctx.show(Screen::Confirm {
            flow,
            to: to.clone(),
            amount_minor: amount.minor(),
            fee_minor: quote.fee.minor(),
        }),
        Err(LedgerError::AmountOutsideTariff { max_minor }) => {
            ctx.end("err_amount_too_large", &[("max", &ctx.money(max_minor))])
        }
        Err(_) => ctx.retry(screen, "invalid_amount", &[]),
    }
}

//! The menu tree of SPEC §6 as an explicit state machine. A [`Screen`] is
//! what the caller is looking at; [`advance`] takes their input and returns
//! the next screen, the reply, and at most one [`Effect`] to commit.
//!
//! Lookups and PIN checks happen here, before the write; everything that
//! changes state (transfers, PIN counters, registration) is an effect,
//! committed in one transaction with the session's hop.

mod approvals;
mod nav;
mod steps;

use super::Shared;
use crate::command::approvals::Request;
use crate::command::{Effect, Flow, Party};
use crate::domain::Msisdn;
use crate::ledger::account::clean_name;
use crate::ledger::{Account, AccountStatus, Language, LedgerError};
use serde::{Deserialize, Serialize};
use steps::{amount, new_pin, pin_step, recipient, same_pin};

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
    /// Menu 5: the caller's pending payment requests and allowances, as read
    /// when it opened (so the numbers stay put while they page).
    Approvals {
        list: Vec<Request>,
    },
    /// `list[index]` on one screen: `1` approve (the PIN next), `2` decline.
    ApprovalDetail {
        list: Vec<Request>,
        index: usize,
    },
    ApprovalPin {
        list: Vec<Request>,
        index: usize,
    },
    /// My account → 5: the caller's active allowances.
    Allowances {
        list: Vec<Request>,
    },
    /// `list[index]` on one screen: `1` revoke (no PIN).
    AllowanceDetail {
        list: Vec<Request>,
        index: usize,
    },
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
        Screen::Main => approvals::open(ctx, false).await?,
        Screen::AccountMenu => approvals::open(ctx, true).await?,
        Screen::ApprovalPin { list, index } => match list.get(*index) {
            Some(request) => pin_step(ctx, screen, input, Effect::Approve { approval_id: request.approval_id }).await?,
            None => ctx.home(),
        },
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
        return paged(ctx, screen, pages, *index, then.as_deref(), input);
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
        // Menu 5 and My account → 5 read their lists first.
        Screen::Main | Screen::AccountMenu if input == "5" => return None,
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
        Screen::Approvals { .. }
        | Screen::ApprovalDetail { .. }
        | Screen::Allowances { .. }
        | Screen::AllowanceDetail { .. } => approvals::advance_sync(ctx, screen, input)?,
        _ => return entry(ctx, screen, input),
    };
    Some(outcome)
}

/// What the caller typed in: a language, a name, an ID number, an amount,
/// or what to do with a dropped session.
fn entry(ctx: &Ctx<'_>, screen: &Screen, input: &str) -> Option<Outcome> {
    let outcome = match screen {
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

/// A page of long content: `98` the next page, `0` the previous one; any
/// other input goes to the screen behind the pages.
fn paged(
    ctx: &Ctx<'_>,
    screen: &Screen,
    pages: &[String],
    index: usize,
    then: Option<&Screen>,
    input: &str,
) -> Option<Outcome> {
    let then_boxed = then.map(|s| Box::new(s.clone()));
    if input == "98" && index + 1 < pages.len() {
        let next = Screen::Paged { pages: pages.to_vec(), index: index + 1, then: then_boxed };
        let text = pages[index + 1].clone();
        let closing = then.is_none() && index + 2 == pages.len();
        let reply = if closing { Reply::End(text) } else { Reply::Con(text) };
        return Some(Outcome { next, reply, effect: None });
    }
    if input == "0" && index > 0 {
        let next = Screen::Paged { pages: pages.to_vec(), index: index - 1, then: then_boxed };
        return Some(Outcome { reply: Reply::Con(pages[index - 1].clone()), next, effect: None });
    }
    match then {
        Some(inner) => advance_sync(ctx, inner, input),
        None => Some(ctx.retry(screen, "invalid_choice", &[])),
    }
}

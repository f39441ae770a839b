//! The steps that check a PIN, hash a new one or look someone up: each
//! runs off the writer, before the hop commits.

use super::{Ctx, Outcome, Screen};
use crate::command::lookup;
use crate::command::pin::{self, Checker};
use crate::command::{Effect, Flow, Party};
use crate::domain::{Money, Pin, PinError};
use crate::ledger::{AccountStatus, LedgerError};

/// A new PIN: shape and strength checked, then hashed (off the executor).
pub(super) async fn new_pin(
    ctx: &Ctx<'_>,
    screen: &Screen,
    input: &str,
) -> Result<Result<String, Outcome>, LedgerError> {
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

pub(super) async fn same_pin(ctx: &Ctx<'_>, input: &str, pin_hash: &str) -> bool {
    match Pin::parse(input, ctx.shared.config.pin.length) {
        Ok(pin) => ctx.shared.pins.verify_async(pin, Some(pin_hash.to_string())).await,
        Err(_) => false,
    }
}

/// Checks the caller's PIN; the effect runs only if it is right. The check
/// is reserved first (see `auth::lockout`): a locked account checks nothing.
pub(super) async fn pin_step(
    ctx: &Ctx<'_>,
    screen: &Screen,
    input: &str,
    on_ok: Effect,
) -> Result<Outcome, LedgerError> {
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

pub(super) async fn recipient(ctx: &Ctx<'_>, screen: &Screen, flow: Flow, input: &str) -> Result<Outcome, LedgerError> {
    let shared = ctx.shared;
    let plan = shared.config.number_plan();
    Ok(match lookup::counterparty(&shared.ledger, &plan, ctx.caller.account(), flow, input).await? {
        Ok(to) => ctx.show(Screen::Amount { flow, to }),
        Err(refusal) if refusal.retry => ctx.retry(screen, refusal.key, &refusal.args()),
        Err(refusal) => ctx.end(refusal.key, &refusal.args()),
    })
}

pub(super) fn amount(ctx: &Ctx<'_>, screen: &Screen, flow: Flow, to: &Party, input: &str) -> Outcome {
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

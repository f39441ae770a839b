//! The posting engine's decision, pure over the state read for it: a
//! request becomes legs (principal, fee, commission), the legs are checked
//! to sum to zero, and each account's net change is checked against its
//! status, funds and limits before any of them moves. Every movement goes
//! through [`check_moves`]: transfers decided in a group ([`decide`]) and
//! the engine's own movements (reversals, releases) alike.

use super::account::{AccountId, AccountKind, AccountStatus};
use super::guards::{Guards, Pass};
use super::tariff::Quote;
use super::transfer::{entries_of, Entry, Leg, Party, TransferKind, TransferRequest};
use super::watch::Watch;
use super::write::{net_deltas, Slot};
use super::{LedgerError, Settings};
use crate::limits::velocity::{self, OutEvent, Verdict};
use std::collections::HashMap;

/// A request the decision accepted: what to write for it.
pub(super) struct Decision {
    pub entries: Vec<Entry>,
    pub from: Party,
    pub to: Party,
    /// The rule that held it in suspense, if one did.
    pub held: Option<&'static str>,
    pub pass: Pass,
}

/// How [`check_moves`] treats the accounts a movement touches.
pub(super) struct Rules {
    /// A corrective movement (a reversal) may move an account in any state
    /// and past its limits, but never below zero.
    pub corrective: bool,
    /// The payer whose daily outgoing total this movement adds to, and how much.
    pub counted: Option<(AccountId, i64)>,
}

/// One account's change, checked and ready to apply.
pub(super) struct Move {
    id: AccountId,
    after: i64,
    counted: i64,
    debited: bool,
}

/// Decides one request against the running state and, if it goes, moves the
/// state on (balances, the payer's history, its guard).
#[allow(clippy::too_many_arguments)]
pub(super) fn decide(
    settings: &Settings,
    book: &mut HashMap<AccountId, Slot>,
    watch: &mut Watch,
    guards: &mut Guards,
    index: usize,
    req: &TransferRequest,
    quote: Quote,
    now: i64,
) -> Result<Decision, LedgerError> {
    let payer_kind = check_parties(settings, book, req)?;
    let pass = guards.check(req, now)?;
    let held = judge(settings, watch, index, req, now)?;
    let entries = legs(settings, req, quote, held, payer_kind);
    assert_balanced(&entries)?;
    let counted = if req.kind.counts_toward_daily_limit() { req.amount.minor() } else { 0 };
    let moves =
        check_moves(settings, book, &entries, &Rules { corrective: false, counted: Some((req.from, counted)) })?;
    apply_moves(book, moves, false)?;
    guards.accept(index, &pass)?;
    if let Some(h) = watch.histories.get_mut(&req.from) {
        let payee_known = watch.payee_known.get(&index).copied().unwrap_or(true) || h.has_paid(req.to);
        h.push(OutEvent { at_ms: now, amount_minor: req.amount.minor(), payee: req.to, payee_known });
    }
    let payee = if held.is_some() { settings.system.suspense } else { req.to };
    let party = |id: AccountId| {
        let slot = book.get(&id).ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?;
        Ok::<_, LedgerError>(Party::of(&slot.account, Some(slot.balance)))
    };
    Ok(Decision { entries, from: party(req.from)?, to: party(payee)?, held, pass })
}

/// The parties exist, are of the kinds this transfer joins, may pay and be
/// paid, and the amount is within the payer's per-transfer limit. Returns
/// the payer's kind.
fn check_parties(
    settings: &Settings,
    book: &HashMap<AccountId, Slot>,
    req: &TransferRequest,
) -> Result<AccountKind, LedgerError> {
    let (from_kind, to_kind) = req
        .kind
        .parties()
        .ok_or_else(|| LedgerError::WrongParty(format!("{} transfers are made by mkoba itself", req.kind.as_str())))?;
    let from = &book.get(&req.from).ok_or_else(|| LedgerError::UnknownAccount(req.from.to_string()))?.account;
    let to = &book.get(&req.to).ok_or_else(|| LedgerError::UnknownAccount(req.to.to_string()))?.account;
    if from.kind != from_kind || to.kind != to_kind {
        return Err(LedgerError::WrongParty(format!(
            "{} goes from a {} to a {}, not from a {} to a {}",
            req.kind.as_str(),
            from_kind.as_str(),
            to_kind.as_str(),
            from.kind.as_str(),
            to.kind.as_str()
        )));
    }
    if from.status != AccountStatus::Active {
        return Err(LedgerError::AccountNotActive { who: from.handle(), status: from.status });
    }
    if to.status == AccountStatus::Suspended {
        return Err(LedgerError::AccountNotActive { who: to.handle(), status: to.status });
    }
    if let Some(tier) = settings.tier_of(from) {
        if req.amount.minor() > tier.max_transfer_minor {
            return Err(LedgerError::OverTransferLimit { tier: from.tier.clone(), max_minor: tier.max_transfer_minor });
        }
    }
    Ok(from.kind)
}

/// The fraud rules' verdict: the rule that holds it, if one does. A charge
/// is never held (the merchant needs an answer now): a hold declines it.
fn judge(
    settings: &Settings,
    watch: &Watch,
    index: usize,
    req: &TransferRequest,
    now: i64,
) -> Result<Option<&'static str>, LedgerError> {
    let payee_known = watch.payee_known.get(&index).copied().unwrap_or(true);
    let verdict = match watch.histories.get(&req.from) {
        Some(h) => {
            velocity::judge(&settings.velocity, &settings.sim_swap, h, now, req.to, payee_known, req.amount.minor())
        }
        None => Verdict::Pass,
    };
    match verdict {
        Verdict::Decline(rule) => Err(LedgerError::RuleDeclined { rule: rule.to_string() }),
        Verdict::Hold(rule) if req.kind == TransferKind::Charge => {
            Err(LedgerError::RuleDeclined { rule: rule.to_string() })
        }
        Verdict::Hold(rule) => Ok(Some(rule)),
        Verdict::Pass => Ok(None),
    }
}

/// The legs of a transfer. A held one pays its principal and its fee into
/// suspense; the payee, the fee and any commission are paid on release.
fn legs(
    settings: &Settings,
    req: &TransferRequest,
    quote: Quote,
    held: Option<&str>,
    payer_kind: AccountKind,
) -> Vec<Entry> {
    let payee = if held.is_some() { settings.system.suspense } else { req.to };
    let fee_to = if held.is_some() { settings.system.suspense } else { settings.system.fee_revenue };
    let mut legs = vec![Leg { from: req.from, to: payee, amount_minor: req.amount.minor(), code: req.kind.as_str() }];
    if !quote.fee.is_zero() {
        legs.push(Leg { from: req.from, to: fee_to, amount_minor: quote.fee.minor(), code: "fee" });
    }
    if !quote.commission.is_zero() && held.is_none() {
        let agent = if payer_kind == AccountKind::Agent { req.from } else { req.to };
        legs.push(Leg {
            from: settings.system.commission_expense,
            to: agent,
            amount_minor: quote.commission.minor(),
            code: "commission",
        });
    }
    entries_of(&legs)
}

/// The legs of every movement sum to zero: asserted before anything is written.
pub(super) fn assert_balanced(entries: &[Entry]) -> Result<(), LedgerError> {
    let sum = entries.iter().try_fold(0i64, |acc, e| acc.checked_add(e.2));
    if sum != Some(0) {
        return Err(LedgerError::Internal(format!("legs do not balance: they sum to {sum:?}")));
    }
    Ok(())
}

/// Checks every account's net change first; a refusal moves nothing.
pub(super) fn check_moves(
    settings: &Settings,
    book: &HashMap<AccountId, Slot>,
    entries: &[Entry],
    rules: &Rules,
) -> Result<Vec<Move>, LedgerError> {
    let mut moves = Vec::with_capacity(3);
    for (id, delta) in net_deltas(entries) {
        let slot = book.get(&id).ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?;
        let a = &slot.account;
        let tier = if rules.corrective { None } else { settings.tier_of(a) };
        if delta < 0 {
            if !rules.corrective && a.status != AccountStatus::Active {
                return Err(LedgerError::AccountNotActive { who: a.handle(), status: a.status });
            }
            // An account that may go negative still stops short of underflow.
            let after = slot.balance.checked_add(delta).filter(|&b| b >= 0 || slot.allow_negative);
            let Some(after) = after else {
                return Err(if rules.corrective {
                    LedgerError::ReversalFundsGone { who: a.handle() }
                } else {
                    LedgerError::InsufficientFunds { who: a.handle(), available_minor: slot.balance }
                });
            };
            let counted = rules.counted.filter(|&(payer, _)| payer == id).map_or(0, |(_, n)| n);
            let cap = tier.map_or(i64::MAX, |t| t.max_daily_out_minor);
            if !rules.corrective && slot.out_today > cap - counted {
                return Err(LedgerError::OverDailyLimit {
                    who: a.handle(),
                    remaining_minor: cap.saturating_sub(slot.out_today).max(0),
                });
            }
            moves.push(Move { id, after, counted, debited: true });
        } else if delta > 0 {
            if !rules.corrective && a.status == AccountStatus::Suspended {
                return Err(LedgerError::AccountNotActive { who: a.handle(), status: a.status });
            }
            let cap = tier.map_or(i64::MAX, |t| t.max_balance_minor);
            let Some(after) = slot.balance.checked_add(delta).filter(|&b| b <= cap) else {
                return Err(LedgerError::ReceiverOverBalanceLimit { who: a.handle() });
            };
            moves.push(Move { id, after, counted: 0, debited: false });
        }
    }
    Ok(moves)
}

/// Applies checked moves to the running state.
pub(super) fn apply_moves(
    book: &mut HashMap<AccountId, Slot>,
    moves: Vec<Move>,
    corrective: bool,
) -> Result<(), LedgerError> {
    for m in moves {
        let slot = book.get_mut(&m.id).ok_or_else(|| LedgerError::UnknownAccount(m.id.to_string()))?;
        slot.balance = m.after;
        slot.corrective = corrective;
        if m.debited {
            slot.debited = true;
            // Within the daily cap, checked above.
            slot.out_today = slot.out_today.saturating_add(m.counted);
            slot.counted = slot.counted.saturating_add(m.counted);
        } else {
            slot.credited = true;
        }
    }
    Ok(())
}

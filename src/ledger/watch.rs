//! What the fraud rules see while a group is decided: each watched payer's
//! recent history (read inside the group's write transaction) and whether
//! each payee was paid before. See `limits::velocity` for the rules.

use super::account::{Account, AccountId, AccountKind};
use super::history;
use super::tariff::Quote;
use super::transfer::{TransferKind, TransferRequest};
use super::write::Slot;
use super::{LedgerError, Settings};
use crate::db::DbConn;
use crate::limits::velocity::{self, History};
use std::collections::HashMap;

/// What the fraud rules know while a group is decided: each payer's
/// history, and for each request whether its payee was paid before.
#[derive(Default)]
pub(super) struct Watch {
    pub histories: HashMap<AccountId, History>,
    pub payee_known: HashMap<usize, bool>,
}

/// Whether money leaving `from` by this kind is watched by the fraud rules.
pub(super) fn watched(kind: TransferKind, from: &Account) -> bool {
    from.kind == AccountKind::Customer
        && matches!(kind, TransferKind::P2p | TransferKind::CashOut | TransferKind::MerchantPayment)
}

/// Loads what the fraud rules need for this group, inside its transaction;
/// nothing when no rule is on and no SIM swap is in its cool-off.
pub(super) fn watch(
    conn: &mut DbConn,
    settings: &Settings,
    book: &HashMap<AccountId, Slot>,
    reqs: &[&TransferRequest],
    todo: &[(usize, Quote)],
    now: i64,
) -> Result<Watch, LedgerError> {
    let mut watch = Watch::default();
    let cooloff_ms = settings.sim_swap.cooloff_hours.saturating_mul(velocity::HOUR_MS);
    let payers: Vec<(usize, &Account)> = todo
        .iter()
        .filter_map(|&(i, _)| book.get(&reqs[i].from).map(|s| (i, &s.account)))
        .filter(|(i, a)| watched(reqs[*i].kind, a))
        .collect();
    if payers.is_empty() || !(settings.velocity.any() || history::any_swap_since(conn, now - cooloff_ms)?) {
        return Ok(watch);
    }
    let want = history::Want {
        known_payees: settings.velocity.new_recipients_per_hour.limit.is_some(),
        large_in_minor: settings.velocity.out_after_large_in.large_in_minor,
        swap_cooloff_ms: cooloff_ms,
    };
    for (i, payer) in payers {
        if let std::collections::hash_map::Entry::Vacant(slot) = watch.histories.entry(payer.id) {
            let msisdn = payer.msisdn.as_ref().map(|m| m.as_str());
            slot.insert(history::load(conn, payer.id, msisdn, &want, now)?);
        }
        if want.known_payees {
            let req = reqs[i];
            let known =
                watch.histories[&payer.id].has_paid(req.to) || history::paid_before(conn, req.from, req.to, i64::MAX)?;
            watch.payee_known.insert(i, known);
        }
    }
    Ok(watch)
}

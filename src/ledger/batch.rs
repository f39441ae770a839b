//! The write path of every transfer: many requests posted at once.
//!
//! The writer hands over every transfer request that queued up together (a
//! single one when traffic is light). This runs inside the batch's write
//! transaction, which one writer at a time holds (SQLite's write lock; on
//! PostgreSQL an advisory lock every writer takes), so what it reads cannot
//! change under it. It reads the accounts involved once, decides each request
//! in arrival order against their running balances and limits, and writes the
//! accepted ones with a few multi-row statements: the transfer rows (with
//! both parties' balances after, for the receipts that `notify::receipts`
//! renders from them later), their postings and one conditional update per
//! account touched.
//!
//! The update carries the batch's net change for the account and the same
//! conditions a single transfer would: an account debited must be active and
//! stay within its funds and its daily limit; an account credited must not be
//! suspended and must stay within its balance limit. It must land on exactly
//! the balance the decisions assumed, or the whole group is rolled back (and
//! the writer posts its requests one at a time instead). A refused request
//! writes nothing.

use super::account::{AccountId, AccountKind, AccountStatus};
use super::holds::{self, NewHold};
use super::tariff::{self, Quote};
use super::transfer::{entries_of, replay, Entry, Leg, Party, Receipt, TransferRequest};
use super::watch::{watch, Watch};
use super::write::{find_by_keys, insert_postings, load_accounts, net_deltas, update_account, Slot, ROWS_PER_INSERT};
use super::{LedgerError, Settings};
use crate::db::prepared::{self, Prepared};
use crate::db::{DbConn, DbError};
use crate::domain::{now_ms, Reference};
use crate::limits::velocity::{self, OutEvent, Verdict};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use std::collections::{HashMap, HashSet};

/// Posts `reqs` in order and returns a result for each. An `Err` means
/// nothing can be said for any of them: the caller rolls back what this wrote.
pub fn apply_all(
    conn: &mut DbConn,
    settings: &Settings,
    reqs: &[&TransferRequest],
) -> Result<Vec<Result<Receipt, LedgerError>>, LedgerError> {
    let mut results: Vec<Option<Result<Receipt, LedgerError>>> = reqs.iter().map(|_| None).collect();
    // A key twice in one group: the second is decided after the first is
    // written, so that it replays the first (or is tried afresh if the first
    // was refused), as it would have been one batch later.
    let mut pending: Vec<usize> = (0..reqs.len()).collect();
    while !pending.is_empty() {
        let mut seen = HashSet::new();
        let (this_round, later): (Vec<usize>, Vec<usize>) =
            pending.into_iter().partition(|&i| seen.insert(reqs[i].idempotency_key.as_str()));
        round(conn, settings, reqs, &this_round, &mut results)?;
        pending = later;
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| LedgerError::Db(DbError::Commit("a transfer was left undecided".into()))))
        .collect()
}

/// An accepted request, waiting for its transfer row.
struct Accepted {
    index: usize,
    quote: Quote,
    entries: Vec<Entry>,
    from: Party,
    to: Party,
    /// The rule that held it in suspense, if one did.
    held: Option<&'static str>,
}

fn round(
    conn: &mut DbConn,
    settings: &Settings,
    reqs: &[&TransferRequest],
    indexes: &[usize],
    results: &mut [Option<Result<Receipt, LedgerError>>],
) -> Result<(), LedgerError> {
    let now = now_ms();
    let day = settings.day_number(now);
    let todo = fresh_requests(conn, settings, reqs, indexes, results)?;
    if todo.is_empty() {
        return Ok(());
    }
    let mut book = load_accounts(conn, &accounts_of(settings, reqs, &todo), day)?;
    let mut watch = watch(conn, settings, &book, reqs, &todo, now)?;
    let mut accepted = Vec::with_capacity(todo.len());
    for (i, quote) in todo {
        match decide(settings, &mut book, &mut watch, i, reqs[i], quote, now) {
            Ok((entries, from, to, held)) => accepted.push(Accepted { index: i, quote, entries, from, to, held }),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    if accepted.is_empty() {
        return Ok(());
    }
    write_accepted(conn, settings, reqs, accepted, &book, now, results)
}

/// The requests left to decide: those that pass [`precheck`] and whose key
/// is new (a known key is answered by replaying its transfer).
fn fresh_requests(
    conn: &mut DbConn,
    settings: &Settings,
    reqs: &[&TransferRequest],
    indexes: &[usize],
    results: &mut [Option<Result<Receipt, LedgerError>>],
) -> Result<Vec<(usize, Quote)>, LedgerError> {
    let mut todo: Vec<(usize, Quote)> = Vec::with_capacity(indexes.len());
    for &i in indexes {
        match precheck(settings, reqs[i]) {
            Ok(quote) => todo.push((i, quote)),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    if todo.is_empty() {
        return Ok(todo);
    }
    let keys: Vec<&str> = todo.iter().map(|&(i, _)| reqs[i].idempotency_key.as_str()).collect();
    let mut existing = find_by_keys(conn, &keys)?;
    if existing.is_empty() {
        return Ok(todo);
    }
    let mut fresh = Vec::with_capacity(todo.len());
    for (i, quote) in todo {
        match existing.remove(&reqs[i].idempotency_key) {
            Some(row) => results[i] = Some(replay(conn, row, &reqs[i].fingerprint())),
            None => fresh.push((i, quote)),
        }
    }
    Ok(fresh)
}

/// Every account the group's requests may touch, sorted.
fn accounts_of(settings: &Settings, reqs: &[&TransferRequest], todo: &[(usize, Quote)]) -> Vec<i64> {
    let mut ids: Vec<i64> = Vec::with_capacity(todo.len() * 2 + 3);
    for &(i, quote) in todo {
        ids.extend([reqs[i].from.0, reqs[i].to.0]);
        if !quote.fee.is_zero() {
            ids.push(settings.system.fee_revenue.0);
        }
        if !quote.commission.is_zero() {
            ids.push(settings.system.commission_expense.0);
        }
    }
    if settings.velocity.any() {
        // A rule may hold a transfer in suspense.
        ids.push(settings.system.suspense.0);
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Writes the accepted transfers (rows, holds, postings, one guarded update
/// per account) and their receipts.
fn write_accepted(
    conn: &mut DbConn,
    settings: &Settings,
    reqs: &[&TransferRequest],
    accepted: Vec<Accepted>,
    book: &HashMap<AccountId, Slot>,
    now: i64,
    results: &mut [Option<Result<Receipt, LedgerError>>],
) -> Result<(), LedgerError> {
    let rows = insert_transfers(conn, reqs, &accepted, now)?;
    for (a, &(transfer_id, _)) in accepted.iter().zip(&rows) {
        if let Some(rule) = a.held {
            let req = reqs[a.index];
            let hold = NewHold {
                transfer_id,
                kind: req.kind,
                payer: req.from,
                payee: req.to,
                amount_minor: req.amount.minor(),
                fee_minor: a.quote.fee.minor(),
                commission_minor: a.quote.commission.minor(),
                rule,
                at_ms: now,
            };
            holds::insert(conn, &hold)?;
        }
    }
    let postings: Vec<(i64, Entry)> =
        accepted.iter().zip(&rows).flat_map(|(a, &(id, _))| a.entries.iter().map(move |&e| (id, e))).collect();
    insert_postings(conn, &postings)?;
    // Account-id order is the lock order.
    let mut touched: Vec<&Slot> = book.values().filter(|s| s.debited || s.credited).collect();
    touched.sort_unstable_by_key(|s| s.account.id);
    let day = settings.day_number(now);
    for slot in touched {
        update_account(conn, settings, slot, day)?;
    }
    for (a, (id, reference)) in accepted.into_iter().zip(rows) {
        let req = reqs[a.index];
        results[a.index] = Some(Ok(Receipt {
            transfer_id: id,
            reference,
            kind: req.kind,
            amount_minor: req.amount.minor(),
            fee_minor: a.quote.fee.minor(),
            commission_minor: a.quote.commission.minor(),
            from: a.from,
            to: a.to,
            reverses: None,
            created_at_ms: now,
            replayed: false,
            held_rule: a.held.map(str::to_string),
        }));
    }
    Ok(())
}

/// What can be refused without reading anything.
fn precheck(settings: &Settings, req: &TransferRequest) -> Result<Quote, LedgerError> {
    if req.kind.parties().is_none() {
        return Err(LedgerError::WrongParty(format!("{} transfers are made by mkoba itself", req.kind.as_str())));
    }
    if req.amount.is_zero() {
        return Err(LedgerError::InvalidInput("amount must be more than zero".into()));
    }
    if req.from == req.to {
        return Err(LedgerError::SelfTransfer);
    }
    tariff::quote(&settings.tariffs, req.kind, req.amount)
}

/// Decides one request against the running state and, if it goes, moves the
/// state on. Returns its postings, both parties as the receipt shows them,
/// and the rule that held it, if one did (it then pays into suspense).
#[allow(clippy::type_complexity)]
fn decide(
    settings: &Settings,
    book: &mut HashMap<AccountId, Slot>,
    watch: &mut Watch,
    index: usize,
    req: &TransferRequest,
    quote: Quote,
    now: i64,
) -> Result<(Vec<Entry>, Party, Party, Option<&'static str>), LedgerError> {
    let (from_kind, to_kind) = req.kind.parties().expect("checked by precheck");
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

    let payee_known = watch.payee_known.get(&index).copied().unwrap_or(true);
    let verdict = match watch.histories.get(&req.from) {
        Some(h) => {
            velocity::judge(&settings.velocity, &settings.sim_swap, h, now, req.to, payee_known, req.amount.minor())
        }
        None => Verdict::Pass,
    };
    let held = match verdict {
        Verdict::Decline(rule) => return Err(LedgerError::RuleDeclined { rule: rule.to_string() }),
        Verdict::Hold(rule) => Some(rule),
        Verdict::Pass => None,
    };
    // A held transfer pays its principal and its fee into suspense; the
    // payee, the fee and any commission are paid when it is released.
    let payee = if held.is_some() { settings.system.suspense } else { req.to };
    let fee_to = if held.is_some() { settings.system.suspense } else { settings.system.fee_revenue };
    let mut legs = vec![Leg { from: req.from, to: payee, amount_minor: req.amount.minor(), code: req.kind.as_str() }];
    if !quote.fee.is_zero() {
        legs.push(Leg { from: req.from, to: fee_to, amount_minor: quote.fee.minor(), code: "fee" });
    }
    if !quote.commission.is_zero() && held.is_none() {
        let agent = if from.kind == AccountKind::Agent { from.id } else { to.id };
        legs.push(Leg {
            from: settings.system.commission_expense,
            to: agent,
            amount_minor: quote.commission.minor(),
            code: "commission",
        });
    }
    let entries = entries_of(&legs);
    if entries.iter().try_fold(0i64, |acc, e| acc.checked_add(e.2)) != Some(0) {
        return Err(LedgerError::Internal("the legs of a transfer do not sum to zero".into()));
    }
    let counted = if req.kind.counts_toward_daily_limit() { req.amount.minor() } else { 0 };

    // Check every account first, then move them all: a refusal moves nothing.
    let mut moves = Vec::with_capacity(3);
    for (id, delta) in net_deltas(&entries) {
        let slot = book.get(&id).ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?;
        let a = &slot.account;
        let tier = if id == req.from || id == req.to { settings.tier_of(a) } else { None };
        if delta < 0 {
            if a.status != AccountStatus::Active {
                return Err(LedgerError::AccountNotActive { who: a.handle(), status: a.status });
            }
            // An account that may go negative still stops short of underflow.
            let after = slot.balance.checked_add(delta).filter(|&b| b >= 0 || slot.allow_negative);
            let Some(after) = after else {
                return Err(LedgerError::InsufficientFunds { who: a.handle(), available_minor: slot.balance });
            };
            let cap = tier.map_or(i64::MAX, |t| t.max_daily_out_minor);
            let counted_here = if id == req.from { counted } else { 0 };
            if slot.out_today > cap - counted_here {
                return Err(LedgerError::OverDailyLimit {
                    who: a.handle(),
                    remaining_minor: cap.saturating_sub(slot.out_today).max(0),
                });
            }
            moves.push((id, after, counted_here, true));
        } else if delta > 0 {
            if a.status == AccountStatus::Suspended {
                return Err(LedgerError::AccountNotActive { who: a.handle(), status: a.status });
            }
            let cap = tier.map_or(i64::MAX, |t| t.max_balance_minor);
            let Some(after) = slot.balance.checked_add(delta).filter(|&b| b <= cap) else {
                return Err(LedgerError::ReceiverOverBalanceLimit { who: a.handle() });
            };
            moves.push((id, after, 0, false));
        }
    }
    for (id, after, counted_here, debited) in moves {
        let slot = book.get_mut(&id).ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?;
        slot.balance = after;
        if debited {
            slot.debited = true;
            // Within the daily cap, checked above.
            slot.out_today = slot.out_today.saturating_add(counted_here);
            slot.counted = slot.counted.saturating_add(counted_here);
        } else {
            slot.credited = true;
        }
    }
    if let Some(h) = watch.histories.get_mut(&req.from) {
        let payee_known = payee_known || h.has_paid(req.to);
        h.push(OutEvent { at_ms: now, amount_minor: req.amount.minor(), payee: req.to, payee_known });
    }
    let party = |id: AccountId| {
        let slot = &book[&id];
        Party::of(&slot.account, Some(slot.balance))
    };
    Ok((entries, party(req.from), party(payee), held))
}

#[derive(QueryableByName)]
struct IdRef {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    reference: String,
}

/// The transfer rows, each with a fresh random reference. Keys were checked
/// free above and no other writer runs, so a row that does not go in lost its
/// reference to another transfer: it draws again.
fn insert_transfers(
    conn: &mut DbConn,
    reqs: &[&TransferRequest],
    accepted: &[Accepted],
    now: i64,
) -> Result<Vec<(i64, String)>, LedgerError> {
    let mut rows: Vec<Option<(i64, String)>> = accepted.iter().map(|_| None).collect();
    for _ in 0..5 {
        let missing: Vec<usize> = (0..accepted.len()).filter(|&k| rows[k].is_none()).collect();
        if missing.is_empty() {
            break;
        }
        // Rows are matched back by reference, so one draw holds each once.
        let mut drawn: HashMap<String, usize> = HashMap::with_capacity(missing.len());
        for &k in &missing {
            let mut reference = Reference::generate_at(now).to_string();
            while drawn.contains_key(&reference) {
                reference = Reference::generate_at(now).to_string();
            }
            drawn.insert(reference, k);
        }
        let drawn_list: Vec<(&String, usize)> = drawn.iter().map(|(r, &k)| (r, k)).collect();
        for chunk in drawn_list.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO transfers (reference, idempotency_key, fingerprint, kind, debit_account_id, \
                 credit_account_id, amount_minor, fee_minor, commission_minor, created_at_ms, \
                 debit_balance_after_minor, credit_balance_after_minor) VALUES {} \
                 ON CONFLICT DO NOTHING RETURNING id, reference",
                prepared::rows(chunk.len(), 12)
            );
            let inserted: Vec<IdRef> = with_conn!(conn, c => {
                let mut q = Prepared::new(sql.clone());
                for &(reference, k) in chunk {
                    let a = &accepted[k];
                    let req = reqs[a.index];
                    q = q
                        .bind::<Text, _>(reference.clone())
                        .bind::<Text, _>(req.idempotency_key.clone())
                        .bind::<Text, _>(req.fingerprint())
                        .bind::<Text, _>(req.kind.as_str())
                        .bind::<BigInt, _>(req.from.0)
                        .bind::<BigInt, _>(a.to.account_id.0)
                        .bind::<BigInt, _>(req.amount.minor())
                        .bind::<BigInt, _>(a.quote.fee.minor())
                        .bind::<BigInt, _>(a.quote.commission.minor())
                        .bind::<BigInt, _>(now)
                        .bind::<Nullable<BigInt>, _>(a.from.balance_after_minor)
                        .bind::<Nullable<BigInt>, _>(a.to.balance_after_minor);
                }
                q.load(c)
            })?;
            for row in inserted {
                if let Some(&k) = drawn.get(&row.reference) {
                    rows[k] = Some((row.id, row.reference));
                }
            }
        }
    }
    rows.into_iter()
        .map(|r| r.ok_or_else(|| LedgerError::Internal("could not allocate a unique reference".into())))
        .collect()
}

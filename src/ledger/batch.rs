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
//! renders from them later), their postings and one conditional update of
//! the accounts touched (one statement per 64 accounts).
//!
//! The update carries the batch's net change for the account and the same
//! conditions a single transfer would: an account debited must be active and
//! stay within its funds and its daily limit; an account credited must not be
//! suspended and must stay within its balance limit. It must land on exactly
//! the balance the decisions assumed, or the whole group is rolled back (and
//! the writer posts its requests one at a time instead). A refused request
//! writes nothing.

use super::account::AccountId;
use super::decide::{decide, Decision};
use super::guards::{self, ChargeRow, Guards, Pass};
use super::holds::{self, NewHold};
use super::tariff::{self, Quote};
use super::transfer::{replay, Entry, Guard, Receipt, TransferId, TransferRequest};
use super::watch::watch;
use super::write::{find_by_keys, insert_postings, load_accounts, update_accounts, Slot};
use super::{LedgerError, Settings};
use crate::db::prepared::{self, Prepared};
use crate::db::{DbConn, DbError};
use crate::domain::{now_ms, Reference};
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
    decision: Decision,
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
    let indexes: Vec<usize> = todo.iter().map(|&(i, _)| i).collect();
    let mut guards = Guards::load(conn, settings, reqs, &indexes, now)?;
    let mut accepted = Vec::with_capacity(todo.len());
    for (i, quote) in todo {
        match decide(settings, &mut book, &mut watch, &mut guards, i, reqs[i], quote, now) {
            Ok(decision) => accepted.push(Accepted { index: i, quote, decision }),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    if accepted.is_empty() {
        return Ok(());
    }
    let state = Decided { book: &book, guards: &guards };
    write_accepted(conn, settings, reqs, accepted, state, now, results)
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
    let indexes = refuse_revoked_keys(conn, reqs, indexes, results)?;
    let mut todo: Vec<(usize, Quote)> = Vec::with_capacity(indexes.len());
    for i in indexes {
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

/// Refuses, before anything else (replays included), the requests made with
/// an API key that is no longer live; returns the others.
fn refuse_revoked_keys(
    conn: &mut DbConn,
    reqs: &[&TransferRequest],
    indexes: &[usize],
    results: &mut [Option<Result<Receipt, LedgerError>>],
) -> Result<Vec<usize>, LedgerError> {
    let mut keys: Vec<i64> = indexes.iter().filter_map(|&i| reqs[i].api_key).collect();
    if keys.is_empty() {
        return Ok(indexes.to_vec());
    }
    keys.sort_unstable();
    keys.dedup();
    let live: HashSet<i64> = guards::live_keys(conn, &keys)?.into_iter().collect();
    let mut kept = Vec::with_capacity(indexes.len());
    for &i in indexes {
        match reqs[i].api_key {
            Some(key) if !live.contains(&key) => results[i] = Some(Err(LedgerError::KeyRevoked)),
            _ => kept.push(i),
        }
    }
    Ok(kept)
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

/// The state the group's decisions reached.
struct Decided<'a> {
    book: &'a HashMap<AccountId, Slot>,
    guards: &'a Guards,
}

/// Writes the accepted transfers (rows, holds, guards, postings, one guarded
/// update per account) and their receipts.
fn write_accepted(
    conn: &mut DbConn,
    settings: &Settings,
    reqs: &[&TransferRequest],
    accepted: Vec<Accepted>,
    state: Decided<'_>,
    now: i64,
    results: &mut [Option<Result<Receipt, LedgerError>>],
) -> Result<(), LedgerError> {
    let rows = insert_transfers(conn, reqs, &accepted, now)?;
    write_holds(conn, reqs, &accepted, &rows, now)?;
    let transfer_of: HashMap<usize, i64> = accepted.iter().zip(&rows).map(|(a, &(id, _))| (a.index, id)).collect();
    let charges: Vec<ChargeRow> = accepted
        .iter()
        .filter_map(|a| match a.decision.pass {
            Pass::Charge { approval_id, remaining_after, .. } => {
                Some(ChargeRow { index: a.index, approval_id, remaining_after })
            }
            _ => None,
        })
        .collect();
    state.guards.write(conn, &charges, &transfer_of, now)?;
    let postings: Vec<(i64, Entry)> =
        accepted.iter().zip(&rows).flat_map(|(a, &(id, _))| a.decision.entries.iter().map(move |&e| (id, e))).collect();
    insert_postings(conn, &postings)?;
    // Account-id order is the lock order.
    let mut touched: Vec<&Slot> = state.book.values().filter(|s| s.debited || s.credited).collect();
    touched.sort_unstable_by_key(|s| s.account.id);
    update_accounts(conn, settings, &touched, settings.day_number(now))?;
    for (a, (id, reference)) in accepted.into_iter().zip(rows) {
        let req = reqs[a.index];
        let remaining = match a.decision.pass {
            Pass::Charge { remaining_after, .. } => Some(remaining_after),
            _ => None,
        };
        results[a.index] = Some(Ok(Receipt {
            transfer_id: TransferId(id),
            reference,
            kind: req.kind,
            amount_minor: req.amount.minor(),
            fee_minor: a.quote.fee.minor(),
            commission_minor: a.quote.commission.minor(),
            from: a.decision.from,
            to: a.decision.to,
            reverses: None,
            created_at_ms: now,
            replayed: false,
            held_rule: a.decision.held.map(str::to_string),
            allowance_remaining_minor: remaining,
        }));
    }
    Ok(())
}

/// The holds rows of the transfers a rule held.
fn write_holds(
    conn: &mut DbConn,
    reqs: &[&TransferRequest],
    accepted: &[Accepted],
    rows: &[(i64, String)],
    now: i64,
) -> Result<(), LedgerError> {
    for (a, &(transfer_id, _)) in accepted.iter().zip(rows) {
        if let Some(rule) = a.decision.held {
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
    Ok(())
}

/// The payment a refund returns part of.
fn refunded(req: &TransferRequest) -> Option<i64> {
    match req.guard {
        Some(Guard::Refund { original }) => Some(original.0),
        _ => None,
    }
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
        for chunk in drawn_list.chunks(prepared::ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO transfers (reference, idempotency_key, fingerprint, kind, debit_account_id, \
                 credit_account_id, amount_minor, fee_minor, commission_minor, created_at_ms, \
                 debit_balance_after_minor, credit_balance_after_minor, refunds_transfer_id) VALUES {} \
                 ON CONFLICT DO NOTHING RETURNING id, reference",
                prepared::rows(chunk.len(), 13)
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
                        .bind::<BigInt, _>(a.decision.to.account_id.0)
                        .bind::<BigInt, _>(req.amount.minor())
                        .bind::<BigInt, _>(a.quote.fee.minor())
                        .bind::<BigInt, _>(a.quote.commission.minor())
                        .bind::<BigInt, _>(now)
                        .bind::<Nullable<BigInt>, _>(a.decision.from.balance_after_minor)
                        .bind::<Nullable<BigInt>, _>(a.decision.to.balance_after_minor)
                        .bind::<Nullable<BigInt>, _>(refunded(req));
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

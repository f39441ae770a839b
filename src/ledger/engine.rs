//! Movements the posting engine makes on its own account, one at a time:
//! reversals and the release of held transfers. Their legs are moved by the
//! same guarded statement the group path uses ([`super::write`]): one
//! conditional update per account, in account-id order, that must land on
//! the balance decided here. The legs are asserted to sum to zero before
//! anything is written.

use super::account::AccountId;
use super::decide;
use super::transfer::{
    entries_of, find_by_id, find_by_key, find_by_reference, find_reversal_of, load, replay, stored_receipt, Entry, Leg,
    Receipt, ReversalRequest, TransferKind, TransferRequest, TransferRow,
};
use super::write;
use super::{LedgerError, Settings};
use crate::db::prepared::Prepared;
use crate::db::DbConn;
use crate::domain::{now_ms, Reference};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use std::collections::BTreeMap;

/// The row a movement claims: its idempotency key and a fresh reference.
#[derive(Clone, Copy)]
struct NewTransfer<'a> {
    key: &'a str,
    fingerprint: &'a str,
    kind: TransferKind,
    debit: AccountId,
    credit: AccountId,
    amount_minor: i64,
    fee_minor: i64,
    commission_minor: i64,
    reverses: Option<i64>,
    created_at_ms: i64,
}

/// What claiming a row came to.
enum Claim {
    Row(i64),
    /// The key (or the original's one reversal) was taken: this answer.
    Answered(Box<Result<Receipt, LedgerError>>),
}

/// References drawn before giving up (a collision is one in 36^4 per tenth
/// of a second, so a second draw is already rare).
const REFERENCE_DRAWS: usize = 5;

/// Inserts the transfer row with a fresh reference. When a unique value is
/// taken, `taken` says whether that answers the request (a replay, an
/// earlier reversal); if it does not, the reference collided: draw again.
fn claim(
    conn: &mut DbConn,
    t: NewTransfer<'_>,
    mut taken: impl FnMut(&mut DbConn) -> Result<Option<Result<Receipt, LedgerError>>, LedgerError>,
) -> Result<Claim, LedgerError> {
    #[derive(QueryableByName)]
    struct IdRow {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    const SQL: &str = "INSERT INTO transfers (reference, idempotency_key, fingerprint, kind, debit_account_id, \
        credit_account_id, amount_minor, fee_minor, commission_minor, reverses_transfer_id, created_at_ms) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id";
    for _ in 0..REFERENCE_DRAWS {
        let reference = Reference::generate_at(t.created_at_ms);
        let rows: Vec<IdRow> = with_conn!(conn, c => Prepared::new(SQL)
            .bind::<Text, _>(reference.to_string())
            .bind::<Text, _>(t.key.to_string())
            .bind::<Text, _>(t.fingerprint.to_string())
            .bind::<Text, _>(t.kind.as_str())
            .bind::<BigInt, _>(t.debit.0)
            .bind::<BigInt, _>(t.credit.0)
            .bind::<BigInt, _>(t.amount_minor)
            .bind::<BigInt, _>(t.fee_minor)
            .bind::<BigInt, _>(t.commission_minor)
            .bind::<Nullable<BigInt>, _>(t.reverses)
            .bind::<BigInt, _>(t.created_at_ms)
            .load(c))?;
        if let Some(row) = rows.first() {
            return Ok(Claim::Row(row.id));
        }
        if let Some(answer) = taken(conn)? {
            return Ok(Claim::Answered(Box::new(answer)));
        }
    }
    Err(LedgerError::Internal("could not allocate a unique reference".into()))
}

/// Moves `entries` on their accounts and returns each account's balance
/// after. A `corrective` movement (a reversal) may debit or credit an
/// account in any state and past its limits, but never below zero; any
/// other is held to status and limits like a transfer. The decision is the
/// one every transfer gets ([`decide::check_moves`]).
fn move_entries(
    conn: &mut DbConn,
    settings: &Settings,
    entries: &[Entry],
    corrective: bool,
    now: i64,
) -> Result<BTreeMap<AccountId, i64>, LedgerError> {
    decide::assert_balanced(entries)?;
    let deltas = write::net_deltas(entries);
    let ids: Vec<i64> = deltas.keys().map(|a| a.0).collect();
    let day = settings.day_number(now);
    let mut book = write::load_accounts(conn, &ids, day)?;
    let moves = decide::check_moves(settings, &book, entries, &decide::Rules { corrective, counted: None })?;
    decide::apply_moves(&mut book, moves, corrective)?;
    // Account-id order is the lock order.
    let touched: Vec<&write::Slot> =
        deltas.keys().filter_map(|id| book.get(id)).filter(|s| s.debited || s.credited).collect();
    write::update_accounts(conn, settings, &touched, day)?;
    Ok(book.into_iter().map(|(id, slot)| (id, slot.balance)).collect())
}

/// Writes the postings and the balances after, then reads the receipt.
fn finish(
    conn: &mut DbConn,
    transfer_id: i64,
    entries: &[Entry],
    balances: &BTreeMap<AccountId, i64>,
    debit: AccountId,
    credit: AccountId,
) -> Result<Receipt, LedgerError> {
    let postings: Vec<(i64, Entry)> = entries.iter().map(|&e| (transfer_id, e)).collect();
    write::insert_postings(conn, &postings)?;
    // The row is still this transaction's own: nothing saw it without them.
    const SQL: &str = "UPDATE transfers SET debit_balance_after_minor = ?, credit_balance_after_minor = ? WHERE id = ?";
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Nullable<BigInt>, _>(balances.get(&debit).copied())
        .bind::<Nullable<BigInt>, _>(balances.get(&credit).copied())
        .bind::<BigInt, _>(transfer_id)
        .execute(c))?;
    let row = find_by_id(conn, transfer_id)?.ok_or_else(|| LedgerError::TransferNotFound(transfer_id.to_string()))?;
    stored_receipt(conn, row)
}

/// Posts the exact opposite of every posting of the original transfer, only
/// while each account it credited still holds what it received.
pub fn apply_reversal(conn: &mut DbConn, settings: &Settings, req: &ReversalRequest) -> Result<Receipt, LedgerError> {
    let original = find_by_reference(conn, req.reference.as_str())?
        .ok_or_else(|| LedgerError::TransferNotFound(req.reference.to_string()))?;
    // Money in suspense moves only through its hold, which says where it went.
    if !super::holds::of_transfers(conn, &[original.id])?.is_empty() {
        return Err(LedgerError::HeldTransfer(original.reference));
    }
    reverse_row(conn, settings, original, &req.idempotency_key)
}

/// Reverses a stored transfer (every posting negated), claiming `key`.
pub(super) fn reverse_row(
    conn: &mut DbConn,
    settings: &Settings,
    original: TransferRow,
    key: &str,
) -> Result<Receipt, LedgerError> {
    if original.reverses_transfer_id.is_some() {
        return Err(LedgerError::NotReversible);
    }
    let fingerprint = format!("reversal|{}", original.id);
    let (payer, payee) = (AccountId(original.credit_account_id), AccountId(original.debit_account_id));
    let now = now_ms();
    let new = NewTransfer {
        key,
        fingerprint: &fingerprint,
        kind: TransferKind::Reversal,
        debit: payer,
        credit: payee,
        amount_minor: original.amount_minor,
        fee_minor: original.fee_minor,
        commission_minor: original.commission_minor,
        reverses: Some(original.id),
        created_at_ms: now,
    };
    let transfer_id = match claim(conn, new, |conn| {
        if let Some(existing) = find_by_key(conn, key)? {
            return Ok(Some(replay(conn, existing, &fingerprint)));
        }
        Ok(find_reversal_of(conn, original.id)?.map(|reversal| {
            Err(LedgerError::AlreadyReversed { original: original.reference.clone(), reversal: reversal.reference })
        }))
    })? {
        Claim::Row(id) => id,
        Claim::Answered(answer) => return *answer,
    };
    let entries = original_entries(conn, settings, &original)?;
    let balances = move_entries(conn, settings, &entries, true, now)?;
    finish(conn, transfer_id, &entries, &balances, payer, payee)
}

/// The original's postings, negated.
fn original_entries(conn: &mut DbConn, settings: &Settings, original: &TransferRow) -> Result<Vec<Entry>, LedgerError> {
    use crate::db::schema::postings;
    // Found through postings_account: these are all the accounts a transfer can touch.
    let accounts = [
        original.debit_account_id,
        original.credit_account_id,
        settings.system.fee_revenue.0,
        settings.system.commission_expense.0,
    ];
    let original_postings: Vec<(i64, i64)> = with_conn!(conn, c => postings::table
        .select((postings::account_id, postings::amount_minor))
        .filter(postings::account_id.eq_any(accounts))
        .filter(postings::transfer_id.eq(original.id))
        .load(c))?;
    original_postings
        .iter()
        .map(|&(account, amount)| {
            let negated =
                amount.checked_neg().ok_or_else(|| LedgerError::corrupt("postings.amount_minor", "i64::MIN"))?;
            Ok((AccountId(account), "reversal", negated))
        })
        .collect()
}

/// Pays out a held transfer from suspense: the principal to the payee, the
/// fee to fee revenue and (cash-out) the agent's commission, as the transfer
/// would have been posted. The payee must be able to receive it now.
pub(super) fn post_release(
    conn: &mut DbConn,
    settings: &Settings,
    req: &TransferRequest,
    fee_minor: i64,
    commission_minor: i64,
) -> Result<Receipt, LedgerError> {
    let payee = load(conn, req.to)?;
    let mut legs = vec![Leg { from: req.from, to: req.to, amount_minor: req.amount.minor(), code: req.kind.as_str() }];
    if fee_minor > 0 {
        legs.push(Leg { from: req.from, to: settings.system.fee_revenue, amount_minor: fee_minor, code: "fee" });
    }
    if commission_minor > 0 {
        legs.push(Leg {
            from: settings.system.commission_expense,
            to: payee.id,
            amount_minor: commission_minor,
            code: "commission",
        });
    }
    let entries = entries_of(&legs);
    let fingerprint = req.fingerprint();
    let now = now_ms();
    let new = NewTransfer {
        key: &req.idempotency_key,
        fingerprint: &fingerprint,
        kind: req.kind,
        debit: req.from,
        credit: req.to,
        amount_minor: req.amount.minor(),
        fee_minor,
        commission_minor,
        reverses: None,
        created_at_ms: now,
    };
    let transfer_id = match claim(conn, new, |conn| {
        Ok(find_by_key(conn, &req.idempotency_key)?.map(|existing| replay(conn, existing, &fingerprint)))
    })? {
        Claim::Row(id) => id,
        Claim::Answered(answer) => return *answer,
    };
    let balances = move_entries(conn, settings, &entries, false, now)?;
    finish(conn, transfer_id, &entries, &balances, req.from, req.to)
}

//! Transfers: requests, receipts, replays and reversals. Transfers are posted
//! by [`super::batch`], alone or many at once; a transfer is immutable.
//!
//! A reversal claims its idempotency key first (a unique row), then every
//! account it touches changes by one conditional statement in account-id
//! order, then its postings are written, all inside one savepoint of a
//! group-commit batch.

use super::account::{self, Account, AccountId, AccountKind};
use super::{LedgerError, Settings};
use crate::db::prepared::Prepared;
use crate::db::schema::{postings, transfers};
use crate::db::DbConn;
use crate::domain::{now_ms, Money, Reference};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    P2p,
    CashIn,
    CashOut,
    MerchantPayment,
    FloatIssue,
    Fee,
    Commission,
    Reversal,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::P2p => "p2p",
            TransferKind::CashIn => "cash_in",
            TransferKind::CashOut => "cash_out",
            TransferKind::MerchantPayment => "merchant_payment",
            TransferKind::FloatIssue => "float_issue",
            TransferKind::Fee => "fee",
            TransferKind::Commission => "commission",
            TransferKind::Reversal => "reversal",
        }
    }

    /// A kind read from the database; anything else is a corrupt row.
    pub fn from_stored(s: &str) -> Result<TransferKind, LedgerError> {
        TransferKind::parse(s).ok_or_else(|| LedgerError::corrupt("transfers.kind", s))
    }

    pub fn parse(s: &str) -> Option<TransferKind> {
        Some(match s {
            "p2p" => TransferKind::P2p,
            "cash_in" => TransferKind::CashIn,
            "cash_out" => TransferKind::CashOut,
            "merchant_payment" => TransferKind::MerchantPayment,
            "float_issue" => TransferKind::FloatIssue,
            "fee" => TransferKind::Fee,
            "commission" => TransferKind::Commission,
            "reversal" => TransferKind::Reversal,
            _ => return None,
        })
    }

    /// Who may pay whom with this kind.
    pub(super) fn parties(self) -> Option<(AccountKind, AccountKind)> {
        use AccountKind::*;
        Some(match self {
            TransferKind::P2p => (Customer, Customer),
            TransferKind::CashIn => (Agent, Customer),
            TransferKind::CashOut => (Customer, Agent),
            TransferKind::MerchantPayment => (Customer, Merchant),
            TransferKind::FloatIssue => (System, Agent),
            TransferKind::Fee | TransferKind::Commission | TransferKind::Reversal => return None,
        })
    }

    /// Whether the principal counts toward the payer's daily outgoing limit.
    pub(super) fn counts_toward_daily_limit(self) -> bool {
        matches!(self, TransferKind::P2p | TransferKind::CashIn | TransferKind::CashOut | TransferKind::MerchantPayment)
    }
}

/// A request to move money. The key makes retries safe: the same key with the
/// same content returns the first result and moves nothing again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub idempotency_key: String,
    pub kind: TransferKind,
    pub from: AccountId,
    pub to: AccountId,
    pub amount: Money,
}

impl TransferRequest {
    pub(super) fn fingerprint(&self) -> String {
        format!("{}|{}|{}|{}", self.kind.as_str(), self.from.0, self.to.0, self.amount.minor())
    }
}

/// One side of a completed transfer, as shown on receipts.
#[derive(Debug, Clone, Serialize)]
pub struct Party {
    pub account_id: AccountId,
    pub kind: AccountKind,
    pub name: String,
    pub msisdn: Option<String>,
    pub till: Option<String>,
    /// Balance right after this transfer (unknown for transfers stored
    /// before balances were kept with them).
    pub balance_after_minor: Option<i64>,
    pub language: super::Language,
    /// Where this party's receipts go: its phone, or a merchant's contact.
    pub notify_to: Option<String>,
}

impl Party {
    pub(super) fn of(account: &Account, balance_after_minor: Option<i64>) -> Party {
        Party {
            account_id: account.id,
            kind: account.kind,
            name: account.name.clone(),
            msisdn: account.msisdn.as_ref().map(|m| m.to_string()),
            till: account.till.as_ref().map(|t| t.to_string()),
            balance_after_minor,
            language: account.language,
            notify_to: account.msisdn.as_ref().or(account.contact_msisdn.as_ref()).map(|m| m.to_string()),
        }
    }
}

/// The result of a completed transfer.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub transfer_id: i64,
    pub reference: String,
    pub kind: TransferKind,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub commission_minor: i64,
    pub from: Party,
    pub to: Party,
    pub reverses: Option<String>,
    pub created_at_ms: i64,
    /// True when this is the stored result of an earlier identical request.
    pub replayed: bool,
    /// Set when a fraud rule held the transfer in suspense (`to` is then
    /// the suspense account): the rule's name.
    pub held_rule: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = transfers)]
pub struct TransferRow {
    pub id: i64,
    pub reference: String,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub kind: String,
    pub debit_account_id: i64,
    pub credit_account_id: i64,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub commission_minor: i64,
    pub reverses_transfer_id: Option<i64>,
    pub created_at_ms: i64,
    /// The debited and the credited account's balance right after this
    /// transfer, as its receipts show them (unknown before migration 5).
    pub debit_balance_after_minor: Option<i64>,
    pub credit_balance_after_minor: Option<i64>,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct BalanceRow {
    #[diesel(sql_type = BigInt)]
    balance_minor: i64,
}

/// A movement of `amount` from one account to another inside a transfer.
pub(super) struct Leg {
    pub from: AccountId,
    pub to: AccountId,
    pub amount_minor: i64,
    pub code: &'static str,
}

struct NewTransfer<'a> {
    reference: &'a str,
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

/// Claims the idempotency key (and a fresh reference) with the transfer row.
/// `None` when a unique value is taken: the key, the reference, or (for a
/// reversal) the original's one reversal.
fn insert_transfer(conn: &mut DbConn, t: &NewTransfer<'_>) -> Result<Option<i64>, LedgerError> {
    const SQL: &str = "INSERT INTO transfers (reference, idempotency_key, fingerprint, kind, debit_account_id, \
        credit_account_id, amount_minor, fee_minor, commission_minor, reverses_transfer_id, created_at_ms) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id";
    let rows: Vec<IdRow> = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Text, _>(t.reference.to_string())
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
    Ok(rows.first().map(|r| r.id))
}

/// Takes `amount` from an account if it has it (or may go negative), is
/// active (unless `any_status`), and stays within its daily limit. Returns the
/// new balance, or `None` when a condition fails.
#[allow(clippy::too_many_arguments)]
fn debit(
    conn: &mut DbConn,
    id: AccountId,
    amount_minor: i64,
    day: i64,
    counted_minor: i64,
    daily_cap_minor: i64,
    any_status: bool,
) -> Result<Option<i64>, LedgerError> {
    // The allow_negative branch also stops issuance accounts short of i64
    // underflow (SQLite would silently turn it into a float).
    const SQL: &str = "UPDATE accounts SET \
        balance_minor = balance_minor - ?, \
        out_day_minor = (CASE WHEN out_day = ? THEN out_day_minor ELSE 0 END) + ?, \
        out_day = ? \
        WHERE id = ? AND (? = 1 OR status = 'active') \
        AND ((allow_negative = 1 AND balance_minor >= ? - 9223372036854775807) OR balance_minor >= ?) \
        AND (CASE WHEN out_day = ? THEN out_day_minor ELSE 0 END) <= ? - ? \
        RETURNING balance_minor";
    let rows: Vec<BalanceRow> = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(amount_minor)
        .bind::<BigInt, _>(day)
        .bind::<BigInt, _>(counted_minor)
        .bind::<BigInt, _>(day)
        .bind::<BigInt, _>(id.0)
        .bind::<Integer, _>(i32::from(any_status))
        .bind::<BigInt, _>(amount_minor)
        .bind::<BigInt, _>(amount_minor)
        .bind::<BigInt, _>(day)
        .bind::<BigInt, _>(daily_cap_minor)
        .bind::<BigInt, _>(counted_minor)
        .load(c))?;
    Ok(rows.first().map(|r| r.balance_minor))
}

/// Adds `amount` to an account unless that would pass `cap_minor` or the
/// account is suspended (unless `any_status`). Returns the new balance.
fn credit(
    conn: &mut DbConn,
    id: AccountId,
    amount_minor: i64,
    cap_minor: i64,
    any_status: bool,
) -> Result<Option<i64>, LedgerError> {
    const SQL: &str = "UPDATE accounts SET balance_minor = balance_minor + ? \
        WHERE id = ? AND (? = 1 OR status <> 'suspended') AND balance_minor <= ? - ? \
        RETURNING balance_minor";
    let rows: Vec<BalanceRow> = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(amount_minor)
        .bind::<BigInt, _>(id.0)
        .bind::<Integer, _>(i32::from(any_status))
        .bind::<BigInt, _>(cap_minor)
        .bind::<BigInt, _>(amount_minor)
        .load(c))?;
    Ok(rows.first().map(|r| r.balance_minor))
}

/// A posting before it is written: one account's signed share of a leg.
pub(super) type Entry = (AccountId, &'static str, i64);

pub(super) fn entries_of(legs: &[Leg]) -> Vec<Entry> {
    legs.iter().flat_map(|l| [(l.from, l.code, -l.amount_minor), (l.to, l.code, l.amount_minor)]).collect()
}

fn find_by_key(conn: &mut DbConn, key: &str) -> Result<Option<TransferRow>, LedgerError> {
    Ok(with_conn!(conn, c => transfers::table
        .select(TransferRow::as_select())
        .filter(transfers::idempotency_key.eq(key))
        .first(c)
        .optional())?)
}

pub fn find_by_reference(conn: &mut DbConn, reference: &str) -> Result<Option<TransferRow>, LedgerError> {
    Ok(with_conn!(conn, c => transfers::table
        .select(TransferRow::as_select())
        .filter(transfers::reference.eq(reference))
        .first(c)
        .optional())?)
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> Result<Option<TransferRow>, LedgerError> {
    Ok(with_conn!(conn, c => transfers::table
        .select(TransferRow::as_select())
        .find(id)
        .first(c)
        .optional())?)
}

fn find_reversal_of(conn: &mut DbConn, original_id: i64) -> Result<Option<TransferRow>, LedgerError> {
    Ok(with_conn!(conn, c => transfers::table
        .select(TransferRow::as_select())
        .filter(transfers::reverses_transfer_id.eq(original_id))
        .first(c)
        .optional())?)
}

/// The receipt of a transfer already stored, for a replayed request.
pub(super) fn replay(conn: &mut DbConn, row: TransferRow, fingerprint: &str) -> Result<Receipt, LedgerError> {
    if row.fingerprint != fingerprint {
        return Err(LedgerError::IdempotencyConflict);
    }
    let mut receipt = stored_receipt(conn, row)?;
    receipt.replayed = true;
    Ok(receipt)
}

pub fn stored_receipt(conn: &mut DbConn, row: TransferRow) -> Result<Receipt, LedgerError> {
    let from = load(conn, AccountId(row.debit_account_id))?;
    let to = load(conn, AccountId(row.credit_account_id))?;
    let reverses = match row.reverses_transfer_id {
        Some(id) => find_by_id(conn, id)?.map(|t| t.reference),
        None => None,
    };
    let id = row.id;
    let mut receipt = receipt_of(row, &from, &to, reverses)?;
    if to.kind == AccountKind::System {
        receipt.held_rule =
            super::holds::of_transfers(conn, &[id])?.into_iter().find(|h| h.hold_transfer_id == id).map(|h| h.rule);
    }
    Ok(receipt)
}

/// The receipt of a stored transfer: its parties as they are now, with the
/// balances they had right after it.
pub fn receipt_of(
    row: TransferRow,
    from: &Account,
    to: &Account,
    reverses: Option<String>,
) -> Result<Receipt, LedgerError> {
    Ok(Receipt {
        transfer_id: row.id,
        kind: TransferKind::from_stored(&row.kind)?,
        reference: row.reference,
        amount_minor: row.amount_minor,
        fee_minor: row.fee_minor,
        commission_minor: row.commission_minor,
        from: Party::of(from, row.debit_balance_after_minor),
        to: Party::of(to, row.credit_balance_after_minor),
        reverses,
        created_at_ms: row.created_at_ms,
        replayed: false,
        held_rule: None,
    })
}

fn load(conn: &mut DbConn, id: AccountId) -> Result<Account, LedgerError> {
    account::find_by_id(conn, id)?.ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))
}

/// Posts one transfer (see [`super::batch`], which posts every transfer).
/// Runs inside a savepoint of the caller's: an error leaves nothing written.
pub fn apply(conn: &mut DbConn, settings: &Settings, req: &TransferRequest) -> Result<Receipt, LedgerError> {
    super::batch::apply_all(conn, settings, &[req])?
        .pop()
        .unwrap_or_else(|| Err(LedgerError::Internal("no result for the transfer".into())))
}

/// A request to undo a completed transfer with a compensating one.
#[derive(Debug, Clone)]
pub struct ReversalRequest {
    pub idempotency_key: String,
    pub reference: Reference,
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
    let req = ReversalRequest {
        idempotency_key: key.to_string(),
        reference: Reference::parse(&original.reference)
            .map_err(|_| LedgerError::corrupt("transfers.reference", &original.reference))?,
    };
    let fingerprint = format!("reversal|{}", original.id);
    let now = now_ms();
    let mut attempts = 0;
    let transfer_id = loop {
        attempts += 1;
        let reference = Reference::generate();
        let new = NewTransfer {
            reference: reference.as_str(),
            key: &req.idempotency_key,
            fingerprint: &fingerprint,
            kind: TransferKind::Reversal,
            debit: AccountId(original.credit_account_id),
            credit: AccountId(original.debit_account_id),
            amount_minor: original.amount_minor,
            fee_minor: original.fee_minor,
            commission_minor: original.commission_minor,
            reverses: Some(original.id),
            created_at_ms: now,
        };
        if let Some(id) = insert_transfer(conn, &new)? {
            break id;
        }
        if let Some(existing) = find_by_key(conn, &req.idempotency_key)? {
            return replay(conn, existing, &fingerprint);
        }
        if let Some(reversal) = find_reversal_of(conn, original.id)? {
            return Err(LedgerError::AlreadyReversed { original: original.reference, reversal: reversal.reference });
        }
        if attempts >= 5 {
            return Err(LedgerError::Internal("could not allocate a unique reference".into()));
        }
    };

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
    let entries: Vec<Entry> =
        original_postings.iter().map(|&(account, amount)| (AccountId(account), "reversal", -amount)).collect();
    // Today's outgoing totals are kept as they are: a reversal is not a payment.
    let day = settings.day_number(now);
    let mut balances = BTreeMap::new();
    for (id, delta) in super::batch::net_deltas(&entries) {
        let new_balance = if delta < 0 {
            debit(conn, id, -delta, day, 0, i64::MAX, true)?.ok_or_else(|| {
                let who = account::find_by_id(conn, id).ok().flatten().map_or(id.to_string(), |a| a.handle());
                LedgerError::ReversalFundsGone { who }
            })?
        } else if delta > 0 {
            credit(conn, id, delta, i64::MAX, true)?.ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?
        } else {
            continue;
        };
        balances.insert(id, new_balance);
    }
    let postings: Vec<(i64, Entry)> = entries.iter().map(|&e| (transfer_id, e)).collect();
    super::batch::insert_postings(conn, &postings)?;

    // The balances after it are known only now; the row is still this
    // transaction's own, so nothing has seen it without them.
    const SQL: &str = "UPDATE transfers SET debit_balance_after_minor = ?, credit_balance_after_minor = ? WHERE id = ?";
    let (payer, payee) = (AccountId(original.credit_account_id), AccountId(original.debit_account_id));
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Nullable<BigInt>, _>(balances.get(&payer).copied())
        .bind::<Nullable<BigInt>, _>(balances.get(&payee).copied())
        .bind::<BigInt, _>(transfer_id)
        .execute(c))?;
    let row = find_by_id(conn, transfer_id)?.ok_or_else(|| LedgerError::TransferNotFound(transfer_id.to_string()))?;
    stored_receipt(conn, row)
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
    now: i64,
) -> Result<Receipt, LedgerError> {
    let payee = load(conn, req.to)?;
    let mut legs = vec![Leg { from: req.from, to: req.to, amount_minor: req.amount.minor(), code: req.kind.as_str() }];
    if fee_minor > 0 {
        legs.push(Leg { from: req.from, to: settings.system.fee_revenue, amount_minor: fee_minor, code: "fee" });
    }
    if commission_minor > 0 {
        legs.push(Leg {
            from: settings.system.commission_expense,
            to: req.to,
            amount_minor: commission_minor,
            code: "commission",
        });
    }
    let entries = entries_of(&legs);
    let fingerprint = req.fingerprint();
    let mut attempts = 0;
    let transfer_id = loop {
        attempts += 1;
        let reference = Reference::generate();
        let new = NewTransfer {
            reference: reference.as_str(),
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
        if let Some(id) = insert_transfer(conn, &new)? {
            break id;
        }
        if let Some(existing) = find_by_key(conn, &req.idempotency_key)? {
            return replay(conn, existing, &fingerprint);
        }
        if attempts >= 5 {
            return Err(LedgerError::Internal("could not allocate a unique reference".into()));
        }
    };
    let cap = settings.tier_of(&payee).map_or(i64::MAX, |t| t.max_balance_minor);
    let mut balances = BTreeMap::new();
    for (id, delta) in super::batch::net_deltas(&entries) {
        let new_balance = if delta < 0 {
            debit(conn, id, -delta, settings.day_number(now), 0, i64::MAX, true)?
                .ok_or_else(|| LedgerError::InsufficientFunds { who: id.to_string(), available_minor: 0 })?
        } else if delta > 0 {
            let cap = if id == req.to { cap } else { i64::MAX };
            credit(conn, id, delta, cap, id != req.to)?.ok_or_else(|| match payee.status {
                account::AccountStatus::Suspended => {
                    LedgerError::AccountNotActive { who: payee.handle(), status: payee.status }
                }
                _ => LedgerError::ReceiverOverBalanceLimit { who: payee.handle() },
            })?
        } else {
            continue;
        };
        balances.insert(id, new_balance);
    }
    let postings: Vec<(i64, Entry)> = entries.iter().map(|&e| (transfer_id, e)).collect();
    super::batch::insert_postings(conn, &postings)?;
    const SQL: &str = "UPDATE transfers SET debit_balance_after_minor = ?, credit_balance_after_minor = ? WHERE id = ?";
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Nullable<BigInt>, _>(balances.get(&req.from).copied())
        .bind::<Nullable<BigInt>, _>(balances.get(&req.to).copied())
        .bind::<BigInt, _>(transfer_id)
        .execute(c))?;
    let row = find_by_id(conn, transfer_id)?.ok_or_else(|| LedgerError::TransferNotFound(transfer_id.to_string()))?;
    stored_receipt(conn, row)
}

//! Transfers: requests, receipts, replays and reversals. Transfers are posted
//! by [`super::batch`], alone or many at once; a transfer is immutable.
//!
//! A reversal claims its idempotency key first (a unique row), then every
//! account it touches changes by one conditional statement in account-id
//! order, then its postings are written, all inside one savepoint of a
//! group-commit batch.

use super::account::{self, Account, AccountId, AccountKind};
use super::{LedgerError, Settings};
use crate::db::schema::transfers;
use crate::db::DbConn;
use crate::domain::{Money, Reference};
use crate::with_conn;
use diesel::prelude::*;
use serde::Serialize;

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
    /// Customer to till under an allowance, without a PIN.
    Charge,
    /// Till to customer (creator payouts, prizes).
    Payout,
    /// Till to customer, returning part of a payment it received.
    Refund,
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
            TransferKind::Charge => "charge",
            TransferKind::Payout => "payout",
            TransferKind::Refund => "refund",
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
            "charge" => TransferKind::Charge,
            "payout" => TransferKind::Payout,
            "refund" => TransferKind::Refund,
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
            TransferKind::Charge => (Customer, Merchant),
            TransferKind::Payout | TransferKind::Refund => (Merchant, Customer),
            TransferKind::Fee | TransferKind::Commission | TransferKind::Reversal => return None,
        })
    }

    /// Whether the principal counts toward the payer's daily outgoing limit.
    pub(super) fn counts_toward_daily_limit(self) -> bool {
        matches!(
            self,
            TransferKind::P2p
                | TransferKind::CashIn
                | TransferKind::CashOut
                | TransferKind::MerchantPayment
                | TransferKind::Charge
        )
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
    /// A condition the posting engine decides with the balances (an
    /// allowance, a payment request, a refund's original).
    pub guard: Option<Guard>,
    /// The caller's own fingerprint of what it asked (an API request's
    /// body hash): part of what a replay must match.
    pub client_hash: Option<String>,
    /// The API key (its `api_keys` row) the request was made with. The
    /// engine refuses the request, replays included, unless that key is
    /// still live when the group is decided, so a key revoked in any process
    /// moves no more money: the caller need not read the key first.
    pub api_key: Option<i64>,
}

impl TransferRequest {
    /// A plain transfer: no guard, no client fingerprint.
    pub fn new(idempotency_key: String, kind: TransferKind, from: AccountId, to: AccountId, amount: Money) -> Self {
        TransferRequest { idempotency_key, kind, from, to, amount, guard: None, client_hash: None, api_key: None }
    }

    pub(super) fn fingerprint(&self) -> String {
        let mut f = format!("{}|{}|{}|{}", self.kind.as_str(), self.from.0, self.to.0, self.amount.minor());
        if let Some(g) = &self.guard {
            f.push('|');
            f.push_str(&g.fingerprint());
        }
        if let Some(h) = &self.client_hash {
            f.push('|');
            f.push_str(h);
        }
        f
    }
}

/// What a transfer must satisfy besides balances and limits, decided in the
/// same group decision as them (see [`super::guards`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// A charge under the allowance with this approval id: it must be active
    /// and have the amount left in its current period.
    Allowance { approval_id: i64 },
    /// The payment of the payment request with this approval id: it must be
    /// pending and unexpired, and is approved by this transfer, once.
    Request { approval_id: i64 },
    /// A refund of this transfer: never more, in total, than it paid.
    Refund { original: TransferId },
}

impl Guard {
    fn fingerprint(&self) -> String {
        match self {
            Guard::Allowance { approval_id } => format!("allowance:{approval_id}"),
            Guard::Request { approval_id } => format!("request:{approval_id}"),
            Guard::Refund { original } => format!("refund:{}", original.0),
        }
    }
}

/// A transfer's row id: never mistaken for an account's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TransferId(pub i64);

impl std::fmt::Display for TransferId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
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
    pub transfer_id: TransferId,
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
    /// A charge's allowance: what is left of it in this period right after.
    pub allowance_remaining_minor: Option<i64>,
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
    /// The payment a refund returns part of.
    pub refunds_transfer_id: Option<i64>,
}

/// A movement of `amount` from one account to another inside a transfer.
pub(super) struct Leg {
    pub from: AccountId,
    pub to: AccountId,
    pub amount_minor: i64,
    pub code: &'static str,
}

/// A posting before it is written: one account's signed share of a leg.
pub(super) type Entry = (AccountId, &'static str, i64);

pub(super) fn entries_of(legs: &[Leg]) -> Vec<Entry> {
    legs.iter().flat_map(|l| [(l.from, l.code, -l.amount_minor), (l.to, l.code, l.amount_minor)]).collect()
}

pub fn find_by_key(conn: &mut DbConn, key: &str) -> Result<Option<TransferRow>, LedgerError> {
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

/// Up to `limit` transfers with an id above `after_id`, in commit order:
/// the pages `mkoba transfer list` walks.
pub fn page_after(conn: &mut DbConn, after_id: i64, limit: i64) -> Result<Vec<TransferRow>, LedgerError> {
    Ok(with_conn!(conn, c => transfers::table
        .select(TransferRow::as_select())
        .filter(transfers::id.gt(after_id))
        .order(transfers::id)
        .limit(limit)
        .load(c))?)
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> Result<Option<TransferRow>, LedgerError> {
    Ok(with_conn!(conn, c => transfers::table
        .select(TransferRow::as_select())
        .find(id)
        .first(c)
        .optional())?)
}

pub(super) fn find_reversal_of(conn: &mut DbConn, original_id: i64) -> Result<Option<TransferRow>, LedgerError> {
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
        transfer_id: TransferId(row.id),
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
        allowance_remaining_minor: None,
    })
}

pub(super) fn load(conn: &mut DbConn, id: AccountId) -> Result<Account, LedgerError> {
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

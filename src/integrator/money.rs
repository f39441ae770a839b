//! Money an integrator moves: charges under an allowance, payouts and
//! refunds. Each is one ledger transfer whose idempotency key is the
//! caller's own (`api:<till>:<key>`) and whose client hash is the caller's
//! fingerprint of what it asked, so a retried request is answered with the
//! first result and a changed one is refused. Every limit (the allowance's
//! remaining amount, what is left to refund) is decided by the posting
//! engine in its group decision, never here.

use super::approvals;
use super::asks::unknown;
use super::directory::{Directory, Fixed};
use super::keys;
use super::ApprovalKind;
use crate::db::schema::transfers;
use crate::db::DbConn;
use crate::domain::{hex, now_ms, Money, Msisdn, Reference};
use crate::ledger::account::{self, Account, AccountKind};
use crate::ledger::transfer::{self as ledger_transfer, TransferRow};
use crate::ledger::TransferRequest;
use crate::ledger::{guards, AccountId, AccountKey, Guard, Ledger, LedgerError, Receipt, TransferId, TransferKind};
use crate::with_conn;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

/// The longest idempotency key the ledger stores.
const LEDGER_KEY_MAX: usize = 200;

/// A till's request to move money, with what makes it unique.
#[derive(Debug, Clone)]
pub struct Caller {
    pub till: AccountId,
    /// The ledger's idempotency key for this request.
    pub ledger_key: String,
    /// The caller's fingerprint of the request (method, path and body).
    pub client_hash: String,
    /// The API key whose liveness is left to the posting engine (see
    /// [`TransferRequest::api_key`]); `None` when it was read live already.
    pub api_key: Option<i64>,
}

impl Caller {
    /// A till whose key was read live for this request.
    pub fn new(till: AccountId, idempotency_key: &str, client_hash: String) -> Caller {
        Caller { till, ledger_key: ledger_key(till, idempotency_key), client_hash, api_key: None }
    }

    /// A till acting with the key in row `key_row`, not read live yet: the
    /// engine refuses the transfer if the key is revoked.
    pub fn with_key(till: AccountId, key_row: i64, idempotency_key: &str, client_hash: String) -> Caller {
        Caller { api_key: Some(key_row), ..Caller::new(till, idempotency_key, client_hash) }
    }

    fn request(
        &self,
        kind: TransferKind,
        from: AccountId,
        to: AccountId,
        amount: Money,
        guard: Option<Guard>,
    ) -> TransferRequest {
        let mut req = TransferRequest::new(self.ledger_key.clone(), kind, from, to, amount);
        req.guard = guard;
        req.client_hash = Some(self.client_hash.clone());
        req.api_key = self.api_key;
        req
    }
}

/// `api:<till id>:<key>`; a key too long for that to fit is replaced by its
/// SHA-256 (still one key per till and key).
pub fn ledger_key(till: AccountId, key: &str) -> String {
    let plain = format!("api:{}:{key}", till.0);
    if plain.len() <= LEDGER_KEY_MAX {
        return plain;
    }
    format!("api:{}:sha256:{}", till.0, hex(&Sha256::digest(key.as_bytes())))
}

/// A charge made (or replayed).
#[derive(Debug, Clone)]
pub struct Charged {
    pub receipt: Receipt,
    /// What the allowance had left in its period right after this charge.
    pub remaining_minor: i64,
    pub allowance_id: String,
}

/// Charges `amount` under the till's allowance `allowance_id`, without a
/// PIN. The allowance must be the till's own (else not found); whether it
/// is active and has the amount left is the engine's decision. Which
/// allowance the id names is read once per process and then remembered in
/// `directory` (it never changes).
pub async fn charge(
    ledger: &Ledger,
    directory: &Directory,
    caller: &Caller,
    allowance_id: &str,
    amount: Money,
) -> Result<Charged, LedgerError> {
    let allowance = match directory.get(allowance_id) {
        Some(known) => Some(known),
        None => {
            let public_id = allowance_id.to_string();
            let found = ledger.read(move |c| approvals::find_by_public_id(c, &public_id)).await?;
            let fixed = found.as_ref().map(Fixed::from);
            if let Some(fixed) = &fixed {
                directory.remember(allowance_id, fixed.clone());
            }
            fixed
        }
    };
    let allowance = match allowance {
        Some(a) if a.kind == ApprovalKind::Allowance && a.till == caller.till => a,
        _ => return Err(not_found(ledger, caller, allowance_id).await),
    };
    let guard = Guard::Allowance { approval_id: allowance.id };
    let req = caller.request(TransferKind::Charge, allowance.customer, caller.till, amount, Some(guard));
    let receipt = match ledger.submit(req).await {
        // The engine sees a pending allowance past its expiry as pending:
        // it is expired (the sweeper marks it so soon after).
        Err(LedgerError::ApprovalNotOpen { status }) if status == "pending" && allowance.expires_at_ms <= now_ms() => {
            return Err(LedgerError::ApprovalNotOpen { status: "expired".into() });
        }
        other => other?,
    };
    let remaining_minor = match receipt.allowance_remaining_minor {
        Some(r) => r,
        None => {
            let id = receipt.transfer_id;
            ledger
                .read(move |c| guards::remaining_after(c, id))
                .await?
                .ok_or_else(|| LedgerError::Internal(format!("charge {id} has no allowance row")))?
        }
    };
    Ok(Charged { receipt, remaining_minor, allowance_id: allowance_id.to_string() })
}

/// Not found, whoever's it is; but a revoked key (whose liveness the engine
/// would have decided) learns nothing about the till's allowances, not even
/// that.
async fn not_found(ledger: &Ledger, caller: &Caller, allowance_id: &str) -> LedgerError {
    if let Some(key) = caller.api_key {
        if let Err(e) = keys::refuse_if_revoked(ledger, key).await {
            return e;
        }
    }
    unknown(allowance_id)
}

/// The till pays `amount` to the customer with this number.
pub async fn payout(ledger: &Ledger, caller: &Caller, msisdn: &Msisdn, amount: Money) -> Result<Receipt, LedgerError> {
    let customer = ledger.find_account(AccountKey::Msisdn(msisdn.clone())).await?;
    let customer = customer.ok_or_else(|| LedgerError::UnknownAccount(msisdn.masked()))?;
    if customer.kind != AccountKind::Customer {
        return Err(LedgerError::WrongParty(format!("{} is not a customer", msisdn.masked())));
    }
    // The account's status is the engine's to check, so that a retried
    // payout is answered as it was even if the account changed since.
    ledger.submit(caller.request(TransferKind::Payout, caller.till, customer.id, amount, None)).await
}

/// A refund made (or replayed).
#[derive(Debug, Clone)]
pub struct Refunded {
    pub receipt: Receipt,
    /// The payment it returns part of.
    pub refunded_reference: String,
}

/// What a refund's original looks like to the till asking.
struct Original {
    row: TransferRow,
    /// Refunded of it so far.
    refunded_minor: i64,
    /// The transfer this very request made, if it was made before.
    earlier: Option<TransferRow>,
}

/// Returns `amount` (or, without one, all not yet refunded) of the payment
/// `reference` the till received. Only a merchant payment or charge paid
/// to this till can be refunded; the engine refuses any refund that would
/// take the total refunded above what was paid, however many race.
pub async fn refund(
    ledger: &Ledger,
    caller: &Caller,
    reference: &str,
    amount: Option<Money>,
) -> Result<Refunded, LedgerError> {
    let not_found = || LedgerError::TransferNotFound(reference.chars().take(20).collect());
    let reference = Reference::parse(reference).map_err(|_| not_found())?;
    let (till, key) = (caller.till, caller.ledger_key.clone());
    let original = ledger.read(move |c| original_of(c, till, reference.as_str(), &key)).await?.ok_or_else(not_found)?;
    let amount = match (amount, &original.earlier) {
        (Some(amount), _) => amount,
        // A retry of an earlier refund of "all the rest": what it refunded.
        (None, Some(earlier)) => money(earlier.amount_minor)?,
        (None, None) => {
            let rest = original.row.amount_minor.saturating_sub(original.refunded_minor);
            if rest <= 0 {
                return Err(LedgerError::RefundExceedsPaid { remaining_minor: 0 });
            }
            money(rest)?
        }
    };
    let guard = Guard::Refund { original: TransferId(original.row.id) };
    let payer = AccountId(original.row.debit_account_id);
    let receipt = ledger.submit(caller.request(TransferKind::Refund, till, payer, amount, Some(guard))).await?;
    Ok(Refunded { receipt, refunded_reference: original.row.reference })
}

fn money(minor: i64) -> Result<Money, LedgerError> {
    Money::from_minor(minor).map_err(|e| LedgerError::corrupt("transfers.amount_minor", &e.to_string()))
}

fn original_of(
    conn: &mut DbConn,
    till: AccountId,
    reference: &str,
    key: &str,
) -> Result<Option<Original>, LedgerError> {
    let Some(row) = ledger_transfer::find_by_reference(conn, reference)? else { return Ok(None) };
    let refundable = matches!(row.kind.as_str(), "merchant_payment" | "charge");
    if !refundable || row.credit_account_id != till.0 {
        return Ok(None);
    }
    let refunded_minor = refunded_of(conn, row.id)?;
    let earlier = ledger_transfer::find_by_key(conn, key)?;
    Ok(Some(Original { row, refunded_minor, earlier }))
}

/// The total of the refunds of transfer `id`.
pub fn refunded_of(conn: &mut DbConn, id: i64) -> Result<i64, LedgerError> {
    let amounts: Vec<i64> = with_conn!(conn, c => transfers::table
        .select(transfers::amount_minor)
        .filter(transfers::refunds_transfer_id.eq(id))
        .load(c))?;
    amounts
        .into_iter()
        .try_fold(0i64, |sum, a| sum.checked_add(a))
        .ok_or_else(|| LedgerError::corrupt("transfers.amount_minor", "refunds overflowing i64"))
}

/// A transfer as a till party to it sees it.
#[derive(Debug, Clone)]
pub struct TillTransfer {
    pub row: TransferRow,
    /// True when the till was paid, false when it paid.
    pub incoming: bool,
    pub counterparty: Account,
    /// For a payment: what was refunded of it so far.
    pub refunded_minor: i64,
    /// For a refund: the payment it returns part of.
    pub refund_of: Option<String>,
}

/// The transfer `reference` if `till` is a party to it; none otherwise.
pub fn transfer_for(conn: &mut DbConn, till: AccountId, reference: &str) -> Result<Option<TillTransfer>, LedgerError> {
    let Ok(reference) = Reference::parse(reference) else { return Ok(None) };
    let Some(row) = ledger_transfer::find_by_reference(conn, reference.as_str())? else { return Ok(None) };
    let incoming = row.credit_account_id == till.0;
    if !incoming && row.debit_account_id != till.0 {
        return Ok(None);
    }
    let other = AccountId(if incoming { row.debit_account_id } else { row.credit_account_id });
    let counterparty =
        account::find_by_id(conn, other)?.ok_or_else(|| LedgerError::UnknownAccount(other.to_string()))?;
    let refunded_minor = refunded_of(conn, row.id)?;
    let refund_of = match row.refunds_transfer_id {
        Some(id) => ledger_transfer::find_by_id(conn, id)?.map(|t| t.reference),
        None => None,
    };
    Ok(Some(TillTransfer { row, incoming, counterparty, refunded_minor, refund_of }))
}

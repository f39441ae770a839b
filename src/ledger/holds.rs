//! Transfers a velocity rule held in suspense, and what settles them.
//!
//! The posting engine posts a held transfer from the payer to the
//! `suspense` account (principal and fee) and writes its `holds` row in the
//! same transaction. An operator then releases it (suspense pays the payee,
//! the fee and any agent commission, as the transfer would have) or returns
//! it (the hold transfer is reversed: the payer gets all of it back). The
//! hold's status moves from `held` exactly once, by a compare-and-set in the
//! transaction that posts the settling transfer, so concurrent calls settle
//! it once.

use super::account::AccountId;
use super::transfer::{self, Receipt, TransferKind, TransferRequest};
use super::{LedgerError, Settings};
use crate::db::prepared::Prepared;
use crate::db::DbConn;
use crate::domain::{now_ms, Reference};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::Serialize;

/// A hold as stored.
#[derive(Debug, Clone, QueryableByName)]
pub struct HoldRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub hold_transfer_id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub payer_id: i64,
    #[diesel(sql_type = BigInt)]
    pub payee_id: i64,
    #[diesel(sql_type = BigInt)]
    pub amount_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub fee_minor: i64,
    #[diesel(sql_type = BigInt)]
    pub commission_minor: i64,
    #[diesel(sql_type = Text)]
    pub rule: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub held_at_ms: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub resolved_at_ms: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub resolution_transfer_id: Option<i64>,
}

/// A held transfer as an operator sees it (`mkoba held list --json`).
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub reference: String,
    pub payer: String,
    pub payee: String,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub kind: String,
    pub rule: String,
    /// RFC 3339, UTC.
    pub held_at: String,
}

/// What the posting engine holds: written with the hold transfer's row.
pub struct NewHold<'a> {
    pub transfer_id: i64,
    pub kind: TransferKind,
    pub payer: AccountId,
    pub payee: AccountId,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub commission_minor: i64,
    pub rule: &'a str,
    pub at_ms: i64,
}

pub(super) fn insert(conn: &mut DbConn, h: &NewHold<'_>) -> Result<(), LedgerError> {
    const SQL: &str = "INSERT INTO holds (hold_transfer_id, kind, payer_id, payee_id, amount_minor, fee_minor, \
        commission_minor, rule, held_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(h.transfer_id)
        .bind::<Text, _>(h.kind.as_str())
        .bind::<BigInt, _>(h.payer.0)
        .bind::<BigInt, _>(h.payee.0)
        .bind::<BigInt, _>(h.amount_minor)
        .bind::<BigInt, _>(h.fee_minor)
        .bind::<BigInt, _>(h.commission_minor)
        .bind::<Text, _>(h.rule.to_string())
        .bind::<BigInt, _>(h.at_ms)
        .execute(c))?;
    Ok(())
}

const COLUMNS: &str = "id, hold_transfer_id, kind, payer_id, payee_id, amount_minor, fee_minor, commission_minor, \
    rule, status, held_at_ms, resolved_at_ms, resolution_transfer_id";

/// The holds a transfer made or settled (for receipts and replays).
pub fn of_transfers(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<HoldRow>, LedgerError> {
    super::write::rows_with_id_lists(
        conn,
        |list| {
            format!("SELECT {COLUMNS} FROM holds WHERE hold_transfer_id IN {list} OR resolution_transfer_id IN {list}")
        },
        2,
        ids,
    )
}

/// Transfers still held, oldest first.
pub fn list(conn: &mut DbConn, limit: i64) -> Result<Vec<Held>, LedgerError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        reference: String,
        #[diesel(sql_type = Text)]
        payer: String,
        #[diesel(sql_type = Text)]
        payee: String,
        #[diesel(sql_type = BigInt)]
        amount_minor: i64,
        #[diesel(sql_type = BigInt)]
        fee_minor: i64,
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = Text)]
        rule: String,
        #[diesel(sql_type = BigInt)]
        held_at_ms: i64,
    }
    const SQL: &str = "SELECT t.reference, COALESCE(a.msisdn, a.till, a.system_code) AS payer, \
        COALESCE(b.msisdn, b.till, b.system_code) AS payee, h.amount_minor, h.fee_minor, h.kind, h.rule, h.held_at_ms \
        FROM holds h JOIN transfers t ON t.id = h.hold_transfer_id \
        JOIN accounts a ON a.id = h.payer_id JOIN accounts b ON b.id = h.payee_id \
        WHERE h.status = 'held' ORDER BY h.id LIMIT ?";
    let rows: Vec<Row> = with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(limit).load(c))?;
    Ok(rows
        .into_iter()
        .map(|r| Held {
            reference: r.reference,
            payer: r.payer,
            payee: r.payee,
            amount_minor: r.amount_minor,
            fee_minor: r.fee_minor,
            kind: r.kind,
            rule: r.rule,
            held_at: crate::domain::time::rfc3339(r.held_at_ms),
        })
        .collect())
}

/// What an operator does with a held transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Pay the payee, as the transfer would have.
    Release,
    /// Give everything back to the payer.
    Return,
}

impl Settle {
    fn status(self) -> &'static str {
        match self {
            Settle::Release => "released",
            Settle::Return => "returned",
        }
    }
}

/// Releases or returns the transfer held under `reference`, once: a second
/// call (or a concurrent one) is refused with what happened to it.
pub fn settle(
    conn: &mut DbConn,
    settings: &Settings,
    reference: &Reference,
    how: Settle,
) -> Result<Receipt, LedgerError> {
    let original = transfer::find_by_reference(conn, reference.as_str())?
        .ok_or_else(|| LedgerError::TransferNotFound(reference.to_string()))?;
    let hold = of_transfers(conn, &[original.id])?
        .into_iter()
        .find(|h| h.hold_transfer_id == original.id)
        .ok_or_else(|| LedgerError::NotHeld(reference.to_string()))?;
    if hold.status != "held" {
        return Err(LedgerError::AlreadySettled { reference: reference.to_string(), status: hold.status });
    }
    let receipt = match how {
        Settle::Release => release(conn, settings, &hold, &original.reference)?,
        Settle::Return => super::engine::reverse_row(conn, settings, original, &format!("hold-return:{}", hold.id))?,
    };
    // Compare-and-set: the writer's lock makes it certain, this makes it checked.
    const SQL: &str = "UPDATE holds SET status = ?, resolved_at_ms = ?, resolution_transfer_id = ? \
        WHERE id = ? AND status = 'held'";
    let moved = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Text, _>(how.status())
        .bind::<BigInt, _>(receipt.created_at_ms)
        .bind::<BigInt, _>(receipt.transfer_id.0)
        .bind::<BigInt, _>(hold.id)
        .execute(c))?;
    if moved != 1 {
        return Err(LedgerError::AlreadySettled { reference: reference.to_string(), status: "settled".into() });
    }
    Ok(receipt)
}

/// Suspense pays what the held transfer would have paid.
fn release(
    conn: &mut DbConn,
    settings: &Settings,
    hold: &HoldRow,
    hold_reference: &str,
) -> Result<Receipt, LedgerError> {
    let kind = TransferKind::from_stored(&hold.kind)?;
    let req = TransferRequest {
        idempotency_key: format!("hold-release:{}", hold.id),
        kind,
        from: settings.system.suspense,
        to: AccountId(hold.payee_id),
        amount: crate::domain::Money::from_minor(hold.amount_minor)
            .map_err(|_| LedgerError::corrupt("holds.amount_minor", &hold.amount_minor.to_string()))?,
        guard: None,
        client_hash: None,
        api_key: None,
    };
    let _ = hold_reference;
    super::engine::post_release(conn, settings, &req, hold.fee_minor, hold.commission_minor)
}

/// Records a transfer a rule declined (it moved nothing); operators are
/// alerted from this table.
pub fn record_decline(conn: &mut DbConn, req: &TransferRequest, rule: &str) -> Result<(), LedgerError> {
    const SQL: &str = "INSERT INTO declines (idempotency_key, kind, payer_id, payee_id, amount_minor, rule, \
        declined_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)";
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Text, _>(req.idempotency_key.clone())
        .bind::<Text, _>(req.kind.as_str())
        .bind::<BigInt, _>(req.from.0)
        .bind::<BigInt, _>(req.to.0)
        .bind::<BigInt, _>(req.amount.minor())
        .bind::<Text, _>(rule.to_string())
        .bind::<BigInt, _>(now_ms())
        .execute(c))?;
    Ok(())
}

/// A decline as stored.
#[derive(Debug, Clone, QueryableByName)]
pub struct DeclineRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = BigInt)]
    pub payer_id: i64,
    #[diesel(sql_type = BigInt)]
    pub payee_id: i64,
    #[diesel(sql_type = BigInt)]
    pub amount_minor: i64,
    #[diesel(sql_type = Text)]
    pub rule: String,
    #[diesel(sql_type = BigInt)]
    pub declined_at_ms: i64,
}

/// Declines after `after_id`, oldest first.
pub fn declines_after(conn: &mut DbConn, after_id: i64, limit: i64) -> Result<Vec<DeclineRow>, LedgerError> {
    const SQL: &str = "SELECT id, kind, payer_id, payee_id, amount_minor, rule, declined_at_ms FROM declines \
        WHERE id > ? ORDER BY id LIMIT ?";
    Ok(with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(after_id).bind::<BigInt, _>(limit).load(c))?)
}

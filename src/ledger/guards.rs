//! Conditions a transfer carries beyond balances and limits, decided in the
//! group decision with them: a charge stays within its allowance, a payment
//! request is paid once, a refund never returns more than was paid. The
//! state is read inside the group's write transaction (no other writer
//! runs), moved as requests are accepted, and written back by statements
//! that must land on exactly what was read, so a decision can never be a
//! read-then-write beside the ledger.

use super::transfer::{Guard, TransferId, TransferKind, TransferRequest};
use super::{LedgerError, Settings};
use crate::db::prepared::{self, Prepared};
use crate::db::{DbConn, DbError};
use crate::domain::time::Period;
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use std::collections::HashMap;

/// An approval (payment request or allowance) as the decision sees it.
#[derive(QueryableByName, Clone)]
struct ApprovalState {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    till_id: i64,
    #[diesel(sql_type = BigInt)]
    customer_id: i64,
    #[diesel(sql_type = BigInt)]
    amount_minor: i64,
    #[diesel(sql_type = Nullable<Text>)]
    period: Option<String>,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    period_no: i64,
    #[diesel(sql_type = BigInt)]
    spent_minor: i64,
    #[diesel(sql_type = BigInt)]
    expires_at_ms: i64,
}

/// A payment that may be refunded, with what was refunded of it so far.
struct Refundable {
    kind: TransferKind,
    payer: i64,
    payee: i64,
    paid_minor: i64,
    refunded_minor: i64,
}

/// One approval's state as the group moves it.
struct Slot {
    read: ApprovalState,
    /// The allowance's period now and what it has spent in it.
    period_no: i64,
    spent_minor: i64,
    /// The transfer (by request index) that approves a payment request.
    approved_by: Option<usize>,
    changed: bool,
}

/// The guards' state for one group.
#[derive(Default)]
pub(super) struct Guards {
    approvals: HashMap<i64, Slot>,
    refunds: HashMap<TransferId, Refundable>,
}

/// What accepting a guarded request changes; applied only once every other
/// check has passed, so a refusal moves nothing.
pub(super) enum Pass {
    None,
    Charge { approval_id: i64, spent_after: i64, remaining_after: i64 },
    Request { approval_id: i64 },
    Refund { original: TransferId, amount_minor: i64 },
}

/// A charge's allowance, for the rows the write adds.
pub(super) struct ChargeRow {
    pub index: usize,
    pub approval_id: i64,
    pub remaining_after: i64,
}

impl Guards {
    /// Reads the state the guarded requests among `todo` need.
    pub fn load(
        conn: &mut DbConn,
        settings: &Settings,
        reqs: &[&TransferRequest],
        todo: &[usize],
        now: i64,
    ) -> Result<Guards, LedgerError> {
        let mut guards = Guards::default();
        let mut approval_ids = Vec::new();
        let mut originals = Vec::new();
        for &i in todo {
            match reqs[i].guard {
                Some(Guard::Allowance { approval_id }) | Some(Guard::Request { approval_id }) => {
                    approval_ids.push(approval_id)
                }
                Some(Guard::Refund { original }) => originals.push(original),
                None => {}
            }
        }
        if approval_ids.is_empty() && originals.is_empty() {
            return Ok(guards);
        }
        approval_ids.sort_unstable();
        approval_ids.dedup();
        for state in load_approvals(conn, &approval_ids)? {
            let period_no = match state.period.as_deref() {
                Some(p) => Period::parse(p)
                    .ok_or_else(|| LedgerError::corrupt("approvals.period", p))?
                    .number(now, settings.day_utc_offset_minutes),
                None => 0,
            };
            let spent_minor = if period_no == state.period_no { state.spent_minor } else { 0 };
            guards
                .approvals
                .insert(state.id, Slot { read: state, period_no, spent_minor, approved_by: None, changed: false });
        }
        originals.sort_unstable();
        originals.dedup();
        guards.refunds = load_refundables(conn, &originals)?;
        Ok(guards)
    }

    /// Whether `req` may go as far as its guard is concerned (nothing moves).
    pub fn check(&self, req: &TransferRequest, now: i64) -> Result<Pass, LedgerError> {
        match req.guard {
            None => Ok(Pass::None),
            Some(Guard::Allowance { approval_id }) => self.check_charge(req, approval_id),
            Some(Guard::Request { approval_id }) => self.check_request(req, approval_id, now),
            Some(Guard::Refund { original }) => self.check_refund(req, original),
        }
    }

    fn approval(&self, id: i64, kind: &str) -> Result<&Slot, LedgerError> {
        self.approvals
            .get(&id)
            .filter(|s| s.read.kind == kind)
            .ok_or_else(|| LedgerError::UnknownApproval(id.to_string()))
    }

    fn check_charge(&self, req: &TransferRequest, approval_id: i64) -> Result<Pass, LedgerError> {
        let slot = self.approval(approval_id, "allowance")?;
        if req.kind != TransferKind::Charge || slot.read.customer_id != req.from.0 || slot.read.till_id != req.to.0 {
            return Err(LedgerError::UnknownApproval(approval_id.to_string()));
        }
        if slot.read.status != "active" {
            return Err(LedgerError::ApprovalNotOpen { status: slot.read.status.clone() });
        }
        let remaining = slot.read.amount_minor.saturating_sub(slot.spent_minor).max(0);
        let spent_after = slot.spent_minor.checked_add(req.amount.minor()).filter(|&s| s <= slot.read.amount_minor);
        let Some(spent_after) = spent_after else {
            return Err(LedgerError::AllowanceExhausted { remaining_minor: remaining });
        };
        Ok(Pass::Charge { approval_id, spent_after, remaining_after: slot.read.amount_minor - spent_after })
    }

    fn check_request(&self, req: &TransferRequest, approval_id: i64, now: i64) -> Result<Pass, LedgerError> {
        let slot = self.approval(approval_id, "payment")?;
        let r = &slot.read;
        if req.kind != TransferKind::MerchantPayment
            || r.customer_id != req.from.0
            || r.till_id != req.to.0
            || r.amount_minor != req.amount.minor()
        {
            return Err(LedgerError::UnknownApproval(approval_id.to_string()));
        }
        if r.status != "pending" || slot.approved_by.is_some() {
            let status = if slot.approved_by.is_some() { "approved" } else { r.status.as_str() };
            return Err(LedgerError::ApprovalNotOpen { status: status.to_string() });
        }
        if r.expires_at_ms <= now {
            return Err(LedgerError::ApprovalNotOpen { status: "expired".into() });
        }
        Ok(Pass::Request { approval_id })
    }

    fn check_refund(&self, req: &TransferRequest, original: TransferId) -> Result<Pass, LedgerError> {
        let not_found = || LedgerError::TransferNotFound(original.to_string());
        let paid = self.refunds.get(&original).ok_or_else(not_found)?;
        // Only the till that was paid may refund, and only to the payer.
        if req.kind != TransferKind::Refund
            || paid.payee != req.from.0
            || paid.payer != req.to.0
            || !matches!(paid.kind, TransferKind::MerchantPayment | TransferKind::Charge)
        {
            return Err(not_found());
        }
        let remaining = paid.paid_minor.saturating_sub(paid.refunded_minor).max(0);
        if req.amount.minor() > remaining {
            return Err(LedgerError::RefundExceedsPaid { remaining_minor: remaining });
        }
        Ok(Pass::Refund { original, amount_minor: req.amount.minor() })
    }

    /// Moves the state on for an accepted request.
    pub fn accept(&mut self, index: usize, pass: &Pass) -> Result<(), LedgerError> {
        let missing = || LedgerError::Internal("a guard passed without its state".into());
        match *pass {
            Pass::None => {}
            Pass::Charge { approval_id, spent_after, .. } => {
                let slot = self.approvals.get_mut(&approval_id).ok_or_else(missing)?;
                slot.spent_minor = spent_after;
                slot.changed = true;
            }
            Pass::Request { approval_id } => {
                let slot = self.approvals.get_mut(&approval_id).ok_or_else(missing)?;
                slot.approved_by = Some(index);
                slot.changed = true;
            }
            Pass::Refund { original, amount_minor } => {
                let paid = self.refunds.get_mut(&original).ok_or_else(missing)?;
                paid.refunded_minor = paid.refunded_minor.checked_add(amount_minor).ok_or_else(missing)?;
            }
        }
        Ok(())
    }

    /// Writes the moved state back: each statement must land on the state
    /// read (the write lock makes it so; this makes it checked). `transfer_of`
    /// maps a request index to its new transfer id.
    pub fn write(
        &self,
        conn: &mut DbConn,
        charges: &[ChargeRow],
        transfer_of: &HashMap<usize, i64>,
        now: i64,
    ) -> Result<(), LedgerError> {
        let mut allowances = Vec::new();
        for slot in self.approvals.values().filter(|s| s.changed) {
            match slot.approved_by {
                Some(index) => {
                    let transfer = transfer_of
                        .get(&index)
                        .copied()
                        .ok_or_else(|| LedgerError::Internal("an approved payment request has no transfer".into()))?;
                    approve_request(conn, slot.read.id, transfer, now)?;
                }
                None => allowances.push(slot),
            }
        }
        spend_allowances(conn, &allowances)?;
        insert_charges(conn, charges, transfer_of)
    }
}

fn load_approvals(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<ApprovalState>, LedgerError> {
    super::write::rows_with_ids(
        conn,
        "SELECT id, kind, till_id, customer_id, amount_minor, period, status, period_no, spent_minor, \
         expires_at_ms FROM approvals WHERE id IN",
        ids,
    )
}

/// Of the API key rows `ids` (sorted, deduplicated), those still live: the
/// keys requests were made with, read in the group's transaction, so that a
/// revocation committed before it stops them (see
/// [`TransferRequest::api_key`]).
pub(super) fn live_keys(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<i64>, LedgerError> {
    #[derive(QueryableByName)]
    struct Live {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let live: Vec<Live> =
        super::write::rows_with_ids(conn, "SELECT id FROM api_keys WHERE revoked_at_ms IS NULL AND id IN", ids)?;
    Ok(live.into_iter().map(|r| r.id).collect())
}

fn load_refundables(
    conn: &mut DbConn,
    originals: &[TransferId],
) -> Result<HashMap<TransferId, Refundable>, LedgerError> {
    #[derive(QueryableByName)]
    struct Paid {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = BigInt)]
        debit_account_id: i64,
        #[diesel(sql_type = BigInt)]
        credit_account_id: i64,
        #[diesel(sql_type = BigInt)]
        amount_minor: i64,
        #[diesel(sql_type = BigInt)]
        refunded_minor: i64,
    }
    const SQL: &str = "SELECT t.id, t.kind, t.debit_account_id, t.credit_account_id, t.amount_minor, \
        CAST(COALESCE((SELECT SUM(r.amount_minor) FROM transfers r WHERE r.refunds_transfer_id = t.id), 0) AS BIGINT) \
        AS refunded_minor FROM transfers t WHERE t.id = ?";
    let mut found = HashMap::with_capacity(originals.len());
    for &original in originals {
        let rows: Vec<Paid> = with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(original.0).load(c))?;
        for p in rows {
            found.insert(
                TransferId(p.id),
                Refundable {
                    kind: TransferKind::from_stored(&p.kind)?,
                    payer: p.debit_account_id,
                    payee: p.credit_account_id,
                    paid_minor: p.amount_minor,
                    refunded_minor: p.refunded_minor,
                },
            );
        }
    }
    Ok(found)
}

fn approve_request(conn: &mut DbConn, approval_id: i64, transfer_id: i64, now: i64) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE approvals SET status = 'approved', transfer_id = ?, decided_at_ms = ? \
        WHERE id = ? AND status = 'pending'";
    let n = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(transfer_id)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(approval_id)
        .execute(c))?;
    landed(n, approval_id)
}

/// What the group spent of each allowance in `slots`, each landing only on
/// the period and spending that were read (one statement per 64).
fn spend_allowances(conn: &mut DbConn, slots: &[&Slot]) -> Result<(), LedgerError> {
    #[derive(QueryableByName)]
    struct Spent {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    for chunk in slots.chunks(prepared::ROWS_PER_STATEMENT) {
        let sql = format!(
            "WITH v (id, period_no, spent_minor, read_period_no, read_spent_minor) AS (VALUES {}) \
             UPDATE approvals SET period_no = v.period_no, spent_minor = v.spent_minor \
             FROM v WHERE approvals.id = v.id AND approvals.status = 'active' \
               AND approvals.period_no = v.read_period_no AND approvals.spent_minor = v.read_spent_minor \
             RETURNING approvals.id",
            prepared::rows(chunk.len(), 5)
        );
        let rows: Vec<Spent> = with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone());
            for slot in chunk {
                q = q
                    .bind::<BigInt, _>(slot.read.id)
                    .bind::<BigInt, _>(slot.period_no)
                    .bind::<BigInt, _>(slot.spent_minor)
                    .bind::<BigInt, _>(slot.read.period_no)
                    .bind::<BigInt, _>(slot.read.spent_minor);
            }
            q.load(c)
        })?;
        let spent: std::collections::HashSet<i64> = rows.into_iter().map(|r| r.id).collect();
        for slot in chunk {
            landed(usize::from(spent.contains(&slot.read.id)), slot.read.id)?;
        }
    }
    Ok(())
}

fn landed(rows: usize, approval_id: i64) -> Result<(), LedgerError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(LedgerError::Db(DbError::Commit(format!("approval {approval_id} changed under the writer"))))
    }
}

fn insert_charges(
    conn: &mut DbConn,
    charges: &[ChargeRow],
    transfer_of: &HashMap<usize, i64>,
) -> Result<(), LedgerError> {
    for chunk in charges.chunks(prepared::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO allowance_charges (transfer_id, approval_id, remaining_after_minor) VALUES {}",
            prepared::rows(chunk.len(), 3)
        );
        let rows: Vec<(i64, &ChargeRow)> = chunk
            .iter()
            .map(|charge| {
                let transfer = transfer_of.get(&charge.index).copied();
                transfer.map(|t| (t, charge)).ok_or_else(|| LedgerError::Internal("a charge has no transfer".into()))
            })
            .collect::<Result<_, _>>()?;
        with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone());
            for &(transfer, charge) in &rows {
                q = q
                    .bind::<BigInt, _>(transfer)
                    .bind::<BigInt, _>(charge.approval_id)
                    .bind::<BigInt, _>(charge.remaining_after);
            }
            q.execute(c)
        })?;
    }
    Ok(())
}

/// What was left of the allowance right after the charge `transfer_id`.
pub fn remaining_after(conn: &mut DbConn, transfer_id: TransferId) -> Result<Option<i64>, LedgerError> {
    use crate::db::schema::allowance_charges as ac;
    Ok(with_conn!(conn, c => ac::table
        .select(ac::remaining_after_minor)
        .filter(ac::transfer_id.eq(transfer_id.0))
        .first(c)
        .optional())?)
}

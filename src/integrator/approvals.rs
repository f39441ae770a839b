//! Payment requests and allowances: what a till asks a customer to approve
//! on the phone, stored in `approvals`. Every status change is one
//! compare-and-set from the status it was decided on, so a request decided
//! from two phones (or two processes) at once is decided once. A payment
//! request is approved by the transfer that pays it (the posting engine's
//! [`crate::ledger::Guard::Request`]); an allowance is spent by charges
//! inside the engine's decision ([`crate::ledger::Guard::Allowance`]).

use crate::db::schema::approvals;
use crate::db::DbConn;
use crate::domain::time::Period;
use crate::ledger::{AccountId, LedgerError};
use crate::with_conn;
use diesel::prelude::*;
use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    Payment,
    Allowance,
}

impl ApprovalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::Payment => "payment",
            ApprovalKind::Allowance => "allowance",
        }
    }

    fn from_stored(s: &str) -> Result<ApprovalKind, LedgerError> {
        match s {
            "payment" => Ok(ApprovalKind::Payment),
            "allowance" => Ok(ApprovalKind::Allowance),
            other => Err(LedgerError::corrupt("approvals.kind", other)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    /// A payment request, paid.
    Approved,
    /// An allowance, chargeable.
    Active,
    Declined,
    Revoked,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Active => "active",
            ApprovalStatus::Declined => "declined",
            ApprovalStatus::Revoked => "revoked",
            ApprovalStatus::Expired => "expired",
        }
    }

    fn from_stored(s: &str) -> Result<ApprovalStatus, LedgerError> {
        Ok(match s {
            "pending" => ApprovalStatus::Pending,
            "approved" => ApprovalStatus::Approved,
            "active" => ApprovalStatus::Active,
            "declined" => ApprovalStatus::Declined,
            "revoked" => ApprovalStatus::Revoked,
            "expired" => ApprovalStatus::Expired,
            other => return Err(LedgerError::corrupt("approvals.status", other)),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = approvals)]
struct ApprovalRow {
    id: i64,
    public_id: String,
    kind: String,
    code: String,
    till_id: i64,
    customer_id: i64,
    amount_minor: i64,
    period: Option<String>,
    description: String,
    status: String,
    transfer_id: Option<i64>,
    period_no: i64,
    spent_minor: i64,
    created_at_ms: i64,
    expires_at_ms: i64,
    decided_at_ms: Option<i64>,
}

/// A payment request or an allowance.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    /// The row id (internal; the API shows `public_id`).
    #[serde(skip)]
    pub id: i64,
    pub public_id: String,
    pub kind: ApprovalKind,
    /// What the customer types in `APPROVE <code> <PIN>`.
    pub code: String,
    pub till: AccountId,
    pub customer: AccountId,
    /// The payment's amount, or the allowance's limit per period.
    pub amount_minor: i64,
    pub period: Option<Period>,
    pub description: String,
    /// As stored: a pending one past its expiry still says pending here;
    /// [`Approval::status_at`] says expired.
    pub status: ApprovalStatus,
    pub transfer_id: Option<i64>,
    pub period_no: i64,
    pub spent_minor: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub decided_at_ms: Option<i64>,
}

impl TryFrom<ApprovalRow> for Approval {
    type Error = LedgerError;

    fn try_from(r: ApprovalRow) -> Result<Approval, LedgerError> {
        let period = match r.period.as_deref() {
            Some(p) => Some(Period::parse(p).ok_or_else(|| LedgerError::corrupt("approvals.period", p))?),
            None => None,
        };
        Ok(Approval {
            id: r.id,
            public_id: r.public_id,
            kind: ApprovalKind::from_stored(&r.kind)?,
            code: r.code,
            till: AccountId(r.till_id),
            customer: AccountId(r.customer_id),
            amount_minor: r.amount_minor,
            period,
            description: r.description,
            status: ApprovalStatus::from_stored(&r.status)?,
            transfer_id: r.transfer_id,
            period_no: r.period_no,
            spent_minor: r.spent_minor,
            created_at_ms: r.created_at_ms,
            expires_at_ms: r.expires_at_ms,
            decided_at_ms: r.decided_at_ms,
        })
    }
}

impl Approval {
    /// The status at `now`: a pending one past its expiry is expired.
    pub fn status_at(&self, now_ms: i64) -> ApprovalStatus {
        if self.status == ApprovalStatus::Pending && self.expires_at_ms <= now_ms {
            ApprovalStatus::Expired
        } else {
            self.status
        }
    }

    /// What an allowance may still charge in the period holding `now`.
    pub fn remaining_minor(&self, now_ms: i64, offset_minutes: i64) -> i64 {
        let Some(period) = self.period else { return 0 };
        let spent = if period.number(now_ms, offset_minutes) == self.period_no { self.spent_minor } else { 0 };
        self.amount_minor.saturating_sub(spent).max(0)
    }
}

/// A payment request or allowance to create.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub kind: ApprovalKind,
    pub till: AccountId,
    pub customer: AccountId,
    pub amount_minor: i64,
    pub period: Option<Period>,
    pub description: String,
    pub expires_at_ms: i64,
}

/// Letters and digits that cannot be misread for one another on a small screen.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A code of `len` characters with at least one letter (so it never reads
/// as an amount or a PIN).
fn random_code(len: usize) -> String {
    let mut rng = rand::rng();
    loop {
        let code: String =
            (0..len).map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())])).collect();
        if code.chars().any(|c| c.is_ascii_alphabetic()) {
            return code;
        }
    }
}

/// Inserts the approval with a fresh code, unique for its customer: a code
/// taken draws again (longer after a few tries).
pub fn insert(conn: &mut DbConn, new: &NewApproval, now_ms: i64) -> Result<Approval, LedgerError> {
    let prefix = match new.kind {
        ApprovalKind::Payment => "pr_",
        ApprovalKind::Allowance => "al_",
    };
    for attempt in 0..12 {
        let code = random_code(4 + attempt / 4);
        let public_id = format!("{prefix}{}", Alphanumeric.sample_string(&mut rand::rng(), 20));
        let row = (
            approvals::public_id.eq(&public_id),
            approvals::kind.eq(new.kind.as_str()),
            approvals::code.eq(&code),
            approvals::till_id.eq(new.till.0),
            approvals::customer_id.eq(new.customer.0),
            approvals::amount_minor.eq(new.amount_minor),
            approvals::period.eq(new.period.map(Period::as_str)),
            approvals::description.eq(&new.description),
            approvals::created_at_ms.eq(now_ms),
            approvals::expires_at_ms.eq(new.expires_at_ms),
        );
        let inserted = with_conn!(conn, c => diesel::insert_into(approvals::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted == 1 {
            return find_by_public_id(conn, &public_id)?
                .ok_or_else(|| LedgerError::Internal("an approval vanished as it was created".into()));
        }
    }
    Err(LedgerError::Internal("could not draw a free approval code".into()))
}

pub fn find_by_public_id(conn: &mut DbConn, public_id: &str) -> Result<Option<Approval>, LedgerError> {
    let row: Option<ApprovalRow> = with_conn!(conn, c => approvals::table
        .select(ApprovalRow::as_select())
        .filter(approvals::public_id.eq(public_id))
        .first(c)
        .optional())?;
    row.map(Approval::try_from).transpose()
}

pub fn find_by_id(conn: &mut DbConn, id: i64) -> Result<Option<Approval>, LedgerError> {
    let row: Option<ApprovalRow> = with_conn!(conn, c => approvals::table
        .select(ApprovalRow::as_select())
        .find(id)
        .first(c)
        .optional())?;
    row.map(Approval::try_from).transpose()
}

/// The customer's approval with this code (any status).
pub fn find_by_code(conn: &mut DbConn, customer: AccountId, code: &str) -> Result<Option<Approval>, LedgerError> {
    let code = code.trim().to_ascii_uppercase();
    let row: Option<ApprovalRow> = with_conn!(conn, c => approvals::table
        .select(ApprovalRow::as_select())
        .filter(approvals::customer_id.eq(customer.0))
        .filter(approvals::code.eq(&code))
        .first(c)
        .optional())?;
    row.map(Approval::try_from).transpose()
}

/// The customer's approvals in `status`, newest first, at most `limit`.
/// Pending ones past their expiry are left out.
pub fn for_customer(
    conn: &mut DbConn,
    customer: AccountId,
    status: ApprovalStatus,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<Approval>, LedgerError> {
    let rows: Vec<ApprovalRow> = with_conn!(conn, c => approvals::table
        .select(ApprovalRow::as_select())
        .filter(approvals::customer_id.eq(customer.0))
        .filter(approvals::status.eq(status.as_str()))
        .filter(approvals::expires_at_ms.gt(now_ms).or(approvals::status.ne("pending")))
        .order(approvals::id.desc())
        .limit(limit)
        .load(c))?;
    rows.into_iter().map(Approval::try_from).collect()
}

/// Moves approval `id` from `from` to `to`, once. False when it was not in
/// `from` (or, leaving pending, had expired).
pub fn transition(
    conn: &mut DbConn,
    id: i64,
    from: ApprovalStatus,
    to: ApprovalStatus,
    now_ms: i64,
) -> Result<bool, LedgerError> {
    let n = if from == ApprovalStatus::Pending && to != ApprovalStatus::Expired {
        with_conn!(conn, c => diesel::update(approvals::table)
            .filter(approvals::id.eq(id))
            .filter(approvals::status.eq(from.as_str()))
            .filter(approvals::expires_at_ms.gt(now_ms))
            .set((approvals::status.eq(to.as_str()), approvals::decided_at_ms.eq(now_ms)))
            .execute(c))?
    } else {
        with_conn!(conn, c => diesel::update(approvals::table)
            .filter(approvals::id.eq(id))
            .filter(approvals::status.eq(from.as_str()))
            .set((approvals::status.eq(to.as_str()), approvals::decided_at_ms.eq(now_ms)))
            .execute(c))?
    };
    Ok(n == 1)
}

/// Pending approvals past their expiry, oldest first, at most `limit`.
pub fn due_to_expire(conn: &mut DbConn, now_ms: i64, limit: i64) -> Result<Vec<Approval>, LedgerError> {
    let rows: Vec<ApprovalRow> = with_conn!(conn, c => approvals::table
        .select(ApprovalRow::as_select())
        .filter(approvals::status.eq("pending"))
        .filter(approvals::expires_at_ms.le(now_ms))
        .order(approvals::expires_at_ms)
        .limit(limit)
        .load(c))?;
    rows.into_iter().map(Approval::try_from).collect()
}

/// The customer's active allowances for `till`.
pub fn active_for_till(conn: &mut DbConn, customer: AccountId, till: AccountId) -> Result<Vec<Approval>, LedgerError> {
    let rows: Vec<ApprovalRow> = with_conn!(conn, c => approvals::table
        .select(ApprovalRow::as_select())
        .filter(approvals::customer_id.eq(customer.0))
        .filter(approvals::till_id.eq(till.0))
        .filter(approvals::status.eq_any(["active", "pending"]))
        .filter(approvals::kind.eq("allowance"))
        .load(c))?;
    rows.into_iter().map(Approval::try_from).collect()
}

//! PIN attempts and the lock they lead to, kept in the database so that
//! every process and channel shares them.
//!
//! An attempt is reserved *before* argon2 runs ([`reserve`]), in its own
//! committed write: however many guesses arrive at once, from however many
//! processes, at most `pin.max_attempts` are checked between a right PIN and
//! the lock, and a locked account checks nothing (a right PIN gets the same
//! answer as a wrong one). Each reservation draws a ticket; the check's
//! result is settled in the transaction of what follows it: a right PIN
//! clears every ticket up to its own ([`settle_right`]), a wrong one may lock
//! the account ([`settle_wrong`]). A reservation never settled (a process
//! that died mid-check) stays counted as a failure: the lock errs on the
//! side of the account holder.
//!
//! The same reservation counts against the source the request came from
//! (`pin_sources`, per window), so one source guessing the PINs of many
//! numbers is refused once it has had `rate_limits.wrong_pins_per_source`
//! wrong PINs in a window.

use crate::db::DbConn;
use crate::ledger::{AccountId, AccountStatus, LedgerError};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

/// A reserved PIN check, to be settled once its result is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub account: AccountId,
    pub number: i64,
    /// The source and window this attempt was counted against.
    pub source: Option<(String, i64)>,
}

/// Whether a PIN may be checked now.
#[derive(Debug)]
pub enum Attempt {
    /// Check the PIN against this hash (the current one), then settle.
    Go(Ticket, Option<String>),
    /// Locked: nothing is checked, whatever the PIN.
    Locked,
    /// Not locked, but as many checks are already running as attempts
    /// remain: nothing is checked now (the caller may try again shortly).
    Busy,
    /// Suspended by an operator.
    NotActive,
    /// The source has had too many wrong PINs in this window.
    SourceLimited,
}

/// Limits on attempts, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimits {
    pub max_attempts: u32,
    /// Wrong PINs per source per window; 0 turns the source limit off.
    pub per_source: u32,
    pub source_window_ms: i64,
}

#[derive(QueryableByName)]
struct Reserved {
    #[diesel(sql_type = BigInt)]
    pin_tickets: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pin_hash: Option<String>,
}

/// Reserves one PIN check for `id` (and `source`), or says why not. Runs in
/// a write transaction of its own, committed before the check starts.
pub fn reserve(
    conn: &mut DbConn,
    id: AccountId,
    request: &AttemptRequest,
    limits: &AttemptLimits,
    now_ms: i64,
) -> Result<Attempt, LedgerError> {
    if let Some(ticket) = claimed(conn, &request.claim)? {
        // The same request again (an aggregator's retry): the same guess,
        // under the ticket it drew the first time.
        let now = pin_state(conn, id)?;
        return Ok(match now.status {
            AccountStatus::Active => Attempt::Go(Ticket { account: id, number: ticket, source: None }, now.pin_hash),
            AccountStatus::Suspended => Attempt::NotActive,
            AccountStatus::Locked => Attempt::Locked,
        });
    }
    let source = match request.source.as_deref() {
        Some(s) if limits.per_source > 0 && limits.source_window_ms > 0 => {
            let window = now_ms.div_euclid(limits.source_window_ms);
            if !count_source(conn, s, window, limits.per_source)? {
                return Ok(Attempt::SourceLimited);
            }
            Some((s.to_string(), window))
        }
        _ => None,
    };
    const SQL: &str = "UPDATE accounts SET pin_tickets = pin_tickets + 1, pin_failures = pin_failures + 1 \
        WHERE id = $1 AND status = 'active' AND pin_failures < $2 RETURNING pin_tickets, pin_hash";
    let max = i32::try_from(limits.max_attempts).unwrap_or(i32::MAX);
    let rows: Vec<Reserved> =
        with_conn!(conn, c => diesel::sql_query(SQL).bind::<BigInt, _>(id.0).bind::<Integer, _>(max).load(c))?;
    if let Some(row) = rows.into_iter().next() {
        claim(conn, &request.claim, id, row.pin_tickets, now_ms)?;
        return Ok(Attempt::Go(Ticket { account: id, number: row.pin_tickets, source }, row.pin_hash));
    }
    // No check: nor does it count against the source.
    if let Some((s, window)) = &source {
        uncount_source(conn, s, *window)?;
    }
    Ok(match pin_state(conn, id)?.status {
        AccountStatus::Suspended => Attempt::NotActive,
        AccountStatus::Locked => Attempt::Locked,
        AccountStatus::Active => Attempt::Busy,
    })
}

/// Who asks for a PIN check.
#[derive(Debug, Clone)]
pub struct AttemptRequest {
    /// The request's own key (a USSD hop, an inbound SMS id): a repeated
    /// request reuses its ticket instead of drawing another.
    pub claim: String,
    /// The address the request came from.
    pub source: Option<String>,
}

/// [`reserve`] through the ledger's writer, committed before it returns.
pub async fn reserve_on(
    ledger: &crate::ledger::Ledger,
    id: AccountId,
    request: AttemptRequest,
    limits: AttemptLimits,
) -> Result<Attempt, LedgerError> {
    ledger.write(move |conn| reserve(conn, id, &request, &limits, crate::domain::now_ms())).await
}

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = BigInt)]
    ticket: i64,
}

fn claimed(conn: &mut DbConn, claim: &str) -> Result<Option<i64>, LedgerError> {
    const SQL: &str = "SELECT ticket FROM pin_claims WHERE claim = $1";
    let rows: Vec<ClaimRow> = with_conn!(conn, c => diesel::sql_query(SQL).bind::<Text, _>(claim).load(c))?;
    Ok(rows.first().map(|r| r.ticket))
}

fn claim(conn: &mut DbConn, claim: &str, id: AccountId, ticket: i64, now_ms: i64) -> Result<(), LedgerError> {
    const SQL: &str = "INSERT INTO pin_claims (claim, account_id, ticket, created_at_ms) VALUES ($1, $2, $3, $4) \
        ON CONFLICT DO NOTHING";
    with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(claim)
        .bind::<BigInt, _>(id.0)
        .bind::<BigInt, _>(ticket)
        .bind::<BigInt, _>(now_ms)
        .execute(c))?;
    Ok(())
}

/// Forgets claims made before `cutoff_ms` (aggregators repeat within minutes).
pub fn forget_claims_before(conn: &mut DbConn, cutoff_ms: i64) -> Result<usize, LedgerError> {
    const SQL: &str = "DELETE FROM pin_claims WHERE created_at_ms < $1";
    Ok(with_conn!(conn, c => diesel::sql_query(SQL).bind::<BigInt, _>(cutoff_ms).execute(c))?)
}

/// The PIN was right: clears every ticket up to this one. `false` when the
/// account was locked (or suspended) while the PIN was being checked; the
/// caller then answers as for a locked account and does nothing else.
pub fn settle_right(conn: &mut DbConn, ticket: &Ticket) -> Result<bool, LedgerError> {
    // SQLite numbers `$n` parameters in order of first appearance: keep them in order.
    const SQL: &str = "UPDATE accounts SET \
        pin_cleared_ticket = CASE WHEN pin_cleared_ticket < $1 THEN $1 ELSE pin_cleared_ticket END, \
        pin_failures = pin_tickets - (CASE WHEN pin_cleared_ticket < $1 THEN $1 ELSE pin_cleared_ticket END) \
        WHERE id = $2 AND status = 'active'";
    let n = with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<BigInt, _>(ticket.number)
        .bind::<BigInt, _>(ticket.account.0)
        .execute(c))?;
    if let Some((s, window)) = &ticket.source {
        uncount_source(conn, s, *window)?;
    }
    Ok(n == 1)
}

/// What a wrong PIN led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wrong {
    /// This wrong PIN locked the account (exactly one does per lock).
    pub locked_now: bool,
    pub locked: bool,
    /// Checks left before the lock (running ones count as used).
    pub left: u32,
    pub failures: u32,
}

/// The PIN was wrong: the ticket stays counted; the account is locked once
/// `max_attempts` tickets have been drawn since the last right PIN.
pub fn settle_wrong(conn: &mut DbConn, ticket: &Ticket, max_attempts: u32) -> Result<Wrong, LedgerError> {
    const SQL: &str =
        "UPDATE accounts SET status = 'locked' WHERE id = $1 AND status = 'active' AND pin_failures >= $2";
    let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
    let n = with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<BigInt, _>(ticket.account.0)
        .bind::<Integer, _>(max)
        .execute(c))?;
    let now = pin_state(conn, ticket.account)?;
    Ok(Wrong {
        locked_now: n == 1,
        locked: now.status == AccountStatus::Locked,
        left: max_attempts.saturating_sub(now.failures),
        failures: now.failures,
    })
}

/// An account's PIN state as stored now.
struct PinState {
    status: AccountStatus,
    failures: u32,
    pin_hash: Option<String>,
}

fn pin_state(conn: &mut DbConn, id: AccountId) -> Result<PinState, LedgerError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Integer)]
        pin_failures: i32,
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = Nullable<Text>)]
        pin_hash: Option<String>,
    }
    const SQL: &str = "SELECT pin_failures, status, pin_hash FROM accounts WHERE id = $1";
    let rows: Vec<Row> = with_conn!(conn, c => diesel::sql_query(SQL).bind::<BigInt, _>(id.0).load(c))?;
    let row = rows.into_iter().next().ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?;
    Ok(PinState {
        status: AccountStatus::from_stored(&row.status)?,
        failures: u32::try_from(row.pin_failures).unwrap_or(0),
        pin_hash: row.pin_hash,
    })
}

/// Counts one attempt against the source's window unless it is full.
fn count_source(conn: &mut DbConn, source: &str, window: i64, limit: u32) -> Result<bool, LedgerError> {
    const SQL: &str = "INSERT INTO pin_sources (source, window_no, failures) VALUES ($1, $2, 1) \
        ON CONFLICT (source, window_no) DO UPDATE SET failures = pin_sources.failures + 1 \
        WHERE pin_sources.failures < $3";
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    let n = with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(source)
        .bind::<BigInt, _>(window)
        .bind::<Integer, _>(limit)
        .execute(c))?;
    Ok(n == 1)
}

fn uncount_source(conn: &mut DbConn, source: &str, window: i64) -> Result<(), LedgerError> {
    const SQL: &str =
        "UPDATE pin_sources SET failures = failures - 1 WHERE source = $1 AND window_no = $2 AND failures > 0";
    with_conn!(conn, c => diesel::sql_query(SQL).bind::<Text, _>(source).bind::<BigInt, _>(window).execute(c))?;
    Ok(())
}

/// Forgets source windows before `window` (housekeeping).
pub fn forget_sources_before(conn: &mut DbConn, window: i64) -> Result<usize, LedgerError> {
    const SQL: &str = "DELETE FROM pin_sources WHERE window_no < $1";
    Ok(with_conn!(conn, c => diesel::sql_query(SQL).bind::<BigInt, _>(window).execute(c))?)
}

/// A new PIN (after the old one was checked): no failures, no tickets open.
pub fn set_pin_hash(conn: &mut DbConn, id: AccountId, pin_hash: &str) -> Result<(), LedgerError> {
    const SQL: &str =
        "UPDATE accounts SET pin_hash = $1, pin_failures = 0, pin_cleared_ticket = pin_tickets WHERE id = $2";
    with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(pin_hash)
        .bind::<BigInt, _>(id.0)
        .execute(c))?;
    Ok(())
}

pub fn set_language(conn: &mut DbConn, id: AccountId, language: &str) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE accounts SET language = $1 WHERE id = $2";
    with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(language)
        .bind::<BigInt, _>(id.0)
        .execute(c))?;
    Ok(())
}

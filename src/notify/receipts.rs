//! Receipts are rendered from the journal after the transfer commits.
//!
//! The transaction that posts a transfer writes only the ledger: the transfer
//! row (with both parties' balances right after it), its postings and the
//! balances. Receipts and float alerts are queued later by [`feed`], which
//! reads the transfers past a cursor, writes their messages to the outbox and
//! moves the cursor, all in one write transaction. So a transfer that
//! committed has its receipts queued exactly once, however many processes
//! feed and whenever one crashes; the journal is the queue in between.
//!
//! The same pass writes what else a transfer causes once: the callback
//! events of a till that has a callback URL (which then gets no SMS
//! receipt, see [`super::events`]), and the digest item that replaces the
//! payer's receipt of a micro payment (see [`super::digest`]).
//!
//! This keeps the receipts' rows and text off the payment's write path (a
//! third of its cost), and under a burst the receipts fall behind the
//! payments instead of slowing them down.
//!
//! Transfer ids follow commit order, which [`feed`] relies on: every write
//! transaction holds the single write lock (SQLite's, or the advisory lock
//! on PostgreSQL) from the moment it takes an id until it commits.

use super::fraud::HoldParties;
use super::outbox::{self, NewMessage};
use super::{callbacks, digest, events, Notices, Quiet};
use crate::db::prepared::Prepared;
use crate::db::{DbConn, DbError};
use crate::domain::now_ms;
use crate::ledger::account::{self, Account, AccountKind};
use crate::ledger::holds::{self, HoldRow};
use crate::ledger::transfer::{self, TransferRow};
use crate::ledger::LedgerError;
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use std::collections::{HashMap, HashSet};

#[derive(QueryableByName)]
struct Cursor {
    #[diesel(sql_type = BigInt)]
    last_transfer_id: i64,
}

/// The last transfer whose receipts are queued.
pub fn cursor(conn: &mut DbConn) -> Result<i64, LedgerError> {
    named_cursor(conn, "receipts")
}

/// Where cursor `name` stands (the last id it has passed).
fn named_cursor(conn: &mut DbConn, name: &str) -> Result<i64, LedgerError> {
    const SQL: &str = "SELECT last_transfer_id FROM notify_cursors WHERE name = ?";
    let rows: Vec<Cursor> =
        with_conn!(conn, c => Prepared::new(SQL).bind::<diesel::sql_types::Text, _>(name.to_string()).load(c))?;
    rows.first()
        .map(|r| r.last_transfer_id)
        .ok_or_else(|| LedgerError::Db(DbError::Commit(format!("the {name} cursor is missing (run mkoba migrate)"))))
}

/// The accounts with these ids, by id.
pub(super) fn accounts_by_id(conn: &mut DbConn, mut ids: Vec<i64>) -> Result<HashMap<i64, Account>, LedgerError> {
    ids.sort_unstable();
    ids.dedup();
    account::find_rows(conn, &ids)?.into_iter().map(|row| Ok((row.id, Account::try_from(row)?))).collect()
}

/// How many transfers wait for their receipts to be queued.
pub fn waiting(conn: &mut DbConn) -> Result<i64, LedgerError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    const SQL: &str = "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM transfers \
        WHERE id > (SELECT last_transfer_id FROM notify_cursors WHERE name = 'receipts')";
    let rows: Vec<Count> = with_conn!(conn, c => Prepared::new(SQL).load(c))?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// Whether any transfer waits for its receipts: one index probe.
pub fn any_waiting(conn: &mut DbConn) -> Result<bool, LedgerError> {
    const SQL: &str = "SELECT id AS last_transfer_id FROM transfers \
        WHERE id > (SELECT last_transfer_id FROM notify_cursors WHERE name = 'receipts') LIMIT 1";
    let rows: Vec<Cursor> = with_conn!(conn, c => Prepared::new(SQL).load(c))?;
    Ok(!rows.is_empty())
}

/// Queues the receipts, float alerts, digest items and callback events of
/// up to `limit` transfers past the cursor and moves the cursor past them.
/// Call it inside a write transaction. Returns how many transfers it passed.
pub fn feed(conn: &mut DbConn, notices: &Notices, limit: i64) -> Result<usize, LedgerError> {
    Ok(feed_within(conn, notices, limit, usize::MAX)?.transfers)
}

/// What one call of [`feed_within`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// The transfers it passed.
    pub transfers: usize,
    /// Whether it stopped at a limit: more transfers may be waiting.
    pub stopped_short: bool,
}

/// [`feed`], stopping after the transfer whose receipts bring the messages
/// it queued to `max_messages` or more: transfers that send no SMS (charges
/// under an allowance, told by callback and digest) go through `limit` at a
/// time, while the SMS queued in one call stay about `max_messages`.
pub fn feed_within(conn: &mut DbConn, notices: &Notices, limit: i64, max_messages: usize) -> Result<Fed, LedgerError> {
    const NEXT: &str = "SELECT * FROM transfers WHERE id > ? ORDER BY id LIMIT ?";
    let limit = limit.max(1);
    let from = cursor(conn)?;
    let rows: Vec<TransferRow> =
        with_conn!(conn, c => Prepared::new(NEXT).bind::<BigInt, _>(from).bind::<BigInt, _>(limit).load(c))?;
    if rows.is_empty() {
        return Ok(Fed { transfers: 0, stopped_short: false });
    }
    let mut stopped_short = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit;

    let holds = holds_by_transfer(conn, &rows)?;
    let mut ids: Vec<i64> = rows.iter().flat_map(|r| [r.debit_account_id, r.credit_account_id]).collect();
    ids.extend(holds.values().flat_map(|h| [h.payer_id, h.payee_id]));
    let accounts = accounts_by_id(conn, ids)?;
    let party = |id: i64| accounts.get(&id).ok_or_else(|| LedgerError::UnknownAccount(id.to_string()));
    let with_callback = tills_with_callback(conn, &accounts)?;

    let now = now_ms();
    let mut messages: Vec<NewMessage> = Vec::with_capacity(rows.len() * 2);
    let (mut new_events, mut held) = (Vec::new(), Vec::new());
    let (mut n, mut last) = (0, from);
    for row in rows {
        if messages.len() >= max_messages {
            stopped_short = true;
            break;
        }
        (n, last) = (n + 1, row.id);
        let reverses = match row.reverses_transfer_id {
            Some(id) => transfer::find_by_id(conn, id)?.map(|t| t.reference),
            None => None,
        };
        let (key, refunds) = (row.idempotency_key.clone(), row.refunds_transfer_id);
        let (from, to) = (party(row.debit_account_id)?, party(row.credit_account_id)?);
        let hold = holds.get(&row.id);
        let receipt = transfer::receipt_of(row, from, to, reverses)?;
        match hold {
            Some(hold) => {
                let original = if hold.hold_transfer_id == receipt.transfer_id.0 {
                    receipt.reference.clone()
                } else {
                    transfer::find_by_id(conn, hold.hold_transfer_id)?.map(|t| t.reference).unwrap_or_default()
                };
                let parties = HoldParties {
                    hold,
                    payer: party(hold.payer_id)?,
                    payee: party(hold.payee_id)?,
                    original: &original,
                };
                notices.hold_messages(conn, &receipt, &parties, &mut messages)?;
            }
            None => {
                // The till's events, the payer's digest item, then the receipts left to send.
                let till_told = events::of_transfer(conn, &receipt, refunds, &with_callback, now, &mut new_events)?;
                let digested = digest::digested(&receipt, &key, notices.digest_below_minor);
                if digested {
                    held.push(receipt.clone());
                }
                let payee_is_till = events::till_of(&receipt) == Some(receipt.to.account_id.0);
                notices.receipts(&receipt, Quiet { payer: digested, payee: till_told && payee_is_till }, &mut messages);
            }
        }
        notices.float_alerts(conn, &receipt)?;
    }
    callbacks::insert_events(conn, &new_events)?;
    digest::hold_back(conn, &held)?;
    outbox::enqueue_all(conn, &messages, now)?;

    move_cursor(conn, "receipts", from, last)?;
    Ok(Fed { transfers: n, stopped_short })
}

/// The holds of these transfers (as the hold or as its resolution), by
/// transfer id.
fn holds_by_transfer(conn: &mut DbConn, rows: &[TransferRow]) -> Result<HashMap<i64, HoldRow>, LedgerError> {
    let transfer_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    Ok(holds::of_transfers(conn, &transfer_ids)?
        .into_iter()
        .flat_map(|h| {
            let ids = [Some(h.hold_transfer_id), h.resolution_transfer_id];
            ids.into_iter().flatten().map(move |id| (id, h.clone()))
        })
        .filter(|(id, _)| transfer_ids.contains(id))
        .collect())
}

/// Those of the tills among `accounts` that have a callback URL.
fn tills_with_callback(conn: &mut DbConn, accounts: &HashMap<i64, Account>) -> Result<HashSet<i64>, LedgerError> {
    let tills: Vec<i64> = accounts.values().filter(|a| a.kind == AccountKind::Merchant).map(|a| a.id.0).collect();
    Ok(callbacks::endpoints(conn, &tills)?.into_iter().map(|e| e.account_id).collect())
}

/// Whether a transfer created before `before_ms` still waits for the
/// feeder (the digest of that moment must wait for it).
pub fn any_waiting_before(conn: &mut DbConn, before_ms: i64) -> Result<bool, LedgerError> {
    const SQL: &str = "SELECT id AS last_transfer_id FROM transfers \
        WHERE id > (SELECT last_transfer_id FROM notify_cursors WHERE name = 'receipts') AND created_at_ms < ? LIMIT 1";
    let rows: Vec<Cursor> = with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(before_ms).load(c))?;
    Ok(!rows.is_empty())
}

/// Moves cursor `name` from `from` to `to`. Compare-and-set: the write lock
/// makes it certain, this makes it checked.
fn move_cursor(conn: &mut DbConn, name: &str, from: i64, to: i64) -> Result<(), LedgerError> {
    const MOVE: &str = "UPDATE notify_cursors SET last_transfer_id = ? WHERE name = ? AND last_transfer_id = ?";
    let moved = with_conn!(conn, c => Prepared::new(MOVE)
        .bind::<BigInt, _>(to)
        .bind::<diesel::sql_types::Text, _>(name.to_string())
        .bind::<BigInt, _>(from)
        .execute(c))?;
    if moved != 1 {
        return Err(LedgerError::Db(DbError::Commit(format!("the {name} cursor moved under the feeder"))));
    }
    Ok(())
}

/// Whether any decline waits for its alert: one index probe.
pub fn any_decline_waiting(conn: &mut DbConn) -> Result<bool, LedgerError> {
    const SQL: &str = "SELECT id AS last_transfer_id FROM declines \
        WHERE id > (SELECT last_transfer_id FROM notify_cursors WHERE name = 'declines') LIMIT 1";
    let rows: Vec<Cursor> = with_conn!(conn, c => Prepared::new(SQL).load(c))?;
    Ok(!rows.is_empty())
}

/// Alerts operators of the declines past the `declines` cursor (up to
/// `limit`) and moves the cursor, in the caller's write transaction.
pub fn feed_declines(conn: &mut DbConn, notices: &Notices, limit: i64) -> Result<usize, LedgerError> {
    let from = named_cursor(conn, "declines")?;
    let declines = holds::declines_after(conn, from, limit.max(1))?;
    let Some(last) = declines.last().map(|d| d.id) else {
        return Ok(0);
    };
    let accounts = accounts_by_id(conn, declines.iter().flat_map(|d| [d.payer_id, d.payee_id]).collect())?;
    for d in &declines {
        notices.decline_alert(conn, d, accounts.get(&d.payer_id), accounts.get(&d.payee_id))?;
    }
    move_cursor(conn, "declines", from, last)?;
    Ok(declines.len())
}

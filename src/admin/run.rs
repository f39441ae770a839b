//! How an admin write runs: its effect, its audit row and (for an API call
//! with an `Idempotency-Key`) its stored answer commit in one write
//! transaction. A refused write rolls its effect back and is audited on
//! its own, with the refusal's code as outcome; a failure of mkoba's own
//! is not the operator's doing and is only logged.
//!
//! Idempotency: the key is claimed in the transaction (a row only it can
//! see until it commits), so a retry, even one racing from another process,
//! finds the first answer; the same key with another request is
//! `idempotency_conflict`. A refusal stores nothing: a retry is decided
//! afresh.

use super::audit::{self, Entry};
use crate::db::schema::admin_idempotency as idem;
use crate::db::DbConn;
use crate::domain::now_ms;
use crate::ledger::{Ledger, LedgerError};
use crate::with_conn;
use diesel::prelude::*;
use serde::Serialize;

/// An `Idempotency-Key` with the fingerprint of its request, and the
/// status a fresh answer is stored with.
#[derive(Debug, Clone)]
pub struct Idem {
    pub key: String,
    pub hash: String,
    pub status: u16,
}

/// A stored answer, replayed.
#[derive(Debug, Clone)]
pub struct Stored {
    pub status: u16,
    pub body: String,
}

/// What a write gave: a fresh result, or the stored answer of an earlier
/// identical request.
#[derive(Debug)]
pub enum Done<T> {
    Fresh(T),
    Stored(Stored),
}

impl<T> Done<T> {
    /// The fresh result, for callers that send no key (the CLI).
    pub fn fresh(self) -> Result<T, LedgerError> {
        match self {
            Done::Fresh(v) => Ok(v),
            Done::Stored(_) => Err(LedgerError::Internal("a write without a key was answered from the store".into())),
        }
    }
}

/// Runs `effect` once as an audited admin write. `effect` may refine the
/// entry (its detail, say). Without `idem`, see [`audited`].
pub async fn audited_once<T, F>(
    ledger: &Ledger,
    entry: Entry,
    idem: Option<Idem>,
    effect: F,
) -> Result<Done<T>, LedgerError>
where
    T: Serialize + Send + 'static,
    F: FnMut(&mut DbConn, &mut Entry) -> Result<T, LedgerError> + Send + 'static,
{
    let mut effect = effect;
    let first = entry.clone();
    let result = ledger
        .write(move |conn| {
            let mut entry = first.clone();
            if let Some(idem) = &idem {
                match claim(conn, idem)? {
                    Claim::Stored(stored) => return Ok(Done::Stored(stored)),
                    Claim::OtherRequest => return Err(LedgerError::IdempotencyConflict),
                    Claim::Mine => {}
                }
            }
            let value = effect(conn, &mut entry)?;
            audit::append(conn, &entry, now_ms())?;
            if let Some(idem) = &idem {
                let body = serde_json::to_string(&value).map_err(|e| LedgerError::Internal(e.to_string()))?;
                record(conn, idem, &body)?;
            }
            Ok(Done::Fresh(value))
        })
        .await;
    if let Err(e) = &result {
        refused(ledger, entry, e).await?;
    }
    result
}

/// An audited admin write without an idempotency key.
pub async fn audited<T, F>(ledger: &Ledger, entry: Entry, effect: F) -> Result<T, LedgerError>
where
    T: Serialize + Send + 'static,
    F: FnMut(&mut DbConn, &mut Entry) -> Result<T, LedgerError> + Send + 'static,
{
    audited_once(ledger, entry, None, effect).await?.fresh()
}

/// Records a refused write (nothing else was written). A failure of
/// mkoba's own is left to the caller's error path.
pub async fn refused(ledger: &Ledger, entry: Entry, e: &LedgerError) -> Result<(), LedgerError> {
    if !e.is_refusal() {
        return Ok(());
    }
    let entry = entry.outcome(e.code()).detail(e.to_string());
    record_entry(ledger, entry).await
}

/// Appends one entry on its own (a refusal decided before any effect, such
/// as a viewer's write).
pub async fn record_entry(ledger: &Ledger, entry: Entry) -> Result<(), LedgerError> {
    ledger.write(move |conn| audit::append(conn, &entry, now_ms())).await
}

enum Claim {
    Mine,
    Stored(Stored),
    OtherRequest,
}

fn claim(conn: &mut DbConn, idem: &Idem) -> Result<Claim, LedgerError> {
    let row = (
        idem::idem_key.eq(&idem.key),
        idem::request_hash.eq(&idem.hash),
        idem::status_code.eq(0),
        idem::response_body.eq(""),
        idem::created_at_ms.eq(now_ms()),
    );
    let inserted =
        with_conn!(conn, c => diesel::insert_into(idem::table).values(row).on_conflict_do_nothing().execute(c))?;
    if inserted == 1 {
        return Ok(Claim::Mine);
    }
    let (hash, status, body): (String, i32, String) = with_conn!(conn, c => idem::table
        .select((idem::request_hash, idem::status_code, idem::response_body))
        .filter(idem::idem_key.eq(&idem.key))
        .first(c))?;
    if hash != idem.hash {
        return Ok(Claim::OtherRequest);
    }
    let status = u16::try_from(status)
        .ok()
        .filter(|s| *s >= 200)
        .ok_or_else(|| LedgerError::corrupt("admin_idempotency.status_code", &status.to_string()))?;
    Ok(Claim::Stored(Stored { status, body }))
}

fn record(conn: &mut DbConn, idem: &Idem, body: &str) -> Result<(), LedgerError> {
    let n = with_conn!(conn, c => diesel::update(idem::table)
        .filter(idem::idem_key.eq(&idem.key))
        .set((idem::status_code.eq(i32::from(idem.status)), idem::response_body.eq(body)))
        .execute(c))?;
    if n == 1 {
        Ok(())
    } else {
        Err(LedgerError::Internal("an idempotency claim vanished".into()))
    }
}

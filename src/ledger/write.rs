//! The statements that move money, shared by every path that posts: one
//! guarded update per account, landing on the balance the decision reached
//! (checked after the write), the postings in multi-row inserts, and the
//! accounts read into [`Slot`]s for a decision.

use super::account::{self, Account, AccountId};
use super::transfer::{Entry, TransferRow};
use super::{LedgerError, Settings};
use crate::db::prepared::{self, Prepared};
use crate::db::{DbConn, DbError};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use std::collections::{BTreeMap, HashMap};

/// Rows per multi-row statement: bounds the bind count (SQLite allows 32,766)
/// and the number of distinct statements kept prepared.
pub(super) const ROWS_PER_INSERT: usize = 64;

/// The state of one account as the group's decisions move it.
pub(super) struct Slot {
    pub account: Account,
    pub allow_negative: bool,
    pub balance: i64,
    /// Sent today before this group, plus what this group counts.
    pub out_today: i64,
    /// What this group adds to today's outgoing total.
    pub counted: i64,
    pub debited: bool,
    pub credited: bool,
    /// A corrective movement (a reversal): no status, daily or balance-cap
    /// guard, only the floor.
    pub corrective: bool,
}

/// Net change per account, in account-id order (the lock order).
pub(super) fn net_deltas(entries: &[Entry]) -> BTreeMap<AccountId, i64> {
    let mut deltas = BTreeMap::new();
    for &(account, _, amount) in entries {
        let net: &mut i64 = deltas.entry(account).or_insert(0);
        // Amounts are checked Money; a sum past i64 saturates and is then
        // refused by the balance bounds.
        *net = net.saturating_add(amount);
    }
    deltas
}

pub(super) fn load_accounts(conn: &mut DbConn, ids: &[i64], day: i64) -> Result<HashMap<AccountId, Slot>, LedgerError> {
    let mut book = HashMap::with_capacity(ids.len());
    for row in account::find_rows(conn, ids)? {
        let allow_negative = row.allow_negative == 1;
        let account = Account::try_from(row)?;
        let out_today = if account.out_day == day { account.out_day_minor } else { 0 };
        book.insert(
            account.id,
            Slot {
                balance: account.balance_minor,
                account,
                allow_negative,
                out_today,
                counted: 0,
                debited: false,
                credited: false,
                corrective: false,
            },
        );
    }
    Ok(book)
}

/// Postings as `(transfer id, entry)`, in a few multi-row statements.
pub(super) fn insert_postings(conn: &mut DbConn, postings: &[(i64, Entry)]) -> Result<(), LedgerError> {
    for chunk in postings.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO postings (transfer_id, account_id, code, amount_minor) VALUES {}",
            prepared::rows(chunk.len(), 4)
        );
        with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone());
            for &(transfer_id, (account, code, amount_minor)) in chunk {
                q = q
                    .bind::<BigInt, _>(transfer_id)
                    .bind::<BigInt, _>(account.0)
                    .bind::<Text, _>(code)
                    .bind::<BigInt, _>(amount_minor);
            }
            q.execute(c)
        })?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct BalanceRow {
    #[diesel(sql_type = BigInt)]
    balance_minor: i64,
}

/// One conditional statement per account: the group's net change, guarded by
/// the conditions the decisions checked, landing on the balance they reached.
pub(super) fn update_account(conn: &mut DbConn, settings: &Settings, slot: &Slot, day: i64) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE accounts SET \
        balance_minor = balance_minor + ?, \
        out_day_minor = CASE WHEN ? = 1 THEN (CASE WHEN out_day = ? THEN out_day_minor ELSE 0 END) + ? \
            ELSE out_day_minor END, \
        out_day = CASE WHEN ? = 1 THEN ? ELSE out_day END \
        WHERE id = ? \
        AND (? = 0 OR status = 'active') \
        AND (? = 0 OR status <> 'suspended') \
        AND balance_minor >= ? AND balance_minor <= ? \
        AND (? = 0 OR (CASE WHEN out_day = ? THEN out_day_minor ELSE 0 END) <= ?) \
        RETURNING balance_minor";
    let a = &slot.account;
    let net = slot
        .balance
        .checked_sub(a.balance_minor)
        .ok_or_else(|| LedgerError::Internal(format!("the change to account {} overflows", a.id)))?;
    // A corrective movement keeps no limits but the floor.
    let tier = if slot.corrective { None } else { settings.tier_of(a) };
    // Bounds on the balance before, such that the balance after is allowed.
    let min_before = if slot.allow_negative { (i64::MIN + 1).saturating_sub(net) } else { -net.min(0) };
    let max_before =
        if net > 0 { tier.map_or(i64::MAX, |t| t.max_balance_minor).saturating_sub(net) } else { i64::MAX };
    let daily_cap = tier.map_or(i64::MAX, |t| t.max_daily_out_minor);
    // A debited account's daily total is reset on a new day and checked.
    let debited = i32::from(slot.debited && !slot.corrective);
    let rows: Vec<BalanceRow> = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(net)
        .bind::<Integer, _>(debited)
        .bind::<BigInt, _>(day)
        .bind::<BigInt, _>(slot.counted)
        .bind::<Integer, _>(debited)
        .bind::<BigInt, _>(day)
        .bind::<BigInt, _>(a.id.0)
        .bind::<Integer, _>(debited)
        .bind::<Integer, _>(i32::from(slot.credited && !slot.corrective))
        .bind::<BigInt, _>(min_before)
        .bind::<BigInt, _>(max_before)
        .bind::<Integer, _>(debited)
        .bind::<BigInt, _>(day)
        .bind::<BigInt, _>(daily_cap.saturating_sub(slot.counted))
        .load(c))?;
    match rows.first() {
        Some(row) if row.balance_minor == slot.balance => Ok(()),
        found => Err(LedgerError::Db(DbError::Commit(format!(
            "account {} changed under the writer: expected balance {}, found {:?}",
            a.id,
            slot.balance,
            found.map(|r| r.balance_minor)
        )))),
    }
}

pub(super) fn find_by_keys(conn: &mut DbConn, keys: &[&str]) -> Result<HashMap<String, TransferRow>, LedgerError> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(ROWS_PER_INSERT) {
        let sql = format!("SELECT * FROM transfers WHERE idempotency_key IN {}", prepared::row(chunk.len()));
        let rows: Vec<TransferRow> = with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone());
            for key in chunk {
                q = q.bind::<Text, _>(key.to_string());
            }
            q.load(c)
        })?;
        found.extend(rows.into_iter().map(|r| (r.idempotency_key.clone(), r)));
    }
    Ok(found)
}

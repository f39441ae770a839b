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
    for chunk in postings.chunks(prepared::ROWS_PER_STATEMENT) {
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
    id: i64,
    #[diesel(sql_type = BigInt)]
    balance_minor: i64,
}

/// One row of [`update_accounts`]'s `VALUES`: an account's net change and
/// the conditions the decisions checked.
struct Guarded {
    id: i64,
    net: i64,
    debited: i32,
    credited: i32,
    min_before: i64,
    max_before: i64,
    daily_left: i64,
    counted: i64,
}

impl Guarded {
    fn of(settings: &Settings, slot: &Slot) -> Result<Guarded, LedgerError> {
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
        Ok(Guarded {
            id: a.id.0,
            net,
            // A debited account's daily total is reset on a new day and checked.
            debited: i32::from(slot.debited && !slot.corrective),
            credited: i32::from(slot.credited && !slot.corrective),
            min_before,
            max_before,
            daily_left: daily_cap.saturating_sub(slot.counted),
            counted: slot.counted,
        })
    }
}

/// The group's net change to each account in `slots` (in account-id order,
/// the lock order), guarded by the conditions the decisions checked: an
/// account debited must be active and stay within its funds and daily
/// limit, one credited must not be suspended and must stay within its
/// balance limit. One statement per 64 accounts rather than one per account
/// (on PostgreSQL each is a round trip). Every account must land on exactly
/// the balance the decisions reached, or the caller rolls the group back.
pub(super) fn update_accounts(
    conn: &mut DbConn,
    settings: &Settings,
    slots: &[&Slot],
    day: i64,
) -> Result<(), LedgerError> {
    for chunk in slots.chunks(prepared::ROWS_PER_STATEMENT) {
        let rows: Vec<Guarded> = chunk.iter().map(|s| Guarded::of(settings, s)).collect::<Result<_, _>>()?;
        let sql = format!(
            "WITH v (id, net, debited, credited, day, counted, min_before, max_before, daily_left) AS (VALUES {}) \
             UPDATE accounts SET \
               balance_minor = accounts.balance_minor + v.net, \
               out_day_minor = CASE WHEN v.debited = 1 \
                 THEN (CASE WHEN accounts.out_day = v.day THEN accounts.out_day_minor ELSE 0 END) + v.counted \
                 ELSE accounts.out_day_minor END, \
               out_day = CASE WHEN v.debited = 1 THEN v.day ELSE accounts.out_day END \
             FROM v WHERE accounts.id = v.id \
               AND (v.debited = 0 OR accounts.status = 'active') \
               AND (v.credited = 0 OR accounts.status <> 'suspended') \
               AND accounts.balance_minor >= v.min_before AND accounts.balance_minor <= v.max_before \
               AND (v.debited = 0 OR (CASE WHEN accounts.out_day = v.day THEN accounts.out_day_minor ELSE 0 END) \
                    <= v.daily_left) \
             RETURNING accounts.id, accounts.balance_minor",
            prepared::rows(chunk.len(), 9)
        );
        let landed: Vec<BalanceRow> = with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone());
            for r in &rows {
                q = q
                    .bind::<BigInt, _>(r.id)
                    .bind::<BigInt, _>(r.net)
                    .bind::<Integer, _>(r.debited)
                    .bind::<Integer, _>(r.credited)
                    .bind::<BigInt, _>(day)
                    .bind::<BigInt, _>(r.counted)
                    .bind::<BigInt, _>(r.min_before)
                    .bind::<BigInt, _>(r.max_before)
                    .bind::<BigInt, _>(r.daily_left);
            }
            q.load(c)
        })?;
        let landed: HashMap<i64, i64> = landed.into_iter().map(|r| (r.id, r.balance_minor)).collect();
        for slot in chunk {
            let id = slot.account.id;
            match landed.get(&id.0) {
                Some(&balance) if balance == slot.balance => {}
                found => {
                    return Err(LedgerError::Db(DbError::Commit(format!(
                        "account {id} changed under the writer: expected balance {}, found {found:?}",
                        slot.balance
                    ))))
                }
            }
        }
    }
    Ok(())
}

/// The rows `select` (ending in `IN`) finds for `ids`, a prepared list of
/// ids at a time.
pub(super) fn rows_with_ids<T>(conn: &mut DbConn, select: &str, ids: &[i64]) -> Result<Vec<T>, LedgerError>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    rows_with_id_lists(conn, |list| format!("{select} {list}"), 1, ids)
}

/// The rows the query `sql_of(list)` finds, where `list` is a prepared
/// `(?, …)` of some of `ids` and appears `lists` times in the query (each
/// bound to the same ids), a list of ids at a time.
pub(super) fn rows_with_id_lists<T>(
    conn: &mut DbConn,
    sql_of: impl Fn(&str) -> String,
    lists: usize,
    ids: &[i64],
) -> Result<Vec<T>, LedgerError>
where
    T: QueryableByName<diesel::pg::Pg> + QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(prepared::ROWS_PER_STATEMENT) {
        let sql = sql_of(&prepared::row(chunk.len()));
        let rows: Vec<T> = with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone());
            for _ in 0..lists {
                for &id in chunk {
                    q = q.bind::<BigInt, _>(id);
                }
            }
            q.load(c)
        })?;
        found.extend(rows);
    }
    Ok(found)
}

pub(super) fn find_by_keys(conn: &mut DbConn, keys: &[&str]) -> Result<HashMap<String, TransferRow>, LedgerError> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(prepared::ROWS_PER_STATEMENT) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::{Msisdn, NumberPlan};
    use crate::ledger::{account::NewAccount, Ledger};

    /// Balances in a group's update land only on what the decisions read:
    /// an account changed (or suspended) under the writer fails the whole
    /// statement's check, and the caller rolls the group back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_update_lands_only_on_the_balances_it_decided_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config { database_url: format!("sqlite://{}/w.db", dir.path().display()), ..Config::default() };
        let pool = crate::db::open_pool(&config.database_url, 2, 0, 5_000, 5_000).expect("pool");
        crate::db::migrate::run(&mut pool.get().expect("conn")).expect("migrate");
        let ledger = Ledger::open(&config, pool).expect("ledger");
        let plan = NumberPlan::default();
        let mut ids = Vec::new();
        for n in ["0712000001", "0712000002", "0712000003"] {
            let phone = Msisdn::parse(n, &plan).expect("msisdn");
            ids.push(
                ledger.create_account(NewAccount::customer(&phone, "A", "standard", None)).await.expect("create").0,
            );
        }
        let settings = ledger.settings_arc();
        // Moves 10 from the first account, 5 to each of the other two, after
        // `meddle`.
        let attempt = |meddle: String| {
            let (settings, ids) = (settings.clone(), ids.clone());
            ledger.write(move |conn| {
                let day = settings.day_number(crate::domain::now_ms());
                conn.batch_execute(&format!(
                    "UPDATE accounts SET balance_minor = 100 WHERE id IN ({}, {}, {})",
                    ids[0], ids[1], ids[2]
                ))?;
                let mut book = load_accounts(conn, &ids, day)?;
                conn.batch_execute(&meddle)?;
                for (k, id) in ids.iter().enumerate() {
                    let slot = book.get_mut(&AccountId(*id)).expect("slot");
                    let (delta, debited) = if k == 0 { (-10, true) } else { (5, false) };
                    slot.balance += delta;
                    slot.debited = debited;
                    slot.credited = !debited;
                    slot.counted = if debited { 10 } else { 0 };
                }
                let mut slots: Vec<&Slot> = book.values().collect();
                slots.sort_unstable_by_key(|s| s.account.id);
                update_accounts(conn, &settings, &slots, day)?;
                let balances: Vec<i64> = ids
                    .iter()
                    .map(|&id| account::find_by_id(conn, AccountId(id)).map(|a| a.expect("account").balance_minor))
                    .collect::<Result<_, _>>()?;
                Ok(balances)
            })
        };
        assert_eq!(attempt("SELECT 1".to_string()).await.expect("lands"), vec![90, 105, 105]);
        let changed = format!("UPDATE accounts SET balance_minor = 101 WHERE id = {}", ids[2]);
        let e = attempt(changed).await.expect_err("a balance changed under the writer");
        assert!(e.to_string().contains("changed under the writer"), "{e}");
        let suspended = format!("UPDATE accounts SET status = 'suspended' WHERE id = {}", ids[0]);
        let e = attempt(suspended).await.expect_err("a debited account was suspended");
        assert!(e.to_string().contains(&format!("account {} changed", AccountId(ids[0]))), "{e}");
    }
}

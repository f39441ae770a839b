//! API keys: one or several per till, random (256 bits), shown once and
//! stored only as a keyed hash (HMAC-SHA256 under `api.key_secret`): fast
//! enough for every request of the hot path, useless to whoever reads the
//! database without the secret. A key is `mk_<key id>_<secret part>`; the
//! key id is its public handle, for listing and revoking.
//!
//! Which till a key acts for never changes, so each process remembers the
//! keys it has seen ([`KeyCache`]). Whether a key is still live does change
//! (an operator revokes it from any process), so a remembered key is checked
//! again on every use: by a read before the request is served, or, for a
//! charge, by the posting engine inside the transaction that moves the money
//! (see [`crate::ledger::TransferRequest::api_key`]).

use super::directory::Remembered;
use crate::db::schema::api_keys;
use crate::db::DbConn;
use crate::ledger::{AccountId, Ledger, LedgerError};
use crate::with_conn;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use rand::distr::{Alphanumeric, SampleString};
use serde::Serialize;
use sha2::Sha256;

/// A key as created: `key` is shown to the operator once and never again.
#[derive(Debug, Serialize)]
pub struct NewKey {
    pub key_id: String,
    pub key: String,
}

/// A key as listed: no secret part.
#[derive(Debug, Serialize, Queryable)]
pub struct KeyInfo {
    pub key_id: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// The till a valid key acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOwner {
    pub till: AccountId,
    pub key_row: i64,
}

/// The keyed hash of a presented key, as stored.
pub fn hash(secret: &str, key: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(key.as_bytes());
    crate::domain::hex(&mac.finalize().into_bytes())
}

/// Creates a key for `till`.
pub fn create(conn: &mut DbConn, secret: &str, till: AccountId, now_ms: i64) -> Result<NewKey, LedgerError> {
    let mut rng = rand::rng();
    let key_id = Alphanumeric.sample_string(&mut rng, 10).to_lowercase();
    let key = format!("mk_{key_id}_{}", Alphanumeric.sample_string(&mut rng, 43));
    let row = (
        api_keys::account_id.eq(till.0),
        api_keys::key_id.eq(&key_id),
        api_keys::key_hash.eq(hash(secret, &key)),
        api_keys::created_at_ms.eq(now_ms),
    );
    with_conn!(conn, c => diesel::insert_into(api_keys::table).values(row).execute(c))?;
    Ok(NewKey { key_id, key })
}

/// Whether `presented` has the shape of a key at all (else it is refused
/// without a lookup).
pub fn plausible(presented: &str) -> bool {
    presented.starts_with("mk_") && presented.len() <= 100
}

/// The live key whose keyed hash is `key_hash`: the lookup is by hash, so
/// the comparison never touches the key itself.
pub fn find_live(conn: &mut DbConn, key_hash: &str) -> Result<Option<KeyOwner>, LedgerError> {
    let found: Option<(i64, i64)> = with_conn!(conn, c => api_keys::table
        .select((api_keys::id, api_keys::account_id))
        .filter(api_keys::key_hash.eq(key_hash))
        .filter(api_keys::revoked_at_ms.is_null())
        .first(c)
        .optional())?;
    Ok(found.map(|(key_row, till)| KeyOwner { till: AccountId(till), key_row }))
}

/// Whether the key in row `key_row` is live (exists and is not revoked).
pub fn is_live(conn: &mut DbConn, key_row: i64) -> Result<bool, LedgerError> {
    let found: Option<i64> = with_conn!(conn, c => api_keys::table
        .select(api_keys::id)
        .filter(api_keys::id.eq(key_row))
        .filter(api_keys::revoked_at_ms.is_null())
        .first(c)
        .optional())?;
    Ok(found.is_some())
}

/// `Err(KeyRevoked)` unless the key in row `key_row` is live: for a request
/// refused before the posting engine, which would have decided that first.
pub async fn refuse_if_revoked(ledger: &Ledger, key_row: i64) -> Result<(), LedgerError> {
    match ledger.read(move |c| is_live(c, key_row)).await? {
        true => Ok(()),
        false => Err(LedgerError::KeyRevoked),
    }
}

/// Keys remembered per process.
const REMEMBERED: usize = 10_000;

/// Keyed hash of a presented key → the till it acts for, for the keys this
/// process has authenticated. Only keys found live are remembered, so a
/// stream of wrong keys is looked up every time and never fills it.
pub type KeyCache = Remembered<KeyOwner>;

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::with_capacity(REMEMBERED)
    }
}

/// Revokes `key_id` of `till`; false when the till has no such live key.
pub fn revoke(conn: &mut DbConn, till: AccountId, key_id: &str, now_ms: i64) -> Result<bool, LedgerError> {
    let n = with_conn!(conn, c => diesel::update(api_keys::table)
        .filter(api_keys::account_id.eq(till.0))
        .filter(api_keys::key_id.eq(key_id))
        .filter(api_keys::revoked_at_ms.is_null())
        .set(api_keys::revoked_at_ms.eq(now_ms))
        .execute(c))?;
    Ok(n == 1)
}

/// The keys of `till`, oldest first.
pub fn list(conn: &mut DbConn, till: AccountId) -> Result<Vec<KeyInfo>, LedgerError> {
    Ok(with_conn!(conn, c => api_keys::table
        .select((api_keys::key_id, api_keys::created_at_ms, api_keys::revoked_at_ms))
        .filter(api_keys::account_id.eq(till.0))
        .order(api_keys::id)
        .load(c))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_the_secret_and_the_key() {
        let a = hash("s1", "mk_abc_def");
        assert_eq!(a.len(), 64);
        assert_eq!(a, hash("s1", "mk_abc_def"));
        assert_ne!(a, hash("s2", "mk_abc_def"));
        assert_ne!(a, hash("s1", "mk_abc_deg"));
    }
}

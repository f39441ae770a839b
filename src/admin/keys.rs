//! Admin keys (SPEC §10): each has a unique name and a role, `viewer`
//! (reads) or `operator` (reads and writes). A key is random (256 bits),
//! shown once, and stored only as its keyed hash (HMAC-SHA256 under
//! `api.key_secret`, as merchants' keys are; the `mka_` prefix keeps the
//! two kinds apart): fast enough for every request, useless to whoever
//! reads the database without the secret.
//!
//! Anything that serves operators checks a presented key with
//! [`authenticate`], which gives the key's [`AdminKey`] (name and role)
//! or `None` for a missing, unknown or revoked one.

use crate::db::schema::admin_keys;
use crate::db::DbConn;
use crate::integrator::keys::hash;
use crate::ledger::LedgerError;
use crate::with_conn;
use diesel::prelude::*;
use rand::distr::{Alphanumeric, SampleString};
use serde::Serialize;

/// Every admin key starts with this.
pub const PREFIX: &str = "mka_";
/// Longest key name.
pub const NAME_MAX_CHARS: usize = 64;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads only.
    Viewer,
    /// Reads and writes.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    /// Whether this role may change state.
    pub fn may_write(self) -> bool {
        self == Role::Operator
    }
}

/// A live admin key, as a request presents it: who and what they may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminKey {
    pub name: String,
    pub role: Role,
}

/// A key as created: `key` is shown once and never again.
#[derive(Debug, Serialize)]
pub struct NewAdminKey {
    pub name: String,
    pub role: Role,
    pub key: String,
}

/// A key as listed: never the key itself.
#[derive(Debug, Serialize)]
pub struct AdminKeyInfo {
    pub name: String,
    pub role: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A key name as given, or why not: 1 to 64 of letters, digits, `.`, `_`,
/// `-` and `@` (it is shown in the audit log, so nothing that disguises).
pub fn clean_name(s: &str) -> Result<String, LedgerError> {
    let name = s.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS || !name.chars().all(allowed) {
        return Err(LedgerError::InvalidInput(format!(
            "a key name is 1 to {NAME_MAX_CHARS} letters, digits, '.', '_', '-' or '@'"
        )));
    }
    Ok(name.to_string())
}

/// Creates a key named `name`; a name already used (even by a revoked key)
/// is refused, so the audit log's names stay unambiguous.
pub fn create(
    conn: &mut DbConn,
    secret: &str,
    name: &str,
    role: Role,
    now_ms: i64,
) -> Result<NewAdminKey, LedgerError> {
    let name = clean_name(name)?;
    let key = format!("{PREFIX}{}", Alphanumeric.sample_string(&mut rand::rng(), 43));
    let row = (
        admin_keys::name.eq(&name),
        admin_keys::role.eq(role.as_str()),
        admin_keys::key_hash.eq(hash(secret, &key)),
        admin_keys::created_at_ms.eq(now_ms),
    );
    let n =
        with_conn!(conn, c => diesel::insert_into(admin_keys::table).values(row).on_conflict_do_nothing().execute(c))?;
    if n == 0 {
        return Err(LedgerError::DuplicateAccount(format!("admin key {name}")));
    }
    Ok(NewAdminKey { name, role, key })
}

/// The live key a presented secret is; `None` for an unknown or revoked
/// one. The lookup is by hash, so no comparison touches the key itself.
pub fn authenticate(conn: &mut DbConn, secret: &str, presented: &str) -> Result<Option<AdminKey>, LedgerError> {
    if !presented.starts_with(PREFIX) || presented.len() > 100 {
        return Ok(None);
    }
    let found: Option<(String, String)> = with_conn!(conn, c => admin_keys::table
        .select((admin_keys::name, admin_keys::role))
        .filter(admin_keys::key_hash.eq(hash(secret, presented)))
        .filter(admin_keys::revoked_at_ms.is_null())
        .first(c)
        .optional())?;
    match found {
        None => Ok(None),
        Some((name, role)) => {
            let role = Role::parse(&role).ok_or_else(|| LedgerError::corrupt("admin_keys.role", &role))?;
            Ok(Some(AdminKey { name, role }))
        }
    }
}

/// Revokes the key named `name`; false when there is no live key by it.
pub fn revoke(conn: &mut DbConn, name: &str, now_ms: i64) -> Result<bool, LedgerError> {
    let n = with_conn!(conn, c => diesel::update(admin_keys::table)
        .filter(admin_keys::name.eq(name.trim()))
        .filter(admin_keys::revoked_at_ms.is_null())
        .set(admin_keys::revoked_at_ms.eq(now_ms))
        .execute(c))?;
    Ok(n == 1)
}

/// Every key, oldest first.
pub fn list(conn: &mut DbConn) -> Result<Vec<AdminKeyInfo>, LedgerError> {
    let rows: Vec<(String, String, i64, Option<i64>)> = with_conn!(conn, c => admin_keys::table
        .select((admin_keys::name, admin_keys::role, admin_keys::created_at_ms, admin_keys::revoked_at_ms))
        .order(admin_keys::id)
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(name, role, created_at_ms, revoked_at_ms)| AdminKeyInfo { name, role, created_at_ms, revoked_at_ms })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_roles_are_two() {
        assert_eq!(clean_name(" ops-1 ").expect("plain"), "ops-1");
        assert!(clean_name("").is_err());
        assert!(clean_name("a b").is_err());
        assert!(clean_name("<script>").is_err());
        assert!(clean_name(&"a".repeat(65)).is_err());
        assert_eq!(Role::parse("Operator"), Some(Role::Operator));
        assert_eq!(Role::parse("admin"), None);
        assert!(Role::Operator.may_write() && !Role::Viewer.may_write());
    }
}

//! Merchant callbacks (SPEC §9 "Callbacks"): where a till's events go, the
//! events themselves and their signature.
//!
//! An event is written to `callback_events` in the transaction that causes
//! it, with its body exactly as it will be POSTed, so a committed cause has
//! its event and a rolled-back one has none. [`super::callback_sender`]
//! delivers it, at least once, until the endpoint answers 2xx.
//!
//! The signing secret is the HMAC key exactly as printed to the merchant;
//! it is never logged.

use crate::db::prepared::{self, Prepared};
use crate::db::DbConn;
use crate::domain::hex;
use crate::domain::time::rfc3339;
use crate::ledger::LedgerError;
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// The header carrying an event's signature.
pub const SIGNATURE_HEADER: &str = "Mkoba-Signature";

/// Longest callback URL accepted.
const URL_CHARS_MAX: usize = 2_048;

/// Random characters after `whsec_` (base62: about 190 bits).
const SECRET_CHARS: usize = 32;

/// Random characters after `evt_` (base62: about 143 bits).
const EVENT_ID_CHARS: usize = 24;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_base62(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())])).collect()
}

/// A callback URL, parsed: `https://` with a host (or `http://` when
/// allowed), no credentials, of a sane length.
pub fn parse_url(url: &str, allow_http: bool) -> Result<url::Url, LedgerError> {
    let text = url.trim();
    if text.chars().count() > URL_CHARS_MAX {
        return Err(LedgerError::InvalidInput(format!("the callback URL is longer than {URL_CHARS_MAX} characters")));
    }
    let parsed = url::Url::parse(text)
        .map_err(|e| LedgerError::InvalidInput(format!("'{text}' is not a URL ({e}); expected https://host/path")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(LedgerError::InvalidInput(
                "callback URLs must start with https:// (http:// is allowed only with api.allow_http_callbacks = true)"
                    .into(),
            ))
        }
        other => {
            return Err(LedgerError::InvalidInput(format!("callback URLs must start with https://, not {other}://")))
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(LedgerError::InvalidInput("the callback URL has no host".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(LedgerError::InvalidInput("the callback URL must not carry a user name or password".into()));
    }
    Ok(parsed)
}

/// Sets (or replaces) where `till_account_id`'s events go, with a new
/// signing secret; returns the secret, to be printed once. Events already
/// queued go to the new URL, signed with the new secret, at once: a new
/// URL ends the old one's backoff.
pub fn set_callback(
    conn: &mut DbConn,
    till_account_id: i64,
    url: &str,
    allow_http: bool,
    now_ms: i64,
) -> Result<String, LedgerError> {
    let url = parse_url(url, allow_http)?;
    let secret = format!("whsec_{}", random_base62(SECRET_CHARS));
    const SQL: &str = "INSERT INTO merchant_callbacks (account_id, url, secret, updated_at_ms) VALUES (?, ?, ?, ?) \
        ON CONFLICT (account_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
        updated_at_ms = excluded.updated_at_ms, next_attempt_at_ms = 0, failures = 0";
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(till_account_id)
        .bind::<Text, _>(url.to_string())
        .bind::<Text, _>(secret.clone())
        .bind::<BigInt, _>(now_ms)
        .execute(c))?;
    Ok(secret)
}

/// Where a till's events go.
#[derive(Clone, QueryableByName)]
pub struct Endpoint {
    #[diesel(sql_type = BigInt)]
    pub account_id: i64,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("account_id", &self.account_id)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The endpoints of those of `account_ids` that have one.
pub fn endpoints(conn: &mut DbConn, account_ids: &[i64]) -> Result<Vec<Endpoint>, LedgerError> {
    if account_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT account_id, url, secret FROM merchant_callbacks WHERE account_id IN {}",
        prepared::row(account_ids.len())
    );
    Ok(with_conn!(conn, c => {
        let mut q = Prepared::new(sql.clone());
        for id in account_ids {
            q = q.bind::<BigInt, _>(*id);
        }
        q.load(c)
    })?)
}

/// If the till has a callback, queues `event_type` with `data` for it in
/// the caller's transaction and returns the event's id.
pub fn enqueue_event(
    conn: &mut DbConn,
    till_account_id: i64,
    event_type: &str,
    data: serde_json::Value,
    now_ms: i64,
) -> Result<Option<String>, LedgerError> {
    if endpoints(conn, &[till_account_id])?.is_empty() {
        return Ok(None);
    }
    insert_event(conn, till_account_id, event_type, data, now_ms).map(Some)
}

/// A callback event ready to be written: its id, and its body exactly as
/// it will be sent.
pub(super) struct NewEvent {
    pub event_id: String,
    account_id: i64,
    event_type: String,
    payload: String,
    now_ms: i64,
}

impl NewEvent {
    pub(super) fn new(till_account_id: i64, event_type: &str, data: serde_json::Value, now_ms: i64) -> NewEvent {
        let event_id = format!("evt_{}", random_base62(EVENT_ID_CHARS));
        let payload = serde_json::json!({
            "id": event_id,
            "type": event_type,
            "created_at": rfc3339(now_ms),
            "data": data,
        })
        .to_string();
        NewEvent { event_id, account_id: till_account_id, event_type: event_type.to_string(), payload, now_ms }
    }
}

/// Writes events for tills known to have a callback, in a few multi-row
/// statements.
pub(super) fn insert_events(conn: &mut DbConn, events: &[NewEvent]) -> Result<(), LedgerError> {
    for chunk in events.chunks(prepared::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO callback_events (event_id, account_id, type, payload, next_attempt_at_ms, created_at_ms) \
             VALUES {}",
            prepared::rows(chunk.len(), 6)
        );
        with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone());
            for e in chunk {
                q = q
                    .bind::<Text, _>(e.event_id.clone())
                    .bind::<BigInt, _>(e.account_id)
                    .bind::<Text, _>(e.event_type.clone())
                    .bind::<Text, _>(e.payload.clone())
                    .bind::<BigInt, _>(e.now_ms)
                    .bind::<BigInt, _>(e.now_ms);
            }
            q.execute(c)
        })?;
    }
    Ok(())
}

/// Writes an event for a till known to have a callback.
pub(super) fn insert_event(
    conn: &mut DbConn,
    till_account_id: i64,
    event_type: &str,
    data: serde_json::Value,
    now_ms: i64,
) -> Result<String, LedgerError> {
    let event = NewEvent::new(till_account_id, event_type, data, now_ms);
    insert_events(conn, std::slice::from_ref(&event))?;
    Ok(event.event_id)
}

fn mac(secret: &str, t: i64, body: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac
}

/// The `Mkoba-Signature` header value of `body` sent at `t` (unix seconds):
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    format!("t={t},v1={}", hex(&mac(secret, t, body).finalize().into_bytes()))
}

/// Whether `header` is a valid signature of `body` under `secret`, made
/// within `tolerance_s` of `now_s`. Compares in constant time; any `v1`
/// may match (several are sent while a secret is being rolled).
pub fn verify(secret: &str, header: &str, body: &str, tolerance_s: i64, now_s: i64) -> bool {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => candidates.push(value.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if now_s.abs_diff(t) > tolerance_s.unsigned_abs() {
        return false;
    }
    let expected = hex(&mac(secret, t, body).finalize().into_bytes());
    candidates.iter().any(|c| {
        use subtle::ConstantTimeEq;
        c.len() == expected.len() && bool::from(c.as_bytes().ct_eq(expected.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_time() {
        let header = sign("whsec_abc", 1_800_000_000, r#"{"id":"evt_1"}"#);
        assert!(header.starts_with("t=1800000000,v1="), "{header}");
        assert_eq!(header.len(), "t=1800000000,v1=".len() + 64);
        assert!(verify("whsec_abc", &header, r#"{"id":"evt_1"}"#, 300, 1_800_000_100));
        assert!(!verify("whsec_abd", &header, r#"{"id":"evt_1"}"#, 300, 1_800_000_100));
        assert!(!verify("whsec_abc", &header, r#"{"id":"evt_2"}"#, 300, 1_800_000_100));
        assert!(!verify("whsec_abc", &header, r#"{"id":"evt_1"}"#, 300, 1_800_000_301));
        assert!(!verify("whsec_abc", "v1=00", r#"{"id":"evt_1"}"#, 300, 1_800_000_000));
        assert!(!verify("whsec_abc", "", "", 300, 0));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // From `printf '1800000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_abc`.
        let expected = "545c385abfaa5a34bc2bd44618f06cd36a79b6c821c5df99b55519558f17ee77";
        assert_eq!(sign("whsec_abc", 1_800_000_000, r#"{"id":"evt_1"}"#), format!("t=1800000000,v1={expected}"));
    }

    #[test]
    fn callback_urls_must_be_https_unless_allowed() {
        assert!(parse_url("https://shop.example/hooks", false).is_ok());
        assert!(parse_url("http://127.0.0.1:9000/hooks", true).is_ok());
        for bad in
            ["http://shop.example/hooks", "ftp://shop.example", "shop.example/hooks", "https://u:p@shop.example/"]
        {
            let err = parse_url(bad, false).expect_err(bad);
            assert_eq!(err.code(), "invalid_input", "{bad}");
        }
        let long = format!("https://shop.example/{}", "a".repeat(URL_CHARS_MAX));
        assert!(parse_url(&long, true).is_err());
    }
}

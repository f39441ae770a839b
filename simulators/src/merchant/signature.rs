//! The `Mkoba-Signature` header on callbacks (SPEC §9):
//! `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, the HMAC
//! key being the secret's text exactly as `mkoba merchant update` printed it.
//!
//! [`verify`] is what a merchant's server should do: parse the header,
//! refuse a timestamp further than the tolerance from now (a replayed old
//! callback), and compare the MAC in constant time (`hmac`'s `verify_slice`).
//! [`sign`] and [`signature_header`] build the header, for tests that play
//! mkoba's side.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// The header's name.
pub const SIGNATURE_HEADER: &str = "Mkoba-Signature";

/// How far a signature's timestamp may be from now by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Longest header looked at; a real one is about 80 bytes.
const HEADER_MAX_BYTES: usize = 1024;

/// Why a signature was refused. Stable snake_case codes via [`SignatureError::code`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("no Mkoba-Signature header")]
    Missing,
    #[error("malformed Mkoba-Signature header: {0}")]
    Malformed(&'static str),
    #[error("signature timestamp is {age_s} s from now, beyond the tolerance of {tolerance_s} s")]
    Stale { age_s: i64, tolerance_s: u64 },
    #[error("signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed(_) => "signature_malformed",
            Self::Stale { .. } => "signature_stale",
            Self::Mismatch => "signature_mismatch",
        }
    }
}

/// Seconds since the Unix epoch now.
pub fn unix_now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Lower-case hex HMAC-SHA256(secret, "<t>.<body>").
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    hex_encode(&mac(secret, t, body).finalize().into_bytes())
}

/// The whole header value: `t=<t>,v1=<sign(secret, t, body)>`.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", sign(secret, t, body))
}

/// Checks `header` (the `Mkoba-Signature` value) against `body` and
/// `secret` at time `now_s`, and returns the signed timestamp.
///
/// The header is `t=…,v1=…` (parts may carry spaces around them, unknown
/// parts are ignored, several `v1` are allowed and one must match, as when
/// a secret is being rotated). A timestamp more than `tolerance` away from
/// `now_s`, in the past or (clock skew) the future, is refused before the
/// MAC is looked at.
pub fn verify(secret: &str, header: &str, body: &[u8], now_s: i64, tolerance: Duration) -> Result<i64, SignatureError> {
    if header.len() > HEADER_MAX_BYTES {
        return Err(SignatureError::Malformed("too long"));
    }
    let mut t: Option<i64> = None;
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed("a part is not key=value"));
        };
        match key.trim() {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed("more than one t"));
                }
                let value = value.trim();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SignatureError::Malformed("t is not a number of seconds"));
                }
                t = Some(value.parse().map_err(|_| SignatureError::Malformed("t is out of range"))?);
            }
            "v1" => {
                let bytes = hex_decode(value.trim()).ok_or(SignatureError::Malformed("v1 is not hex"))?;
                candidates.push(bytes);
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed("no t"))?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed("no v1"));
    }
    let age_s = now_s.saturating_sub(t);
    let tolerance_s = tolerance.as_secs();
    if age_s.unsigned_abs() > tolerance_s {
        return Err(SignatureError::Stale { age_s, tolerance_s });
    }
    let expected = mac(secret, t, body);
    // verify_slice compares in constant time (and refuses a wrong length).
    if candidates.iter().any(|c| expected.clone().verify_slice(c).is_ok()) {
        Ok(t)
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Hex (either case) to bytes; `None` for odd lengths, other characters, or
/// more than a SHA-512's worth.
fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes().chunks_exact(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_4f1c";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"charge.succeeded","created_at":"2026-12-01T10:00:00Z","data":{"reference":"QK7H2M9XTA","amount_minor":100}}"#;
    const T: i64 = 1_795_000_000;
    const TOL: Duration = DEFAULT_TOLERANCE;

    /// Computed outside Rust, twice:
    /// `printf '%s' "1795000000.$BODY" | openssl dgst -sha256 -hmac whsec_test_4f1c`
    /// and Python's `hmac.new(secret, b"1795000000." + body, hashlib.sha256)`.
    const V1: &str = "33e3ce36a9d16eebed9f2471eb0e00e59dfac2cbfab8683a7a69f6c8269058af";

    #[test]
    fn known_vector() {
        assert_eq!(sign(SECRET, T, BODY), V1);
        assert_eq!(signature_header(SECRET, T, BODY), format!("t={T},v1={V1}"));
        assert_eq!(verify(SECRET, &format!("t={T},v1={V1}"), BODY, T, TOL), Ok(T));
    }

    #[test]
    fn valid_signature_is_accepted() {
        let header = signature_header(SECRET, T, BODY);
        assert_eq!(verify(SECRET, &header, BODY, T, TOL), Ok(T));
        assert_eq!(verify(SECRET, &header, BODY, T + 300, TOL), Ok(T));
        let spaced = format!(" t = {T} , v1 = {} ", sign(SECRET, T, BODY).to_uppercase());
        assert_eq!(verify(SECRET, &spaced, BODY, T, TOL), Ok(T));
        let rotated = format!("t={T},v1={},v1={}", sign("old", T, BODY), sign(SECRET, T, BODY));
        assert_eq!(verify(SECRET, &rotated, BODY, T, TOL), Ok(T));
    }

    #[test]
    fn tampered_body_is_refused() {
        let header = signature_header(SECRET, T, BODY);
        let tampered = String::from_utf8_lossy(BODY).replace("\"amount_minor\":100", "\"amount_minor\":900");
        assert_eq!(verify(SECRET, &header, tampered.as_bytes(), T, TOL), Err(SignatureError::Mismatch));
        // The timestamp is signed too.
        let moved = header.replacen(&format!("t={T}"), &format!("t={}", T + 1), 1);
        assert_eq!(verify(SECRET, &moved, BODY, T, TOL), Err(SignatureError::Mismatch));
    }

    #[test]
    fn wrong_secret_is_refused() {
        let header = signature_header("another_secret", T, BODY);
        assert_eq!(verify(SECRET, &header, BODY, T, TOL), Err(SignatureError::Mismatch));
    }

    #[test]
    fn stale_timestamp_is_refused() {
        let header = signature_header(SECRET, T, BODY);
        assert_eq!(
            verify(SECRET, &header, BODY, T + 301, TOL),
            Err(SignatureError::Stale { age_s: 301, tolerance_s: 300 })
        );
        assert_eq!(
            verify(SECRET, &header, BODY, T - 301, TOL),
            Err(SignatureError::Stale { age_s: -301, tolerance_s: 300 })
        );
        assert_eq!(
            verify(SECRET, &header, BODY, T + 10, Duration::from_secs(5)).map_err(|e| e.code()),
            Err("signature_stale")
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let v1 = sign(SECRET, T, BODY);
        for header in [
            String::new(),
            "garbage".to_string(),
            format!("v1={v1}"),
            format!("t={T}"),
            format!("t=abc,v1={v1}"),
            format!("t=-5,v1={v1}"),
            format!("t=99999999999999999999,v1={v1}"),
            format!("t={T},t={T},v1={v1}"),
            format!("t={T},v1=xyz"),
            format!("t={T},v1={}", &v1[1..]),
            format!("t={T},v1="),
            format!("t={T},v1={v1},{}", "x".repeat(HEADER_MAX_BYTES)),
        ] {
            assert!(matches!(verify(SECRET, &header, BODY, T, TOL), Err(SignatureError::Malformed(_))), "{header:?}");
        }
        // Hex of the wrong length parses but cannot match.
        assert_eq!(verify(SECRET, &format!("t={T},v1=abcd"), BODY, T, TOL), Err(SignatureError::Mismatch));
    }
}

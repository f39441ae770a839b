//! Who calls and where: the loopback check on the target and the callers'
//! phone numbers (generated, or read from a file).

use super::{err, LoadError, GENERATED_PHONE_DIGITS};
use crate::msisdn;
use reqwest::Url;
use std::net::IpAddr;

/// Refuses anything but `http://` on 127.0.0.0/8, `localhost` or `[::1]`.
pub fn check_loopback(url: &str) -> Result<Url, LoadError> {
    let parsed = Url::parse(url).map_err(|e| LoadError(format!("bad URL {url}: {e}")))?;
    if parsed.scheme() != "http" {
        return err(format!("{url}: only http:// URLs are supported"));
    }
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return err(format!("{url}: refusing a non-loopback target (only 127.0.0.0/8, localhost and [::1])"));
    }
    Ok(parsed)
}

/// `n` numbers `prefix` followed by 0, 1, 2… zero-padded to
/// [`GENERATED_PHONE_DIGITS`] digits (`25471`, 3 → `254710000000`,
/// `254710000001`, `254710000002`).
pub fn generate_phones(prefix: &str, n: usize) -> Result<Vec<String>, LoadError> {
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return err("the phone prefix must be digits (E.164 without +, e.g. 25471)");
    }
    if prefix.len() >= GENERATED_PHONE_DIGITS {
        return err(format!("the phone prefix must be shorter than {GENERATED_PHONE_DIGITS} digits"));
    }
    let width = GENERATED_PHONE_DIGITS - prefix.len();
    let capacity = u32::try_from(width).ok().and_then(|w| 10usize.checked_pow(w)).unwrap_or(usize::MAX);
    if n == 0 || n > capacity {
        return err(format!("--phones must be between 1 and {capacity} for prefix {prefix}"));
    }
    Ok((0..n).map(|i| format!("{prefix}{i:0width$}")).collect())
}

/// Phones from a file's text: one per line, any accepted form; blank lines
/// and lines starting with `#` are skipped.
pub fn parse_phones(text: &str, country_code: &str) -> Result<Vec<String>, LoadError> {
    let mut phones = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match msisdn::normalize(line, country_code) {
            Some(p) => phones.push(p),
            None => return err(format!("line {}: not a phone number: {line}", i + 1)),
        }
    }
    if phones.is_empty() {
        return err("no phone numbers in the phones file");
    }
    Ok(phones)
}

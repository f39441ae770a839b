//! Transfer references: 10 uppercase letters and digits, shown to both parties.
//!
//! Like M-Pesa codes, a reference starts with the clock: six characters count
//! tenths of a second (base 36, digits before letters, so they sort in time
//! order; the count wraps after about seven years) and four random characters
//! follow. References of one moment therefore sit next to each other in the
//! unique index, so posting a batch of transfers touches a page or two of it
//! rather than one page per transfer. Uniqueness is the database's to
//! enforce: a reference already taken is drawn again.

use rand::Rng;
use std::fmt;

/// In byte order, so that the clock part sorts as it counts.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const REFERENCE_LEN: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a transfer reference (10 letters and digits)")]
pub struct ReferenceError(String);

impl Reference {
    pub fn generate() -> Reference {
        Reference::generate_at(crate::domain::now_ms())
    }

    /// A reference whose clock part reads `at_ms`.
    pub fn generate_at(at_ms: i64) -> Reference {
        const CLOCK_LEN: usize = 6;
        let mut rng = rand::rng();
        let mut out = [0u8; REFERENCE_LEN];
        let mut tenths = u64::try_from(at_ms / 100).unwrap_or(0);
        for b in out[..CLOCK_LEN].iter_mut().rev() {
            *b = ALPHABET[(tenths % 36) as usize];
            tenths /= 36;
        }
        for b in &mut out[CLOCK_LEN..] {
            *b = ALPHABET[rng.random_range(0..ALPHABET.len())];
        }
        Reference(out.iter().map(|&b| char::from(b)).collect())
    }

    /// Accepts lower case too: people type references from an SMS.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let s = input.trim().to_ascii_uppercase();
        if s.len() == REFERENCE_LEN && s.bytes().all(|b| ALPHABET.contains(&b)) {
            Ok(Reference(s))
        } else {
            Err(ReferenceError(input.chars().take(20).collect()))
        }
    }

    pub fn from_stored(s: String) -> Reference {
        Reference(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_references_have_the_contract_shape() {
        for _ in 0..1000 {
            let r = Reference::generate();
            assert_eq!(Reference::parse(r.as_str()), Ok(r.clone()));
        }
        assert_eq!(Reference::parse("qk7h2m9xta").map(|r| r.0), Ok("QK7H2M9XTA".into()));
        assert!(Reference::parse("QK7H2M9XT").is_err());
        assert!(Reference::parse("QK7H2M9XT!").is_err());
    }

    #[test]
    fn references_sort_in_time_order_and_differ_within_a_moment() {
        let t = 1_795_000_000_000; // November 2026
        let (a, b) = (Reference::generate_at(t), Reference::generate_at(t + 100));
        assert!(a.as_str() < b.as_str(), "{a} then {b}");
        assert!(Reference::generate_at(t + 60_000).as_str() > b.as_str());
        let same: std::collections::HashSet<String> =
            (0..1000).map(|_| Reference::generate_at(t).as_str().to_string()).collect();
        assert!(same.len() > 990, "four random characters tell references of one moment apart");
    }
}

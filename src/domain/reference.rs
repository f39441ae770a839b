//! Transfer references: 10 uppercase letters and digits, shown to both parties.

use rand::Rng;
use std::fmt;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const REFERENCE_LEN: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a transfer reference (10 letters and digits)")]
pub struct ReferenceError(String);

impl Reference {
    pub fn generate() -> Reference {
        let mut rng = rand::rng();
        let s = (0..REFERENCE_LEN).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
        Reference(s)
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
}

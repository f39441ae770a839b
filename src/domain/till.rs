//! Merchant till numbers.

use serde::Serialize;
use std::fmt;

/// A till number: 5 to 8 digits, so it never looks like a phone number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Till(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a till number (5 to 8 digits)")]
pub struct TillError(String);

impl Till {
    pub fn parse(s: &str) -> Result<Till, TillError> {
        let t = s.trim();
        if (5..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Till(t.to_string()))
        } else {
            Err(TillError(t.chars().take(20).collect()))
        }
    }

    /// A till read from the database (checked when it was written).
    pub fn from_stored(s: String) -> Till {
        Till(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Till {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Till;

    #[test]
    fn tills_are_five_to_eight_digits() {
        assert_eq!(Till::parse(" 55123 ").map(|t| t.to_string()), Ok("55123".to_string()));
        assert!(Till::parse("12345678").is_ok());
        for bad in ["1234", "123456789", "5512a", "", "0712345678"] {
            assert!(Till::parse(bad).is_err(), "{bad}");
        }
    }
}

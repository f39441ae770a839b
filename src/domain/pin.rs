//! A PIN as typed by a customer. It never prints, never logs.

use std::fmt;

/// A PIN of the configured length. `Debug` and `Display` are redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("PIN must be exactly {0} digits")]
    WrongShape(usize),
    #[error("PIN is too easy to guess (no repeated or sequential digits)")]
    TooWeak,
}

impl Pin {
    /// Any PIN of the right shape: used to check a PIN someone typed.
    pub fn parse(input: &str, length: usize) -> Result<Pin, PinError> {
        let s = input.trim();
        if s.len() != length || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PinError::WrongShape(length));
        }
        Ok(Pin(s.to_string()))
    }

    /// A PIN being chosen: also refuses the guessable ones (`1111`, `1234`,
    /// `9876`), the first a thief tries.
    pub fn parse_new(input: &str, length: usize) -> Result<Pin, PinError> {
        let pin = Pin::parse(input, length)?;
        let d: Vec<i16> = pin.0.bytes().map(|b| i16::from(b - b'0')).collect();
        let steps: Vec<i16> = d.windows(2).map(|w| w[1] - w[0]).collect();
        let constant_step = steps.windows(2).all(|w| w[0] == w[1]);
        if constant_step && steps.first().is_some_and(|s| s.abs() <= 1) {
            return Err(PinError::TooWeak);
        }
        Ok(pin)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(****)")
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_is_checked() {
        assert!(Pin::parse("1357", 4).is_ok());
        for bad in ["", "135", "13579", "13a7", "13 7", "-135"] {
            assert_eq!(Pin::parse(bad, 4), Err(PinError::WrongShape(4)), "{bad:?}");
        }
    }

    #[test]
    fn guessable_pins_are_refused_when_chosen() {
        for weak in ["0000", "1111", "1234", "4321", "6789", "9876"] {
            assert_eq!(Pin::parse_new(weak, 4), Err(PinError::TooWeak), "{weak}");
            assert!(Pin::parse(weak, 4).is_ok());
        }
        for fine in ["1357", "2468", "1235", "9075"] {
            assert!(Pin::parse_new(fine, 4).is_ok(), "{fine}");
        }
    }

    #[test]
    fn never_prints() {
        let pin = Pin::parse("1357", 4).expect("valid");
        assert!(!format!("{pin:?} {pin}").contains("1357"));
    }
}

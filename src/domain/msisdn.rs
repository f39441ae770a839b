//! Phone numbers (MSISDN), stored as E.164 digits without `+`.

use std::fmt;

/// A phone number in international form without `+`, e.g. `254712345678`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msisdn(String);

/// How local numbers are turned into international ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPlan {
    /// Country calling code, e.g. `254`.
    pub country_code: String,
    /// Digits of a national number without the trunk `0`, e.g. 9 in Kenya.
    pub national_digits: usize,
}

impl Default for NumberPlan {
    fn default() -> Self {
        NumberPlan { country_code: "254".into(), national_digits: 9 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid phone number (use 0712345678 or +254712345678)")]
pub struct MsisdnError(String);

impl Msisdn {
    /// Accepts `0712345678`, `712345678`, `+254712345678`, `254712345678`
    /// (spaces and dashes ignored). Numbers of other countries are refused:
    /// mkoba serves one country's numbering plan.
    pub fn parse(input: &str, plan: &NumberPlan) -> Result<Msisdn, MsisdnError> {
        let err = || MsisdnError(input.chars().take(20).collect());
        let compact: String = input.trim().chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let (plus, digits) = match compact.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, compact.as_str()),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let cc = plan.country_code.as_str();
        let national = if let Some(rest) = digits.strip_prefix(cc).filter(|r| r.len() == plan.national_digits) {
            rest
        } else if plus {
            return Err(err());
        } else if let Some(rest) = digits.strip_prefix('0').filter(|r| r.len() == plan.national_digits) {
            rest
        } else if digits.len() == plan.national_digits {
            digits
        } else {
            return Err(err());
        };
        if national.starts_with('0') {
            return Err(err());
        }
        Ok(Msisdn(format!("{cc}{national}")))
    }

    /// Trusts a value read back from the database.
    pub fn from_stored(digits: String) -> Msisdn {
        Msisdn(digits)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `2547****5678`: for logs, which must not carry whole phone numbers.
    pub fn masked(&self) -> String {
        mask_digits(&self.0)
    }
}

/// Masks the middle of any phone-like string, keeping four digits each end.
pub fn mask_digits(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars.iter().enumerate().map(|(i, c)| if i < 4 || i >= n - 4 { *c } else { '*' }).collect()
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ke(s: &str) -> Result<Msisdn, MsisdnError> {
        Msisdn::parse(s, &NumberPlan::default())
    }

    #[test]
    fn accepts_the_four_forms() {
        for s in ["0712345678", "712345678", "+254712345678", "254712345678", " 0712 345-678 "] {
            assert_eq!(ke(s).map(|m| m.0), Ok("254712345678".to_string()), "{s}");
        }
        assert_eq!(ke("0110345678").map(|m| m.0), Ok("254110345678".to_string()));
    }

    #[test]
    fn refuses_malformed_numbers() {
        for s in [
            "",
            "+",
            "07123",
            "07123456789",
            "+255712345678",
            "255712345678",
            "0712a45678",
            "2540712345678",
            "abc",
            "0012345678",
            "+0712345678",
            "*384#",
        ] {
            assert!(ke(s).is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn masks_the_middle() {
        assert_eq!(ke("0712345678").map(|m| m.masked()), Ok("2547****5678".to_string()));
        assert_eq!(mask_digits("1234"), "****");
    }

    proptest! {
        #[test]
        fn every_form_of_a_number_normalises_the_same(n in 100_000_000u32..999_999_999u32) {
            let nat = n.to_string();
            let want = format!("254{nat}");
            for form in [format!("0{nat}"), nat.clone(), format!("+254{nat}"), format!("254{nat}")] {
                prop_assert_eq!(ke(&form).map(|m| m.0), Ok(want.clone()));
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            if let Ok(m) = ke(&s) {
                prop_assert_eq!(m.0.len(), 12);
                prop_assert!(m.0.starts_with("254"));
            }
        }
    }
}

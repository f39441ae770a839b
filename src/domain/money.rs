//! Money: an amount in minor units (cents), parsed from what people type and
//! shown the way they read it. Never a float.

use std::fmt;

/// Largest amount mkoba will handle in one value, in minor units. Far above
/// any tier limit, far below `i64::MAX`, so sums of a few amounts never
/// overflow before a limit refuses them.
pub const MONEY_MAX_MINOR: i64 = 1_000_000_000_000_000;

/// An amount in minor units. Positive or zero when parsed from input; the
/// ledger uses signed values only inside postings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount '{0}' is not a number (use digits like 500, 500.50 or 1,250)")]
    NotANumber(String),
    #[error("amount '{0}' has more than {1} decimal places")]
    TooPrecise(String, u32),
    #[error("amount must be more than zero")]
    NotPositive,
    #[error("amount is too large")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    /// From minor units; refuses negatives and amounts above [`MONEY_MAX_MINOR`].
    pub fn from_minor(minor: i64) -> Result<Money, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::NotPositive);
        }
        if minor > MONEY_MAX_MINOR {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(minor))
    }

    pub fn minor(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).filter(|m| *m <= MONEY_MAX_MINOR).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).filter(|m| *m >= 0).map(Money)
    }

    /// Parses an amount typed in major units: `500`, `500.50`, `1,250`,
    /// `1,250.5`. Commas must group thousands properly. The result is
    /// strictly positive.
    pub fn parse(input: &str, minor_digits: u32) -> Result<Money, MoneyError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        let bad = || MoneyError::NotANumber(truncate(s));
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (s, None),
        };
        let whole_digits = ungroup(whole).ok_or_else(bad)?;
        let frac_digits = match frac {
            None => "",
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => f,
            Some(_) => return Err(bad()),
        };
        if frac_digits.len() > minor_digits as usize {
            // Trailing zeros beyond the precision carry no value ("5.500").
            if frac_digits[minor_digits as usize..].bytes().any(|b| b != b'0') {
                return Err(MoneyError::TooPrecise(truncate(s), minor_digits));
            }
        }
        let scale = 10i64.checked_pow(minor_digits).ok_or(MoneyError::TooLarge)?;
        let whole_value: i64 = if whole_digits.len() > 18 {
            return Err(MoneyError::TooLarge);
        } else {
            whole_digits.parse().map_err(|_| bad())?
        };
        let mut frac_value: i64 = 0;
        for i in 0..minor_digits as usize {
            let digit = frac_digits.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            frac_value = frac_value * 10 + digit;
        }
        let minor =
            whole_value.checked_mul(scale).and_then(|w| w.checked_add(frac_value)).ok_or(MoneyError::TooLarge)?;
        if minor == 0 {
            return Err(MoneyError::NotPositive);
        }
        Money::from_minor(minor)
    }

    /// `1,250.50` (no currency code).
    pub fn format_major(self, minor_digits: u32) -> String {
        let scale = 10i64.pow(minor_digits);
        let whole = self.0 / scale;
        let frac = self.0 % scale;
        let grouped = group_thousands(whole);
        if minor_digits == 0 {
            grouped
        } else {
            format!("{grouped}.{frac:0width$}", width = minor_digits as usize)
        }
    }

    /// `KES 1,250.50`.
    pub fn display(self, currency: &Currency) -> String {
        format!("{} {}", currency.code, self.format_major(currency.minor_digits))
    }
}

/// The operator's currency: ISO code and number of minor digits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Currency {
    pub code: String,
    pub minor_digits: u32,
}

impl Currency {
    /// Any signed amount in minor units, as people read it: `KES 1,250.50`,
    /// `-KES 3.00`. The one place a signed amount is shown.
    pub fn show(&self, minor: i64) -> String {
        let magnitude = i64::try_from(minor.unsigned_abs()).unwrap_or(i64::MAX);
        let shown = Money::from_minor(magnitude).unwrap_or_default().display(self);
        if minor < 0 {
            format!("-{shown}")
        } else {
            shown
        }
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency { code: "KES".into(), minor_digits: 2 }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} minor", self.0)
    }
}

/// Digits of a whole part, with optional thousands commas removed. `None` if
/// the grouping is wrong (`12,50`, `,100`, `1,,000`) or anything else appears.
fn ungroup(whole: &str) -> Option<String> {
    if whole.is_empty() {
        return None;
    }
    let groups: Vec<&str> = whole.split(',').collect();
    let all_digits = |g: &str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    if !groups.iter().all(|g| all_digits(g)) {
        return None;
    }
    if groups.len() > 1 && (groups[0].len() > 3 || groups[1..].iter().any(|g| g.len() != 3)) {
        return None;
    }
    Some(groups.concat())
}

fn group_thousands(value: i64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn truncate(s: &str) -> String {
    s.chars().take(24).collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn signed_amounts_are_shown_one_way() {
        let kes = Currency::default();
        assert_eq!(kes.show(125_050), "KES 1,250.50");
        assert_eq!(kes.show(-300), "-KES 3.00");
        assert_eq!(kes.show(0), "KES 0.00");
        assert!(kes.show(i64::MIN).starts_with("-KES "));
    }

    use super::*;
    use proptest::prelude::*;

    fn kes() -> Currency {
        Currency::default()
    }

    #[test]
    fn parses_the_accepted_forms() {
        assert_eq!(Money::parse("500", 2), Ok(Money(50_000)));
        assert_eq!(Money::parse("500.50", 2), Ok(Money(50_050)));
        assert_eq!(Money::parse("500.5", 2), Ok(Money(50_050)));
        assert_eq!(Money::parse("1,250", 2), Ok(Money(125_000)));
        assert_eq!(Money::parse("1,250,000.05", 2), Ok(Money(125_000_005)));
        assert_eq!(Money::parse(" 20 ", 2), Ok(Money(2_000)));
        assert_eq!(Money::parse("5.500", 2), Ok(Money(550)));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", "abc", "12a", "-5", "+5", "5.", ".5", "1,25", "12,50", ",100", "1,,000", "1.2.3", "1 000", "5e3",
            "0x10", "١٢",
        ] {
            assert!(Money::parse(bad, 2).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(Money::parse("0", 2), Err(MoneyError::NotPositive));
        assert_eq!(Money::parse("0.00", 2), Err(MoneyError::NotPositive));
        assert!(matches!(Money::parse("1.234", 2), Err(MoneyError::TooPrecise(_, 2))));
        assert_eq!(Money::parse("99999999999999999999", 2), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse("92233720368547758", 2), Err(MoneyError::TooLarge));
    }

    #[test]
    fn displays_with_code_and_grouping() {
        assert_eq!(Money(125_050).display(&kes()), "KES 1,250.50");
        assert_eq!(Money(5).display(&kes()), "KES 0.05");
        assert_eq!(Money(100_000_000).display(&kes()), "KES 1,000,000.00");
        let ugx = Currency { code: "UGX".into(), minor_digits: 0 };
        assert_eq!(Money(1_500).display(&ugx), "UGX 1,500");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Money(5).checked_sub(Money(6)), None);
        assert_eq!(Money(MONEY_MAX_MINOR).checked_add(Money(1)), None);
        assert!(Money::from_minor(-1).is_err());
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in 1i64..MONEY_MAX_MINOR) {
            let m = Money(minor);
            prop_assert_eq!(Money::parse(&m.format_major(2), 2), Ok(m));
            prop_assert_eq!(Money::parse(&m.format_major(2).replace(',', ""), 2), Ok(m));
        }

        #[test]
        fn parse_never_panics_and_is_positive(s in "\\PC{0,30}") {
            if let Ok(m) = Money::parse(&s, 2) {
                prop_assert!(m.minor() > 0 && m.minor() <= MONEY_MAX_MINOR);
            }
        }

        #[test]
        fn digit_strings_parse_exactly(whole in 1u64..1_000_000_000u64, cents in 0u64..100) {
            let s = format!("{whole}.{cents:02}");
            let expected = i64::try_from(whole * 100 + cents).unwrap_or(i64::MAX);
            prop_assert_eq!(Money::parse(&s, 2), Ok(Money(expected)));
        }
    }
}

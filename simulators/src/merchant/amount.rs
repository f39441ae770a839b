//! Amounts as people type them (major units, SPEC §4) and as the API wants
//! them (`amount_minor` integers). The simulators do not depend on the
//! `mkoba` package, so this mirrors its `Money::parse` rules for a currency
//! with two minor digits (KES).

use thiserror::Error;

/// Minor digits of the currencies the simulator speaks (KES: cents).
pub const MINOR_DIGITS: u32 = 2;

/// Largest amount accepted, in minor units: mkoba's own ceiling, so every
/// sum of a few amounts still fits in an `i64`.
pub const AMOUNT_MAX_MINOR: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount '{0}' is not a number (use major units like 1, 1.50 or 1,250)")]
    NotANumber(String),
    #[error("amount '{0}' has more than 2 decimal places")]
    TooPrecise(String),
    #[error("amount must be more than zero")]
    NotPositive,
    #[error("amount is too large")]
    TooLarge,
}

/// Parses an amount in major units into minor units (two digits):
/// `1` → 100, `1.5` → 150, `1.50` → 150, `1,250` → 125 000, `0.01` → 1.
/// Commas must group thousands; no sign, exponent or spaces inside; the
/// result is strictly positive. Trailing zeros beyond the cents are allowed
/// (`5.500`), other digits there are refused.
pub fn parse_amount_minor(input: &str) -> Result<i64, AmountError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    let shown: String = s.chars().take(40).collect();
    let bad = || AmountError::NotANumber(shown.clone());
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
    let digits = MINOR_DIGITS as usize;
    if frac_digits.len() > digits && frac_digits.bytes().skip(digits).any(|b| b != b'0') {
        return Err(AmountError::TooPrecise(shown.clone()));
    }
    if whole_digits.len() > 18 {
        return Err(AmountError::TooLarge);
    }
    let whole_value: i64 = whole_digits.parse().map_err(|_| bad())?;
    let frac_value = frac_digits
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(digits)
        .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    let minor = whole_value
        .checked_mul(10i64.pow(MINOR_DIGITS))
        .and_then(|w| w.checked_add(frac_value))
        .filter(|m| *m <= AMOUNT_MAX_MINOR)
        .ok_or(AmountError::TooLarge)?;
    if minor == 0 {
        return Err(AmountError::NotPositive);
    }
    Ok(minor)
}

/// `1,250.50` for 125 050; negatives get a leading `-`.
pub fn format_minor(minor: i64) -> String {
    let scale = 10u64.pow(MINOR_DIGITS);
    let magnitude = minor.unsigned_abs();
    let whole = (magnitude / scale).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{grouped}.{:02}", magnitude % scale)
}

/// `1,250` → `1250`, checking that commas group thousands.
fn ungroup(whole: &str) -> Option<String> {
    let groups: Vec<&str> = whole.split(',').collect();
    let all_digits = |g: &&str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    if !groups.iter().all(all_digits) {
        return None;
    }
    if groups.len() > 1 && (groups[0].len() > 3 || groups[1..].iter().any(|g| g.len() != 3)) {
        return None;
    }
    Some(groups.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_major_units() {
        assert_eq!(parse_amount_minor("1"), Ok(100));
        assert_eq!(parse_amount_minor("1.50"), Ok(150));
        assert_eq!(parse_amount_minor("1.5"), Ok(150));
        assert_eq!(parse_amount_minor("0.01"), Ok(1));
        assert_eq!(parse_amount_minor("1,250"), Ok(125_000));
        assert_eq!(parse_amount_minor(" 1,250,000.05 "), Ok(125_000_005));
        assert_eq!(parse_amount_minor("5.500"), Ok(550));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in ["abc", "-1", "+1", "1.", ".5", "1,25", "1 000", "1e3", "0x10", "1.2.3", "١"] {
            assert!(matches!(parse_amount_minor(bad), Err(AmountError::NotANumber(_))), "{bad:?}");
        }
        assert_eq!(parse_amount_minor(""), Err(AmountError::Empty));
        assert_eq!(parse_amount_minor("0.00"), Err(AmountError::NotPositive));
        assert!(matches!(parse_amount_minor("1.234"), Err(AmountError::TooPrecise(_))));
        assert_eq!(parse_amount_minor("99999999999999999999"), Err(AmountError::TooLarge));
        assert_eq!(parse_amount_minor("10000000000000.01"), Err(AmountError::TooLarge));
    }

    #[test]
    fn formats_with_grouping() {
        assert_eq!(format_minor(125_050), "1,250.50");
        assert_eq!(format_minor(5), "0.05");
        assert_eq!(format_minor(100), "1.00");
        assert_eq!(format_minor(-100_000_000), "-1,000,000.00");
        for minor in [1, 99, 100, 123_456_789, AMOUNT_MAX_MINOR] {
            assert_eq!(parse_amount_minor(&format_minor(minor)), Ok(minor));
        }
    }
}

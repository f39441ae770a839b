//! Phone numbers (MSISDN): E.164 digits without `+`, as mkoba stores them.

/// Kenya, mkoba's default `country_code`.
pub const DEFAULT_COUNTRY_CODE: &str = "254";

/// Normalises a phone number to E.164 digits without `+` (`254712345678`).
///
/// Accepts `+254712345678`, `254712345678`, `0712345678`, `712345678`
/// (nine national digits) and `00254712345678`; spaces and dashes are
/// ignored. Returns `None` for anything that is not a plausible number
/// (non-digits, fewer than 8 or more than 15 digits).
pub fn normalize(input: &str, country_code: &str) -> Option<String> {
    let trimmed = input.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let digits: String = rest.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let e164 = if plus {
        digits
    } else if let Some(international) = digits.strip_prefix("00") {
        international.to_string()
    } else if let Some(national) = digits.strip_prefix('0') {
        format!("{country_code}{national}")
    } else if digits.len() == 9 {
        format!("{country_code}{digits}")
    } else {
        digits
    };
    if !(8..=15).contains(&e164.len()) || e164.starts_with('0') {
        return None;
    }
    Some(e164)
}

/// `254712345678` → `+254712345678` (the form aggregators put on the wire).
pub fn plus_e164(digits: &str) -> String {
    format!("+{}", digits.trim_start_matches('+'))
}

/// `254712345678` → `0712345678`, the way a user types a number on a phone
/// in their own country; numbers of other countries are left as they are.
pub fn local_format(digits: &str, country_code: &str) -> String {
    match digits.strip_prefix(country_code) {
        Some(national) if national.len() == 9 => format!("0{national}"),
        _ => digits.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_forms() {
        for input in
            ["+254712345678", "254712345678", "0712345678", "712345678", "00254712345678", " +254 712 345-678 "]
        {
            assert_eq!(normalize(input, "254").as_deref(), Some("254712345678"), "{input}");
        }
    }

    #[test]
    fn refuses_garbage() {
        for input in ["", "+", "abc", "07123x5678", "1234567", "+0712345678", "1234567890123456"] {
            assert_eq!(normalize(input, "254"), None, "{input}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(plus_e164("254712345678"), "+254712345678");
        assert_eq!(plus_e164("+254712345678"), "+254712345678");
        assert_eq!(local_format("254712345678", "254"), "0712345678");
        assert_eq!(local_format("256712345678", "254"), "256712345678");
    }
}

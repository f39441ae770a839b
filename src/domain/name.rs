//! Names of people and shops, as a confirmation screen shows them to the
//! payer: printable, short, and without control or format characters
//! (Unicode Cc and Cf: bidi overrides and isolates, zero-width characters…),
//! which could make one name look like another (SPEC §4).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name must not hold control or format characters (such as direction overrides or zero-width spaces)")]
    Disguising,
    #[error("name must be 1 to 60 printable characters, without * or #")]
    Shape,
}

/// The name with its whitespace folded to single spaces, or why not.
pub fn clean(s: &str) -> Result<String, NameError> {
    if s.chars().any(disguises) {
        return Err(NameError::Disguising);
    }
    let name = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(|c| c == '*' || c == '#') {
        return Err(NameError::Shape);
    }
    Ok(name)
}

/// Control (Cc) and format (Cf) characters, except the plain whitespace
/// that [`clean`] folds into single spaces: what could make one text look
/// like another on a small screen.
pub fn disguises(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    let category = c.general_category();
    (category == GeneralCategory::Control && !matches!(c, ' ' | '\t' | '\n' | '\r'))
        || category == GeneralCategory::Format
}

#[cfg(test)]
mod tests {
    use super::clean as clean_name;

    #[test]
    fn names_with_control_or_format_characters_are_refused() {
        for bad in [
            "Amina\u{202E}amuJ",  // right-to-left override
            "Amina\u{202D}Juma",  // left-to-right override
            "Amina\u{2066}Juma",  // left-to-right isolate
            "Amina\u{2069}",      // pop directional isolate
            "Ami\u{200B}na Juma", // zero-width space
            "Amina\u{200D}Juma",  // zero-width joiner
            "\u{FEFF}Amina Juma", // byte order mark
            "Amina\u{00AD}Juma",  // soft hyphen
            "Amina\u{0007}Juma",  // bell
            "Amina\u{0085}Juma",  // next line (C1 control)
        ] {
            assert!(clean_name(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn ordinary_names_and_spacing_pass() {
        assert_eq!(clean_name("  Amina \t Juma\n").expect("ok"), "Amina Juma");
        assert_eq!(clean_name("Wanjirũ Kamau-Ng'ang'a").expect("ok"), "Wanjirũ Kamau-Ng'ang'a");
        assert_eq!(clean_name("محمد علي").expect("ok"), "محمد علي");
        assert!(clean_name("A*B").is_err());
    }
}

//! Screens within the USSD budget: 182 characters when every character is
//! in the GSM 03.38 alphabet, 80 when one is not (the network then sends
//! UCS-2). The budget counts the whole body, `CON `/`END ` included.

pub const GSM7_BUDGET: usize = 182;
pub const UCS2_BUDGET: usize = 80;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Characters of the extension table: they take two septets each.
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// Length in GSM-7 septets, or `None` if a character is outside GSM-7.
pub fn gsm7_len(s: &str) -> Option<usize> {
    s.chars().try_fold(0usize, |n, c| {
        if GSM7_BASIC.contains(c) {
            Some(n + 1)
        } else if GSM7_EXTENDED.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    })
}

/// Whether a whole body (prefix included) fits one screen.
pub fn fits(body: &str) -> bool {
    match gsm7_len(body) {
        Some(n) => n <= GSM7_BUDGET,
        None => body.encode_utf16().count() <= UCS2_BUDGET,
    }
}

/// Splits `text` into pages that each fit with `prefix` and, on all but the
/// last, `more` (the "98. More" line). Breaks at line ends where possible.
pub fn paginate(prefix: &str, text: &str, more: &str, last_prefix: &str) -> Vec<String> {
    let whole = format!("{last_prefix}{text}");
    if fits(&whole) {
        return vec![text.to_string()];
    }
    let mut pages = Vec::new();
    let mut current = String::new();
    let page_fits = |body: &str| fits(&format!("{prefix}{body}\n{more}"));
    for line in text.split('\n') {
        let candidate = if current.is_empty() { line.to_string() } else { format!("{current}\n{line}") };
        if page_fits(&candidate) {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            pages.push(std::mem::take(&mut current));
        }
        // A single line too long for a page is cut by characters.
        let mut rest: Vec<char> = line.chars().collect();
        while !rest.is_empty() {
            let mut take = rest.len();
            while take > 0 && !page_fits(&rest[..take].iter().collect::<String>()) {
                take -= 1;
            }
            let take = take.max(1);
            let piece: String = rest[..take].iter().collect();
            rest.drain(..take);
            if rest.is_empty() {
                current = piece;
            } else {
                pages.push(piece);
            }
        }
    }
    if !current.is_empty() || pages.is_empty() {
        pages.push(current);
    }
    let last = pages.len() - 1;
    pages.into_iter().enumerate().map(|(i, p)| if i < last { format!("{p}\n{more}") } else { p }).collect()
}

/// Last resort for a closing screen that cannot be paged: shorten it.
pub fn clamp(prefix: &str, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() && !fits(&format!("{prefix}{}…", chars.iter().collect::<String>())) {
        chars.pop();
    }
    if fits(&format!("{prefix}{text}")) {
        text.to_string()
    } else {
        format!("{}…", chars.iter().collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_gsm7_and_extension_characters() {
        assert_eq!(gsm7_len("CON Send KES 500"), Some(16));
        assert_eq!(gsm7_len("€[x]"), Some(7));
        assert_eq!(gsm7_len("Zoë"), None);
        assert!(fits(&"a".repeat(182)));
        assert!(!fits(&"a".repeat(183)));
        assert!(fits(&format!("Zoë{}", "a".repeat(77))));
        assert!(!fits(&format!("Zoë{}", "a".repeat(78))));
    }

    #[test]
    fn long_text_is_paged_with_more() {
        let text = (0..20).map(|i| format!("Line number {i} of the statement")).collect::<Vec<_>>().join("\n");
        let pages = paginate("CON ", &text, "98. More", "END ");
        assert!(pages.len() > 1);
        for (i, p) in pages.iter().enumerate() {
            assert!(fits(&format!("CON {p}")), "page {i} too long");
            assert_eq!(p.ends_with("98. More"), i + 1 < pages.len());
        }
        let joined: String =
            pages.iter().map(|p| p.trim_end_matches("98. More").trim_end()).collect::<Vec<_>>().join("\n");
        assert_eq!(joined, text);
    }

    proptest! {
        #[test]
        fn every_page_fits(text in "[a-zA-Z0-9 .,ëŋ€\n]{0,800}") {
            for p in paginate("CON ", &text, "98. More", "END ") {
                prop_assert!(fits(&format!("CON {p}")), "{p:?}");
            }
            let closing = format!("END {}", clamp("END ", &text));
            prop_assert!(fits(&closing), "{closing:?}");
        }
    }
}

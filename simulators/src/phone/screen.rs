//! What the phone makes of one USSD screen, without drawing it: the text
//! wrapped to a feature phone's narrow display, the 182-character budget
//! it used, the navigation hints it offers (`0` back, `00` home, `98`
//! more) and whether it asks for a PIN (so the phone masks what is typed).
//!
//! The budget is counted independently of mkoba (this crate does not link
//! it), the way the network counts: the whole body, `CON `/`END `
//! included, in GSM-7 septets, or in UTF-16 units against 80 when one
//! character is outside GSM-7 (the screen then goes as UCS-2).

/// Septets in one USSD screen when every character is GSM-7.
pub const GSM7_BUDGET: usize = 182;
/// UTF-16 units in one screen sent as UCS-2.
pub const UCS2_BUDGET: usize = 80;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: two septets each.
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How much of one screen's budget a reply used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub used: usize,
    pub max: usize,
    /// A character outside GSM-7 made the screen UCS-2 (budget 80).
    pub ucs2: bool,
}

impl Budget {
    /// The budget of a whole reply body (`CON …`/`END …`).
    pub fn of(body: &str) -> Budget {
        let septets = body.chars().try_fold(0usize, |n, c| {
            if GSM7_BASIC.contains(c) {
                Some(n + 1)
            } else if GSM7_EXTENDED.contains(c) {
                Some(n + 2)
            } else {
                None
            }
        });
        match septets {
            Some(used) => Budget { used, max: GSM7_BUDGET, ucs2: false },
            None => Budget { used: body.encode_utf16().count(), max: UCS2_BUDGET, ucs2: true },
        }
    }

    pub fn over(&self) -> bool {
        self.used > self.max
    }

    /// `47/182`, `47/80 UCS-2`.
    pub fn label(&self) -> String {
        let ucs2 = if self.ucs2 { " UCS-2" } else { "" };
        format!("{}/{}{ucs2}", self.used, self.max)
    }
}

/// `text` wrapped to `width` columns as a feature phone shows it: the
/// screen's own line breaks kept, words moved whole to the next line, a
/// word longer than a line cut.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.trim_end_matches('\r');
        let mut line = String::new();
        let mut line_len = 0usize;
        for word in raw.split(' ').filter(|w| !w.is_empty()) {
            let mut word: Vec<char> = word.chars().collect();
            let gap = usize::from(line_len > 0);
            if line_len + gap + word.len() <= width {
                if gap == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                line_len += gap + word.len();
                continue;
            }
            if line_len > 0 {
                lines.push(std::mem::take(&mut line));
            }
            while word.len() > width {
                lines.push(word.drain(..width).collect());
            }
            line_len = word.len();
            line = word.into_iter().collect();
        }
        lines.push(line);
    }
    lines
}

/// Navigation a screen offers besides its own options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hints {
    /// `0` goes back.
    pub back: bool,
    /// `00` goes to the main menu.
    pub home: bool,
    /// `98` shows more of a long screen.
    pub more: bool,
}

impl Hints {
    /// SPEC §6: on any non-final screen `0` goes back and `00` home; the
    /// home screen itself offers neither unless it lists `0.`. `98` is
    /// offered when a line of the screen is the "98. More" option.
    pub fn of(screen: &str, continues: bool, home_screen: bool) -> Hints {
        if !continues {
            return Hints::default();
        }
        let option =
            |n: &str| screen.lines().any(|l| l.trim_start().strip_prefix(n).is_some_and(|r| r.starts_with('.')));
        Hints { back: !home_screen || option("0"), home: !home_screen, more: option("98") }
    }

    /// The hint texts, in the order shown.
    pub fn labels(&self) -> Vec<(&'static str, &'static str)> {
        let mut labels = Vec::new();
        if self.more {
            labels.push(("98", "more"));
        }
        if self.back {
            labels.push(("0", "back"));
        }
        if self.home {
            labels.push(("00", "home"));
        }
        labels
    }
}

/// Whether the screen's prompt asks for a PIN ("Enter PIN to confirm:",
/// "Weka PIN:"): its last line names a PIN, ends with `:` and is not a
/// menu option ("4. Change PIN").
pub fn asks_pin(screen: &str) -> bool {
    let Some(last) = screen.lines().map(str::trim).rfind(|l| !l.is_empty()) else {
        return false;
    };
    let option = last.split_once('.').is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    last.contains("PIN") && last.ends_with(':') && !option
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_like_a_narrow_display() {
        let lines = wrap("Send KES 600.00 to Baraka Otieno?\nFee KES 5.00\nEnter PIN to confirm:", 16);
        assert_eq!(lines, ["Send KES 600.00", "to Baraka", "Otieno?", "Fee KES 5.00", "Enter PIN to", "confirm:"]);
        assert_eq!(wrap("ABCDEFGHIJ xy", 4), ["ABCD", "EFGH", "IJ", "xy"]);
        assert_eq!(wrap("a\n\nb", 4), ["a", "", "b"]);
        assert!(wrap("one two three four", 9).iter().all(|l| l.chars().count() <= 9));
    }

    #[test]
    fn counts_the_budget_as_the_network_does() {
        assert_eq!(Budget::of("CON Welcome"), Budget { used: 11, max: 182, ucs2: false });
        assert_eq!(Budget::of("CON €5").used, 7, "€ takes two septets");
        let ucs2 = Budget::of("CON ŋ");
        assert!(ucs2.ucs2 && ucs2.max == 80 && ucs2.used == 5);
        assert!(!Budget::of(&format!("CON {}", "a".repeat(178))).over());
        assert!(Budget::of(&format!("CON {}", "a".repeat(179))).over());
        assert_eq!(Budget::of("END ok").label(), "6/182");
    }

    #[test]
    fn hints_follow_the_screen() {
        let home = Hints::of("Welcome\n1. Send money", true, true);
        assert_eq!(home, Hints::default());
        let inner = Hints::of("Enter amount:", true, false);
        assert_eq!(inner, Hints { back: true, home: true, more: false });
        let long = Hints::of("Statement\n1 ...\n98. More\n0. Back", true, false);
        assert!(long.more && long.back);
        assert_eq!(long.labels()[0], ("98", "more"));
        assert_eq!(Hints::of("Sent. 98. More", false, false), Hints::default(), "END offers nothing");
        assert!(!Hints::of("Item 980.5", true, true).more);
    }

    #[test]
    fn recognises_pin_prompts_only() {
        assert!(asks_pin("Send KES 50.00 to Baraka?\nFee KES 0.00\nEnter PIN to confirm:"));
        assert!(asks_pin("Weka PIN:\n"));
        assert!(asks_pin("Choose a 4-digit PIN:"));
        assert!(!asks_pin("mkoba agent\n1. Deposit\n4. Change PIN"));
        assert!(!asks_pin("Enter phone number:"));
        assert!(!asks_pin(""));
    }
}

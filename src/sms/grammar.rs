//! The SMS command grammar (SPEC §7): English and Kiswahili keywords, any
//! case, extra spaces, local phone formats. Anything else is `Help`.

use crate::ledger::Language;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Balance {
        pin: String,
    },
    Send {
        amount: String,
        phone: String,
        pin: String,
    },
    Pay {
        till: String,
        amount: String,
        pin: String,
    },
    Statement {
        pin: String,
    },
    ChangePin {
        old: String,
        new: String,
    },
    Lang(Language),
    /// Approve the payment request or allowance whose SMS carried `code`.
    Approve {
        code: String,
        pin: String,
    },
    Decline {
        code: String,
    },
    /// Revoke every allowance of the sender's for `till`.
    Stop {
        till: String,
    },
    Help,
}

impl Command {
    pub fn needs_pin(&self) -> bool {
        !matches!(self, Command::Lang(_) | Command::Help | Command::Decline { .. } | Command::Stop { .. })
    }
}

pub fn parse(text: &str) -> Command {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((keyword, args)) = words.split_first() else {
        return Command::Help;
    };
    let s = |w: &&str| (*w).to_string();
    match (keyword.to_ascii_uppercase().as_str(), args) {
        ("BAL" | "SALIO", [pin]) => Command::Balance { pin: s(pin) },
        // A phone typed with spaces ("0712 345 678") arrives as several words.
        ("SEND" | "TUMA", [amount, phone @ .., pin]) if !phone.is_empty() => {
            Command::Send { amount: s(amount), phone: phone.concat(), pin: s(pin) }
        }
        ("PAY" | "LIPA", [till, amount, pin]) => Command::Pay { till: s(till), amount: s(amount), pin: s(pin) },
        ("STMT" | "TAARIFA", [pin]) => Command::Statement { pin: s(pin) },
        ("PIN", [old, new]) => Command::ChangePin { old: s(old), new: s(new) },
        ("LANG" | "LUGHA", [lang]) => Language::parse(lang).map_or(Command::Help, Command::Lang),
        ("APPROVE" | "KUBALI", [code, pin]) => Command::Approve { code: s(code), pin: s(pin) },
        ("DECLINE" | "KATAA", [code]) => Command::Decline { code: s(code) },
        ("STOP" | "SITISHA", [till]) => Command::Stop { till: s(till) },
        _ => Command::Help,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keywords_in_both_languages_any_case() {
        assert_eq!(parse("BAL 1357"), Command::Balance { pin: "1357".into() });
        assert_eq!(parse("  salio   1357 "), Command::Balance { pin: "1357".into() });
        let send = Command::Send { amount: "1,250".into(), phone: "0712345678".into(), pin: "1357".into() };
        assert_eq!(parse("send 1,250 0712345678 1357"), send);
        assert_eq!(parse("Tuma 1,250 0712 345 678 1357"), send);
        assert_eq!(
            parse("LIPA 55123 100 1357"),
            Command::Pay { till: "55123".into(), amount: "100".into(), pin: "1357".into() }
        );
        assert_eq!(parse("stmt 1357"), Command::Statement { pin: "1357".into() });
        assert_eq!(parse("PIN 1357 2580"), Command::ChangePin { old: "1357".into(), new: "2580".into() });
        assert_eq!(parse("lang sw"), Command::Lang(Language::Sw));
        assert_eq!(parse("LUGHA EN"), Command::Lang(Language::En));
        let approve = Command::Approve { code: "k7q2".into(), pin: "1357".into() };
        assert_eq!(parse("approve k7q2 1357"), approve);
        assert_eq!(parse(" KUBALI  k7q2 1357"), approve);
        assert_eq!(parse("Decline K7Q2"), Command::Decline { code: "K7Q2".into() });
        assert_eq!(parse("kataa K7Q2"), Command::Decline { code: "K7Q2".into() });
        assert_eq!(parse("STOP 55123"), Command::Stop { till: "55123".into() });
        assert_eq!(parse("sitisha 55123"), Command::Stop { till: "55123".into() });
    }

    #[test]
    fn anything_else_is_help() {
        for text in [
            "",
            "HELP",
            "msaada",
            "BAL",
            "BAL 1 2",
            "SEND 100 1357",
            "LANG FR",
            "hello there",
            "PAY 1 2",
            "APPROVE K7Q2",
            "DECLINE",
            "STOP",
            "STOP 1 2",
        ] {
            assert_eq!(parse(text), Command::Help, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }
    }
}

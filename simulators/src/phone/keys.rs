//! Keys: the keyboard's keys mapped onto the handset's, and the key
//! scripts the headless mode plays (`<dial>1<send>0712000002<send>`).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::state::Key;

/// Steps a script may have at most.
pub const SCRIPT_STEPS_MAX: usize = 1_000;

/// The handset key a keyboard key stands for, if any.
pub fn from_keyboard(event: &KeyEvent) -> Option<Key> {
    if event.kind != KeyEventKind::Press {
        return None;
    }
    if event.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(event.code, KeyCode::Char('c' | 'C')).then_some(Key::Quit);
    }
    Some(match event.code {
        KeyCode::Char(c @ ('0'..='9' | '*' | '#' | '+')) => Key::Char(c),
        KeyCode::Char('d' | 'D') | KeyCode::F(1) => Key::Dial,
        KeyCode::Char('e' | 'E') | KeyCode::F(2) => Key::End,
        KeyCode::Char('r' | 'R') => Key::ReadSms,
        KeyCode::Enter => Key::Send,
        KeyCode::Backspace | KeyCode::Delete => Key::Backspace,
        KeyCode::Up | KeyCode::PageUp => Key::ScrollUp,
        KeyCode::Down | KeyCode::PageDown => Key::ScrollDown,
        KeyCode::Esc => Key::Quit,
        _ => return None,
    })
}

/// The keys line of the help (what the phone shows under its keypad).
pub const KEY_HELP: &[(&str, &str)] = &[
    ("d", "dial"),
    ("Enter", "send"),
    ("e", "end"),
    ("⌫", "delete"),
    ("↑↓", "scroll"),
    ("r", "read SMS"),
    ("Esc", "quit"),
];

/// One step of a headless script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(Key),
    /// Poll the SMS inbox once.
    Inbox,
    /// Poll the inbox until a message containing the text (any new message
    /// when empty) is there.
    WaitSms(String),
}

/// Parses a key script: `0`-`9`, `*`, `#`, `+` are keys; `<dial>`,
/// `<send>` (or `<enter>`), `<end>`, `<bs>`, `<up>`, `<down>`, `<read>`,
/// `<inbox>`, `<sms>` and `<sms:TEXT>` are the rest; spaces are ignored.
pub fn parse_script(script: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut rest = script;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest.find('>').ok_or_else(|| format!("unclosed <…> in the key script at {rest:?}"))?;
            steps.push(named(&rest[1..end])?);
            rest = &rest[end + 1..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        match c {
            '0'..='9' | '*' | '#' | '+' => steps.push(Step::Key(Key::Char(c))),
            c if c.is_whitespace() => {}
            c => return Err(format!("{c:?} is not a phone key (use 0-9 * # + or <name>)")),
        }
        if steps.len() > SCRIPT_STEPS_MAX {
            return Err(format!("a key script has at most {SCRIPT_STEPS_MAX} steps"));
        }
    }
    Ok(steps)
}

fn named(name: &str) -> Result<Step, String> {
    if let Some(text) = name.strip_prefix("sms:") {
        return Ok(Step::WaitSms(text.to_string()));
    }
    Ok(Step::Key(match name.to_ascii_lowercase().as_str() {
        "dial" => Key::Dial,
        "send" | "enter" => Key::Send,
        "end" => Key::End,
        "bs" | "backspace" => Key::Backspace,
        "up" => Key::ScrollUp,
        "down" => Key::ScrollDown,
        "read" => Key::ReadSms,
        "inbox" => return Ok(Step::Inbox),
        "sms" => return Ok(Step::WaitSms(String::new())),
        other => return Err(format!("unknown key <{other}>: dial, send, enter, end, bs, up, down, read, inbox, sms")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyboard_keys_map_onto_the_handset() {
        let key = |code| from_keyboard(&KeyEvent::new(code, KeyModifiers::NONE));
        assert_eq!(key(KeyCode::Char('7')), Some(Key::Char('7')));
        assert_eq!(key(KeyCode::Char('#')), Some(Key::Char('#')));
        assert_eq!(key(KeyCode::Char('d')), Some(Key::Dial));
        assert_eq!(key(KeyCode::Enter), Some(Key::Send));
        assert_eq!(key(KeyCode::Esc), Some(Key::Quit));
        assert_eq!(key(KeyCode::Char('x')), None);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(from_keyboard(&ctrl_c), Some(Key::Quit));
        let mut release = KeyEvent::new(KeyCode::Char('1'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(from_keyboard(&release), None);
    }

    #[test]
    fn scripts_parse_and_bad_ones_are_refused() {
        let steps = parse_script("<dial> 1<send>07 <bs><sms:You sent><sms><inbox>").expect("valid");
        assert_eq!(steps.len(), 9);
        assert_eq!(steps[0], Step::Key(Key::Dial));
        assert_eq!(steps[2], Step::Key(Key::Send));
        assert_eq!(steps[5], Step::Key(Key::Backspace));
        assert_eq!(steps[6], Step::WaitSms("You sent".into()));
        assert_eq!(steps[7], Step::WaitSms(String::new()));
        assert_eq!(steps[8], Step::Inbox);
        assert!(parse_script("<dial").is_err());
        assert!(parse_script("<call>").is_err());
        assert!(parse_script("1a").is_err());
        assert!(parse_script(&"1".repeat(SCRIPT_STEPS_MAX + 1)).is_err());
    }
}

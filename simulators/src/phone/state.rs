//! The phone's state and what each key does to it, without any I/O: a key
//! press returns the [`Action`] the runner carries out (a hop, a
//! session-end event, quitting), and the answer comes back through
//! [`PhoneState::hop_answered`]. The interactive terminal and the headless
//! script share this, so what the tests drive is what a person uses.

use std::time::Instant;

use super::screen::{asks_pin, wrap, Budget, Hints};
use super::sms::SmsBox;
use crate::ussd::{new_session_id, UssdReply};

/// Characters one input may have (a real handset stops there too).
pub const INPUT_MAX: usize = 40;

/// A key of the handset (the runner maps keyboard keys onto these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// `0`-`9`, `*`, `#`, `+`.
    Char(char),
    Backspace,
    /// Send the typed input (or dial the typed code).
    Send,
    /// The green key: dial the service code.
    Dial,
    /// The red key: hang up.
    End,
    ScrollUp,
    ScrollDown,
    /// Mark every SMS read.
    ReadSms,
    Quit,
}

/// What the runner must do after a key or an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Nothing,
    Hop(HopRequest),
    /// Tell mkoba how the session ended, as Africa's Talking does.
    SessionEnded(SessionEnd),
    Quit,
}

/// One hop to send (its `Debug` hides the text: it holds PINs).
#[derive(Clone, PartialEq, Eq)]
pub struct HopRequest {
    /// Answers to an older hop are ignored.
    pub seq: u64,
    pub session_id: String,
    pub service_code: String,
    /// Every input so far joined by `*` (holds PINs: never shown or logged).
    pub text: String,
}

/// How a session ended (Africa's Talking's events callback; its `Debug`
/// hides the input: it holds PINs).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionEnd {
    pub session_id: String,
    pub service_code: String,
    /// `Success` (the app ended it) or `Incomplete` (the caller hung up).
    pub status: &'static str,
    pub hops: u32,
    pub duration_ms: u64,
    /// Holds PINs: sent to mkoba only.
    pub input: String,
    pub last_response: String,
}

/// Where the call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Idle,
    /// A hop is on its way.
    Waiting,
    /// A `CON` screen waits for input.
    Open,
    /// The last session ended; its last screen stays shown.
    Ended,
}

/// The screen shown, from the last answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// Whole body, `CON `/`END ` included (the budget counts it).
    pub body: String,
    /// The text on the display.
    pub text: String,
    pub continues: bool,
    /// The first screen of the session, or the answer to `00`.
    pub home: bool,
    /// Not a mkoba answer: a transport or HTTP failure.
    pub error: bool,
}

#[derive(Clone)]
struct Session {
    id: String,
    service_code: String,
    /// Inputs sent, and whether each answered a PIN prompt.
    inputs: Vec<(String, bool)>,
    started: Instant,
    hops: u32,
}

/// Everything the phone shows (its `Debug` hides what is typed).
#[derive(Clone)]
pub struct PhoneState {
    /// E.164 digits.
    pub phone: String,
    pub service_code: String,
    /// Display width in characters.
    pub width: usize,
    pub call: Call,
    session: Option<Session>,
    /// What is typed and not sent yet.
    pub typed: String,
    pub shown: Option<Shown>,
    pub inbox: SmsBox,
    /// Where the SMS come from, as the inbox pane names it.
    pub sms_label: String,
    /// The status line.
    pub status: String,
    pub last_key: Option<Key>,
    /// First wrapped line shown.
    pub scroll: usize,
    seq: u64,
    /// The input on its way was a PIN.
    sending_pin: bool,
}

impl PhoneState {
    pub fn new(phone: &str, service_code: &str, width: usize) -> PhoneState {
        PhoneState {
            phone: phone.to_string(),
            service_code: service_code.to_string(),
            width: width.max(8),
            call: Call::Idle,
            session: None,
            typed: String::new(),
            shown: None,
            inbox: SmsBox::default(),
            sms_label: "off".into(),
            status: format!("Press d to dial {service_code}"),
            last_key: None,
            scroll: 0,
            seq: 0,
            sending_pin: false,
        }
    }

    /// What `key` does.
    pub fn press(&mut self, key: Key) -> Action {
        self.last_key = Some(key);
        match key {
            Key::Char(c) => {
                if self.call == Call::Waiting {
                    self.status = "Wait for the network...".into();
                } else if self.typed.chars().count() < INPUT_MAX {
                    self.typed.push(c);
                }
                Action::Nothing
            }
            Key::Backspace => {
                self.typed.pop();
                Action::Nothing
            }
            Key::Send => self.send(),
            Key::Dial => self.dial_code(None),
            Key::End => self.hang_up(),
            Key::ScrollUp => {
                self.scroll = self.scroll.saturating_sub(1);
                Action::Nothing
            }
            Key::ScrollDown => {
                self.scroll = (self.scroll + 1).min(self.screen_lines().len().saturating_sub(1));
                Action::Nothing
            }
            Key::ReadSms => {
                self.inbox.mark_read();
                Action::Nothing
            }
            Key::Quit => Action::Quit,
        }
    }

    fn send(&mut self) -> Action {
        match self.call {
            Call::Waiting => Action::Nothing,
            Call::Idle | Call::Ended => {
                let typed = std::mem::take(&mut self.typed);
                if typed.is_empty() {
                    self.dial_code(None)
                } else if typed.starts_with('*') && typed.ends_with('#') && typed.len() > 2 {
                    self.dial_code(Some(typed))
                } else {
                    self.status = format!("Not a USSD code: type one like {} or press d", self.service_code);
                    Action::Nothing
                }
            }
            Call::Open => {
                let secret = self.asks_pin();
                let input = std::mem::take(&mut self.typed);
                let Some(session) = self.session.as_mut() else {
                    return Action::Nothing;
                };
                session.inputs.push((input, secret));
                self.sending_pin = secret;
                self.status = if secret { "Checking PIN...".into() } else { "Sending...".into() };
                self.next_hop()
            }
        }
    }

    fn dial_code(&mut self, code: Option<String>) -> Action {
        if matches!(self.call, Call::Open | Call::Waiting) {
            self.status = "A session is open: press e to end it first".into();
            return Action::Nothing;
        }
        let service_code = code.unwrap_or_else(|| self.service_code.clone());
        self.typed.clear();
        self.status = format!("Dialling {service_code}...");
        self.session =
            Some(Session { id: new_session_id(), service_code, inputs: Vec::new(), started: Instant::now(), hops: 0 });
        self.sending_pin = false;
        self.next_hop()
    }

    fn next_hop(&mut self) -> Action {
        let Some(session) = self.session.as_mut() else {
            return Action::Nothing;
        };
        self.seq += 1;
        session.hops += 1;
        self.call = Call::Waiting;
        Action::Hop(HopRequest {
            seq: self.seq,
            session_id: session.id.clone(),
            service_code: session.service_code.clone(),
            text: joined(&session.inputs),
        })
    }

    fn hang_up(&mut self) -> Action {
        self.typed.clear();
        if !matches!(self.call, Call::Open | Call::Waiting) {
            self.call = Call::Idle;
            self.shown = None;
            self.status = format!("Press d to dial {}", self.service_code);
            return Action::Nothing;
        }
        self.call = Call::Ended;
        self.seq += 1; // an answer still on its way is dropped
        self.status = "Call ended".into();
        self.end_event("Incomplete").map_or(Action::Nothing, Action::SessionEnded)
    }

    fn end_event(&mut self, status: &'static str) -> Option<SessionEnd> {
        let session = self.session.take()?;
        Some(SessionEnd {
            session_id: session.id,
            service_code: session.service_code,
            status,
            hops: session.hops,
            duration_ms: u64::try_from(session.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            input: joined(&session.inputs),
            last_response: self.shown.as_ref().map(|s| s.body.clone()).unwrap_or_default(),
        })
    }

    /// The answer to hop `seq`: the reply, or why there was none (never
    /// holding the URL: it carries the token).
    pub fn hop_answered(&mut self, seq: u64, answer: Result<UssdReply, String>) -> Action {
        if seq != self.seq || self.call != Call::Waiting {
            return Action::Nothing;
        }
        let home = self.session.as_ref().is_some_and(|s| s.inputs.last().is_none_or(|(i, _)| i == "00"));
        let reply = match answer {
            Ok(reply) if reply.is_well_formed() => reply,
            Ok(reply) => return self.failed(format!("HTTP {}: {}", reply.status, reply.body.trim())),
            Err(e) => return self.failed(e),
        };
        let continues = reply.continues() == Some(true);
        let text = reply.screen().to_string();
        self.shown = Some(Shown { body: reply.body, text, continues, home, error: false });
        self.scroll = 0;
        self.status = self.sent_status(continues);
        if continues {
            self.call = Call::Open;
            return Action::Nothing;
        }
        self.call = Call::Ended;
        self.end_event("Success").map_or(Action::Nothing, Action::SessionEnded)
    }

    fn sent_status(&self, continues: bool) -> String {
        let hops = self.session.as_ref().map_or(0, |s| s.hops);
        match (continues, self.sending_pin) {
            (true, _) => format!("Session open, hop {hops}: type and press Enter"),
            (false, true) => "Session ended (the PIN was sent masked)".into(),
            (false, false) => "Session ended".into(),
        }
    }

    fn failed(&mut self, why: String) -> Action {
        let text = "Connection problem or invalid MMI code.".to_string();
        self.shown = Some(Shown { body: format!("END {text}"), text, continues: false, home: false, error: true });
        self.status = why;
        self.call = Call::Ended;
        self.session = None;
        Action::Nothing
    }

    /// The display's lines, wrapped.
    pub fn screen_lines(&self) -> Vec<String> {
        match &self.shown {
            Some(shown) => wrap(&shown.text, self.width),
            None => Vec::new(),
        }
    }

    /// The budget the current screen used (none for a failure).
    pub fn budget(&self) -> Option<Budget> {
        self.shown.as_ref().filter(|s| !s.error).map(|s| Budget::of(&s.body))
    }

    pub fn hints(&self) -> Hints {
        match (&self.shown, self.call) {
            (Some(s), Call::Open) => Hints::of(&s.text, s.continues, s.home),
            _ => Hints::default(),
        }
    }

    /// The open screen asks for a PIN: what is typed is masked.
    pub fn asks_pin(&self) -> bool {
        self.call == Call::Open && self.shown.as_ref().is_some_and(|s| asks_pin(&s.text))
    }

    /// What is typed, as the display shows it.
    pub fn typed_display(&self) -> String {
        if self.asks_pin() {
            "•".repeat(self.typed.chars().count())
        } else {
            self.typed.clone()
        }
    }

    /// The inputs sent in this session, PINs masked: `1 › 0712… › ••••`.
    pub fn trail(&self) -> String {
        let Some(session) = &self.session else {
            return String::new();
        };
        let shown: Vec<String> = session
            .inputs
            .iter()
            .map(|(input, secret)| if *secret { "•".repeat(input.chars().count()) } else { input.clone() })
            .collect();
        shown.join(" › ")
    }
}

fn joined(inputs: &[(String, bool)]) -> String {
    inputs.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>().join("*")
}

#[path = "state_debug.rs"]
mod debug;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

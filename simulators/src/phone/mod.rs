//! `mkoba-phone`'s terminal app: a feature phone on screen.
//!
//! The logic is plain and testable, the drawing separate, the I/O at the
//! edges:
//!
//! * [`screen`]: one USSD screen wrapped to the display, its 182-character
//!   budget, its `0`/`00`/`98` hints, whether it asks for a PIN.
//! * [`state`]: the phone's state and what each key does to it.
//! * [`sms`]: the phone's SMS inbox, merged from each poll.
//! * [`keys`]: keyboard keys onto handset keys, and key scripts.
//! * [`net`]: hops, session-end events and SMS polling over HTTP.
//! * [`ui`], `ui_panes`: one frame drawn from a state.
//! * [`headless`]: a key script played into ratatui's `TestBackend`.
//! * [`tui`]: the interactive terminal (crossterm).

pub mod headless;
pub mod keys;
pub mod net;
pub mod screen;
pub mod sms;
pub mod state;
pub mod tui;
pub mod ui;
mod ui_panes;

pub use headless::{buffer_text, Headless};
pub use keys::{parse_script, Step};
pub use net::{http_client, Net, SmsSource};
pub use state::{Key, PhoneState};

/// Display width of a typical feature phone, in characters.
pub const DEFAULT_SCREEN_WIDTH: usize = 20;

//! The scripted mode: the same state and drawing as the terminal app,
//! driven by a key script and rendered into ratatui's `TestBackend`, so a
//! test (or `mkoba-phone --keys`) can read every frame as text. Each hop
//! is awaited before the next key, so a script is deterministic.

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

use super::keys::Step;
use super::net::Net;
use super::state::{Action, PhoneState};
use super::ui::draw;

/// How often `<sms>` polls the inbox.
const SMS_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A phone on a headless terminal.
pub struct Headless {
    pub net: Net,
    pub state: PhoneState,
    terminal: Terminal<TestBackend>,
    /// How long `<sms>` waits for a message before the script fails.
    pub sms_wait: Duration,
}

impl Headless {
    /// A phone on a `width` × `height` terminal; the inbox is read once so
    /// that only later messages count as new.
    pub async fn start(net: Net, mut state: PhoneState, width: u16, height: u16) -> Result<Headless, String> {
        state.sms_label = net.sms.label().to_string();
        let terminal = Terminal::new(TestBackend::new(width, height)).map_err(|e| e.to_string())?;
        let mut phone = Headless { net, state, terminal, sms_wait: Duration::from_secs(15) };
        phone.poll_sms().await;
        phone.redraw()?;
        Ok(phone)
    }

    /// Plays `steps`; returns the frame after each, as text. Stops early
    /// at a quit key.
    pub async fn run(&mut self, steps: &[Step]) -> Result<Vec<String>, String> {
        let mut frames = Vec::with_capacity(steps.len());
        for step in steps {
            let go_on = self.step(step).await?;
            self.redraw()?;
            frames.push(self.text());
            if !go_on {
                break;
            }
        }
        Ok(frames)
    }

    /// One step; `false` after a quit key.
    pub async fn step(&mut self, step: &Step) -> Result<bool, String> {
        match step {
            Step::Key(key) => {
                let action = self.state.press(*key);
                Ok(self.perform(action).await)
            }
            Step::Inbox => {
                self.poll_sms().await;
                Ok(true)
            }
            Step::WaitSms(needle) => self.wait_sms(needle).await.map(|()| true),
        }
    }

    async fn perform(&mut self, mut action: Action) -> bool {
        loop {
            action = match action {
                Action::Nothing => return true,
                Action::Quit => return false,
                Action::Hop(hop) => {
                    let answer = self.net.hop(&hop).await;
                    self.state.hop_answered(hop.seq, answer)
                }
                Action::SessionEnded(end) => {
                    if let Err(e) = self.net.session_ended(&end).await {
                        self.state.status = format!("{} ({e})", self.state.status);
                    }
                    Action::Nothing
                }
            }
        }
    }

    async fn poll_sms(&mut self) {
        match self.net.poll_sms().await {
            Ok(messages) => {
                self.state.inbox.merge(messages);
            }
            Err(e) => self.state.inbox.failed(e),
        }
    }

    /// Polls until a message containing `needle` is in the inbox (any new
    /// message when `needle` is empty), at most `sms_wait`.
    async fn wait_sms(&mut self, needle: &str) -> Result<(), String> {
        let unread_before = self.state.inbox.unread();
        let deadline = Instant::now() + self.sms_wait;
        loop {
            self.poll_sms().await;
            let found = if needle.is_empty() {
                self.state.inbox.unread() > unread_before
            } else {
                self.state.inbox.contains(needle)
            };
            if found {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let what = if needle.is_empty() { "new SMS".to_string() } else { format!("SMS containing {needle:?}") };
                let why = self.state.inbox.error.as_deref().map(|e| format!(" (last poll: {e})")).unwrap_or_default();
                return Err(format!("no {what} within {} s{why}", self.sms_wait.as_secs()));
            }
            tokio::time::sleep(SMS_POLL_INTERVAL).await;
        }
    }

    /// Draws the state as it is now.
    pub fn redraw(&mut self) -> Result<(), String> {
        let state = &self.state;
        self.terminal.draw(|frame| draw(frame, state)).map(|_| ()).map_err(|e| e.to_string())
    }

    /// The last frame.
    pub fn buffer(&self) -> &Buffer {
        self.terminal.backend().buffer()
    }

    /// The last frame as text, one line per row.
    pub fn text(&self) -> String {
        buffer_text(self.buffer())
    }
}

/// A rendered buffer as text, rows joined by newlines (trailing spaces cut).
pub fn buffer_text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut rows = Vec::with_capacity(usize::from(area.height));
    for y in area.top()..area.bottom() {
        let row: String = (area.left()..area.right()).map(|x| buffer[(x, y)].symbol().to_string()).collect();
        rows.push(row.trim_end().to_string());
    }
    rows.join("\n")
}

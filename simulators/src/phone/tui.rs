//! The interactive terminal app: raw mode and the alternate screen
//! (restored on every exit, a panic included), keys read from the
//! keyboard, hops and the SMS poller run on a small tokio runtime and
//! report back through a channel, so the screen never freezes on the
//! network.

use std::sync::mpsc;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};

use super::keys::from_keyboard;
use super::net::{Net, SmsSource};
use super::sms::Sms;
use super::state::{Action, PhoneState};
use super::ui::draw;
use crate::ussd::UssdReply;

/// How long a key is waited for before the screen is redrawn.
const FRAME_WAIT: Duration = Duration::from_millis(100);

enum Report {
    Answered(u64, Result<UssdReply, String>),
    Sms(Result<Vec<Sms>, String>),
    EventFailed(String),
}

/// Restores the terminal when dropped, whatever ended the app.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the phone until Esc or Ctrl-C; the SMS source is polled every
/// `sms_every`.
pub fn run(net: Net, mut state: PhoneState, sms_every: Duration) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (tx, rx) = mpsc::channel::<Report>();
    state.sms_label = net.sms.label().to_string();
    if net.sms != SmsSource::Off {
        runtime.spawn(poll_sms(net.clone(), tx.clone(), sms_every));
    }
    // `try_init` installs a panic hook that restores the terminal first.
    let mut terminal = ratatui::try_init().map_err(|e| format!("cannot open the terminal: {e}"))?;
    let _restore = Restore;
    let mut app = App { net, state, tx, runtime: &runtime };
    loop {
        terminal.draw(|frame| draw(frame, &app.state)).map_err(|e| e.to_string())?;
        if event::poll(FRAME_WAIT).map_err(|e| e.to_string())? {
            if let Event::Key(key) = event::read().map_err(|e| e.to_string())? {
                if let Some(key) = from_keyboard(&key) {
                    let action = app.state.press(key);
                    if !app.dispatch(action) {
                        break;
                    }
                }
            }
        }
        while let Ok(report) = rx.try_recv() {
            app.take(report);
        }
    }
    drop(app);
    runtime.shutdown_background();
    Ok(())
}

struct App<'a> {
    net: Net,
    state: PhoneState,
    tx: mpsc::Sender<Report>,
    runtime: &'a tokio::runtime::Runtime,
}

impl App<'_> {
    /// Starts what `action` asks; `false` to quit.
    fn dispatch(&mut self, action: Action) -> bool {
        match action {
            Action::Nothing => {}
            Action::Quit => return false,
            Action::Hop(hop) => {
                let (net, tx) = (self.net.clone(), self.tx.clone());
                self.runtime.spawn(async move {
                    let answer = net.hop(&hop).await;
                    let _ = tx.send(Report::Answered(hop.seq, answer));
                });
            }
            Action::SessionEnded(end) => {
                let (net, tx) = (self.net.clone(), self.tx.clone());
                self.runtime.spawn(async move {
                    if let Err(e) = net.session_ended(&end).await {
                        let _ = tx.send(Report::EventFailed(e));
                    }
                });
            }
        }
        true
    }

    fn take(&mut self, report: Report) {
        match report {
            Report::Answered(seq, answer) => {
                let action = self.state.hop_answered(seq, answer);
                self.dispatch(action);
            }
            Report::Sms(Ok(messages)) => {
                let new = self.state.inbox.merge(messages);
                if new > 0 {
                    self.state.status = format!("{new} new SMS (r marks them read)");
                }
            }
            Report::Sms(Err(e)) => self.state.inbox.failed(e),
            Report::EventFailed(e) => self.state.status = format!("{} ({e})", self.state.status),
        }
    }
}

async fn poll_sms(net: Net, tx: mpsc::Sender<Report>, every: Duration) {
    loop {
        if tx.send(Report::Sms(net.poll_sms().await)).is_err() {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

//! The progress bar of a mix run (standard error; hidden with `--json` or
//! when standard error is not a terminal).

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::caller::Crowd;
use super::MixConfig;

/// A running bar; [`Progress::finish`] clears it.
pub struct Progress {
    bar: ProgressBar,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        self.bar.finish_and_clear();
    }
}

/// Starts the bar over the run's duration, updated five times a second.
pub fn start(cfg: &MixConfig, crowd: Arc<Crowd>) -> Progress {
    let total_ms = u64::try_from(cfg.duration.as_millis()).unwrap_or(u64::MAX);
    if !cfg.progress || !std::io::stderr().is_terminal() {
        return Progress { bar: ProgressBar::hidden(), task: None };
    }
    let bar = ProgressBar::with_draw_target(Some(total_ms), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    let b = bar.clone();
    let task = tokio::spawn(async move {
        loop {
            let elapsed = u64::try_from(crowd.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
            b.set_position(elapsed.min(total_ms));
            b.set_message(format!(
                "{} requests, {} transfers acknowledged, {} errors",
                crowd.sent.load(Ordering::Relaxed),
                crowd.acked.load(Ordering::Relaxed),
                crowd.errors.load(Ordering::Relaxed)
            ));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    Progress { bar, task: Some(task) }
}

//! `mkoba-load --scenario mix`: a realistic crowd against `mkoba serve`
//! processes the harness starts itself, with a correctness audit at the end
//! (SPEC §13, issue #14).
//!
//! A run sets up its world through the `mkoba` CLI ([`setup`]), starts one
//! or more nodes on one database with mkoba's SMS pointed at an in-process
//! aggregator simulator ([`run`]), lets seeded virtual callers ([`plan`],
//! [`caller`]) play a mix of USSD sessions, SMS commands, session-end
//! events and integrator charges (`POST /api/v1/charges` under allowances
//! customers approved by SMS during set-up) with retries, abandoned
//! sessions and wrong PINs, optionally kills
//! nodes with SIGKILL at seeded moments and restarts them ([`chaos`]), then
//! waits for the receipts and audits ([`audit`]). [`report`] and [`plot`]
//! say what was measured.

use std::path::PathBuf;
use std::time::Duration;

use super::{err, LoadError};

pub mod audit;
pub mod caller;
mod chaos;
pub mod plan;
mod plot;
mod proc;
pub mod report;
mod run;
mod run_progress;
mod setup;
#[cfg(test)]
mod tests;

pub use audit::{audit, Audit, AuditInput, ChargeOutcome, ChargeRecord, TransferRecord};
pub use plan::{Action, AllowanceRef, ChargeAsk, Kind, Plan, Shares, Weights, World};
pub use report::MixReport;
pub use run::run_mix;

/// Most `mkoba serve` nodes a run starts.
pub const MAX_NODES: usize = 8;

/// A mix run.
#[derive(Clone, Debug)]
pub struct MixConfig {
    /// The `mkoba` binary.
    pub mkoba: PathBuf,
    /// Where `mkoba` runs (its SQLite file, secrets and the servers' logs).
    pub workdir: PathBuf,
    /// `None`: SQLite, `mkoba.db` in `workdir`.
    pub database_url: Option<String>,
    pub nodes: usize,
    pub crash_kills: usize,
    pub seed: u64,
    pub duration: Duration,
    /// Virtual callers (at most `customers`: each owns its phones).
    pub callers: usize,
    pub customers: usize,
    pub agents: usize,
    pub merchants: usize,
    pub pin: String,
    pub weights: Weights,
    pub shares: Shares,
    /// Amounts typed, KES (inclusive range).
    pub amount_major: (u32, u32),
    /// Each customer's opening deposit, KES.
    pub deposit_major: u64,
    /// Range of the daily limits of the allowances charges go under, minor
    /// units: small beside the charges ([`plan::CHARGE_MINOR`]) so that a
    /// run uses some of them up and meets `allowance_exhausted`.
    pub allowance_limit_minor: (i64, i64),
    /// Where the latency picture goes (none: no picture).
    pub report_dir: Option<PathBuf>,
    /// More `MKOBA_*` settings for every `mkoba` process (applied last).
    pub server_env: Vec<(String, String)>,
    pub progress: bool,
    pub request_timeout: Duration,
    /// Longest wait for the receipts after the crowd stops.
    pub drain_timeout: Duration,
    pub service_code: String,
    pub network_code: String,
    pub country_code: String,
}

impl MixConfig {
    /// Defaults for a short run of `mkoba` at `mkoba` in `workdir`.
    pub fn new(mkoba: PathBuf, workdir: PathBuf) -> MixConfig {
        MixConfig {
            mkoba,
            workdir,
            database_url: None,
            nodes: 1,
            crash_kills: 0,
            seed: 1,
            duration: Duration::from_secs(10),
            callers: 16,
            customers: 50,
            agents: 4,
            merchants: 2,
            pin: "1357".into(),
            weights: Weights::default(),
            shares: Shares { retry: 0.05, abandon: 0.05, wrong_pin: 0.03, end_event: 0.05 },
            amount_major: (20, 200),
            deposit_major: 5_000,
            allowance_limit_minor: (150, 400),
            report_dir: None,
            server_env: Vec::new(),
            progress: false,
            request_timeout: Duration::from_secs(15),
            drain_timeout: Duration::from_secs(30),
            service_code: crate::ussd::DEFAULT_SERVICE_CODE.into(),
            network_code: crate::ussd::DEFAULT_NETWORK_CODE.into(),
            country_code: crate::msisdn::DEFAULT_COUNTRY_CODE.into(),
        }
    }

    fn validate(&self) -> Result<(), LoadError> {
        if self.nodes == 0 || self.nodes > MAX_NODES {
            return err(format!("--nodes must be between 1 and {MAX_NODES}"));
        }
        let postgres = self.database_url.as_deref().is_some_and(|u| u.starts_with("postgres"));
        if self.nodes > 1 && !postgres {
            return err("several nodes share one PostgreSQL: give --database-url postgres://…");
        }
        if self.duration.is_zero() || self.duration > super::MAX_DURATION {
            return err(format!("duration must be between 1 ms and {} s", super::MAX_DURATION.as_secs()));
        }
        if self.customers < 2 || self.customers > 1_000_000 {
            return err("--customers must be between 2 and 1,000,000");
        }
        if self.callers == 0 || self.callers > self.customers.min(999) {
            return err("--concurrency must be between 1 and min(--customers, 999) for the mix");
        }
        if self.agents == 0 || self.merchants == 0 || self.agents > 1000 || self.merchants > 1000 {
            return err("--agents and --merchants must be between 1 and 1000");
        }
        if self.amount_major.0 == 0 || self.amount_major.0 > self.amount_major.1 {
            return err("bad amount range");
        }
        let (lo, hi) = self.allowance_limit_minor;
        if lo < 1 || lo > hi {
            return err("bad allowance limit range");
        }
        let share_ok = |s: f64| (0.0..=1.0).contains(&s);
        let s = self.shares;
        if ![s.retry, s.abandon, s.wrong_pin, s.end_event].into_iter().all(share_ok) {
            return err("shares must be between 0 and 1");
        }
        if self.pin.len() != 4 || !self.pin.bytes().all(|b| b.is_ascii_digit()) {
            return err("the PIN must be 4 digits");
        }
        Ok(())
    }
}

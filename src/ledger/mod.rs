//! The double-entry ledger: accounts, immutable transfers and their postings,
//! the invariants that bind them, and the group-commit write path.
//!
//! The ledger knows nothing of USSD or SMS: channels call [`Ledger::submit`]
//! with a [`TransferRequest`] and get a [`Receipt`] or a [`LedgerError`].

pub mod account;
pub mod batch;
mod decide;
pub mod engine;
pub mod error;
pub mod guards;
pub mod history;
pub mod holds;
pub mod statement;
pub mod tariff;
pub mod transfer;
pub mod verify;
mod watch;
mod write;

pub use account::{Account, AccountId, AccountKey, AccountKind, AccountStatus, Language, NewAccount};
pub use error::LedgerError;
pub use statement::StatementLine;
pub use tariff::Quote;
pub use transfer::{Guard, Receipt, ReversalRequest, TransferId, TransferKind, TransferRequest};
pub use verify::VerifyReport;

use crate::config::{Config, SimSwapConfig, Tariffs, Tier, VelocityConfig};
use crate::db::{self, DbConn, Group, Manager, Pool, WriteQueue};
use crate::domain::{Currency, Money};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The operator's own accounts, created by the first migration.
#[derive(Debug, Clone, Copy)]
pub struct SystemAccounts {
    /// Where e-money comes from: goes negative by what is in circulation.
    pub issuance: AccountId,
    pub fee_revenue: AccountId,
    /// Pays agents' commissions: goes negative by what has been paid.
    pub commission_expense: AccountId,
    pub suspense: AccountId,
}

/// What the write path needs to know, fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub tariffs: Tariffs,
    pub tiers: BTreeMap<String, Tier>,
    pub currency: Currency,
    pub day_utc_offset_minutes: i64,
    pub system: SystemAccounts,
    pub velocity: VelocityConfig,
    pub sim_swap: SimSwapConfig,
    /// This application's metrics (empty when `metrics.enabled` is off).
    pub metrics: crate::metrics::Metrics,
}

impl Settings {
    /// The limits of an account's tier; none for system accounts. An account
    /// whose tier is no longer configured gets the strictest, `basic`.
    pub fn tier_of(&self, account: &Account) -> Option<&Tier> {
        if account.kind == AccountKind::System {
            return None;
        }
        self.tiers.get(&account.tier).or_else(|| self.tiers.get("basic"))
    }

    /// The day number (since the epoch) in the operator's zone, for daily limits.
    pub fn day_number(&self, now_ms: i64) -> i64 {
        crate::domain::time::day_number(now_ms, self.day_utc_offset_minutes)
    }
}

#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    sqlite: bool,
    pool: Pool,
    queue: WriteQueue,
    /// Transfers that queue up together are posted together.
    transfers: Arc<Group<TransferRequest, Receipt, LedgerError>>,
    settings: Arc<Settings>,
}

impl Ledger {
    /// Starts the writer and reads the system accounts. Migrations must have run.
    pub fn open(config: &Config, pool: Pool) -> Result<Ledger, LedgerError> {
        let mut conn = pool.get().map_err(db::DbError::from)?;
        let system = SystemAccounts {
            issuance: account::find_system(&mut conn, "issuance")?,
            fee_revenue: account::find_system(&mut conn, "fee_revenue")?,
            commission_expense: account::find_system(&mut conn, "commission_expense")?,
            suspense: account::find_system(&mut conn, "suspense")?,
        };
        drop(conn);
        let metrics = crate::metrics::Metrics::new(config.metrics.enabled)
            .map_err(|e| LedgerError::Internal(format!("metrics: {e}")))?;
        let settings = Arc::new(Settings {
            tariffs: config.tariffs.clone(),
            tiers: config.tiers.clone(),
            currency: config.currency.clone(),
            day_utc_offset_minutes: config.ledger.day_utc_offset_minutes,
            system,
            velocity: config.velocity.clone(),
            sim_swap: config.sim_swap.clone(),
            metrics: metrics.clone(),
        });
        let manager = Manager::new(db::Backend::from_url(&config.database_url)?, config.database.busy_timeout_ms);
        let (batch_max, depth) = (config.ledger.batch_max, config.ledger.queue_depth);
        let queue = WriteQueue::start(manager, batch_max, depth, "mkoba-writer", metrics)?;
        let (one, all) = (settings.clone(), settings.clone());
        let transfers = Arc::new(Group {
            one: Box::new(move |conn: &mut DbConn, req: &TransferRequest| transfer::apply(conn, &one, req)),
            all: Box::new(move |conn: &mut DbConn, reqs: &[&TransferRequest]| batch::apply_all(conn, &all, reqs)),
        });
        Ok(Ledger { inner: Arc::new(Inner { sqlite: !config.is_postgres(), pool, queue, transfers, settings }) })
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The settings, shared (for work that outlives a borrow, like a write job).
    pub fn settings_arc(&self) -> Arc<Settings> {
        self.inner.settings.clone()
    }

    /// SQLite (in-process: reads cost no round trip) rather than PostgreSQL.
    pub fn is_sqlite(&self) -> bool {
        self.inner.sqlite
    }

    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub fn quote(&self, kind: TransferKind, amount: Money) -> Result<Quote, LedgerError> {
        tariff::quote(&self.inner.settings.tariffs, kind, amount)
    }

    /// Posts a transfer through the group-commit writer; returns once it is durable.
    pub async fn submit(&self, req: TransferRequest) -> Result<Receipt, LedgerError> {
        let kind = req.kind;
        let result = match self.inner.queue.run_grouped(&self.inner.transfers, req.clone()).await {
            Err(LedgerError::RuleDeclined { rule }) => {
                let recorded = rule.clone();
                self.write(move |conn| holds::record_decline(conn, &req, &recorded)).await?;
                self.metrics().decline(&rule);
                Err(LedgerError::RuleDeclined { rule })
            }
            other => other,
        };
        self.metrics().transfer(kind.as_str(), &result);
        result
    }

    /// The same, for threads outside any async runtime.
    pub fn submit_blocking(&self, req: TransferRequest) -> Result<Receipt, LedgerError> {
        let kind = req.kind;
        let result = match self.inner.queue.run_grouped_blocking(&self.inner.transfers, req.clone()) {
            Err(LedgerError::RuleDeclined { rule }) => {
                let recorded = rule.clone();
                self.inner.queue.run_blocking(move |conn| holds::record_decline(conn, &req, &recorded))?;
                self.metrics().decline(&rule);
                Err(LedgerError::RuleDeclined { rule })
            }
            other => other,
        };
        self.metrics().transfer(kind.as_str(), &result);
        result
    }

    /// This application's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.settings.metrics
    }

    /// Jobs waiting for the writer right now.
    pub fn queue_depth(&self) -> usize {
        self.inner.queue.depth()
    }

    /// Releases or returns a held transfer, once (see [`holds`]).
    pub async fn settle_hold(
        &self,
        reference: crate::domain::Reference,
        how: holds::Settle,
    ) -> Result<Receipt, LedgerError> {
        let kind = match how {
            holds::Settle::Release => "hold_release",
            holds::Settle::Return => "hold_return",
        };
        let settings = self.inner.settings.clone();
        let result = self.inner.queue.run(move |conn| holds::settle(conn, &settings, &reference, how)).await;
        self.metrics().transfer(kind, &result);
        result
    }

    pub async fn reverse(&self, req: ReversalRequest) -> Result<Receipt, LedgerError> {
        let settings = self.inner.settings.clone();
        let result = self.inner.queue.run(move |conn| engine::apply_reversal(conn, &settings, &req)).await;
        self.metrics().transfer(TransferKind::Reversal.as_str(), &result);
        result
    }

    /// Any other write (accounts, PIN state), committed through the same queue.
    pub async fn write<T, F>(&self, f: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConn) -> Result<T, LedgerError> + Send + 'static,
    {
        self.inner.queue.run(f).await
    }

    /// Reads on a pooled connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, LedgerError> + Send + 'static,
    {
        db::blocking(&self.inner.pool, f).await
    }

    pub async fn find_account(&self, key: AccountKey) -> Result<Option<Account>, LedgerError> {
        self.read(move |conn| account::find(conn, &key)).await
    }

    /// Creates a customer, agent or merchant account.
    pub async fn create_account(&self, new: NewAccount) -> Result<AccountId, LedgerError> {
        self.write(move |conn| account::insert(conn, &new)).await
    }

    /// The latest transfers of an account, newest first.
    pub async fn statement(&self, id: AccountId, limit: i64) -> Result<Vec<StatementLine>, LedgerError> {
        self.read(move |conn| statement::statement(conn, id, limit)).await
    }

    pub async fn verify(&self) -> Result<VerifyReport, LedgerError> {
        let offset = self.inner.settings.day_utc_offset_minutes;
        self.read(move |conn| verify::verify(conn, offset)).await
    }
}

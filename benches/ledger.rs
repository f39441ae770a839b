//! Durable ledger transfers per second.
//!
//! Four measurements, each on a fresh database:
//!
//! * `submit`: mkoba's real write path: `startup::open_ledger`, then many
//!   concurrent `Ledger::submit` calls (P2P between funded customers) through
//!   the group-commit writer. Reports transfers/s, p50/p99 latency of
//!   `submit`, and the ledger's `verify()` afterwards. Receipts are not part
//!   of a transfer's transaction: they wait in the journal for the feeder.
//! * `submit-feed`: the same with the receipts feeder running flat out in
//!   the same writer, as if the aggregator took every SMS at once; reports
//!   how many transfers' receipts it queued per second too.
//! * `inline`: the same `batch::apply_all` run in a plain loop on one
//!   connection, batched exactly as the writer does with a batch of
//!   transfers (one write transaction, no savepoint), without the queue or
//!   the async runtime. The gap to `submit` is the queue; the gap to
//!   `ceiling` is the SQL.
//! * `ceiling`: the same SQL work without mkoba: a bare diesel loop on tables
//!   of its own doing 2 conditional balance UPDATEs + 1 journal INSERT per
//!   transfer, many per transaction with a savepoint each, or one commit each.
//!
//! `--census` also prints, per statement, how often `batch::apply_all` and
//! the batching issue it and how long it takes.
//!
//! ```text
//! cargo bench --bench ledger                        # SQLite, default matrix
//! cargo bench --bench ledger -- --pg postgres://postgres@127.0.0.1:5432/test
//! cargo bench --bench ledger -- --accounts 2 --submitters 256 --secs 10
//! cargo bench --bench ledger -- --help
//! MKOBA_METRICS__ENABLED=false cargo bench --bench ledger   # without metrics
//! ```

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use diesel::connection::{AnsiTransactionManager, InstrumentationEvent, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use mkoba::config::{Config, Tier};
use mkoba::db::{Backend, DbConn, Manager};
use mkoba::domain::{now_ms, Money, Msisdn};
use mkoba::i18n::Catalog;
use mkoba::ledger::{
    batch, transfer, AccountId, Ledger, LedgerError, NewAccount, Settings, TransferKind, TransferRequest,
};
use mkoba::notify::{receipts, worker, Notices};
use mkoba::with_conn;
use mkoba_simulators::load::Latencies;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every tier limit is raised to this so limits never refuse a transfer.
const NO_LIMIT: i64 = 1_000_000_000_000_000;
/// The largest single cash-in the default tariff allows (KES 1,000,000).
const CASH_IN_MAX_MINOR: i64 = 100_000_000;

#[derive(Parser, Debug)]
#[command(about = "Durable ledger transfers per second: mkoba's write path against the bare SQL ceiling")]
struct Args {
    /// PostgreSQL base URL: run everything on PostgreSQL (a fresh schema per
    /// run, dropped afterwards) instead of a temporary SQLite file.
    #[arg(long, env = "MKOBA_BENCH_DATABASE_URL")]
    pg: Option<String>,
    /// Customer accounts the transfers move between (2 = two hot accounts).
    #[arg(long, value_delimiter = ',', default_values_t = [20, 2])]
    accounts: Vec<usize>,
    /// Concurrent `submit` calls in flight (tokio tasks).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 256])]
    submitters: Vec<usize>,
    /// Amount ranges: `free` = KES 1..=100 (no fee), `fee` = KES 200..=900
    /// (a fee leg to the operator's fee account).
    #[arg(long, value_delimiter = ',', default_values = ["free", "fee"])]
    amounts: Vec<Amounts>,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Override `ledger.batch_max` (most transfers the writer commits at once;
    /// also the batch of the `inline` runs).
    #[arg(long)]
    batch_max: Option<usize>,
    /// Transfers per transaction in the `ceiling` runs (1 = a commit each).
    #[arg(long, value_delimiter = ',', default_values_t = [128, 1])]
    ceiling_batches: Vec<usize>,
    /// Which measurements to run.
    #[arg(long, value_delimiter = ',', default_values = ["submit", "inline", "ceiling"])]
    parts: Vec<Part>,
    /// Print a per-statement breakdown (calls and time per transfer) of the
    /// inline path and of the ceiling.
    #[arg(long)]
    census: bool,
    /// SQL run on the `inline` connection before its loop, to try a setting
    /// mkoba does not use (e.g. "PRAGMA temp_store = MEMORY"); repeatable.
    #[arg(long)]
    inline_setup: Vec<String>,
    /// Idempotency keys: `ordered` start with the clock (as a ULID does, and
    /// as TigerBeetle advises for its ids), so each batch's keys share a page
    /// of the unique index; `random` are 128 random bits, one index page per
    /// transfer.
    #[arg(long, value_enum, default_value_t = Keys::Ordered)]
    keys: Keys,
    /// Each customer's starting balance, in KES.
    #[arg(long, default_value_t = 10_000_000)]
    fund_kes: i64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Amounts {
    Free,
    Fee,
}

impl Amounts {
    fn range(self) -> std::ops::RangeInclusive<i64> {
        match self {
            Amounts::Free => 100..=10_000,
            Amounts::Fee => 20_000..=90_000,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Amounts::Free => "1-100 KES",
            Amounts::Fee => "200-900 KES+fee",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Keys {
    Ordered,
    Random,
}

impl Keys {
    fn make(self, rng: &mut StdRng, tag: &str) -> String {
        match self {
            Keys::Ordered => format!("{:013}-{tag}", now_ms()),
            Keys::Random => format!("{:032x}", rng.random::<u128>()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Submit,
    /// `submit` with the receipts feeder queueing receipts flat out alongside.
    SubmitFeed,
    Inline,
    Ceiling,
}

/// One line of the results table.
struct Row {
    path: String,
    accounts: usize,
    concurrency: String,
    amounts: &'static str,
    outcome: Outcome,
    latency: Option<(Duration, Duration)>,
    verify: String,
}

/// What a run did, however it ran.
#[derive(Default)]
struct Outcome {
    committed: u64,
    refused: u64,
    errors: u64,
    elapsed: Duration,
    /// Refusals and errors by kind, for the notes under the table.
    reasons: BTreeMap<String, u64>,
}

impl Outcome {
    fn per_sec(&self) -> f64 {
        self.committed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn count(&mut self, result: &Result<transfer::Receipt, LedgerError>) {
        match result {
            Ok(_) => self.committed += 1,
            Err(e) => {
                if matches!(e, LedgerError::Db(_)) {
                    self.errors += 1;
                    *self.reasons.entry(format!("error: {e}")).or_default() += 1;
                } else {
                    self.refused += 1;
                    let debug = format!("{e:?}");
                    let variant: String = debug.chars().take_while(char::is_ascii_alphanumeric).collect();
                    *self.reasons.entry(format!("refused: {variant}")).or_default() += 1;
                }
            }
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.committed += other.committed;
        self.refused += other.refused;
        self.errors += other.errors;
        for (k, v) in other.reasons {
            *self.reasons.entry(k).or_default() += v;
        }
    }
}

/// A database of one run's own: a SQLite file in a temporary directory, or a
/// fresh PostgreSQL schema dropped when this is.
enum TempDb {
    Sqlite { url: String, _dir: tempfile::TempDir },
    Pg { url: String, base: String, schema: String },
}

impl TempDb {
    fn new(pg: Option<&str>) -> anyhow::Result<TempDb> {
        match pg {
            None => {
                let dir = tempfile::tempdir().context("creating a temporary directory")?;
                let url = format!("sqlite://{}/bench.db", dir.path().display());
                Ok(TempDb::Sqlite { url, _dir: dir })
            }
            Some(base) => {
                let suffix: u64 = rand::rng().random();
                let schema = format!("bench_{suffix:016x}");
                let mut admin =
                    diesel::PgConnection::establish(base).with_context(|| format!("connecting to {base}"))?;
                admin.batch_execute(&format!("CREATE SCHEMA {schema}"))?;
                let sep = if base.contains('?') { '&' } else { '?' };
                Ok(TempDb::Pg {
                    url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
                    base: base.to_string(),
                    schema,
                })
            }
        }
    }

    fn url(&self) -> &str {
        match self {
            TempDb::Sqlite { url, .. } | TempDb::Pg { url, .. } => url,
        }
    }

    /// A connection with mkoba's own settings (SQLite: WAL, synchronous=FULL).
    fn connect(&self) -> anyhow::Result<DbConn> {
        Ok(Manager::new(Backend::from_url(self.url())?, 5_000).connect()?)
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let TempDb::Pg { base, schema, .. } = self {
            if let Ok(mut admin) = diesel::PgConnection::establish(base) {
                let _ = admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
            }
        }
    }
}

fn config_for(url: &str, batch_max: Option<usize>) -> Config {
    let mut config = Config { database_url: url.to_string(), ..Config::default() };
    for tier in config.tiers.values_mut() {
        *tier = Tier { max_balance_minor: NO_LIMIT, max_transfer_minor: NO_LIMIT, max_daily_out_minor: NO_LIMIT };
    }
    if let Some(batch_max) = batch_max {
        config.ledger.batch_max = batch_max;
    }
    config.database.pool_size = 4;
    // As `mkoba serve` reads it: MKOBA_METRICS__ENABLED=false measures the
    // write path without metrics.
    config.metrics.enabled = !matches!(std::env::var("MKOBA_METRICS__ENABLED").as_deref(), Ok("false" | "0"));
    config
}

fn money(minor: i64) -> anyhow::Result<Money> {
    Ok(Money::from_minor(minor)?)
}

fn new_account(kind: &str, tier: &str, phone: &str, name: String) -> anyhow::Result<NewAccount> {
    let msisdn = Msisdn::parse(phone, &Default::default())?;
    Ok(match kind {
        "agent" => NewAccount::agent(&msisdn, &name, None),
        _ => NewAccount::customer(&msisdn, &name, tier, None),
    })
}

/// A ledger on a fresh database with `n` customers, each funded with
/// `fund_minor` by an agent (float issue, then cash-ins). Returns the
/// customers and how many transfers the set-up made.
async fn funded_ledger(
    db: &TempDb,
    batch_max: Option<usize>,
    n: usize,
    fund_minor: i64,
) -> anyhow::Result<(Ledger, Vec<AccountId>, u64)> {
    if n < 2 {
        bail!("--accounts must be at least 2 (got {n})");
    }
    let config = config_for(db.url(), batch_max);
    let ledger = tokio::task::spawn_blocking(move || mkoba::startup::open_ledger(&config))
        .await?
        .context("opening the ledger")?;
    let agent = ledger.create_account(new_account("agent", "agent", "0719000000", "Bench Agent".into())?).await?;
    let mut customers = Vec::with_capacity(n);
    for i in 0..n {
        let phone = format!("07{:08}", 20_000_000 + i);
        let new = new_account("customer", "standard", &phone, format!("Customer {i}"))?;
        customers.push(ledger.create_account(new).await?);
    }
    let total = fund_minor.checked_mul(i64::try_from(n)?).filter(|t| *t <= NO_LIMIT).context("--fund-kes too large")?;
    ledger
        .submit(TransferRequest {
            idempotency_key: "setup-float".into(),
            kind: TransferKind::FloatIssue,
            from: ledger.settings().system.issuance,
            to: agent,
            amount: money(total)?,
            guard: None,
            client_hash: None,
            api_key: None,
        })
        .await?;
    let mut setup_transfers = 1;
    let mut deposits = tokio::task::JoinSet::new();
    for (i, &customer) in customers.iter().enumerate() {
        let mut left = fund_minor;
        let mut j = 0;
        while left > 0 {
            let amount = money(left.min(CASH_IN_MAX_MINOR))?;
            left -= amount.minor();
            let ledger = ledger.clone();
            let idempotency_key = format!("setup-cash-in-{i}-{j}");
            j += 1;
            setup_transfers += 1;
            deposits.spawn(async move {
                ledger
                    .submit(TransferRequest {
                        idempotency_key,
                        kind: TransferKind::CashIn,
                        from: agent,
                        to: customer,
                        amount,
                        guard: None,
                        client_hash: None,
                        api_key: None,
                    })
                    .await
            });
        }
    }
    while let Some(done) = deposits.join_next().await {
        done?.context("funding a customer")?;
    }
    Ok((ledger, customers, setup_transfers))
}

/// A random P2P transfer between two distinct accounts.
fn random_transfer(
    rng: &mut StdRng,
    accounts: &[AccountId],
    amounts: Amounts,
    idempotency_key: String,
) -> anyhow::Result<TransferRequest> {
    let from = rng.random_range(0..accounts.len());
    let mut to = rng.random_range(0..accounts.len() - 1);
    if to >= from {
        to += 1;
    }
    Ok(TransferRequest {
        idempotency_key,
        kind: TransferKind::P2p,
        from: accounts[from],
        to: accounts[to],
        amount: money(rng.random_range(amounts.range()))?,
        guard: None,
        client_hash: None,
        api_key: None,
    })
}

/// Runs `verify()` and checks that exactly the acknowledged transfers exist.
async fn verified(ledger: &Ledger, expected_transfers: u64) -> anyhow::Result<String> {
    let report = ledger.verify().await?;
    let mut verdict = if report.ok() { "ok".to_string() } else { format!("FAILED: {}", report.problems.join("; ")) };
    if u64::try_from(report.transfers)? != expected_transfers {
        let _ = write!(verdict, " (but {} transfers stored, {expected_transfers} acknowledged)", report.transfers);
    }
    Ok(verdict)
}

/// mkoba's real path: `submitters` tasks calling `Ledger::submit` for `secs`.
/// With `feed`, a task also queues receipts as fast as it can (what the SMS
/// sender does when the aggregator keeps up), through the same writer.
async fn run_submit(
    args: &Args,
    accounts: usize,
    submitters: usize,
    amounts: Amounts,
    feed: bool,
) -> anyhow::Result<Row> {
    let db = TempDb::new(args.pg.as_deref())?;
    let (ledger, customers, setup) = funded_ledger(&db, args.batch_max, accounts, args.fund_kes * 100).await?;
    let config = config_for(db.url(), args.batch_max);
    let notices = Arc::new(Notices::new(&config, Arc::new(Catalog::load().map_err(anyhow::Error::msg)?)));
    // The set-up's receipts are not the run's.
    while worker::feed_receipts(&ledger, &notices, 1024).await? > 0 {}
    let customers = Arc::new(customers);
    let keys = args.keys;
    let duration = Duration::from_secs_f64(args.secs);
    let start = Instant::now();
    let deadline = start + duration;
    let feeder = feed.then(|| {
        let (ledger, notices) = (ledger.clone(), notices.clone());
        tokio::spawn(async move {
            let mut fed = 0;
            while Instant::now() < deadline {
                match worker::feed_receipts(&ledger, &notices, 256).await? {
                    0 => tokio::time::sleep(Duration::from_millis(1)).await,
                    n => fed += n,
                }
            }
            anyhow::Ok(fed)
        })
    });
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..submitters {
        let ledger = ledger.clone();
        let customers = customers.clone();
        tasks.spawn(async move {
            let mut rng = StdRng::from_rng(&mut rand::rng());
            let mut outcome = Outcome::default();
            let mut latencies = Latencies::default();
            let mut i = 0u64;
            while Instant::now() < deadline {
                let key = keys.make(&mut rng, &format!("b{t}-{i}"));
                let req = random_transfer(&mut rng, &customers, amounts, key)?;
                i += 1;
                let sent = Instant::now();
                let result = ledger.submit(req).await;
                let us = sent.elapsed().as_micros();
                latencies.record_us(u64::try_from(us).unwrap_or(u64::MAX));
                outcome.count(&result);
            }
            anyhow::Ok((outcome, latencies))
        });
    }
    let mut outcome = Outcome::default();
    let mut latencies = Latencies::default();
    while let Some(done) = tasks.join_next().await {
        let (o, l) = done??;
        outcome.merge(o);
        latencies.merge(&l);
    }
    outcome.elapsed = start.elapsed();
    let path = match feeder {
        Some(feeder) => {
            let fed = feeder.await??;
            let behind = ledger.read(receipts::waiting).await?;
            format!("submit + feed ({:.0} transfers' receipts/s, {behind} behind)", fed as f64 / duration.as_secs_f64())
        }
        None => "submit".into(),
    };
    let at = |p: f64| Duration::from_micros(latencies.percentile_us(p));
    let latency = (at(50.0), at(99.0));
    let verify = verified(&ledger, setup + outcome.committed).await?;
    drop(ledger);
    Ok(Row {
        path,
        accounts,
        concurrency: format!("{submitters} tasks"),
        amounts: amounts.label(),
        outcome,
        latency: Some(latency),
        verify,
    })
}

fn begin_write(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction(c),
    }
}

/// Begins a transaction, or a savepoint inside one (as the writer does).
fn begin_nested(conn: &mut DbConn) -> QueryResult<()> {
    with_conn!(conn, c => AnsiTransactionManager::begin_transaction(c))
}

fn commit(conn: &mut DbConn) -> QueryResult<()> {
    with_conn!(conn, c => AnsiTransactionManager::commit_transaction(c))
}

fn rollback(conn: &mut DbConn) -> QueryResult<()> {
    with_conn!(conn, c => AnsiTransactionManager::rollback_transaction(c))
}

/// Time and calls per SQL statement, collected through diesel's instrumentation.
#[derive(Default)]
struct Census {
    running: Option<(String, Instant)>,
    statements: BTreeMap<String, (u64, Duration)>,
    cached: BTreeSet<String>,
}

/// The statement's text, without binds, whitespace collapsed, cut short.
fn statement_head(sql: &str) -> String {
    let sql = sql.split(" -- binds").next().unwrap_or(sql);
    let words: Vec<&str> = sql.split_whitespace().collect();
    let mut head = words.join(" ");
    if head.len() > 72 {
        let mut cut = 72;
        while !head.is_char_boundary(cut) {
            cut -= 1;
        }
        head.truncate(cut);
        head.push('…');
    }
    head
}

fn start_census(conn: &mut DbConn) -> Arc<Mutex<Census>> {
    let census = Arc::new(Mutex::new(Census::default()));
    let sink = census.clone();
    let hook = move |event: InstrumentationEvent<'_>| {
        let Ok(mut c) = sink.lock() else { return };
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                let head = statement_head(&query.to_string());
                c.running = Some((head, Instant::now()));
            }
            InstrumentationEvent::FinishQuery { .. } => {
                if let Some((head, started)) = c.running.take() {
                    let entry = c.statements.entry(head).or_default();
                    entry.0 += 1;
                    entry.1 += started.elapsed();
                }
            }
            InstrumentationEvent::CacheQuery { sql, .. } => {
                c.cached.insert(statement_head(sql));
            }
            _ => {}
        }
    };
    with_conn!(conn, c => c.set_instrumentation(hook));
    census
}

fn print_census(title: &str, census: &Mutex<Census>, transfers: u64) {
    let Ok(c) = census.lock() else { return };
    let n = transfers.max(1) as f64;
    let mut lines: Vec<_> = c.statements.iter().collect();
    lines.sort_by_key(|(_, (_, time))| std::cmp::Reverse(*time));
    println!("\n{title}: {transfers} transfers");
    println!("| statement | calls/transfer | µs/call | µs/transfer | prepared once |\n|---|---:|---:|---:|:---:|");
    let (mut calls, mut total) = (0u64, Duration::ZERO);
    for (head, &(count, time)) in lines {
        calls += count;
        total += time;
        println!(
            "| `{head}` | {:.2} | {:.1} | {:.1} | {} |",
            count as f64 / n,
            time.as_secs_f64() * 1e6 / count.max(1) as f64,
            time.as_secs_f64() * 1e6 / n,
            if c.cached.contains(head) { "yes" } else { "no" }
        );
    }
    println!("| **all statements** | {:.2} | | {:.1} | |", calls as f64 / n, total.as_secs_f64() * 1e6 / n);
}

/// `batch::apply_all` in batches on one connection, as the writer's
/// `try_batch` runs a group of transfers, minus the queue. `limit` caps the transfers.
fn inline_batches(
    conn: &mut DbConn,
    settings: &Settings,
    customers: &[AccountId],
    (amounts, keys): (Amounts, Keys),
    batch: usize,
    deadline: Instant,
    limit: u64,
) -> anyhow::Result<Outcome> {
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut outcome = Outcome::default();
    let mut i = 0u64;
    while Instant::now() < deadline && i < limit {
        let reqs = (0..batch)
            .map(|k| {
                let key = keys.make(&mut rng, &format!("i{i}-{k}"));
                random_transfer(&mut rng, customers, amounts, key)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        i += 1;
        let refs: Vec<&TransferRequest> = reqs.iter().collect();
        // The writer runs a group that is its whole batch without a savepoint.
        begin_write(conn)?;
        let results = batch::apply_all(conn, settings, &refs)?;
        commit(conn)?;
        for result in &results {
            outcome.count(result);
        }
    }
    Ok(outcome)
}

/// `batch::apply_all` without the queue; with `census`, a short instrumented run.
async fn run_inline(args: &Args, accounts: usize, amounts: Amounts, census: bool) -> anyhow::Result<Row> {
    let db = TempDb::new(args.pg.as_deref())?;
    let (ledger, customers, setup) = funded_ledger(&db, args.batch_max, accounts, args.fund_kes * 100).await?;
    let batch = args.batch_max.unwrap_or(Config::default().ledger.batch_max);
    let secs = args.secs;
    let setup_sql = args.inline_setup.clone();
    let keys = args.keys;
    let worker = ledger.clone();
    let (outcome, census_data) = tokio::task::spawn_blocking(move || {
        let mut conn = worker.pool().get()?;
        conn.tune_for_writer()?;
        for sql in &setup_sql {
            conn.batch_execute(sql).with_context(|| format!("--inline-setup {sql}"))?;
        }
        let census_data = census.then(|| start_census(&mut conn));
        let limit = if census { 20 } else { u64::MAX };
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(secs);
        let mut outcome =
            inline_batches(&mut conn, worker.settings(), &customers, (amounts, keys), batch, deadline, limit)?;
        outcome.elapsed = start.elapsed();
        anyhow::Ok((outcome, census_data))
    })
    .await??;
    if let Some(c) = census_data {
        print_census(
            &format!(
                "Census of batch::apply_all ({}, {accounts} accounts, {}, batch {batch})",
                backend_name(args),
                amounts.label()
            ),
            &c,
            outcome.committed + outcome.refused,
        );
    }
    let verify = verified(&ledger, setup + outcome.committed).await?;
    Ok(Row {
        path: if census { "inline apply (instrumented)".into() } else { "inline apply".into() },
        accounts,
        concurrency: format!("batch {batch}"),
        amounts: amounts.label(),
        outcome,
        latency: None,
        verify,
    })
}

mod ceiling {
    diesel::table! {
        ceiling_accounts (id) {
            id -> BigInt,
            balance -> BigInt,
        }
    }

    diesel::table! {
        ceiling_journal (id) {
            id -> BigInt,
            debit_id -> BigInt,
            credit_id -> BigInt,
            amount -> BigInt,
        }
    }
}

use ceiling::{ceiling_accounts as ca, ceiling_journal as cj};

/// How the ceiling loop issues its statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Statements {
    /// diesel's query builder: prepared once, cached on the connection.
    Prepared,
    /// `diesel::sql_query`, as mkoba's write path uses: prepared every time.
    SqlQuery,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One bare transfer: a conditional debit, then the credit and a journal row.
fn ceiling_transfer(conn: &mut DbConn, how: Statements, from: i64, to: i64, amount: i64) -> QueryResult<bool> {
    with_conn!(conn, c => {
        let debited = match how {
            Statements::Prepared => diesel::update(
                ca::table.filter(ca::id.eq(from)).filter(ca::balance.ge(amount)),
            )
            .set(ca::balance.eq(ca::balance - amount))
            .execute(c)?,
            Statements::SqlQuery => diesel::sql_query(
                "UPDATE ceiling_accounts SET balance = balance - $1 WHERE id = $2 AND balance >= $1",
            )
            .bind::<BigInt, _>(amount)
            .bind::<BigInt, _>(from)
            .execute(c)?,
        };
        if debited == 1 {
            match how {
                Statements::Prepared => {
                    diesel::update(ca::table.find(to))
                        .set(ca::balance.eq(ca::balance + amount))
                        .execute(c)?;
                    diesel::insert_into(cj::table)
                        .values((cj::debit_id.eq(from), cj::credit_id.eq(to), cj::amount.eq(amount)))
                        .execute(c)?;
                }
                Statements::SqlQuery => {
                    diesel::sql_query("UPDATE ceiling_accounts SET balance = balance + $1 WHERE id = $2")
                        .bind::<BigInt, _>(amount)
                        .bind::<BigInt, _>(to)
                        .execute(c)?;
                    diesel::sql_query(
                        "INSERT INTO ceiling_journal (debit_id, credit_id, amount) VALUES ($1, $2, $3)",
                    )
                    .bind::<BigInt, _>(from)
                    .bind::<BigInt, _>(to)
                    .bind::<BigInt, _>(amount)
                    .execute(c)?;
                }
            }
        }
        Ok(debited == 1)
    })
}

/// The bare loop: `batch` transfers per write transaction (a savepoint each
/// when more than one), on tables of its own in a fresh database.
fn run_ceiling(
    args: &Args,
    accounts: usize,
    amounts: Amounts,
    batch: usize,
    how: Statements,
    census: bool,
) -> anyhow::Result<Row> {
    let db = TempDb::new(args.pg.as_deref())?;
    let mut conn = db.connect()?;
    let id = match conn {
        DbConn::Sqlite(_) => "INTEGER PRIMARY KEY",
        DbConn::Pg(_) => "BIGSERIAL PRIMARY KEY",
    };
    conn.batch_execute(&format!(
        "CREATE TABLE ceiling_accounts (id {id}, balance BIGINT NOT NULL);
         CREATE TABLE ceiling_journal (id {id}, debit_id BIGINT NOT NULL, credit_id BIGINT NOT NULL, amount BIGINT NOT NULL);"
    ))?;
    let n = i64::try_from(accounts)?;
    let fund = args.fund_kes * 100;
    let seed: Vec<_> = (1..=n).map(|i| (ca::id.eq(i), ca::balance.eq(fund))).collect();
    with_conn!(&mut conn, c => diesel::insert_into(ca::table).values(&seed).execute(c))?;
    let census_data = census.then(|| start_census(&mut conn));
    let limit = if census { 20 } else { u64::MAX };

    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut outcome = Outcome::default();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.secs);
    let mut batches = 0u64;
    while Instant::now() < deadline && batches < limit {
        batches += 1;
        begin_write(&mut conn)?;
        for _ in 0..batch {
            let from = rng.random_range(1..=n);
            let mut to = rng.random_range(1..n);
            if to >= from {
                to += 1;
            }
            let amount = rng.random_range(amounts.range());
            if batch > 1 {
                begin_nested(&mut conn)?;
            }
            let moved = ceiling_transfer(&mut conn, how, from, to, amount)?;
            if batch > 1 {
                if moved {
                    commit(&mut conn)?;
                } else {
                    rollback(&mut conn)?;
                }
            }
            if moved {
                outcome.committed += 1;
            } else {
                outcome.refused += 1;
                *outcome.reasons.entry("refused: ceiling insufficient funds".into()).or_default() += 1;
            }
        }
        commit(&mut conn)?;
    }
    outcome.elapsed = start.elapsed();
    if let Some(c) = census_data {
        print_census(
            &format!("Census of the ceiling ({}, {how:?}, batch {batch})", backend_name(args)),
            &c,
            outcome.committed + outcome.refused,
        );
    }
    // The ceiling's own invariant: money moved, none created.
    let sums: Vec<Total> = with_conn!(&mut conn, c => diesel::sql_query(
        "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS n FROM ceiling_accounts",
    )
    .load(c))?;
    let total = sums.first().map_or(0, |t| t.n);
    let journal: i64 = with_conn!(&mut conn, c => cj::table.count().get_result(c))?;
    let verify = if total == fund * n && u64::try_from(journal)? == outcome.committed {
        "sums ok".to_string()
    } else {
        format!("MISMATCH: sum {total}, journal {journal}")
    };
    drop(conn);
    let statements = match how {
        Statements::Prepared => "prepared",
        Statements::SqlQuery => "sql_query",
    };
    Ok(Row {
        path: format!("ceiling ({statements})"),
        accounts,
        concurrency: if batch > 1 { format!("batch {batch}") } else { "1/commit".into() },
        amounts: amounts.label(),
        outcome,
        latency: None,
        verify,
    })
}

fn backend_name(args: &Args) -> &'static str {
    if args.pg.is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

fn print_table(args: &Args, rows: &[Row]) {
    let backend = backend_name(args);
    println!("\n| backend | path | accounts | concurrency | amounts | committed | refused | errors | secs | transfers/s | p50 ms | p99 ms | verify |");
    println!("|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let o = &r.outcome;
        let (p50, p99) = r.latency.map_or(("–".to_string(), "–".to_string()), |(a, b)| {
            (format!("{:.2}", a.as_secs_f64() * 1e3), format!("{:.2}", b.as_secs_f64() * 1e3))
        });
        println!(
            "| {backend} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.0} | {p50} | {p99} | {} |",
            r.path,
            r.accounts,
            r.concurrency,
            r.amounts,
            o.committed,
            o.refused,
            o.errors,
            o.elapsed.as_secs_f64(),
            o.per_sec(),
            r.verify
        );
    }
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows {
        for (k, v) in &r.outcome.reasons {
            *reasons.entry(k).or_default() += v;
        }
    }
    if !reasons.is_empty() {
        println!("\nNot committed, all runs together:");
        for (k, v) in reasons {
            println!("  {v:>8}  {k}");
        }
    }
}

fn describe(row: &Row) {
    eprintln!(
        "  {:<28} {:>3} accts  {:<10} {:<16} {:>9.0}/s  {}",
        row.path,
        row.accounts,
        row.concurrency,
        row.amounts,
        row.outcome.per_sec(),
        row.verify
    );
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.pg.as_deref().is_some_and(str::is_empty) {
        args.pg = None;
    }
    if args.accounts.iter().any(|&n| n < 2) {
        bail!("--accounts: each value must be at least 2");
    }
    if args.submitters.contains(&0) || args.ceiling_batches.contains(&0) {
        bail!("--submitters and --ceiling-batches must be at least 1");
    }
    if args.secs.is_nan() || args.secs <= 0.0 {
        bail!("--secs must be positive");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    eprintln!(
        "ledger bench on {} ({} s per run, {} cores)",
        backend_name(&args),
        args.secs,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    let widest = args.accounts.iter().copied().max().unwrap_or(20);
    for (part, feed) in [(Part::Submit, false), (Part::SubmitFeed, true)] {
        if !args.parts.contains(&part) {
            continue;
        }
        for &amounts in &args.amounts {
            for &accounts in &args.accounts {
                for &submitters in &args.submitters {
                    let row = runtime.block_on(run_submit(&args, accounts, submitters, amounts, feed))?;
                    describe(&row);
                    rows.push(row);
                }
            }
        }
    }
    if args.parts.contains(&Part::Inline) {
        for &amounts in &args.amounts {
            if args.census {
                let row = runtime.block_on(run_inline(&args, widest, amounts, true))?;
                describe(&row);
            }
            let row = runtime.block_on(run_inline(&args, widest, amounts, false))?;
            describe(&row);
            rows.push(row);
        }
    }
    if args.parts.contains(&Part::Ceiling) {
        let amounts = args.amounts.first().copied().unwrap_or(Amounts::Free);
        for &batch in &args.ceiling_batches {
            let mut variants = vec![Statements::Prepared];
            if batch > 1 {
                variants.push(Statements::SqlQuery);
            }
            for how in variants {
                if args.census {
                    let row = run_ceiling(&args, widest, amounts, batch, how, true)?;
                    describe(&row);
                }
                let row = run_ceiling(&args, widest, amounts, batch, how, false)?;
                describe(&row);
                rows.push(row);
            }
        }
    }
    print_table(&args, &rows);
    Ok(())
}

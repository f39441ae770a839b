//! Micro payments through the integrator API: charges per second over HTTP.
//!
//! Starts the real application (`startup::Application`) on a fresh database
//! with `customers` customers, each of whom approved one allowance for one
//! till, and an API key for the till. Then `clients` concurrent HTTP clients
//! (keep-alive, loopback) POST `/api/v1/charges` back to back for `secs`
//! seconds, each charge KES 1 against a customer's allowance, each with its
//! own `Idempotency-Key`: bearer key, idempotency, the allowance decided in
//! the posting engine, the ledger's group commit. Reports charges/s, p50 and
//! p99 latency, `ledger verify`, and what the charges cost in SMS: the
//! receipts feeder is run over every charge, and the SMS it queued per 1,000
//! charges are counted (charges go to the daily digest instead).
//!
//! ```text
//! cargo bench --bench charges                       # SQLite
//! cargo bench --bench charges -- --pg postgres://postgres@127.0.0.1:5432/test
//! cargo bench --bench charges -- --clients 64 --secs 10 --customers 256
//! cargo bench --bench charges -- --wrk              # load from a wrk process
//! ```
//!
//! With `--wrk` the load comes from `wrk` (one thread, `clients`
//! connections, `benches/charges.lua`) in a process of its own instead of
//! HTTP clients inside the bench, so the server gets the CPU the in-process
//! clients would take (as the USSD figures are measured). The charges
//! counted are those the ledger holds afterwards.
//!
//! With `--callbacks` the outbox workers run as in `mkoba serve` (receipts
//! feeder, callback sender), and the till's callback URL is a receiver in
//! the bench that answers 204: the run then also reports how many
//! `charge.succeeded` events were queued and delivered while it lasted,
//! and how many were still waiting at its end.

use anyhow::{bail, Context};
use clap::Parser;
use mkoba::config::{Config, Secret, Tier};
use mkoba::domain::time::Period;
use mkoba::domain::{now_ms, Money, Msisdn};
use mkoba::integrator::{self, keys, ApprovalKind, NewApproval};
use mkoba::ledger::account;
use mkoba::ledger::{Ledger, NewAccount, TransferKind, TransferRequest};
use mkoba::startup::Application;
use mkoba_simulators::load::Latencies;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Charges per second through /api/v1 (keys, idempotency, allowance, ledger)")]
struct Args {
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Customers, each with an allowance for the till.
    #[arg(long, default_value_t = 256)]
    customers: usize,
    /// PostgreSQL URL (a schema of its own is created); SQLite otherwise.
    #[arg(long)]
    pg: Option<String>,
    /// Send the load from a `wrk` process (one thread) instead of in-process clients.
    #[arg(long)]
    wrk: bool,
    /// Run the outbox workers and deliver callbacks to a receiver in the bench.
    #[arg(long)]
    callbacks: bool,
    /// Accepted for `cargo bench` (which passes --bench).
    #[arg(long, hide = true)]
    bench: bool,
}

struct Setup {
    app_url: String,
    key: String,
    allowances: Vec<String>,
    ledger: Ledger,
    config: Config,
    /// POSTs the callback receiver answered (with `--callbacks`).
    received: Arc<AtomicU64>,
}

fn config_for(url: &str, workers: bool) -> Config {
    let mut config = Config { database_url: url.to_string(), listen: "127.0.0.1:0".into(), ..Config::default() };
    config.webhook_token = Secret::new("bench-token");
    config.pin.pepper = Secret::new("bench-pepper");
    config.api.key_secret = Secret::new("bench-key-secret");
    config.api.allow_http_callbacks = true;
    config.rate_limits.per_api_key_per_second = 1_000_000;
    // Without --callbacks the bench measures charges, not the outbox senders.
    config.notify.workers = workers;
    config.database.pool_size = 16;
    config.database.min_idle = 0;
    for tier in config.tiers.values_mut() {
        *tier = Tier {
            max_balance_minor: i64::MAX / 4,
            max_transfer_minor: i64::MAX / 4,
            max_daily_out_minor: i64::MAX / 4,
        };
    }
    config
}

/// This run's PostgreSQL schema (dropped at the end).
fn schema_name() -> String {
    format!("bench_charges_{}", std::process::id())
}

/// The database URL: a temporary SQLite file, or a fresh PostgreSQL schema.
fn database(args: &Args, dir: &tempfile::TempDir) -> anyhow::Result<String> {
    let Some(base) = &args.pg else {
        return Ok(format!("sqlite://{}/bench.db", dir.path().display()));
    };
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let schema = schema_name();
    let mut admin = diesel::PgConnection::establish(base).context("connect to --pg")?;
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

/// A callback endpoint that answers every POST with 204 and counts them.
async fn receiver() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new().default_service(web::to(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            async { HttpResponse::NoContent().finish() }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Ok((format!("http://127.0.0.1:{port}/mkoba"), received))
}

async fn setup(args: &Args, url: String) -> anyhow::Result<(Setup, Application)> {
    let config = config_for(&url, args.callbacks);
    let (callback_url, received) = if args.callbacks {
        receiver().await?
    } else {
        // Nothing listens there; the sender is off, so events simply wait.
        ("http://127.0.0.1:9/mkoba".to_string(), Arc::new(AtomicU64::new(0)))
    };
    let app = Application::build(config.clone()).await?;
    let ledger = app.state().ledger.clone();
    let plan = config.number_plan();
    let agent =
        ledger.create_account(NewAccount::agent(&Msisdn::parse("0722000001", &plan)?, "Bench Agent", None)).await?;
    let till_number = mkoba::ledger::account::parse_till("777001")?;
    let contact = Msisdn::parse("0722000002", &plan)?;
    let till = ledger.create_account(NewAccount::merchant(&till_number, "Bench News", &contact)).await?;
    let float = Money::from_minor(args.customers as i64 * 1_000_000)?;
    let issuance = ledger.settings().system.issuance;
    ledger.submit(TransferRequest::new("float".into(), TransferKind::FloatIssue, issuance, agent, float)).await?;
    let mut customers = Vec::with_capacity(args.customers);
    for i in 0..args.customers {
        let phone = Msisdn::parse(&format!("0713{i:06}"), &plan)?;
        let id = ledger.create_account(NewAccount::customer(&phone, &format!("Reader {i}"), "standard", None)).await?;
        let amount = Money::from_minor(1_000_000)?;
        ledger.submit(TransferRequest::new(format!("cash-in-{i}"), TransferKind::CashIn, agent, id, amount)).await?;
        customers.push(id);
    }
    let notices = app.state().notices.clone();
    let secret = config.api.key_secret.expose().to_string();
    let (key, allowances) = ledger
        .write(move |conn| {
            let now = now_ms();
            let key = keys::create(conn, &secret, till, now)?.key;
            // Merchants learn of charges by callback (no SMS each).
            mkoba::notify::callbacks::set_callback(conn, till.0, &callback_url, true, now)?;
            let till_account = account::find_by_id(conn, till)?.expect("till");
            let mut ids = Vec::new();
            for &customer in &customers {
                let customer_account = account::find_by_id(conn, customer)?.expect("customer");
                let new = NewApproval {
                    kind: ApprovalKind::Allowance,
                    till,
                    customer,
                    amount_minor: 1_000_000,
                    period: Some(Period::Month),
                    description: "Articles".into(),
                    expires_at_ms: now + 600_000,
                };
                let ask = integrator::Ask { till: &till_account, customer: &customer_account };
                let a = integrator::ask(conn, &notices, ask, &new, 0, now)?;
                integrator::activate(conn, &a, now)?;
                ids.push(a.public_id);
            }
            Ok((key, ids))
        })
        .await?;
    let app_url = format!("http://127.0.0.1:{}", app.port());
    Ok((Setup { app_url, key, allowances, ledger, config, received }, app))
}

struct Totals {
    ok: AtomicU64,
    failed: AtomicU64,
}

async fn client(setup: Arc<Setup>, n: usize, until: Instant, totals: Arc<Totals>) -> Latencies {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("client");
    let url = format!("{}/api/v1/charges", setup.app_url);
    let mut latencies = Latencies::default();
    let mut i = 0usize;
    while Instant::now() < until {
        let allowance = &setup.allowances[(n + i * 7919) % setup.allowances.len()];
        let body = serde_json::json!({ "allowance_id": allowance, "amount_minor": 100, "description": "one article" });
        let started = Instant::now();
        let sent = http
            .post(&url)
            .bearer_auth(&setup.key)
            .header("Idempotency-Key", format!("bench-{n}-{i}"))
            .json(&body)
            .send()
            .await;
        let ok = matches!(&sent, Ok(r) if r.status().as_u16() == 201);
        if let Ok(r) = sent {
            let _ = r.bytes().await;
        }
        latencies.record_us(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        if ok { &totals.ok } else { &totals.failed }.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
    latencies
}

/// SMS the receipts feeder queues for the charges posted so far.
async fn sms_queued(setup: &Setup) -> anyhow::Result<i64> {
    let catalog = Arc::new(mkoba::i18n::Catalog::load().map_err(anyhow::Error::msg)?);
    let notices = Arc::new(mkoba::notify::Notices::new(&setup.config, catalog));
    let before = count_sms(&setup.ledger).await?;
    while mkoba::notify::worker::feed_receipts(&setup.ledger, &notices, 5_000).await? > 0 {}
    Ok(count_sms(&setup.ledger).await? - before)
}

/// Runs the load from `wrk` and reports what the ledger holds afterwards.
async fn with_wrk(args: &Args, setup: &Setup, dir: &std::path::Path) -> anyhow::Result<()> {
    let list = dir.join("allowances.txt");
    std::fs::write(&list, setup.allowances.join("\n") + "\n")?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/charges.lua");
    let before = count_charges(&setup.ledger).await?;
    let out = tokio::process::Command::new("wrk")
        .args(["-t1", &format!("-c{}", args.clients), &format!("-d{}s", args.secs.ceil()), "-s", script])
        .arg(&setup.app_url)
        .env("ALLOWANCES", &list)
        .env("KEY", &setup.key)
        .output()
        .await
        .context("run wrk (apt install wrk)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("WRK ")).with_context(|| format!("wrk said: {stdout}"))?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let mut words = line.split_whitespace();
        words.find(|w| *w == name).and_then(|_| words.next()).and_then(|v| v.parse().ok()).context("wrk output")
    };
    let charged = count_charges(&setup.ledger).await? - before;
    let report = setup.ledger.verify().await?;
    println!(
        "charges [{}, wrk -t1 -c{}] {:.0} charges/s ({charged} in the ledger, {} requests, {} errors), \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; ledger verify: {}",
        if args.pg.is_some() { "postgres" } else { "sqlite" },
        args.clients,
        charged as f64 / field("seconds")?,
        field("requests")?,
        field("errors")?,
        field("p50_ms")?,
        field("p99_ms")?,
        field("max_ms")?,
        if report.ok() { "ok".to_string() } else { format!("{:?}", report.problems) }
    );
    if field("errors")? > 0.0 || !report.ok() {
        bail!("charges failed or the ledger does not verify");
    }
    Ok(())
}

/// The callback events at one moment: queued in all, and POSTs answered.
struct Events {
    at: Instant,
    queued: i64,
    received: u64,
}

impl Events {
    async fn now(setup: &Setup) -> anyhow::Result<Events> {
        let queued = count(&setup.ledger, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM callback_events").await?;
        Ok(Events { at: Instant::now(), queued, received: setup.received.load(Ordering::Relaxed) })
    }

    /// What was queued and delivered since `self`, and what still waits.
    async fn report(&self, setup: &Setup) -> anyhow::Result<()> {
        let end = Events::now(setup).await?;
        let waiting =
            count(&setup.ledger, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM callback_events WHERE status = 'pending'")
                .await?;
        let secs = end.at.duration_since(self.at).as_secs_f64();
        let delivered = end.received - self.received;
        println!(
            "callbacks: {} events queued in {secs:.1} s, {delivered} delivered ({:.0}/s), {waiting} waiting at the end",
            end.queued - self.queued,
            delivered as f64 / secs
        );
        Ok(())
    }
}

async fn count_charges(ledger: &Ledger) -> anyhow::Result<i64> {
    count(ledger, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM transfers WHERE kind = 'charge'").await
}

async fn count_sms(ledger: &Ledger) -> anyhow::Result<i64> {
    count(ledger, "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM outbox WHERE channel = 'sms'").await
}

async fn count(ledger: &Ledger, sql: &'static str) -> anyhow::Result<i64> {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n = ledger
        .read(move |conn| {
            use diesel::RunQueryDsl;
            let rows: Vec<N> = mkoba::with_conn!(conn, c => diesel::sql_query(sql).load(c))?;
            Ok(rows.first().map_or(0, |r| r.n))
        })
        .await?;
    Ok(n)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.clients == 0 || args.customers == 0 || args.secs.is_nan() || args.secs <= 0.0 {
        bail!("--clients, --customers and --secs must be more than zero");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let outcome = runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let url = database(&args, &dir)?;
        let backend = if args.pg.is_some() { "postgres" } else { "sqlite" };
        let (setup, app) = setup(&args, url).await?;
        let server = tokio::spawn(app.run_until_stopped());
        let setup = Arc::new(setup);
        let sms_setup = sms_queued(&setup).await?;
        if args.wrk {
            let events = Events::now(&setup).await?;
            let outcome = with_wrk(&args, &setup, dir.path()).await;
            if args.callbacks {
                events.report(&setup).await?;
            }
            server.abort();
            return outcome;
        }
        let events = Events::now(&setup).await?;
        let totals = Arc::new(Totals { ok: AtomicU64::new(0), failed: AtomicU64::new(0) });
        let started = Instant::now();
        let until = started + Duration::from_secs_f64(args.secs);
        let tasks: Vec<_> =
            (0..args.clients).map(|n| tokio::spawn(client(setup.clone(), n, until, totals.clone()))).collect();
        let mut latencies = Latencies::default();
        for t in tasks {
            latencies.merge(&t.await?);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let ok = totals.ok.load(Ordering::Relaxed);
        let failed = totals.failed.load(Ordering::Relaxed);
        if args.callbacks {
            events.report(&setup).await?;
        }
        let sms = sms_queued(&setup).await?;
        let report = setup.ledger.verify().await?;
        println!(
            "charges [{backend}] clients={} customers={} secs={:.1}: {:.0} charges/s ({ok} ok, {failed} failed), \
             p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; SMS queued per 1,000 charges: {:.2} (set-up queued {sms_setup}); \
             ledger verify: {}",
            args.clients,
            args.customers,
            elapsed,
            ok as f64 / elapsed,
            latencies.percentile_us(50.0) as f64 / 1000.0,
            latencies.percentile_us(99.0) as f64 / 1000.0,
            latencies.max_us() as f64 / 1000.0,
            sms as f64 * 1000.0 / (ok.max(1) as f64),
            if report.ok() { "ok".to_string() } else { format!("{:?}", report.problems) }
        );
        server.abort();
        if failed > 0 || !report.ok() {
            bail!("{failed} charges failed or the ledger does not verify");
        }
        Ok(())
    });
    drop(runtime);
    if let Some(base) = &args.pg {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let mut admin = diesel::PgConnection::establish(base).context("connect to --pg")?;
        admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema_name()))?;
    }
    outcome
}

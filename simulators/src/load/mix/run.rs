//! One mix run from start to audit: the aggregator simulator, the `mkoba`
//! environment, set-up (accounts, deposits, API keys, allowances), the
//! nodes, the crowd (and the kills), the wait for the receipts, the audit
//! and the report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use super::audit::{audit, Audit, AuditInput, ChargeOutcome, TransferRecord};
use super::caller::{run_caller, Ack, CallerStats, Crowd};
use super::plan::{kill_schedule, Kind, Plan, World};
use super::proc::{free_port, wait_ready, Mkoba, Node};
use super::report::{HopStats, KillReport, MixReport};
use super::{chaos, plot, setup, MixConfig};
use crate::aggregator::{start_aggregator, AggregatorConfig, AggregatorHandle};
use crate::load::LoadError;
use crate::ussd::UssdClient;

/// How long a claimed outbox message stays claimed by a node that died
/// (`notify.lease_ms`), kept short so a run's receipts settle quickly.
const LEASE_MS: u64 = 3_000;

/// Longest wait for a node to answer `/health` after a (re)start.
const READY_WAIT: Duration = Duration::from_secs(60);

/// Transfers per `mkoba transfer list` page.
const PAGE: usize = 10_000;

/// Runs a mix: set-up, crowd, kills, audit. Refuses bad settings before
/// starting anything.
pub async fn run_mix(cfg: MixConfig) -> Result<MixReport, LoadError> {
    cfg.validate()?;
    let agg = start_aggregator(AggregatorConfig { workers: 2, ..AggregatorConfig::default() })
        .await
        .map_err(|e| LoadError(format!("cannot start the aggregator simulator: {e}")))?;
    let token = format!("load-{:016x}", rand::rng().random::<u64>());
    let mkoba = Mkoba { bin: cfg.mkoba.clone(), workdir: cfg.workdir.clone(), env: server_env(&cfg, &token, &agg) };
    let nodes: Vec<Arc<Node>> =
        (0..cfg.nodes).map(|i| free_port().map(|p| Arc::new(Node::new(i, p)))).collect::<Result<_, _>>()?;
    let outcome = run_with(&cfg, &mkoba, &agg, &nodes, &token).await;
    for node in &nodes {
        node.kill().await;
    }
    agg.stop().await;
    outcome
}

async fn run_with(
    cfg: &MixConfig,
    mkoba: &Mkoba,
    agg: &AggregatorHandle,
    nodes: &[Arc<Node>],
    token: &str,
) -> Result<MixReport, LoadError> {
    mkoba.ok(&["migrate"], "").await?;
    let baseline = list_transfers(mkoba, 0).await?.last().map_or(0, |t| t.id);
    let world = setup::world(cfg.customers, cfg.agents, cfg.merchants, &cfg.pin, &cfg.country_code);
    let floats = setup::accounts(mkoba, &world, float_major(cfg)).await?;
    let mut acks: Vec<Ack> =
        floats.into_iter().map(|reference| Ack { reference, phone: String::new(), kind: Kind::Send }).collect();
    let http = http_client(cfg)?;
    for node in nodes {
        node.set_child(Some(mkoba.serve(node.index, node.port)?));
    }
    for node in nodes {
        wait_ready(&http, node, READY_WAIT).await?;
    }
    let ussd = UssdClient::new(http.clone(), &nodes[0].url, token, &cfg.service_code, &cfg.network_code)
        .map_err(|e| LoadError(e.to_string()))?;
    acks.extend(setup::deposits(&ussd, &world, cfg.deposit_major).await?);
    let mut world = world;
    let keys = setup::api_keys(mkoba, &world).await?;
    let api = setup::Api {
        http: &http,
        base_url: &nodes[0].url,
        token,
        network_code: &cfg.network_code,
        keys: &keys,
        limit_minor: cfg.allowance_limit_minor,
    };
    world.allowances = setup::allowances(&api, cfg.seed, &world).await?;
    let before_crowd = list_transfers(mkoba, baseline).await?.last().map_or(baseline, |t| t.id);

    let (stats, kills, elapsed) = crowd(cfg, mkoba, nodes, http, token, &world, keys).await;
    let retry_mismatches = stats.errors.get("retry_mismatch").copied().unwrap_or(0);
    acks.extend(stats.acks.iter().cloned());
    let settle = if kills.is_empty() { Duration::ZERO } else { Duration::from_millis(LEASE_MS + 1_000) };
    let kills_unix_ms = kills.iter().map(|k| k.killed_at_unix_ms).collect();
    let expect = Expect {
        baseline,
        acks,
        retry_mismatches,
        settle,
        kills_unix_ms,
        allowances: world.allowances.clone(),
        charges: stats.charges.clone(),
    };
    let (audit, transfers) = drain_and_audit(cfg, mkoba, agg, expect).await?;
    let stored = transfers.iter().filter(|t| t.id > before_crowd).count();
    let mut report = report(cfg, &stats, kills, audit, elapsed, stored);
    if let Some(dir) = &cfg.report_dir {
        std::fs::create_dir_all(dir).map_err(|e| LoadError(format!("{}: {e}", dir.display())))?;
        let path = dir.join(format!("mkoba-load-mix-{}.svg", cfg.seed));
        let title = format!("mkoba-load mix, seed {}: hop latency ({} node(s))", cfg.seed, cfg.nodes);
        plot::write_svg(&path, &title, &stats.latencies)?;
        report.histogram = Some(path.display().to_string());
    }
    Ok(report)
}

/// Enough float for every agent's share of the opening deposits, and more.
fn float_major(cfg: &MixConfig) -> u64 {
    let per_agent = cfg.customers.div_ceil(cfg.agents) as u64;
    per_agent.saturating_mul(cfg.deposit_major).saturating_mul(2).max(1_000_000)
}

fn http_client(cfg: &MixConfig) -> Result<reqwest::Client, LoadError> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.callers)
        .tcp_nodelay(true)
        .timeout(cfg.request_timeout)
        .connect_timeout(Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| LoadError(format!("cannot build the HTTP client: {e}")))
}

/// The `MKOBA_*` settings of every process: database, token, SMS at the
/// simulator (replies routed back with their linkId), limits lifted (one
/// load generator is one source address), a short outbox lease.
fn server_env(cfg: &MixConfig, token: &str, agg: &AggregatorHandle) -> Vec<(String, String)> {
    let lifted = "1000000000";
    let mut env: Vec<(String, String)> = [
        ("MKOBA_DATABASE_URL", cfg.database_url.clone().unwrap_or_else(|| "sqlite://mkoba.db".into())),
        ("MKOBA_WEBHOOK_TOKEN", token.to_string()),
        ("MKOBA_LOG", "warn".into()),
        ("MKOBA_SMS__BASE_URL", agg.base_url().to_string()),
        ("MKOBA_SMS__USERNAME", "sandbox".into()),
        ("MKOBA_SMS__API_KEY", agg.api_key().to_string()),
        ("MKOBA_SMS__REPLY_FROM_INBOUND_TO", "true".into()),
        ("MKOBA_NOTIFY__LEASE_MS", LEASE_MS.to_string()),
        ("MKOBA_RATE_LIMITS__PER_MSISDN_PER_MINUTE", lifted.into()),
        ("MKOBA_RATE_LIMITS__GLOBAL_PER_SECOND", lifted.into()),
        ("MKOBA_RATE_LIMITS__PER_SOURCE_PER_SECOND", lifted.into()),
        ("MKOBA_RATE_LIMITS__PER_SOURCE_BURST", lifted.into()),
        ("MKOBA_RATE_LIMITS__PER_API_KEY_PER_SECOND", lifted.into()),
        ("MKOBA_RATE_LIMITS__WRONG_PINS_PER_SOURCE", "0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.extend(cfg.server_env.iter().cloned());
    env
}

/// Every transfer with an id above `after_id`, page by page.
async fn list_transfers(mkoba: &Mkoba, mut after_id: i64) -> Result<Vec<TransferRecord>, LoadError> {
    #[derive(serde::Deserialize)]
    struct Page {
        transfers: Vec<TransferRecord>,
        next_after_id: i64,
    }
    let mut all = Vec::new();
    loop {
        let (after, limit) = (after_id.to_string(), PAGE.to_string());
        let out = mkoba.ok(&["transfer", "list", "--json", "--after-id", &after, "--limit", &limit], "").await?;
        let page: Page = serde_json::from_str(out.trim()).map_err(|e| LoadError(format!("transfer list: {e}")))?;
        let n = page.transfers.len();
        all.extend(page.transfers);
        after_id = page.next_after_id;
        if n < PAGE {
            return Ok(all);
        }
    }
}

type CrowdOutcome = (CallerStats, Vec<KillReport>, Duration);

/// Runs the callers (and the kills) until the deadline.
async fn crowd(
    cfg: &MixConfig,
    mkoba: &Mkoba,
    nodes: &[Arc<Node>],
    http: reqwest::Client,
    token: &str,
    world: &World,
    api_keys: Vec<(String, String)>,
) -> CrowdOutcome {
    let origin = Instant::now();
    let mut crowd = Crowd::new(http, nodes.to_vec(), token, &cfg.service_code, &cfg.network_code, origin, cfg.duration);
    crowd.api_keys = api_keys;
    let crowd = Arc::new(crowd);
    let callers: Vec<_> = (0..cfg.callers)
        .map(|c| {
            let plan = Plan::new(cfg.seed, c, cfg.callers, world, &cfg.weights, cfg.shares, cfg.amount_major);
            tokio::spawn(run_caller(crowd.clone(), plan))
        })
        .collect();
    let chaos = (cfg.crash_kills > 0).then(|| {
        let schedule = kill_schedule(cfg.seed, cfg.crash_kills, nodes.len(), cfg.duration);
        tokio::spawn(chaos::run_kills(mkoba.clone(), nodes.to_vec(), origin, schedule))
    });
    let progress = super::run_progress::start(cfg, crowd.clone());
    let mut total = CallerStats::default();
    for c in callers {
        match c.await {
            Ok(stats) => total.merge(stats),
            Err(e) => *total.errors.entry(format!("caller_panicked: {e}")).or_default() += 1,
        }
    }
    let elapsed = origin.elapsed();
    progress.finish();
    let kills = match chaos {
        Some(handle) => handle.await.unwrap_or_default(),
        None => Vec::new(),
    };
    (total, kills, elapsed)
}

/// What the audit checks the outcome against.
struct Expect {
    baseline: i64,
    acks: Vec<Ack>,
    retry_mismatches: u64,
    settle: Duration,
    kills_unix_ms: Vec<u64>,
    allowances: Vec<super::plan::AllowanceRef>,
    charges: Vec<super::audit::ChargeRecord>,
}

/// A number `MKOBA_<key>` is set to in the run's extra settings, if any.
fn server_setting(cfg: &MixConfig, key: &str) -> Option<i64> {
    cfg.server_env.iter().rev().find(|(k, _)| k == key).and_then(|(_, v)| v.trim().parse().ok())
}

/// Waits until every receipt due has reached the aggregator (at most
/// `drain_timeout`, at least `settle`), runs `mkoba ledger verify` and
/// audits; returns the audit and the transfers it looked at.
async fn drain_and_audit(
    cfg: &MixConfig,
    mkoba: &Mkoba,
    agg: &AggregatorHandle,
    expect: Expect,
) -> Result<(Audit, Vec<TransferRecord>), LoadError> {
    let Expect { baseline, acks, retry_mismatches, settle, kills_unix_ms, allowances, charges } = expect;
    let digest_below_minor = server_setting(cfg, "MKOBA_RECEIPTS__DIGEST_BELOW_MINOR").unwrap_or(1_000);
    let day_utc_offset_minutes = server_setting(cfg, "MKOBA_LEDGER__DAY_UTC_OFFSET_MINUTES").unwrap_or(180);
    let started = Instant::now();
    let mut input = AuditInput {
        acks,
        retry_mismatches,
        ledger_verify: Ok(()),
        digest_below_minor,
        kills_unix_ms,
        allowances,
        charges,
        day_utc_offset_minutes,
        ..AuditInput::default()
    };
    loop {
        input.transfers = list_transfers(mkoba, baseline).await?;
        input.messages = agg.messages();
        let a = audit(&input);
        let complete = a.receipts_missing.is_empty() && a.silent.is_empty();
        if (complete && started.elapsed() >= settle) || started.elapsed() >= cfg.drain_timeout.max(settle) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let verify = mkoba.cli(&["ledger", "verify"], "").await?;
    input.ledger_verify = if verify.code == 0 {
        Ok(())
    } else {
        Err(format!("exit {}: {}{}", verify.code, verify.stdout.trim(), verify.stderr.trim()))
    };
    input.messages = agg.messages();
    Ok((audit(&input), input.transfers))
}

fn report(
    cfg: &MixConfig,
    st: &CallerStats,
    kills: Vec<KillReport>,
    audit: Audit,
    elapsed: Duration,
    stored: usize,
) -> MixReport {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let backend = match cfg.database_url.as_deref() {
        Some(u) if u.starts_with("postgres") => "postgresql",
        _ => "sqlite",
    };
    MixReport {
        scenario: "mix",
        seed: cfg.seed,
        backend: backend.into(),
        nodes: cfg.nodes,
        callers: cfg.callers,
        customers: cfg.customers,
        duration_s: secs,
        hops: st.hops,
        hops_per_s: st.hops as f64 / secs,
        sessions: st.sessions,
        sessions_completed: st.completed,
        sessions_abandoned: st.abandoned,
        refusals: st.refused,
        registrations: st.registered,
        sms_sent: st.sms.len(),
        events_sent: st.events,
        retries: st.retries,
        wrong_pins: st.wrong_pins,
        transfers_acked: st.acks.len(),
        transfers_acked_per_s: st.acks.len() as f64 / secs,
        transfers_stored: stored,
        transfers_stored_per_s: stored as f64 / secs,
        charges_sent: st.charges.len(),
        charges_acked: st.charges.iter().filter(|c| matches!(c.outcome, ChargeOutcome::Acked { .. })).count(),
        charges_refused: charge_refusals(st),
        charges_unanswered: st.charges.iter().filter(|c| c.outcome == ChargeOutcome::Unanswered).count(),
        charge_resends: st.charge_resends,
        hop_latency: st.latencies.iter().map(|(k, l)| (k.to_string(), HopStats::of(l))).collect(),
        errors: st.errors.clone(),
        kills,
        audit_ok: audit.ok,
        audit,
        histogram: None,
    }
}

/// Refused charges by error code.
fn charge_refusals(st: &CallerStats) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for c in &st.charges {
        if let ChargeOutcome::Refused { code } = &c.outcome {
            *out.entry(code.clone()).or_default() += 1;
        }
    }
    out
}

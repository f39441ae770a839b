//! `mkoba-load`: a USSD load generator for benchmarks, against a mkoba on
//! a loopback address only, for at most 600 s; `--scenario mix` starts
//! `mkoba serve` itself (one or more nodes, optionally killed with SIGKILL
//! and restarted) and audits the outcome.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mkoba_simulators::load::mix::{run_mix, MixConfig, Shares, Weights};
use mkoba_simulators::load::{generate_phones, parse_phones, run_load, LoadConfig, Scenario, MAX_CONCURRENCY};

#[derive(Debug, Parser)]
#[command(
    name = "mkoba-load",
    version,
    about = "USSD load generator for mkoba (loopback targets only, at most 600 s)",
    after_help = "Exit status: menu and transfer: 0 when every hop succeeded, 1 when some failed or \
                  the run could not start, 2 on bad usage. mix: 0 only when the correctness audit \
                  passes (a failed audit prints the seed), 1 otherwise, 2 on bad usage."
)]
struct Args {
    /// mkoba's base URL (127.0.0.0/8, localhost or [::1] only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// mkoba's webhook token.
    /// (menu and transfer; mix makes its own).
    #[arg(long, env = "MKOBA_WEBHOOK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// menu: dial then 4 (no PIN); transfer: full PIN-confirmed send money;
    /// mix: a realistic crowd against mkoba processes started here (--mkoba), audited.
    #[arg(long, value_enum, default_value = "menu")]
    scenario: Scenario,
    /// Virtual callers running sessions back to back.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long to run, seconds (at most 600).
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// Also stop after this many requests.
    #[arg(long)]
    max_requests: Option<u64>,
    /// File of caller phone numbers, one per line.
    #[arg(long, conflicts_with_all = ["phone_prefix", "phones"])]
    phones_file: Option<PathBuf>,
    /// Generated callers: PREFIX followed by 0..N zero-padded to 12 digits
    /// (25471 → 254710000000, 254710000001, …).
    #[arg(long, default_value = "25471")]
    phone_prefix: String,
    /// How many generated callers.
    #[arg(long, default_value_t = 100)]
    phones: usize,
    /// Every caller's PIN (transfer scenario).
    #[arg(long, default_value = "1357")]
    pin: String,
    /// Amount of each transfer, as typed on the phone.
    #[arg(long, default_value = "10")]
    amount: String,
    /// USSD service code.
    #[arg(long, default_value = "*384#")]
    service_code: String,
    /// networkCode sent with each hop.
    #[arg(long, default_value = "63902")]
    network_code: String,
    /// Country code (national numbers in the phones file, recipients typed as 07…).
    #[arg(long, default_value = "254")]
    country_code: String,
    /// Timeout of one request, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    mix: MixArgs,
}

/// The mix scenario's settings.
#[derive(Debug, clap::Args)]
struct MixArgs {
    /// mix: the mkoba binary to run (serve, and the CLI for set-up and audit).
    #[arg(long)]
    mkoba: Option<PathBuf>,
    /// mix: database of the started nodes (default: SQLite mkoba.db in --workdir).
    #[arg(long)]
    database_url: Option<String>,
    /// mix: where mkoba runs (its SQLite file, secrets and server logs).
    #[arg(long, default_value = ".")]
    workdir: PathBuf,
    /// mix: `mkoba serve` processes on one database (more than 1 needs PostgreSQL).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// mix: SIGKILL a node this many times at seeded moments, restarting it each time.
    #[arg(long, default_value_t = 0)]
    crash_kills: usize,
    /// mix: every random choice (requests, kills) derives from this seed (default: random, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// mix: customers set up (25471…); each virtual caller owns some of them.
    #[arg(long, default_value_t = 50)]
    customers: usize,
    /// mix: agents set up (25478…), each with float.
    #[arg(long, default_value_t = 4)]
    agents: usize,
    /// mix: merchants set up (tills 55100…).
    #[arg(long, default_value_t = 2)]
    merchants: usize,
    /// mix: weights of the actions (register, send, withdraw, pay, balance, statement, sms, charge).
    #[arg(long, default_value = "register=1,send=4,withdraw=2,pay=2,balance=2,statement=1,sms=4,charge=2")]
    mix: String,
    /// mix: share of hops (and SMS) the aggregator sends twice.
    #[arg(long, default_value_t = 0.05)]
    retry_share: f64,
    /// mix: share of sessions the caller leaves before the end.
    #[arg(long, default_value_t = 0.05)]
    abandon_share: f64,
    /// mix: share of PINs typed wrong (never twice in a row for one phone).
    #[arg(long, default_value_t = 0.03)]
    wrong_pin_share: f64,
    /// mix: share of sessions whose end is posted to the ussd-events webhook.
    #[arg(long, default_value_t = 0.05)]
    end_event_share: f64,
    /// mix: smallest amount typed, KES.
    #[arg(long, default_value_t = 20)]
    amount_min: u32,
    /// mix: largest amount typed, KES.
    #[arg(long, default_value_t = 200)]
    amount_max: u32,
    /// mix: write the latency histogram (SVG) here.
    #[arg(long)]
    report_dir: Option<PathBuf>,
    /// mix: extra setting for every mkoba process, e.g. MKOBA_PIN__ARGON2__MEMORY_KIB=4096 (repeatable).
    #[arg(long = "server-env", value_name = "KEY=VALUE")]
    server_env: Vec<String>,
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("mkoba-load: {msg}");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.scenario == Scenario::Mix {
        return mix(args).await;
    }
    if !(args.duration_s > 0.0 && args.duration_s <= 600.0) {
        return usage("--duration-s must be more than 0 and at most 600");
    }
    if args.concurrency == 0 || args.concurrency > MAX_CONCURRENCY {
        return usage(&format!("--concurrency must be between 1 and {MAX_CONCURRENCY}"));
    }
    if let Err(e) = mkoba_simulators::load::check_loopback(&args.url) {
        return usage(&e.to_string());
    }
    let phones = match &args.phones_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => parse_phones(&text, &args.country_code),
            Err(e) => return usage(&format!("cannot read {}: {e}", path.display())),
        },
        None => generate_phones(&args.phone_prefix, args.phones),
    };
    let phones = match phones {
        Ok(phones) => phones,
        Err(e) => return usage(&e.to_string()),
    };
    let Some(token) = args.token.as_deref() else {
        return usage("--token (or MKOBA_WEBHOOK_TOKEN) is required");
    };
    let mut cfg = LoadConfig::new(&args.url, token, args.scenario, phones);
    cfg.concurrency = args.concurrency;
    cfg.duration = Duration::from_secs_f64(args.duration_s);
    cfg.max_requests = args.max_requests;
    cfg.pin = args.pin;
    cfg.amount = args.amount;
    cfg.service_code = args.service_code;
    cfg.network_code = args.network_code;
    cfg.country_code = args.country_code;
    cfg.request_timeout = Duration::from_millis(args.timeout_ms.max(1));
    let report = match run_load(cfg).await {
        Ok(report) => report,
        Err(e) => return usage(&e.to_string()),
    };
    if args.json {
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("mkoba-load: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    if report.errors > 0 || report.requests == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn mix_config(args: &Args) -> Result<MixConfig, String> {
    let m = &args.mix;
    let mkoba = m.mkoba.clone().ok_or("the mix scenario needs --mkoba PATH (the mkoba binary)")?;
    let mut cfg = MixConfig::new(mkoba, m.workdir.clone());
    cfg.database_url = m.database_url.clone();
    cfg.nodes = m.nodes;
    cfg.crash_kills = m.crash_kills;
    cfg.seed = m.seed.unwrap_or_else(rand::random);
    if !(args.duration_s > 0.0 && args.duration_s <= 600.0) {
        return Err("--duration-s must be more than 0 and at most 600".into());
    }
    cfg.duration = Duration::from_secs_f64(args.duration_s);
    cfg.customers = m.customers;
    cfg.callers = args.concurrency.min(m.customers);
    cfg.agents = m.agents;
    cfg.merchants = m.merchants;
    cfg.pin = args.pin.clone();
    cfg.weights = Weights::parse(&m.mix).map_err(|e| e.to_string())?;
    cfg.shares = Shares {
        retry: m.retry_share,
        abandon: m.abandon_share,
        wrong_pin: m.wrong_pin_share,
        end_event: m.end_event_share,
    };
    cfg.amount_major = (m.amount_min, m.amount_max);
    cfg.report_dir = m.report_dir.clone();
    cfg.server_env = m
        .server_env
        .iter()
        .map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect::<Option<Vec<_>>>()
        .ok_or("--server-env takes KEY=VALUE")?;
    cfg.progress = !args.json;
    cfg.request_timeout = Duration::from_millis(args.timeout_ms.max(1));
    cfg.service_code = args.service_code.clone();
    cfg.network_code = args.network_code.clone();
    cfg.country_code = args.country_code.clone();
    Ok(cfg)
}

async fn mix(args: Args) -> ExitCode {
    let cfg = match mix_config(&args) {
        Ok(cfg) => cfg,
        Err(e) => return usage(&e),
    };
    let seed = cfg.seed;
    if !args.json {
        eprintln!("mkoba-load: mix, seed {seed}");
    }
    let report = match run_mix(cfg).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("mkoba-load: {e} (seed {seed})");
            return ExitCode::from(1);
        }
    };
    if args.json {
        match serde_json::to_string(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("mkoba-load: {e}"),
        }
    } else {
        print!("{}", report.to_text());
    }
    if report.audit_ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("mkoba-load: the audit FAILED; reproduce with --seed {seed}");
        ExitCode::from(1)
    }
}

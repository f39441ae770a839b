//! `mkoba-load`: a USSD load generator for benchmarks, against a mkoba on
//! a loopback address only, for at most 600 s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mkoba_simulators::load::{generate_phones, parse_phones, run_load, LoadConfig, Scenario, MAX_CONCURRENCY};

#[derive(Debug, Parser)]
#[command(
    name = "mkoba-load",
    version,
    about = "USSD load generator for mkoba (loopback targets only, at most 600 s)",
    after_help = "Exit status: 0 when every hop succeeded, 1 when some failed or the run \
                  could not start, 2 on bad usage."
)]
struct Args {
    /// mkoba's base URL (127.0.0.0/8, localhost or [::1] only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// mkoba's webhook token.
    #[arg(long, env = "MKOBA_WEBHOOK_TOKEN", hide_env_values = true)]
    token: String,
    /// menu: dial then 4 (no PIN); transfer: full PIN-confirmed send money.
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
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("mkoba-load: {msg}");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
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
    let mut cfg = LoadConfig::new(&args.url, &args.token, args.scenario, phones);
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

//! `mkoba-aggregator`: an Africa's Talking send-SMS simulator on the command
//! line. mkoba's `sms.base_url` points at it; it keeps every phone's inbox
//! (`GET /sim/inbox/{phone}`), injects failures (`POST /sim/fail`) and posts
//! delivery reports to `--delivery-callback`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mkoba_simulators::aggregator::redact_url;
use mkoba_simulators::{start_aggregator, AggregatorConfig};

#[derive(Debug, Parser)]
#[command(
    name = "mkoba-aggregator",
    version,
    about = "Africa's Talking send-SMS simulator: inboxes, failure injection, delivery reports"
)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// API key that senders must put in the `apiKey` header.
    #[arg(long, env = "MKOBA_SIM_API_KEY", default_value = "sim-api-key")]
    api_key: String,
    /// Username senders must give (any non-empty one if not set).
    #[arg(long)]
    username: Option<String>,
    /// Where to POST delivery reports, e.g.
    /// http://127.0.0.1:8080/webhooks/africastalking/delivery?token=T
    #[arg(long, env = "MKOBA_SIM_DELIVERY_CALLBACK")]
    delivery_callback: Option<String>,
    /// Delay before each delivery report, milliseconds.
    #[arg(long, default_value_t = 500)]
    delivery_delay_ms: u64,
    /// Attempts per delivery report (5xx and transport errors are retried).
    #[arg(long, default_value_t = 4)]
    delivery_attempts: u32,
    /// Sender id recorded when a send has no `from`.
    #[arg(long, default_value = "AFRICASTKNG")]
    default_sender: String,
    /// Country code for national numbers (07…).
    #[arg(long, default_value = "254")]
    country_code: String,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    let args = Args::parse();
    let cfg = AggregatorConfig {
        listen: args.listen,
        api_key: args.api_key,
        username: args.username,
        delivery_callback: args.delivery_callback.filter(|u| !u.is_empty()),
        delivery_delay: Duration::from_millis(args.delivery_delay_ms),
        delivery_attempts: args.delivery_attempts,
        default_sender: args.default_sender,
        country_code: args.country_code,
        workers: args.workers,
        ..AggregatorConfig::default()
    };
    let callback = cfg.delivery_callback.as_deref().map(redact_url);
    let handle = match start_aggregator(cfg).await {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("mkoba-aggregator: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    tracing::info!(
        sms_base_url = handle.base_url(),
        delivery_callback = callback.as_deref().unwrap_or("(none)"),
        "ready: point mkoba's sms.base_url here; inboxes at {}/sim/inbox/{{phone}}",
        handle.base_url()
    );
    let server = handle.server_handle();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("stopping");
            server.stop(true).await;
        }
    });
    match handle.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkoba-aggregator: {e}");
            ExitCode::from(1)
        }
    }
}

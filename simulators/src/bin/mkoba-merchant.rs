//! `mkoba-merchant`: a merchant of mkoba's integrator API (`/api/v1`, SPEC
//! §9) on the command line, over [`mkoba_simulators::merchant`]. Its
//! `--help` prints the walk-through below.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mkoba_simulators::merchant::{
    format_minor, new_idempotency_key, parse_amount_minor, start_receiver, AllowanceId, AllowanceStatus, ClientError,
    MerchantClient, NewAllowance, NewCharge, NewPaymentRequest, NewPayout, NewRefund, PaymentRequestId, Period,
    ReceiverConfig, ReceiverFailure, Reference,
};
use serde::Serialize;
use serde_json::json;

const WALKTHROUGH: &str = include_str!("mkoba-merchant.txt");

#[derive(Debug, Parser)]
#[command(
    name = "mkoba-merchant",
    version,
    about = "A merchant of mkoba's integrator API: requests, allowances, charges, payouts, refunds, callbacks",
    long_about = WALKTHROUGH
)]
struct Cli {
    /// mkoba's base URL (without /api/v1).
    #[arg(long, global = true, env = "MKOBA_API_URL", default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// The till's API key (`mkoba merchant key create`).
    #[arg(long, global = true, env = "MKOBA_API_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Print answers (and errors) as one line of JSON each.
    #[arg(long, global = true)]
    json: bool,
    /// Timeout of one API call, milliseconds.
    #[arg(long, global = true, default_value_t = 10_000)]
    timeout_ms: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ask a customer to approve one payment (POST /api/v1/payment-requests).
    Request {
        #[arg(long)]
        msisdn: String,
        /// Major units: 1, 1.50, 1,250.
        #[arg(long, value_parser = amount)]
        amount: i64,
        #[arg(long)]
        description: String,
    },
    /// A payment request's status (GET /api/v1/payment-requests/{id}).
    RequestStatus { id: String },
    /// Ask a customer for an allowance: a limit per period the till may
    /// charge without a PIN (POST /api/v1/allowances).
    Allowance {
        #[arg(long)]
        msisdn: String,
        /// Limit per period, major units.
        #[arg(long, value_parser = amount)]
        limit: i64,
        #[arg(long, value_parser = period)]
        period: Period,
        #[arg(long)]
        description: String,
    },
    /// An allowance's status and what remains (GET /api/v1/allowances/{id}).
    AllowanceStatus { id: String },
    /// Charge under an active allowance, no PIN (POST /api/v1/charges).
    Charge {
        /// The allowance's id.
        #[arg(long)]
        allowance: String,
        /// Major units: 1, 1.50, 1,250.
        #[arg(long, value_parser = amount)]
        amount: i64,
        #[arg(long)]
        description: String,
    },
    /// The till pays a customer (POST /api/v1/payouts).
    Payout {
        #[arg(long)]
        msisdn: String,
        /// Major units: 1, 1.50, 1,250.
        #[arg(long, value_parser = amount)]
        amount: i64,
        #[arg(long, default_value = "Payout")]
        description: String,
    },
    /// Refund a payment the till received, all of it or --amount
    /// (POST /api/v1/refunds).
    Refund {
        #[arg(long)]
        reference: String,
        /// Major units; without it, all that is not yet refunded.
        #[arg(long, value_parser = amount)]
        amount: Option<i64>,
    },
    /// A transfer as the till sees it (GET /api/v1/transactions/{reference}).
    Tx { reference: String },
    /// The till's balance (GET /api/v1/balance).
    Balance,
    /// Receive callbacks: verify Mkoba-Signature and print each new event as
    /// one JSON line on stdout (until Ctrl-C).
    Listen {
        #[arg(long, default_value = "127.0.0.1:9000")]
        addr: SocketAddr,
        /// The till's signing secret, as `mkoba merchant update` printed it.
        #[arg(long, env = "MKOBA_CALLBACK_SECRET", hide_env_values = true)]
        secret: String,
        /// Refuse signatures whose timestamp is further from now, seconds.
        #[arg(long, default_value_t = 300)]
        tolerance_s: u64,
        /// Answer the first N requests with --fail-status instead (tests
        /// of mkoba's retries).
        #[arg(long, default_value_t = 0)]
        fail_first: u32,
        #[arg(long, default_value_t = 500)]
        fail_status: u16,
        /// Never answer the first N requests.
        #[arg(long, default_value_t = 0, conflicts_with = "fail_first")]
        hang_first: u32,
    },
    /// The pay-per-article flow end to end (see the walk-through in --help).
    DemoArticle {
        #[arg(long)]
        msisdn: String,
        /// Allowance limit per period, major units.
        #[arg(long, value_parser = amount, default_value = "50")]
        limit: i64,
        #[arg(long, value_parser = period, default_value = "day")]
        period: Period,
        /// Price of one article, major units.
        #[arg(long, value_parser = amount, default_value = "1")]
        price: i64,
        /// Articles to read.
        #[arg(long, default_value_t = 5)]
        articles: u32,
        #[arg(long, default_value = "Pay per article")]
        description: String,
        /// Use this active allowance instead of asking for a new one.
        #[arg(long)]
        allowance: Option<String>,
        /// How often to look whether the reader approved, milliseconds.
        #[arg(long, default_value_t = 2_000)]
        poll_interval_ms: u64,
        /// How long to wait for the approval, seconds.
        #[arg(long, default_value_t = 600)]
        approval_timeout_s: u64,
        /// Pause between two articles, milliseconds.
        #[arg(long, default_value_t = 0)]
        read_interval_ms: u64,
    },
}

fn amount(s: &str) -> Result<i64, String> {
    parse_amount_minor(s).map_err(|e| e.to_string())
}

fn period(s: &str) -> Result<Period, String> {
    s.parse()
}

fn kes(minor: i64) -> String {
    format!("KES {}", format_minor(minor))
}

fn kes_opt(minor: Option<i64>) -> String {
    minor.map_or_else(|| "-".to_string(), kes)
}

/// Output: one JSON line with --json, else the human lines.
struct Out {
    json: bool,
}

impl Out {
    fn show<T: Serialize>(&self, value: &T, human: impl FnOnce() -> Vec<String>) {
        if self.json {
            println!("{}", serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")));
        } else {
            for line in human() {
                println!("{line}");
            }
        }
    }

    fn fail(&self, e: &ClientError) -> ExitCode {
        if self.json {
            let body = match e {
                ClientError::Api(api) => {
                    json!({"error": {"status": api.status, "code": api.code, "message": api.message}})
                }
                other => json!({"error": {"status": other.status(), "code": null, "message": other.to_string()}}),
            };
            println!("{body}");
        } else {
            eprintln!("mkoba-merchant: {e}");
        }
        ExitCode::from(1)
    }
}

#[doc = include_str!("mkoba-merchant.txt")]
#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let out = Out { json: cli.json };
    if let Command::Listen { addr, secret, tolerance_s, fail_first, fail_status, hang_first } = cli.command {
        let failure = if hang_first > 0 {
            ReceiverFailure::hang_first(hang_first)
        } else if fail_first > 0 {
            ReceiverFailure::Status { status: fail_status, count: Some(fail_first) }
        } else {
            ReceiverFailure::None
        };
        let cfg = ReceiverConfig {
            listen: addr,
            tolerance: Duration::from_secs(tolerance_s),
            failure,
            ..ReceiverConfig::new(secret)
        };
        return listen(cfg).await;
    }
    let Some(key) = cli.key.as_deref().filter(|k| !k.is_empty()) else {
        eprintln!("mkoba-merchant: no API key: pass --key or set MKOBA_API_KEY");
        return ExitCode::from(2);
    };
    let http = match reqwest::Client::builder().timeout(Duration::from_millis(cli.timeout_ms.max(1))).build() {
        Ok(http) => http,
        Err(e) => {
            eprintln!("mkoba-merchant: {e}");
            return ExitCode::from(1);
        }
    };
    let client = match MerchantClient::with_http(http, &cli.base_url, key) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("mkoba-merchant: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&client, cli.command, &out).await {
        Ok(code) => code,
        Err(e) => out.fail(&e),
    }
}

async fn run(client: &MerchantClient, command: Command, out: &Out) -> Result<ExitCode, ClientError> {
    match command {
        Command::Request { msisdn, amount, description } => {
            let r = client.create_payment_request(&NewPaymentRequest::new(msisdn, amount, description)).await?;
            out.show(&r, || {
                vec![
                    format!("Payment request {} is {}", r.id, r.status),
                    format!("Code for the customer: {}", r.code.as_deref().unwrap_or("-")),
                ]
            });
        }
        Command::RequestStatus { id } => {
            let r = client.payment_request(&PaymentRequestId::from(id)).await?;
            out.show(&r, || {
                vec![
                    format!("Payment request {}: {}", r.id, r.status),
                    format!("Amount {}, fee {}", kes_opt(r.amount_minor), kes_opt(r.fee_minor)),
                    format!("Reference {}", r.reference.as_ref().map_or("-", Reference::as_str)),
                ]
            });
        }
        Command::Allowance { msisdn, limit, period, description } => {
            let a = client.create_allowance(&NewAllowance::new(msisdn, limit, period, description)).await?;
            out.show(&a, || {
                vec![
                    format!("Allowance {} is {}", a.id, a.status),
                    format!("Code for the customer: {}", a.code.as_deref().unwrap_or("-")),
                ]
            });
        }
        Command::AllowanceStatus { id } => {
            let a = client.allowance(&AllowanceId::from(id)).await?;
            out.show(&a, || {
                vec![
                    format!("Allowance {}: {}", a.id, a.status),
                    format!(
                        "Limit {} a {}, {} remaining",
                        kes_opt(a.limit_minor),
                        a.period.map_or("-", Period::as_str),
                        kes_opt(a.remaining_minor)
                    ),
                ]
            });
        }
        Command::Charge { allowance, amount, description } => {
            let c = client.charge(&NewCharge::new(allowance, amount, description)).await?;
            out.show(&c, || {
                vec![format!(
                    "Charged {} (fee {}), reference {}, {} remaining",
                    kes(c.amount_minor),
                    kes(c.fee_minor),
                    c.reference,
                    kes(c.remaining_minor)
                )]
            });
        }
        Command::Payout { msisdn, amount, description } => {
            let m = client.payout(&NewPayout::new(msisdn, amount, description)).await?;
            out.show(&m, || {
                vec![format!(
                    "Paid out {} (fee {}), reference {}",
                    kes_opt(m.amount_minor),
                    kes_opt(m.fee_minor),
                    m.reference
                )]
            });
        }
        Command::Refund { reference, amount } => {
            let m = client.refund(&NewRefund::new(reference, amount)).await?;
            out.show(&m, || {
                vec![format!(
                    "Refunded {} (fee {}), reference {}",
                    kes_opt(m.amount_minor),
                    kes_opt(m.fee_minor),
                    m.reference
                )]
            });
        }
        Command::Tx { reference } => {
            let t = client.transaction(&Reference::from(reference)).await?;
            out.show(&t, || {
                let mut lines = vec![format!(
                    "Transaction {}: {} (fee {})",
                    t.reference,
                    kes_opt(t.amount_minor),
                    kes_opt(t.fee_minor)
                )];
                lines.extend(t.extra.iter().map(|(k, v)| format!("  {k}: {v}")));
                lines
            });
        }
        Command::Balance => {
            let b = client.balance().await?;
            out.show(&b, || {
                let mut lines = vec![format!("Balance: {}", kes_opt(b.balance_minor))];
                lines.extend(b.extra.iter().map(|(k, v)| format!("  {k}: {v}")));
                lines
            });
        }
        Command::DemoArticle {
            msisdn,
            limit,
            period,
            price,
            articles,
            description,
            allowance,
            poll_interval_ms,
            approval_timeout_s,
            read_interval_ms,
        } => {
            let demo = Demo {
                client,
                out,
                poll_interval: Duration::from_millis(poll_interval_ms.max(100)),
                approval_timeout: Duration::from_secs(approval_timeout_s),
                read_interval: Duration::from_millis(read_interval_ms),
            };
            return demo.run(msisdn, limit, period, price, articles, description, allowance).await;
        }
        Command::Listen { .. } => unreachable!("handled before a client is built"),
    }
    Ok(ExitCode::SUCCESS)
}

struct Demo<'a> {
    client: &'a MerchantClient,
    out: &'a Out,
    poll_interval: Duration,
    approval_timeout: Duration,
    read_interval: Duration,
}

/// Attempts of one charge when mkoba cannot be reached; all under one key.
const CHARGE_ATTEMPTS_MAX: u32 = 3;

impl Demo<'_> {
    fn say(&self, step: serde_json::Value, human: String) {
        self.out.show(&step, || vec![human]);
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        msisdn: String,
        limit: i64,
        period: Period,
        price: i64,
        articles: u32,
        description: String,
        existing: Option<String>,
    ) -> Result<ExitCode, ClientError> {
        let id = match existing {
            Some(id) => AllowanceId::from(id),
            None => {
                let created =
                    self.client.create_allowance(&NewAllowance::new(&msisdn, limit, period, description)).await?;
                let code = created.code.clone().unwrap_or_else(|| "<code>".to_string());
                self.say(
                    json!({"step": "allowance_created", "allowance": created}),
                    format!(
                        "Allowance {} asked: {} a {period}. The reader approves on the phone (menu 5 Approvals), \
                         or by SMS: APPROVE {code} <PIN>",
                        created.id,
                        kes(limit)
                    ),
                );
                created.id
            }
        };
        if !self.out.json {
            println!("Waiting for the reader's approval (up to {} s)…", self.approval_timeout.as_secs());
        }
        let decided = self.client.wait_allowance_decided(&id, self.poll_interval, self.approval_timeout).await?;
        if decided.status != AllowanceStatus::Active {
            self.say(
                json!({"step": "allowance_not_active", "allowance": decided}),
                format!("Allowance {id} is {}: no article can be charged", decided.status),
            );
            return Ok(ExitCode::from(1));
        }
        self.say(
            json!({"step": "allowance_active", "allowance": decided}),
            format!("Allowance {id} is active: {} remaining", kes_opt(decided.remaining_minor)),
        );
        for n in 1..=articles {
            if n > 1 && !self.read_interval.is_zero() {
                tokio::time::sleep(self.read_interval).await;
            }
            let charge =
                NewCharge::new(id.clone(), price, format!("Article {n}")).with_idempotency_key(new_idempotency_key());
            let mut attempt = 1;
            let result = loop {
                match self.client.charge(&charge).await {
                    Err(ClientError::Transport(e)) if attempt < CHARGE_ATTEMPTS_MAX => {
                        eprintln!("mkoba-merchant: article {n}: {e}; retrying under the same Idempotency-Key");
                        attempt += 1;
                        tokio::time::sleep(self.poll_interval).await;
                    }
                    other => break other,
                }
            };
            match result {
                Ok(c) => self.say(
                    json!({"step": "article_charged", "article": n, "charge": c}),
                    format!(
                        "Article {n}: charged {} (fee {}), reference {}, {} remaining",
                        kes(c.amount_minor),
                        kes(c.fee_minor),
                        c.reference,
                        kes(c.remaining_minor)
                    ),
                ),
                Err(e) if e.code() == Some("allowance_exhausted") => {
                    self.say(
                        json!({"step": "allowance_exhausted", "article": n, "read": n - 1}),
                        format!("Article {n}: allowance exhausted after {} article(s) ({e})", n - 1),
                    );
                    return Ok(ExitCode::SUCCESS);
                }
                Err(e) => return Err(e),
            }
        }
        self.say(json!({"step": "done", "read": articles}), format!("Done: {articles} article(s) read"));
        Ok(ExitCode::SUCCESS)
    }
}

async fn listen(cfg: ReceiverConfig) -> ExitCode {
    let addr = cfg.listen;
    let receiver = match start_receiver(cfg).await {
        Ok(receiver) => receiver,
        Err(e) => {
            eprintln!("mkoba-merchant: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!("mkoba-merchant: listening for callbacks on {} (any path)", receiver.url());
    let mut events = receiver.subscribe();
    let server = receiver.server_handle();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(received) => match serde_json::to_string(&received.event) {
                    Ok(line) => println!("{line}"),
                    Err(e) => eprintln!("mkoba-merchant: {e}"),
                },
                None => break,
            },
            _ = tokio::signal::ctrl_c() => {
                server.stop(true).await;
                break;
            }
        }
    }
    let stats = receiver.stats();
    eprintln!(
        "mkoba-merchant: {} event(s), {} duplicate(s), {} bad signature(s), {} injected failure(s)",
        stats.accepted, stats.duplicates, stats.bad_signatures, stats.injected_failures
    );
    ExitCode::SUCCESS
}

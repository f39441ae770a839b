//! The operator CLI (SPEC §8). PINs come from standard input, never from
//! arguments. Exit codes: 0 done, 1 refused (message on stderr), 2 bad
//! usage, 3 when mkoba could not carry it out.

use crate::config::Config;
use crate::domain::{Money, Msisdn, Reference};
use crate::ledger::{
    AccountKey, AccountKind, Ledger, LedgerError, Receipt, ReversalRequest, TransferKind, TransferRequest,
};
use crate::startup::{self, Application};
use crate::telemetry;
use accounts::existing;
use clap::{Args, Parser, Subcommand};
use rand::Rng;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

mod accounts;
mod fraud;

#[derive(Debug, Parser)]
#[command(name = "mkoba", version, about = "Mobile money gateway: USSD and SMS payments on a double-entry ledger")]
pub struct Cli {
    /// TOML configuration file (every key can also be set as MKOBA_<KEY>).
    #[arg(long, global = true, env = "MKOBA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the aggregator webhooks over HTTP.
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Customers.
    #[command(subcommand)]
    Customer(CustomerCmd),
    /// Agents (shops that turn cash into e-money and back).
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Merchants (paid by till number).
    #[command(subcommand)]
    Merchant(MerchantCmd),
    /// Agent float.
    #[command(subcommand)]
    Float(FloatCmd),
    /// Accounts.
    #[command(subcommand)]
    Account(AccountCmd),
    /// PINs.
    #[command(subcommand)]
    Pin(PinCmd),
    /// Transfers.
    #[command(subcommand)]
    Transfer(TransferCmd),
    /// The ledger as a whole.
    #[command(subcommand)]
    Ledger(LedgerCmd),
    /// Transfers a fraud rule held in suspense.
    #[command(subcommand)]
    Held(fraud::HeldCmd),
    /// Numbers whose SIM card was swapped.
    #[command(subcommand, name = "sim-swap")]
    SimSwap(fraud::SimSwapCmd),
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Print the effective configuration, secrets masked.
    Show,
}

#[derive(Debug, Args)]
pub(crate) struct Output {
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
enum CustomerCmd {
    /// Register a customer; the PIN is read from standard input.
    Register {
        #[arg(long)]
        msisdn: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        id_number: Option<String>,
        /// KYC tier (default: standard with an ID number, basic without).
        #[arg(long)]
        tier: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum AgentCmd {
    /// Create an agent; the PIN is read from standard input.
    Create {
        #[arg(long)]
        msisdn: String,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum MerchantCmd {
    /// Create a merchant with a till number (5 to 8 digits).
    Create {
        #[arg(long)]
        till: String,
        #[arg(long)]
        name: String,
        /// The merchant's contact phone, where receipts go.
        #[arg(long)]
        msisdn: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum FloatCmd {
    /// Issue e-money to an agent's float from the issuance account.
    Issue {
        #[arg(long)]
        agent: String,
        /// Major units: 5000, 5,000 or 5000.50.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Makes a retried command safe: the same key never issues twice.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum AccountCmd {
    /// Show an account by phone number or till.
    Show {
        account: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum PinCmd {
    /// Unlock an account locked by wrong PINs.
    Unlock {
        msisdn: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum TransferCmd {
    /// Reverse a completed transfer with a compensating one.
    Reverse {
        reference: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCmd {
    /// Check every invariant; exit 1 with what is wrong.
    Verify {
        #[command(flatten)]
        out: Output,
    },
}

/// Why a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The operation was refused (exit 1).
    Refused(String),
    /// mkoba could not carry it out: the database, the disk… (exit 3).
    Failed(String),
}

/// Bad input the operator gave: refused.
macro_rules! refusal_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Failure {
                Failure::Refused(e.to_string())
            }
        }
    )*};
}
refusal_from!(
    crate::domain::MsisdnError,
    crate::domain::MoneyError,
    crate::domain::ReferenceError,
    crate::domain::PinError
);

/// Something mkoba could not do: not the operator's input.
macro_rules! failure_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Failure {
                Failure::Failed(format!("{e:#}"))
            }
        }
    )*};
}
failure_from!(crate::secrets::SecretsError, anyhow::Error, crate::auth::AuthError, std::io::Error);

/// A ledger error is a refusal only when the operation was refused.
impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Failure {
        if e.is_refusal() {
            Failure::Refused(e.to_string())
        } else {
            Failure::Failed(e.to_string())
        }
    }
}

pub(crate) type Outcome = Result<(), Failure>;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    telemetry::init();
    let config = match Config::load(cli.config.as_deref().filter(|p| !p.as_os_str().is_empty())) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mkoba: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mkoba: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(message)) => {
            eprintln!("mkoba: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("mkoba: could not be done (this is not a refusal; try again once the cause is fixed): {message}");
            ExitCode::from(3)
        }
    }
}

async fn run(command: Command, config: Config) -> Outcome {
    match command {
        Command::Serve => serve(config).await,
        Command::Config(ConfigCmd::Show) => {
            print!("{}", config.to_masked_toml());
            Ok(())
        }
        Command::Migrate => {
            let ledger = open(&config).await?;
            let report = ledger.verify().await?;
            println!("database migrated ({} accounts)", report.accounts);
            Ok(())
        }
        Command::Customer(CustomerCmd::Register { msisdn, name, id_number, tier, out }) => {
            accounts::customer_register(msisdn, name, id_number, tier, out, config).await
        }
        Command::Agent(AgentCmd::Create { msisdn, name, out }) => {
            accounts::agent_create(msisdn, name, out, config).await
        }
        Command::Merchant(MerchantCmd::Create { till, name, msisdn, out }) => {
            accounts::merchant_create(till, name, msisdn, out, config).await
        }
        Command::Float(FloatCmd::Issue { agent, amount, idempotency_key, out }) => {
            let msisdn = Msisdn::parse(&agent, &config.number_plan())?;
            let amount = Money::parse(&amount, config.currency.minor_digits)?;
            let ledger = open(&config).await?;
            let agent = existing(&ledger, AccountKey::Msisdn(msisdn)).await?;
            if agent.kind != AccountKind::Agent {
                return Err(Failure::Refused(format!("{} is a {}, not an agent", agent.handle(), agent.kind.as_str())));
            }
            let key = idempotency_key.unwrap_or_else(|| format!("cli:float:{}", random_key()));
            let receipt = ledger
                .submit(TransferRequest {
                    idempotency_key: key,
                    kind: TransferKind::FloatIssue,
                    from: ledger.settings().system.issuance,
                    to: agent.id,
                    amount,
                    guard: None,
                    client_hash: None,
                })
                .await
                .map_err(|e| refused(&ledger, e))?;
            print_receipt(&ledger, &receipt, &out);
            Ok(())
        }
        Command::Account(AccountCmd::Show { account, out }) => accounts::show(account, out, config).await,
        Command::Pin(PinCmd::Unlock { msisdn, out }) => accounts::pin_unlock(msisdn, out, config).await,
        Command::Transfer(TransferCmd::Reverse { reference, out }) => {
            let reference = Reference::parse(&reference)?;
            let ledger = open(&config).await?;
            let receipt = ledger
                .reverse(ReversalRequest {
                    idempotency_key: format!("reverse:{reference}"),
                    reference: reference.clone(),
                })
                .await
                .map_err(|e| refused(&ledger, e))?;
            if receipt.replayed {
                return Err(Failure::Refused(format!(
                    "transfer {reference} was already reversed by {}",
                    receipt.reference
                )));
            }
            print_receipt(&ledger, &receipt, &out);
            Ok(())
        }
        Command::Ledger(LedgerCmd::Verify { out }) => {
            let ledger = open(&config).await?;
            let report = ledger.verify().await?;
            if out.json {
                println!("{}", json!({ "ok": report.ok(), "report": report }));
            } else if report.ok() {
                println!(
                    "ledger ok: {} accounts, {} transfers, {} postings; balances sum to 0; every balance equals its postings",
                    report.accounts, report.transfers, report.postings
                );
            } else {
                println!("ledger has {} problem(s):", report.problems.len());
                for p in &report.problems {
                    println!("  - {p}");
                }
            }
            if report.ok() {
                Ok(())
            } else {
                Err(Failure::Refused("ledger verification failed".into()))
            }
        }
        Command::Held(cmd) => fraud::held(cmd, &config).await,
        Command::SimSwap(cmd) => fraud::sim_swap(cmd, &config).await,
    }
}

async fn serve(config: Config) -> Outcome {
    let app = Application::build(config).await?;
    for (kind, url) in app.callback_urls() {
        println!("{kind:>8} callback: {url}");
    }
    tracing::info!(port = app.port(), "mkoba serving");
    app.run_until_stopped().await?;
    Ok(())
}

pub(crate) async fn open(config: &Config) -> Result<Ledger, Failure> {
    let mut config = config.clone();
    // A pool thread opening a connection while the process exits crashes in
    // libpq's TLS teardown: the CLI opens connections only when it asks.
    config.database.min_idle = 0;
    let opened = tokio::task::spawn_blocking(move || startup::open_ledger(&config)).await;
    match opened {
        Ok(Ok(ledger)) => Ok(ledger),
        Ok(Err(e)) => Err(Failure::Failed(format!("{e:#}"))),
        Err(e) => Err(Failure::Failed(e.to_string())),
    }
}

pub(crate) fn refused(ledger: &Ledger, e: LedgerError) -> Failure {
    if !e.is_refusal() {
        return Failure::Failed(e.to_string());
    }
    Failure::Refused(e.describe(&ledger.settings().currency))
}

fn random_key() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn print_receipt(ledger: &Ledger, r: &Receipt, out: &Output) {
    let currency = &ledger.settings().currency;
    let money = |m: i64| currency.show(m);
    if out.json {
        println!("{}", json!({ "receipt": r, "currency": currency.code }));
        return;
    }
    let what = match &r.reverses {
        Some(original) => format!("reversal of {original}"),
        None => r.kind.as_str().replace('_', " "),
    };
    println!(
        "{} {what}: {} from {} to {} (fee {})",
        r.reference,
        money(r.amount_minor),
        r.from.name,
        r.to.name,
        money(r.fee_minor)
    );
}

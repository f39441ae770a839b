//! The operator CLI (SPEC §8). PINs come from standard input, never from
//! arguments. Exit codes: 0 done, 1 refused (message on stderr), 2 bad usage.

use crate::config::Config;
use crate::domain::{Money, Msisdn, Pin, Reference};
use crate::i18n::Catalog;
use crate::ledger::account::{clean_name, parse_till};
use crate::ledger::Language;
use crate::ledger::{
    Account, AccountKey, AccountKind, AccountStatus, Ledger, LedgerError, NewAccount, Receipt, ReversalRequest,
    TransferKind, TransferRequest,
};
use crate::notify::Notices;
use crate::startup::{self, Application};
use crate::{secrets, telemetry};
use clap::{Args, Parser, Subcommand};
use rand::Rng;
use serde_json::json;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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

async fn run(command: Command, mut config: Config) -> Outcome {
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
            let msisdn = Msisdn::parse(&msisdn, &config.number_plan())?;
            let name = clean_name(&name)?;
            let id_number = id_number.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            let tier = tier.unwrap_or_else(|| if id_number.is_some() { "standard" } else { "basic" }.to_string());
            if !config.tiers.contains_key(&tier) || tier == "agent" || tier == "merchant" {
                return Err(Failure::Refused(format!("'{tier}' is not a customer tier")));
            }
            secrets::ensure(&mut config)?;
            let pin = read_new_pin(&config)?;
            let pin_hash = startup::pin_hasher(&config)?.hash_async(pin).await?;
            let ledger = open(&config).await?;
            let new = NewAccount::customer(&msisdn, &name, &tier, Some(pin_hash)).with_id_number(id_number);
            created(&ledger, &config, new, AccountKey::Msisdn(msisdn), &out).await
        }
        Command::Agent(AgentCmd::Create { msisdn, name, out }) => {
            let msisdn = Msisdn::parse(&msisdn, &config.number_plan())?;
            let name = clean_name(&name)?;
            secrets::ensure(&mut config)?;
            let pin = read_new_pin(&config)?;
            let pin_hash = startup::pin_hasher(&config)?.hash_async(pin).await?;
            let ledger = open(&config).await?;
            let new = NewAccount::agent(&msisdn, &name, Some(pin_hash));
            created(&ledger, &config, new, AccountKey::Msisdn(msisdn), &out).await
        }
        Command::Merchant(MerchantCmd::Create { till, name, msisdn, out }) => {
            let till = parse_till(&till)?;
            let name = clean_name(&name)?;
            let contact = Msisdn::parse(&msisdn, &config.number_plan())?;
            let ledger = open(&config).await?;
            let new = NewAccount::merchant(&till, &name, &contact);
            created(&ledger, &config, new, AccountKey::Till(till), &out).await
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
                })
                .await
                .map_err(|e| refused(&ledger, e))?;
            print_receipt(&ledger, &receipt, &out);
            Ok(())
        }
        Command::Account(AccountCmd::Show { account, out }) => {
            let key = account_key(&account, &config)?;
            let ledger = open(&config).await?;
            let account = existing(&ledger, key).await?;
            print_account(&ledger, &account, &out);
            Ok(())
        }
        Command::Pin(PinCmd::Unlock { msisdn, out }) => {
            let msisdn = Msisdn::parse(&msisdn, &config.number_plan())?;
            let ledger = open(&config).await?;
            let account = existing(&ledger, AccountKey::Msisdn(msisdn)).await?;
            let message = match account.status {
                AccountStatus::Suspended => {
                    return Err(Failure::Refused(format!("{} is suspended, not locked", account.handle())))
                }
                AccountStatus::Active if account.pin_failures == 0 => "was not locked",
                AccountStatus::Active | AccountStatus::Locked => {
                    let id = account.id;
                    ledger
                        .write(move |conn| crate::ledger::account::set_status(conn, id, AccountStatus::Active))
                        .await?;
                    "unlocked"
                }
            };
            if out.json {
                println!("{}", json!({ "msisdn": account.handle(), "status": "active", "result": message }));
            } else {
                println!("{} {message}", account.handle());
            }
            Ok(())
        }
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

async fn existing(ledger: &Ledger, key: AccountKey) -> Result<Account, Failure> {
    let shown = key.to_string();
    ledger.find_account(key).await?.ok_or_else(|| Failure::Refused(format!("no account {shown}")))
}

/// Creates the account and, in the same transaction, its welcome SMS.
async fn created(ledger: &Ledger, config: &Config, new: NewAccount, key: AccountKey, out: &Output) -> Outcome {
    let catalog = Arc::new(Catalog::load().map_err(Failure::Failed)?);
    let notices = Notices::new(config, catalog);
    let welcome = key.clone();
    ledger
        .write(move |conn| {
            let id = crate::ledger::account::insert(conn, &new)?;
            // Customers and agents; a merchant's till is no account its contact dials.
            if let AccountKey::Msisdn(msisdn) = &welcome {
                let lang = Language::from_stored(new.language())?;
                notices.registered(conn, msisdn.as_str(), new.name(), lang)?;
            }
            Ok(id)
        })
        .await
        .map_err(|e| refused(ledger, e))?;
    let account = existing(ledger, key).await?;
    print_account(ledger, &account, out);
    Ok(())
}

/// A till is 5 to 8 digits; anything else is read as a phone number.
fn account_key(s: &str, config: &Config) -> Result<AccountKey, Failure> {
    if let Ok(till) = parse_till(s) {
        return Ok(AccountKey::Till(till));
    }
    Ok(AccountKey::Msisdn(Msisdn::parse(s, &config.number_plan())?))
}

/// One line of standard input: the PIN. It is never echoed or logged.
fn read_new_pin(config: &Config) -> Result<Pin, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Refused(format!("cannot read the PIN from standard input: {e}")))?;
    if line.trim().is_empty() {
        return Err(Failure::Refused("a PIN is required on standard input (e.g. echo 1357 | mkoba ...)".into()));
    }
    Ok(Pin::parse_new(&line, config.pin.length)?)
}

fn random_key() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn print_account(ledger: &Ledger, a: &Account, out: &Output) {
    let currency = &ledger.settings().currency;
    let balance = currency.show(a.balance_minor);
    if out.json {
        let v = json!({
            "msisdn": a.msisdn.as_ref().map(|m| m.to_string()).or_else(|| a.contact_msisdn.as_ref().map(|m| m.to_string())),
            "till": a.till,
            "name": a.name,
            "kind": a.kind.as_str(),
            "balance_minor": a.balance_minor,
            "balance": balance,
            "currency": currency.code,
            "tier": a.tier,
            "status": a.status.as_str(),
            "language": a.language.as_str(),
            "id_number": a.id_number,
            "created_at_ms": a.created_at_ms,
        });
        println!("{v}");
    } else {
        println!("{} ({}, {})", a.name, a.kind.as_str(), a.handle());
        println!("  balance  {balance}");
        println!("  tier     {}", a.tier);
        println!("  status   {}", a.status.as_str());
        if let Some(contact) = &a.contact_msisdn {
            println!("  contact  {contact}");
        }
    }
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

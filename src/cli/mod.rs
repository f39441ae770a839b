//! The operator CLI (SPEC §8). PINs come from standard input, never from
//! arguments. Exit codes: 0 done, 1 refused (message on stderr), 2 bad
//! usage, 3 when mkoba could not carry it out.
//!
//! This module owns the command line (`Cli`, `Command`), the exit codes and
//! the dispatch to each command, and the helpers every command shares
//! (opening the ledger, printing a receipt). The subcommands' arguments are
//! in `args`, the error type in `failure`, and the commands themselves by
//! concern: `accounts`, `transfers`, `fraud`, `merchant`, `admin` and `service`.
//! Commands that change state go through [`crate::admin`], which audits them
//! as `cli`.

use crate::admin::audit::{self, Entry};
use crate::admin::run::record_entry;
use crate::config::Config;
use crate::ledger::{Ledger, LedgerError, Receipt};
use crate::startup;
use crate::telemetry;
use args::{AccountCmd, AgentCmd, ConfigCmd, CustomerCmd, FloatCmd, LedgerCmd, MerchantCmd, PinCmd, TransferCmd};
use clap::{Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

mod accounts;
mod admin;
mod args;
mod failure;
mod fraud;
mod merchant;
mod service;
mod transfers;

pub(crate) use args::Output;
pub(crate) use failure::{Failure, Outcome};

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
    /// The operator API's keys.
    #[command(subcommand)]
    Admin(admin::AdminCmd),
}

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
        Command::Serve => service::serve(config).await,
        Command::Config(ConfigCmd::Show) => {
            print!("{}", config.to_masked_toml());
            Ok(())
        }
        Command::Migrate => service::migrate(&config).await,
        Command::Customer(CustomerCmd::Register { msisdn, name, id_number, tier, out }) => {
            accounts::customer_register(msisdn, name, id_number, tier, out, config).await
        }
        Command::Agent(AgentCmd::Create { msisdn, name, out }) => {
            accounts::agent_create(msisdn, name, out, config).await
        }
        Command::Merchant(MerchantCmd::Create { till, name, msisdn, out }) => {
            accounts::merchant_create(till, name, msisdn, out, config).await
        }
        Command::Merchant(MerchantCmd::Key(cmd)) => merchant::key(cmd, config).await,
        Command::Merchant(MerchantCmd::Update { till, callback_url, out }) => {
            merchant::update(&till, &callback_url, &out, config).await
        }
        Command::Float(FloatCmd::Issue { agent, amount, idempotency_key, out }) => {
            transfers::float_issue(agent, amount, idempotency_key, out, &config).await
        }
        Command::Account(AccountCmd::Show { account, out }) => accounts::show(account, out, config).await,
        Command::Pin(PinCmd::Unlock { msisdn, out }) => accounts::pin_unlock(msisdn, out, config).await,
        Command::Transfer(TransferCmd::Reverse { reference, out }) => transfers::reverse(reference, out, &config).await,
        Command::Ledger(LedgerCmd::Verify { out }) => service::ledger_verify(out, &config).await,
        Command::Held(cmd) => fraud::held(cmd, &config).await,
        Command::SimSwap(cmd) => fraud::sim_swap(cmd, &config).await,
        Command::Admin(cmd) => admin::admin(cmd, config).await,
    }
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

/// A write's input, or (when it is refused) the refusal recorded in the
/// audit log first: a mistyped command is an attempt too.
pub(crate) async fn input_of<T>(
    config: &Config,
    action: &str,
    target: &str,
    parsed: Result<T, Failure>,
) -> Result<T, Failure> {
    let Err(Failure::Refused(message)) = &parsed else {
        return parsed;
    };
    let target: String = target.chars().filter(|c| !c.is_control()).take(120).collect();
    let entry = Entry::new(audit::CLI, action, &target).outcome("invalid_input").detail(message.clone());
    let ledger = open(config).await?;
    record_entry(&ledger, entry).await?;
    parsed
}

pub(crate) fn refused(ledger: &Ledger, e: LedgerError) -> Failure {
    if !e.is_refusal() {
        return Failure::Failed(e.to_string());
    }
    Failure::Refused(e.describe(&ledger.settings().currency))
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

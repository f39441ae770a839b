//! `mkoba customer`, `agent`, `merchant`, `account` and `pin`: accounts as
//! an operator creates, shows and unlocks them.

use super::{input_of, open, refused, Failure, Outcome, Output};
use crate::admin::accounts::{AccountView, Change};
use crate::admin::{self, audit, Done};
use crate::config::Config;
use crate::domain::{Msisdn, Pin};
use crate::i18n::Catalog;
use crate::ledger::account::{clean_name, parse_till};
use crate::ledger::{Account, AccountKey, Ledger, NewAccount};
use crate::notify::Notices;
use crate::{secrets, startup};
use serde_json::json;
use std::io::BufRead;
use std::sync::Arc;

pub(super) async fn customer_register(
    msisdn: String,
    name: String,
    id_number: Option<String>,
    tier: Option<String>,
    out: Output,
    mut config: Config,
) -> Outcome {
    let parsed = parse_person(&msisdn, &name, &config);
    let (msisdn, name) = input_of(&config, "customer.create", &msisdn, parsed).await?;
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

pub(super) async fn agent_create(msisdn: String, name: String, out: Output, mut config: Config) -> Outcome {
    let parsed = parse_person(&msisdn, &name, &config);
    let (msisdn, name) = input_of(&config, "agent.create", &msisdn, parsed).await?;
    secrets::ensure(&mut config)?;
    let pin = read_new_pin(&config)?;
    let pin_hash = startup::pin_hasher(&config)?.hash_async(pin).await?;
    let ledger = open(&config).await?;
    let new = NewAccount::agent(&msisdn, &name, Some(pin_hash));
    created(&ledger, &config, new, AccountKey::Msisdn(msisdn), &out).await
}

pub(super) async fn merchant_create(
    till: String,
    name: String,
    msisdn: String,
    out: Output,
    config: Config,
) -> Outcome {
    let parsed = (|| Ok((parse_till(&till)?, clean_name(&name)?, Msisdn::parse(&msisdn, &config.number_plan())?)))();
    let (till, name, contact) = input_of(&config, "merchant.create", &format!("till {till}"), parsed).await?;
    let ledger = open(&config).await?;
    let new = NewAccount::merchant(&till, &name, &contact);
    created(&ledger, &config, new, AccountKey::Till(till), &out).await
}

pub(super) async fn show(account: String, out: Output, config: Config) -> Outcome {
    let key = account_key(&account, &config)?;
    let ledger = open(&config).await?;
    let account = existing(&ledger, key).await?;
    print_account(&ledger, &account, &out);
    Ok(())
}

pub(super) async fn pin_unlock(msisdn: String, out: Output, config: Config) -> Outcome {
    let parsed = Msisdn::parse(&msisdn, &config.number_plan()).map_err(Failure::from);
    let msisdn = input_of(&config, Change::Unlock.action(), &msisdn, parsed).await?;
    let ledger = open(&config).await?;
    let key = AccountKey::Msisdn(msisdn);
    let done = admin::accounts::change(&ledger, audit::CLI, key, Change::Unlock, None).await;
    let account = done.and_then(Done::fresh).map_err(|e| refused(&ledger, e))?;
    if out.json {
        let handle = account.msisdn.clone().unwrap_or_default();
        println!("{}", json!({ "msisdn": handle, "status": account.status, "result": "unlocked" }));
    } else {
        println!("{} unlocked", account.msisdn.as_deref().unwrap_or_default());
    }
    Ok(())
}

pub(super) async fn existing(ledger: &Ledger, key: AccountKey) -> Result<Account, Failure> {
    let shown = key.to_string();
    ledger.find_account(key).await?.ok_or_else(|| Failure::Refused(format!("no account {shown}")))
}

/// Creates the account and, in the same transaction, its welcome SMS
/// and audit row.
async fn created(ledger: &Ledger, config: &Config, new: NewAccount, key: AccountKey, out: &Output) -> Outcome {
    let catalog = Arc::new(Catalog::load().map_err(Failure::Failed)?);
    let notices = Arc::new(Notices::new(config, catalog));
    let done = admin::accounts::create(ledger, notices, audit::CLI, new, key, None).await;
    let account = done.and_then(Done::fresh).map_err(|e| refused(ledger, e))?;
    print_view(&account, out);
    Ok(())
}

/// A person's number and name, or why not.
fn parse_person(msisdn: &str, name: &str, config: &Config) -> Result<(Msisdn, String), Failure> {
    Ok((Msisdn::parse(msisdn, &config.number_plan())?, clean_name(name)?))
}

/// A till is 5 to 8 digits; anything else is read as a phone number.
fn account_key(s: &str, config: &Config) -> Result<AccountKey, Failure> {
    Ok(admin::accounts::parse_key(s, config)?)
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

fn print_account(ledger: &Ledger, a: &Account, out: &Output) {
    print_view(&AccountView::of(a, &ledger.settings().currency), out);
}

fn print_view(a: &AccountView, out: &Output) {
    if out.json {
        println!("{}", json!(a));
        return;
    }
    let handle = a.till.as_ref().map(|t| format!("till {t}")).or_else(|| a.msisdn.clone()).unwrap_or_default();
    println!("{} ({}, {handle})", a.name, a.kind);
    println!("  balance  {}", a.balance);
    println!("  tier     {}", a.tier);
    println!("  status   {}", a.status);
    if let (Some(_), Some(contact)) = (&a.till, &a.msisdn) {
        println!("  contact  {contact}");
    }
}

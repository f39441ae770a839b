//! `mkoba merchant key create|revoke|list`: a till's API keys for the
//! integrator API. A key is printed once, at creation; mkoba keeps only its
//! keyed hash (under `api.key_secret`, from the secrets file when not
//! configured, as `mkoba serve` reads it). `mkoba merchant update
//! --callback-url`: where the till's events go, with a new signing secret,
//! printed once.

use super::accounts::existing;
use super::args::MerchantKeyCmd;
use super::{open, Failure, Outcome, Output};
use crate::admin::audit::{self, Entry};
use crate::admin::run::audited;
use crate::config::Config;
use crate::domain::now_ms;
use crate::domain::time::rfc3339;
use crate::integrator::keys;
use crate::ledger::account::parse_till;
use crate::ledger::{Account, AccountKey, AccountKind, Ledger, LedgerError};
use crate::notify::callbacks;
use crate::secrets;
use serde_json::json;

pub(super) async fn key(cmd: MerchantKeyCmd, config: Config) -> Outcome {
    match cmd {
        MerchantKeyCmd::Create { till, out } => key_create(&till, &out, config).await,
        MerchantKeyCmd::Revoke { till, key_id, out } => key_revoke(&till, &key_id, &out, config).await,
        MerchantKeyCmd::List { till, out } => key_list(&till, &out, config).await,
    }
}

/// The merchant with this till, or a refusal.
async fn merchant(ledger: &Ledger, till: &str) -> Result<Account, Failure> {
    let account = existing(ledger, AccountKey::Till(parse_till(till)?)).await?;
    if account.kind != AccountKind::Merchant {
        return Err(Failure::Refused(format!("{} is not a merchant", account.handle())));
    }
    Ok(account)
}

fn till_of(account: &Account) -> String {
    account.till.as_ref().map(|t| t.to_string()).unwrap_or_default()
}

async fn key_create(till: &str, out: &Output, mut config: Config) -> Outcome {
    secrets::ensure(&mut config)?;
    let ledger = open(&config).await?;
    let account = merchant(&ledger, till).await?;
    let (secret, id) = (config.api.key_secret.expose().to_string(), account.id);
    let till = till_of(&account);
    let entry = Entry::new(audit::CLI, "merchant_key.create", &format!("till {till}"));
    let created = audited(&ledger, entry, move |conn, entry| {
        let created = keys::create(conn, &secret, id, now_ms())?;
        entry.detail = format!("key id {}", created.key_id);
        Ok(created)
    })
    .await?;
    if out.json {
        println!("{}", json!({ "till": till, "key_id": created.key_id, "key": created.key }));
    } else {
        println!("API key {} for till {till} ({}):", created.key_id, account.name);
        println!("{}", created.key);
        println!("It is shown this once: mkoba keeps only its hash. Send it as 'Authorization: Bearer <key>'.");
    }
    Ok(())
}

async fn key_revoke(till: &str, key_id: &str, out: &Output, config: Config) -> Outcome {
    let ledger = open(&config).await?;
    let account = merchant(&ledger, till).await?;
    let (id, key) = (account.id, key_id.trim().to_string());
    let till = till_of(&account);
    let entry = Entry::new(audit::CLI, "merchant_key.revoke", &format!("till {till}")).detail(format!("key id {key}"));
    let shown = till.clone();
    audited(&ledger, entry, move |conn, _| {
        if keys::revoke(conn, id, &key, now_ms())? {
            Ok(())
        } else {
            Err(LedgerError::InvalidState(format!("till {shown} has no live API key {key}")))
        }
    })
    .await?;
    if out.json {
        println!("{}", json!({ "till": till, "key_id": key_id.trim(), "revoked": true }));
    } else {
        println!("API key {} of till {till} revoked", key_id.trim());
    }
    Ok(())
}

async fn key_list(till: &str, out: &Output, config: Config) -> Outcome {
    let ledger = open(&config).await?;
    let account = merchant(&ledger, till).await?;
    let id = account.id;
    let listed = ledger.read(move |conn| keys::list(conn, id)).await?;
    let till = till_of(&account);
    if out.json {
        let keys: Vec<_> = listed
            .iter()
            .map(|k| {
                json!({
                    "key_id": k.key_id,
                    "created_at": rfc3339(k.created_at_ms),
                    "revoked_at": k.revoked_at_ms.map(rfc3339),
                })
            })
            .collect();
        println!("{}", json!({ "till": till, "keys": keys }));
        return Ok(());
    }
    if listed.is_empty() {
        println!("till {till} has no API keys");
    }
    for k in &listed {
        let state = match k.revoked_at_ms {
            Some(at) => format!("revoked {}", rfc3339(at)),
            None => "live".to_string(),
        };
        println!("{}  created {}  {state}", k.key_id, rfc3339(k.created_at_ms));
    }
    Ok(())
}

pub(super) async fn update(till: &str, callback_url: &str, out: &Output, config: Config) -> Outcome {
    let ledger = open(&config).await?;
    let account = merchant(&ledger, till).await?;
    let (id, url, allow_http) = (account.id, callback_url.trim().to_string(), config.api.allow_http_callbacks);
    let shown = url.clone();
    let secret = ledger.write(move |conn| callbacks::set_callback(conn, id.0, &url, allow_http, now_ms())).await?;
    let till = till_of(&account);
    if out.json {
        println!("{}", json!({ "till": till, "callback_url": shown, "signing_secret": secret }));
    } else {
        println!("Events of till {till} now go to {shown}, signed with:");
        println!("{secret}");
        println!(
            "It is shown this once. Check each POST's Mkoba-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under this secret>."
        );
    }
    Ok(())
}

//! `mkoba admin key create|revoke|list`: keys for the operator API
//! (`/admin/v1`). A key is printed once, at creation; mkoba keeps only its
//! keyed hash (under `api.key_secret`, from the secrets file when not
//! configured, as `mkoba serve` reads it). Creating and revoking are
//! audited as `cli`.

use super::{input_of, open, refused, Failure, Outcome, Output};
use crate::admin::audit::{self, Entry};
use crate::admin::keys::{self, Role};
use crate::admin::run::audited;
use crate::config::Config;
use crate::domain::now_ms;
use crate::domain::time::rfc3339;
use crate::ledger::LedgerError;
use crate::secrets;
use clap::Subcommand;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCmd {
    /// Keys for the operator API (/admin/v1).
    #[command(subcommand)]
    Key(AdminKeyCmd),
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminKeyCmd {
    /// Create a key; it is printed once and never again.
    Create {
        /// A unique name, shown in the audit log (letters, digits, . _ - @).
        #[arg(long)]
        name: String,
        /// viewer (reads) or operator (reads and writes).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        out: Output,
    },
    /// Revoke a key at once.
    Revoke {
        name: String,
        #[command(flatten)]
        out: Output,
    },
    /// List the keys (names, roles, dates; never the keys).
    List {
        #[command(flatten)]
        out: Output,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "the role is viewer or operator".to_string())
}

pub(crate) async fn admin(cmd: AdminCmd, config: Config) -> Outcome {
    let AdminCmd::Key(cmd) = cmd;
    match cmd {
        AdminKeyCmd::Create { name, role, out } => create(&name, role, &out, config).await,
        AdminKeyCmd::Revoke { name, out } => revoke(&name, &out, &config).await,
        AdminKeyCmd::List { out } => list(&out, &config).await,
    }
}

async fn create(name: &str, role: Role, out: &Output, mut config: Config) -> Outcome {
    let parsed = keys::clean_name(name).map_err(Failure::from);
    let name = input_of(&config, "admin_key.create", name, parsed).await?;
    secrets::ensure(&mut config)?;
    let ledger = open(&config).await?;
    let secret = config.api.key_secret.expose().to_string();
    let entry = Entry::new(audit::CLI, "admin_key.create", &name).detail(format!("role {}", role.as_str()));
    let shown = name.clone();
    let created = audited(&ledger, entry, move |conn, _| keys::create(conn, &secret, &shown, role, now_ms()))
        .await
        .map_err(|e| match e {
            LedgerError::DuplicateAccount(_) => Failure::Refused(format!("an admin key named {name} already exists")),
            e => refused(&ledger, e),
        })?;
    if out.json {
        println!("{}", json!({ "name": created.name, "role": created.role, "key": created.key }));
    } else {
        println!("Admin key {} ({}):", created.name, created.role.as_str());
        println!("{}", created.key);
        println!("It is shown this once: mkoba keeps only its hash. Send it as 'Authorization: Bearer <key>'.");
    }
    Ok(())
}

async fn revoke(name: &str, out: &Output, config: &Config) -> Outcome {
    let ledger = open(config).await?;
    let name = name.trim().to_string();
    let entry = Entry::new(audit::CLI, "admin_key.revoke", &name);
    let shown = name.clone();
    audited(&ledger, entry, move |conn, _| {
        if keys::revoke(conn, &shown, now_ms())? {
            Ok(())
        } else {
            Err(LedgerError::InvalidState(format!("there is no live admin key named {shown}")))
        }
    })
    .await
    .map_err(|e| refused(&ledger, e))?;
    if out.json {
        println!("{}", json!({ "name": name, "revoked": true }));
    } else {
        println!("admin key {name} revoked");
    }
    Ok(())
}

async fn list(out: &Output, config: &Config) -> Outcome {
    let ledger = open(config).await?;
    let listed = ledger.read(keys::list).await?;
    if out.json {
        let keys: Vec<_> = listed
            .iter()
            .map(|k| {
                json!({
                    "name": k.name,
                    "role": k.role,
                    "created_at": rfc3339(k.created_at_ms),
                    "revoked_at": k.revoked_at_ms.map(rfc3339),
                })
            })
            .collect();
        println!("{}", json!({ "keys": keys }));
        return Ok(());
    }
    if listed.is_empty() {
        println!("no admin keys (create one with mkoba admin key create --name N --role viewer|operator)");
    }
    for k in &listed {
        let state = k.revoked_at_ms.map_or_else(|| "live".to_string(), |at| format!("revoked {}", rfc3339(at)));
        println!("{}  {}  created {}  {state}", k.name, k.role, rfc3339(k.created_at_ms));
    }
    Ok(())
}

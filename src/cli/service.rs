//! `mkoba serve`, `migrate` and `ledger verify`: running the service and
//! checking its database.

use super::{open, Failure, Outcome, Output};
use crate::config::Config;
use crate::startup::Application;
use serde_json::json;

pub(super) async fn serve(config: Config) -> Outcome {
    let app = Application::build(config).await?;
    for (kind, url) in app.callback_urls() {
        println!("{kind:>8} callback: {url}");
    }
    tracing::info!(port = app.port(), "mkoba serving");
    app.run_until_stopped().await?;
    Ok(())
}

/// Opening the ledger runs the pending migrations.
pub(super) async fn migrate(config: &Config) -> Outcome {
    let ledger = open(config).await?;
    let report = ledger.verify().await?;
    println!("database migrated ({} accounts)", report.accounts);
    Ok(())
}

/// Checks every invariant; refused (exit 1) with what is wrong.
pub(super) async fn ledger_verify(out: Output, config: &Config) -> Outcome {
    let ledger = open(config).await?;
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

//! `mkoba held …` and `mkoba sim-swap …` (SPEC §11).

use super::{input_of, open, print_receipt, refused, Failure, Outcome, Output};
use crate::admin::{self, audit, Done};
use crate::config::Config;
use crate::domain::{now_ms, Msisdn, Reference};
use crate::ledger::holds::{self, Settle};
use clap::Subcommand;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum HeldCmd {
    /// List the transfers held in suspense, oldest first.
    List {
        #[command(flatten)]
        out: Output,
    },
    /// Pay a held transfer to its payee, as it would have been paid.
    Release {
        reference: String,
        #[command(flatten)]
        out: Output,
    },
    /// Give a held transfer back to its payer, fee included.
    Return {
        reference: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SimSwapCmd {
    /// Mark a number's SIM as swapped (now, or at --at).
    Mark {
        msisdn: String,
        /// When the swap happened, RFC 3339 (e.g. 2026-11-30T09:00:00+03:00).
        #[arg(long, value_parser = crate::domain::time::parse_rfc3339)]
        at: Option<i64>,
        #[command(flatten)]
        out: Output,
    },
}

/// Held transfers listed at most.
const LIST_MAX: i64 = 1_000;

pub(crate) async fn held(cmd: HeldCmd, config: &Config) -> Outcome {
    let (reference, how, out) = match cmd {
        HeldCmd::List { out } => {
            let ledger = open(config).await?;
            let held = ledger.read(|conn| holds::list(conn, LIST_MAX)).await?;
            if out.json {
                println!("{}", json!({ "held": held }));
            } else if held.is_empty() {
                println!("no transfers are held");
            } else {
                for h in &held {
                    println!(
                        "{} {} {} minor (+{} fee) from {} to {}, rule {}, held at {}",
                        h.reference, h.kind, h.amount_minor, h.fee_minor, h.payer, h.payee, h.rule, h.held_at
                    );
                }
            }
            return Ok(());
        }
        HeldCmd::Release { reference, out } => (reference, Settle::Release, out),
        HeldCmd::Return { reference, out } => (reference, Settle::Return, out),
    };
    let action = if how == Settle::Release { "held.release" } else { "held.return" };
    let parsed = Reference::parse(&reference).map_err(Failure::from);
    let reference = input_of(config, action, &reference, parsed).await?;
    let ledger = open(config).await?;
    let done = admin::money::settle_hold(&ledger, audit::CLI, reference, how, None).await;
    let settled = done.and_then(Done::fresh).map_err(|e| refused(&ledger, e))?;
    if let Some(receipt) = &settled.receipt {
        print_receipt(&ledger, receipt, &out);
    }
    Ok(())
}

pub(crate) async fn sim_swap(cmd: SimSwapCmd, config: &Config) -> Outcome {
    let SimSwapCmd::Mark { msisdn, at, out } = cmd;
    let parsed = Msisdn::parse(&msisdn, &config.number_plan()).map_err(Failure::from);
    let msisdn = input_of(config, "sim_swap.mark", &msisdn, parsed).await?;
    let now = now_ms();
    let at_ms = at.unwrap_or(now);
    let ledger = open(config).await?;
    admin::accounts::mark_sim_swap(&ledger, audit::CLI, &msisdn, at_ms, now, None)
        .await
        .and_then(Done::fresh)
        .map_err(|e| refused(&ledger, e))?;
    let until = at_ms.saturating_add(config.sim_swap.cooloff_hours.saturating_mul(3_600_000));
    if out.json {
        println!(
            "{}",
            json!({
                "msisdn": msisdn.to_string(),
                "swapped_at": crate::domain::time::rfc3339(at_ms),
                "cooloff_until": crate::domain::time::rfc3339(until),
                "max_out_minor": config.sim_swap.max_out_minor,
            })
        );
    } else {
        println!(
            "{msisdn} marked SIM-swapped at {}; until {} it may send at most {} minor",
            crate::domain::time::rfc3339(at_ms),
            crate::domain::time::rfc3339(until),
            config.sim_swap.max_out_minor
        );
    }
    Ok(())
}

//! `mkoba float issue` and `mkoba transfer reverse`: money an operator
//! moves; `mkoba transfer list`: what moved, for audits (`mkoba-load`'s).

use super::{input_of, open, print_receipt, refused, Failure, Outcome, Output};
use crate::admin::{self, audit, Done};
use crate::config::Config;
use crate::domain::{Money, Msisdn, Reference};
use crate::ledger::transfer::{self, Party};

use rand::Rng;
use serde_json::{json, Value};

/// Most transfers `transfer list` prints at once.
const LIST_LIMIT_MAX: i64 = 10_000;

/// Issues e-money to an agent's float from the issuance account.
pub(super) async fn float_issue(
    agent: String,
    amount: String,
    idempotency_key: Option<String>,
    out: Output,
    config: &Config,
) -> Outcome {
    let parsed =
        (|| Ok((Msisdn::parse(&agent, &config.number_plan())?, Money::parse(&amount, config.currency.minor_digits)?)))(
        );
    let (msisdn, amount) = input_of(config, "float.issue", &agent, parsed).await?;
    let ledger = open(config).await?;
    let key = idempotency_key.unwrap_or_else(|| format!("cli:float:{}", random_key()));
    let done = admin::money::issue_float(&ledger, audit::CLI, msisdn, amount, key, None).await;
    let issued = done.and_then(Done::fresh).map_err(|e| refused(&ledger, e))?;
    if let Some(receipt) = &issued.receipt {
        print_receipt(&ledger, receipt, &out);
    }
    Ok(())
}

/// Reverses a completed transfer with a compensating one; a transfer
/// already reversed is refused.
pub(super) async fn reverse(reference: String, out: Output, config: &Config) -> Outcome {
    let parsed = Reference::parse(&reference).map_err(Failure::from);
    let reference = input_of(config, "transfer.reverse", &reference, parsed).await?;
    let ledger = open(config).await?;
    let done = admin::money::reverse(&ledger, audit::CLI, reference, None).await;
    let reversed = done.and_then(Done::fresh).map_err(|e| refused(&ledger, e))?;
    if let Some(receipt) = &reversed.receipt {
        print_receipt(&ledger, receipt, &out);
    }
    Ok(())
}

/// Prints up to `limit` transfers with an id above `after_id` (created at
/// or after `since`, RFC 3339), with both parties and where their receipts
/// go; `next_after_id` continues the walk.
pub(super) async fn list(after_id: i64, since: Option<&str>, limit: i64, out: Output, config: &Config) -> Outcome {
    if !(1..=LIST_LIMIT_MAX).contains(&limit) {
        return Err(Failure::Refused(format!("--limit must be between 1 and {LIST_LIMIT_MAX}")));
    }
    let since_ms = since.map(crate::domain::time::parse_rfc3339).transpose().map_err(Failure::Refused)?;
    let ledger = open(config).await?;
    let (receipts, next_after_id) = ledger
        .read(move |conn| {
            let rows = transfer::page_after(conn, after_id.max(0), limit)?;
            let next = rows.last().map_or(after_id, |r| r.id);
            let keep = rows.into_iter().filter(|r| since_ms.is_none_or(|s| r.created_at_ms >= s));
            let receipts = keep
                .map(|row| {
                    let key = row.idempotency_key.clone();
                    transfer::stored_receipt(conn, row).map(|r| (r, key))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((receipts, next))
        })
        .await
        .map_err(|e| refused(&ledger, e))?;
    if out.json {
        let transfers: Vec<Value> = receipts.iter().map(|(r, key)| transfer_json(r, key)).collect();
        println!("{}", json!({ "transfers": transfers, "next_after_id": next_after_id }));
        return Ok(());
    }
    let currency = &ledger.settings().currency;
    for (r, _) in &receipts {
        let handle = |p: &Party| p.msisdn.clone().or_else(|| p.till.clone()).unwrap_or_else(|| p.name.clone());
        println!(
            "{} {} {} from {} to {} (fee {})",
            r.reference,
            r.kind.as_str(),
            currency.show(r.amount_minor),
            handle(&r.from),
            handle(&r.to),
            currency.show(r.fee_minor)
        );
    }
    Ok(())
}

fn transfer_json(r: &crate::ledger::Receipt, idempotency_key: &str) -> Value {
    let party =
        |p: &Party| json!({ "kind": p.kind.as_str(), "msisdn": p.msisdn, "till": p.till, "notify_to": p.notify_to });
    json!({
        "id": r.transfer_id.0,
        "reference": r.reference,
        "kind": r.kind.as_str(),
        "amount_minor": r.amount_minor,
        "fee_minor": r.fee_minor,
        "idempotency_key": idempotency_key,
        "reverses": r.reverses,
        "created_at_ms": r.created_at_ms,
        "from": party(&r.from),
        "to": party(&r.to),
    })
}

fn random_key() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    crate::domain::hex(&bytes)
}

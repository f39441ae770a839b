//! `mkoba float issue` and `mkoba transfer reverse`: money an operator moves.

use super::{input_of, open, print_receipt, refused, Failure, Outcome, Output};
use crate::admin::{self, audit, Done};
use crate::config::Config;
use crate::domain::{Money, Msisdn, Reference};
use rand::Rng;

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

fn random_key() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    crate::domain::hex(&bytes)
}

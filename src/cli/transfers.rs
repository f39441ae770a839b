//! `mkoba float issue` and `mkoba transfer reverse`: money an operator moves.

use super::accounts::existing;
use super::{open, print_receipt, refused, Failure, Outcome, Output};
use crate::config::Config;
use crate::domain::{Money, Msisdn, Reference};
use crate::ledger::{AccountKey, AccountKind, ReversalRequest, TransferKind, TransferRequest};
use rand::Rng;

/// Issues e-money to an agent's float from the issuance account.
pub(super) async fn float_issue(
    agent: String,
    amount: String,
    idempotency_key: Option<String>,
    out: Output,
    config: &Config,
) -> Outcome {
    let msisdn = Msisdn::parse(&agent, &config.number_plan())?;
    let amount = Money::parse(&amount, config.currency.minor_digits)?;
    let ledger = open(config).await?;
    let agent = existing(&ledger, AccountKey::Msisdn(msisdn)).await?;
    if agent.kind != AccountKind::Agent {
        return Err(Failure::Refused(format!("{} is a {}, not an agent", agent.handle(), agent.kind.as_str())));
    }
    let key = idempotency_key.unwrap_or_else(|| format!("cli:float:{}", random_key()));
    let receipt = ledger
        .submit(TransferRequest::new(
            key,
            TransferKind::FloatIssue,
            ledger.settings().system.issuance,
            agent.id,
            amount,
        ))
        .await
        .map_err(|e| refused(&ledger, e))?;
    print_receipt(&ledger, &receipt, &out);
    Ok(())
}

/// Reverses a completed transfer with a compensating one; a transfer
/// already reversed is refused.
pub(super) async fn reverse(reference: String, out: Output, config: &Config) -> Outcome {
    let reference = Reference::parse(&reference)?;
    let ledger = open(config).await?;
    let receipt = ledger
        .reverse(ReversalRequest { idempotency_key: format!("reverse:{reference}"), reference: reference.clone() })
        .await
        .map_err(|e| refused(&ledger, e))?;
    if receipt.replayed {
        return Err(Failure::Refused(format!("transfer {reference} was already reversed by {}", receipt.reference)));
    }
    print_receipt(&ledger, &receipt, &out);
    Ok(())
}

fn random_key() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    crate::domain::hex(&bytes)
}

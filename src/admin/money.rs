//! Money an operator moves: float issued to an agent, a transfer reversed,
//! a held transfer released or returned. Each posts through the ledger's
//! engine inside the write transaction that also appends its audit row
//! (and, for an API call with a key, stores its answer).

use super::accounts::existing;
use super::audit::Entry;
use super::run::{audited_once, Done, Idem};
use crate::domain::{Money, Msisdn, Reference};
use crate::ledger::holds::{self, Settle};
use crate::ledger::{engine, transfer};
use crate::ledger::{
    AccountKey, AccountKind, Ledger, LedgerError, Receipt, ReversalRequest, TransferKind, TransferRequest,
};
use serde::Serialize;
use utoipa::ToSchema;

/// Float issued: the API's answer, with the ledger's receipt for the CLI.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FloatIssued {
    #[serde(skip)]
    #[schema(ignore)]
    pub receipt: Option<Receipt>,
    pub reference: String,
    /// The agent's phone.
    pub agent: String,
    pub amount_minor: i64,
    /// The agent's float right after.
    pub balance_minor: i64,
}

/// Issues `amount` of e-money from the issuance account to an agent's
/// float. `transfer_key` is the ledger transfer's idempotency key: the same
/// key never issues twice.
pub async fn issue_float(
    ledger: &Ledger,
    actor: &str,
    agent: Msisdn,
    amount: Money,
    transfer_key: String,
    idem: Option<Idem>,
) -> Result<Done<FloatIssued>, LedgerError> {
    let settings = ledger.settings_arc();
    let entry = Entry::new(actor, "float.issue", agent.as_str()).detail(format!("{} minor", amount.minor()));
    audited_once(ledger, entry, idem, move |conn, entry| {
        let account = existing(conn, &AccountKey::Msisdn(agent.clone()))?;
        if account.kind != AccountKind::Agent {
            return Err(LedgerError::WrongParty(format!(
                "{} is a {}, not an agent",
                account.handle(),
                account.kind.as_str()
            )));
        }
        let req = TransferRequest::new(
            transfer_key.clone(),
            TransferKind::FloatIssue,
            settings.system.issuance,
            account.id,
            amount,
        );
        let receipt = transfer::apply(conn, &settings, &req)?;
        entry.detail = format!("{} minor, {}{}", receipt.amount_minor, receipt.reference, replay_note(&receipt));
        Ok(FloatIssued {
            reference: receipt.reference.clone(),
            agent: agent.to_string(),
            amount_minor: receipt.amount_minor,
            balance_minor: receipt.to.balance_after_minor.unwrap_or(account.balance_minor),
            receipt: Some(receipt),
        })
    })
    .await
}

fn replay_note(r: &Receipt) -> &'static str {
    if r.replayed {
        " (replay: nothing moved)"
    } else {
        ""
    }
}

/// A reversal: the API's answer, with the ledger's receipt for the CLI.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reversed {
    #[serde(skip)]
    #[schema(ignore)]
    pub receipt: Option<Receipt>,
    /// The reversal's own reference.
    pub reference: String,
    /// The reversed transfer's.
    pub reverses: String,
}

/// Reverses a completed transfer with a compensating one. Already
/// reversed, a reversal itself, held, or spent by its recipient: refused.
pub async fn reverse(
    ledger: &Ledger,
    actor: &str,
    reference: Reference,
    idem: Option<Idem>,
) -> Result<Done<Reversed>, LedgerError> {
    let settings = ledger.settings_arc();
    let entry = Entry::new(actor, "transfer.reverse", reference.as_str());
    audited_once(ledger, entry, idem, move |conn, entry| {
        let req = ReversalRequest { idempotency_key: format!("reverse:{reference}"), reference: reference.clone() };
        let receipt = engine::apply_reversal(conn, &settings, &req)?;
        if receipt.replayed {
            return Err(LedgerError::AlreadyReversed { original: reference.to_string(), reversal: receipt.reference });
        }
        entry.detail = format!("reversed by {}", receipt.reference);
        Ok(Reversed { reference: receipt.reference.clone(), reverses: reference.to_string(), receipt: Some(receipt) })
    })
    .await
}

/// A held transfer settled.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Settled {
    #[serde(skip)]
    #[schema(ignore)]
    pub receipt: Option<Receipt>,
    /// The held transfer's reference.
    pub reference: String,
    /// `released` or `returned`.
    pub status: String,
}

/// Releases a held transfer to its payee or returns it to its payer, once.
pub async fn settle_hold(
    ledger: &Ledger,
    actor: &str,
    reference: Reference,
    how: Settle,
    idem: Option<Idem>,
) -> Result<Done<Settled>, LedgerError> {
    let settings = ledger.settings_arc();
    let (action, status) = match how {
        Settle::Release => ("held.release", "released"),
        Settle::Return => ("held.return", "returned"),
    };
    let entry = Entry::new(actor, action, reference.as_str());
    audited_once(ledger, entry, idem, move |conn, entry| {
        let receipt = holds::settle(conn, &settings, &reference, how)?;
        entry.detail = format!("by {}", receipt.reference);
        Ok(Settled { reference: reference.to_string(), status: status.to_string(), receipt: Some(receipt) })
    })
    .await
}

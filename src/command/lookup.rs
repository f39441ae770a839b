//! Who a caller is paying: one lookup for every channel, from what they
//! typed (a phone number or a till) to the [`Party`] their confirmation
//! shows, or why not.

use super::{Flow, Party};
use crate::domain::{Msisdn, NumberPlan, Till};
use crate::ledger::{Account, AccountKey, AccountKind, Ledger, LedgerError};

/// Why a lookup found nobody to pay, as a catalogue key and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
    /// The input was malformed: a menu may ask again.
    pub retry: bool,
}

impl Refusal {
    fn ask_again(key: &'static str) -> Refusal {
        Refusal { key, args: Vec::new(), retry: true }
    }

    fn end(key: &'static str, arg: (&'static str, String)) -> Refusal {
        Refusal { key, args: vec![arg], retry: false }
    }

    /// The arguments as the catalogue takes them.
    pub fn args(&self) -> Vec<(&str, &str)> {
        self.args.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

/// The counterparty of `flow` named by `input`: a merchant's till for a
/// payment, an agent's number for a withdrawal, a customer's otherwise.
pub async fn counterparty(
    ledger: &Ledger,
    plan: &NumberPlan,
    me: Option<&Account>,
    flow: Flow,
    input: &str,
) -> Result<Result<Party, Refusal>, LedgerError> {
    if flow == Flow::Pay {
        let Ok(till) = Till::parse(input) else {
            return Ok(Err(Refusal::ask_again("invalid_till")));
        };
        return Ok(match ledger.find_account(AccountKey::Till(till.clone())).await? {
            Some(m) if m.kind == AccountKind::Merchant => {
                Ok(Party { id: m.id.0, name: m.name, handle: till.to_string() })
            }
            _ => Err(Refusal::end("err_unknown_till", ("till", till.to_string()))),
        });
    }
    let Ok(msisdn) = Msisdn::parse(input, plan) else {
        return Ok(Err(Refusal::ask_again("invalid_phone")));
    };
    if me.is_some_and(|a| a.msisdn.as_ref() == Some(&msisdn)) {
        return Ok(Err(Refusal { key: "err_self", args: Vec::new(), retry: false }));
    }
    let phone = ("phone", input.trim().to_string());
    let wanted = if flow == Flow::Withdraw { AccountKind::Agent } else { AccountKind::Customer };
    Ok(match ledger.find_account(AccountKey::Msisdn(msisdn.clone())).await? {
        Some(a) if a.kind == wanted => Ok(Party { id: a.id.0, name: a.name, handle: msisdn.to_string() }),
        _ if flow == Flow::Withdraw => Err(Refusal::end("err_unknown_agent", phone)),
        Some(_) => Err(Refusal::end("err_not_customer", phone)),
        None => Err(Refusal::end("err_unknown_recipient", phone)),
    })
}

//! The channel-neutral core every channel calls: what a caller asks for
//! ([`Effect`]), the checks before it (the PIN, [`pin`]), the change it makes
//! inside the channel's transaction ([`effects::apply`]) and the neutral
//! answer ([`Outcome`]) each channel shapes into a screen or an SMS. USSD and
//! SMS import this, never each other.
//!
//! Data flows one way: webhook → adapter → channel (menu or grammar) →
//! command → ledger → outbox.

pub mod approvals;
pub mod effects;
pub mod lookup;
pub mod pin;
pub mod prefs;

pub use effects::{apply, Effect, Env, Next, Outcome};

use crate::ledger::TransferKind;
use serde::{Deserialize, Serialize};

/// The other side of a transfer, as confirmed by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub id: i64,
    pub name: String,
    pub handle: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    Send,
    Withdraw,
    Pay,
    Deposit,
}

impl Flow {
    pub fn kind(self) -> TransferKind {
        match self {
            Flow::Send => TransferKind::P2p,
            Flow::Withdraw => TransferKind::CashOut,
            Flow::Pay => TransferKind::MerchantPayment,
            Flow::Deposit => TransferKind::CashIn,
        }
    }

    pub fn prompt(self) -> &'static str {
        match self {
            Flow::Send => "enter_phone",
            Flow::Withdraw => "enter_agent",
            Flow::Pay => "enter_till",
            Flow::Deposit => "enter_customer_phone",
        }
    }

    pub fn confirm(self) -> &'static str {
        match self {
            Flow::Send => "confirm_send",
            Flow::Withdraw => "confirm_withdraw",
            Flow::Pay => "confirm_pay",
            Flow::Deposit => "confirm_deposit",
        }
    }

    pub fn done(self) -> &'static str {
        match self {
            Flow::Send => "done_send",
            Flow::Withdraw => "done_withdraw",
            Flow::Pay => "done_pay",
            Flow::Deposit => "done_deposit",
        }
    }
}

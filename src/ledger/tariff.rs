//! Fees and agent commissions, by band of amount per transfer kind.

use super::{LedgerError, TransferKind};
use crate::config::{Band, Tariffs};
use crate::domain::Money;
use serde::Serialize;

/// What a transfer costs the payer and earns the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub fee: Money,
    pub commission: Money,
}

impl Quote {
    pub const FREE: Quote = Quote { fee: Money::ZERO, commission: Money::ZERO };
}

pub fn quote(tariffs: &Tariffs, kind: TransferKind, amount: Money) -> Result<Quote, LedgerError> {
    let bands: &[Band] = match kind {
        TransferKind::P2p => &tariffs.p2p,
        TransferKind::CashIn => &tariffs.cash_in,
        TransferKind::CashOut => &tariffs.cash_out,
        // A charge is a merchant payment the customer approved in advance.
        TransferKind::MerchantPayment | TransferKind::Charge => &tariffs.merchant_payment,
        // A till paying out or refunding pays no fee.
        TransferKind::Payout | TransferKind::Refund => return Ok(Quote::FREE),
        TransferKind::FloatIssue | TransferKind::Fee | TransferKind::Commission | TransferKind::Reversal => {
            return Ok(Quote::FREE)
        }
    };
    let band = bands
        .iter()
        .find(|b| amount.minor() <= b.up_to_minor)
        .ok_or(LedgerError::AmountOutsideTariff { max_minor: bands.last().map_or(0, |b| b.up_to_minor) })?;
    let money = |m: i64| Money::from_minor(m).map_err(|e| LedgerError::InvalidInput(e.to_string()));
    Ok(Quote { fee: money(band.fee_minor)?, commission: money(band.commission_minor)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use proptest::prelude::*;

    fn kes(major: i64) -> Money {
        Money::from_minor(major * 100).expect("valid")
    }

    #[test]
    fn small_payments_are_free() {
        let t = Config::default().tariffs;
        for kind in [TransferKind::P2p, TransferKind::MerchantPayment, TransferKind::CashOut, TransferKind::CashIn] {
            assert_eq!(quote(&t, kind, kes(100)).ok().map(|q| q.fee), Some(Money::ZERO), "{kind:?}");
            assert_eq!(quote(&t, kind, kes(1)).ok().map(|q| q.fee), Some(Money::ZERO));
        }
    }

    #[test]
    fn band_edges() {
        let t = Config::default().tariffs;
        let fee = |minor| quote(&t, TransferKind::P2p, Money::from_minor(minor).expect("valid")).map(|q| q.fee.minor());
        assert_eq!(fee(10_000).ok(), Some(0));
        assert_eq!(fee(10_001).ok(), Some(100));
        assert_eq!(fee(50_000).ok(), Some(100));
        assert_eq!(fee(50_001).ok(), Some(500));
        assert!(matches!(fee(100_000_001), Err(LedgerError::AmountOutsideTariff { .. })));
        let cash_out = quote(&t, TransferKind::CashOut, kes(500)).ok();
        assert_eq!(cash_out.map(|q| q.commission.minor()), Some(300));
        assert_eq!(quote(&t, TransferKind::FloatIssue, kes(500)).ok(), Some(Quote::FREE));
    }

    proptest! {
        // The rule that keeps micro payments alive, over the default tariff.
        #[test]
        fn default_fees_never_exceed_one_percent(minor in 1i64..=100_000_000) {
            let t = Config::default().tariffs;
            let amount = Money::from_minor(minor).expect("valid");
            for kind in [TransferKind::P2p, TransferKind::MerchantPayment] {
                let q = quote(&t, kind, amount).expect("in a band");
                prop_assert!(q.fee.minor() * 100 <= minor, "{kind:?} {minor}: fee {}", q.fee.minor());
            }
            for kind in [TransferKind::CashIn, TransferKind::CashOut] {
                let q = quote(&t, kind, amount).expect("in a band");
                prop_assert!(q.fee.minor() < minor || q.fee.is_zero());
            }
        }
    }
}

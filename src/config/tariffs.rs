//! KYC tiers and the fee bands per transfer kind, with the checks that keep
//! micro payments cheap.

use super::load::list;
use serde::{Deserialize, Serialize};

/// A KYC tier: how much an account of this tier may hold and move.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub max_balance_minor: i64,
    pub max_transfer_minor: i64,
    pub max_daily_out_minor: i64,
}

/// Fee bands per transfer kind. The fee is paid by whoever starts the
/// transfer; the commission is paid to the agent by the operator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tariffs {
    #[serde(deserialize_with = "list")]
    pub p2p: Vec<Band>,
    #[serde(deserialize_with = "list")]
    pub cash_in: Vec<Band>,
    #[serde(deserialize_with = "list")]
    pub cash_out: Vec<Band>,
    #[serde(deserialize_with = "list")]
    pub merchant_payment: Vec<Band>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Upper bound of the band, inclusive; the band starts above the previous one.
    pub up_to_minor: i64,
    pub fee_minor: i64,
    #[serde(default)]
    pub commission_minor: i64,
}

fn band(up_to_major: i64, fee_minor: i64, commission_minor: i64) -> Band {
    Band { up_to_minor: up_to_major * 100, fee_minor, commission_minor }
}

impl Default for Tariffs {
    /// Free below KES 100; p2p and merchant fees never above 1% of the amount.
    fn default() -> Self {
        let one_percent_bands = vec![
            band(100, 0, 0),
            band(500, 100, 0),
            band(1_000, 500, 0),
            band(5_000, 1_000, 0),
            band(20_000, 5_000, 0),
            band(70_000, 20_000, 0),
            band(150_000, 70_000, 0),
            band(1_000_000, 150_000, 0),
        ];
        Tariffs {
            p2p: one_percent_bands.clone(),
            merchant_payment: one_percent_bands,
            cash_in: vec![
                band(100, 0, 0),
                band(1_000, 0, 500),
                band(5_000, 0, 2_000),
                band(20_000, 0, 5_000),
                band(1_000_000, 0, 10_000),
            ],
            cash_out: vec![
                band(100, 0, 0),
                band(1_000, 500, 300),
                band(5_000, 2_500, 1_500),
                band(20_000, 7_500, 4_500),
                band(1_000_000, 15_000, 9_000),
            ],
        }
    }
}

pub(super) fn validate_bands(kind: &str, bands: &[Band], one_percent: bool) -> Result<(), String> {
    if bands.is_empty() {
        return Err(format!("tariffs.{kind} needs at least one band"));
    }
    let mut low = 1i64;
    for b in bands {
        if b.up_to_minor < low {
            return Err(format!("tariffs.{kind}: bands must rise (band up to {} starts at {low})", b.up_to_minor));
        }
        if b.fee_minor < 0 || b.commission_minor < 0 {
            return Err(format!("tariffs.{kind}: fees and commissions cannot be negative"));
        }
        // Micro payments die when the fee is larger than the payment.
        if b.fee_minor >= low && b.fee_minor > 0 {
            return Err(format!(
                "tariffs.{kind}: a fee of {} minor would be at least the smallest amount of its band ({low})",
                b.fee_minor
            ));
        }
        if one_percent && b.fee_minor.checked_mul(100).is_none_or(|f| f > low) {
            return Err(format!(
                "tariffs.{kind}: a fee of {} minor is more than 1% of {low}, the smallest amount of its band",
                b.fee_minor
            ));
        }
        low = b.up_to_minor.saturating_add(1);
    }
    Ok(())
}

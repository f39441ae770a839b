//! Fraud rules: velocity limits on money leaving a customer and the
//! cap after a SIM swap.

use super::Secret;
use serde::{Deserialize, Serialize};

/// What a velocity rule does when it fires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Refuse the transfer: nothing moves.
    #[default]
    Decline,
    /// Post it into suspense for an operator to release or return.
    Hold,
}

/// A rule with a limit; off while `limit` is unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitRule {
    /// N lets N through and fires on the next.
    pub limit: Option<i64>,
    pub action: RuleAction,
}

/// The stolen-phone pattern: money sent or cashed out soon after a large
/// incoming transfer. Off while `large_in_minor` is unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AfterLargeInRule {
    pub large_in_minor: Option<i64>,
    pub window_s: i64,
    pub action: RuleAction,
}

impl Default for AfterLargeInRule {
    fn default() -> Self {
        AfterLargeInRule { large_in_minor: None, window_s: 3_600, action: RuleAction::Decline }
    }
}

/// Velocity rules on money leaving a customer (SPEC §11), decided inside
/// the posting engine's decision. Windows are rolling (the last hour, the
/// last 24 hours).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VelocityConfig {
    pub out_count_per_hour: LimitRule,
    pub out_value_per_day_minor: LimitRule,
    pub new_recipients_per_hour: LimitRule,
    pub out_after_large_in: AfterLargeInRule,
}

impl VelocityConfig {
    pub fn any(&self) -> bool {
        self.out_count_per_hour.limit.is_some()
            || self.out_value_per_day_minor.limit.is_some()
            || self.new_recipients_per_hour.limit.is_some()
            || self.out_after_large_in.large_in_minor.is_some()
    }
}

/// After a SIM swap, money leaving the number is capped for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimSwapConfig {
    pub max_out_minor: i64,
    pub cooloff_hours: i64,
    /// A CAMARA SIM Swap API (`POST {check_url}` with `phoneNumber` and
    /// `maxAge`); empty: only numbers marked by an operator count.
    pub check_url: String,
    /// Bearer token for the check API, if it needs one.
    pub check_token: Secret,
    pub check_timeout_ms: u64,
}

impl Default for SimSwapConfig {
    fn default() -> Self {
        SimSwapConfig {
            max_out_minor: 0,
            cooloff_hours: 72,
            check_url: String::new(),
            check_token: Secret::default(),
            check_timeout_ms: 2_000,
        }
    }
}

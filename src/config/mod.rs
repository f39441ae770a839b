//! Configuration: defaults, then an optional TOML file, then `MKOBA_…`
//! environment variables (nested keys joined by `__`), layered by the
//! `config` crate (config-rs). Secrets live in
//! [`Secret`], whose `Debug` is redacted and which `config show` masks.
//!
//! This module owns the [`Config`] tree and its defaults; each section lives
//! in a submodule by concern, re-exported here so every type keeps its
//! `crate::config::…` path: [`load`](Config::load) and the layering in
//! `load`, checks in `validate`, tiers and tariffs in `tariffs`, rate limits
//! and webhook peers in `rate_limits`, velocity and SIM-swap rules in
//! `fraud`, PIN hashing in `pin`, the ledger writer and the pool in `store`,
//! the channels (USSD, SMS, SMTP, the outbox, alerts) in `channels`,
//! whether metrics are kept in `metrics`, and secrets and their masking in `secret`.

use crate::domain::{Currency, NumberPlan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod api;
mod channels;
mod fraud;
mod load;
mod metrics;
mod pin;
mod rate_limits;
mod secret;
mod store;
mod tariffs;
mod validate;

pub use api::{ApiConfig, ReceiptsConfig};
pub use channels::{AlertsConfig, NotifyConfig, ServiceCodes, SmsConfig, SmtpConfig, UssdConfig};
pub use fraud::{AfterLargeInRule, LimitRule, RuleAction, SimSwapConfig, VelocityConfig};
pub use load::ConfigError;
pub use metrics::MetricsConfig;
pub use pin::{Argon2Config, PinConfig};
pub use rate_limits::{RateLimits, WebhooksConfig};
pub use secret::{mask_url_password, Secret};
pub use store::{DatabaseConfig, LedgerConfig};
pub use tariffs::{Band, Tariffs, Tier};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    /// Where generated secrets are kept; empty means beside the SQLite
    /// database (or the working directory for PostgreSQL).
    pub secrets_file: String,
    pub currency: Currency,
    pub country_code: String,
    pub national_number_digits: usize,
    /// The USSD codes callers dial: one, or a list (Africa's Talking's
    /// shared codes look like `*384*1234#`). The first is the one shown.
    pub service_code: ServiceCodes,
    pub webhook_token: Secret,
    pub pin: PinConfig,
    pub tiers: BTreeMap<String, Tier>,
    pub tariffs: Tariffs,
    pub ledger: LedgerConfig,
    pub rate_limits: RateLimits,
    pub webhooks: WebhooksConfig,
    pub database: DatabaseConfig,
    pub ussd: UssdConfig,
    pub sms: SmsConfig,
    pub smtp: SmtpConfig,
    pub alerts: AlertsConfig,
    pub notify: NotifyConfig,
    pub velocity: VelocityConfig,
    pub sim_swap: SimSwapConfig,
    pub api: ApiConfig,
    pub receipts: ReceiptsConfig,
    pub metrics: MetricsConfig,
}

impl Default for Config {
    fn default() -> Self {
        let kes = |major: i64| major * 100;
        let tier = |bal, per, day| Tier {
            max_balance_minor: kes(bal),
            max_transfer_minor: kes(per),
            max_daily_out_minor: kes(day),
        };
        let tiers = BTreeMap::from([
            // Registered without an ID document.
            ("basic".to_string(), tier(50_000, 20_000, 50_000)),
            // ID verified.
            ("standard".to_string(), tier(300_000, 150_000, 300_000)),
            ("agent".to_string(), tier(5_000_000, 1_000_000, 10_000_000)),
            ("merchant".to_string(), tier(5_000_000, 1_000_000, 5_000_000)),
        ]);
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://mkoba.db".into(),
            secrets_file: String::new(),
            currency: Currency::default(),
            country_code: "254".into(),
            national_number_digits: 9,
            service_code: ServiceCodes::one("*384#"),
            webhook_token: Secret::default(),
            pin: PinConfig::default(),
            tiers,
            tariffs: Tariffs::default(),
            ledger: LedgerConfig::default(),
            rate_limits: RateLimits::default(),
            webhooks: WebhooksConfig::default(),
            database: DatabaseConfig::default(),
            ussd: UssdConfig::default(),
            sms: SmsConfig::default(),
            smtp: SmtpConfig::default(),
            alerts: AlertsConfig::default(),
            notify: NotifyConfig::default(),
            velocity: VelocityConfig::default(),
            sim_swap: SimSwapConfig::default(),
            api: ApiConfig::default(),
            receipts: ReceiptsConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Config {
    /// How many PIN checks may be reserved, per account and per source.
    pub fn attempt_limits(&self) -> crate::auth::lockout::AttemptLimits {
        crate::auth::lockout::AttemptLimits {
            max_attempts: self.pin.max_attempts,
            per_source: self.rate_limits.wrong_pins_per_source,
            source_window_ms: i64::try_from(self.rate_limits.wrong_pins_window_s.saturating_mul(1000))
                .unwrap_or(i64::MAX),
        }
    }

    pub fn number_plan(&self) -> NumberPlan {
        NumberPlan { country_code: self.country_code.clone(), national_digits: self.national_number_digits }
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://") || self.database_url.starts_with("postgresql://")
    }
}

#[cfg(test)]
mod tests;

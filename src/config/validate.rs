//! The checks types alone cannot make, run after every load. They run in a
//! fixed order and the first that fails is the error.

use super::tariffs::validate_bands;
use super::{Config, ConfigError};

fn invalid(m: String) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid(m))
}

impl Config {
    /// Checks what types alone cannot: limits that make sense together and
    /// tariffs that keep micro payments cheap.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_locale_and_pin()?;
        self.validate_capacity()?;
        self.validate_tiers()?;
        self.validate_tariffs()?;
        self.validate_fraud_rules()
    }

    /// Currency, PIN, USSD codes and the country code.
    fn validate_locale_and_pin(&self) -> Result<(), ConfigError> {
        if self.currency.minor_digits > 4 || self.currency.code.len() != 3 {
            return invalid("currency.code must be 3 letters and currency.minor_digits at most 4".into());
        }
        if !(4..=8).contains(&self.pin.length) {
            return invalid("pin.length must be between 4 and 8".into());
        }
        if self.service_code.all().is_empty() {
            return invalid("service_code needs at least one code, e.g. \"*384#\"".into());
        }
        for code in self.service_code.all() {
            let body = code.strip_prefix('*').and_then(|c| c.strip_suffix('#')).unwrap_or("");
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit() || b == b'*') {
                return invalid(format!("service_code '{code}' must look like *384# or *384*1234#"));
            }
        }
        if self.pin.max_attempts == 0 || self.pin.verify_concurrency == 0 {
            return invalid("pin.max_attempts and pin.verify_concurrency must be at least 1".into());
        }
        if self.country_code.is_empty() || !self.country_code.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("country_code must be digits, e.g. 254".into());
        }
        Ok(())
    }

    /// Rate limits, webhook peers and the ledger writer's queue.
    fn validate_capacity(&self) -> Result<(), ConfigError> {
        let r = &self.rate_limits;
        if r.per_source_per_second == 0 || r.per_source_burst == 0 || r.source_keys_max == 0 {
            return invalid(
                "rate_limits.per_source_per_second, .per_source_burst and .source_keys_max must be at least 1".into(),
            );
        }
        self.webhooks.allowed_nets().map_err(ConfigError::Invalid)?;
        if self.ledger.batch_max == 0 || self.ledger.queue_depth == 0 {
            return invalid("ledger.batch_max and ledger.queue_depth must be at least 1".into());
        }
        Ok(())
    }

    /// The four built-in tiers exist; every tier is well named and positive.
    fn validate_tiers(&self) -> Result<(), ConfigError> {
        for name in ["basic", "standard", "agent", "merchant"] {
            if !self.tiers.contains_key(name) {
                return invalid(format!("tiers.{name} must be defined"));
            }
        }
        for (name, t) in &self.tiers {
            if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return invalid(format!("tier name '{name}' must be lower-case letters, digits or _"));
            }
            if t.max_balance_minor <= 0 || t.max_transfer_minor <= 0 || t.max_daily_out_minor <= 0 {
                return invalid(format!("tiers.{name}: every limit must be positive"));
            }
        }
        Ok(())
    }

    /// Every kind's bands; p2p and merchant fees at most 1%.
    fn validate_tariffs(&self) -> Result<(), ConfigError> {
        let kinds = [
            ("p2p", &self.tariffs.p2p, true),
            ("merchant_payment", &self.tariffs.merchant_payment, true),
            ("cash_in", &self.tariffs.cash_in, false),
            ("cash_out", &self.tariffs.cash_out, false),
        ];
        for (kind, bands, one_percent) in kinds {
            validate_bands(kind, bands, one_percent).map_err(ConfigError::Invalid)?;
        }
        Ok(())
    }

    /// Velocity limits and the SIM-swap cap: nothing negative.
    fn validate_fraud_rules(&self) -> Result<(), ConfigError> {
        let v = &self.velocity;
        for (name, limit) in [
            ("out_count_per_hour", v.out_count_per_hour.limit),
            ("out_value_per_day_minor", v.out_value_per_day_minor.limit),
            ("new_recipients_per_hour", v.new_recipients_per_hour.limit),
            ("out_after_large_in.large_in_minor", v.out_after_large_in.large_in_minor),
        ] {
            if limit.is_some_and(|n| n < 0) {
                return invalid(format!("velocity.{name} cannot be negative"));
            }
        }
        if v.out_after_large_in.window_s <= 0 {
            return invalid("velocity.out_after_large_in.window_s must be positive".into());
        }
        if self.sim_swap.max_out_minor < 0 || self.sim_swap.cooloff_hours < 0 {
            return invalid("sim_swap.max_out_minor and sim_swap.cooloff_hours cannot be negative".into());
        }
        Ok(())
    }
}

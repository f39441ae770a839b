//! Configuration: defaults, then an optional TOML file, then `MKOBA_…`
//! environment variables (nested keys joined by `__`), layered by the
//! `config` crate (config-rs). Secrets live in
//! [`Secret`], whose `Debug` is redacted and which `config show` masks.

use crate::domain::{Currency, NumberPlan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

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
}

/// One USSD code or several: a TOML string, a list of strings, or (from
/// the environment) a TOML array literal or a comma-separated string.
/// Shown as a string when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCodes(Vec<String>);

impl Serialize for ServiceCodes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl ServiceCodes {
    pub fn one(code: &str) -> ServiceCodes {
        ServiceCodes(vec![code.to_string()])
    }

    pub fn new(codes: Vec<String>) -> ServiceCodes {
        ServiceCodes(codes)
    }

    /// The code shown to callers ("dial *384#").
    pub fn primary(&self) -> &str {
        self.0.first().map_or("", String::as_str)
    }

    pub fn contains(&self, code: &str) -> bool {
        let code = code.trim();
        self.0.iter().any(|c| c == code)
    }

    pub fn all(&self) -> &[String] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ServiceCodes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let codes: Vec<String> = list(d)?;
        Ok(ServiceCodes(codes.into_iter().map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect()))
    }
}

/// A list as the file gives it, or as an environment variable does: a TOML
/// array literal (`[{ up_to_minor = 500, fee_minor = 0 }]`) or, for lists of
/// plain values, a comma-separated string (`10.0.0.0/8, 2001:db8::/32`;
/// blanks around and empty items are dropped).
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    struct ListVisitor<T>(std::marker::PhantomData<T>);

    impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for ListVisitor<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list, a TOML array literal or a comma-separated string")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<T>, E> {
            if text.trim_start().starts_with('[') {
                let doc: toml::Table = toml::from_str(&format!("v = {text}")).map_err(|e| E::custom(e.message()))?;
                let items = doc.get("v").cloned().ok_or_else(|| E::custom("no value"))?;
                return Vec::deserialize(items).map_err(|e| E::custom(e.message()));
            }
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| T::deserialize(serde::de::value::StrDeserializer::<E>::new(item)))
                .collect()
        }
    }

    d.deserialize_any(ListVisitor(std::marker::PhantomData))
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinConfig {
    pub length: usize,
    pub max_attempts: u32,
    pub argon2: Argon2Config,
    pub pepper: Secret,
    /// PIN verifications running at once; each holds `argon2.memory_kib`.
    pub verify_concurrency: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Transfers committed together when they queue up (group commit).
    pub batch_max: usize,
    /// Transfers waiting for the writer before submitters wait for room.
    pub queue_depth: usize,
    /// Daily limits reset at midnight in this offset from UTC (EAT = 180).
    pub day_utc_offset_minutes: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub pool_size: u32,
    /// Connections kept open while idle (the CLI uses none).
    pub min_idle: u32,
    pub pool_timeout_ms: u64,
    pub busy_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Webhook requests per phone number per minute.
    pub per_msisdn_per_minute: u32,
    /// Webhook requests per second for the whole process.
    pub global_per_second: u32,
    /// Wrong PINs from one source (the address a webhook came from), across
    /// every number, per window; 0 turns it off. Counted in the database, so
    /// shared by every process. An aggregator's few addresses carry all its
    /// callers: size this to the traffic of the whole service.
    pub wrong_pins_per_source: u32,
    pub wrong_pins_window_s: u64,
    /// Webhook requests per second from one source address (IPv6: one
    /// /64), counted before the token is checked. Per process, like every
    /// limit here: N processes let a source through N times as fast.
    pub per_source_per_second: u32,
    /// Requests a source may send at once above its rate.
    pub per_source_burst: u32,
    /// Source addresses remembered at most; past it, idle ones are dropped
    /// and, if a flood from more addresses is under way, counts start afresh.
    pub source_keys_max: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Peer addresses allowed to call the webhooks, as CIDRs (`10.0.0.0/8`,
    /// `2001:db8::/32`) or single addresses; empty lets any address in.
    #[serde(deserialize_with = "list")]
    pub allowed_ips: Vec<String>,
}

impl WebhooksConfig {
    /// `allowed_ips` parsed; the first entry that is not a CIDR or an
    /// address is the error.
    pub fn allowed_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.allowed_ips
            .iter()
            .map(|entry| {
                let text = entry.trim();
                text.parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        format!("webhooks.allowed_ips: '{entry}' is not a CIDR or an address (e.g. 10.0.0.0/8, 2001:db8::/32)")
                    })
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UssdConfig {
    pub session_timeout_s: u64,
    /// A caller whose session dropped (Incomplete) and who dials again
    /// within this is offered to continue where they left off.
    pub resume_window_s: u64,
    /// A hop not answered within this gets "processing, you will get an
    /// SMS" (Africa's Talking waits about 15 s).
    pub deadline_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    pub base_url: String,
    pub username: String,
    pub api_key: Secret,
    pub sender_id: String,
    /// After the aggregator refuses the configuration (credentials, sender
    /// id, account balance), sending pauses this long before one probe.
    pub config_error_backoff_s: u64,
    /// Replies to an inbound SMS go from the code the customer texted (its
    /// `to`, e.g. a short code) with its `linkId`, not from `sender_id`.
    pub reply_from_inbound_to: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// e.g. `smtp://127.0.0.1:1025`; may carry credentials, so it is a secret.
    pub url: Secret,
    pub from: String,
}

/// How the outbox workers send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Whether `mkoba serve` runs the senders (a process can leave it to others).
    pub workers: bool,
    pub poll_interval_ms: u64,
    pub batch_max: u32,
    pub send_concurrency: usize,
    /// A claimed message is retried by anyone after this long.
    pub lease_ms: u64,
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
    pub max_attempts: i32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            workers: true,
            poll_interval_ms: 250,
            batch_max: 50,
            send_concurrency: 8,
            lease_ms: 60_000,
            retry_base_ms: 2_000,
            retry_cap_ms: 600_000,
            max_attempts: 8,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    pub email_to: String,
    pub float_low_minor: i64,
}

/// A secret string: empty means "not configured". Never printed.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { "Secret(****)" } else { "Secret(unset)" })
    }
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
        }
    }
}

impl Default for PinConfig {
    fn default() -> Self {
        PinConfig {
            length: 4,
            max_attempts: 3,
            argon2: Argon2Config::default(),
            pepper: Secret::default(),
            verify_concurrency: 2,
        }
    }
}

impl Default for Argon2Config {
    /// OWASP's argon2id setting: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Argon2Config { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
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

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig { batch_max: 256, queue_depth: 8_192, day_utc_offset_minutes: 180 }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { pool_size: 16, min_idle: 1, pool_timeout_ms: 5_000, busy_timeout_ms: 5_000 }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        // One aggregator address carries every subscriber's traffic, so the
        // per-source limit is far above any real peak; it stops floods.
        RateLimits {
            per_msisdn_per_minute: 60,
            global_per_second: 50_000,
            per_source_per_second: 2_000,
            per_source_burst: 4_000,
            source_keys_max: 100_000,
            wrong_pins_per_source: 10_000,
            wrong_pins_window_s: 3_600,
        }
    }
}

impl Default for UssdConfig {
    fn default() -> Self {
        UssdConfig { session_timeout_s: 180, resume_window_s: 120, deadline_ms: 10_000 }
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            base_url: "https://api.africastalking.com".into(),
            username: "sandbox".into(),
            api_key: Secret::default(),
            sender_id: String::new(),
            config_error_backoff_s: 900,
            reply_from_inbound_to: false,
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig { url: Secret::default(), from: "mkoba <alerts@localhost>".into() }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig { email_to: String::new(), float_low_minor: 100_000 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Environment variables that belong to tooling, not to the config tree.
const ENV_NOT_KEYS: &[&str] = &["MKOBA_CONFIG", "MKOBA_LOG", "MKOBA_LOG_FORMAT"];

impl ConfigError {
    /// Names the variable when the bad value (or unknown key) came from one,
    /// else the file.
    fn from_layers(e: config::ConfigError, path: &str, vars: &config::Map<String, String>) -> ConfigError {
        let key = match &e {
            config::ConfigError::Type { key, .. } | config::ConfigError::At { key, .. } => key.clone(),
            _ => None,
        };
        let message = e.to_string();
        let unknown = message.split("unknown field `").nth(1).and_then(|rest| rest.split('`').next());
        let key = match (key, unknown) {
            (Some(key), Some(field)) => format!("{key}.{field}"),
            (None, Some(field)) => field.to_string(),
            (key, None) => key.unwrap_or_default(),
        };
        let var = vars
            .keys()
            .find(|var| {
                let var_key = var["MKOBA_".len()..].to_ascii_lowercase().replace("__", ".");
                !key.is_empty() && (var_key == key || var_key.starts_with(&format!("{key}.")))
            })
            .cloned();
        match (var, e) {
            (Some(var), e) => ConfigError::Env { var, message: e.to_string() },
            (None, config::ConfigError::FileParse { cause, .. }) => {
                ConfigError::Parse { path: path.into(), message: cause.to_string() }
            }
            (None, e) => ConfigError::Parse { path: path.into(), message: e.to_string() },
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let file = match path {
            Some(p) => Some((
                p.display().to_string(),
                std::fs::read_to_string(p)
                    .map_err(|source| ConfigError::Read { path: p.display().to_string(), source })?,
            )),
            None => None,
        };
        Config::from_sources(file.as_ref().map(|(p, t)| (p.as_str(), t.as_str())), std::env::vars())
    }

    /// Builds a config from a file's text and a set of environment variables:
    /// the defaults, the file over them, then the `MKOBA_…` variables
    /// (config-rs merges the layers key by key; a list replaces a list).
    /// Variables stay text: each value takes the type of the field it sets,
    /// so a token `0123` stays a string and `MKOBA_PIN__LENGTH=4` is a number.
    pub fn from_sources(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let defaults = config::Config::try_from(&Config::default()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut layers = config::Config::builder().add_source(defaults);
        if let Some((_, text)) = file {
            layers = layers.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        let vars: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("MKOBA_") && !ENV_NOT_KEYS.contains(&k.as_str()))
            .filter(|(k, _)| !k.starts_with("MKOBA_TEST_") && !k.starts_with("MKOBA_BARS_"))
            .collect();
        let layers = layers.add_source(
            config::Environment::with_prefix("MKOBA").prefix_separator("_").separator("__").source(Some(vars.clone())),
        );
        let path = file.map_or("(merged configuration)", |(path, _)| path);
        let config: Config = layers
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(|e| ConfigError::from_layers(e, path, &vars))?;
        config.validate()?;
        Ok(config)
    }

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

    /// Checks what types alone cannot: limits that make sense together and
    /// tariffs that keep micro payments cheap.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if self.currency.minor_digits > 4 || self.currency.code.len() != 3 {
            return invalid("currency.code must be 3 letters and currency.minor_digits at most 4".into());
        }
        if !(4..=8).contains(&self.pin.length) {
            return invalid("pin.length must be between 4 and 8".into());
        }
        if self.service_code.0.is_empty() {
            return invalid("service_code needs at least one code, e.g. \"*384#\"".into());
        }
        for code in &self.service_code.0 {
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
        let kinds = [
            ("p2p", &self.tariffs.p2p, true),
            ("merchant_payment", &self.tariffs.merchant_payment, true),
            ("cash_in", &self.tariffs.cash_in, false),
            ("cash_out", &self.tariffs.cash_out, false),
        ];
        for (kind, bands, one_percent) in kinds {
            validate_bands(kind, bands, one_percent).map_err(ConfigError::Invalid)?;
        }
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

    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        for secret in [
            &mut shown.webhook_token,
            &mut shown.pin.pepper,
            &mut shown.sms.api_key,
            &mut shown.smtp.url,
            &mut shown.sim_swap.check_token,
        ] {
            *secret = Secret::new(mask(secret));
        }
        shown.database_url = mask_url_password(&shown.database_url);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn mask(secret: &Secret) -> String {
    if secret.is_set() {
        "********".into()
    } else {
        String::new()
    }
}

/// `postgres://user:pw@host/db` → `postgres://user:****@host/db`.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****@{host}"),
        None => url.to_string(),
    }
}

fn validate_bands(kind: &str, bands: &[Band], one_percent: bool) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_the_contract() {
        let c = Config::from_sources(None, env(&[])).expect("defaults load");
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://mkoba.db");
        assert_eq!((c.currency.code.as_str(), c.currency.minor_digits), ("KES", 2));
        assert_eq!((c.country_code.as_str(), c.service_code.primary()), ("254", "*384#"));
        assert_eq!((c.pin.length, c.pin.max_attempts), (4, 3));
        assert_eq!(c.pin.argon2, Argon2Config { memory_kib: 19_456, iterations: 2, parallelism: 1 });
    }

    #[test]
    fn file_then_env_override_with_types() {
        let file = "listen = \"0.0.0.0:9000\"\n[pin]\nmax_attempts = 5\n[tiers.basic]\nmax_balance_minor = 1\nmax_transfer_minor = 1\nmax_daily_out_minor = 1\n";
        let c = Config::from_sources(
            Some(("test.toml", file)),
            env(&[
                ("MKOBA_PIN__MAX_ATTEMPTS", "7"),
                ("MKOBA_WEBHOOK_TOKEN", "1234"),
                ("MKOBA_TIERS__STANDARD__MAX_BALANCE_MINOR", "999"),
                ("MKOBA_CONFIG", "ignored.toml"),
                ("MKOBA_TEST_DATABASE_URL", "postgres://ignored"),
                ("PATH", "/bin"),
            ]),
        )
        .expect("loads");
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.pin.max_attempts, 7);
        assert_eq!(c.webhook_token.expose(), "1234");
        assert_eq!(c.tiers["basic"].max_balance_minor, 1);
        assert_eq!(c.tiers["standard"].max_balance_minor, 999);
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        let err = Config::from_sources(None, env(&[("MKOBA_PIN__MAX_ATTEMPTS", "three")])).expect_err("refused");
        assert!(err.to_string().contains("MKOBA_PIN__MAX_ATTEMPTS"), "{err}");
        let err = Config::from_sources(Some(("x.toml", "no_such_key = 1")), env(&[])).expect_err("refused");
        assert!(err.to_string().contains("no_such_key"), "{err}");
        assert!(Config::from_sources(None, env(&[("MKOBA_PIN__LENGTH", "2")])).is_err());
    }

    #[test]
    fn tariffs_that_overcharge_micro_payments_are_refused() {
        let too_dear = "[tariffs]\np2p = [{ up_to_minor = 10000, fee_minor = 200 }]\n";
        let err = Config::from_sources(Some(("t.toml", too_dear)), env(&[])).expect_err("refused");
        assert!(err.to_string().contains("1%") || err.to_string().contains("smallest"), "{err}");
        let fee_over_amount = "[tariffs]\ncash_out = [{ up_to_minor = 10000, fee_minor = 1 }]\n";
        assert!(Config::from_sources(Some(("t.toml", fee_over_amount)), env(&[])).is_err());
        let falling =
            "[tariffs]\ncash_in = [{ up_to_minor = 100 , fee_minor = 0}, { up_to_minor = 50, fee_minor = 0 }]\n";
        assert!(Config::from_sources(Some(("t.toml", falling)), env(&[])).is_err());
        let bands = "[[tariffs.p2p]]\nup_to_minor = 100000\nfee_minor = 0\n";
        let env_bands =
            env(&[("MKOBA_TARIFFS__CASH_IN", "[{ up_to_minor = 500, fee_minor = 0, commission_minor = 5 }]")]);
        let c = Config::from_sources(Some(("t.toml", bands)), env_bands).expect("valid");
        assert_eq!(c.tariffs.p2p.len(), 1);
        assert_eq!(c.tariffs.cash_in[0].commission_minor, 5);
    }

    #[test]
    fn per_source_limits_default_high_and_refuse_zero() {
        let r = Config::from_sources(None, env(&[])).expect("defaults").rate_limits;
        assert_eq!((r.per_source_per_second, r.per_source_burst, r.source_keys_max), (2_000, 4_000, 100_000));
        let c = Config::from_sources(None, env(&[("MKOBA_RATE_LIMITS__PER_SOURCE_BURST", "10")])).expect("loads");
        assert_eq!(c.rate_limits.per_source_burst, 10);
        for key in ["PER_SOURCE_PER_SECOND", "PER_SOURCE_BURST", "SOURCE_KEYS_MAX"] {
            let var = format!("MKOBA_RATE_LIMITS__{key}");
            let err = Config::from_sources(None, env(&[(var.as_str(), "0")])).expect_err("zero refused");
            assert!(err.to_string().contains("at least 1"), "{err}");
        }
    }

    #[test]
    fn service_code_is_one_code_or_a_list() {
        let file = |toml: &str| Config::from_sources(Some(("test.toml", toml)), env(&[]));
        assert_eq!(file("service_code = \"*384#\"\n").expect("one").service_code.all(), ["*384#"]);
        let many = file("service_code = [\"*384#\", \"*384*1234#\"]\n").expect("list");
        assert!(many.service_code.contains("*384*1234#") && many.service_code.contains(" *384# "));
        assert!(!many.service_code.contains("*385#"));
        let var = "MKOBA_SERVICE_CODE";
        let from_env = |raw: &str| Config::from_sources(None, env(&[(var, raw)]));
        assert_eq!(from_env(r#"["*384#","*384*1234#"]"#).expect("array").service_code.all(), ["*384#", "*384*1234#"]);
        assert_eq!(from_env("*384#,*384*1234#").expect("commas").service_code.all(), ["*384#", "*384*1234#"]);
        assert_eq!(from_env("*384*99#").expect("one").service_code.primary(), "*384*99#");
        assert!(file("service_code = \"384\"\n").is_err());
        assert!(file("service_code = []\n").is_err());
    }

    #[test]
    fn allowed_ips_from_a_toml_array_or_a_comma_separated_string() {
        let var = "MKOBA_WEBHOOKS__ALLOWED_IPS";
        let load = |raw: &str| Config::from_sources(None, env(&[(var, raw)]));
        let array = load(r#"["10.0.0.0/8", "2001:db8::/32"]"#).expect("TOML array");
        assert_eq!(array.webhooks.allowed_ips, ["10.0.0.0/8", "2001:db8::/32"]);
        let listed = load(" 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,").expect("comma-separated");
        assert_eq!(listed.webhooks.allowed_ips, ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]);
        let nets = listed.webhooks.allowed_nets().expect("parsed");
        assert!(nets[1].contains(&"192.168.1.7".parse::<std::net::IpAddr>().expect("ip")));
        assert_eq!(nets[1].prefix_len(), 32, "a single address is its own /32");
        assert!(load("").expect("empty").webhooks.allowed_ips.is_empty());
        assert!(Config::from_sources(None, env(&[])).expect("defaults").webhooks.allowed_ips.is_empty());
        for bad in ["10.0.0.0/33", "10.0.0.0/8,localhost", r#"["10.0.0.0/8", "nope"]"#] {
            let err = load(bad).expect_err("refused");
            assert!(err.to_string().contains("webhooks.allowed_ips"), "{bad}: {err}");
        }
        let file = "[webhooks]\nallowed_ips = [\"127.0.0.0/8\", \"::1\"]\n";
        let c = Config::from_sources(Some(("w.toml", file)), env(&[])).expect("from a file");
        assert_eq!(c.webhooks.allowed_nets().expect("parsed").len(), 2);
    }

    #[test]
    fn show_masks_secrets() {
        let c = Config::from_sources(
            None,
            env(&[
                ("MKOBA_WEBHOOK_TOKEN", "tok-secret-1"),
                ("MKOBA_PIN__PEPPER", "pepper-secret-2"),
                ("MKOBA_SMS__API_KEY", "api-secret-3"),
                ("MKOBA_DATABASE_URL", "postgres://u:dbpass-4@h/db"),
            ]),
        )
        .expect("loads");
        let shown = c.to_masked_toml();
        for secret in ["tok-secret-1", "pepper-secret-2", "api-secret-3", "dbpass-4"] {
            assert!(!shown.contains(secret), "{secret} leaked");
            assert!(!format!("{c:?}").contains(secret) || secret == "dbpass-4");
        }
        assert!(shown.contains("********"));
    }

    #[test]
    fn env_values_take_the_type_of_their_field() {
        let c = Config::from_sources(
            None,
            env(&[
                ("MKOBA_WEBHOOK_TOKEN", "0123"),
                ("MKOBA_PIN__PEPPER", "1e3"),
                ("MKOBA_SMS__API_KEY", "true"),
                ("MKOBA_PIN__LENGTH", "5"),
                ("MKOBA_NOTIFY__WORKERS", "false"),
                ("MKOBA_VELOCITY__OUT_COUNT_PER_HOUR__LIMIT", "3"),
                ("MKOBA_VELOCITY__OUT_COUNT_PER_HOUR__ACTION", "hold"),
                ("MKOBA_LOG", "debug"),
                ("MKOBA_LOG_FORMAT", "json"),
                ("MKOBA_BARS_WIDTH", "80"),
            ]),
        )
        .expect("loads");
        assert_eq!(c.webhook_token.expose(), "0123", "a token is never read as a number");
        assert_eq!(c.pin.pepper.expose(), "1e3");
        assert_eq!(c.sms.api_key.expose(), "true");
        assert_eq!(c.pin.length, 5);
        assert!(!c.notify.workers);
        assert_eq!(c.velocity.out_count_per_hour, LimitRule { limit: Some(3), action: RuleAction::Hold });
        assert_eq!(c.velocity.new_recipients_per_hour.limit, None);
        let err = Config::from_sources(None, env(&[("MKOBA_VELOCITY__OUT_COUNT_PER_HOUR__LIMIT", "x")]))
            .expect_err("not a number");
        assert!(err.to_string().contains("MKOBA_VELOCITY__OUT_COUNT_PER_HOUR__LIMIT"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_from_the_environment_too() {
        let err = Config::from_sources(None, env(&[("MKOBA_NO_SUCH_KEY", "1")])).expect_err("refused");
        assert!(err.to_string().contains("no_such_key"), "{err}");
        let err = Config::from_sources(Some(("x.toml", "")), env(&[("MKOBA_PIN__NO_SUCH", "1")])).expect_err("refused");
        assert!(err.to_string().contains("MKOBA_PIN__NO_SUCH") && !err.to_string().contains("x.toml"), "{err}");
        let err = Config::from_sources(None, env(&[("MKOBA_LISTEN__PORT", "1")])).expect_err("not a section");
        assert!(err.to_string().contains("MKOBA_LISTEN__PORT"), "{err}");
        let err = Config::from_sources(Some(("x.toml", "[pin]\nlenght = 5\n")), env(&[])).expect_err("refused");
        assert!(err.to_string().contains("lenght") && err.to_string().contains("x.toml"), "{err}");
        assert!(Config::from_sources(Some(("x.toml", "pin = [")), env(&[])).is_err(), "not TOML");
    }

    #[test]
    fn tables_merge_key_by_key_and_lists_replace() {
        let file = "[tiers.gold]\nmax_balance_minor = 5\nmax_transfer_minor = 5\nmax_daily_out_minor = 5\n[pin.argon2]\niterations = 3\n";
        let c = Config::from_sources(
            Some(("t.toml", file)),
            env(&[("MKOBA_TIERS__GOLD__MAX_DAILY_OUT_MINOR", "6"), ("MKOBA_PIN__ARGON2__MEMORY_KIB", "1024")]),
        )
        .expect("loads");
        assert_eq!(c.tiers.len(), 5, "the default tiers stay");
        assert_eq!((c.tiers["gold"].max_balance_minor, c.tiers["gold"].max_daily_out_minor), (5, 6));
        assert_eq!(c.pin.argon2, Argon2Config { memory_kib: 1024, iterations: 3, parallelism: 1 });
        let c =
            Config::from_sources(None, env(&[("MKOBA_TARIFFS__CASH_OUT", "[{ up_to_minor = 100, fee_minor = 0 }]")]))
                .expect("loads");
        assert_eq!(c.tariffs.cash_out, [Band { up_to_minor: 100, fee_minor: 0, commission_minor: 0 }]);
        assert_eq!(c.tariffs.p2p.len(), 8);
        let err = Config::from_sources(Some(("t.toml", "[[tariffs.p2p]]\nup_to_minor = 1\nfee = 0\n")), env(&[]))
            .expect_err("refused");
        assert!(err.to_string().contains("fee"), "{err}");
    }
}

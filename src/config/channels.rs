//! The channels' sections: the USSD codes and sessions, the SMS aggregator,
//! SMTP, the outbox workers and operator alerts.

use super::load::list;
use super::Secret;
use serde::{Deserialize, Serialize};

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

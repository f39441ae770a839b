//! The integrator API (SPEC §9) and the receipts of micro payments.

use super::Secret;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// A payment request, or an allowance not yet approved, expires after this.
    pub request_ttl_s: u64,
    /// Callback URLs may be `http://` (development and tests only).
    pub allow_http_callbacks: bool,
    /// The key API keys are hashed under (HMAC-SHA256); generated at first
    /// start. Every process serving the API must share it.
    pub key_secret: Secret,
    /// Request bodies larger than this get 413.
    pub max_body_bytes: usize,
    /// A callback POST not answered within this counts as failed.
    pub callback_timeout_ms: u64,
    /// Callback attempts back off from `callback_retry_base_ms` doubling up
    /// to `callback_retry_cap_ms`, for ever, until the endpoint says 2xx.
    pub callback_retry_base_ms: u64,
    pub callback_retry_cap_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            request_ttl_s: 600,
            allow_http_callbacks: false,
            key_secret: Secret::default(),
            max_body_bytes: 16 * 1024,
            callback_timeout_ms: 5_000,
            callback_retry_base_ms: 1_000,
            callback_retry_cap_ms: 3_600_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiptsConfig {
    /// A payer's receipt for a payment of at most this, confirmed on a USSD
    /// screen, goes into the daily digest instead of an SMS of its own.
    pub digest_below_minor: i64,
    /// The local hour (0-23, in `ledger.day_utc_offset_minutes`) at which
    /// the day's digest SMS goes out.
    pub digest_hour: u32,
}

impl Default for ReceiptsConfig {
    fn default() -> Self {
        ReceiptsConfig { digest_below_minor: 1_000, digest_hour: 20 }
    }
}

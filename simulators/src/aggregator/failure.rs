//! Failure injection: the modes `POST /sim/fail` sets and how a mode's
//! count runs down.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Failure injection. JSON form (for `POST /sim/fail`):
/// `{"mode":"none"}`, `{"mode":"http_500","count":3}`,
/// `{"mode":"recipient_failure","count":1,"status":"InvalidPhoneNumber","status_code":403}`,
/// `{"mode":"slow","count":2,"delay_ms":3000}`,
/// `{"mode":"delivery_failed","count":1,"failure_reason":"DeliveryFailure"}`,
/// `{"mode":"unauthorized"}` (HTTP 401, text body, as for wrong credentials),
/// `{"mode":"invalid_sender_id"}` (200, `Message: "InvalidSenderId"`, no
/// recipients: Africa's Talking's answer to a sender id it does not know).
/// [`Failure::recipient_status`] gives Africa's Talking's name for a
/// per-recipient status code (402 InvalidSenderId, 405 InsufficientBalance,
/// 501 GatewayError…).
///
/// `count` is the number of send requests (`POST /version1/messaging`) the
/// mode applies to; after that the simulator goes back to `none`. Without
/// `count` the mode stays until changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Failure {
    /// Everything works.
    #[default]
    None,
    /// Sends answer HTTP 500 and nothing is recorded.
    #[serde(rename = "http_500")]
    Http500 {
        #[serde(default)]
        count: Option<u32>,
    },
    /// Sends answer 201, but every recipient has a failure status (nothing is
    /// recorded, no delivery report).
    RecipientFailure {
        #[serde(default)]
        count: Option<u32>,
        #[serde(default = "default_recipient_status")]
        status: String,
        #[serde(default = "default_recipient_status_code")]
        status_code: u16,
    },
    /// Sends are answered normally, but only after `delay_ms`.
    Slow {
        #[serde(default)]
        count: Option<u32>,
        delay_ms: u64,
    },
    /// Sends are accepted (101 Success), but the message never reaches the
    /// inbox and the delivery report says `Failed`.
    DeliveryFailed {
        #[serde(default)]
        count: Option<u32>,
        #[serde(default = "default_failure_reason")]
        failure_reason: String,
    },
    /// Sends answer HTTP 401 with Africa's Talking's text body, whatever
    /// the credentials (as when an API key is revoked).
    Unauthorized {
        #[serde(default)]
        count: Option<u32>,
    },
    /// Sends answer 200 with `{"SMSMessageData":{"Message":"InvalidSenderId",
    /// "Recipients":[]}}`: nothing is recorded.
    InvalidSenderId {
        #[serde(default)]
        count: Option<u32>,
    },
}

/// Africa's Talking's name for a send-SMS recipient status code.
pub fn recipient_status_name(status_code: u16) -> &'static str {
    match status_code {
        100 => "Processed",
        101 => "Success",
        102 => "Queued",
        401 => "RiskHold",
        402 => "InvalidSenderId",
        403 => "InvalidPhoneNumber",
        404 => "UnsupportedNumberType",
        405 => "InsufficientBalance",
        406 => "UserInBlacklist",
        407 => "CouldNotRoute",
        409 => "DoNotDisturbRejection",
        500 => "InternalServerError",
        501 => "GatewayError",
        502 => "RejectedByGateway",
        _ => "Unknown",
    }
}

fn default_recipient_status() -> String {
    "InvalidPhoneNumber".to_string()
}

fn default_recipient_status_code() -> u16 {
    403
}

fn default_failure_reason() -> String {
    "DeliveryFailure".to_string()
}

impl Failure {
    /// The next `count` sends answer HTTP 500.
    pub fn http_500(count: u32) -> Self {
        Self::Http500 { count: Some(count) }
    }

    /// The next `count` sends get recipient status `InvalidPhoneNumber` (403).
    pub fn recipient_failure(count: u32) -> Self {
        Self::RecipientFailure {
            count: Some(count),
            status: default_recipient_status(),
            status_code: default_recipient_status_code(),
        }
    }

    /// The next `count` sends get recipient status `status_code` with
    /// Africa's Talking's name for it (402 InvalidSenderId, 501 GatewayError…).
    pub fn recipient_status(count: u32, status_code: u16) -> Self {
        Self::RecipientFailure {
            count: Some(count),
            status: recipient_status_name(status_code).to_string(),
            status_code,
        }
    }

    /// The next `count` sends (`None`: all, until changed) answer HTTP 401.
    pub fn unauthorized(count: Option<u32>) -> Self {
        Self::Unauthorized { count }
    }

    /// The next `count` sends (`None`: all, until changed) answer
    /// `InvalidSenderId` with no recipients.
    pub fn invalid_sender_id(count: Option<u32>) -> Self {
        Self::InvalidSenderId { count }
    }

    /// The next `count` sends are answered after `delay`.
    pub fn slow(count: u32, delay: Duration) -> Self {
        Self::Slow { count: Some(count), delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX) }
    }

    /// The next `count` sends are accepted but their delivery fails.
    pub fn delivery_failed(count: u32) -> Self {
        Self::DeliveryFailed { count: Some(count), failure_reason: default_failure_reason() }
    }

    pub(super) fn count_mut(&mut self) -> Option<&mut Option<u32>> {
        match self {
            Self::None => None,
            Self::Http500 { count }
            | Self::RecipientFailure { count, .. }
            | Self::Slow { count, .. }
            | Self::DeliveryFailed { count, .. }
            | Self::Unauthorized { count }
            | Self::InvalidSenderId { count } => Some(count),
        }
    }
}

//! What the aggregator adapters hand the channels: one type per kind of
//! inbound event, whatever aggregator it came from. Adapters build these
//! and import no channel; channels take these and import no adapter.

use crate::domain::Msisdn;

/// One hop, whatever aggregator it came from.
#[derive(Debug, Clone)]
pub struct UssdRequest {
    pub aggregator: &'static str,
    pub session_id: String,
    pub service_code: String,
    pub msisdn: Msisdn,
    /// Every input so far joined by `*`. Carries PINs: never log or store it.
    pub text: String,
    /// The address the webhook came from (wrong PINs are counted per source).
    pub source: Option<String>,
}

/// An inbound SMS.
#[derive(Debug, Clone)]
pub struct InboundSms {
    pub aggregator: &'static str,
    pub id: String,
    pub from: Msisdn,
    /// The short code or number the customer texted.
    pub to: String,
    /// Africa's Talking's premium/on-demand SMS `linkId` (empty if none).
    pub link_id: String,
    /// Carries PINs: never logged or stored.
    pub text: String,
    /// The address the webhook came from (wrong PINs are counted per source).
    pub source: Option<String>,
}

/// How a USSD session ended, as the aggregator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Success,
    /// The caller dropped or timed out: the session may be resumed.
    Incomplete,
    Failed,
}

impl SessionEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::Success => "success",
            SessionEnd::Incomplete => "incomplete",
            SessionEnd::Failed => "failed",
        }
    }
}

/// A session-end notification, without its `input`.
#[derive(Debug, Clone)]
pub struct UssdSessionEvent {
    pub session_id: String,
    pub msisdn: Option<Msisdn>,
    pub status: SessionEnd,
    pub hops_count: i32,
    pub duration_ms: i64,
    pub cost: String,
    pub error_message: String,
    pub service_code: String,
    pub network_code: String,
}

//! An Africa's Talking send-SMS aggregator simulator.
//!
//! A real actix-web HTTP server speaking `POST /version1/messaging` exactly
//! as Africa's Talking does, keeping each phone's inbox, with failure
//! injection and delivery reports. Start it in-process with
//! [`start_aggregator`]; the returned [`AggregatorHandle`] gives direct access
//! to the inboxes, the counters and the failure switch, and stops the server
//! when dropped.
//!
//! HTTP API (besides `POST /version1/messaging`):
//!
//! | Route | Meaning |
//! |---|---|
//! | `GET /health` | `{"status":"ok"}` |
//! | `POST /sim/fail` | JSON [`Failure`], e.g. `{"mode":"http_500","count":3}` |
//! | `GET /sim/fail` | the failure mode now in force |
//! | `POST /sim/config` | `{"delivery_callback":"URL" or "", "delivery_delay_ms":N}` |
//! | `GET /sim/inbox/{phone}` | `{"phone":"2547…","messages":[…]}` |
//! | `DELETE /sim/inbox/{phone}` | clear one inbox |
//! | `GET /sim/messages` | `{"count":N,"messages":[…]}` (every accepted message) |
//! | `DELETE /sim/inbox` | clear every inbox and the delivery-report log |
//! | `GET /sim/deliveries` | delivery reports posted so far and their outcome |
//! | `GET /sim/stats` | counters |

//!
//! This module owns the public types (the configuration, the messages, the
//! delivery reports, the counters); the failure modes are in `failure`, the
//! running server and its handle in `handle`, the shared state in `state`,
//! the send-SMS endpoint in `send`, the `/sim/…` control API in `sim_api`
//! and the delivery reports' posting in `delivery`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::msisdn;

mod delivery;
mod failure;
mod handle;
mod send;
mod sim_api;
mod state;

pub use delivery::redact_url;
pub use failure::{recipient_status_name, Failure};
pub use handle::{start_aggregator, AggregatorHandle};

/// How the simulator is set up. Every field has a sensible default
/// (`AggregatorConfig::default()` binds 127.0.0.1 on a free port with API
/// key `sim-api-key`, any username, no delivery callback).
#[derive(Clone, Debug)]
pub struct AggregatorConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Value the `apiKey` header must carry (otherwise 401).
    pub api_key: String,
    /// `Some(u)`: the `username` form field must equal `u` (otherwise 401).
    /// `None`: any non-empty username is accepted.
    pub username: Option<String>,
    /// Where delivery reports are POSTed, e.g.
    /// `http://127.0.0.1:8080/webhooks/africastalking/delivery?token=T`.
    /// Can be changed later with [`AggregatorHandle::set_delivery_callback`].
    pub delivery_callback: Option<String>,
    /// Delay between accepting a message and posting its delivery report.
    pub delivery_delay: Duration,
    /// Attempts to post one delivery report (transport errors and 5xx are
    /// retried; a 4xx answer is not).
    pub delivery_attempts: u32,
    /// Wait before the first retry; doubled for each further retry.
    pub delivery_retry_backoff: Duration,
    /// Timeout of one delivery-report POST.
    pub delivery_timeout: Duration,
    /// Country code used to normalise national numbers (`0712…`).
    pub country_code: String,
    /// Sender shown in the inbox when a send has no `from` field.
    pub default_sender: String,
    /// `networkCode` in delivery reports.
    pub network_code: String,
    /// Currency of the per-message cost.
    pub cost_currency: String,
    /// Cost of one message in ten-thousandths (8000 → `KES 0.8000`).
    pub cost_per_message_e4: u64,
    /// actix-web worker threads.
    pub workers: usize,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api_key: "sim-api-key".to_string(),
            username: None,
            delivery_callback: None,
            delivery_delay: Duration::from_millis(20),
            delivery_attempts: 4,
            delivery_retry_backoff: Duration::from_millis(200),
            delivery_timeout: Duration::from_secs(5),
            country_code: msisdn::DEFAULT_COUNTRY_CODE.to_string(),
            default_sender: "AFRICASTKNG".to_string(),
            network_code: "63902".to_string(),
            cost_currency: "KES".to_string(),
            cost_per_message_e4: 8000,
            workers: 1,
        }
    }
}

/// One accepted SMS, as kept in the inboxes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The `messageId` returned to the sender (`ATXid_…`).
    pub id: String,
    /// Recipient, E.164 digits without `+`.
    pub to: String,
    /// Sender id (`from` form field, or the configured default).
    pub from: String,
    /// The text.
    pub message: String,
    /// The `linkId` form field (premium/on-demand SMS: the inbound message
    /// this one answers), if the send had one.
    #[serde(default)]
    pub link_id: Option<String>,
    /// Milliseconds since the Unix epoch when it was accepted.
    pub received_at_ms: u64,
    /// `false` when a `delivery_failed` failure was in force: the message is
    /// kept in [`AggregatorHandle::messages`] but not in the phone's inbox,
    /// and its delivery report says `Failed`.
    pub delivered: bool,
}

/// A delivery report the simulator posted (or tried to post).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// `id` field: the message's `messageId`.
    pub message_id: String,
    /// `phoneNumber` field (`+254…`).
    pub phone_number: String,
    /// `status` field: `Success` or `Failed`.
    pub status: String,
    /// `failureReason` field (empty on success).
    pub failure_reason: String,
    /// Where it was posted (the token in the query is masked).
    pub callback: String,
    /// POST attempts made.
    pub attempts: u32,
    /// HTTP status of the last answer, if any.
    pub http_status: Option<u16>,
    /// Whether the receiver answered 2xx.
    pub ok: bool,
    /// Last transport error, if any.
    pub error: Option<String>,
}

/// Counters, as returned by `GET /sim/stats` and [`AggregatorHandle::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every `POST /version1/messaging`, whatever its outcome.
    pub requests: u64,
    /// Requests refused as a whole (401, 400, injected 500).
    pub rejected: u64,
    /// Recipients accepted (statusCode 101).
    pub sent: u64,
    /// Recipients refused (invalid number or injected recipient failure).
    pub failed_recipients: u64,
    /// Delivery reports the callback acknowledged with 2xx.
    pub delivery_reports_ok: u64,
    /// Delivery reports given up on.
    pub delivery_reports_failed: u64,
}

#[cfg(test)]
mod tests;

//! The phone's network: USSD hops to mkoba, the session-end events
//! Africa's Talking posts after a session, and polling the SMS inbox from
//! mkoba's local inbox or the aggregator simulator. Errors are plain
//! sentences without URLs (they carry the webhook token).

use std::time::Duration;

use serde::Deserialize;

use super::sms::Sms;
use super::state::{HopRequest, SessionEnd};
use crate::aggregator::Message;
use crate::inbox::local_inbox;
use crate::ussd::{webhook_url, UssdClient, UssdReply};

/// Path of mkoba's USSD events callback.
pub const EVENTS_PATH: &str = "/webhooks/africastalking/ussd-events";

/// Where the phone's SMS come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmsSource {
    /// mkoba's `/dev/inbox/{phone}` (mkoba has no SMS credentials).
    Local,
    /// The aggregator simulator's `/sim/inbox/{phone}` at this base URL.
    Aggregator(String),
    Off,
}

impl SmsSource {
    pub fn label(&self) -> &'static str {
        match self {
            SmsSource::Local => "mkoba local inbox",
            SmsSource::Aggregator(_) => "aggregator simulator",
            SmsSource::Off => "off",
        }
    }
}

/// How the phone reaches mkoba and its SMS (its `Debug` hides the token).
#[derive(Clone)]
pub struct Net {
    pub http: reqwest::Client,
    /// mkoba's base URL.
    pub url: String,
    pub token: String,
    pub network_code: String,
    /// E.164 digits.
    pub phone: String,
    pub sms: SmsSource,
    /// Post session-end events to mkoba, as Africa's Talking does.
    pub events: bool,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("url", &self.url)
            .field("token", &"<hidden>")
            .field("phone", &self.phone)
            .field("sms", &self.sms)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

impl Net {
    /// One hop; `Err` says why there was no answer.
    pub async fn hop(&self, hop: &HopRequest) -> Result<UssdReply, String> {
        let client = UssdClient::new(self.http.clone(), &self.url, &self.token, &hop.service_code, &self.network_code)
            .map_err(|e| e.to_string())?;
        client.hop(&hop.session_id, &self.phone, &hop.text).await.map_err(|e| e.to_string())
    }

    /// Posts how a session ended; mkoba answers 200 and records it.
    pub async fn session_ended(&self, end: &SessionEnd) -> Result<(), String> {
        if !self.events {
            return Ok(());
        }
        let url = webhook_url(&self.url, EVENTS_PATH, &self.token).map_err(|e| e.to_string())?;
        let date = time::OffsetDateTime::now_utc();
        let date = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            date.year(),
            u8::from(date.month()),
            date.day(),
            date.hour(),
            date.minute(),
            date.second()
        );
        let (hops, duration) = (end.hops.to_string(), end.duration_ms.to_string());
        let phone = crate::msisdn::plus_e164(&self.phone);
        let form = [
            ("date", date.as_str()),
            ("sessionId", end.session_id.as_str()),
            ("serviceCode", end.service_code.as_str()),
            ("networkCode", self.network_code.as_str()),
            ("phoneNumber", phone.as_str()),
            ("status", end.status),
            ("cost", "KES 0.0000"),
            ("durationInMillis", duration.as_str()),
            ("hopsCount", hops.as_str()),
            ("input", end.input.as_str()),
            ("lastAppResponse", end.last_response.as_str()),
            ("errorMessage", ""),
        ];
        let resp = self.http.post(url).form(&form).send().await.map_err(|e| e.without_url().to_string())?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            status => Err(format!("session-end event: HTTP {status}")),
        }
    }

    /// The phone's messages as the source has them now, oldest first.
    pub async fn poll_sms(&self) -> Result<Vec<Sms>, String> {
        match &self.sms {
            SmsSource::Off => Ok(Vec::new()),
            SmsSource::Local => {
                let messages = local_inbox(&self.http, &self.url, &self.token, &self.phone).await;
                let messages = messages.map_err(|e| e.to_string())?;
                Ok(messages
                    .into_iter()
                    .map(|m| Sms::new(format!("local:{}", m.id), m.from, m.message, m.created_at_ms))
                    .collect())
            }
            SmsSource::Aggregator(base) => aggregator_inbox(&self.http, base, &self.phone).await,
        }
    }
}

#[derive(Deserialize)]
struct SimInbox {
    messages: Vec<Message>,
}

async fn aggregator_inbox(http: &reqwest::Client, base: &str, phone: &str) -> Result<Vec<Sms>, String> {
    let url = format!("{}/sim/inbox/{phone}", base.trim_end_matches('/'));
    let resp = http.get(url).send().await.map_err(|e| format!("aggregator: {}", e.without_url()))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(format!("aggregator: HTTP {status}"));
    }
    let inbox: SimInbox = resp.json().await.map_err(|e| format!("aggregator: {}", e.without_url()))?;
    Ok(inbox
        .messages
        .into_iter()
        .map(|m| {
            let at_ms = i64::try_from(m.received_at_ms).unwrap_or(i64::MAX);
            Sms::new(m.id, m.from, m.message, at_ms)
        })
        .collect())
}

/// An HTTP client for the phone: `timeout_ms` per request.
pub fn http_client(timeout_ms: u64) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(timeout_ms.max(1)))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

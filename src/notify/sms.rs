//! Outbound SMS through Africa's Talking's messaging API.

use super::outbox::{Attempt, OutboxRow};
pub use super::retry::RetryPolicy;
use crate::config::SmsConfig;
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone)]
pub struct SmsSender {
    client: reqwest::Client,
    url: String,
    username: String,
    api_key: String,
    sender_id: String,
}

#[derive(Debug, Deserialize)]
struct Reply {
    #[serde(rename = "SMSMessageData")]
    data: ReplyData,
}

#[derive(Debug, Deserialize)]
struct ReplyData {
    #[serde(rename = "Recipients", default)]
    recipients: Vec<Recipient>,
    #[serde(rename = "Message", default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct Recipient {
    #[serde(rename = "statusCode", default)]
    status_code: i64,
    #[serde(default)]
    status: String,
    #[serde(rename = "messageId", default)]
    message_id: String,
}

impl SmsSender {
    pub fn new(config: &SmsConfig) -> Result<SmsSender, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(SmsSender {
            client,
            url: format!("{}/version1/messaging", config.base_url.trim_end_matches('/')),
            username: config.username.clone(),
            api_key: config.api_key.expose().to_string(),
            sender_id: config.sender_id.clone(),
        })
    }

    pub async fn send(&self, row: &OutboxRow, now_ms: i64, policy: &RetryPolicy) -> Attempt {
        let to = format!("+{}", row.recipient.trim_start_matches('+'));
        let mut form = vec![("username", self.username.as_str()), ("to", to.as_str()), ("message", row.body.as_str())];
        if !self.sender_id.is_empty() {
            form.push(("from", self.sender_id.as_str()));
        }
        let response = self
            .client
            .post(&self.url)
            .header("apiKey", &self.api_key)
            .header("Accept", "application/json")
            .form(&form)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return policy.after(row, format!("aggregator unreachable: {}", e.without_url()), now_ms),
        };
        let status = response.status();
        if !status.is_success() {
            return policy.after(row, format!("aggregator answered HTTP {}", status.as_u16()), now_ms);
        }
        let reply: Reply = match response.json().await {
            Ok(r) => r,
            Err(e) => return policy.after(row, format!("unreadable aggregator reply: {}", e.without_url()), now_ms),
        };
        let Some(recipient) = reply.data.recipients.first() else {
            return policy.after(row, format!("no recipient in reply: {}", reply.data.message), now_ms);
        };
        match recipient.status_code {
            // Processed, Sent, Queued.
            100..=102 => Attempt::Sent { provider_id: Some(recipient.message_id.clone()).filter(|s| !s.is_empty()) },
            // Insufficient balance and internal errors pass; the rest are about the message itself.
            405 | 500 => policy.after(row, format!("{} ({})", recipient.status, recipient.status_code), now_ms),
            code => Attempt::Failed { error: format!("{} ({code})", recipient.status) },
        }
    }
}

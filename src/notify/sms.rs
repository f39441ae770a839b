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

/// Longest piece of an aggregator's answer kept in logs and `last_error`.
const REASON_CHARS_MAX: usize = 200;

/// The aggregator's own words, made safe to log: one line, bounded, and
/// never the API key (should an answer echo it).
pub fn provider_reason(text: &str, api_key: &str) -> String {
    let text = if api_key.is_empty() { text.to_string() } else { text.replace(api_key, "****") };
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let trimmed = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    if trimmed.chars().count() > REASON_CHARS_MAX {
        format!("{}…", trimmed.chars().take(REASON_CHARS_MAX).collect::<String>())
    } else {
        trimmed
    }
}

/// Answers that mean mkoba's account or configuration is wrong, not the
/// message: sending again cannot help until an operator acts.
/// Recipient status codes: 401 RiskHold, 402 InvalidSenderId, 405
/// InsufficientBalance.
fn is_account_problem(status_code: i64) -> bool {
    matches!(status_code, 401 | 402 | 405)
}

/// A reply `Message` with no recipient that names an account problem.
fn is_account_message(message: &str) -> bool {
    ["InvalidSenderId", "RiskHold", "InsufficientBalance"].iter().any(|m| message.contains(m))
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

    /// Names this configuration (URL, username, API key, sender id) without
    /// revealing it: a configuration error is an incident of one fingerprint.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for part in [&self.url, &self.username, &self.api_key, &self.sender_id] {
            hash.update(part.as_bytes());
            hash.update([0u8]);
        }
        crate::domain::hex(&hash.finalize()[..8])
    }

    /// The username and sender id (not the key), for an operator's alert.
    pub fn describe(&self) -> String {
        let sender = if self.sender_id.is_empty() { "(none: the aggregator's default)" } else { &self.sender_id };
        format!("username {}, sender id {sender}, endpoint {}", self.username, self.url)
    }

    pub async fn send(&self, row: &OutboxRow, now_ms: i64, policy: &RetryPolicy) -> Attempt {
        let to = format!("+{}", row.recipient.trim_start_matches('+'));
        let mut form = vec![("username", self.username.as_str()), ("to", to.as_str()), ("message", row.body.as_str())];
        // A reply to an inbound SMS may go from the code it was sent to.
        let from = row.sender.as_deref().unwrap_or(self.sender_id.as_str());
        if !from.is_empty() {
            form.push(("from", from));
        }
        if let Some(link_id) = row.link_id.as_deref() {
            form.push(("linkId", link_id));
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
            let text = response.text().await.unwrap_or_default();
            let reason = provider_reason(&text, &self.api_key);
            let code = status.as_u16();
            if matches!(code, 401 | 403) {
                // Wrong or revoked credentials: every message would get the same.
                return Attempt::Held {
                    error: Some(format!("aggregator refused the credentials (HTTP {code}): {reason}")),
                };
            }
            return policy.after(row, format!("aggregator answered HTTP {code}: {reason}"), now_ms);
        }
        let reply: Reply = match response.json().await {
            Ok(r) => r,
            Err(e) => return policy.after(row, format!("unreadable aggregator reply: {}", e.without_url()), now_ms),
        };
        let Some(recipient) = reply.data.recipients.first() else {
            let message = provider_reason(&reply.data.message, &self.api_key);
            if is_account_message(&message) {
                return Attempt::Held { error: Some(format!("aggregator refused the configuration: {message}")) };
            }
            return policy.after(row, format!("no recipient in reply: {message}"), now_ms);
        };
        let described = format!("{} ({})", provider_reason(&recipient.status, &self.api_key), recipient.status_code);
        match recipient.status_code {
            // Processed, Sent, Queued.
            100..=102 => Attempt::Sent { provider_id: Some(recipient.message_id.clone()).filter(|s| !s.is_empty()) },
            code if is_account_problem(code) => {
                Attempt::Held { error: Some(format!("aggregator refused the configuration: {described}")) }
            }
            // The aggregator's or a gateway's own trouble: it passes.
            500 | 501 => policy.after(row, described, now_ms),
            // The rest are about the message itself (number, blacklist, route).
            _ => Attempt::Failed { error: described },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::provider_reason;

    #[test]
    fn provider_reasons_are_one_bounded_line_without_the_key() {
        assert_eq!(
            provider_reason("The supplied authentication is invalid\n", "k"),
            "The supplied authentication is invalid"
        );
        assert_eq!(provider_reason("bad key sk-123 given", "sk-123"), "bad key **** given");
        let long = "x".repeat(500);
        assert_eq!(provider_reason(&long, "").chars().count(), 201);
        assert_eq!(provider_reason("a\r\n\tb", ""), "a b");
    }
}

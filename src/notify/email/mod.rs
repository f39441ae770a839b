//! Email alerts over SMTP (lettre, rustls). One connection per message: the
//! outbox worker sends a handful of operator alerts, not bulk mail.
//!
//! `smtp.url` forms:
//! - `smtp://host[:port]` — plain SMTP, no TLS (a local relay or a test sink; port 25);
//! - `smtp://user:pass@host[:port]` — the same with AUTH (percent-encode `@`, `:` in user or password);
//! - `smtps://[user:pass@]host[:port]` — implicit TLS (port 465);
//! - `smtp+starttls://[user:pass@]host[:port]` — STARTTLS required (port 587).
//!
//! Tests send to `mkoba_simulators::smtp`, a small in-process SMTP server.

use super::outbox::{Attempt, OutboxRow};
use super::retry::RetryPolicy;
use crate::config::{NotifyConfig, SmtpConfig};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use smtp_url::{host_for_display, parse_url, Security};
use std::fmt;
use std::time::Duration;

mod smtp_url;

/// Connect and per-command timeout.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts (email does not read `notify.retry_cap_ms`).
const RETRY_CAP_MS: u64 = 3_600_000;
/// Provider ids are stored in the outbox; keep them short.
const PROVIDER_ID_MAX: usize = 200;

/// Sends outbox rows of the email channel. Cheap to clone.
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `scheme://host:port`, for logs and errors; never credentials.
    endpoint: String,
    /// Text scrubbed from error messages (the password, raw and decoded).
    secrets: Vec<String>,
}

impl fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSender").field("endpoint", &self.endpoint).field("from", &self.from.to_string()).finish()
    }
}

impl EmailSender {
    /// `Ok(None)` when `smtp.url` is not set. Errors never quote the password.
    pub fn from_config(smtp: &SmtpConfig) -> Result<Option<EmailSender>, String> {
        let url = smtp.url.expose().trim();
        if url.is_empty() {
            return Ok(None);
        }
        let parsed = parse_url(url)?;
        let from: Mailbox = smtp.from.trim().parse().map_err(|e| {
            format!("smtp.from '{}' is not a valid mailbox (e.g. mkoba <alerts@example.com>): {e}", smtp.from)
        })?;
        let tls_error =
            |e: lettre::transport::smtp::Error| format!("smtp.url: cannot set up TLS for {}: {e}", parsed.host);
        let builder = match parsed.security {
            Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(parsed.host.as_str()),
            Security::Wrapper => AsyncSmtpTransport::<Tokio1Executor>::relay(&parsed.host).map_err(tls_error)?,
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&parsed.host).map_err(tls_error)?
            }
        };
        let mut builder = builder.port(parsed.port).timeout(Some(SMTP_TIMEOUT));
        let mut secrets = Vec::new();
        if let Some((user, password)) = &parsed.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            secrets.push(password.clone());
        }
        secrets.extend(parsed.encoded_password.clone());
        // Scrubbing a very short password would mangle every message; such a
        // password is also very unlikely to be echoed by a server.
        secrets.retain(|s| s.len() >= 3);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        let scheme = match parsed.security {
            Security::Plain => "smtp",
            Security::Wrapper => "smtps",
            Security::StartTls => "smtp+starttls",
        };
        let endpoint = format!("{scheme}://{}:{}", host_for_display(&parsed.host), parsed.port);
        Ok(Some(EmailSender { transport: builder.build(), from, endpoint, secrets }))
    }

    /// How email is retried: `notify.retry_base_ms` and `notify.max_attempts`, capped at an hour.
    pub fn retry_policy(config: &NotifyConfig) -> RetryPolicy {
        RetryPolicy { base_ms: config.retry_base_ms, cap_ms: RETRY_CAP_MS, max_attempts: config.max_attempts }
    }

    /// Where mail goes (`scheme://host:port`), without credentials.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends one row as a plain-text email and says what came of it.
    pub async fn send(&self, row: &OutboxRow, now_ms: i64, policy: &RetryPolicy) -> Attempt {
        let (message, message_id) = match self.message(row) {
            Ok(built) => built,
            Err(error) => return Attempt::Failed { error },
        };
        match self.transport.send(message).await {
            Ok(response) => {
                let said = response.message().collect::<Vec<_>>().join(" ");
                let said = said.trim();
                let id = if said.is_empty() { message_id } else { said.chars().take(PROVIDER_ID_MAX).collect() };
                Attempt::Sent { provider_id: Some(id) }
            }
            Err(e) => {
                let error = self.scrub(format!("SMTP {}: {e}", self.endpoint));
                if e.is_permanent() {
                    Attempt::Failed { error }
                } else {
                    policy.after(row, error, now_ms)
                }
            }
        }
    }

    /// The email for a row, and its Message-ID. Errors are permanent.
    fn message(&self, row: &OutboxRow) -> Result<(Message, String), String> {
        let to: Mailbox = row
            .recipient
            .trim()
            .parse()
            .map_err(|e| format!("invalid recipient address '{}': {e}", row.recipient.escape_debug()))?;
        let domain = self.from.email.domain().to_string();
        let message_id = format!("<mkoba.{}.{:016x}@{domain}>", row.id, rand::random::<u64>());
        // A subject is one header line.
        let subject: String = row.subject.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(row.body.clone())
            .map_err(|e| format!("cannot build the email: {e}"))?;
        Ok((message, message_id))
    }

    fn scrub(&self, mut text: String) -> String {
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "****");
            }
        }
        text
    }
}

#[cfg(test)]
mod tests;

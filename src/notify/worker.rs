//! Background senders that drain the outbox: claim due messages with a
//! lease, send them, record what happened. Runs in every `mkoba serve`. The
//! SMS sender also queues the receipts of new transfers (see
//! [`super::receipts`]) before each batch it sends.

use super::email::EmailSender;
use super::outbox::{self, Attempt, Channel, OutboxRow};
use super::sms::{RetryPolicy, SmsSender};
use super::{receipts, Notices};
use crate::config::NotifyConfig;
use crate::domain::now_ms;
use crate::ledger::{Ledger, LedgerError};
use futures_util::stream::{self, StreamExt};
use std::sync::Arc;
use std::time::Duration;

/// Queues the receipts of up to `limit` new transfers; returns how many
/// transfers it passed. Reads first, so an idle system takes no write lock.
/// Declines waiting for their operator alert go in the same write.
pub async fn feed_receipts(ledger: &Ledger, notices: &Arc<Notices>, limit: i64) -> Result<usize, LedgerError> {
    let waiting = ledger.read(|conn| Ok(receipts::any_waiting(conn)? || receipts::any_decline_waiting(conn)?)).await?;
    if !waiting {
        return Ok(0);
    }
    let notices = notices.clone();
    ledger
        .write(move |conn| {
            receipts::feed_declines(conn, &notices, limit)?;
            receipts::feed(conn, &notices, limit)
        })
        .await
}

/// Claims and sends one batch; returns how many messages it handled.
pub async fn drain<F, Fut>(
    ledger: &Ledger,
    channel: Channel,
    config: &NotifyConfig,
    send: F,
) -> Result<usize, LedgerError>
where
    F: Fn(OutboxRow) -> Fut,
    Fut: std::future::Future<Output = (i64, Attempt)>,
{
    let (lease_ms, batch) = (i64::try_from(config.lease_ms).unwrap_or(30_000), i64::from(config.batch_max));
    let now = now_ms();
    if !ledger.read(move |conn| outbox::any_due(conn, channel, now)).await? {
        return Ok(0);
    }
    let rows = ledger.write(move |conn| outbox::claim_due(conn, channel, now, lease_ms, batch)).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let n = rows.len();
    // Each outcome is recorded as soon as its send returns, so the provider
    // id is stored before the aggregator's delivery report can arrive.
    let record = |(id, attempt): (i64, Attempt)| async move {
        match &attempt {
            Attempt::Sent { .. } => tracing::debug!(id, channel = channel.as_str(), "message sent"),
            Attempt::Retry { error, .. } => {
                tracing::warn!(id, channel = channel.as_str(), %error, "send failed; will retry")
            }
            Attempt::Failed { error } => {
                tracing::error!(id, channel = channel.as_str(), %error, "send failed for good")
            }
        }
        ledger.write(move |conn| outbox::record(conn, id, &attempt, now_ms())).await
    };
    let results: Vec<Result<(), LedgerError>> =
        stream::iter(rows).map(&send).buffer_unordered(config.send_concurrency.max(1)).then(record).collect().await;
    results.into_iter().collect::<Result<Vec<()>, LedgerError>>()?;
    Ok(n)
}

/// Queues receipts and sends SMS until the process stops.
pub async fn run_sms(ledger: Ledger, notices: Arc<Notices>, sender: SmsSender, config: NotifyConfig) {
    let policy =
        RetryPolicy { base_ms: config.retry_base_ms, cap_ms: config.retry_cap_ms, max_attempts: config.max_attempts };
    run(ledger, Channel::Sms, Some(notices), config, move |row| {
        let sender = sender.clone();
        async move { (row.id, sender.send(&row, now_ms(), &policy).await) }
    })
    .await;
}

/// Sends email until the process stops.
pub async fn run_email(ledger: Ledger, sender: EmailSender, config: NotifyConfig) {
    let policy = EmailSender::retry_policy(&config);
    run(ledger, Channel::Email, None, config, move |row| {
        let sender = sender.clone();
        async move { (row.id, sender.send(&row, now_ms(), &policy).await) }
    })
    .await;
}

async fn run<F, Fut>(ledger: Ledger, channel: Channel, feeds: Option<Arc<Notices>>, config: NotifyConfig, send: F)
where
    F: Fn(OutboxRow) -> Fut,
    Fut: std::future::Future<Output = (i64, Attempt)>,
{
    let idle = Duration::from_millis(config.poll_interval_ms.max(10));
    loop {
        if let Some(notices) = &feeds {
            // Two receipts a transfer: about one batch of messages per batch sent.
            if let Err(e) = feed_receipts(&ledger, notices, i64::from(config.batch_max / 2).max(1)).await {
                tracing::warn!(error = %e, "queueing receipts");
            }
        }
        match drain(&ledger, channel, &config, &send).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, channel = channel.as_str(), "outbox worker"),
        }
        tokio::time::sleep(idle).await;
    }
}

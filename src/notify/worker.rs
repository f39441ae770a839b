//! Background senders that drain the outbox: claim due messages with a
//! lease, send them, record what happened. Runs in every `mkoba serve`. The
//! SMS sender also queues the receipts of new transfers (see
//! [`super::receipts`]) before each batch it sends.
//!
//! When the aggregator refuses mkoba's configuration (credentials, sender
//! id, account), the SMS sender pauses instead of failing every message: the
//! messages stay pending, operators get one alert email per incident, and
//! after `sms.config_error_backoff_s` one message goes as a probe. A process
//! starts the same way, one message first, so a restart with corrected
//! settings resumes at once and one with the same settings sends one probe.

use super::email::EmailSender;
use super::outbox::{self, Attempt, Channel, OutboxRow};
use super::receipts::{self, Fed};
use super::sms::{RetryPolicy, SmsSender};
use super::Notices;
use crate::config::NotifyConfig;
use crate::domain::now_ms;
use crate::ledger::{Ledger, LedgerError};
use futures_util::stream::{self, StreamExt};
use futures_util::FutureExt;
use std::sync::Arc;
use std::time::Duration;

/// Queues the receipts of up to `limit` new transfers; returns how many
/// transfers it passed. Reads first, so an idle system takes no write lock.
/// Declines waiting for their operator alert go in the same write.
pub async fn feed_receipts(ledger: &Ledger, notices: &Arc<Notices>, limit: i64) -> Result<usize, LedgerError> {
    Ok(feed_receipts_within(ledger, notices, limit, usize::MAX).await?.transfers)
}

/// [`feed_receipts`], stopping once the receipts queued reach
/// `max_messages` (see [`receipts::feed_within`]).
async fn feed_receipts_within(
    ledger: &Ledger,
    notices: &Arc<Notices>,
    limit: i64,
    max_messages: usize,
) -> Result<Fed, LedgerError> {
    let waiting = ledger.read(|conn| Ok(receipts::any_waiting(conn)? || receipts::any_decline_waiting(conn)?)).await?;
    if !waiting {
        return Ok(Fed { transfers: 0, stopped_short: false });
    }
    let notices = notices.clone();
    ledger
        .write(move |conn| {
            receipts::feed_declines(conn, &notices, limit)?;
            receipts::feed_within(conn, &notices, limit, max_messages)
        })
        .await
}

/// Claims and sends a batch of at most `batch` messages; returns how many
/// it handled.
pub async fn drain<F, Fut>(
    ledger: &Ledger,
    channel: Channel,
    config: &NotifyConfig,
    batch: i64,
    send: F,
) -> Result<usize, LedgerError>
where
    F: Fn(OutboxRow) -> Fut,
    Fut: std::future::Future<Output = (i64, Attempt)>,
{
    let lease_ms = i64::try_from(config.lease_ms).unwrap_or(30_000);
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
            Attempt::Held { error: Some(error) } => {
                tracing::error!(id, channel = channel.as_str(), %error, "sending paused; the message waits")
            }
            Attempt::Held { error: None } => tracing::debug!(id, channel = channel.as_str(), "held: sending paused"),
            Attempt::KeptLocally => tracing::debug!(id, channel = channel.as_str(), "kept in the local inbox"),
        }
        ledger.write(move |conn| outbox::record(conn, id, &attempt, now_ms())).await
    };
    // Each message is sent and then recorded by a future of its own: a
    // record never waits for another message's record (the writer commits
    // records arriving together in one batch), so what was handed to the
    // aggregator is marked sent within one commit, which keeps the window a
    // crash can turn into a second copy short.
    let results: Vec<Result<(), LedgerError>> = stream::iter(rows)
        .map(|row| send(row).then(record))
        .buffer_unordered(config.send_concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, LedgerError>>()?;
    Ok(n)
}

/// Dedupe-key prefix of the alert about a refused SMS configuration; the
/// rest of the key is the configuration's fingerprint.
pub const SMS_CONFIG_ALERT: &str = "sms-config-error:";

/// Whether this process's SMS sender may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// Nothing sent since start: one message at a time until one goes.
    Unproven,
    Open,
    /// The aggregator refused the configuration: one probe at `probe_at_ms`.
    Paused {
        probe_at_ms: i64,
    },
}

struct SmsGate {
    gate: std::sync::Mutex<Gate>,
    backoff_ms: i64,
}

impl SmsGate {
    fn get(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many messages to claim now; `None`: paused, wait.
    fn batch(&self, now_ms: i64, batch_max: i64) -> Option<i64> {
        match *self.get() {
            Gate::Open => Some(batch_max),
            Gate::Unproven => Some(1),
            Gate::Paused { probe_at_ms } => (now_ms >= probe_at_ms).then_some(1),
        }
    }

    fn may_send(&self, now_ms: i64) -> bool {
        !matches!(*self.get(), Gate::Paused { probe_at_ms } if now_ms < probe_at_ms)
    }

    /// Pauses until a probe `backoff_ms` from now; true when it was not paused.
    fn pause(&self, now_ms: i64) -> bool {
        let mut gate = self.get();
        let was_paused = matches!(*gate, Gate::Paused { .. });
        *gate = Gate::Paused { probe_at_ms: now_ms.saturating_add(self.backoff_ms) };
        !was_paused
    }

    /// The aggregator took the configuration; true when it was not open.
    fn open(&self) -> bool {
        let mut gate = self.get();
        let was = *gate;
        *gate = Gate::Open;
        was != Gate::Open
    }
}

/// Queues receipts and sends SMS until the process stops.
pub async fn run_sms(
    ledger: Ledger,
    notices: Arc<Notices>,
    sender: SmsSender,
    config: NotifyConfig,
    config_error_backoff_s: u64,
) {
    let policy =
        RetryPolicy { base_ms: config.retry_base_ms, cap_ms: config.retry_cap_ms, max_attempts: config.max_attempts };
    let backoff_ms = i64::try_from(config_error_backoff_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let gate = Arc::new(SmsGate { gate: std::sync::Mutex::new(Gate::Unproven), backoff_ms });
    let idle = Duration::from_millis(config.poll_interval_ms.max(10));
    let batch_max = i64::from(config.batch_max).max(1);
    let send = |row: OutboxRow| {
        let (sender, gate, ledger, notices) = (sender.clone(), gate.clone(), ledger.clone(), notices.clone());
        async move {
            if !gate.may_send(now_ms()) {
                return (row.id, Attempt::Held { error: None });
            }
            let attempt = sender.send(&row, now_ms(), &policy).await;
            match &attempt {
                Attempt::Held { error: Some(reason) } if gate.pause(now_ms()) => {
                    tracing::error!(
                        %reason,
                        retry_in_s = config_error_backoff_s,
                        "outbound SMS paused: the aggregator refused mkoba's configuration; messages stay queued"
                    );
                    let (subject, body) = config_alert(&sender, reason, config_error_backoff_s);
                    let key = format!("{SMS_CONFIG_ALERT}{}", sender.fingerprint());
                    let alert = move |conn: &mut _| notices.alert(conn, subject.clone(), body.clone(), key.clone());
                    if let Err(e) = ledger.write(alert).await {
                        tracing::warn!(error = %e, "queueing the SMS configuration alert");
                    }
                }
                Attempt::Sent { .. } | Attempt::Failed { .. } if gate.open() => {
                    // The configuration works: an incident still open is over.
                    match ledger.write(|conn| outbox::resolve_alerts(conn, SMS_CONFIG_ALERT)).await {
                        Ok(0) => {}
                        Ok(_) => tracing::warn!("outbound SMS resumed: the aggregator took mkoba's configuration"),
                        Err(e) => tracing::warn!(error = %e, "closing the SMS configuration incident"),
                    }
                }
                _ => {}
            }
            (row.id, attempt)
        }
    };
    loop {
        let behind = feed(&ledger, &notices, batch_max).await;
        let Some(batch) = gate.batch(now_ms(), batch_max) else {
            tokio::time::sleep(idle).await;
            continue;
        };
        match drain(&ledger, Channel::Sms, &config, batch, &send).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, channel = "sms", "outbox worker"),
        }
        if !behind {
            tokio::time::sleep(idle).await;
        }
    }
}

/// The operator's alert: what the aggregator said, what mkoba does now,
/// what to do. Names the username and sender id, never the key.
fn config_alert(sender: &SmsSender, reason: &str, backoff_s: u64) -> (String, String) {
    (
        "mkoba: outbound SMS paused, the aggregator refused the configuration".to_string(),
        format!(
            "Africa's Talking refused mkoba's SMS configuration ({}):\n\n  {reason}\n\n\
             Outbound SMS are paused: every message stays queued, none is lost or marked failed.\n\
             mkoba sends one message as a probe every {backoff_s} s (sms.config_error_backoff_s) and \
             resumes when it goes through. Correct sms.username, sms.api_key or sms.sender_id (or the \
             account's balance) and restart mkoba to resume at once.\n",
            sender.describe()
        ),
    )
}

/// No aggregator account (`sms.api_key` empty): queues receipts and keeps
/// every SMS in the local inbox, sending nothing anywhere.
pub async fn run_local_sms(ledger: Ledger, notices: Arc<Notices>, config: NotifyConfig) {
    run(ledger, Channel::Sms, Some(notices), config, |row| async move { (row.id, Attempt::KeptLocally) }).await;
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
    let batch_max = i64::from(config.batch_max).max(1);
    loop {
        let behind = match &feeds {
            Some(notices) => feed(&ledger, notices, batch_max).await,
            None => false,
        };
        match drain(&ledger, channel, &config, batch_max, &send).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, channel = channel.as_str(), "outbox worker"),
        }
        if !behind {
            tokio::time::sleep(idle).await;
        }
    }
}

/// Transfers the feeder takes in one write at most: a few milliseconds of
/// the writer's time.
const FEED_MAX: i64 = 256;

/// One round of the receipts feeder in an SMS worker's loop. It queues
/// about one batch of SMS at most (two receipts a transfer: one batch of
/// messages per batch sent), so the feeder never runs far ahead of what
/// the SMS sender sends and a message queued outside it, an approval code
/// say, waits behind at most a batch of receipts. Transfers that queue no
/// SMS (charges under an allowance, which tell their till by callback and
/// the payer by the daily digest) it takes [`FEED_MAX`] at a time. Returns
/// whether the feeder is behind (it stopped at a limit rather than at the
/// newest transfer): the loop then goes round again without waiting.
async fn feed(ledger: &Ledger, notices: &Arc<Notices>, batch_max: i64) -> bool {
    let max_messages = usize::try_from(batch_max).unwrap_or(usize::MAX);
    match feed_receipts_within(ledger, notices, FEED_MAX, max_messages).await {
        Ok(fed) => fed.stopped_short,
        Err(e) => {
            tracing::warn!(error = %e, "queueing receipts");
            false
        }
    }
}

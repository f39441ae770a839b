//! Delivers callback events. The unit of work is a till: a sender leases
//! a till whose events are due, POSTs its oldest pending events, signed, to
//! its URL, and records what happened in one write. Runs in every `mkoba
//! serve`; several processes share the work safely (a lease is a
//! compare-and-set taken under the ledger's write lock, and outcomes are
//! recorded only under the lease they were sent under).
//!
//! The delivery state lives on the till (`merchant_callbacks`: next
//! attempt, lease, consecutive failures), so finding work costs one index
//! probe per till with a callback URL, never a read of every waiting event,
//! and a backlog of any size is taken a batch at a time, oldest first,
//! through an index that holds only pending events.
//!
//! A till's batch opens with one POST; only once that lands do the rest go,
//! several at once. A failure stops the batch (the events not yet sent
//! wait) and backs the till off exponentially (with jitter) for ever, so an
//! endpoint that is down or hangs costs one attempt per backoff, not one
//! per event, holds one delivery slot, delays no other till, and loses
//! nothing. A till is leased by one sender at a time, across processes.

use super::callbacks::{self, Endpoint, SIGNATURE_HEADER};
use crate::config::{ApiConfig, NotifyConfig};
use crate::db::prepared::{self, Prepared};
use crate::db::DbConn;
use crate::domain::now_ms;
use crate::ledger::{Ledger, LedgerError};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use futures_util::stream::{self, StreamExt};
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A pending event, with the body to POST.
#[derive(Debug, Clone, QueryableByName)]
pub struct DueEvent {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = BigInt)]
    pub account_id: i64,
    #[diesel(sql_type = Text)]
    pub payload: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// A till leased for delivery, with its oldest pending events.
#[derive(Debug)]
pub struct Claim {
    pub endpoint: Endpoint,
    /// The lease's end, which is also its token: outcomes are recorded on
    /// the till only while it still holds this value.
    pub lease_until_ms: i64,
    /// Consecutive failed attempts before this one.
    pub failures: i32,
    pub events: Vec<DueEvent>,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Leased {
    #[diesel(sql_type = BigInt)]
    account_id: i64,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Text)]
    secret: String,
    #[diesel(sql_type = Integer)]
    failures: i32,
}

/// Up to `limit` tills with a pending event that are neither backing off
/// nor leased, those waiting longest first. A read: it spares an idle
/// sender the write lock.
pub fn due_tills(conn: &mut DbConn, now_ms: i64, limit: i64) -> Result<Vec<i64>, LedgerError> {
    const SQL: &str = "SELECT m.account_id AS id FROM merchant_callbacks m \
        WHERE m.next_attempt_at_ms <= ? AND m.lease_until_ms < ? \
        AND EXISTS (SELECT 1 FROM callback_events e WHERE e.account_id = m.account_id AND e.status = 'pending') \
        ORDER BY m.next_attempt_at_ms, m.account_id LIMIT ?";
    let rows: Vec<Id> = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(now_ms)
        .bind::<BigInt, _>(now_ms)
        .bind::<BigInt, _>(limit.max(1))
        .load(c))?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Leases those of `tills` still due until `now_ms + lease_ms` and takes up
/// to `batch` of each one's oldest pending events. Call it in a write
/// transaction. A till that has none left is let go at once.
pub fn claim(
    conn: &mut DbConn,
    tills: &[i64],
    now_ms: i64,
    lease_ms: i64,
    batch: i64,
) -> Result<Vec<Claim>, LedgerError> {
    if tills.is_empty() {
        return Ok(Vec::new());
    }
    let lease_until_ms = now_ms.saturating_add(lease_ms);
    // The conditions again: the lease lands only on what is still due.
    let sql = format!(
        "UPDATE merchant_callbacks SET lease_until_ms = ? WHERE account_id IN {} \
         AND lease_until_ms < ? AND next_attempt_at_ms <= ? RETURNING account_id, url, secret, failures",
        prepared::row(tills.len())
    );
    let leased: Vec<Leased> = with_conn!(conn, c => {
        let mut q = Prepared::new(sql.clone()).bind::<BigInt, _>(lease_until_ms);
        for till in tills {
            q = q.bind::<BigInt, _>(*till);
        }
        q.bind::<BigInt, _>(now_ms).bind::<BigInt, _>(now_ms).load(c)
    })?;
    const EVENTS: &str = "SELECT id, event_id, account_id, payload, attempts FROM callback_events \
        WHERE account_id = ? AND status = 'pending' ORDER BY id LIMIT ?";
    let mut claims = Vec::with_capacity(leased.len());
    for till in leased {
        let events: Vec<DueEvent> = with_conn!(conn, c => Prepared::new(EVENTS)
            .bind::<BigInt, _>(till.account_id)
            .bind::<BigInt, _>(batch.max(1))
            .load(c))?;
        if events.is_empty() {
            release(conn, till.account_id, lease_until_ms, None, now_ms)?;
            continue;
        }
        let endpoint = Endpoint { account_id: till.account_id, url: till.url, secret: till.secret };
        claims.push(Claim { endpoint, lease_until_ms, failures: till.failures, events });
    }
    Ok(claims)
}

/// What became of a claimed batch.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Events the endpoint answered with a 2xx.
    pub delivered: Vec<i64>,
    /// Events whose POST failed, and why.
    pub failed: Vec<(i64, String)>,
}

/// Records a batch's outcome: its events delivered or failed (the events
/// not sent are left as they were), and the till let go, either ready for
/// its next batch or, after a failure, backing off until
/// `next_attempt_at_ms`. Call it in a write transaction.
pub fn record(
    conn: &mut DbConn,
    claim: &Claim,
    outcome: &Outcome,
    next_attempt_at_ms: i64,
    now_ms: i64,
) -> Result<(), LedgerError> {
    for ids in outcome.delivered.chunks(prepared::ROWS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE callback_events SET status = 'delivered', attempts = attempts + 1, last_error = NULL, \
             delivered_at_ms = ? WHERE id IN {} AND status = 'pending'",
            prepared::row(ids.len())
        );
        with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone()).bind::<BigInt, _>(now_ms);
            for id in ids {
                q = q.bind::<BigInt, _>(*id);
            }
            q.execute(c)
        })?;
    }
    const FAILED: &str =
        "UPDATE callback_events SET attempts = attempts + 1, last_error = ? WHERE id = ? AND status = 'pending'";
    for (id, error) in &outcome.failed {
        with_conn!(conn, c => Prepared::new(FAILED).bind::<Text, _>(error.clone()).bind::<BigInt, _>(*id).execute(c))?;
    }
    let backoff = (!outcome.failed.is_empty()).then_some(next_attempt_at_ms);
    release(conn, claim.endpoint.account_id, claim.lease_until_ms, backoff, now_ms)
}

/// Ends the till's lease `lease_until_ms`, if it still holds it: ready at
/// once, or after a failure backing off until the given time. A till
/// ready again goes behind the tills that have waited since before
/// `now_ms` ([`due_tills`] takes the longest-waiting first), so a few busy
/// tills cannot keep the delivery slots from the others.
fn release(
    conn: &mut DbConn,
    till: i64,
    lease_until_ms: i64,
    backoff: Option<i64>,
    now_ms: i64,
) -> Result<(), LedgerError> {
    const READY: &str = "UPDATE merchant_callbacks SET lease_until_ms = 0, failures = 0, next_attempt_at_ms = ? \
        WHERE account_id = ? AND lease_until_ms = ?";
    const BACK_OFF: &str = "UPDATE merchant_callbacks SET lease_until_ms = 0, failures = failures + 1, \
        next_attempt_at_ms = ? WHERE account_id = ? AND lease_until_ms = ?";
    match backoff {
        None => with_conn!(conn, c => Prepared::new(READY)
            .bind::<BigInt, _>(now_ms)
            .bind::<BigInt, _>(till)
            .bind::<BigInt, _>(lease_until_ms)
            .execute(c))?,
        Some(at) => with_conn!(conn, c => Prepared::new(BACK_OFF)
            .bind::<BigInt, _>(at)
            .bind::<BigInt, _>(till)
            .bind::<BigInt, _>(lease_until_ms)
            .execute(c))?,
    };
    Ok(())
}

/// When to try again after `attempts` earlier failures and this one:
/// base × 2^attempts capped, plus up to a tenth more at random, so many
/// tills' retries do not fall on the same instant.
pub fn next_attempt_at(base_ms: u64, cap_ms: u64, attempts: i32, now_ms: i64) -> i64 {
    let delay = super::retry::backoff_ms(base_ms, attempts, cap_ms.max(base_ms));
    let jitter = rand::rng().random_range(0..=delay / 10);
    now_ms.saturating_add(delay).saturating_add(jitter)
}

/// POSTs events to tills' endpoints.
#[derive(Clone)]
pub struct CallbackSender {
    client: reqwest::Client,
    timeout_ms: u64,
    retry_base_ms: u64,
    retry_cap_ms: u64,
}

impl CallbackSender {
    pub fn new(api: &ApiConfig) -> Result<CallbackSender, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(api.callback_timeout_ms.max(1)))
            .connect_timeout(Duration::from_millis(api.callback_timeout_ms.max(1)))
            // A redirect is not a 2xx: the merchant fixes the URL.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mkoba/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the callback HTTP client: {e}"))?;
        Ok(CallbackSender {
            client,
            timeout_ms: api.callback_timeout_ms,
            retry_base_ms: api.callback_retry_base_ms,
            retry_cap_ms: api.callback_retry_cap_ms,
        })
    }

    /// One POST of the event, signed now. `Err` says why it did not land.
    pub async fn post(&self, endpoint: &Endpoint, event: &DueEvent) -> Result<(), String> {
        let t = now_ms().div_euclid(1000);
        let signature = callbacks::sign(&endpoint.secret, t, &event.payload);
        let sent = self
            .client
            .post(&endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(event.payload.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
            Err(e) if e.is_timeout() => Err(format!("no answer within {} ms", self.timeout_ms)),
            // Without the URL: it is the merchant's and may carry a token.
            Err(e) => Err(e.without_url().to_string()),
        }
    }

    /// Delivers a claimed till's batch and records the outcome: the first
    /// event alone, then, once it landed, the rest `concurrency` at a
    /// time, stopping at the first failure.
    async fn deliver(&self, ledger: &Ledger, claim: Claim, concurrency: usize) {
        let mut outcome = Outcome::default();
        let endpoint = &claim.endpoint;
        let (opening, rest) = claim.events.split_at(claim.events.len().min(1));
        for first in opening {
            match self.post(endpoint, first).await {
                Ok(()) => outcome.delivered.push(first.id),
                Err(error) => outcome.failed.push((first.id, error)),
            }
        }
        if outcome.failed.is_empty() {
            let stop = AtomicBool::new(false);
            let stop = &stop;
            // By index: the events stay where they are, not copied.
            let sent: Vec<(i64, Option<Result<(), String>>)> = stream::iter(0..rest.len())
                .map(|i| async move {
                    let event = &rest[i];
                    if stop.load(Ordering::Relaxed) {
                        return (event.id, None);
                    }
                    let result = self.post(endpoint, event).await;
                    if result.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    (event.id, Some(result))
                })
                .buffered(concurrency.max(1))
                .collect()
                .await;
            for (id, result) in sent {
                match result {
                    Some(Ok(())) => outcome.delivered.push(id),
                    Some(Err(error)) => outcome.failed.push((id, error)),
                    None => {}
                }
            }
        }
        let host = url::Url::parse(&endpoint.url).ok().and_then(|u| u.host_str().map(str::to_string));
        let account_id = endpoint.account_id;
        let next = next_attempt_at(self.retry_base_ms, self.retry_cap_ms, claim.failures, now_ms());
        tracing::debug!(account_id, host = host.as_deref(), delivered = outcome.delivered.len(), "callbacks delivered");
        for (id, error) in &outcome.failed {
            let event = claim.events.iter().find(|e| e.id == *id);
            tracing::warn!(
                event_id = event.map(|e| e.event_id.as_str()),
                account_id,
                host = host.as_deref(),
                attempts = event.map(|e| e.attempts + 1),
                retry_in_ms = next.saturating_sub(now_ms()),
                %error,
                "callback failed; will retry"
            );
        }
        if let Err(e) = ledger.write(move |conn| record(conn, &claim, &outcome, next, now_ms())).await {
            // The lease runs out and the batch is sent again: at least once.
            tracing::warn!(account_id, error = %e, "recording callback attempts");
        }
    }
}

/// Leases up to `limit` due tills, each with up to `batch` events.
async fn claim_tills(ledger: &Ledger, lease_ms: i64, limit: i64, batch: i64) -> Result<Vec<Claim>, LedgerError> {
    let tills = ledger.read(move |conn| due_tills(conn, now_ms(), limit)).await?;
    if tills.is_empty() {
        return Ok(Vec::new());
    }
    ledger.write(move |conn| claim(conn, &tills, now_ms(), lease_ms, batch)).await
}

/// Delivers callback events until the process stops: up to
/// `notify.send_concurrency` tills at once, each a batch of up to
/// `notify.batch_max` events with up to `notify.send_concurrency` POSTs in
/// flight.
pub async fn run_callbacks(ledger: Ledger, sender: CallbackSender, notify: NotifyConfig) {
    let idle = Duration::from_millis(notify.poll_interval_ms.max(10));
    let tills_max = notify.send_concurrency.max(2);
    let concurrency = notify.send_concurrency.max(1);
    let batch = i64::from(notify.batch_max.max(1));
    // Long enough for a whole batch of slow answers, then the usual margin.
    let rounds = u64::try_from(batch).unwrap_or(u64::MAX).div_ceil(concurrency as u64).saturating_add(1);
    let lease_ms =
        i64::try_from(sender.timeout_ms.saturating_mul(rounds).saturating_add(notify.lease_ms)).unwrap_or(i64::MAX);
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        let free = tills_max.saturating_sub(in_flight.len());
        let mut claimed = 0;
        if free > 0 {
            match claim_tills(&ledger, lease_ms, i64::try_from(free).unwrap_or(1), batch).await {
                Ok(claims) => {
                    claimed = claims.len();
                    for claim in claims {
                        let (sender, ledger) = (sender.clone(), ledger.clone());
                        in_flight.spawn(async move { sender.deliver(&ledger, claim, concurrency).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming callback events"),
            }
        }
        if claimed == 0 {
            tokio::select! {
                _ = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = tokio::time::sleep(idle) => {}
            }
        }
    }
}

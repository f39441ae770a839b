//! Delivers callback events: claims due ones with a lease, POSTs each,
//! signed, to its till's URL, and records what happened. Runs in every
//! `mkoba serve`; several processes share the table safely (a claim is a
//! compare-and-set taken under the ledger's write lock).
//!
//! At most one event per till is in flight at a time, across processes,
//! and each POST has a timeout, so a till whose endpoint hangs holds one
//! delivery slot and delays nobody else. A failure backs off exponentially
//! (with jitter) for ever: the till's other pending events wait with it, so
//! an endpoint that is down costs one attempt per backoff, not one per
//! event, and loses nothing.

use super::callbacks::{self, Endpoint, SIGNATURE_HEADER};
use crate::config::{ApiConfig, NotifyConfig};
use crate::db::prepared::{self, Prepared};
use crate::db::DbConn;
use crate::domain::now_ms;
use crate::ledger::{Ledger, LedgerError};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text};
use rand::Rng;
use std::collections::HashMap;
use std::time::Duration;

/// A claimed event, with the body to POST.
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

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Whether any event may be due: a read that spares an idle sender the
/// write lock.
pub fn any_due(conn: &mut DbConn, now_ms: i64) -> Result<bool, LedgerError> {
    const SQL: &str = "SELECT id FROM callback_events WHERE status = 'pending' AND next_attempt_at_ms <= ? \
        AND lease_until_ms < ? LIMIT 1";
    let rows: Vec<Id> =
        with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(now_ms).bind::<BigInt, _>(now_ms).load(c))?;
    Ok(!rows.is_empty())
}

/// Claims, until `now_ms + lease_ms`, the oldest due event of up to `limit`
/// tills that have none in flight. Call it in a write transaction.
pub fn claim_due(conn: &mut DbConn, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<DueEvent>, LedgerError> {
    const OLDEST: &str = "SELECT MIN(id) AS id FROM callback_events WHERE status = 'pending' \
        AND next_attempt_at_ms <= ? AND lease_until_ms < ? AND account_id NOT IN \
        (SELECT account_id FROM callback_events WHERE status = 'pending' AND lease_until_ms >= ?) \
        GROUP BY account_id ORDER BY 1 LIMIT ?";
    let ids: Vec<Id> = with_conn!(conn, c => Prepared::new(OLDEST)
        .bind::<BigInt, _>(now_ms)
        .bind::<BigInt, _>(now_ms)
        .bind::<BigInt, _>(now_ms)
        .bind::<BigInt, _>(limit.max(1))
        .load(c))?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The lease condition again: the claim lands only on what was read.
    let sql = format!(
        "UPDATE callback_events SET lease_until_ms = ? WHERE id IN {} AND status = 'pending' AND lease_until_ms < ? \
         RETURNING id, event_id, account_id, payload, attempts",
        prepared::row(ids.len())
    );
    let mut rows: Vec<DueEvent> = with_conn!(conn, c => {
        let mut q = Prepared::new(sql.clone()).bind::<BigInt, _>(now_ms.saturating_add(lease_ms));
        for id in &ids {
            q = q.bind::<BigInt, _>(id.id);
        }
        q.bind::<BigInt, _>(now_ms).load(c)
    })?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// The event reached its endpoint.
pub fn record_delivered(conn: &mut DbConn, id: i64, now_ms: i64) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE callback_events SET status = 'delivered', attempts = attempts + 1, last_error = NULL, \
        lease_until_ms = 0, delivered_at_ms = ? WHERE id = ? AND status = 'pending'";
    with_conn!(conn, c => Prepared::new(SQL).bind::<BigInt, _>(now_ms).bind::<BigInt, _>(id).execute(c))?;
    Ok(())
}

/// The attempt failed: try again at `next_attempt_at_ms`, and so do the
/// till's other pending events not in flight.
pub fn record_failed(
    conn: &mut DbConn,
    event: &DueEvent,
    error: &str,
    next_attempt_at_ms: i64,
    now_ms: i64,
) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE callback_events SET attempts = attempts + 1, last_error = ?, next_attempt_at_ms = ?, \
        lease_until_ms = 0 WHERE id = ? AND status = 'pending'";
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Text, _>(error.to_string())
        .bind::<BigInt, _>(next_attempt_at_ms)
        .bind::<BigInt, _>(event.id)
        .execute(c))?;
    const OTHERS: &str = "UPDATE callback_events SET next_attempt_at_ms = ? WHERE account_id = ? \
        AND status = 'pending' AND next_attempt_at_ms < ? AND lease_until_ms < ?";
    with_conn!(conn, c => Prepared::new(OTHERS)
        .bind::<BigInt, _>(next_attempt_at_ms)
        .bind::<BigInt, _>(event.account_id)
        .bind::<BigInt, _>(next_attempt_at_ms)
        .bind::<BigInt, _>(now_ms)
        .execute(c))?;
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

    /// Delivers one claimed event and records the outcome.
    async fn deliver(&self, ledger: &Ledger, endpoint: Option<Endpoint>, event: DueEvent) {
        let outcome = match &endpoint {
            Some(endpoint) => self.post(endpoint, &event).await,
            None => Err("the till has no callback URL".to_string()),
        };
        let host = endpoint.as_ref().and_then(|e| url::Url::parse(&e.url).ok()?.host_str().map(str::to_string));
        let (id, event_id, account_id, attempts) = (event.id, event.event_id.clone(), event.account_id, event.attempts);
        let recorded = match outcome {
            Ok(()) => {
                tracing::debug!(%event_id, account_id, host = host.as_deref(), "callback delivered");
                ledger.write(move |conn| record_delivered(conn, id, now_ms())).await
            }
            Err(error) => {
                let next = next_attempt_at(self.retry_base_ms, self.retry_cap_ms, attempts, now_ms());
                let retry_in_ms = next.saturating_sub(now_ms());
                tracing::warn!(%event_id, account_id, host = host.as_deref(), attempts = attempts + 1, retry_in_ms, %error, "callback failed; will retry");
                ledger.write(move |conn| record_failed(conn, &event, &error, next, now_ms())).await
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(%event_id, error = %e, "recording a callback attempt");
        }
    }
}

/// Claims up to `limit` due events with their endpoints.
async fn claim(ledger: &Ledger, lease_ms: i64, limit: i64) -> Result<Vec<(Option<Endpoint>, DueEvent)>, LedgerError> {
    if !ledger.read(|conn| any_due(conn, now_ms())).await? {
        return Ok(Vec::new());
    }
    ledger
        .write(move |conn| {
            let events = claim_due(conn, now_ms(), lease_ms, limit)?;
            let ids: Vec<i64> = events.iter().map(|e| e.account_id).collect();
            let mut by_till: HashMap<i64, Endpoint> =
                callbacks::endpoints(conn, &ids)?.into_iter().map(|e| (e.account_id, e)).collect();
            Ok(events.into_iter().map(|e| (by_till.remove(&e.account_id), e)).collect())
        })
        .await
}

/// Delivers callback events until the process stops.
pub async fn run_callbacks(ledger: Ledger, sender: CallbackSender, notify: NotifyConfig) {
    let idle = Duration::from_millis(notify.poll_interval_ms.max(10));
    let in_flight_max = notify.send_concurrency.max(2);
    let lease_ms = i64::try_from(sender.timeout_ms.saturating_add(notify.lease_ms)).unwrap_or(i64::MAX);
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        let free = in_flight_max.saturating_sub(in_flight.len());
        let mut claimed = 0;
        if free > 0 {
            match claim(&ledger, lease_ms, i64::try_from(free).unwrap_or(1)).await {
                Ok(events) => {
                    claimed = events.len();
                    for (endpoint, event) in events {
                        let (sender, ledger) = (sender.clone(), ledger.clone());
                        in_flight.spawn(async move { sender.deliver(&ledger, endpoint, event).await });
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

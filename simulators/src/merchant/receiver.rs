//! A merchant's callback endpoint, in process: a real actix-web server that
//! verifies `Mkoba-Signature`, answers 2xx to valid events and 400 to bad
//! signatures or bodies, keeps each event id once (delivery is at least
//! once, so duplicates are expected and acknowledged without being stored
//! again), and can be told to fail (a status such as 500, a delay, or no
//! answer at all) for tests of mkoba's retries.
//!
//! It answers POSTs on any path, so a till's callback URL can be
//! [`CallbackReceiver::url`] or any path under [`CallbackReceiver::base_url`].

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, Notify};

use super::signature::{self, DEFAULT_TOLERANCE, SIGNATURE_HEADER};

/// Largest callback body read; mkoba's events are a few hundred bytes.
const BODY_MAX_BYTES: usize = 256 * 1024;

/// How the receiver is set up; [`ReceiverConfig::new`] gives the defaults.
#[derive(Clone)]
pub struct ReceiverConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The till's signing secret, exactly as `mkoba merchant update` printed it.
    pub secret: String,
    /// How far a signature's timestamp may be from now.
    pub tolerance: Duration,
    /// Failure mode from the first request on.
    pub failure: ReceiverFailure,
    /// actix-web worker threads.
    pub workers: usize,
}

impl ReceiverConfig {
    /// 127.0.0.1 on a free port, a 300 s tolerance, no failure, one worker.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            secret: secret.into(),
            tolerance: DEFAULT_TOLERANCE,
            failure: ReceiverFailure::None,
            workers: 1,
        }
    }
}

impl std::fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("listen", &self.listen)
            .field("secret", &"***")
            .field("tolerance", &self.tolerance)
            .field("failure", &self.failure)
            .field("workers", &self.workers)
            .finish()
    }
}

/// A callback event: `{"id", "type", "created_at", "data"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    /// `payment.received`, `charge.succeeded`, `allowance.approved`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// As mkoba sent it (SPEC does not fix its form).
    pub created_at: Value,
    pub data: Value,
}

/// An event that passed the signature check, first delivery only.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedEvent {
    pub event: Event,
    /// The body exactly as signed.
    pub body: String,
    /// `t` of its `Mkoba-Signature`.
    pub signed_at_s: i64,
    /// When it arrived, milliseconds since the Unix epoch.
    pub received_at_ms: u64,
}

/// Failure injection, applied to requests before anything else (as if the
/// merchant's server were down): nothing is verified or stored.
/// `count`: the number of requests it applies to, then back to `None`;
/// `None` count: until changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ReceiverFailure {
    #[default]
    None,
    /// Answer this status (e.g. 500) with an empty body.
    Status { status: u16, count: Option<u32> },
    /// Answer normally, but only after `delay_ms`.
    Delay { delay_ms: u64, count: Option<u32> },
    /// Never answer: the request hangs until the client gives up or the
    /// receiver stops.
    Hang { count: Option<u32> },
}

impl ReceiverFailure {
    /// The first `n` requests get 500.
    pub fn fail_first(n: u32) -> Self {
        Self::Status { status: 500, count: Some(n) }
    }

    /// The first `n` requests get no answer.
    pub fn hang_first(n: u32) -> Self {
        Self::Hang { count: Some(n) }
    }

    /// The first `n` requests are answered after `delay`.
    pub fn delay_first(n: u32, delay: Duration) -> Self {
        Self::Delay { delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), count: Some(n) }
    }

    fn count_mut(&mut self) -> Option<&mut Option<u32>> {
        match self {
            Self::None => None,
            Self::Status { count, .. } | Self::Delay { count, .. } | Self::Hang { count } => Some(count),
        }
    }
}

/// Counters of [`CallbackReceiver::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverStats {
    /// Every request, whatever its outcome.
    pub requests: u64,
    /// Requests answered by an injected failure.
    pub injected_failures: u64,
    /// Valid events seen for the first time (stored).
    pub accepted: u64,
    /// Valid events whose id was already stored (acknowledged, not stored).
    pub duplicates: u64,
    /// 400 for a missing, malformed, stale or wrong signature.
    pub bad_signatures: u64,
    /// 400 for a well-signed body that is not an event.
    pub bad_bodies: u64,
}

struct State {
    events: Vec<ReceivedEvent>,
    /// Valid deliveries per event id (first one included).
    deliveries: HashMap<String, u32>,
    failure: ReceiverFailure,
    stats: ReceiverStats,
    subscribers: Vec<mpsc::UnboundedSender<ReceivedEvent>>,
}

impl State {
    fn consume_failure(&mut self) -> ReceiverFailure {
        let current = self.failure.clone();
        let Some(count) = self.failure.count_mut() else {
            return ReceiverFailure::None;
        };
        match count {
            None => current,
            Some(0) => {
                self.failure = ReceiverFailure::None;
                ReceiverFailure::None
            }
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.failure = ReceiverFailure::None;
                }
                current
            }
        }
    }
}

struct Shared {
    secret: String,
    tolerance: Duration,
    state: Mutex<State>,
    notify: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running receiver. Dropping it stops the server.
pub struct CallbackReceiver {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: actix_web::dev::ServerHandle,
    task: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for CallbackReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackReceiver").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// Starts a receiver on `cfg.listen` and returns once it accepts
/// connections. Call inside a Tokio runtime (`#[tokio::test]` is fine).
pub async fn start_receiver(cfg: ReceiverConfig) -> io::Result<CallbackReceiver> {
    let listener = std::net::TcpListener::bind(cfg.listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        secret: cfg.secret,
        tolerance: cfg.tolerance,
        state: Mutex::new(State {
            events: Vec::new(),
            deliveries: HashMap::new(),
            failure: cfg.failure,
            stats: ReceiverStats::default(),
            subscribers: Vec::new(),
        }),
        notify: Notify::new(),
    });
    let data = web::Data::from(Arc::clone(&shared));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(BODY_MAX_BYTES))
            .default_service(web::to(handler::receive))
    })
    .workers(cfg.workers.max(1))
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let server_handle = server.handle();
    let task = tokio::spawn(server);
    tracing::info!(%addr, "callback receiver listening");
    Ok(CallbackReceiver { shared, addr, server: server_handle, task: Some(task) })
}

impl CallbackReceiver {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/mkoba/callbacks`: a callback URL for the till.
    pub fn url(&self) -> String {
        format!("{}/mkoba/callbacks", self.base_url())
    }

    /// Stored events (each id once), oldest first.
    pub fn events(&self) -> Vec<ReceivedEvent> {
        self.shared.lock().events.clone()
    }

    /// Valid deliveries of `event_id` so far (0 if never seen; 2 after one
    /// duplicate).
    pub fn deliveries(&self, event_id: &str) -> u32 {
        self.shared.lock().deliveries.get(event_id).copied().unwrap_or(0)
    }

    /// Every event stored from now on (not those before), in order, without
    /// loss; drop the receiver end to unsubscribe.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<ReceivedEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared.lock().subscribers.push(tx);
        rx
    }

    pub fn stats(&self) -> ReceiverStats {
        self.shared.lock().stats.clone()
    }

    /// Sets the failure mode for the following requests.
    pub fn set_failure(&self, failure: ReceiverFailure) {
        self.shared.lock().failure = failure;
    }

    /// The failure mode now in force, with its remaining count.
    pub fn failure(&self) -> ReceiverFailure {
        self.shared.lock().failure.clone()
    }

    /// Forgets stored events and delivery counts: an id seen before is new
    /// again. Counters are kept.
    pub fn clear(&self) {
        let mut state = self.shared.lock();
        state.events.clear();
        state.deliveries.clear();
    }

    /// Waits for a stored event matching `predicate` (those already stored
    /// count), or `None` after `timeout`.
    pub async fn wait_for_event<F>(&self, predicate: F, timeout: Duration) -> Option<ReceivedEvent>
    where
        F: Fn(&ReceivedEvent) -> bool,
    {
        self.wait_until(timeout, || self.shared.lock().events.iter().find(|e| predicate(e)).cloned()).await
    }

    /// Waits for the first stored event of type `kind` (`charge.succeeded`…).
    pub async fn wait_for_kind(&self, kind: &str, timeout: Duration) -> Option<ReceivedEvent> {
        self.wait_for_event(|e| e.event.kind == kind, timeout).await
    }

    /// Waits until at least `n` events are stored and returns them all.
    pub async fn wait_for_events(&self, n: usize, timeout: Duration) -> Option<Vec<ReceivedEvent>> {
        self.wait_until(timeout, || {
            let state = self.shared.lock();
            (state.events.len() >= n).then(|| state.events.clone())
        })
        .await
    }

    async fn wait_until<T>(&self, timeout: Duration, check: impl Fn() -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = check() {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return check();
            }
        }
    }

    /// A handle that stops the server from elsewhere (a signal handler).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.clone()
    }

    /// Stops the server (hanging requests are cut after a second) and waits.
    pub async fn stop(mut self) {
        self.server.stop(true).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Runs until the server stops (for the CLI).
    pub async fn wait(mut self) -> io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for CallbackReceiver {
    fn drop(&mut self) {
        // Sends the stop command now; the future would only wait for it.
        drop(self.server.stop(false));
    }
}

/// POSTs `body` to `url` signed with `secret` at time `t` (unix seconds), as
/// mkoba does, and returns the answer's status: for tests of receivers.
pub async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    t: i64,
    body: &str,
) -> Result<u16, reqwest::Error> {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature::signature_header(secret, t, body.as_bytes()))
        .body(body.to_string())
        .send()
        .await?;
    Ok(response.status().as_u16())
}

mod handler;
#[cfg(test)]
mod tests;

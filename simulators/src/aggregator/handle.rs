//! The running simulator: starting it, and the handle tests use to read the
//! inboxes, set failures and wait for messages and reports.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use tokio::sync::{mpsc, Notify};

use super::delivery::dispatch_deliveries;
use super::sim_api::routes;
use super::state::{Inner, Shared};
use super::{AggregatorConfig, DeliveryReport, Failure, Message, Stats};

/// A running aggregator simulator. Dropping it stops the server.
pub struct AggregatorHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    server: actix_web::dev::ServerHandle,
    task: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

/// Starts the simulator on `cfg.listen` (port 0: a free port) and returns
/// once it accepts connections. Must be called inside a Tokio runtime (any
/// flavour, including `#[tokio::test]` and `#[actix_web::test]`); delivery
/// reports are posted from tasks on that runtime.
pub async fn start_aggregator(cfg: AggregatorConfig) -> io::Result<AggregatorHandle> {
    let listener = std::net::TcpListener::bind(cfg.listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let client = reqwest::Client::builder().timeout(cfg.delivery_timeout).build().map_err(io::Error::other)?;
    let (delivery_tx, delivery_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            messages: Vec::new(),
            failure: Failure::None,
            delivery_callback: cfg.delivery_callback.clone(),
            delivery_delay: cfg.delivery_delay,
            reports: Vec::new(),
            stats: Stats::default(),
        }),
        notify: Notify::new(),
        delivery_tx,
        cfg,
    });
    tokio::spawn(dispatch_deliveries(delivery_rx, Arc::downgrade(&shared), client));

    let data = web::Data::from(Arc::clone(&shared));
    let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(routes))
        .workers(shared.cfg.workers.max(1))
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
    let server_handle = server.handle();
    let task = tokio::spawn(server);
    let base_url = format!("http://{addr}");
    tracing::info!(%base_url, "aggregator simulator listening");
    Ok(AggregatorHandle { shared, addr, base_url, server: server_handle, task: Some(task) })
}

impl AggregatorHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash): mkoba's `sms.base_url`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `{base_url}/version1/messaging`.
    pub fn messaging_url(&self) -> String {
        format!("{}/version1/messaging", self.base_url)
    }

    /// The API key the simulator expects in the `apiKey` header.
    pub fn api_key(&self) -> &str {
        &self.shared.cfg.api_key
    }

    /// Messages delivered to `phone` (any accepted form: `+2547…`, `07…`),
    /// oldest first.
    pub fn inbox(&self, phone: &str) -> Vec<Message> {
        self.shared.inbox(phone)
    }

    /// Every accepted message (delivered or not), oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.shared.lock().messages.clone()
    }

    /// Number of accepted messages (one per accepted recipient).
    pub fn sent_count(&self) -> usize {
        self.shared.lock().messages.len()
    }

    /// Every send request received, whatever its outcome.
    pub fn request_count(&self) -> u64 {
        self.shared.lock().stats.requests
    }

    /// All counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Forgets every message and delivery report (counters are kept).
    pub fn clear(&self) {
        let mut inner = self.shared.lock();
        inner.messages.clear();
        inner.reports.clear();
    }

    /// Sets the failure mode for the following sends.
    pub fn set_failure(&self, failure: Failure) {
        self.shared.lock().failure = failure;
    }

    /// The failure mode now in force (with its remaining count).
    pub fn failure(&self) -> Failure {
        self.shared.lock().failure.clone()
    }

    /// Sets (or with `None` removes) the delivery-report callback URL for
    /// messages accepted from now on.
    pub fn set_delivery_callback(&self, url: Option<String>) {
        self.shared.lock().delivery_callback = url;
    }

    /// Sets the delay before each delivery report.
    pub fn set_delivery_delay(&self, delay: Duration) {
        self.shared.lock().delivery_delay = delay;
    }

    /// Delivery reports finished so far (acknowledged or given up on).
    pub fn delivery_reports(&self) -> Vec<DeliveryReport> {
        self.shared.lock().reports.clone()
    }

    /// Waits until `phone`'s inbox holds a message for which `predicate` is
    /// true and returns the oldest such message, or `None` after `timeout`.
    /// Messages already in the inbox count: call [`clear`](Self::clear)
    /// first to wait only for new ones.
    pub async fn wait_for_message<F>(&self, phone: &str, predicate: F, timeout: Duration) -> Option<Message>
    where
        F: Fn(&Message) -> bool,
    {
        self.wait_until(timeout, || self.shared.inbox(phone).into_iter().find(|m| predicate(m))).await
    }

    /// Waits until `phone`'s inbox holds at least `n` messages and returns
    /// them all, or `None` after `timeout`.
    pub async fn wait_for_messages(&self, phone: &str, n: usize, timeout: Duration) -> Option<Vec<Message>> {
        self.wait_until(timeout, || {
            let inbox = self.shared.inbox(phone);
            (inbox.len() >= n).then_some(inbox)
        })
        .await
    }

    /// Waits until the delivery report of `message_id` has been posted (or
    /// given up on) and returns it, or `None` after `timeout`.
    pub async fn wait_for_delivery_report(&self, message_id: &str, timeout: Duration) -> Option<DeliveryReport> {
        self.wait_until(timeout, || self.shared.lock().reports.iter().find(|r| r.message_id == message_id).cloned())
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

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        self.server.stop(true).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Runs until the server stops (for the stand-alone binary).
    pub async fn wait(mut self) -> io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }

    /// A handle that can stop the server from elsewhere (e.g. a signal
    /// handler): `server_handle.stop(true).await`.
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.clone()
    }
}

impl Drop for AggregatorHandle {
    fn drop(&mut self) {
        // The stop command is sent at once; the returned future only waits
        // for completion.
        drop(self.server.stop(false));
    }
}

impl std::fmt::Debug for AggregatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregatorHandle").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

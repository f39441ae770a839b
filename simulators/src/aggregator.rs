//! An Africa's Talking send-SMS aggregator simulator.
//!
//! A real actix-web HTTP server speaking `POST /version1/messaging` exactly
//! as Africa's Talking does, keeping each phone's inbox, with failure
//! injection and delivery reports. Start it in-process with
//! [`start_aggregator`]; the returned [`AggregatorHandle`] gives direct access
//! to the inboxes, the counters and the failure switch, and stops the server
//! when dropped.
//!
//! HTTP API (besides `POST /version1/messaging`):
//!
//! | Route | Meaning |
//! |---|---|
//! | `GET /health` | `{"status":"ok"}` |
//! | `POST /sim/fail` | JSON [`Failure`], e.g. `{"mode":"http_500","count":3}` |
//! | `GET /sim/fail` | the failure mode now in force |
//! | `POST /sim/config` | `{"delivery_callback":"URL" or "", "delivery_delay_ms":N}` |
//! | `GET /sim/inbox/{phone}` | `{"phone":"2547…","messages":[…]}` |
//! | `DELETE /sim/inbox/{phone}` | clear one inbox |
//! | `GET /sim/messages` | `{"count":N,"messages":[…]}` (every accepted message) |
//! | `DELETE /sim/inbox` | clear every inbox and the delivery-report log |
//! | `GET /sim/deliveries` | delivery reports posted so far and their outcome |
//! | `GET /sim/stats` | counters |

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{mpsc, Notify};

use crate::msisdn;

/// How the simulator is set up. Every field has a sensible default
/// (`AggregatorConfig::default()` binds 127.0.0.1 on a free port with API
/// key `sim-api-key`, any username, no delivery callback).
#[derive(Clone, Debug)]
pub struct AggregatorConfig {
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Value the `apiKey` header must carry (otherwise 401).
    pub api_key: String,
    /// `Some(u)`: the `username` form field must equal `u` (otherwise 401).
    /// `None`: any non-empty username is accepted.
    pub username: Option<String>,
    /// Where delivery reports are POSTed, e.g.
    /// `http://127.0.0.1:8080/webhooks/africastalking/delivery?token=T`.
    /// Can be changed later with [`AggregatorHandle::set_delivery_callback`].
    pub delivery_callback: Option<String>,
    /// Delay between accepting a message and posting its delivery report.
    pub delivery_delay: Duration,
    /// Attempts to post one delivery report (transport errors and 5xx are
    /// retried; a 4xx answer is not).
    pub delivery_attempts: u32,
    /// Wait before the first retry; doubled for each further retry.
    pub delivery_retry_backoff: Duration,
    /// Timeout of one delivery-report POST.
    pub delivery_timeout: Duration,
    /// Country code used to normalise national numbers (`0712…`).
    pub country_code: String,
    /// Sender shown in the inbox when a send has no `from` field.
    pub default_sender: String,
    /// `networkCode` in delivery reports.
    pub network_code: String,
    /// Currency of the per-message cost.
    pub cost_currency: String,
    /// Cost of one message in ten-thousandths (8000 → `KES 0.8000`).
    pub cost_per_message_e4: u64,
    /// actix-web worker threads.
    pub workers: usize,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api_key: "sim-api-key".to_string(),
            username: None,
            delivery_callback: None,
            delivery_delay: Duration::from_millis(20),
            delivery_attempts: 4,
            delivery_retry_backoff: Duration::from_millis(200),
            delivery_timeout: Duration::from_secs(5),
            country_code: msisdn::DEFAULT_COUNTRY_CODE.to_string(),
            default_sender: "AFRICASTKNG".to_string(),
            network_code: "63902".to_string(),
            cost_currency: "KES".to_string(),
            cost_per_message_e4: 8000,
            workers: 1,
        }
    }
}

/// One accepted SMS, as kept in the inboxes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The `messageId` returned to the sender (`ATXid_…`).
    pub id: String,
    /// Recipient, E.164 digits without `+`.
    pub to: String,
    /// Sender id (`from` form field, or the configured default).
    pub from: String,
    /// The text.
    pub message: String,
    /// The `linkId` form field (premium/on-demand SMS: the inbound message
    /// this one answers), if the send had one.
    #[serde(default)]
    pub link_id: Option<String>,
    /// Milliseconds since the Unix epoch when it was accepted.
    pub received_at_ms: u64,
    /// `false` when a `delivery_failed` failure was in force: the message is
    /// kept in [`AggregatorHandle::messages`] but not in the phone's inbox,
    /// and its delivery report says `Failed`.
    pub delivered: bool,
}

/// A delivery report the simulator posted (or tried to post).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// `id` field: the message's `messageId`.
    pub message_id: String,
    /// `phoneNumber` field (`+254…`).
    pub phone_number: String,
    /// `status` field: `Success` or `Failed`.
    pub status: String,
    /// `failureReason` field (empty on success).
    pub failure_reason: String,
    /// Where it was posted (the token in the query is masked).
    pub callback: String,
    /// POST attempts made.
    pub attempts: u32,
    /// HTTP status of the last answer, if any.
    pub http_status: Option<u16>,
    /// Whether the receiver answered 2xx.
    pub ok: bool,
    /// Last transport error, if any.
    pub error: Option<String>,
}

/// Failure injection. JSON form (for `POST /sim/fail`):
/// `{"mode":"none"}`, `{"mode":"http_500","count":3}`,
/// `{"mode":"recipient_failure","count":1,"status":"InvalidPhoneNumber","status_code":403}`,
/// `{"mode":"slow","count":2,"delay_ms":3000}`,
/// `{"mode":"delivery_failed","count":1,"failure_reason":"DeliveryFailure"}`,
/// `{"mode":"unauthorized"}` (HTTP 401, text body, as for wrong credentials),
/// `{"mode":"invalid_sender_id"}` (200, `Message: "InvalidSenderId"`, no
/// recipients: Africa's Talking's answer to a sender id it does not know).
/// [`Failure::recipient_status`] gives Africa's Talking's name for a
/// per-recipient status code (402 InvalidSenderId, 405 InsufficientBalance,
/// 501 GatewayError…).
///
/// `count` is the number of send requests (`POST /version1/messaging`) the
/// mode applies to; after that the simulator goes back to `none`. Without
/// `count` the mode stays until changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Failure {
    /// Everything works.
    #[default]
    None,
    /// Sends answer HTTP 500 and nothing is recorded.
    #[serde(rename = "http_500")]
    Http500 {
        #[serde(default)]
        count: Option<u32>,
    },
    /// Sends answer 201, but every recipient has a failure status (nothing is
    /// recorded, no delivery report).
    RecipientFailure {
        #[serde(default)]
        count: Option<u32>,
        #[serde(default = "default_recipient_status")]
        status: String,
        #[serde(default = "default_recipient_status_code")]
        status_code: u16,
    },
    /// Sends are answered normally, but only after `delay_ms`.
    Slow {
        #[serde(default)]
        count: Option<u32>,
        delay_ms: u64,
    },
    /// Sends are accepted (101 Success), but the message never reaches the
    /// inbox and the delivery report says `Failed`.
    DeliveryFailed {
        #[serde(default)]
        count: Option<u32>,
        #[serde(default = "default_failure_reason")]
        failure_reason: String,
    },
    /// Sends answer HTTP 401 with Africa's Talking's text body, whatever
    /// the credentials (as when an API key is revoked).
    Unauthorized {
        #[serde(default)]
        count: Option<u32>,
    },
    /// Sends answer 200 with `{"SMSMessageData":{"Message":"InvalidSenderId",
    /// "Recipients":[]}}`: nothing is recorded.
    InvalidSenderId {
        #[serde(default)]
        count: Option<u32>,
    },
}

/// Africa's Talking's name for a send-SMS recipient status code.
pub fn recipient_status_name(status_code: u16) -> &'static str {
    match status_code {
        100 => "Processed",
        101 => "Success",
        102 => "Queued",
        401 => "RiskHold",
        402 => "InvalidSenderId",
        403 => "InvalidPhoneNumber",
        404 => "UnsupportedNumberType",
        405 => "InsufficientBalance",
        406 => "UserInBlacklist",
        407 => "CouldNotRoute",
        409 => "DoNotDisturbRejection",
        500 => "InternalServerError",
        501 => "GatewayError",
        502 => "RejectedByGateway",
        _ => "Unknown",
    }
}

fn default_recipient_status() -> String {
    "InvalidPhoneNumber".to_string()
}

fn default_recipient_status_code() -> u16 {
    403
}

fn default_failure_reason() -> String {
    "DeliveryFailure".to_string()
}

impl Failure {
    /// The next `count` sends answer HTTP 500.
    pub fn http_500(count: u32) -> Self {
        Self::Http500 { count: Some(count) }
    }

    /// The next `count` sends get recipient status `InvalidPhoneNumber` (403).
    pub fn recipient_failure(count: u32) -> Self {
        Self::RecipientFailure {
            count: Some(count),
            status: default_recipient_status(),
            status_code: default_recipient_status_code(),
        }
    }

    /// The next `count` sends get recipient status `status_code` with
    /// Africa's Talking's name for it (402 InvalidSenderId, 501 GatewayError…).
    pub fn recipient_status(count: u32, status_code: u16) -> Self {
        Self::RecipientFailure {
            count: Some(count),
            status: recipient_status_name(status_code).to_string(),
            status_code,
        }
    }

    /// The next `count` sends (`None`: all, until changed) answer HTTP 401.
    pub fn unauthorized(count: Option<u32>) -> Self {
        Self::Unauthorized { count }
    }

    /// The next `count` sends (`None`: all, until changed) answer
    /// `InvalidSenderId` with no recipients.
    pub fn invalid_sender_id(count: Option<u32>) -> Self {
        Self::InvalidSenderId { count }
    }

    /// The next `count` sends are answered after `delay`.
    pub fn slow(count: u32, delay: Duration) -> Self {
        Self::Slow { count: Some(count), delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX) }
    }

    /// The next `count` sends are accepted but their delivery fails.
    pub fn delivery_failed(count: u32) -> Self {
        Self::DeliveryFailed { count: Some(count), failure_reason: default_failure_reason() }
    }

    fn count_mut(&mut self) -> Option<&mut Option<u32>> {
        match self {
            Self::None => None,
            Self::Http500 { count }
            | Self::RecipientFailure { count, .. }
            | Self::Slow { count, .. }
            | Self::DeliveryFailed { count, .. }
            | Self::Unauthorized { count }
            | Self::InvalidSenderId { count } => Some(count),
        }
    }
}

/// Counters, as returned by `GET /sim/stats` and [`AggregatorHandle::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every `POST /version1/messaging`, whatever its outcome.
    pub requests: u64,
    /// Requests refused as a whole (401, 400, injected 500).
    pub rejected: u64,
    /// Recipients accepted (statusCode 101).
    pub sent: u64,
    /// Recipients refused (invalid number or injected recipient failure).
    pub failed_recipients: u64,
    /// Delivery reports the callback acknowledged with 2xx.
    pub delivery_reports_ok: u64,
    /// Delivery reports given up on.
    pub delivery_reports_failed: u64,
}

struct Inner {
    messages: Vec<Message>,
    failure: Failure,
    delivery_callback: Option<String>,
    delivery_delay: Duration,
    reports: Vec<DeliveryReport>,
    stats: Stats,
}

impl Inner {
    /// The failure mode that applies to this request, counting it down.
    fn consume_failure(&mut self) -> Failure {
        let current = self.failure.clone();
        let Some(count) = self.failure.count_mut() else {
            return Failure::None;
        };
        match count {
            None => current,
            Some(0) => {
                self.failure = Failure::None;
                Failure::None
            }
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.failure = Failure::None;
                }
                current
            }
        }
    }
}

struct DeliveryJob {
    callback: String,
    delay: Duration,
    message_id: String,
    phone_number: String,
    status: &'static str,
    failure_reason: String,
}

struct Shared {
    cfg: AggregatorConfig,
    inner: Mutex<Inner>,
    notify: Notify,
    delivery_tx: mpsc::UnboundedSender<DeliveryJob>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn normalize(&self, phone: &str) -> Option<String> {
        msisdn::normalize(phone, &self.cfg.country_code)
    }

    fn inbox(&self, phone: &str) -> Vec<Message> {
        let Some(phone) = self.normalize(phone) else {
            return Vec::new();
        };
        self.lock().messages.iter().filter(|m| m.delivered && m.to == phone).cloned().collect()
    }

    fn cost(&self, messages: u64) -> String {
        if messages == 0 {
            return "0".to_string();
        }
        let e4 = self.cfg.cost_per_message_e4.saturating_mul(messages);
        format!("{} {}.{:04}", self.cfg.cost_currency, e4 / 10_000, e4 % 10_000)
    }
}

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

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/version1/messaging", web::post().to(send_sms))
        .route("/health", web::get().to(health))
        .route("/sim/fail", web::post().to(set_failure))
        .route("/sim/fail", web::get().to(get_failure))
        .route("/sim/config", web::post().to(set_config))
        .route("/sim/inbox", web::delete().to(clear_all))
        .route("/sim/inbox/{phone}", web::get().to(get_inbox))
        .route("/sim/inbox/{phone}", web::delete().to(clear_inbox))
        .route("/sim/messages", web::get().to(get_messages))
        .route("/sim/deliveries", web::get().to(get_deliveries))
        .route("/sim/stats", web::get().to(get_stats));
}

#[derive(Debug, Deserialize)]
struct SendForm {
    username: Option<String>,
    to: Option<String>,
    message: Option<String>,
    from: Option<String>,
    #[serde(rename = "linkId")]
    link_id: Option<String>,
}

#[derive(Debug, Serialize)]
struct Recipient {
    #[serde(rename = "statusCode")]
    status_code: u16,
    number: String,
    status: String,
    cost: String,
    #[serde(rename = "messageId")]
    message_id: String,
}

fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(body.into())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

fn new_message_id() -> String {
    format!("ATXid_{:032x}", rand::random::<u128>())
}

fn reject(shared: &Shared, status: StatusCode, body: &str) -> HttpResponse {
    shared.lock().stats.rejected += 1;
    tracing::warn!(status = status.as_u16(), "send refused: {body}");
    text(status, body)
}

async fn send_sms(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    shared.lock().stats.requests += 1;
    let api_key = req.headers().get("apiKey").and_then(|v| v.to_str().ok());
    if api_key != Some(shared.cfg.api_key.as_str()) {
        return reject(&shared, StatusCode::UNAUTHORIZED, "The supplied authentication is invalid");
    }
    let form: SendForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(e) => return reject(&shared, StatusCode::BAD_REQUEST, &format!("Invalid form body: {e}")),
    };
    let username = form.username.unwrap_or_default();
    if username.is_empty() {
        return reject(&shared, StatusCode::BAD_REQUEST, "Request is missing required form field 'username'");
    }
    if shared.cfg.username.as_ref().is_some_and(|u| *u != username) {
        return reject(&shared, StatusCode::UNAUTHORIZED, "The supplied authentication is invalid");
    }
    let to = form.to.unwrap_or_default();
    let numbers: Vec<&str> = to.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    if numbers.is_empty() {
        return reject(&shared, StatusCode::BAD_REQUEST, "Request is missing required form field 'to'");
    }
    let Some(message) = form.message else {
        return reject(&shared, StatusCode::BAD_REQUEST, "Request is missing required form field 'message'");
    };
    let from = form.from.filter(|f| !f.trim().is_empty()).unwrap_or_else(|| shared.cfg.default_sender.clone());
    let link_id = form.link_id.filter(|l| !l.trim().is_empty());

    let failure = shared.lock().consume_failure();
    match &failure {
        Failure::Http500 { .. } => {
            return reject(&shared, StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error (injected)")
        }
        Failure::Unauthorized { .. } => {
            return reject(&shared, StatusCode::UNAUTHORIZED, "The supplied authentication is invalid")
        }
        Failure::InvalidSenderId { .. } => {
            shared.lock().stats.rejected += 1;
            tracing::warn!(%from, "send refused: InvalidSenderId");
            return HttpResponse::Ok()
                .json(json!({"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}}));
        }
        Failure::Slow { delay_ms, .. } => {
            tokio::time::sleep(Duration::from_millis(*delay_ms)).await;
        }
        _ => {}
    }

    let mut recipients = Vec::with_capacity(numbers.len());
    let mut accepted = 0u64;
    {
        let mut inner = shared.lock();
        for raw in numbers {
            let normalized = shared.normalize(raw);
            let refusal = match (&normalized, &failure) {
                (None, _) => Some((403, "InvalidPhoneNumber".to_string())),
                (Some(_), Failure::RecipientFailure { status, status_code, .. }) => {
                    Some((*status_code, status.clone()))
                }
                (Some(_), _) => None,
            };
            let number = normalized.as_deref().map_or_else(|| raw.to_string(), msisdn::plus_e164);
            let phone = match (normalized, refusal) {
                (Some(phone), None) => phone,
                (_, refusal) => {
                    let (status_code, status) = refusal.unwrap_or((403, "InvalidPhoneNumber".to_string()));
                    inner.stats.failed_recipients += 1;
                    tracing::warn!(%number, %status, "recipient refused");
                    recipients.push(Recipient {
                        status_code,
                        number,
                        status,
                        cost: "0".to_string(),
                        message_id: "None".to_string(),
                    });
                    continue;
                }
            };
            let id = new_message_id();
            let delivered = !matches!(failure, Failure::DeliveryFailed { .. });
            tracing::info!(
                to = %number,
                from = %from,
                id = %id,
                delivered,
                "SMS: {message}"
            );
            inner.messages.push(Message {
                id: id.clone(),
                to: phone,
                from: from.clone(),
                message: message.clone(),
                link_id: link_id.clone(),
                received_at_ms: now_ms(),
                delivered,
            });
            inner.stats.sent += 1;
            accepted += 1;
            if let Some(callback) = &inner.delivery_callback {
                let failure_reason = match &failure {
                    Failure::DeliveryFailed { failure_reason, .. } => failure_reason.clone(),
                    _ => String::new(),
                };
                let job = DeliveryJob {
                    callback: callback.clone(),
                    delay: inner.delivery_delay,
                    message_id: id.clone(),
                    phone_number: number.clone(),
                    status: if delivered { "Success" } else { "Failed" },
                    failure_reason,
                };
                if shared.delivery_tx.send(job).is_err() {
                    tracing::warn!("delivery dispatcher gone; report for {id} dropped");
                }
            }
            recipients.push(Recipient {
                status_code: 101,
                number,
                status: "Success".to_string(),
                cost: shared.cost(1),
                message_id: id,
            });
        }
    }
    shared.notify.notify_waiters();
    let total = recipients.len();
    HttpResponse::Created().json(json!({
        "SMSMessageData": {
            "Message": format!("Sent to {accepted}/{total} Total Cost: {}", shared.cost(accepted)),
            "Recipients": recipients,
        }
    }))
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn set_failure(shared: web::Data<Shared>, failure: web::Json<Failure>) -> HttpResponse {
    let failure = failure.into_inner();
    tracing::info!(?failure, "failure mode set");
    shared.lock().failure = failure.clone();
    HttpResponse::Ok().json(json!({"ok": true, "failure": failure}))
}

async fn get_failure(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(&shared.lock().failure)
}

#[derive(Debug, Deserialize)]
struct ConfigPatch {
    /// `""` removes the callback.
    delivery_callback: Option<String>,
    delivery_delay_ms: Option<u64>,
}

async fn set_config(shared: web::Data<Shared>, patch: web::Json<ConfigPatch>) -> HttpResponse {
    let patch = patch.into_inner();
    let mut inner = shared.lock();
    if let Some(url) = patch.delivery_callback {
        inner.delivery_callback = (!url.is_empty()).then_some(url);
    }
    if let Some(ms) = patch.delivery_delay_ms {
        inner.delivery_delay = Duration::from_millis(ms);
    }
    let callback = inner.delivery_callback.as_deref().map(redact_url);
    tracing::info!(?callback, delay = ?inner.delivery_delay, "config changed");
    HttpResponse::Ok().json(json!({
        "delivery_callback": callback,
        "delivery_delay_ms": u64::try_from(inner.delivery_delay.as_millis()).unwrap_or(u64::MAX),
    }))
}

async fn get_inbox(shared: web::Data<Shared>, phone: web::Path<String>) -> HttpResponse {
    let Some(phone) = shared.normalize(&phone) else {
        return text(StatusCode::BAD_REQUEST, "not a phone number");
    };
    let messages = shared.inbox(&phone);
    HttpResponse::Ok().json(json!({"phone": phone, "messages": messages}))
}

async fn clear_inbox(shared: web::Data<Shared>, phone: web::Path<String>) -> HttpResponse {
    let Some(phone) = shared.normalize(&phone) else {
        return text(StatusCode::BAD_REQUEST, "not a phone number");
    };
    let mut inner = shared.lock();
    let before = inner.messages.len();
    inner.messages.retain(|m| m.to != phone);
    let cleared = before - inner.messages.len();
    HttpResponse::Ok().json(json!({"phone": phone, "cleared": cleared}))
}

async fn clear_all(shared: web::Data<Shared>) -> HttpResponse {
    let mut inner = shared.lock();
    let cleared = inner.messages.len();
    inner.messages.clear();
    inner.reports.clear();
    HttpResponse::Ok().json(json!({"cleared": cleared}))
}

async fn get_messages(shared: web::Data<Shared>) -> HttpResponse {
    let inner = shared.lock();
    HttpResponse::Ok().json(json!({"count": inner.messages.len(), "messages": inner.messages}))
}

async fn get_deliveries(shared: web::Data<Shared>) -> HttpResponse {
    let inner = shared.lock();
    HttpResponse::Ok().json(json!({"count": inner.reports.len(), "reports": inner.reports}))
}

async fn get_stats(shared: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(&shared.lock().stats)
}

/// Masks the value of a `token` (or `apiKey`/`key`) query parameter so
/// callback URLs can be logged.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return url.split('?').next().unwrap_or_default().to_string();
    };
    if parsed.query().is_none() {
        return parsed.to_string();
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let secret = matches!(k.to_ascii_lowercase().as_str(), "token" | "apikey" | "key");
            let v = if secret { "***".to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

async fn dispatch_deliveries(
    mut rx: mpsc::UnboundedReceiver<DeliveryJob>,
    shared: Weak<Shared>,
    client: reqwest::Client,
) {
    while let Some(job) = rx.recv().await {
        let Some(settings) = shared
            .upgrade()
            .map(|s| (s.cfg.delivery_attempts, s.cfg.delivery_retry_backoff, s.cfg.network_code.clone()))
        else {
            return;
        };
        tokio::spawn(deliver(shared.clone(), client.clone(), job, settings));
    }
}

async fn deliver(
    shared: Weak<Shared>,
    client: reqwest::Client,
    job: DeliveryJob,
    (attempts, backoff, network_code): (u32, Duration, String),
) {
    {
        tokio::time::sleep(job.delay).await;
        let form = [
            ("id", job.message_id.as_str()),
            ("status", job.status),
            ("phoneNumber", job.phone_number.as_str()),
            ("networkCode", network_code.as_str()),
            ("failureReason", job.failure_reason.as_str()),
            ("retryCount", "0"),
        ];
        let callback = redact_url(&job.callback);
        let attempts = attempts.max(1);
        let mut report = DeliveryReport {
            message_id: job.message_id.clone(),
            phone_number: job.phone_number.clone(),
            status: job.status.to_string(),
            failure_reason: job.failure_reason.clone(),
            callback: callback.clone(),
            attempts: 0,
            http_status: None,
            ok: false,
            error: None,
        };
        let mut wait = backoff;
        for attempt in 1..=attempts {
            report.attempts = attempt;
            match client.post(&job.callback).form(&form).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    report.http_status = Some(status.as_u16());
                    report.error = None;
                    if status.is_success() {
                        report.ok = true;
                        break;
                    }
                    if status.is_client_error() {
                        break;
                    }
                }
                Err(e) => report.error = Some(e.without_url().to_string()),
            }
            if attempt < attempts {
                tracing::debug!(id = %job.message_id, attempt, "delivery report not acknowledged; retrying");
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
        }
        if report.ok {
            tracing::info!(id = %report.message_id, status = %report.status, %callback, "delivery report posted");
        } else {
            tracing::warn!(
                id = %report.message_id,
                attempts = report.attempts,
                http_status = ?report.http_status,
                error = ?report.error,
                %callback,
                "delivery report not acknowledged; giving up"
            );
        }
        if let Some(shared) = shared.upgrade() {
            {
                let mut inner = shared.lock();
                if report.ok {
                    inner.stats.delivery_reports_ok += 1;
                } else {
                    inner.stats.delivery_reports_failed += 1;
                }
                inner.reports.push(report);
            }
            shared.notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_json_forms() {
        let parse = |s: &str| serde_json::from_str::<Failure>(s).expect("valid failure JSON");
        assert_eq!(parse(r#"{"mode":"none"}"#), Failure::None);
        assert_eq!(parse(r#"{"mode":"http_500","count":3}"#), Failure::http_500(3));
        assert_eq!(parse(r#"{"mode":"http_500"}"#), Failure::Http500 { count: None });
        assert_eq!(parse(r#"{"mode":"recipient_failure","count":2}"#), Failure::recipient_failure(2));
        assert_eq!(parse(r#"{"mode":"delivery_failed","count":1}"#), Failure::delivery_failed(1));
        assert_eq!(parse(r#"{"mode":"slow","count":1,"delay_ms":250}"#), Failure::slow(1, Duration::from_millis(250)));
        assert_eq!(parse(r#"{"mode":"unauthorized"}"#), Failure::unauthorized(None));
        assert_eq!(parse(r#"{"mode":"invalid_sender_id","count":2}"#), Failure::invalid_sender_id(Some(2)));
        assert_eq!(
            parse(r#"{"mode":"recipient_failure","count":1,"status":"GatewayError","status_code":501}"#),
            Failure::recipient_status(1, 501)
        );
        assert!(serde_json::from_str::<Failure>(r#"{"mode":"bogus"}"#).is_err());
    }

    #[test]
    fn failure_counts_down() {
        let mut inner = Inner {
            messages: Vec::new(),
            failure: Failure::http_500(2),
            delivery_callback: None,
            delivery_delay: Duration::ZERO,
            reports: Vec::new(),
            stats: Stats::default(),
        };
        assert!(matches!(inner.consume_failure(), Failure::Http500 { .. }));
        assert!(matches!(inner.consume_failure(), Failure::Http500 { .. }));
        assert_eq!(inner.consume_failure(), Failure::None);
        inner.failure = Failure::Http500 { count: None };
        for _ in 0..5 {
            assert!(matches!(inner.consume_failure(), Failure::Http500 { .. }));
        }
        inner.failure = Failure::http_500(0);
        assert_eq!(inner.consume_failure(), Failure::None);
    }

    #[test]
    fn redacts_tokens() {
        assert_eq!(
            redact_url("http://127.0.0.1:8080/webhooks/africastalking/delivery?token=s3cret&x=1"),
            "http://127.0.0.1:8080/webhooks/africastalking/delivery?token=***&x=1"
        );
        assert_eq!(redact_url("http://h/p"), "http://h/p");
    }
}

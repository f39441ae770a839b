//! Merchant callbacks (SPEC §9) over real HTTP: a receiver started in the
//! test checks the signature, answers 500 or hangs; events come from the
//! journal once each, and a till with a callback gets no SMS receipt.

use crate::helpers::{key, notices, spawn_app_with, TestApp, TestDb, TestLedger};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::RunQueryDsl;
use mkoba::config::Config;
use mkoba::domain::{now_ms, Money};
use mkoba::ledger::{AccountId, Guard, Receipt, TransferKind, TransferRequest};
use mkoba::notify::{callbacks, receipts};
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const AMINA: &str = "254712000001";
const BARAKA: &str = "254712000002";
const TILL_CONTACT: &str = "254799000000";

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub signature: String,
    pub content_type: String,
    pub body: String,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("callback body is JSON")
    }
}

struct ReceiverState {
    hits: Mutex<Vec<Hit>>,
    /// Status codes to answer, in turn; 200 once they run out.
    statuses: Mutex<VecDeque<u16>>,
    hang: bool,
    /// How long each answer takes.
    delay: Duration,
    in_flight: AtomicUsize,
    /// The most POSTs it held at once.
    most_in_flight: AtomicUsize,
}

/// A merchant's endpoint: a real HTTP server on a free port.
pub struct Receiver {
    pub url: String,
    state: web::Data<ReceiverState>,
}

impl Receiver {
    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().expect("hits").clone()
    }

    pub fn most_in_flight(&self) -> usize {
        self.state.most_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` POSTs arrived; returns them.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Hit> {
        let start = Instant::now();
        loop {
            let hits = self.hits();
            if hits.len() >= n || start.elapsed() > within {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, state: web::Data<ReceiverState>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    state.hits.lock().expect("hits").push(Hit {
        signature: header("Mkoba-Signature"),
        content_type: header("Content-Type"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.most_in_flight.fetch_max(now, Ordering::SeqCst);
    if state.hang {
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
    tokio::time::sleep(state.delay).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let status = state.statuses.lock().expect("statuses").pop_front().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status")).finish()
}

pub async fn receiver(statuses: &[u16], hang: bool) -> Receiver {
    slow_receiver(statuses, hang, Duration::ZERO).await
}

/// A receiver that takes `delay` over each answer.
pub async fn slow_receiver(statuses: &[u16], hang: bool, delay: Duration) -> Receiver {
    let state = web::Data::new(ReceiverState {
        hits: Mutex::new(Vec::new()),
        statuses: Mutex::new(statuses.iter().copied().collect()),
        hang,
        delay,
        in_flight: AtomicUsize::new(0),
        most_in_flight: AtomicUsize::new(0),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!("http://127.0.0.1:{}/hooks/mkoba", listener.local_addr().expect("addr").port());
    let shared = state.clone();
    let server = HttpServer::new(move || App::new().app_data(shared.clone()).default_service(web::to(receive)))
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
    tokio::spawn(server);
    Receiver { url, state }
}

/// A config whose callbacks may be `http://` and retry fast.
pub fn config(db: &TestDb) -> Config {
    let mut config = db.config();
    config.api.allow_http_callbacks = true;
    config.api.callback_retry_base_ms = 100;
    config.api.callback_retry_cap_ms = 400;
    config.api.callback_timeout_ms = 2_000;
    config
}

pub async fn set_callback(app: &TestApp, till: AccountId, url: &str) -> String {
    set_callback_on(&app.t, till, url).await
}

pub async fn set_callback_on(t: &TestLedger, till: AccountId, url: &str) -> String {
    let url = url.to_string();
    t.ledger.write(move |conn| callbacks::set_callback(conn, till.0, &url, true, now_ms())).await.expect("set callback")
}

/// A callback event row as stored.
#[derive(Debug, Clone, diesel::QueryableByName)]
pub struct EventRow {
    #[diesel(sql_type = Text)]
    pub event_id: String,
    #[diesel(sql_type = BigInt)]
    pub account_id: i64,
    #[diesel(sql_type = Text)]
    pub r#type: String,
    #[diesel(sql_type = Text)]
    pub payload: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
}

pub async fn events(app: &TestApp) -> Vec<EventRow> {
    events_on(&app.t).await
}

pub async fn events_on(t: &TestLedger) -> Vec<EventRow> {
    const SQL: &str =
        "SELECT event_id, account_id, type, payload, status, attempts, last_error FROM callback_events ORDER BY id";
    t.ledger.read(|conn| Ok(mkoba::with_conn!(conn, c => diesel::sql_query(SQL).load(c))?)).await.expect("events")
}

/// Waits until `done` holds for the stored events.
pub async fn events_until(app: &TestApp, within: Duration, done: impl Fn(&[EventRow]) -> bool) -> Vec<EventRow> {
    let start = Instant::now();
    loop {
        let rows = events(app).await;
        if done(&rows) || start.elapsed() > within {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn sms_to(app: &TestApp, to: &str) -> Vec<String> {
    let to = to.to_string();
    let rows = app.t.ledger.read(move |c| mkoba::notify::outbox::for_recipient(c, &to)).await.expect("outbox");
    rows.into_iter().filter(|r| r.channel == "sms").map(|r| r.body).collect()
}

pub async fn submit(
    app: &TestApp,
    kind: TransferKind,
    from: AccountId,
    to: AccountId,
    minor: i64,
    guard: Option<Guard>,
) -> Receipt {
    submit_on(&app.t, kind, from, to, minor, guard).await
}

pub async fn submit_on(
    t: &TestLedger,
    kind: TransferKind,
    from: AccountId,
    to: AccountId,
    minor: i64,
    guard: Option<Guard>,
) -> Receipt {
    let amount = Money::from_minor(minor).expect("amount");
    let req =
        TransferRequest { idempotency_key: key(), kind, from, to, amount, guard, client_hash: None, api_key: None };
    t.ledger.submit(req).await.expect("transfer")
}

/// The reference on a USSD END screen (`… Ref QK7H2M9XTA. …`).
pub fn reference_on(screen: &str) -> String {
    let at = screen.find("Ref ").expect("a reference on the screen") + 4;
    screen[at..at + 10].to_string()
}

#[tokio::test]
async fn a_merchant_payment_reaches_the_till_by_signed_callback_and_not_by_sms() {
    for db in TestDb::all() {
        let cfg = config(&db);
        let app = spawn_app_with(db, cfg).await;
        let b = app.backend();
        let w = app.t.world(1_000).await;
        let hook = receiver(&[], false).await;
        let refused = app
            .t
            .ledger
            .write(move |conn| callbacks::set_callback(conn, w.shop.0, "http://shop.example/hooks", false, now_ms()))
            .await
            .expect_err("http:// refused");
        assert!(refused.to_string().contains("https://"), "[{b}] {refused}");
        let secret = set_callback(&app, w.shop, &hook.url).await;
        assert!(secret.starts_with("whsec_") && secret.len() >= 38, "[{b}] {secret}");

        let done = app.last(AMINA, &["3", "55123", "50", "1357"]).await;
        assert!(done.starts_with("END Paid KES 50.00 to Mama Mboga"), "[{b}] {done}");
        let reference = reference_on(&done);
        let hits = hook.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(hits.len(), 1, "[{b}] {hits:?}");
        let hit = &hits[0];
        assert_eq!(hit.content_type, "application/json", "[{b}]");
        let now_s = now_ms() / 1000;
        assert!(callbacks::verify(&secret, &hit.signature, &hit.body, 300, now_s), "[{b}] {hit:?}");
        assert!(!callbacks::verify(&secret, &hit.signature, &hit.body.replace("5000", "9000"), 300, now_s), "[{b}]");
        assert!(!callbacks::verify("whsec_other", &hit.signature, &hit.body, 300, now_s), "[{b}]");

        let event = hit.json();
        assert_eq!(event["type"], "payment.received", "[{b}] {event}");
        assert!(event["id"].as_str().is_some_and(|id| id.starts_with("evt_")), "[{b}] {event}");
        assert!(event["created_at"].as_str().is_some_and(|t| mkoba::domain::time::parse_rfc3339(t).is_ok()));
        let data = &event["data"];
        assert_eq!(data["reference"], reference.as_str(), "[{b}] {event}");
        assert_eq!((data["amount_minor"].as_i64(), data["fee_minor"].as_i64()), (Some(5_000), Some(0)), "[{b}]");
        assert_eq!(data["msisdn"], AMINA, "[{b}] {event}");

        let rows =
            events_until(&app, Duration::from_secs(5), |rows| rows.iter().all(|r| r.status == "delivered")).await;
        assert_eq!(rows.len(), 1, "[{b}] {rows:?}");
        assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("delivered", 1), "[{b}]");
        assert_eq!(rows[0].payload, hit.body, "[{b}] the body POSTed is the one stored");
        assert_eq!(
            (rows[0].event_id.as_str(), rows[0].r#type.as_str()),
            (event["id"].as_str().unwrap_or_default(), "payment.received")
        );
        // The till learns by callback; the payer still gets a receipt.
        assert!(sms_to(&app, TILL_CONTACT).await.iter().all(|m| !m.contains(&reference)), "[{b}]");
        assert!(sms_to(&app, AMINA).await.iter().any(|m| m.contains(&reference)), "[{b}]");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(hook.hits().len(), 1, "[{b}] delivered once");
    }
}

#[tokio::test]
async fn a_callback_answered_500_is_retried_with_the_same_event_until_a_2xx() {
    for db in TestDb::all() {
        let cfg = config(&db);
        let app = spawn_app_with(db, cfg).await;
        let b = app.backend();
        let w = app.t.world(1_000).await;
        let hook = receiver(&[500, 503], false).await;
        let secret = set_callback(&app, w.shop, &hook.url).await;
        let paid = submit(&app, TransferKind::MerchantPayment, w.amina, w.shop, 2_000, None).await;

        let hits = hook.wait_for(3, Duration::from_secs(10)).await;
        assert_eq!(hits.len(), 3, "[{b}] two failures then a success: {hits:?}");
        assert!(hits.iter().all(|h| h.body == hits[0].body), "[{b}] the same event each time");
        assert_eq!(hits[0].json()["data"]["reference"], paid.reference.as_str(), "[{b}]");
        // Each attempt is signed afresh and verifies.
        let now_s = now_ms() / 1000;
        assert!(hits.iter().all(|h| callbacks::verify(&secret, &h.signature, &h.body, 300, now_s)), "[{b}]");
        let rows =
            events_until(&app, Duration::from_secs(5), |rows| rows.iter().all(|r| r.status == "delivered")).await;
        assert_eq!(rows.len(), 1, "[{b}] {rows:?}");
        assert_eq!((rows[0].attempts, rows[0].last_error.as_deref()), (3, None), "[{b}] {rows:?}");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(hook.hits().len(), 3, "[{b}] nothing after the 2xx");
    }
}

#[tokio::test]
async fn a_hanging_endpoint_does_not_hold_up_another_tills_callbacks() {
    for db in TestDb::all() {
        let mut cfg = config(&db);
        cfg.api.callback_timeout_ms = 5_000;
        let app = spawn_app_with(db, cfg).await;
        let b = app.backend();
        let w = app.t.world(1_000).await;
        let other = app.t.merchant("55124", "Kibanda Kona").await;
        let (stuck, fine) = (receiver(&[], true).await, receiver(&[], false).await);
        set_callback(&app, w.shop, &stuck.url).await;
        set_callback(&app, other, &fine.url).await;
        for _ in 0..4 {
            submit(&app, TransferKind::MerchantPayment, w.amina, w.shop, 1_500, None).await;
        }
        stuck.wait_for(1, Duration::from_secs(10)).await;
        let start = Instant::now();
        let paid = submit(&app, TransferKind::MerchantPayment, w.amina, other, 2_500, None).await;
        let hits = fine.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(hits.len(), 1, "[{b}] {hits:?}");
        assert_eq!(hits[0].json()["data"]["reference"], paid.reference.as_str(), "[{b}]");
        // Well before the hanging POST's 5 s timeout.
        assert!(start.elapsed() < Duration::from_millis(4_000), "[{b}] took {:?}", start.elapsed());
        // The hanging till has one event in flight, not four.
        assert_eq!(stuck.hits().len(), 1, "[{b}]");

        // After the timeout the attempt counts as failed and waits its backoff.
        let rows = events_until(&app, Duration::from_secs(10), |rows| {
            rows.iter().any(|r| r.account_id == w.shop.0 && r.last_error.is_some())
        })
        .await;
        let failed: Vec<_> = rows.iter().filter(|r| r.last_error.is_some()).collect();
        assert!(!failed.is_empty(), "[{b}] {rows:?}");
        assert!(failed.iter().all(|r| r.account_id == w.shop.0 && r.status == "pending"), "[{b}] {rows:?}");
        assert!(failed[0].last_error.as_deref().is_some_and(|e| e.contains("no answer within 5000 ms")), "[{b}]");
    }
}

#[tokio::test]
async fn a_backlog_goes_out_several_at_a_time_once_each_from_two_processes() {
    for db in TestDb::all() {
        let cfg = config(&db);
        let second = db.clone_for_restart();
        let app = spawn_app_with(db, cfg.clone()).await;
        // A second `mkoba serve` on the same database: its senders compete
        // for the same till.
        let other = spawn_app_with(second, cfg.clone()).await;
        let b = app.backend();
        let w = app.t.world(1_000).await;
        let hook = slow_receiver(&[], false, Duration::from_millis(20)).await;
        set_callback(&app, w.shop, &hook.url).await;
        const N: usize = 60;
        let mut paid = HashSet::new();
        for _ in 0..N {
            paid.insert(submit(&app, TransferKind::MerchantPayment, w.amina, w.shop, 100, None).await.reference);
        }

        let hits = hook.wait_for(N, Duration::from_secs(30)).await;
        let references: HashSet<String> =
            hits.iter().map(|h| h.json()["data"]["reference"].as_str().unwrap_or_default().to_string()).collect();
        assert_eq!(references, paid, "[{b}] every payment's event arrived");
        let ids: HashSet<String> =
            hits.iter().map(|h| h.json()["id"].as_str().unwrap_or_default().to_string()).collect();
        assert_eq!((hits.len(), ids.len()), (N, N), "[{b}] once each: no lease ran out, none was sent twice");
        // One till's backlog is not sent one event at a time; nor, leased
        // by one sender at a time, by both processes at once.
        let most = hook.most_in_flight();
        assert!(most > 1 && most <= cfg.notify.send_concurrency, "[{b}] at most {most} in flight");
        let rows =
            events_until(&app, Duration::from_secs(5), |rows| rows.iter().all(|r| r.status == "delivered")).await;
        assert!(rows.iter().all(|r| r.status == "delivered" && r.attempts == 1), "[{b}] {rows:?}");
        drop(other);
    }
}

#[tokio::test]
async fn an_endpoint_down_costs_one_attempt_per_backoff_whatever_the_backlog() {
    for db in TestDb::all() {
        let cfg = config(&db);
        let app = spawn_app_with(db, cfg).await;
        let b = app.backend();
        let w = app.t.world(1_000).await;
        let hook = receiver(&[500; 1_000], false).await;
        set_callback(&app, w.shop, &hook.url).await;
        let first = submit(&app, TransferKind::MerchantPayment, w.amina, w.shop, 100, None).await;
        for _ in 0..19 {
            submit(&app, TransferKind::MerchantPayment, w.amina, w.shop, 100, None).await;
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let hits = hook.hits();
        // Backing off 100, 200, 400, 400… ms: a handful of attempts in 1.5 s,
        // each the oldest event again, however many wait behind it.
        assert!(!hits.is_empty() && hits.len() < 12, "[{b}] {} attempts", hits.len());
        assert!(
            hits.iter().all(|h| h.json()["data"]["reference"] == first.reference.as_str()),
            "[{b}] only the oldest event is tried"
        );
        let rows = events(&app).await;
        assert_eq!(rows.len(), 20, "[{b}]");
        assert!(rows.iter().all(|r| r.status == "pending"), "[{b}] nothing lost, nothing marked delivered");
        assert!(rows.iter().skip(1).all(|r| r.attempts == 0), "[{b}] the others were never sent: {rows:?}");

        // A new URL ends the backoff: everything goes out at once.
        let fixed = receiver(&[], false).await;
        set_callback(&app, w.shop, &fixed.url).await;
        assert_eq!(fixed.wait_for(20, Duration::from_secs(10)).await.len(), 20, "[{b}]");
    }
}

#[tokio::test]
async fn the_feeder_takes_silent_transfers_many_at_a_time_and_stops_at_a_batch_of_sms() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let b = t.db.backend;
        let w = t.world(1_000).await;
        t.feed_receipts(256).await;
        set_callback_on(&t, w.shop, "http://127.0.0.1:9/hooks").await;
        let allowance = approval(&t, "allowance", w.shop, w.amina, 100_000, "K7Q2").await;
        let feed = |max_messages: usize| {
            let (ledger, notices) = (t.ledger.clone(), notices(&t.config));
            async move {
                ledger.write(move |conn| receipts::feed_within(conn, &notices, 256, max_messages)).await.expect("feed")
            }
        };
        let fed = |transfers, stopped_short| receipts::Fed { transfers, stopped_short };

        // Three payments of two receipts each: two payments a call, then the last.
        for _ in 0..3 {
            submit_on(&t, TransferKind::P2p, w.amina, w.baraka, 100, None).await;
        }
        assert_eq!(feed(4).await, fed(2, true), "[{b}]");
        assert_eq!(feed(4).await, fed(1, false), "[{b}]");
        // Forty charges: no SMS (the till hears by callback, the payer by
        // the digest), so all of them in one call.
        for _ in 0..40 {
            let guard = Some(Guard::Allowance { approval_id: allowance });
            submit_on(&t, TransferKind::Charge, w.amina, w.shop, 100, guard).await;
        }
        assert_eq!(feed(4).await, fed(40, false), "[{b}]");
        assert_eq!(events_on(&t).await.len(), 40, "[{b}] one charge.succeeded each");
        assert_eq!(feed(4).await, fed(0, false), "[{b}]");
    }
}

#[tokio::test]
async fn a_till_is_leased_to_one_sender_and_taken_over_when_the_lease_runs_out() {
    use mkoba::notify::callback_sender::{self as sender, Outcome};
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let b = t.db.backend;
        let w = t.world(1_000).await;
        set_callback_on(&t, w.shop, "http://127.0.0.1:9/hooks").await;
        for _ in 0..5 {
            submit_on(&t, TransferKind::MerchantPayment, w.amina, w.shop, 100, None).await;
        }
        t.feed_receipts(256).await;
        let now = now_ms();
        let due = |at: i64| t.ledger.read(move |conn| sender::due_tills(conn, at, 10));
        let claim =
            |at: i64, batch: i64| t.ledger.write(move |conn| sender::claim(conn, &[w.shop.0], at, 60_000, batch));
        assert_eq!(due(now).await.expect("due"), vec![w.shop.0], "[{b}]");

        // A sender takes the till's three oldest events, then dies.
        let first = claim(now, 3).await.expect("claim");
        assert_eq!(first.len(), 1, "[{b}]");
        assert_eq!(first[0].events.len(), 3, "[{b}]");
        // While its lease runs, no one else gets the till.
        assert!(due(now + 59_000).await.expect("due").is_empty(), "[{b}]");
        assert!(claim(now + 59_000, 10).await.expect("claim").is_empty(), "[{b}]");
        // After it, another sender gets the same events again (at least once), and the rest.
        let second = claim(now + 61_000, 10).await.expect("claim");
        assert_eq!(second.len(), 1, "[{b}]");
        let ids = |c: &sender::Claim| c.events.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(&second[0])[..3], ids(&first[0])[..], "[{b}] the same oldest events");
        assert_eq!(second[0].events.len(), 5, "[{b}]");

        // The first sender's late record marks what it delivered but does
        // not end the second's lease.
        let (late, delivered) = (first.into_iter().next().expect("first"), ids(&second[0])[..2].to_vec());
        let outcome = Outcome { delivered: delivered.clone(), failed: Vec::new() };
        t.ledger.write(move |conn| sender::record(conn, &late, &outcome, 0, now + 62_000)).await.expect("record");
        assert!(due(now + 62_000).await.expect("due").is_empty(), "[{b}] still leased by the second");
        let rows = events_on(&t).await;
        assert_eq!(rows.iter().filter(|r| r.status == "delivered").count(), 2, "[{b}] {rows:?}");

        // The second's record of a failure backs the till off.
        let held = second.into_iter().next().expect("second");
        let failed_id = held.events[2].id;
        let outcome = Outcome { delivered: Vec::new(), failed: vec![(failed_id, "HTTP 500".into())] };
        let back_at = now + 70_000;
        t.ledger.write(move |conn| sender::record(conn, &held, &outcome, back_at, now + 63_000)).await.expect("record");
        assert!(due(back_at - 1).await.expect("due").is_empty(), "[{b}] backing off");
        assert_eq!(due(back_at).await.expect("due"), vec![w.shop.0], "[{b}]");
        let retried = claim(back_at, 10).await.expect("claim");
        assert_eq!(retried[0].failures, 1, "[{b}] one failure so far");
        assert_eq!(retried[0].events.len(), 3, "[{b}] the three not delivered");
        assert_eq!(retried[0].events[0].id, failed_id, "[{b}] oldest first");
        assert_eq!(retried[0].events[0].attempts, 1, "[{b}]");
    }
}

#[tokio::test]
async fn tills_take_turns_for_the_delivery_slots() {
    use mkoba::notify::callback_sender::{self as sender, Outcome};
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let b = t.db.backend;
        let w = t.world(1_000).await;
        let other = t.merchant("55124", "Kibanda Kona").await;
        for till in [w.shop, other] {
            set_callback_on(&t, till, "http://127.0.0.1:9/hooks").await;
            for _ in 0..3 {
                submit_on(&t, TransferKind::MerchantPayment, w.amina, till, 100, None).await;
            }
        }
        t.feed_receipts(256).await;
        let now = now_ms();
        let due = |at: i64| t.ledger.read(move |conn| sender::due_tills(conn, at, 1));
        let (first, second) = (w.shop.0.min(other.0), w.shop.0.max(other.0));
        assert_eq!(due(now).await.expect("due"), vec![first], "[{b}]");
        // The first till's batch of one lands; with one slot free, the
        // other till's turn comes before the first's next batch.
        let claimed = t.ledger.write(move |conn| sender::claim(conn, &[first], now, 60_000, 1)).await.expect("claim");
        let held = claimed.into_iter().next().expect("claimed");
        let outcome = Outcome { delivered: vec![held.events[0].id], failed: Vec::new() };
        t.ledger.write(move |conn| sender::record(conn, &held, &outcome, 0, now + 1)).await.expect("record");
        assert_eq!(due(now + 2).await.expect("due"), vec![second], "[{b}]");
    }
}

/// Inserts an approval as the integrator API would; returns its row id.
async fn approval(t: &TestLedger, kind: &str, till: AccountId, customer: AccountId, minor: i64, code: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let (status, period) = if kind == "allowance" { ("active", Some("day")) } else { ("pending", None) };
    let (public_id, code) = (format!("{kind}_{code}"), code.to_string());
    let kind = kind.to_string();
    const SQL: &str = "INSERT INTO approvals (public_id, kind, code, till_id, customer_id, amount_minor, period, \
        description, status, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 'test', $8, $9, $10) \
        RETURNING id";
    let rows: Vec<Id> = t
        .ledger
        .write(move |conn| {
            let now = now_ms();
            Ok(mkoba::with_conn!(conn, c => diesel::sql_query(SQL)
                .bind::<Text, _>(public_id.clone())
                .bind::<Text, _>(kind.clone())
                .bind::<Text, _>(code.clone())
                .bind::<BigInt, _>(till.0)
                .bind::<BigInt, _>(customer.0)
                .bind::<BigInt, _>(minor)
                .bind::<Nullable<Text>, _>(period)
                .bind::<Text, _>(status)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(now + 600_000)
                .get_results(c))?)
        })
        .await
        .expect("insert approval");
    rows[0].id
}

#[tokio::test]
async fn charges_payment_requests_payouts_and_refunds_raise_their_events() {
    for db in TestDb::all() {
        let cfg = config(&db);
        let app = spawn_app_with(db, cfg).await;
        let b = app.backend();
        let w = app.t.world(1_000).await;
        let hook = receiver(&[], false).await;
        set_callback(&app, w.shop, &hook.url).await;

        let allowance = approval(&app.t, "allowance", w.shop, w.amina, 10_000, "K7Q2").await;
        let charge =
            submit(&app, TransferKind::Charge, w.amina, w.shop, 300, Some(Guard::Allowance { approval_id: allowance }))
                .await;
        let request = approval(&app.t, "payment", w.shop, w.amina, 4_000, "P4Y1").await;
        let paid = submit(
            &app,
            TransferKind::MerchantPayment,
            w.amina,
            w.shop,
            4_000,
            Some(Guard::Request { approval_id: request }),
        )
        .await;
        let payout = submit(&app, TransferKind::Payout, w.shop, w.baraka, 1_000, None).await;
        let original = paid.transfer_id;
        let refund = submit(&app, TransferKind::Refund, w.shop, w.amina, 1_500, Some(Guard::Refund { original })).await;

        let hits = hook.wait_for(5, Duration::from_secs(10)).await;
        let events: Vec<Value> = hits.iter().map(Hit::json).collect();
        let of = |t: &str| {
            let found: Vec<&Value> = events.iter().filter(|e| e["type"] == t).collect();
            assert_eq!(found.len(), 1, "[{b}] one {t}: {events:?}");
            found[0]["data"].clone()
        };
        let c = of("charge.succeeded");
        assert_eq!(c["reference"], charge.reference.as_str(), "[{b}]");
        assert_eq!(c["allowance_id"], "allowance_K7Q2", "[{b}] {c}");
        assert_eq!((c["amount_minor"].as_i64(), c["remaining_minor"].as_i64()), (Some(300), Some(9_700)), "[{b}]");
        let p = of("payment.received");
        assert_eq!((p["reference"].as_str(), p["msisdn"].as_str()), (Some(paid.reference.as_str()), Some(AMINA)));
        let r = of("payment_request.approved");
        assert_eq!(r["id"], "payment_P4Y1", "[{b}] {r}");
        assert_eq!((r["reference"].as_str(), r["amount_minor"].as_i64()), (Some(paid.reference.as_str()), Some(4_000)));
        let o = of("payout.sent");
        assert_eq!((o["reference"].as_str(), o["msisdn"].as_str()), (Some(payout.reference.as_str()), Some(BARAKA)));
        let f = of("refund.sent");
        assert_eq!(f["reference"], refund.reference.as_str(), "[{b}] {f}");
        assert_eq!(f["payment_reference"], paid.reference.as_str(), "[{b}] {f}");
        assert_eq!(f["amount_minor"].as_i64(), Some(1_500), "[{b}]");

        // Customers get receipts for payouts and refunds; the charge's payer
        // waits for the digest; the till gets no SMS at all.
        let amina = sms_to(&app, AMINA).await;
        assert!(amina.iter().any(|m| m.contains(&refund.reference) && m.contains("refunded you KES 15.00")));
        assert!(amina.iter().all(|m| !m.contains(&charge.reference)), "[{b}] {amina:?}");
        let baraka = sms_to(&app, BARAKA).await;
        assert!(baraka.iter().any(|m| m.contains(&payout.reference) && m.contains("You received KES 10.00")));
        let till = sms_to(&app, TILL_CONTACT).await;
        assert!(till.iter().all(|m| ![&charge, &paid, &payout, &refund].iter().any(|t| m.contains(&t.reference))));
        app.t.assert_verified().await;
    }
}

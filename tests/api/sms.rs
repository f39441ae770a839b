//! SMS commands, receipts through the outbox, delivery reports and retries,
//! with the aggregator simulator as the real peer on the other side.

use crate::helpers::{random_suffix, spawn_app_with, TestApp, TestDb, TOKEN};
use mkoba::config::Config;
use mkoba::notify::outbox::{self, OutboxRow};
use mkoba_simulators::{start_aggregator, AggregatorConfig, AggregatorHandle, Failure};
use std::time::Duration;

const AMINA: &str = "254712000001";
const BARAKA: &str = "254712000002";
const AGENT: &str = "254722000001";
const WAIT: Duration = Duration::from_secs(10);

/// The simulator, then mkoba pointed at it, then the simulator's delivery
/// reports pointed back at mkoba.
pub(crate) async fn with_aggregator(db: TestDb, workers: bool) -> (TestApp, AggregatorHandle) {
    let sim =
        start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim");
    let config = sms_config(&db, &sim, workers);
    let app = spawn_app_with(db, config).await;
    sim.set_delivery_callback(Some(format!("{}/webhooks/africastalking/delivery?token={TOKEN}", app.address)));
    (app, sim)
}

fn sms_config(db: &TestDb, sim: &AggregatorHandle, workers: bool) -> Config {
    let mut config = db.config();
    config.sms.base_url = sim.base_url().to_string();
    config.sms.api_key = mkoba::config::Secret::new("sim-key");
    config.notify.workers = workers;
    config.notify.poll_interval_ms = 20;
    config.notify.retry_base_ms = 20;
    config
}

async fn world(app: &TestApp) {
    let t = &app.t;
    t.world(1_000).await;
}

impl TestApp {
    /// An inbound SMS as Africa's Talking posts it; returns the status.
    pub(crate) async fn sms(&self, id: &str, from: &str, text: &str) -> u16 {
        self.sms_with_link(id, from, text, "").await
    }

    /// An inbound SMS to short code 20880 carrying `link_id`.
    async fn sms_with_link(&self, id: &str, from: &str, text: &str, link_id: &str) -> u16 {
        let form = [
            ("from", format!("+{from}")),
            ("to", "20880".to_string()),
            ("text", text.to_string()),
            ("date", "2026-11-24 12:00:00".to_string()),
            ("id", id.to_string()),
            ("linkId", link_id.to_string()),
            ("networkCode", "63902".to_string()),
        ];
        let url = format!("{}/webhooks/africastalking/sms?token={TOKEN}", self.address);
        self.client.post(url).form(&form).send().await.expect("post").status().as_u16()
    }

    async fn outbox_for(&self, recipient: &str) -> Vec<OutboxRow> {
        let r = recipient.to_string();
        self.t.ledger.read(move |c| outbox::for_recipient(c, &r)).await.expect("outbox")
    }
}

pub(crate) async fn text_to(sim: &AggregatorHandle, phone: &str, needle: &str) -> String {
    let n = needle.to_string();
    sim.wait_for_message(phone, move |m| m.message.contains(&n), WAIT)
        .await
        .map(|m| m.message)
        .unwrap_or_else(|| panic!("no SMS to {phone} containing {needle:?}; inbox: {:?}", sim.inbox(phone)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transfer_sends_receipts_to_both_parties() {
    for db in TestDb::all() {
        let (app, sim) = with_aggregator(db, true).await;
        world(&app).await;
        let done = app.last(AMINA, &["1", "0712000002", "600", "1357"]).await;
        let reference = done.split("Ref ").nth(1).and_then(|r| r.get(..10)).expect("reference").to_string();
        let sent = text_to(&sim, AMINA, &reference).await;
        for part in ["You sent KES 600.00 to Baraka Otieno", "Fee KES 5.00", "New balance KES 395.00"] {
            assert!(sent.contains(part), "[{}] {sent}", app.backend());
        }
        let received = text_to(&sim, BARAKA, &reference).await;
        assert!(received.contains("You received KES 600.00 from Amina Juma"), "{received}");
        assert!(received.contains("New balance KES 600.00"), "{received}");
        // A reversal tells both parties too.
        let reversal = mkoba::ledger::ReversalRequest {
            idempotency_key: format!("reverse:{reference}"),
            reference: mkoba::domain::Reference::parse(&reference).expect("reference"),
        };
        let rev = app.t.ledger.reverse(reversal).await.expect("reversal");
        let back = text_to(&sim, AMINA, &format!("Reversal of {reference}")).await;
        assert!(back.contains("KES 600.00 returned to you") && back.contains(&rev.reference), "{back}");
        text_to(&sim, BARAKA, &format!("Reversal of {reference}")).await;
        // The agent got a receipt for the float and for Amina's deposit.
        text_to(&sim, AGENT, "float issued to you").await;
        text_to(&sim, AGENT, "You deposited KES 1,000.00 to Amina Juma").await;
        // Delivery reports come back and mark the messages delivered.
        let delivered = wait_until(|| async {
            app.outbox_for(AMINA).await.iter().any(|m| m.body.contains(&reference) && m.status == "delivered")
        })
        .await;
        assert!(delivered, "[{}] {:?}", app.backend(), app.outbox_for(AMINA).await);
    }
}

pub(crate) async fn wait_until<F, Fut>(check: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_commands_end_to_end() {
    for db in TestDb::all() {
        let (app, sim) = with_aggregator(db, true).await;
        let b = app.backend();
        world(&app).await;
        let id = || format!("ATXid_{}", random_suffix());
        assert_eq!(app.sms(&id(), AMINA, "BAL 1357").await, 200);
        text_to(&sim, AMINA, "Your balance is KES 1,000.00").await;

        app.sms(&id(), AMINA, "send 100 0712 000 002 1357").await;
        let r = text_to(&sim, AMINA, "You sent KES 100.00 to Baraka Otieno").await;
        assert!(!r.contains("1357"), "[{b}] a reply never echoes the PIN: {r}");
        text_to(&sim, BARAKA, "You received KES 100.00 from Amina Juma").await;

        app.sms(&id(), AMINA, "LIPA 55123 50 1357").await;
        text_to(&sim, AMINA, "You paid KES 50.00 to Mama Mboga").await;

        app.sms(&id(), AMINA, "STMT 1357").await;
        text_to(&sim, AMINA, "Mini statement").await;

        app.sms(&id(), AMINA, "PIN 1357 2580").await;
        text_to(&sim, AMINA, "Your PIN has been changed").await;
        app.sms(&id(), AMINA, "BAL 2580").await;
        text_to(&sim, AMINA, "KES 850.00").await;

        app.sms(&id(), AMINA, "LANG SW").await;
        text_to(&sim, AMINA, "Kiswahili").await;
        app.sms(&id(), AMINA, "salio 2580").await;
        text_to(&sim, AMINA, "Salio lako ni").await;
        app.sms(&id(), AMINA, "what is this").await;
        text_to(&sim, AMINA, "SALIO pin").await;

        app.sms(&id(), "254712000055", "BAL 1357").await;
        text_to(&sim, "254712000055", "not registered").await;
        app.sms(&id(), BARAKA, "SEND 1,000 0712000001 1357").await;
        text_to(&sim, BARAKA, "Insufficient funds").await;
        app.sms(&id(), BARAKA, "SEND 10 0712999999 1357").await;
        text_to(&sim, BARAKA, "is not registered").await;
        app.t.assert_verified().await;
        let all: Vec<String> = sim.messages().into_iter().map(|m| m.message).collect();
        assert!(all.iter().all(|m| !m.contains("2580") && !m.contains("1357")), "[{b}] {all:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_inbound_id_is_processed_once() {
    for db in TestDb::all() {
        let (app, sim) = with_aggregator(db, true).await;
        world(&app).await;
        let id = format!("ATXid_{}", random_suffix());
        for _ in 0..3 {
            assert_eq!(app.sms(&id, AMINA, "SEND 100 0712000002 1357").await, 200);
        }
        text_to(&sim, BARAKA, "You received KES 100.00").await;
        assert_eq!(app.t.find(BARAKA).await.expect("baraka").balance_minor, 10_000, "[{}]", app.backend());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let receipts = sim.inbox(BARAKA).into_iter().filter(|m| m.message.contains("You received")).count();
        assert_eq!(receipts, 1, "[{}]", app.backend());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pins_by_sms_lock_the_account_like_ussd() {
    for db in TestDb::all() {
        let (app, sim) = with_aggregator(db, true).await;
        world(&app).await;
        let b = app.backend();
        app.sms(&format!("ATXid_{}", random_suffix()), AMINA, "BAL 9999").await;
        text_to(&sim, AMINA, "Wrong PIN. 2 attempt(s) left").await;
        // USSD and SMS count toward the same lockout.
        assert!(app.last(AMINA, &["4", "1", "9998"]).await.contains("1 attempt(s) left"), "[{b}]");
        app.sms(&format!("ATXid_{}", random_suffix()), AMINA, "SEND 100 0712000002 9997").await;
        text_to(&sim, AMINA, "locked after 3 wrong PINs").await;
        assert_eq!(app.t.find(AMINA).await.expect("amina").status.as_str(), "locked", "[{b}]");
        app.sms(&format!("ATXid_{}", random_suffix()), AMINA, "BAL 1357").await;
        text_to(&sim, AMINA, "Your account is locked").await;
        assert_eq!(app.t.find(BARAKA).await.expect("baraka").balance_minor, 0, "[{b}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_written_before_a_crash_goes_out_once_after_restart() {
    for db in TestDb::all() {
        let sim =
            start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim");
        // The first process commits transfers but its sender never runs (as if
        // it died between commit and queueing the receipts).
        let first = spawn_app_with(db.clone_for_restart(), sms_config(&db, &sim, false)).await;
        world(&first).await;
        let done = first.last(AMINA, &["1", "0712000002", "100", "1357"]).await;
        let reference = done.split("Ref ").nth(1).and_then(|r| r.get(..10)).expect("reference").to_string();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(sim.sent_count(), 0, "nothing sent yet");
        // Its receipts wait in the journal, past the receipts cursor.
        assert!(first.outbox_for(AMINA).await.iter().all(|m| !m.body.contains(&reference)));
        let waiting = first.t.ledger.read(mkoba::notify::receipts::waiting).await.expect("waiting");
        assert!(waiting >= 1, "[{}] the transfer waits for its receipts", first.backend());

        let second = spawn_app_with(db.clone_for_restart(), sms_config(&db, &sim, true)).await;
        text_to(&sim, AMINA, &reference).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let copies = sim.inbox(AMINA).into_iter().filter(|m| m.message.contains(&reference)).count();
        assert_eq!(copies, 1, "[{}] delivered exactly once", second.backend());
        drop((first, second));
        drop(db);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregator_outage_is_retried_without_loss_or_duplicates() {
    for db in TestDb::all() {
        let (app, sim) = with_aggregator(db, true).await;
        world(&app).await;
        // The set-up's three receipts (float, deposit to agent and customer)
        // must be out before the outage, or they would absorb its failures.
        assert!(wait_until(|| async { sim.sent_count() >= 3 }).await, "set-up receipts");
        sim.set_failure(Failure::http_500(4));
        let done = app.last(AMINA, &["1", "0712000002", "100", "1357"]).await;
        let reference = done.split("Ref ").nth(1).and_then(|r| r.get(..10)).expect("reference").to_string();
        text_to(&sim, AMINA, &reference).await;
        text_to(&sim, BARAKA, &reference).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let copies = sim.messages().iter().filter(|m| m.message.contains(&reference)).count();
        assert_eq!(copies, 2, "[{}] two receipts, no duplicates", app.backend());
        let rows = app.outbox_for(AMINA).await;
        let row = rows.iter().find(|m| m.body.contains(&reference)).expect("row");
        assert!(row.attempts >= 2, "[{}] it was retried: {row:?}", app.backend());
        assert!(row.last_error.as_deref().is_some_and(|e| e.contains("500")), "{row:?}");

        // A number the aggregator rejects fails for good, without endless retries.
        sim.set_failure(Failure::recipient_failure(1));
        app.sms(&format!("ATXid_{}", random_suffix()), BARAKA, "HELP").await;
        let failed = wait_until(|| async { app.outbox_for(BARAKA).await.iter().any(|m| m.status == "failed") }).await;
        assert!(failed, "[{}] {:?}", app.backend(), app.outbox_for(BARAKA).await);

        // A gateway error is the gateway's trouble, not the message's: retried.
        sim.set_failure(Failure::recipient_status(1, 501));
        app.sms(&format!("ATXid_{}", random_suffix()), AMINA, "HELP").await;
        let retried = wait_until(|| async {
            app.outbox_for(AMINA).await.iter().any(|m| {
                m.status != "pending"
                    && m.status != "sending"
                    && m.last_error.as_deref().is_some_and(|e| e.contains("GatewayError (501)"))
            })
        })
        .await;
        let rows = app.outbox_for(AMINA).await;
        assert!(retried, "[{}] {rows:?}", app.backend());
        let row =
            rows.iter().find(|m| m.last_error.as_deref().is_some_and(|e| e.contains("GatewayError"))).expect("row");
        assert!(row.status == "sent" || row.status == "delivered", "[{}] {row:?}", app.backend());
        assert_eq!(row.attempts, 2, "[{}] {row:?}", app.backend());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sender_id_pauses_sending_alerts_once_and_resumes_after_the_backoff() {
    const OPS: &str = "ops@mkoba.example";
    for db in TestDb::all() {
        let sim =
            start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim");
        sim.set_failure(Failure::invalid_sender_id(None));
        let mut config = sms_config(&db, &sim, true);
        config.sms.sender_id = "NOTMINE".into();
        config.sms.config_error_backoff_s = 2;
        config.alerts.email_to = OPS.into();
        let app = spawn_app_with(db, config).await;
        let b = app.backend();
        world(&app).await;
        // Three receipts wait (float, and the deposit's two): one attempt, then nothing.
        assert!(wait_until(|| async { sim.request_count() >= 1 }).await, "[{b}] a first attempt");
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(sim.request_count(), 1, "[{b}] sending stopped after one attempt");
        let sms_rows = || async {
            let mut rows = app.outbox_for(AGENT).await;
            rows.extend(app.outbox_for(AMINA).await);
            rows
        };
        let rows = sms_rows().await;
        assert_eq!(rows.len(), 3, "[{b}] {rows:?}");
        assert!(rows.iter().all(|r| r.status == "pending" && r.attempts == 0), "[{b}] all pending: {rows:?}");
        assert!(
            rows.iter().any(|r| r.last_error.as_deref().is_some_and(|e| e.contains("InvalidSenderId"))),
            "{rows:?}"
        );
        let alerts = || async {
            let rows = app.outbox_for(OPS).await;
            rows.into_iter()
                .filter(|r| r.channel == "email" && r.subject.contains("outbound SMS paused"))
                .collect::<Vec<_>>()
        };
        let first = alerts().await;
        assert_eq!(first.len(), 1, "[{b}] one alert: {first:?}");
        assert!(first[0].body.contains("InvalidSenderId") && first[0].body.contains("NOTMINE"), "{}", first[0].body);
        assert!(!first[0].body.contains("sim-key"), "the alert names no key: {}", first[0].body);

        // After the backoff one probe: still refused, still one alert.
        assert!(wait_until(|| async { sim.request_count() >= 2 }).await, "[{b}] a probe after the backoff");
        sim.set_failure(Failure::None);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sim.request_count(), 2, "[{b}] one probe");
        assert_eq!(alerts().await.len(), 1, "[{b}] one alert per incident");

        // The next probe goes through and the backlog drains, each message once.
        assert!(wait_until(|| async { sim.sent_count() >= 3 }).await, "[{b}] the backlog drained");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut sent: Vec<String> = sim.messages().into_iter().map(|m| format!("{}:{}", m.to, m.message)).collect();
        sent.sort();
        sent.dedup();
        assert_eq!((sim.sent_count(), sent.len()), (3, 3), "[{b}] each message once");
        let rows = sms_rows().await;
        assert!(rows.iter().all(|r| r.status == "sent" || r.status == "delivered"), "[{b}] {rows:?}");
        assert_eq!(alerts().await.len(), 1, "[{b}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_corrected_settings_resumes_at_once() {
    for db in TestDb::all() {
        let sim =
            start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim");
        // The aggregator refuses the first process's sender id.
        sim.set_failure(Failure::invalid_sender_id(Some(1)));
        let mut config = sms_config(&db, &sim, true);
        config.sms.sender_id = "NOTMINE".into();
        let first = spawn_app_with(db.clone_for_restart(), config).await;
        let b = first.backend();
        world(&first).await;
        assert!(wait_until(|| async { sim.request_count() >= 1 }).await, "[{b}] a first attempt");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!((sim.request_count(), sim.sent_count()), (1, 0), "[{b}] paused for the default 900 s");
        // Restarted with a sender id the aggregator takes: no 900 s wait.
        let mut config = sms_config(&db, &sim, true);
        config.sms.sender_id = "MKOBA".into();
        let second = spawn_app_with(db.clone_for_restart(), config).await;
        assert!(wait_until(|| async { sim.sent_count() >= 3 }).await, "[{b}] resumed at once");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sim.sent_count(), 3, "[{b}] each message once");
        assert!(sim.messages().iter().all(|m| m.from == "MKOBA"), "[{b}] {:?}", sim.messages());
        drop((first, second));
        drop(db);
    }
}

#[tokio::test]
async fn webhooks_refuse_bad_requests_and_accept_unknown_delivery_ids() {
    for db in TestDb::all() {
        let (app, _sim) = with_aggregator(db, true).await;
        let b = app.backend();
        let sms_url = format!("{}/webhooks/africastalking/sms", app.address);
        let dlr_url = format!("{}/webhooks/africastalking/delivery", app.address);
        let post = |url: String, body: &'static str| {
            app.client.post(url).header("content-type", "application/x-www-form-urlencoded").body(body).send()
        };
        let code = |r: reqwest::Response| r.status().as_u16();
        assert_eq!(
            code(post(sms_url.clone(), "from=%2B254712000001&id=X1&text=BAL").await.expect("post")),
            401,
            "[{b}]"
        );
        assert_eq!(code(post(format!("{sms_url}?token=nope"), "from=%2B254712000001&id=X1").await.expect("post")), 401);
        assert_eq!(code(post(format!("{sms_url}?token={TOKEN}"), "text=BAL+1357").await.expect("post")), 400, "[{b}]");
        assert_eq!(
            code(post(format!("{sms_url}?token={TOKEN}"), "from=abc&id=X2&text=HELP").await.expect("post")),
            400
        );
        assert_eq!(code(post(format!("{dlr_url}?token={TOKEN}"), "status=Success").await.expect("post")), 400, "[{b}]");
        assert_eq!(code(post(dlr_url.clone(), "id=ATXid_1&status=Success").await.expect("post")), 401, "[{b}]");
        let unknown =
            post(format!("{dlr_url}?token={TOKEN}"), "id=ATXid_unknown&status=Success&phoneNumber=%2B254712000001");
        assert_eq!(code(unknown.await.expect("post")), 200, "[{b}]");
        assert!(app.outbox_for(AMINA).await.is_empty(), "[{b}] nothing stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sending_from_one_outbox_send_each_message_once() {
    for db in TestDb::all() {
        let sim =
            start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim");
        let one = spawn_app_with(db.clone_for_restart(), sms_config(&db, &sim, true)).await;
        let two = spawn_app_with(db.clone_for_restart(), sms_config(&db, &sim, true)).await;
        let w = one.t.world(5_000).await;
        for i in 0..10 {
            let app = if i % 2 == 0 { &one } else { &two };
            app.t
                .transfer(mkoba::ledger::TransferKind::P2p, w.amina, w.baraka, crate::helpers::kes(10))
                .await
                .expect("p2p");
        }
        // Receipts: float, deposit (2), 10 transfers (2 each).
        let expected = 1 + 2 + 20;
        let all_sent = wait_until(|| async { sim.sent_count() >= expected }).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(all_sent, "[{}] {} of {expected}", one.backend(), sim.sent_count());
        let mut bodies: Vec<String> = sim.messages().into_iter().map(|m| format!("{}:{}", m.to, m.message)).collect();
        let total = bodies.len();
        bodies.sort();
        bodies.dedup();
        assert_eq!((total, bodies.len()), (expected, expected), "[{}] no message twice", one.backend());
        drop((one, two));
        drop(db);
    }
}

#[tokio::test]
async fn a_rate_limited_number_is_told_why_and_when_to_retry() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.notify.workers = false;
    config.rate_limits.per_msisdn_per_minute = 2;
    let app = spawn_app_with(db, config).await;
    let body =
        |id: &str| format!("from=%2B{AMINA}&to=20880&text=HELP&date=2026-11-24&id={id}&linkId=&networkCode=63902");
    for id in ["ATXid_r1", "ATXid_r2"] {
        assert_eq!(app.webhook("sms", &format!("token={TOKEN}"), &body(id)).await.status().as_u16(), 200);
    }
    let stored = app.webhook_rows().await;
    let resp = app.webhook("sms", &format!("token={TOKEN}"), &body("ATXid_r3")).await;
    assert_eq!(resp.status().as_u16(), 429);
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert!(header("content-type").is_some_and(|t| t.starts_with("text/plain")), "{:?}", header("content-type"));
    // Two a minute: the next one is allowed within 30 s.
    let retry_after: u64 = header("retry-after").expect("Retry-After").parse().expect("whole seconds");
    assert!((1..=30).contains(&retry_after), "Retry-After: {retry_after}");
    let text = resp.text().await.expect("body");
    assert!(text.contains("too many requests from this number"), "{text}");
    assert_eq!(app.webhook_rows().await, stored, "the refused SMS was processed");
    // Another number is not held back by Amina's limit.
    let other = format!("from=%2B{BARAKA}&to=20880&text=HELP&date=2026-11-24&id=ATXid_r4&linkId=&networkCode=63902");
    assert_eq!(app.webhook("sms", &format!("token={TOKEN}"), &other).await.status().as_u16(), 200);
}

impl TestApp {
    /// A delivery report as Africa's Talking posts it.
    async fn delivery_report(&self, id: &str, status: &str, phone: &str) -> u16 {
        let form = [
            ("id", id.to_string()),
            ("status", status.to_string()),
            ("phoneNumber", format!("+{phone}")),
            ("networkCode", "63902".to_string()),
            ("failureReason", if status == "Failed" { "DeliveryFailure".into() } else { String::new() }),
            ("retryCount", "0".to_string()),
        ];
        let url = format!("{}/webhooks/africastalking/delivery?token={TOKEN}", self.address);
        self.client.post(url).form(&form).send().await.expect("post").status().as_u16()
    }

    /// The outbox row the aggregator knows as `provider_id`.
    async fn row_for(&self, recipient: &str, provider_id: &str) -> OutboxRow {
        let rows = self.outbox_for(recipient).await;
        rows.into_iter().find(|m| m.provider_id.as_deref() == Some(provider_id)).expect("the message's row")
    }
}

/// Sends `text` to `phone` through mkoba (a HELP reply) and returns the
/// aggregator's message id once mkoba has recorded it.
async fn sent_message(app: &TestApp, sim: &AggregatorHandle, phone: &str) -> String {
    let before = sim.inbox(phone).len();
    assert_eq!(app.sms(&format!("ATXid_{}", random_suffix()), phone, "HELP").await, 200);
    let arrived = sim.wait_for_messages(phone, before + 1, WAIT).await.expect("the reply reached the phone");
    let id = arrived[before].id.clone();
    let recorded = wait_until(|| async {
        app.outbox_for(phone).await.iter().any(|m| m.provider_id.as_deref() == Some(id.as_str()) && m.status == "sent")
    })
    .await;
    assert!(recorded, "[{}] the message id was recorded: {:?}", app.backend(), app.outbox_for(phone).await);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_delivery_reports_never_undo_a_final_state() {
    for db in TestDb::all() {
        let (app, sim) = with_aggregator(db, true).await;
        let b = app.backend();
        // mkoba's reports come from this test alone, in the order it chooses.
        sim.set_delivery_callback(None);

        // Delivered, then a late "Sent": stays delivered.
        let id = sent_message(&app, &sim, AMINA).await;
        assert_eq!(app.delivery_report(&id, "Success", AMINA).await, 200);
        assert_eq!(app.row_for(AMINA, &id).await.status, "delivered", "[{b}]");
        assert_eq!(app.delivery_report(&id, "Sent", AMINA).await, 200);
        assert_eq!(app.delivery_report(&id, "Buffered", AMINA).await, 200);
        let row = app.row_for(AMINA, &id).await;
        assert_eq!((row.status.as_str(), row.delivery_status.as_deref()), ("delivered", Some("Success")), "[{b}]");

        // Failed, then a late "Success": stays failed.
        let id = sent_message(&app, &sim, AMINA).await;
        assert_eq!(app.delivery_report(&id, "Failed", AMINA).await, 200);
        assert_eq!(app.delivery_report(&id, "Success", AMINA).await, 200);
        let row = app.row_for(AMINA, &id).await;
        assert_eq!(row.status, "failed", "[{b}] {row:?}");
        assert!(row.delivery_status.as_deref().is_some_and(|s| s.starts_with("Failed")), "[{b}] {row:?}");

        // An unknown status is recorded as such and moves nothing; a final
        // report after it still lands.
        let id = sent_message(&app, &sim, BARAKA).await;
        assert_eq!(app.delivery_report(&id, "Buffered", BARAKA).await, 200);
        assert_eq!(app.delivery_report(&id, "Teleported", BARAKA).await, 200);
        let row = app.row_for(BARAKA, &id).await;
        assert_eq!(
            (row.status.as_str(), row.delivery_status.as_deref()),
            ("sent", Some("unknown:Teleported")),
            "[{b}]"
        );
        // The right id for another number changes nothing.
        assert_eq!(app.delivery_report(&id, "Success", AMINA).await, 200);
        assert_eq!(app.row_for(BARAKA, &id).await.status, "sent", "[{b}] a report for another number moved it");
        assert_eq!(app.delivery_report(&id, "Success", BARAKA).await, 200);
        assert_eq!(app.row_for(BARAKA, &id).await.status, "delivered", "[{b}]");
        // An unknown status after the final one leaves it whole.
        assert_eq!(app.delivery_report(&id, "Teleported", BARAKA).await, 200);
        let row = app.row_for(BARAKA, &id).await;
        assert_eq!((row.status.as_str(), row.delivery_status.as_deref()), ("delivered", Some("Success")), "[{b}]");
    }
}

/// The conditional UPDATE is the state machine: reports applied straight to
/// the database in any order end where the pure machine says.
#[test]
fn delivery_reports_in_any_order_end_in_the_right_state_in_the_database() {
    use mkoba::notify::delivery::{self, Report, State};
    use mkoba::notify::outbox::{Attempt, Channel, NewMessage};
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for db in TestDb::all() {
        let b = db.backend;
        let t = crate::helpers::TestLedger::open(db);
        let config = ProptestConfig { cases: 24, ..ProptestConfig::default() };
        let status = prop_oneof![
            Just("Sent"),
            Just("Submitted"),
            Just("Buffered"),
            Just("Success"),
            Just("Failed"),
            Just("Rejected"),
            Just("Expired"),
            Just("Teleported")
        ];
        proptest!(config, |(statuses in proptest::collection::vec(status, 1..8).prop_shuffle())| {
            rt.block_on(async {
                let provider_id = format!("ATXid_{}", random_suffix());
                let pid = provider_id.clone();
                t.ledger
                    .write(move |c| {
                        let now = mkoba::domain::now_ms();
                        outbox::enqueue(c, &NewMessage::sms(AMINA, "hello".into(), Some(format!("prop:{pid}"))), now)?;
                        for row in outbox::claim_due(c, Channel::Sms, now, 60_000, 100)? {
                            outbox::record(c, row.id, &Attempt::Sent { provider_id: Some(pid.clone()) }, now)?;
                        }
                        Ok(())
                    })
                    .await
                    .expect("a sent message");
                let mut expected = State::Sent;
                for status in &statuses {
                    let kind = mkoba::aggregators::africastalking::delivery_report(status);
                    expected = delivery::next(expected, kind).unwrap_or(expected);
                    let (pid, recorded) = (provider_id.clone(), delivery::describe(kind, status, ""));
                    t.ledger
                        .write(move |c| outbox::delivery_report(c, &pid, AMINA, kind, &recorded, 0))
                        .await
                        .expect("report");
                }
                let rows = t.outbox_naming("hello").await;
                let row = rows.iter().find(|r| r.provider_id.as_deref() == Some(provider_id.as_str())).expect("row");
                let first_final = statuses.iter().find_map(|s| match mkoba::aggregators::africastalking::delivery_report(s) {
                    Report::Delivered => Some(State::Delivered),
                    Report::Failed => Some(State::Failed),
                    _ => None,
                });
                assert_eq!(expected, first_final.unwrap_or(State::Sent), "{statuses:?}");
                assert_eq!(row.status, expected.as_str(), "[{b}] {statuses:?}");
            });
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_go_from_the_short_code_texted_with_its_link_id_when_configured() {
    // The last run keeps the default: replies from the sender id.
    let mut runs: Vec<(TestDb, bool)> = TestDb::all().into_iter().map(|db| (db, true)).collect();
    runs.push((TestDb::sqlite(), false));
    for (db, from_short_code) in runs {
        let sim =
            start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim");
        let mut config = sms_config(&db, &sim, true);
        config.sms.sender_id = "MKOBA".into();
        config.sms.reply_from_inbound_to = from_short_code;
        let app = spawn_app_with(db, config).await;
        let b = app.backend();
        world(&app).await;
        app.sms_with_link(&format!("ATXid_{}", random_suffix()), AMINA, "BAL 1357", "SampleLinkId123").await;
        let reply =
            sim.wait_for_message(AMINA, |m| m.message.contains("Your balance is"), WAIT).await.expect("the reply");
        if from_short_code {
            assert_eq!(reply.from, "20880", "[{b}] from the short code texted: {reply:?}");
            assert_eq!(reply.link_id.as_deref(), Some("SampleLinkId123"), "[{b}] {reply:?}");
        } else {
            assert_eq!((reply.from.as_str(), reply.link_id.as_deref()), ("MKOBA", None), "[{b}] {reply:?}");
        }
        // Receipts are not replies: from the sender id, no linkId.
        let receipt = sim.wait_for_message(AGENT, |m| m.message.contains("float issued"), WAIT).await.expect("receipt");
        assert_eq!((receipt.from.as_str(), receipt.link_id.as_deref()), ("MKOBA", None), "[{b}] {receipt:?}");
    }
}

/// A first run without an aggregator account: every SMS stays in a local
/// inbox (what `mkoba-phone --inbox` reads); nothing is POSTed anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_api_key_replies_stay_in_the_local_inbox() {
    use mkoba_simulators::inbox::{local_inbox, InboxError};
    for db in TestDb::all() {
        // An aggregator at the configured URL, to see that nothing reaches it.
        let sim =
            start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim");
        let mut config = db.config();
        config.sms.base_url = sim.base_url().to_string();
        config.notify.poll_interval_ms = 20;
        assert!(!config.sms.api_key.is_set());
        let app = spawn_app_with(db, config).await;
        let b = app.backend();
        world(&app).await;
        assert_eq!(app.sms(&format!("ATXid_{}", random_suffix()), AMINA, "BAL 1357").await, 200);
        let http = reqwest::Client::new();
        // The reply, and the deposit's receipt too (queued by the receipts
        // feeder on its own schedule, so in either order).
        let found = wait_until(|| async {
            local_inbox(&http, &app.address, TOKEN, AMINA).await.is_ok_and(|inbox| {
                inbox.iter().any(|m| m.message.contains("Your balance is KES 1,000.00"))
                    && inbox.iter().any(|m| m.message.contains("cash deposit of KES 1,000.00"))
            })
        })
        .await;
        assert!(found, "[{b}] {:?}", local_inbox(&http, &app.address, TOKEN, AMINA).await);
        let inbox = local_inbox(&http, &app.address, TOKEN, AMINA).await.expect("inbox");
        assert!(inbox.windows(2).all(|w| w[0].id < w[1].id), "[{b}] oldest first: {inbox:?}");
        let rows = app.outbox_for(AMINA).await;
        assert!(
            rows.iter().all(|r| r.status == "delivered" && r.delivery_status.as_deref() == Some("local")),
            "{rows:?}"
        );
        // The token guards it; another number's inbox is its own.
        let err = local_inbox(&http, &app.address, "wrong", AMINA).await.expect_err("refused");
        assert!(matches!(err, InboxError::Http(401, _)), "[{b}] {err}");
        let agents = local_inbox(&http, &app.address, TOKEN, AGENT).await.expect("agent inbox");
        assert!(agents.iter().all(|m| !m.message.contains("Your balance is")), "[{b}] {agents:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(sim.request_count(), 0, "[{b}] nothing was POSTed");
    }
    // With credentials there is no local inbox.
    let db = TestDb::sqlite();
    let (app, _sim) = with_aggregator(db, false).await;
    let err = local_inbox(&reqwest::Client::new(), &app.address, TOKEN, AMINA).await.expect_err("not served");
    assert!(matches!(err, InboxError::NotServed), "{err}");
}

//! Africa's Talking as it really behaves (SPEC §12): session-end events,
//! resuming a dropped session, shared service codes, callers from another
//! country, and the deadline a hop is answered within.

use crate::helpers::{random_suffix, spawn_app, spawn_app_with, TestApp, TestDb, TOKEN};
use mkoba::config::Argon2Config;

const AMINA: &str = "254712000001";
const BARAKA: &str = "254712000002";

impl TestApp {
    /// A session-end notification exactly as Africa's Talking posts it, to `path`.
    async fn session_end(&self, path: &str, session: &str, phone: &str, status: &str, input: &str) -> u16 {
        let form = [
            ("date", "2026-11-30 12:00:00"),
            ("sessionId", session),
            ("serviceCode", "*384#"),
            ("networkCode", "63902"),
            ("phoneNumber", phone),
            ("status", status),
            ("cost", "KES 0.0000"),
            ("durationInMillis", "21000"),
            ("hopsCount", "4"),
            ("input", input),
            ("lastAppResponse", "CON Send KES 100.00 to Baraka Otieno?"),
            ("errorMessage", if status == "Failed" { "UNKNOWN_ERROR" } else { "" }),
        ];
        let url = format!("{}/webhooks/africastalking/{path}?token={TOKEN}", self.address);
        self.client.post(url).form(&form).send().await.expect("post").status().as_u16()
    }

    async fn session_count(&self) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        self.t
            .ledger
            .read(|conn| {
                use diesel::RunQueryDsl;
                let rows: Vec<N> = mkoba::with_conn!(conn, c => diesel::sql_query(
                    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM ussd_sessions").load(c))?;
                Ok(rows.first().map_or(0, |r| r.n))
            })
            .await
            .expect("count")
    }
}

async fn world(db: TestDb) -> TestApp {
    let app = spawn_app(db).await;
    app.t.world(1_000).await;
    app
}

#[tokio::test]
async fn a_session_end_event_is_never_a_hop() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let session = format!("ATUid_{}", random_suffix());
        for (i, text) in ["", "1", "1*0712000002", "1*0712000002*100"].iter().enumerate() {
            let (status, body) = app.hop(&session, AMINA, text).await;
            assert_eq!(status, 200, "[{b}] hop {i}: {body}");
        }
        // At the PIN screen the event arrives, at the events URL and, as a
        // misconfigured aggregator would send it, at the hop URL too.
        for path in ["ussd-events", "ussd"] {
            let status = app.session_end(path, &session, "+254712000001", "Incomplete", "1*0712000002*100*1357").await;
            assert_eq!(status, 200, "[{b}] {path}");
        }
        let (_, done) = app.hop(&session, AMINA, "1*0712000002*100*1357").await;
        assert!(done.starts_with("END Sent KES 100.00 to Baraka Otieno"), "[{b}] the session was untouched: {done}");

        // For a session mkoba never saw: recorded, no session created.
        let sessions = app.session_count().await;
        let status = app.session_end("ussd-events", "ATUid_unknown", "+254712000002", "Failed", "").await;
        assert_eq!(status, 200);
        assert_eq!(app.session_count().await, sessions, "[{b}] no session row made");
        assert_eq!(app.session_end("ussd-events", "ATUid_x", "+254712000002", "Bogus", "").await, 400, "[{b}]");
        let url = format!("{}/webhooks/africastalking/ussd-events?token=wrong", app.address);
        let wrong = app.client.post(url).form(&[("sessionId", "x"), ("status", "Success")]).send().await.expect("post");
        assert_eq!(wrong.status().as_u16(), 401, "[{b}]");
        // The PIN in `input` is stored nowhere.
        let stored = app
            .t
            .ledger
            .read(|conn| {
                use diesel::RunQueryDsl;
                #[derive(diesel::QueryableByName)]
                struct Row {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    joined: String,
                }
                let rows: Vec<Row> = mkoba::with_conn!(conn, c => diesel::sql_query(
                    "SELECT session_id || status || cost || error_message || service_code AS joined FROM ussd_session_events"
                ).load(c))?;
                Ok(rows.into_iter().map(|r| r.joined).collect::<Vec<_>>().join("|"))
            })
            .await
            .expect("events");
        assert!(stored.contains("incomplete") && stored.contains("failed"), "[{b}] {stored}");
        // The session id is random hex and may itself hold "1357".
        assert!(!stored.replace(&session, "<session>").contains("1357"), "[{b}] no PIN stored: {stored}");
    }
}

#[tokio::test]
async fn a_dropped_session_can_be_resumed_once_without_skipping_the_pin() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let dropped = format!("ATUid_{}", random_suffix());
        for text in ["", "1", "1*0712000002", "1*0712000002*100"] {
            app.hop(&dropped, AMINA, text).await;
        }
        assert_eq!(app.session_end("ussd-events", &dropped, "+254712000001", "Incomplete", "").await, 200);

        let session = format!("ATUid_{}", random_suffix());
        let (_, offer) = app.hop(&session, AMINA, "").await;
        assert!(offer.starts_with("CON Your last session was cut off."), "[{b}] {offer}");
        assert!(offer.contains("1. Continue") && offer.contains("2. Start again"), "[{b}]");
        // Continuing shows the confirmation again and asks for the PIN.
        let (_, confirm) = app.hop(&session, AMINA, "1").await;
        assert!(confirm.contains("Baraka Otieno") && confirm.contains("KES 100.00"), "[{b}] {confirm}");
        assert!(confirm.contains("PIN"), "[{b}] {confirm}");
        // Offered once only.
        let home = app.last(AMINA, &[]).await;
        assert!(home.starts_with("CON") && !home.contains("cut off"), "[{b}] offered once: {home}");
        let (_, done) = app.hop(&session, AMINA, "1*1357").await;
        assert!(done.starts_with("END Sent KES 100.00 to Baraka Otieno"), "[{b}] {done}");
        assert_eq!(app.t.find(BARAKA).await.expect("baraka").balance_minor, 10_000, "[{b}]");

        // Start again: the home menu; a completed session is not offered.
        let other = format!("ATUid_{}", random_suffix());
        for text in ["", "4", "4*1"] {
            app.hop(&other, AMINA, text).await;
        }
        app.session_end("ussd-events", &other, "+254712000001", "Incomplete", "").await;
        let screens = app.dial(AMINA, &["2"]).await;
        assert!(screens[0].contains("cut off"), "[{b}] {}", screens[0]);
        assert!(screens[1].contains("1. Send money"), "[{b}] home: {}", screens[1]);
        let ok = format!("ATUid_{}", random_suffix());
        app.hop(&ok, AMINA, "").await;
        app.session_end("ussd-events", &ok, "+254712000001", "Success", "").await;
        assert!(!app.last(AMINA, &[]).await.contains("cut off"), "[{b}]");
        app.t.assert_verified().await;
    }
}

#[tokio::test]
async fn shared_service_codes_and_callers_from_elsewhere() {
    for db in TestDb::all() {
        let mut config = db.config();
        config.service_code = mkoba::config::ServiceCodes::new(vec!["*384#".into(), "*384*1234#".into()]);
        let app = spawn_app_with(db, config).await;
        app.t.world(1_000).await;
        let b = app.backend();
        for code in ["*384#", "*384*1234#"] {
            let session = format!("ATUid_{}", random_suffix());
            let (status, body) = app.hop_with(&session, AMINA, "", code, TOKEN).await;
            assert_eq!(status, 200);
            assert!(body.contains("1. Send money"), "[{b}] {code}: {body}");
        }
        let (_, other) = app.hop_with("ATUid_other", AMINA, "", "*385#", TOKEN).await;
        assert!(other.starts_with("END") && other.contains("*384#"), "[{b}] {other}");

        // A Tanzanian caller gets a screen, not an HTTP error.
        let (status, body) = app.hop_with("ATUid_tz", "+255712345678", "", "*384#", TOKEN).await;
        assert_eq!(status, 200, "[{b}] {body}");
        assert!(body.starts_with("END mkoba serves +254 numbers only"), "[{b}] {body}");
        let (status, _) = app.hop_with("ATUid_bad", "not-a-number", "", "*384#", TOKEN).await;
        assert_eq!(status, 400, "[{b}] garbage is still a bad request");
    }
}

/// A hop whose work outlasts `ussd.deadline_ms` is answered "processing";
/// the transfer completes once, its outcome goes by SMS, and a replay of the
/// hop gets the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hop_past_its_deadline_finishes_and_answers_by_sms() {
    for db in TestDb::all() {
        let mut config = db.config();
        config.notify.workers = false;
        // A PIN check that takes far longer than the deadline.
        config.pin.argon2 = Argon2Config { memory_kib: 32_768, iterations: 8, parallelism: 1 };
        config.ussd.deadline_ms = 5;
        let app = spawn_app_with(db, config).await;
        app.t.world(1_000).await;
        let b = app.backend();
        let session = format!("ATUid_{}", random_suffix());
        let text = "1*0712000002*100*1357";
        let (status, first) = app.hop(&session, AMINA, text).await;
        assert_eq!(status, 200);
        assert!(first.starts_with("END Processing. You will get an SMS."), "[{b}] {first}");
        // The work goes on: the transfer lands and its outcome is queued as an SMS.
        let mut sent = Vec::new();
        for _ in 0..100 {
            sent = app.t.outbox_naming("Sent KES 100.00 to Baraka Otieno").await;
            if !sent.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(sent.len(), 1, "[{b}] the outcome by SMS");
        assert_eq!(sent[0].recipient, AMINA);
        let (_, replay) = app.hop(&session, AMINA, text).await;
        assert_eq!(replay, first, "[{b}] a replay gets the same answer");
        assert_eq!(app.t.find(BARAKA).await.expect("baraka").balance_minor, 10_000, "[{b}] moved once");
        assert_eq!(app.t.outbox_naming("Sent KES 100.00 to Baraka Otieno").await.len(), 1, "[{b}] one SMS");
        app.t.assert_verified().await;
    }
}

//! Receipts for micro payments (SPEC §9): a small payment confirmed on a
//! USSD screen, or a charge, sends the payer no SMS of its own; one digest
//! SMS a day per customer says count and total per counterparty and the
//! balance, exactly once across processes.

use crate::callbacks::{reference_on, sms_to};
use crate::helpers::{notices, spawn_app, TestApp, TestDb};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;
use mkoba::domain::now_ms;
use mkoba::ledger::Ledger;
use mkoba::notify::digest;

const AMINA: &str = "254712000001";
const BARAKA: &str = "254712000002";
const TILL_CONTACT: &str = "254799000000";

#[derive(Debug, diesel::QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Nullable<Text>)]
    dedupe_key: Option<String>,
}

async fn digests(app: &TestApp) -> Vec<Digest> {
    const SQL: &str = "SELECT recipient, body, dedupe_key FROM outbox WHERE dedupe_key LIKE 'digest:%' ORDER BY id";
    app.t.ledger.read(|conn| Ok(mkoba::with_conn!(conn, c => diesel::sql_query(SQL).load(c))?)).await.expect("read")
}

#[derive(Debug, diesel::QueryableByName)]
struct Item {
    #[diesel(sql_type = BigInt)]
    account_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    digest_day: Option<i64>,
}

async fn items(app: &TestApp) -> Vec<Item> {
    const SQL: &str = "SELECT account_id, digest_day FROM digest_items ORDER BY id";
    app.t.ledger.read(|conn| Ok(mkoba::with_conn!(conn, c => diesel::sql_query(SQL).load(c))?)).await.expect("read")
}

async fn run_digest(app: &TestApp, ledger: &Ledger, at_ms: i64) -> usize {
    let notices = notices(&app.t.config);
    ledger.write(move |conn| digest::run_digest(conn, &notices, at_ms)).await.expect("run digest")
}

#[tokio::test]
async fn small_ussd_payments_go_into_one_daily_digest_sent_once() {
    for db in TestDb::all() {
        let app = spawn_app(db).await;
        let b = app.backend();
        let w = app.t.world(1_000).await;
        // Two small payments to the till and a small send, confirmed on USSD;
        // one payment above receipts.digest_below_minor (KES 10).
        let mut small = Vec::new();
        for (inputs, start) in [
            (["3", "55123", "5", "1357"], "END Paid KES 5.00"),
            (["3", "55123", "4", "1357"], "END Paid KES 4.00"),
            (["1", "0712000002", "3", "1357"], "END Sent KES 3.00"),
        ] {
            let done = app.last(AMINA, &inputs).await;
            assert!(done.starts_with(start), "[{b}] {done}");
            small.push(reference_on(&done));
        }
        let big = reference_on(&app.last(AMINA, &["3", "55123", "50", "1357"]).await);
        app.t.feed_receipts(256).await;

        let amina = sms_to(&app, AMINA).await;
        assert!(small.iter().all(|r| amina.iter().all(|m| !m.contains(r.as_str()))), "[{b}] {amina:?}");
        assert!(amina.iter().any(|m| m.contains(&big)), "[{b}] the larger payment has its own receipt");
        // Payees still get a receipt for each payment.
        let till = sms_to(&app, TILL_CONTACT).await;
        assert!(small[..2].iter().all(|r| till.iter().any(|m| m.contains(r.as_str()))), "[{b}] {till:?}");
        let baraka = sms_to(&app, BARAKA).await;
        assert!(baraka.iter().any(|m| m.contains(&small[2]) && m.contains("You received KES 3.00")), "[{b}]");
        assert_eq!(items(&app).await.len(), 3, "[{b}]");

        // Not yet: these items come after the digest due now.
        let now = now_ms();
        assert_eq!(run_digest(&app, &app.t.ledger, now).await, 0, "[{b}]");
        // A day on, the digest is due: one SMS, to the payer only.
        let later = now + 86_400_000;
        let config = &app.t.config;
        let (day, _) = digest::due_digest(later, config.receipts.digest_hour, config.ledger.day_utc_offset_minutes);
        assert_eq!(run_digest(&app, &app.t.ledger, later).await, 1, "[{b}]");
        let sent = digests(&app).await;
        assert_eq!(sent.len(), 1, "[{b}] {sent:?}");
        assert_eq!(sent[0].recipient, AMINA, "[{b}]");
        assert_eq!(sent[0].dedupe_key.as_deref(), Some(format!("digest:{}:{day}", w.amina.0).as_str()), "[{b}]");
        let body = &sent[0].body;
        let balance = config.currency.show(app.t.balance(w.amina).await);
        for part in [
            "3 small payments, KES 12.00",
            "Mama Mboga 2x KES 9.00",
            "Baraka Otieno 1x KES 3.00",
            &format!("Balance {balance}."),
        ] {
            assert!(body.contains(part), "[{b}] digest lacks {part:?}: {body}");
        }
        assert!(body.chars().count() <= 160, "[{b}] {body}");
        assert!(items(&app).await.iter().all(|i| i.account_id == w.amina.0 && i.digest_day == Some(day)), "[{b}]");

        // Again, or from a second process on the same database: nothing more.
        assert_eq!(run_digest(&app, &app.t.ledger, later + 60_000).await, 0, "[{b}]");
        let second = app.t.second_writer();
        assert_eq!(run_digest(&app, &second, later + 120_000).await, 0, "[{b}]");
        assert_eq!(digests(&app).await.len(), 1, "[{b}]");
    }
}

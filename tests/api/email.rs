//! Alert emails to a real SMTP server (an in-process sink speaking SMTP on
//! a loopback port): account locked, agent float low, daily ledger summary.

use crate::helpers::{kes, spawn_app_with, TestApp, TestDb, World};
use mkoba::config::Secret;
use mkoba_simulators::{start_aggregator, start_smtp, AggregatorConfig, AggregatorHandle, SmtpSink};
use std::time::Duration;

const OPS: &str = "ops@mkoba.example";
const WAIT: Duration = Duration::from_secs(10);

async fn with_smtp(db: TestDb) -> (TestApp, SmtpSink, AggregatorHandle) {
    let sink = start_smtp().await.expect("smtp sink");
    let sim =
        start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim");
    let mut config = db.config();
    config.smtp.url = Secret::new(sink.url());
    config.smtp.from = "mkoba alerts <alerts@mkoba.example>".into();
    config.alerts.email_to = OPS.into();
    config.alerts.float_low_minor = kes(9_000).minor();
    config.sms.base_url = sim.base_url().to_string();
    config.sms.api_key = Secret::new("sim-key");
    config.notify.poll_interval_ms = 20;
    config.notify.retry_base_ms = 20;
    (spawn_app_with(db, config).await, sink, sim)
}

async fn mail(sink: &SmtpSink, needle: &str) -> String {
    let n = needle.to_string();
    sink.wait_for(move |m| m.data.contains(&n), WAIT)
        .await
        .map(|m| {
            assert_eq!(m.to, vec![OPS.to_string()]);
            m.data
        })
        .unwrap_or_else(|| panic!("no email containing {needle:?}; got {:?}", sink.messages()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_account_and_low_float_alert_the_operator() {
    for db in TestDb::all() {
        let (app, sink, _sim) = with_smtp(db).await;
        // 10,000 - 1,500 + 20 commission: below the 9,000 line, once.
        let World { agent, amina, .. } = app.t.world(1_500).await;
        let low = mail(&sink, "float low").await;
        assert!(low.contains("Duka Moja"), "{low}");
        app.t.transfer(mkoba::ledger::TransferKind::CashIn, agent, amina, kes(10)).await.expect("deposit");

        for pin in ["9999", "9998", "9997"] {
            app.last("254712000001", &["4", "1", pin]).await;
        }
        let locked = mail(&sink, "locked after 3 wrong PINs").await;
        assert!(locked.contains("2547****0001"), "{locked}");
        assert!(!locked.contains("254712000001"), "the whole number stays out of email: {locked}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let lows = sink.messages().iter().filter(|m| m.data.contains("float low")).count();
        assert_eq!(lows, 1, "[{}] one alert per crossing", app.backend());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_summary_totals_each_kind_and_reports_verify() {
    for db in TestDb::all() {
        let (app, sink, _sim) = with_smtp(db).await;
        let World { amina, baraka, .. } = app.t.world(1_000).await;
        for _ in 0..3 {
            app.t.transfer(mkoba::ledger::TransferKind::P2p, amina, baraka, kes(200)).await.expect("p2p");
        }
        // An SMTP server that stumbles once: the summary is retried, sent once.
        sink.fail_next(1, 451);
        let offset = app.t.config.ledger.day_utc_offset_minutes;
        let today = mkoba::domain::time::day_number(mkoba::domain::now_ms(), offset);
        let notices = std::sync::Arc::new(mkoba::notify::Notices::new(
            &app.t.config,
            std::sync::Arc::new(mkoba::i18n::Catalog::load().expect("catalog")),
        ));
        for _ in 0..2 {
            let n = notices.clone();
            app.t
                .ledger
                .write(move |c| mkoba::notify::summary::enqueue_daily(c, &n, today, offset))
                .await
                .expect("queue");
        }
        // (At start the app already sent yesterday's, with nothing in it.)
        let subject = format!("mkoba daily summary {}", mkoba::domain::time::iso_date(today));
        let summary = mail(&sink, &subject).await;
        assert!(summary.contains("p2p") && summary.contains("KES 600.00"), "{summary}");
        assert!(summary.contains("ledger verify: ok"), "{summary}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let copies = sink.messages().iter().filter(|m| m.data.contains(&subject)).count();
        assert_eq!(copies, 1, "[{}] queued twice, sent once", app.backend());
    }
}

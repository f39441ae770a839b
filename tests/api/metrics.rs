//! `GET /metrics` (SPEC §10): the counters' values after a known workload
//! on a real server and database, the admin key it requires, and
//! `metrics.enabled = false`.

use crate::helpers::{spawn_app_with, TestApp, TestDb};
use mkoba::admin::keys;
use mkoba::admin::Role;
use mkoba::config::{LimitRule, RuleAction};
use mkoba::domain::now_ms;
use std::collections::BTreeMap;

const AMINA: &str = "254712000001";

/// Series name and sorted labels → value, from the Prometheus text format.
struct Scrape(BTreeMap<(String, Vec<(String, String)>), f64>, String);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut series = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let (head, value) = line.rsplit_once(' ').expect("a value");
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (head, ""),
            };
            let mut labels: Vec<(String, String)> = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once('=').expect("label=value");
                    (k.to_string(), v.trim_matches('"').to_string())
                })
                .collect();
            labels.sort();
            series.insert((name.to_string(), labels), value.parse().expect("a number"));
        }
        Scrape(series, text.to_string())
    }

    /// The value of one series; 0 when absent (a counter never touched).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        labels.sort();
        self.0.get(&(name.to_string(), labels)).copied().unwrap_or(0.0)
    }
}

async fn admin_key(app: &TestApp, name: &str, role: Role) -> String {
    let secret = app.t.config.api.key_secret.expose().to_string();
    let name = name.to_string();
    let created = app.t.ledger.write(move |conn| keys::create(conn, &secret, &name, role, now_ms())).await;
    created.expect("admin key").key
}

async fn scrape_with(app: &TestApp, key: Option<&str>) -> (u16, String) {
    let mut req = app.client.get(format!("{}/metrics", app.address));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.expect("scrape");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

async fn scrape(app: &TestApp, key: &str) -> Scrape {
    let (status, text) = scrape_with(app, Some(key)).await;
    assert_eq!(status, 200, "[{}] {text}", app.backend());
    Scrape::parse(&text)
}

#[tokio::test]
async fn metrics_count_a_known_workload() {
    for db in TestDb::all() {
        let mut config = db.config();
        config.notify.workers = false;
        config.velocity.out_count_per_hour = LimitRule { limit: Some(1), action: RuleAction::Decline };
        let app = spawn_app_with(db, config).await;
        let backend = app.backend();
        app.t.world(1_000).await; // a float issue and a deposit, through the ledger
        let key = admin_key(&app, "grafana", Role::Viewer).await;

        let sent = app.last(AMINA, &["1", "0712000002", "50", "1357"]).await;
        assert!(sent.starts_with("END"), "[{backend}] {sent}");
        let wrong = app.last(AMINA, &["1", "0712000002", "50", "9999"]).await;
        assert!(wrong.to_lowercase().contains("wrong"), "[{backend}] {wrong}");
        let declined = app.last(AMINA, &["1", "0712000002", "50", "1357"]).await;
        assert!(declined.starts_with("END"), "[{backend}] {declined}");
        assert_eq!(app.sms("metrics-sms-1", AMINA, "BAL 1357").await, 200);

        let m = scrape(&app, &key).await;
        let hops = 15.0; // three sessions of a dial and four inputs
        assert_eq!(m.get("mkoba_ussd_hops_total", &[]), hops, "[{backend}]\n{}", m.1);
        assert_eq!(m.get("mkoba_sms_inbound_total", &[]), 1.0, "[{backend}]");
        let transfers = |kind, outcome| m.get("mkoba_transfers_total", &[("kind", kind), ("outcome", outcome)]);
        assert_eq!(transfers("float_issue", "ok"), 1.0, "[{backend}]\n{}", m.1);
        assert_eq!(transfers("cash_in", "ok"), 1.0, "[{backend}]");
        assert_eq!(transfers("p2p", "ok"), 1.0, "[{backend}]");
        assert_eq!(transfers("p2p", "rule_declined"), 1.0, "[{backend}]");
        assert_eq!(m.get("mkoba_declines_total", &[("rule", "out_count_per_hour")]), 1.0, "[{backend}]");
        assert_eq!(m.get("mkoba_pin_failures_total", &[]), 1.0, "[{backend}]");

        let route = |path| [("route", path), ("method", "POST"), ("status", "200")];
        let ussd = route("/webhooks/africastalking/ussd");
        assert_eq!(m.get("mkoba_http_request_duration_seconds_count", &ussd), hops, "[{backend}]\n{}", m.1);
        let sms = route("/webhooks/africastalking/sms");
        assert_eq!(m.get("mkoba_http_request_duration_seconds_count", &sms), 1.0, "[{backend}]");
        // Every PIN went through the PIN threads' queue, and each wait was seen.
        let checks = app.pins.checks() as f64;
        assert_eq!(checks, 4.0, "[{backend}] two sends, the declined one and the SMS");
        assert_eq!(m.get("mkoba_pin_check_queue_wait_seconds_count", &[]), checks, "[{backend}]");
        assert_eq!(m.get("mkoba_pin_check_queue_depth", &[]), 0.0, "[{backend}]");
        assert!(m.get("mkoba_ledger_writer_batch_jobs_count", &[]) >= 1.0, "[{backend}]");
        assert!(m.get("mkoba_ledger_writer_batch_jobs_sum", &[]) >= 1.0, "[{backend}]");
        // Workers are off: the balance reply and the receipts wait in the outbox.
        let pending = app
            .t
            .ledger
            .read(|c| mkoba::notify::outbox::pending(c, mkoba::notify::outbox::Channel::Sms))
            .await
            .expect("pending");
        assert!(pending > 0, "[{backend}] the balance reply at least");
        assert_eq!(m.get("mkoba_outbox_pending", &[("channel", "sms")]), pending as f64, "[{backend}]");
        assert_eq!(m.get("mkoba_outbox_pending", &[("channel", "email")]), 0.0, "[{backend}]");
        // Names and labels only: a sample's value is a number, and a latency
        // sum such as 0.007122972 holds "0712" without naming anyone.
        let named: Vec<&str> = m
            .1
            .lines()
            .map(|line| if line.starts_with('#') { line } else { line.rsplit_once(' ').map_or(line, |(key, _)| key) })
            .collect();
        for number in ["2547", "0712", "1357"] {
            assert!(!named.iter().any(|l| l.contains(number)), "[{backend}] {number} in the metrics:\n{}", m.1);
        }

        // A second scrape sees the first one's request too, under its route.
        let again = scrape(&app, &key).await;
        let get = [("route", "/metrics"), ("method", "GET"), ("status", "200")];
        assert_eq!(again.get("mkoba_http_request_duration_seconds_count", &get), 1.0, "[{backend}]");
        assert_eq!(again.get("mkoba_ussd_hops_total", &[]), hops, "[{backend}] scraping counts nothing else");
    }
}

#[tokio::test]
async fn metrics_need_a_live_viewer_or_operator_key() {
    for db in TestDb::all() {
        let config = db.config();
        let app = spawn_app_with(db, config).await;
        let backend = app.backend();
        let viewer = admin_key(&app, "viewer-1", Role::Viewer).await;
        let operator = admin_key(&app, "operator-1", Role::Operator).await;
        let revoked = admin_key(&app, "revoked-1", Role::Viewer).await;
        let gone = app.t.ledger.write(|conn| keys::revoke(conn, "revoked-1", now_ms())).await;
        assert!(gone.expect("revoke"), "[{backend}]");

        let (status, body) = scrape_with(&app, None).await;
        assert_eq!(status, 401, "[{backend}] {body}");
        assert!(!body.contains("mkoba_"), "[{backend}] nothing is shown without a key");
        for wrong in [revoked.as_str(), "mk_admin_not_a_key", "", &viewer[..viewer.len() - 1], crate::helpers::TOKEN] {
            let (status, _) = scrape_with(&app, Some(wrong)).await;
            assert_eq!(status, 401, "[{backend}] {wrong:?} is no key");
        }
        let basic = app
            .client
            .get(format!("{}/metrics", app.address))
            .basic_auth("viewer-1", Some(&viewer))
            .send()
            .await
            .expect("scrape");
        assert_eq!(basic.status().as_u16(), 401, "[{backend}] only a Bearer token");
        for key in [&viewer, &operator] {
            let (status, text) = scrape_with(&app, Some(key)).await;
            assert_eq!(status, 200, "[{backend}] {text}");
            assert!(text.contains("# TYPE mkoba_http_request_duration_seconds histogram"), "[{backend}] {text}");
        }
    }
}

#[tokio::test]
async fn metrics_off_record_nothing_and_serve_nothing() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.metrics.enabled = false;
    let app = spawn_app_with(db, config).await;
    assert!(!app.t.ledger.metrics().enabled());
    app.t.world(100).await;
    let key = admin_key(&app, "viewer", Role::Viewer).await;
    let (status, body) = scrape_with(&app, Some(&key)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("metrics.enabled"), "{body}");
    assert_eq!(scrape_with(&app, None).await.0, 401, "the key is checked first");
}

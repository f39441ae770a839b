//! What every webhook route does before its handler: the token, and that a
//! refused request stores nothing.

use crate::helpers::{spawn_app, TestApp, TestDb, TOKEN};

const AMINA: &str = "254712000001";

/// Each webhook route with a body its handler would accept and store.
fn routes() -> [(&'static str, String); 3] {
    [
        ("ussd", format!("sessionId=ATUid_g1&serviceCode=%2A384%23&phoneNumber=%2B{AMINA}&networkCode=63902&text=")),
        ("sms", format!("from=%2B{AMINA}&to=20880&text=HELP&date=2026-11-24&id=ATXid_g1&linkId=&networkCode=63902")),
        ("delivery", "id=ATXid_unknown&status=Success&phoneNumber=%2B254712000001".to_string()),
    ]
}

impl TestApp {
    /// POSTs a form body to a webhook route with a raw query string.
    pub async fn webhook(&self, route: &str, query: &str, body: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/webhooks/africastalking/{route}?{query}", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .expect("post")
    }

    /// Rows that webhook processing writes: USSD sessions, inbound SMS ids
    /// and outbound messages.
    pub async fn webhook_rows(&self) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        const SQL: &str = "SELECT (SELECT COUNT(*) FROM ussd_sessions) + (SELECT COUNT(*) FROM inbound_sms) \
                           + (SELECT COUNT(*) FROM outbox) AS n";
        self.t
            .ledger
            .read(|conn| {
                use diesel::RunQueryDsl;
                let rows: Vec<N> = mkoba::with_conn!(conn, c => diesel::sql_query(SQL).load(c))?;
                Ok(rows.first().map_or(0, |r| r.n))
            })
            .await
            .expect("count rows")
    }
}

#[tokio::test]
async fn a_repeated_token_is_refused_and_nothing_is_stored() {
    for db in TestDb::all() {
        let mut config = db.config();
        config.notify.workers = false;
        let app = crate::helpers::spawn_app_with(db, config).await;
        let b = app.backend();
        for (route, body) in routes() {
            for query in [
                format!("token={TOKEN}&token=bad"),
                format!("token=bad&token={TOKEN}"),
                format!("token={TOKEN}&token={TOKEN}"),
            ] {
                let resp = app.webhook(route, &query, &body).await;
                assert_eq!(resp.status().as_u16(), 401, "[{b}] {route} ?{query}");
            }
        }
        assert_eq!(app.webhook_rows().await, 0, "[{b}] a refused request stored something");
        // The same requests with one token are processed (and stored).
        for (route, body) in routes() {
            let resp = app.webhook(route, &format!("token={TOKEN}"), &body).await;
            assert_eq!(resp.status().as_u16(), 200, "[{b}] {route}");
        }
        assert!(app.webhook_rows().await >= 2, "[{b}] the accepted USSD hop and SMS were stored");
    }
}

#[tokio::test]
async fn the_token_alone_is_accepted_among_other_parameters() {
    let app = spawn_app(TestDb::sqlite()).await;
    let (_, body) = &routes()[0];
    let resp = app.webhook("ussd", &format!("a=1&token={TOKEN}&b=2"), body).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.expect("body").starts_with("CON "));
}

/// A refusal that says why in `text/plain` with a `Retry-After`.
async fn assert_refused(resp: reqwest::Response, status: u16, reason: &str, what: &str) {
    assert_eq!(resp.status().as_u16(), status, "{what}");
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{what}: {content_type}");
    if status == 429 {
        let retry_after: u64 = header("retry-after").expect("Retry-After").parse().expect("whole seconds");
        assert!((1..=2).contains(&retry_after), "{what}: Retry-After {retry_after}");
    }
    let text = resp.text().await.expect("body");
    assert!(text.contains(reason), "{what}: {text}");
}

#[tokio::test]
async fn a_burst_from_one_address_is_refused_wrong_tokens_included() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.notify.workers = false;
    config.rate_limits.per_source_per_second = 1;
    config.rate_limits.per_source_burst = 6;
    let app = crate::helpers::spawn_app_with(db, config).await;
    // Six wrong tokens, two on each route, use up 127.0.0.1's burst...
    for (route, body) in routes() {
        for _ in 0..2 {
            assert_eq!(app.webhook(route, "token=wrong", &body).await.status().as_u16(), 401, "{route}");
        }
    }
    // ...so the right token is refused too, on every route (USSD included:
    // the aggregator is talking, not a phone), and nothing is processed.
    for (route, body) in routes() {
        let resp = app.webhook(route, &format!("token={TOKEN}"), &body).await;
        assert_refused(resp, 429, "too many requests from this address", route).await;
    }
    assert_eq!(app.webhook_rows().await, 0, "a refused request was processed");
    // The allowance comes back at its rate.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (route, body) = &routes()[0];
    assert_eq!(app.webhook(route, &format!("token={TOKEN}"), body).await.status().as_u16(), 200);
}

#[tokio::test]
async fn the_default_source_limit_lets_a_busy_aggregator_through() {
    let app = spawn_app(TestDb::sqlite()).await;
    // 300 hops at once from one address, each its own session.
    let hops = (0..300).map(|i| {
        let body = format!("sessionId=ATUid_busy{i}&serviceCode=%2A384%23&phoneNumber=%2B2547120{i:05}&text=");
        let app = &app;
        async move { app.webhook("ussd", &format!("token={TOKEN}"), &body).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(hops).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

#[tokio::test]
async fn an_address_outside_allowed_ips_gets_403_and_nothing_is_processed() {
    for db in TestDb::all() {
        let mut config = db.config();
        config.notify.workers = false;
        config.webhooks.allowed_ips = vec!["10.0.0.0/8".into(), "2001:db8::/32".into()];
        let app = crate::helpers::spawn_app_with(db, config).await;
        let b = app.backend();
        for (route, body) in routes() {
            let resp = app.webhook(route, &format!("token={TOKEN}"), &body).await;
            assert_refused(resp, 403, "may not call the webhooks", &format!("[{b}] {route}")).await;
        }
        assert_eq!(app.webhook_rows().await, 0, "[{b}] a refused request was processed");
    }
}

#[tokio::test]
async fn an_address_inside_allowed_ips_is_served() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.notify.workers = false;
    config.webhooks.allowed_ips = vec!["10.0.0.0/8".into(), "127.0.0.0/8".into()];
    let app = crate::helpers::spawn_app_with(db, config).await;
    for (route, body) in routes() {
        assert_eq!(app.webhook(route, &format!("token={TOKEN}"), &body).await.status().as_u16(), 200, "{route}");
    }
    assert!(app.webhook_rows().await >= 2, "the USSD hop and the SMS were processed");
    // Still behind the token.
    let (route, body) = &routes()[0];
    assert_eq!(app.webhook(route, "token=wrong", body).await.status().as_u16(), 401);
}

#[tokio::test]
async fn an_invalid_allowed_ips_entry_stops_the_start() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.webhooks.allowed_ips = vec!["10.0.0.0/8".into(), "10.0.0.0/40".into()];
    let err = mkoba::startup::Application::build(config).await.err().expect("refused to start");
    let message = format!("{err:#}");
    assert!(message.contains("webhooks.allowed_ips") && message.contains("10.0.0.0/40"), "{message}");
}

/// The guard wraps the whole `/webhooks` scope, not each handler: a path
/// there with no handler behind it is still refused before routing.
#[tokio::test]
async fn the_guard_covers_every_path_under_webhooks() {
    let app = spawn_app(TestDb::sqlite()).await;
    let (_, body) = &routes()[0];
    assert_eq!(app.webhook("not-yet-written", "token=wrong", body).await.status().as_u16(), 401);
    assert_eq!(app.webhook("not-yet-written", &format!("token={TOKEN}"), body).await.status().as_u16(), 404);
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.webhooks.allowed_ips = vec!["10.0.0.0/8".into()];
    let fenced = crate::helpers::spawn_app_with(db, config).await;
    assert_eq!(fenced.webhook("not-yet-written", &format!("token={TOKEN}"), body).await.status().as_u16(), 403);
    // Outside the scope nothing changes: /health needs no token.
    let health = fenced.client.get(format!("{}/health", fenced.address)).send().await.expect("get");
    assert_eq!(health.status().as_u16(), 200);
}

//! Logs captured during a whole flow carry no PIN and no whole phone number.

use crate::helpers::{kes, spawn_app, spawn_app_with, TestDb};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static CAPTURE: OnceLock<Capture> = OnceLock::new();

/// Starts capturing, once for the whole test binary: the subscriber is
/// global, because the server logs from its own worker threads. Everything
/// mkoba logs, at every level, from every test running meanwhile.
fn capture() -> &'static Capture {
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn,mkoba=trace"))
            .with_ansi(false)
            // Timestamps' digits would match a PIN now and then.
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber in this binary");
        capture
    })
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

#[tokio::test]
async fn a_full_flow_logs_no_pin_and_no_whole_phone_number() {
    let capture = capture();

    let app = spawn_app(TestDb::sqlite()).await;
    let agent = app.t.agent("254722000077", "Duka Saba").await;
    app.t.float(agent, kes(1_000)).await;
    let done = app.last("254722000077", &["1", "0712000077"]).await;
    assert!(done.contains("not registered"), "{done}");
    app.t.customer("254712000077", "Neema Saba").await;
    let done = app.last("254722000077", &["1", "0712000077", "50", "1357"]).await;
    assert!(done.starts_with("END Deposited"), "{done}");
    app.last("254712000077", &["4", "3", "1357", "8642", "8642"]).await;
    app.last("254712000077", &["4", "1", "8642"]).await;
    app.last("254712000077", &["4", "1", "7531"]).await;

    // Random ids (request ids, session ids) are hex and now and then hold a
    // PIN's four digits: blank them before looking for secrets.
    let logs = without_random_ids(&capture.text());
    assert!(logs.contains("ussd hop") && logs.contains("msisdn=2547****0077"), "the flow was logged:\n{logs}");
    for secret in ["1357", "8642", "7531", "254712000077", "0712000077", TOKEN_IN_LOGS] {
        assert!(!logs.contains(secret), "logs contain {secret}:\n{logs}");
    }
}

const TOKEN_IN_LOGS: &str = crate::helpers::TOKEN;

/// `logs` with the values of id and duration fields blanked: `request_id`,
/// `session`, and any field named `…_id`, `…_ms` or `…_us`. Random ids are
/// hex and timings are numbers, and now and then one holds a PIN's four
/// digits; every other field (`text`, `msisdn`, messages) is kept.
fn without_random_ids(logs: &str) -> String {
    let blanked = |name: &str| {
        name == "request_id" || name == "session" || ["_id", "_ms", "_us"].iter().any(|s| name.ends_with(s))
    };
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(logs.len());
    let mut rest = logs;
    while let Some(at) = rest.find('=') {
        let (before, after) = (&rest[..at], &rest[at + 1..]);
        let name_at = before.rfind(|c: char| !word(c)).map_or(0, |i| i + 1);
        out.push_str(before);
        out.push('=');
        if blanked(&before[name_at..]) {
            out.push_str("<id>");
            rest = &after[after.find(|c: char| !word(c)).unwrap_or(after.len())..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn random_ids_and_timings_are_blanked_and_nothing_else() {
    let line = "request{request_id=9ce1616d91357531}:ussd{session=ATUid_7531ab msisdn=2547****0077 text=7531}: \
        ussd hop elapsed_us=1357 ends=true pin=7531";
    assert_eq!(
        without_random_ids(line),
        "request{request_id=<id>}:ussd{session=<id> msisdn=2547****0077 text=7531}: \
        ussd hop elapsed_us=<id> ends=true pin=7531"
    );
}

/// The aggregator's reason for refusing a send (its 401 text body) is
/// logged; the API key never is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregators_refusal_is_logged_with_its_reason_and_never_the_key() {
    use mkoba_simulators::{start_aggregator, AggregatorConfig};
    let capture = capture();
    let sim =
        start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim");
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.sms.base_url = sim.base_url().to_string();
    config.sms.api_key = mkoba::config::Secret::new("wrong-key-7f3a9c");
    config.notify.poll_interval_ms = 20;
    let app = spawn_app_with(db, config).await;
    app.t.world(100).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !capture.text().contains("The supplied authentication is invalid") && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let logs = capture.text();
    assert!(sim.stats().rejected >= 1, "the aggregator refused a send");
    assert!(
        logs.contains("HTTP 401") && logs.contains("The supplied authentication is invalid"),
        "the reason was logged:\n{logs}"
    );
    assert!(!logs.contains("wrong-key-7f3a9c"), "the API key was logged:\n{logs}");
    // The message waits, with the reason beside it. The attempt is recorded
    // just after its reason is logged: wait for the record, not the log.
    let mut rows = app.t.outbox_naming("float issued").await;
    let settled = |rows: &[mkoba::notify::outbox::OutboxRow]| {
        rows.iter().all(|r| r.status == "pending") && rows.iter().any(|r| r.last_error.is_some())
    };
    while !settled(&rows) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        rows = app.t.outbox_naming("float issued").await;
    }
    assert!(rows.iter().all(|r| r.status == "pending"), "{rows:?}");
    assert!(rows.iter().any(|r| r.last_error.as_deref().is_some_and(|e| e.contains("authentication is invalid"))));
}

/// `mkoba serve` with `MKOBA_LOG_FORMAT=json`, as a process: every line it
/// writes to stderr is one JSON object, a webhook's lines carry its request
/// id, and no line holds a whole phone number, a PIN or a colour code.
#[tokio::test]
async fn json_logs_are_json_lines_with_request_ids_and_no_numbers() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    for db in TestDb::all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("mkoba"))
            .arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("MKOBA_DATABASE_URL", &db.url)
            .env("MKOBA_SECRETS_FILE", dir.path().join("mkoba.secrets"))
            .env("MKOBA_LISTEN", "127.0.0.1:0")
            .env("MKOBA_WEBHOOK_TOKEN", TOKEN_IN_LOGS)
            .env("MKOBA_PIN__ARGON2__MEMORY_KIB", "1024")
            .env("MKOBA_PIN__ARGON2__ITERATIONS", "1")
            .env("MKOBA_LOG", "info,mkoba=debug")
            .env("MKOBA_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mkoba serve starts");
        // Read stdout to its end: a closed pipe would fail serve's next print.
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, url)) = line.split_once("ussd callback: ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx.recv().expect("serve prints its USSD callback URL");
        let base = url.split("/webhooks").next().expect("base").to_string();
        let client = reqwest::Client::new();
        let hop = |phone: &'static str, text: &'static str| {
            let form = [("sessionId", "ATUid_json"), ("serviceCode", "*384#"), ("phoneNumber", phone), ("text", text)];
            client.post(&url).form(&form).send()
        };
        let first = hop("0712000055", "").await.expect("hop");
        assert_eq!(first.status().as_u16(), 200);
        let id = first.headers().get("x-request-id").expect("a request id header").to_str().expect("ascii").to_string();
        assert_eq!(id.len(), 16, "{id}");
        assert_eq!(hop("0712000055", "1").await.expect("hop").status().as_u16(), 200);
        assert_eq!(hop("+255712000055", "").await.expect("hop").status().as_u16(), 200);
        let sms = [("from", "+254712000055"), ("to", "20880"), ("text", "BAL 1357"), ("id", "json-sms-1")];
        let sms_url = format!("{base}/webhooks/africastalking/sms?token={TOKEN_IN_LOGS}");
        assert_eq!(client.post(sms_url).form(&sms).send().await.expect("sms").status().as_u16(), 200);
        child.kill().expect("stop serve");
        let mut stderr = String::new();
        child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
        let _ = child.wait();

        let lines: Vec<serde_json::Value> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("[{}] not JSON ({e}): {l}", db.backend)))
            .collect();
        let request_id = |line: &serde_json::Value| {
            line["spans"].as_array()?.iter().find_map(|s| s["request_id"].as_str().map(str::to_string))
        };
        let hops: Vec<&serde_json::Value> = lines.iter().filter(|l| l["message"] == "ussd hop").collect();
        assert_eq!(hops.len(), 2, "[{}] {stderr}", db.backend);
        assert_eq!(request_id(hops[0]).as_deref(), Some(id.as_str()), "[{}] {stderr}", db.backend);
        assert_ne!(request_id(hops[0]), request_id(hops[1]), "one id per request");
        assert!(stderr.contains("2547****0055"), "[{}] the masked number is logged: {stderr}", db.backend);
        assert!(lines
            .iter()
            .any(|l| l["message"] == "ussd hop from another country's number" && request_id(l).is_some()));
        for secret in ["254712000055", "0712000055", "255712000055", "1357", TOKEN_IN_LOGS, "\u{1b}"] {
            assert!(!stderr.contains(secret), "[{}] logs contain {secret:?}:\n{stderr}", db.backend);
        }
    }
}

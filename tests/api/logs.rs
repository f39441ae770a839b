//! Logs captured during a whole flow carry no PIN and no whole phone number.

use crate::helpers::{kes, spawn_app, TestDb};
use std::io::Write;
use std::sync::{Arc, Mutex};

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

#[tokio::test]
async fn a_full_flow_logs_no_pin_and_no_whole_phone_number() {
    let capture = Capture::default();
    let writer = capture.clone();
    // Global, because the server logs from its own worker threads; only this
    // test installs one. Everything mkoba logs, at every level.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn,mkoba=trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber in this binary");

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

    let logs = String::from_utf8(capture.0.lock().expect("logs").clone()).expect("utf8");
    assert!(logs.contains("ussd hop") && logs.contains("msisdn=2547****0077"), "the flow was logged:\n{logs}");
    for secret in ["1357", "8642", "7531", "254712000077", "0712000077", TOKEN_IN_LOGS] {
        assert!(!logs.contains(secret), "logs contain {secret}:\n{logs}");
    }
}

const TOKEN_IN_LOGS: &str = crate::helpers::TOKEN;

//! `mkoba-load` and `mkoba-phone` against a stand-in for mkoba's USSD
//! webhook.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use mkoba_simulators::load::{run_load, LoadConfig, Scenario};

const TOKEN: &str = "T0k";

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A fake mkoba: the send-money and My-account menus of SPEC §6.
fn answer(text: &str) -> String {
    let parts: Vec<&str> = if text.is_empty() { vec![] } else { text.split('*').collect() };
    match parts.as_slice() {
        [] => "CON Welcome to mkoba\n1. Send money\n4. My account".to_string(),
        ["4"] => "CON My account\n1. Balance".to_string(),
        ["1"] => "CON Enter phone number".to_string(),
        ["1", _] => "CON Enter amount".to_string(),
        ["1", to, amount] => format!("CON Send KES {amount} to {to}? Fee KES 0.00\nEnter PIN"),
        ["1", _, _, "1357"] => "END Sent. Ref QK7H2M9XTA".to_string(),
        ["1", _, _, _] => "END Wrong PIN".to_string(),
        _ => "END Invalid choice".to_string(),
    }
}

async fn start_fake_mkoba() -> (String, Seen, actix_web::dev::ServerHandle) {
    let seen: Seen = Arc::default();
    let state = Arc::clone(&seen);
    let server = HttpServer::new(move || {
        let seen = Arc::clone(&state);
        App::new().route(
            "/webhooks/africastalking/ussd",
            web::post().to(
                move |query: web::Query<HashMap<String, String>>, form: web::Form<HashMap<String, String>>| {
                    let seen = Arc::clone(&seen);
                    async move {
                        if query.get("token").map(String::as_str) != Some(TOKEN) {
                            return HttpResponse::Unauthorized().finish();
                        }
                        let form = form.into_inner();
                        let body = answer(form.get("text").map_or("", String::as_str));
                        seen.lock().expect("lock").push(form);
                        HttpResponse::Ok().content_type("text/plain").body(body)
                    }
                },
            ),
        )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("bind fake mkoba");
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}"), seen, handle)
}

fn phones() -> Vec<String> {
    vec!["254712345678".to_string(), "254712000002".to_string(), "254712000003".to_string()]
}

#[tokio::test]
async fn menu_load_runs_without_errors() {
    let (url, seen, server) = start_fake_mkoba().await;
    let mut cfg = LoadConfig::new(&url, TOKEN, Scenario::Menu, phones());
    cfg.concurrency = 4;
    cfg.duration = Duration::from_millis(300);
    let report = run_load(cfg).await.expect("load runs");
    assert!(report.requests > 0);
    assert_eq!(report.errors, 0, "{}", report.to_text());
    assert!(report.sessions_completed > 0);
    assert_eq!(report.transfers, 0);
    assert!(report.p50_ms > 0.0 && report.p50_ms <= report.p99_ms && report.p99_ms <= report.max_ms);
    assert!(report.duration_s < 5.0);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len() as u64, report.requests);
    for form in &seen {
        assert!(form["sessionId"].starts_with("ATUid_"));
        assert_eq!(form["serviceCode"], "*384#");
        assert_eq!(form["networkCode"], "63902");
        assert!(form["phoneNumber"].starts_with("+2547"));
        assert!(form["text"].is_empty() || form["text"] == "4", "{form:?}");
    }
    server.stop(false).await;
}

#[tokio::test]
async fn transfer_load_counts_transfers_and_stops_at_max_requests() {
    let (url, seen, server) = start_fake_mkoba().await;
    let mut cfg = LoadConfig::new(&url, TOKEN, Scenario::Transfer, phones());
    cfg.concurrency = 2;
    cfg.max_requests = Some(40);
    let report = run_load(cfg).await.expect("load runs");
    assert_eq!(report.requests, 40);
    assert_eq!(report.errors, 0, "{}", report.to_text());
    assert!(report.transfers >= 6, "{}", report.to_text());
    assert_eq!(report.transfers, report.transfers_with_reference);
    let json = serde_json::to_value(&report).expect("JSON report");
    assert_eq!(json["scenario"], "transfer");
    assert_eq!(json["requests"], 40);
    // Recipients are typed the local way and are never the caller.
    for form in seen.lock().expect("lock").iter() {
        let parts: Vec<&str> = form["text"].split('*').collect();
        if parts.len() >= 2 {
            assert!(parts[1].starts_with("07"), "{form:?}");
            assert_ne!(form["phoneNumber"].trim_start_matches("+254"), parts[1].trim_start_matches('0'));
        }
        if parts.len() == 4 {
            assert_eq!(parts[2], "10");
            assert_eq!(parts[3], "1357");
        }
    }
    server.stop(false).await;
}

#[tokio::test]
async fn wrong_token_and_dead_server_count_as_errors() {
    let (url, _, server) = start_fake_mkoba().await;
    let mut cfg = LoadConfig::new(&url, "wrong", Scenario::Menu, phones());
    cfg.concurrency = 1;
    cfg.max_requests = Some(3);
    let report = run_load(cfg).await.expect("load runs");
    assert_eq!(report.errors_http_status, 3);
    assert_eq!(report.errors, 3);
    assert!(report.error_samples[0].contains("HTTP 401"));
    assert!(!report.error_samples[0].contains("wrong"), "no token in samples");
    server.stop(false).await;

    let mut cfg = LoadConfig::new("http://127.0.0.1:9", TOKEN, Scenario::Menu, phones());
    cfg.concurrency = 1;
    cfg.max_requests = Some(2);
    let report = run_load(cfg).await.expect("load runs");
    assert_eq!(report.errors_transport, 2);
}

#[tokio::test]
async fn load_refuses_remote_targets_and_long_runs() {
    let cfg = LoadConfig::new("http://10.1.2.3:8080", TOKEN, Scenario::Menu, phones());
    assert!(run_load(cfg).await.is_err());
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_mkoba-load"))
            .args(["--url", "http://192.0.2.1:8080", "--token", "x", "--duration-s", "1"])
            .output()
            .expect("run mkoba-load")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-loopback"));
    let out = tokio::task::spawn_blocking(|| {
        Command::new(env!("CARGO_BIN_EXE_mkoba-load"))
            .args(["--token", "x", "--duration-s", "601"])
            .output()
            .expect("run mkoba-load")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn load_binary_prints_json() {
    let (url, _, server) = start_fake_mkoba().await;
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mkoba-load"))
            .args(["--url", &url, "--token", TOKEN, "--scenario", "transfer"])
            .args(["--concurrency", "2", "--duration-s", "0.3", "--phones", "5", "--json"])
            .output()
            .expect("run mkoba-load")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert!(json["transfers"].as_u64().expect("transfers") > 0);
    assert_eq!(json["errors"], 0);
    assert_eq!(json["phones"], 5);
    server.stop(false).await;
}

#[tokio::test]
async fn phone_runs_a_scripted_session() {
    let (url, seen, server) = start_fake_mkoba().await;
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mkoba-phone"))
            .args(["--url", &url, "--token", TOKEN, "--phone", "0712345678"])
            .args(["--inputs", "1*0712000002*100*1357"])
            .output()
            .expect("run mkoba-phone")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Welcome to mkoba"), "{stdout}");
    assert!(stdout.contains("Send KES 100 to 0712000002?"), "{stdout}");
    assert!(stdout.contains("Sent. Ref QK7H2M9XTA"), "{stdout}");
    assert!(stdout.contains("session ended"), "{stdout}");
    assert!(!stdout.contains("END Sent"), "prefix stripped: {stdout}");
    let seen = seen.lock().expect("lock").clone();
    let texts: Vec<&str> = seen.iter().map(|f| f["text"].as_str()).collect();
    assert_eq!(texts, ["", "1", "1*0712000002", "1*0712000002*100", "1*0712000002*100*1357"]);
    assert!(seen.iter().all(|f| f["phoneNumber"] == "+254712345678"));
    assert!(seen.iter().all(|f| f["sessionId"] == seen[0]["sessionId"]));
    server.stop(false).await;
}

#[tokio::test]
async fn phone_reads_stdin_and_reports_early_end() {
    let (url, _, server) = start_fake_mkoba().await;
    let url2 = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_mkoba-phone"))
            .args(["--url", &url, "--token", TOKEN, "--phone", "+254712345678"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn mkoba-phone");
        child.stdin.take().expect("stdin").write_all(b"1\n0712000002\n5\n0000\n").expect("write stdin");
        child.wait_with_output().expect("wait")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("Wrong PIN"), "{stdout}");

    // The session ends before every scripted input is used: exit 1.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mkoba-phone"))
            .args(["--url", &url2, "--token", TOKEN, "--phone", "0712345678"])
            .args(["--inputs", "9*1*2"])
            .output()
            .expect("run mkoba-phone")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1));
    server.stop(false).await;
}

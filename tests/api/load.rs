//! `mkoba-load --scenario mix` end to end: the harness sets up its world
//! with the real `mkoba` CLI, starts real `mkoba serve` processes, runs a
//! small seeded crowd (with SIGKILLs and restarts in crash mode) and audits.
//! The crowd includes integrator charges under allowances its customers
//! approved by SMS. The tests assert the audit and what happened, never
//! timings.

use crate::helpers::TestDb;
use mkoba_simulators::load::mix::{run_mix, MixConfig, MixReport};
use std::path::PathBuf;
use std::time::Duration;

fn small_run(db: &TestDb, dir: &tempfile::TempDir, seed: u64) -> MixConfig {
    let mut cfg = MixConfig::new(PathBuf::from(env!("CARGO_BIN_EXE_mkoba")), dir.path().to_path_buf());
    cfg.database_url = Some(db.url.clone());
    cfg.seed = seed;
    cfg.duration = Duration::from_secs(4);
    cfg.callers = 4;
    cfg.customers = 8;
    cfg.agents = 2;
    cfg.merchants = 1;
    cfg.deposit_major = 2_000;
    // A few charges of 1–50 use an allowance up: the run meets allowance_exhausted.
    cfg.allowance_limit_minor = (40, 120);
    cfg.server_env = [
        ("MKOBA_PIN__ARGON2__MEMORY_KIB", "1024"),
        ("MKOBA_PIN__ARGON2__ITERATIONS", "1"),
        ("MKOBA_NOTIFY__POLL_INTERVAL_MS", "50"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    cfg.drain_timeout = Duration::from_secs(45);
    cfg
}

fn assert_sound(r: &MixReport, backend: &str) {
    assert!(r.audit_ok, "[{backend}] the audit failed:\n{}", r.to_text());
    assert!(r.transfers_acked > 0, "[{backend}] no transfer went through:\n{}", r.to_text());
    assert!(r.sms_sent > 0 && r.hops > 0, "[{backend}] the crowd did little:\n{}", r.to_text());
    assert!(r.audit.receipts_found > 0 && r.audit.receipts_found == r.audit.receipts_expected);
    assert!(r.charges_acked > 0, "[{backend}] no charge went through:\n{}", r.to_text());
    assert_eq!(r.audit.charges_acknowledged, r.charges_acked, "[{backend}] the audit saw every acknowledged charge");
    assert_eq!(
        r.audit.charges_checked,
        r.audit.charges_acknowledged,
        "[{backend}] every acknowledged charge was found as made:\n{}",
        r.to_text()
    );
    assert!(r.audit.allowances_checked > 0, "[{backend}] no allowance was checked:\n{}", r.to_text());
    assert!(r.hop_latency.contains_key("charge"), "[{backend}] charges have their latency row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_mix_run_passes_its_audit() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = small_run(&db, &dir, 11);
    cfg.report_dir = Some(dir.path().join("report"));
    let r = run_mix(cfg).await.expect("the run starts and ends");
    assert_sound(&r, db.backend);
    assert!(r.kills.is_empty());
    assert!(r.errors.keys().all(|k| k != "retry_mismatch"), "{:?}", r.errors);
    let svg = std::fs::read_to_string(r.histogram.as_deref().expect("a picture")).expect("written");
    assert!(svg.starts_with("<svg") && svg.contains("pin_transfer"), "an SVG with the hop types");
    assert_eq!(r.charges_unanswered, 0, "without kills every charge is answered: {:?}", r.errors);
    assert!(
        r.charges_refused.get("allowance_exhausted").is_some_and(|n| *n > 0),
        "small allowances meet allowance_exhausted:\n{}",
        r.to_text()
    );
    assert!(r.charges_refused.keys().all(|k| k == "allowance_exhausted"), "{:?}", r.charges_refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_run_with_two_kills_passes_its_audit() {
    for db in TestDb::all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = small_run(&db, &dir, 7);
        cfg.crash_kills = 2;
        let r = run_mix(cfg).await.expect("the run starts and ends");
        assert_sound(&r, db.backend);
        assert_eq!(r.kills.len(), 2, "[{}] {:?}", db.backend, r.kills);
        for k in &r.kills {
            assert!(k.recovery_ms.is_some(), "[{}] node {} never served again: {:?}", db.backend, k.node, r.kills);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mix_run_refuses_bad_settings_before_starting_anything() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = small_run(&db, &dir, 1);
    cfg.nodes = 3; // several nodes need PostgreSQL
    assert!(run_mix(cfg).await.is_err());
    let mut cfg = small_run(&db, &dir, 1);
    cfg.shares.retry = 1.5;
    assert!(run_mix(cfg).await.is_err());
    let mut cfg = small_run(&db, &dir, 1);
    cfg.allowance_limit_minor = (0, 100);
    assert!(run_mix(cfg).await.is_err());
    assert!(!dir.path().join("mkoba-serve-0.log").exists(), "no server was started");
}

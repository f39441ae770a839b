//! The CLI's side: `mkoba admin key create|list|revoke` (the key printed
//! once, usable at once, refused once revoked), exit codes, and an audit
//! entry (actor `cli`) for every command that changes state.

use super::admin;
use crate::helpers::TestDb;
use assert_cmd::Command;
use serde_json::Value;

fn mkoba(db: &TestDb, dir: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = Command::cargo_bin("mkoba")
        .expect("binary")
        .current_dir(dir)
        .env_clear()
        .env("MKOBA_DATABASE_URL", &db.url)
        .env("MKOBA_API__KEY_SECRET", "test-key-secret")
        .env("MKOBA_PIN__PEPPER", "test-pepper")
        .env("MKOBA_WEBHOOK_TOKEN", crate::helpers::TOKEN)
        .env("MKOBA_PIN__ARGON2__MEMORY_KIB", "1024")
        .env("MKOBA_PIN__ARGON2__ITERATIONS", "1")
        .env("MKOBA_LOG", "warn")
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_keys_work_at_once_and_every_cli_write_is_audited() {
    for db in TestDb::all() {
        let url_db = db.clone_for_restart();
        let a = admin(db).await;
        let be = a.be();
        let dir = tempfile::tempdir().expect("tempdir");
        let run = |args: &[&str], stdin: &str| mkoba(&url_db, dir.path(), args, stdin);

        let (code, out, err) =
            run(&["admin", "key", "create", "--name", "night-desk", "--role", "operator", "--json"], "");
        assert_eq!(code, 0, "[{be}] {err}");
        let created: Value = serde_json::from_str(&out).expect("one JSON object");
        let key = created["key"].as_str().expect("the key, once").to_string();
        assert!(key.starts_with("mka_"), "[{be}] {created}");
        let me = a.get_as(&key, "/whoami").await;
        assert_eq!(me.body["name"], "night-desk", "[{be}] usable at once: {me:?}");
        assert_eq!(
            run(&["admin", "key", "create", "--name", "night-desk", "--role", "viewer"], "").0,
            1,
            "[{be}] names are unique"
        );
        assert_eq!(run(&["admin", "key", "create", "--name", "x", "--role", "root"], "").0, 2, "[{be}] bad usage");
        let (code, out, _) = run(&["admin", "key", "list", "--json"], "");
        assert_eq!(code, 0, "[{be}]");
        assert!(!out.contains(&key), "[{be}] a listing never shows a key");
        assert!(out.contains("night-desk") && out.contains("desk"), "[{be}] {out}");

        // Every state-changing command, then the audit log.
        assert_eq!(run(&["agent", "create", "--msisdn", "0722000007", "--name", "Duka Saba"], "2468\n").0, 0, "[{be}]");
        assert_eq!(
            run(&["customer", "register", "--msisdn", "0712000007", "--name", "Neema"], "1357\n").0,
            0,
            "[{be}]"
        );
        assert_eq!(
            run(&["merchant", "create", "--till", "55777", "--name", "Saba", "--msisdn", "0799000007"], "").0,
            0
        );
        let (code, out, err) = run(&["float", "issue", "--agent", "0722000007", "--amount", "500", "--json"], "");
        assert_eq!(code, 0, "[{be}] {err}");
        let reference = serde_json::from_str::<Value>(&out).expect("json")["receipt"]["reference"]
            .as_str()
            .expect("ref")
            .to_string();
        assert_eq!(run(&["transfer", "reverse", &reference], "").0, 0, "[{be}]");
        assert_eq!(run(&["transfer", "reverse", &reference], "").0, 1, "[{be}] already reversed");
        assert_eq!(run(&["pin", "unlock", "0712000007"], "").0, 1, "[{be}] not locked");
        assert_eq!(run(&["sim-swap", "mark", "0712000007"], "").0, 0, "[{be}]");
        assert_eq!(
            run(&["float", "issue", "--agent", "0722000007", "--amount", "1.234"], "").0,
            1,
            "[{be}] bad amount"
        );
        assert_eq!(run(&["held", "release", "ZZZZZZZZZ9"], "").0, 1, "[{be}]");
        let (code, out, err) = run(&["merchant", "key", "create", "--till", "55777", "--json"], "");
        assert_eq!(code, 0, "[{be}] {err}");
        let key_id = serde_json::from_str::<Value>(&out).expect("json")["key_id"].as_str().expect("id").to_string();
        assert_eq!(run(&["merchant", "key", "revoke", "--till", "55777", "--key-id", &key_id], "").0, 0, "[{be}]");
        assert_eq!(run(&["admin", "key", "revoke", "night-desk"], "").0, 0, "[{be}]");
        assert_eq!(run(&["admin", "key", "revoke", "night-desk"], "").0, 1, "[{be}] already revoked");
        assert_eq!(a.get_as(&key, "/whoami").await.status, 401, "[{be}] refused once revoked");

        let entries = a.audit(50).await;
        let cli: Vec<(String, String)> = entries
            .iter()
            .rev()
            .filter(|e| e["actor"] == "cli")
            .map(|e| (e["action"].as_str().unwrap_or("").to_string(), e["outcome"].as_str().unwrap_or("").to_string()))
            .collect();
        let want: Vec<(String, String)> = [
            ("admin_key.create", "ok"),
            ("admin_key.create", "duplicate_account"),
            ("agent.create", "ok"),
            ("customer.create", "ok"),
            ("merchant.create", "ok"),
            ("float.issue", "ok"),
            ("transfer.reverse", "ok"),
            ("transfer.reverse", "already_reversed"),
            ("account.unlock", "invalid_state"),
            ("sim_swap.mark", "ok"),
            ("float.issue", "invalid_input"),
            ("held.release", "transfer_not_found"),
            ("merchant_key.create", "ok"),
            ("merchant_key.revoke", "ok"),
            ("admin_key.revoke", "ok"),
            ("admin_key.revoke", "invalid_state"),
        ]
        .iter()
        .map(|(a, o)| (a.to_string(), o.to_string()))
        .collect();
        assert_eq!(cli, want, "[{be}]");
    }
}

//! `mkoba merchant key create|list|revoke` and `merchant update
//! --callback-url`, as an operator runs them, against a running app.

use super::Api;
use crate::helpers::{spawn_app_with, TestDb};
use assert_cmd::Command;
use serde_json::Value;

fn mkoba(db: &TestDb, dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("mkoba")
        .expect("binary")
        .current_dir(dir)
        .env_clear()
        .env("MKOBA_DATABASE_URL", &db.url)
        .env("MKOBA_SECRETS_FILE", dir.join("mkoba.secrets"))
        // The running app's: a key is hashed under it.
        .env("MKOBA_API__KEY_SECRET", "test-key-secret")
        .env("MKOBA_LOG", "warn")
        .args(args)
        .output()
        .expect("runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn json(db: &TestDb, dir: &std::path::Path, args: &[&str]) -> Value {
    let (code, out, err) = mkoba(db, dir, args);
    assert_eq!(code, 0, "[{}] mkoba {args:?}: {err}", db.backend);
    serde_json::from_str(&out).expect("one JSON object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_creates_lists_and_revokes_keys_and_sets_the_callback() {
    for db in TestDb::all() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = super::api_config(&db);
        let app = spawn_app_with(db, config).await;
        let w = app.t.world(100).await;
        let db = app.t.db.clone_for_restart();
        let db = &db;
        let created = json(db, dir.path(), &["merchant", "key", "create", "--till", "55123", "--json"]);
        assert_eq!(created["till"], "55123");
        let (key, key_id) = (created["key"].as_str().expect("key"), created["key_id"].as_str().expect("id"));
        let api = Api { key: key.to_string(), other_key: String::new(), other_till: w.shop, w, app };
        let be = api.be();
        assert_eq!(api.get("/balance").await.status, 200, "[{be}] the printed key works");

        let listed = json(db, dir.path(), &["merchant", "key", "list", "--till", "55123", "--json"]);
        assert_eq!(listed["keys"][0]["key_id"], key_id, "[{be}]");
        assert!(listed["keys"][0]["revoked_at"].is_null(), "[{be}]");
        assert!(!listed.to_string().contains(key), "[{be}] a list never shows a key");
        let (code, out, _) =
            mkoba(db, dir.path(), &["merchant", "key", "revoke", "--till", "55123", "--key-id", key_id]);
        assert_eq!(code, 0, "[{be}] {out}");
        assert_eq!(api.get("/balance").await.status, 401, "[{be}] revoked at once");
        let again = mkoba(db, dir.path(), &["merchant", "key", "revoke", "--till", "55123", "--key-id", key_id]);
        assert_eq!(again.0, 1, "[{be}] nothing left to revoke: {again:?}");
        assert_eq!(
            mkoba(db, dir.path(), &["merchant", "key", "create", "--till", "99999"]).0,
            1,
            "[{be}] no such till"
        );

        let url = "https://shop.example/mkoba-events";
        let set = json(db, dir.path(), &["merchant", "update", "--till", "55123", "--callback-url", url, "--json"]);
        let secret = set["signing_secret"].as_str().expect("secret").to_string();
        assert!(secret.starts_with("whsec_"), "[{be}] {set}");
        let shop = api.w.shop.0;
        let stored =
            api.app.t.ledger.read(move |c| mkoba::notify::callbacks::endpoints(c, &[shop])).await.expect("read");
        assert_eq!((stored[0].url.as_str(), stored[0].secret.as_str()), (url, secret.as_str()), "[{be}]");
        let http =
            mkoba(db, dir.path(), &["merchant", "update", "--till", "55123", "--callback-url", "http://x.example/"]);
        assert_eq!(http.0, 1, "[{be}] http:// refused by default: {http:?}");
        // `merchant create` still works beside the new subcommands.
        let made = json(
            db,
            dir.path(),
            &["merchant", "create", "--till", "55999", "--name", "Kibanda", "--msisdn", "0712000009", "--json"],
        );
        assert_eq!(made["kind"], "merchant", "[{be}] {made}");
    }
}

use crate::helpers::{spawn_app, TestDb};

#[tokio::test]
async fn health_answers_ok_with_the_database_reachable() {
    for db in TestDb::all() {
        let app = spawn_app(db).await;
        let resp = app.client.get(format!("{}/health", app.address)).send().await.expect("request");
        assert_eq!(resp.status().as_u16(), 200, "[{}]", app.backend());
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["database"], "ok");
    }
}

/// The SQLite file holds PIN hashes: created readable by its owner only,
/// and so are the `-wal`/`-shm` files SQLite makes beside it.
#[cfg(unix)]
#[tokio::test]
async fn a_fresh_sqlite_database_is_created_0600() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::sqlite();
    let path = std::path::PathBuf::from(db.url.strip_prefix("sqlite://").expect("sqlite url"));
    assert!(!path.exists(), "the test needs a fresh file");
    let app = spawn_app(db).await;
    // A hop writes, so the WAL and its index exist.
    app.hop("ATUid_mode", "254712000001", "").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "{}", path.display());
    for suffix in ["-wal", "-shm"] {
        let companion = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        assert_eq!(mode(&companion), 0o600, "{}", companion.display());
    }
}

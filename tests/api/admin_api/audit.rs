//! The audit log: one entry per admin write from the API, with who, what,
//! target and outcome; and nothing, not even the database's own user, can
//! update or delete an entry.

use super::admin;
use crate::helpers::TestDb;
use mkoba::admin::audit::{self, Entry};
use serde_json::{json, Value};

#[tokio::test]
async fn every_api_write_is_audited_with_its_outcome() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        assert!(a.audit(10).await.is_empty(), "[{be}] reads are not audited");
        a.get("/accounts/0712000001").await;
        a.post("/accounts/0712000001/suspend", Value::Null).await;
        a.post("/accounts/0712000001/resume", Value::Null).await;
        a.post("/agents", json!({"msisdn": "0722000009", "name": "Duka Tisa"})).await;
        a.post("/merchants", json!({"till": "55999", "name": "Kibanda", "msisdn": "0799000001"})).await;
        a.post_as(&a.op, "/float", Some("f-1"), json!({"agent": "0722000009", "amount_minor": 100})).await;
        a.post("/sim-swaps", json!({"msisdn": "0712000002"})).await;
        a.post("/accounts/0712000001/unlock", Value::Null).await;
        let entries = a.audit(100).await;
        let got: Vec<(String, String, String, String)> = entries
            .iter()
            .rev()
            .map(|e| {
                let s = |f: &str| e[f].as_str().unwrap_or_default().to_string();
                (s("actor"), s("action"), s("target"), s("outcome"))
            })
            .collect();
        let want: Vec<(String, String, String, String)> = [
            ("ops", "account.suspend", "254712000001", "ok"),
            ("ops", "account.resume", "254712000001", "ok"),
            ("ops", "agent.create", "254722000009", "ok"),
            ("ops", "merchant.create", "till 55999", "ok"),
            ("ops", "float.issue", "254722000009", "ok"),
            ("ops", "sim_swap.mark", "254712000002", "ok"),
            ("ops", "account.unlock", "254712000001", "invalid_state"),
        ]
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect();
        assert_eq!(got, want, "[{be}]");
        let float = &entries[2];
        assert!(float["detail"].as_str().unwrap_or("").starts_with("100 minor, "), "[{be}] {float}");
        assert!(float["at"].as_str().unwrap_or("").ends_with('Z'), "[{be}] {float}");
        let ids: Vec<i64> = entries.iter().filter_map(|e| e["id"].as_i64()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "[{be}] newest first: {ids:?}");
    }
}

#[tokio::test]
async fn the_audit_log_cannot_be_changed_or_emptied() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        let ledger = a.app.t.ledger.clone();
        ledger
            .write(|c| audit::append(c, &Entry::new("cli", "test.write", "x"), mkoba::domain::now_ms()))
            .await
            .expect("append");
        for sql in [
            "UPDATE audit_log SET outcome = 'forged'",
            "DELETE FROM audit_log",
            "UPDATE audit_log SET actor = 'someone else' WHERE id = 1",
        ] {
            let result = ledger.write(move |c| c.batch_execute(sql).map_err(Into::into)).await;
            let err = result.expect_err(&format!("[{be}] {sql} must fail"));
            assert!(err.to_string().contains("append-only"), "[{be}] {sql}: {err}");
        }
        let left = ledger.read(|c| audit::latest(c, 10)).await.expect("read");
        assert_eq!(left.len(), 1, "[{be}]");
        assert_eq!((left[0].actor.as_str(), left[0].outcome.as_str()), ("cli", "ok"), "[{be}]");
    }
}

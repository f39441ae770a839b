//! `POST /admin/v1/float`: the Idempotency-Key is required; a replay gets
//! the stored answer and issues nothing; another body under the same key
//! is 409; the same key sent many times at once issues exactly once. Other
//! writes with a key (a suspension, a SIM swap) are answered once too.

use super::admin;
use crate::helpers::TestDb;
use futures_util::future::join_all;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn float_is_issued_once_per_key() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        let body = json!({"agent": "0722000001", "amount_minor": 50_000});
        let missing = a.post("/float", body.clone()).await;
        assert_eq!((missing.status, missing.code()), (400, "idempotency_key_required"), "[{be}] {missing:?}");
        let first = a.post_as(&a.op, "/float", Some("float-1"), body.clone()).await;
        assert_eq!(first.status, 201, "[{be}] {first:?}");
        assert_eq!(
            (first.str("agent"), first.body["amount_minor"].as_i64(), first.body["balance_minor"].as_i64()),
            ("254722000001".into(), Some(50_000), Some(900_500 + 50_000)),
            "[{be}] the world's agent had KES 9,005 after Amina's deposit and its commission"
        );
        assert_eq!(first.str("reference").len(), 10);
        let replay =
            a.post_as(&a.op, "/float", Some("float-1"), json!({"amount_minor": 50_000, "agent": "0722000001"})).await;
        assert_eq!((replay.status, replay.body.clone()), (201, first.body.clone()), "[{be}] the stored answer");
        let other =
            a.post_as(&a.op, "/float", Some("float-1"), json!({"agent": "0722000001", "amount_minor": 60_000})).await;
        assert_eq!((other.status, other.code()), (409, "idempotency_conflict"), "[{be}] {other:?}");
        assert_eq!(a.app.t.balance(a.w.agent).await, 950_500, "[{be}] issued once");

        // Refusals store nothing and move nothing.
        for (bad, status) in [
            (json!({"agent": "0722000001", "amount_minor": 1.5}), 400),
            (json!({"agent": "0722000001", "amount_minor": -5}), 400),
            (json!({"agent": "hello", "amount_minor": 5}), 400),
            (json!({"agent": "0712000001", "amount_minor": 5}), 422),
            (json!({"agent": "0799999999", "amount_minor": 5}), 404),
        ] {
            let answer = a.post_as(&a.op, "/float", Some("float-bad"), bad.clone()).await;
            assert_eq!(answer.status, status, "[{be}] {bad}: {answer:?}");
        }
        assert_eq!(a.app.t.balance(a.w.agent).await, 950_500, "[{be}]");

        // Eight at once with one key: one issue, eight identical answers.
        let body = json!({"agent": "0722000001", "amount_minor": 1_000});
        let answers = join_all((0..8).map(|_| a.post_as(&a.op, "/float", Some("float-race"), body.clone()))).await;
        for answer in &answers {
            assert_eq!((answer.status, answer.body.clone()), (201, answers[0].body.clone()), "[{be}] {answer:?}");
        }
        assert_eq!(a.app.t.balance(a.w.agent).await, 951_500, "[{be}] exactly once");
        let issued: Vec<_> =
            a.audit(50).await.into_iter().filter(|e| e["action"] == "float.issue" && e["outcome"] == "ok").collect();
        assert_eq!(issued.len(), 2, "[{be}] one audit entry per issue: {issued:?}");
        a.app.t.assert_verified().await;
    }
}

#[tokio::test]
async fn any_write_with_a_key_is_answered_once() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        let first = a.post_as(&a.op, "/accounts/0712000001/suspend", Some("s-1"), serde_json::Value::Null).await;
        assert_eq!((first.status, first.str("status")), (200, "suspended".into()), "[{be}] {first:?}");
        let replay = a.post_as(&a.op, "/accounts/0712000001/suspend", Some("s-1"), serde_json::Value::Null).await;
        assert_eq!(
            (replay.status, replay.body.clone()),
            (200, first.body.clone()),
            "[{be}] the stored answer, not 409"
        );
        let elsewhere = a.post_as(&a.op, "/accounts/0712000002/suspend", Some("s-1"), serde_json::Value::Null).await;
        assert_eq!((elsewhere.status, elsewhere.code()), (409, "idempotency_conflict"), "[{be}] {elsewhere:?}");
        assert_eq!(a.get("/accounts/0712000002").await.str("status"), "active", "[{be}] nothing changed");
        let bad = a.post_as(&a.op, "/accounts/0712000001/resume", Some("has space"), serde_json::Value::Null).await;
        assert_eq!((bad.status, bad.code()), (400, "invalid_idempotency_key"), "[{be}]");
        let suspends = a.audit(20).await.into_iter().filter(|e| e["action"] == "account.suspend").count();
        assert_eq!(suspends, 2, "[{be}] the change and the conflict; the replay changed nothing");
    }
}

/// A SIM swap marked "now" and retried under its key is not marked again
/// (which would start its cool-off again): the retry gets the first answer,
/// and another number under the same key is 409.
#[tokio::test]
async fn a_sim_swap_is_marked_once_per_key() {
    for db in TestDb::all() {
        let a = admin(db).await;
        let be = a.be();
        let first = a.post_as(&a.op, "/sim-swaps", Some("swap-1"), json!({"msisdn": "0712000001"})).await;
        assert_eq!((first.status, first.str("msisdn")), (201, "254712000001".into()), "[{be}] {first:?}");
        let replay = a.post_as(&a.op, "/sim-swaps", Some("swap-1"), json!({"msisdn": "0712000001"})).await;
        assert_eq!((replay.status, replay.body.clone()), (201, first.body.clone()), "[{be}] the stored answer");
        let other = a.post_as(&a.op, "/sim-swaps", Some("swap-1"), json!({"msisdn": "0712000002"})).await;
        assert_eq!((other.status, other.code()), (409, "idempotency_conflict"), "[{be}] {other:?}");
        let marks: Vec<_> = a.audit(20).await.into_iter().filter(|e| e["action"] == "sim_swap.mark").collect();
        let outcomes: Vec<&str> = marks.iter().map(|e| e["outcome"].as_str().unwrap_or("")).collect();
        assert_eq!(outcomes, vec!["idempotency_conflict", "ok"], "[{be}] marked once; the replay did nothing");
    }
}

//! Requests refused before anything happens: keys, other tills' resources,
//! the request's shape, size, type and rate.

use super::{api, api_config, api_with, idem};
use crate::helpers::TestDb;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_required_and_acts_only_for_its_own_till() {
    for db in TestDb::all() {
        let api = api(db).await;
        let be = api.be();
        let bare = api.send(api.app.client.get(api.url("/balance"))).await;
        assert_eq!((bare.status, bare.code()), (401, "unauthorized"), "[{be}] {bare:?}");
        let wrong = api.get_as("mk_abcdefghij_wrongwrongwrong", "/balance").await;
        assert_eq!((wrong.status, wrong.code()), (401, "unauthorized"), "[{be}]");
        let post = api.post_as("nonsense", "/payouts", &idem(), json!({})).await;
        assert_eq!(post.status, 401, "[{be}]");

        // Another till's request, allowance and payment: not found.
        let pr = api
            .post(
                "/payment-requests",
                &idem(),
                json!({"msisdn": "0712000001", "amount_minor": 100, "description": "x"}),
            )
            .await;
        let other = &api.other_key;
        let seen = api.get_as(other, &format!("/payment-requests/{}", pr.str("id"))).await;
        assert_eq!((seen.status, seen.code()), (404, "not_found"), "[{be}]");
        let allowance = api.active_allowance(10_000).await;
        assert_eq!(api.get_as(other, &format!("/allowances/{allowance}")).await.status, 404, "[{be}]");
        let body = json!({"allowance_id": allowance, "amount_minor": 100, "description": "x"});
        let c = api.post_as(other, "/charges", &idem(), body).await;
        assert_eq!((c.status, c.code()), (404, "not_found"), "[{be}] {c:?}");
        assert_eq!(api.spent(&allowance).await, 0, "[{be}]");
        let paid = api.payment(50).await;
        assert_eq!(api.get_as(other, &format!("/transactions/{}", paid.reference)).await.status, 404, "[{be}]");
        let r = api.post_as(other, "/refunds", &idem(), json!({"reference": paid.reference})).await;
        assert_eq!(r.status, 404, "[{be}] {r:?}");
        assert_eq!(api.get_as(other, "/balance").await.i64("balance_minor"), 0, "[{be}]");

        // A revoked key stops at once, though this process has seen it: a
        // read for most requests, the posting engine itself for a charge,
        // a retried one included.
        let first_key = idem();
        let body = json!({"allowance_id": allowance, "amount_minor": 100, "description": "x"});
        let first = api.post("/charges", &first_key, body.clone()).await;
        assert_eq!(first.status, 201, "[{be}] {first:?}");
        // Another till's allowance, charged by its own till, so that this
        // process knows it.
        let theirs = json!({"msisdn": "0712000001", "limit_minor": 1_000, "period": "day", "description": "News"});
        let theirs = api.post_as(other, "/allowances", &idem(), theirs).await.str("id");
        api.decide(&theirs, "approve").await;
        let on_theirs = json!({"allowance_id": theirs, "amount_minor": 10, "description": "x"});
        assert_eq!(api.post_as(other, "/charges", &idem(), on_theirs.clone()).await.status, 201, "[{be}]");
        let (shop, key_id) = (api.w.shop, api.key.split('_').nth(1).expect("key id").to_string());
        let revoked = api
            .app
            .t
            .ledger
            .write(move |c| mkoba::integrator::keys::revoke(c, shop, &key_id, mkoba::domain::now_ms()))
            .await;
        assert!(revoked.expect("revoke"), "[{be}]");
        assert_eq!(api.get("/balance").await.status, 401, "[{be}] revoked");
        let fresh = api.post("/charges", &idem(), body.clone()).await;
        assert_eq!((fresh.status, fresh.code()), (401, "unauthorized"), "[{be}] {fresh:?}");
        let retried = api.post("/charges", &first_key, body.clone()).await;
        assert_eq!((retried.status, retried.code()), (401, "unauthorized"), "[{be}] {retried:?}");
        let elsewhere = json!({"allowance_id": "al_unknown", "amount_minor": 100, "description": "x"});
        let probe = api.post("/charges", &idem(), elsewhere).await;
        assert_eq!((probe.status, probe.code()), (401, "unauthorized"), "[{be}] {probe:?}");
        let known = api.post("/charges", &idem(), on_theirs).await;
        assert_eq!((known.status, known.code()), (401, "unauthorized"), "[{be}] not even 404: {known:?}");
        // Nor 400 for a request the engine never sees.
        let zero = json!({"allowance_id": allowance, "amount_minor": 0, "description": "x"});
        let zero = api.post("/charges", &idem(), zero).await;
        assert_eq!((zero.status, zero.code()), (401, "unauthorized"), "[{be}] not 400: {zero:?}");
        let malformed = api.post("/charges", &idem(), json!({"allowance_id": 7})).await;
        assert_eq!((malformed.status, malformed.code()), (401, "unauthorized"), "[{be}] not 400: {malformed:?}");
        let keyless = api.send(api.app.client.post(api.url("/charges")).bearer_auth(&api.key).json(&body)).await;
        assert_eq!((keyless.status, keyless.code()), (401, "unauthorized"), "[{be}] not 400: {keyless:?}");
        assert_eq!(api.spent(&allowance).await, 100, "[{be}] only the charge made before the revocation");

        // Unknown paths and methods, as JSON.
        let nowhere = api.get_as(other, "/nowhere").await;
        assert_eq!((nowhere.status, nowhere.code()), (404, "not_found"), "[{be}]");
        let method = api.send(api.app.client.delete(api.url("/balance")).bearer_auth(other)).await;
        assert_eq!((method.status, method.code()), (405, "method_not_allowed"), "[{be}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_413_or_415_and_change_nothing() {
    for db in TestDb::all() {
        let api = api(db).await;
        let be = api.be();
        let allowance = api.active_allowance(10_000).await;
        let charge =
            |amount: serde_json::Value| json!({"allowance_id": allowance, "amount_minor": amount, "description": "x"});
        let no_key =
            api.send(api.app.client.post(api.url("/charges")).bearer_auth(&api.key).json(&charge(json!(100)))).await;
        assert_eq!((no_key.status, no_key.code()), (400, "idempotency_key_required"), "[{be}]");
        let long_key = "k".repeat(201);
        assert_eq!(api.post("/charges", &long_key, charge(json!(100))).await.code(), "invalid_idempotency_key");
        for (amount, code) in [
            (json!(1.5), "invalid_request"),
            (json!("100"), "invalid_request"),
            (json!(100_000_000_000_000_000_000.0), "invalid_request"),
            (json!(0), "invalid_amount"),
            (json!(-5), "invalid_amount"),
            (json!(i64::MAX), "invalid_amount"),
        ] {
            let a = api.post("/charges", &idem(), charge(amount.clone())).await;
            assert_eq!((a.status, a.code()), (400, code), "[{be}] amount {amount}: {a:?}");
        }
        let missing = api.post("/charges", &idem(), json!({"allowance_id": allowance, "description": "x"})).await;
        assert_eq!((missing.status, missing.code()), (400, "invalid_request"), "[{be}] {missing:?}");
        let extra = api.post("/refunds", &idem(), json!({"reference": "AAAAAAAAAA", "amount_minr": 5})).await;
        assert_eq!((extra.status, extra.code()), (400, "invalid_request"), "[{be}] a misspelt field is refused");
        let bad_msisdn =
            api.post("/payouts", &idem(), json!({"msisdn": "12", "amount_minor": 1, "description": "x"})).await;
        assert_eq!((bad_msisdn.status, bad_msisdn.code()), (400, "invalid_msisdn"), "[{be}]");
        let bad_period = api
            .post(
                "/allowances",
                &idem(),
                json!({"msisdn": "0712000001", "limit_minor": 1, "period": "year", "description": "x"}),
            )
            .await;
        assert_eq!((bad_period.status, bad_period.code()), (400, "invalid_request"), "[{be}]");
        let bad_text = api
            .post("/payouts", &idem(), json!({"msisdn": "0712000002", "amount_minor": 1, "description": "a\u{202e}b"}))
            .await;
        assert_eq!((bad_text.status, bad_text.code()), (400, "invalid_description"), "[{be}]");

        let raw = |body: &'static str, content_type: &'static str| {
            api.app
                .client
                .post(api.url("/charges"))
                .bearer_auth(&api.key)
                .header("Idempotency-Key", idem())
                .header("Content-Type", content_type)
                .body(body)
        };
        let broken = api.send(raw("{\"allowance_id\": ", "application/json")).await;
        assert_eq!((broken.status, broken.code()), (400, "invalid_json"), "[{be}]");
        let form = api.send(raw("allowance_id=x&amount_minor=1", "application/x-www-form-urlencoded")).await;
        assert_eq!((form.status, form.code()), (415, "unsupported_media_type"), "[{be}]");
        let big = json!({"allowance_id": allowance, "amount_minor": 1, "description": "x".repeat(20_000)});
        let big = api.post("/charges", &idem(), big).await;
        assert_eq!((big.status, big.code()), (413, "payload_too_large"), "[{be}] {big:?}");
        let unknown = api
            .post(
                "/payment-requests",
                &idem(),
                json!({"msisdn": "0712999999", "amount_minor": 100, "description": "x"}),
            )
            .await;
        assert_eq!((unknown.status, unknown.code()), (422, "unknown_customer"), "[{be}]");
        assert_eq!(api.spent(&allowance).await, 0, "[{be}] nothing charged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_customer_cannot_be_asked() {
    for db in TestDb::all() {
        let api = api(db).await;
        let be = api.be();
        let amina = api.w.amina;
        let locked = mkoba::ledger::AccountStatus::Locked;
        api.app.t.ledger.write(move |c| mkoba::ledger::account::set_status(c, amina, locked)).await.expect("lock");
        let a = api
            .post(
                "/payment-requests",
                &idem(),
                json!({"msisdn": "0712000001", "amount_minor": 100, "description": "x"}),
            )
            .await;
        assert_eq!((a.status, a.code()), (422, "account_not_active"), "[{be}] {a:?}");
        let a = api
            .post(
                "/allowances",
                &idem(),
                json!({"msisdn": "0712000001", "limit_minor": 100, "period": "month", "description": "x"}),
            )
            .await;
        assert_eq!((a.status, a.code()), (422, "account_not_active"), "[{be}] {a:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_above_its_rate_gets_429_with_retry_after() {
    let db = TestDb::sqlite();
    let mut config = api_config(&db);
    config.rate_limits.per_api_key_per_second = 3;
    let api = api_with(db, config).await;
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(api.get("/balance").await);
    }
    let limited: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    assert!(!limited.is_empty(), "{answers:?}");
    assert_eq!(limited[0].code(), "rate_limited");
    assert_eq!(limited[0].retry_after.as_deref(), Some("1"));
    // Another key has its own rate.
    assert_eq!(api.get_as(&api.other_key, "/balance").await.status, 200);
}

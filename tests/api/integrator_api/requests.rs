//! Payment requests and allowances: created once per key, told by SMS,
//! approved, declined, expired.

use super::{api, api_config, api_with, idem};
use crate::helpers::TestDb;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_request_is_asked_once_per_key_and_shows_its_payment() {
    for db in TestDb::all() {
        let api = api(db).await;
        let be = api.be();
        let body = json!({"msisdn": "+254712000001", "amount_minor": 25_000, "description": "Sukuma  wiki"});
        let key = idem();
        let first = api.post("/payment-requests", &key, body.clone()).await;
        assert_eq!(first.status, 201, "[{be}] {first:?}");
        assert_eq!(first.str("status"), "pending");
        assert!(first.str("id").starts_with("pr_"));
        assert_eq!(first.i64("amount_minor"), 25_000);
        let quote = api.app.t.ledger.quote(mkoba::ledger::TransferKind::MerchantPayment, crate::helpers::kes(250));
        assert_eq!(first.i64("fee_minor"), quote.expect("quote").fee.minor(), "[{be}] the merchant_payment tariff");
        assert!(first.i64("fee_minor") > 0, "[{be}] KES 250 is above the free band");
        assert_eq!(first.str("description"), "Sukuma wiki");
        let code = first.str("code");
        let sms = api.app.t.outbox_naming(&code).await;
        assert_eq!(sms.len(), 1, "[{be}] the customer is told once, with the code");
        assert_eq!(sms[0].recipient, "254712000001");

        // The same key and body: the stored answer, nothing asked again.
        let again = api.post("/payment-requests", &key, body).await;
        assert_eq!((again.status, &again.body), (201, &first.body), "[{be}]");
        assert_eq!(api.app.t.outbox_naming("Sukuma wiki").await.len(), 1, "[{be}] one request, one SMS");
        // The same key, another body: 409, nothing asked.
        let other = json!({"msisdn": "0712000001", "amount_minor": 25_001, "description": "Sukuma wiki"});
        let conflict = api.post("/payment-requests", &key, other).await;
        assert_eq!((conflict.status, conflict.code()), (409, "idempotency_conflict"), "[{be}]");
        assert_eq!(api.app.t.outbox_naming("Sukuma wiki").await.len(), 1, "[{be}]");

        let id = first.str("id");
        let pending = api.get(&format!("/payment-requests/{id}")).await;
        assert_eq!((pending.status, pending.str("status")), (200, "pending".into()), "[{be}]");
        assert!(pending.body.get("reference").is_none(), "[{be}] no reference before approval");

        let paid = api.pay(&id).await;
        let approved = api.get(&format!("/payment-requests/{id}")).await;
        assert_eq!(approved.str("status"), "approved", "[{be}] {approved:?}");
        assert_eq!(approved.str("reference"), paid.reference, "[{be}]");
        let seen = api.get(&format!("/transactions/{}", paid.reference)).await;
        assert_eq!(seen.status, 200, "[{be}] {seen:?}");
        assert_eq!((seen.str("kind"), seen.str("direction")), ("merchant_payment".into(), "in".into()));
        assert_eq!(seen.i64("amount_minor"), 25_000);
        assert_eq!(seen.body["counterparty"]["name"], "Amina Juma", "[{be}]");
        let balance = api.get("/balance").await;
        assert_eq!((balance.i64("balance_minor"), balance.str("currency")), (25_000, "KES".into()), "[{be}]");
        api.app.t.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowance_is_pending_until_approved_and_shows_what_remains() {
    for db in TestDb::all() {
        let api = api(db).await;
        let be = api.be();
        let body =
            json!({"msisdn": "0712000001", "limit_minor": 50_000, "period": "week", "description": "Daily news"});
        let key = idem();
        let asked = api.post("/allowances", &key, body.clone()).await;
        assert_eq!(asked.status, 201, "[{be}] {asked:?}");
        assert_eq!((asked.str("status"), asked.str("period")), ("pending".into(), "week".into()));
        assert_eq!((asked.i64("limit_minor"), asked.i64("remaining_minor")), (50_000, 0), "[{be}]");
        let again = api.post("/allowances", &key, body).await;
        assert_eq!(again.body, asked.body, "[{be}] replayed");
        let id = asked.str("id");
        assert_eq!(api.app.t.outbox_naming(&asked.str("code")).await.len(), 1, "[{be}]");

        api.decide(&id, "approve").await;
        let active = api.get(&format!("/allowances/{id}")).await;
        assert_eq!((active.str("status"), active.i64("remaining_minor")), ("active".into(), 50_000), "[{be}]");
        let charged = api.charge(&id, &idem(), 1_500).await;
        assert_eq!(charged.status, 201, "[{be}] {charged:?}");
        let after = api.get(&format!("/allowances/{id}")).await;
        assert_eq!(after.i64("remaining_minor"), 48_500, "[{be}]");
        api.decide(&id, "revoke").await;
        let revoked = api.get(&format!("/allowances/{id}")).await;
        assert_eq!((revoked.str("status"), revoked.i64("remaining_minor")), ("revoked".into(), 0), "[{be}]");

        // A payment request's id is not an allowance's, and the reverse.
        let pr = api
            .post(
                "/payment-requests",
                &idem(),
                json!({"msisdn": "0712000001", "amount_minor": 100, "description": "x"}),
            )
            .await;
        assert_eq!(api.get(&format!("/allowances/{}", pr.str("id"))).await.status, 404, "[{be}]");
        assert_eq!(api.get(&format!("/payment-requests/{id}")).await.status, 404, "[{be}]");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_requests_expire_and_the_sweeper_marks_them() {
    for db in TestDb::all() {
        let mut config = api_config(&db);
        config.api.request_ttl_s = 1;
        let api = api_with(db, config).await;
        let be = api.be();
        let pr = api
            .post(
                "/payment-requests",
                &idem(),
                json!({"msisdn": "0712000001", "amount_minor": 700, "description": "Tea"}),
            )
            .await;
        let allowance = api.allowance(10_000).await;
        tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;
        let id = pr.str("id");
        let seen = api.get(&format!("/payment-requests/{id}")).await;
        assert_eq!(seen.str("status"), "expired", "[{be}] {seen:?}");
        let charge = api.charge(&allowance, &idem(), 100).await;
        assert_eq!((charge.status, charge.code()), (422, "expired"), "[{be}] {charge:?}");
        // The sweeper stores it (within about a second).
        let mut stored = String::new();
        for _ in 0..40 {
            let id = id.clone();
            let a = api.app.t.ledger.read(move |c| mkoba::integrator::approvals::find_by_public_id(c, &id)).await;
            stored = a.expect("read").expect("exists").status.as_str().to_string();
            if stored == "expired" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(stored, "expired", "[{be}] the sweeper marked it");
    }
}

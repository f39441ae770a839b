//! Charges, payouts and refunds: what moves, what is refused, and retries.

use super::{api, idem};
use crate::helpers::TestDb;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charges_move_money_only_within_an_active_allowance() {
    for db in TestDb::all() {
        let api = api(db).await;
        let (be, t) = (api.be(), &api.app.t);
        let pending = api.allowance(10_000).await;
        let c = api.charge(&pending, &idem(), 100).await;
        assert_eq!((c.status, c.code()), (422, "not_approved"), "[{be}] {c:?}");
        let declined = api.allowance(10_000).await;
        api.decide(&declined, "decline").await;
        let c = api.charge(&declined, &idem(), 100).await;
        assert_eq!((c.status, c.code()), (422, "declined"), "[{be}] {c:?}");

        let id = api.active_allowance(10_000).await;
        let (amina, shop) = (t.balance(api.w.amina).await, t.balance(api.w.shop).await);
        let key = idem();
        let first = api.charge(&id, &key, 4_000).await;
        assert_eq!(first.status, 201, "[{be}] {first:?}");
        assert_eq!((first.i64("amount_minor"), first.i64("fee_minor")), (4_000, 0));
        assert_eq!((first.i64("remaining_minor"), first.str("allowance_id")), (6_000, id.clone()), "[{be}]");
        assert_eq!(first.str("reference").len(), 10);
        // A retry: the same answer, moved once.
        let again = api.charge(&id, &key, 4_000).await;
        assert_eq!((again.status, &again.body), (201, &first.body), "[{be}]");
        assert_eq!(t.balance(api.w.amina).await, amina - 4_000, "[{be}] moved once");
        assert_eq!(t.balance(api.w.shop).await, shop + 4_000, "[{be}]");
        // The same key with another amount: 409, nothing moves.
        let altered = api.charge(&id, &key, 4_001).await;
        assert_eq!((altered.status, altered.code()), (409, "idempotency_conflict"), "[{be}]");
        assert_eq!(t.balance(api.w.amina).await, amina - 4_000, "[{be}]");

        let over = api.charge(&id, &idem(), 6_001).await;
        assert_eq!((over.status, over.code()), (422, "allowance_exhausted"), "[{be}] {over:?}");
        let huge = api.charge(&id, &idem(), 1_000_000_000_000_000).await;
        assert_eq!((huge.status, huge.code()), (422, "amount_outside_tariff"), "[{be}] {huge:?}");
        let rest = api.charge(&id, &idem(), 6_000).await;
        assert_eq!((rest.status, rest.i64("remaining_minor")), (201, 0), "[{be}] {rest:?}");
        assert_eq!(api.spent(&id).await, 10_000, "[{be}]");
        // The first charge's retry still answers as it did.
        assert_eq!(api.charge(&id, &key, 4_000).await.body, first.body, "[{be}]");

        api.decide(&id, "revoke").await;
        let c = api.charge(&id, &idem(), 1).await;
        assert_eq!((c.status, c.code()), (422, "allowance_revoked"), "[{be}] {c:?}");
        let unknown = api.charge("al_doesnotexist", &idem(), 1).await;
        assert_eq!((unknown.status, unknown.code()), (404, "not_found"), "[{be}]");
        t.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_on_a_locked_customer_or_an_empty_wallet_is_refused() {
    for db in TestDb::all() {
        let api = api(db).await;
        let (be, t) = (api.be(), &api.app.t);
        let id = api.active_allowance(500_000).await;
        let broke = api.charge(&id, &idem(), 150_000).await;
        assert_eq!((broke.status, broke.code()), (422, "insufficient_funds"), "[{be}] {broke:?}");
        let amina = api.w.amina;
        let locked = mkoba::ledger::AccountStatus::Locked;
        t.ledger.write(move |c| mkoba::ledger::account::set_status(c, amina, locked)).await.expect("lock");
        let c = api.charge(&id, &idem(), 100).await;
        assert_eq!((c.status, c.code()), (422, "account_not_active"), "[{be}] {c:?}");
        assert_eq!(api.spent(&id).await, 0, "[{be}] nothing spent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_pay_customers_from_the_till() {
    for db in TestDb::all() {
        let api = api(db).await;
        let (be, t) = (api.be(), &api.app.t);
        api.payment(300).await;
        let body = json!({"msisdn": "0712000002", "amount_minor": 12_500, "description": "Prize"});
        let key = idem();
        let paid = api.post("/payouts", &key, body.clone()).await;
        assert_eq!(paid.status, 201, "[{be}] {paid:?}");
        assert_eq!((paid.i64("amount_minor"), paid.i64("fee_minor")), (12_500, 0), "[{be}]");
        assert_eq!(api.post("/payouts", &key, body).await.body, paid.body, "[{be}] replayed");
        assert_eq!(t.balance(api.w.baraka).await, 12_500, "[{be}] paid once");
        let seen = api.get(&format!("/transactions/{}", paid.str("reference"))).await;
        assert_eq!((seen.str("kind"), seen.str("direction")), ("payout".into(), "out".into()), "[{be}]");
        assert_eq!(seen.i64("balance_after_minor"), 30_000 - 12_500, "[{be}]");

        let broke = api
            .post("/payouts", &idem(), json!({"msisdn": "0712000002", "amount_minor": 20_000, "description": "Prize"}))
            .await;
        assert_eq!((broke.status, broke.code()), (422, "insufficient_funds"), "[{be}] {broke:?}");
        let nobody = api
            .post("/payouts", &idem(), json!({"msisdn": "0712999999", "amount_minor": 100, "description": "Prize"}))
            .await;
        assert_eq!((nobody.status, nobody.code()), (422, "unknown_customer"), "[{be}] {nobody:?}");
        t.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_return_at_most_what_was_paid() {
    for db in TestDb::all() {
        let api = api(db).await;
        let (be, t) = (api.be(), &api.app.t);
        let paid = api.payment(100).await;
        let amina = t.balance(api.w.amina).await;
        let part = api.post("/refunds", &idem(), json!({"reference": paid.reference, "amount_minor": 3_000})).await;
        assert_eq!(part.status, 201, "[{be}] {part:?}");
        assert_eq!((part.str("refunded_reference"), part.i64("amount_minor")), (paid.reference.clone(), 3_000));
        let too_much = api.post("/refunds", &idem(), json!({"reference": paid.reference, "amount_minor": 7_001})).await;
        assert_eq!((too_much.status, too_much.code()), (422, "refund_exceeds_paid"), "[{be}] {too_much:?}");
        let key = idem();
        let rest = api.post("/refunds", &key, json!({"reference": paid.reference.to_lowercase()})).await;
        assert_eq!((rest.status, rest.i64("amount_minor")), (201, 7_000), "[{be}] {rest:?}");
        // Its retry answers as it did (not "nothing left").
        let again = api.post("/refunds", &key, json!({"reference": paid.reference.to_lowercase()})).await;
        assert_eq!((again.status, &again.body), (201, &rest.body), "[{be}]");
        let none_left = api.post("/refunds", &idem(), json!({"reference": paid.reference})).await;
        assert_eq!((none_left.status, none_left.code()), (422, "refund_exceeds_paid"), "[{be}]");
        assert_eq!(t.balance(api.w.amina).await, amina + 10_000, "[{be}] all of it back, once");
        let seen = api.get(&format!("/transactions/{}", paid.reference)).await;
        assert_eq!(seen.i64("refunded_minor"), 10_000, "[{be}]");
        let refund = api.get(&format!("/transactions/{}", part.str("reference"))).await;
        assert_eq!((refund.str("kind"), refund.str("refund_of")), ("refund".into(), paid.reference.clone()));

        // Only a payment this till received.
        let p2p = t.transfer(mkoba::ledger::TransferKind::P2p, api.w.amina, api.w.baraka, crate::helpers::kes(5)).await;
        let p2p = p2p.expect("p2p").reference;
        let r = api.post("/refunds", &idem(), json!({"reference": p2p})).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "[{be}] {r:?}");
        let r = api.post("/refunds", &idem(), json!({"reference": "NOTAREFXYZ"})).await;
        assert_eq!(r.status, 404, "[{be}]");
        t.assert_verified().await;
    }
}

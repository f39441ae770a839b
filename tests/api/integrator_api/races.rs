//! Many requests racing one allowance or one payment: the engine's guards
//! decide each inside its group decision, so the limit holds however they
//! interleave, in one process or two.

use super::{api, api_config, idem, new_key, Answer, Api};
use crate::helpers::{spawn_app_with, TestDb, TestLedger};
use futures_util::future::join_all;
use mkoba::integrator::{self, approvals, ApprovalKind, NewApproval};
use mkoba::ledger::{Guard, LedgerError, TransferKind, TransferRequest};
use proptest::prelude::*;
use serde_json::json;

const RACERS: usize = 64;
const CHARGE_MINOR: i64 = 5_000;
const CHARGES_ALLOWED: usize = 10;

/// Fires every charge at once, alternating between the given keys' apps.
async fn race(targets: &[(&Api, &str)], allowance: &str) -> Vec<Answer> {
    join_all((0..RACERS).map(|i| {
        let (api, key) = targets[i % targets.len()];
        let body = json!({"allowance_id": allowance, "amount_minor": CHARGE_MINOR, "description": "Article"});
        async move { api.post_as(key, "/charges", &idem(), body).await }
    }))
    .await
}

async fn check_race(api: &Api, allowance: &str, answers: &[Answer], before_minor: i64) {
    let be = api.be();
    let ok = answers.iter().filter(|a| a.status == 201).count();
    let exhausted = answers.iter().filter(|a| a.status == 422 && a.code() == "allowance_exhausted").count();
    assert_eq!(ok, CHARGES_ALLOWED, "[{be}] exactly the limit's worth succeed");
    assert_eq!(ok + exhausted, RACERS, "[{be}] every other one is allowance_exhausted: {answers:?}");
    let charged: i64 = answers.iter().filter(|a| a.status == 201).map(|a| a.i64("amount_minor")).sum();
    assert_eq!(api.spent(allowance).await, charged, "[{be}] the allowance's spent is what was charged");
    assert_eq!(api.app.t.balance(api.w.amina).await, before_minor - charged, "[{be}]");
    api.app.t.assert_verified().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_charges_never_exceed_the_allowance() {
    for db in TestDb::all() {
        let api = api(db).await;
        let allowance = api.active_allowance(CHARGE_MINOR * CHARGES_ALLOWED as i64).await;
        let before = api.app.t.balance(api.w.amina).await;
        let answers = race(&[(&api, &api.key)], &allowance).await;
        check_race(&api, &allowance, &answers, before).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_charges_split_across_two_processes_never_exceed_the_allowance() {
    for db in TestDb::all() {
        let config = api_config(&db);
        let second_db = db.clone_for_restart();
        let first = super::api_with(db, config.clone()).await;
        let second = spawn_app_with(second_db, config).await;
        let second = Api {
            key: new_key(&second, first.w.shop).await,
            app: second,
            w: first.w,
            other_till: first.other_till,
            other_key: first.other_key.clone(),
        };
        let allowance = first.active_allowance(CHARGE_MINOR * CHARGES_ALLOWED as i64).await;
        let before = first.app.t.balance(first.w.amina).await;
        let answers = race(&[(&first, &first.key), (&second, &second.key)], &allowance).await;
        check_race(&first, &allowance, &answers, before).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_refunds_never_return_more_than_was_paid() {
    for db in TestDb::all() {
        let api = api(db).await;
        let be = api.be();
        let paid = api.payment(100).await;
        let amina = api.app.t.balance(api.w.amina).await;
        // 32 refunds of KES 10 and a few of "all the rest", all at once.
        let answers = join_all((0..32).map(|i| {
            let body = if i % 8 == 7 {
                json!({"reference": paid.reference})
            } else {
                json!({"reference": paid.reference, "amount_minor": 1_000})
            };
            let api = &api;
            async move { api.post("/refunds", &idem(), body).await }
        }))
        .await;
        let refunded: i64 = answers.iter().filter(|a| a.status == 201).map(|a| a.i64("amount_minor")).sum();
        let refused = answers.iter().filter(|a| a.status == 422 && a.code() == "refund_exceeds_paid").count();
        let ok = answers.iter().filter(|a| a.status == 201).count();
        assert_eq!(ok + refused, 32, "[{be}] {answers:?}");
        assert!(refunded <= 10_000, "[{be}] refunded {refunded} of 10000");
        assert_eq!(refunded, 10_000, "[{be}] and all of it in the end");
        assert_eq!(api.app.t.balance(api.w.amina).await, amina + refunded, "[{be}]");
        let seen = api.get(&format!("/transactions/{}", paid.reference)).await;
        assert_eq!(seen.i64("refunded_minor"), refunded, "[{be}]");
        api.app.t.assert_verified().await;
    }
}

/// Charges of `amounts` under one allowance of `limit_minor`, submitted to
/// the ledger in `waves` (each wave at once): the successes never add up
/// to more than the limit, each refusal is `allowance_exhausted` for an
/// amount that did not fit, and the allowance's spent is their sum.
async fn charges_against(limit_minor: i64, amounts: Vec<i64>, waves: usize) {
    let t = TestLedger::open(TestDb::sqlite());
    let w = t.world(10_000).await;
    let new = NewApproval {
        kind: ApprovalKind::Allowance,
        till: w.shop,
        customer: w.amina,
        amount_minor: limit_minor,
        period: Some(mkoba::domain::time::Period::Month),
        description: "Tab".into(),
        expires_at_ms: mkoba::domain::now_ms() + 600_000,
    };
    let approval = t
        .ledger
        .write(move |c| {
            let a = approvals::insert(c, &new, mkoba::domain::now_ms())?;
            integrator::activate(c, &a, mkoba::domain::now_ms())?;
            Ok(a)
        })
        .await
        .expect("allowance");
    let mut ok_minor = 0i64;
    let mut refused = Vec::new();
    let per_wave = amounts.len().div_ceil(waves.max(1)).max(1);
    for wave in amounts.chunks(per_wave) {
        let results = join_all(wave.iter().map(|&a| {
            let mut req = TransferRequest::new(
                crate::helpers::key(),
                TransferKind::Charge,
                w.amina,
                w.shop,
                mkoba::domain::Money::from_minor(a).expect("amount"),
            );
            req.guard = Some(Guard::Allowance { approval_id: approval.id });
            t.ledger.submit(req)
        }))
        .await;
        for (amount, r) in wave.iter().zip(results) {
            match r {
                Ok(receipt) => ok_minor += receipt.amount_minor,
                Err(LedgerError::AllowanceExhausted { .. }) => refused.push(*amount),
                Err(e) => panic!("unexpected refusal: {e}"),
            }
        }
    }
    assert!(ok_minor <= limit_minor, "charged {ok_minor} under a limit of {limit_minor}");
    for amount in refused {
        assert!(amount > limit_minor - ok_minor, "{amount} was refused though {} remained", limit_minor - ok_minor);
    }
    let id = approval.public_id.clone();
    let spent = t.ledger.read(move |c| approvals::find_by_public_id(c, &id)).await.expect("read").expect("exists");
    assert_eq!(spent.spent_minor, ok_minor);
    t.assert_verified().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn successful_charges_never_add_up_to_more_than_the_limit(
        limit_minor in 1i64..50_000,
        amounts in prop::collection::vec(1i64..12_000, 1..40),
        waves in 1usize..6,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(charges_against(limit_minor, amounts, waves));
    }
}

//! Fraud controls (SPEC §11): velocity rules that decline or hold, holds
//! released or returned exactly once, the SIM-swap cap, with `ledger verify`
//! passing while money sits in suspense.

use crate::helpers::{kes, key, spawn_app_with, TestDb, TestLedger, World};
use futures_util::future::join_all;
use mkoba::config::{AfterLargeInRule, Config, LimitRule, RuleAction};
use mkoba::domain::{now_ms, Reference};
use mkoba::ledger::holds::{self, Settle};
use mkoba::ledger::{history, LedgerError, Receipt, TransferKind, TransferRequest};

const OPS: &str = "ops@mkoba.example";

fn with_rules(db: &TestDb, f: impl FnOnce(&mut Config)) -> Config {
    let mut config = db.config();
    config.alerts.email_to = OPS.into();
    config.notify.workers = false;
    f(&mut config);
    config
}

fn rule(limit: i64, action: RuleAction) -> LimitRule {
    LimitRule { limit: Some(limit), action }
}

async fn send(t: &TestLedger, w: &World, amount_major: i64) -> Result<Receipt, LedgerError> {
    t.transfer(TransferKind::P2p, w.amina, w.baraka, kes(amount_major)).await
}

fn declined_by(result: Result<Receipt, LedgerError>, expected: &str) {
    match result {
        Err(LedgerError::RuleDeclined { rule }) => assert_eq!(rule, expected),
        other => panic!("expected a decline by {expected}, got {other:?}"),
    }
}

async fn suspense(t: &TestLedger) -> i64 {
    t.balance(t.ledger.settings().system.suspense).await
}

async fn held_list(t: &TestLedger) -> Vec<holds::Held> {
    t.ledger.read(|c| holds::list(c, 100)).await.expect("list")
}

#[tokio::test]
async fn a_hold_waits_in_suspense_then_is_released_once() {
    for db in TestDb::all() {
        let config = with_rules(&db, |c| c.velocity.out_count_per_hour = rule(2, RuleAction::Hold));
        let app = spawn_app_with(db, config).await;
        let (t, be) = (&app.t, app.backend());
        let w = t.world(1_000).await;
        send(t, &w, 10).await.expect("first");
        send(t, &w, 10).await.expect("second");
        assert_eq!(t.balance(w.baraka).await, 2_000, "[{be}]");

        // The third in the hour is held: over USSD, the payer is told so.
        let screen = app.last("254712000001", &["1", "0712000002", "200", "1357"]).await;
        assert!(
            screen.starts_with("END Your payment of KES 200.00 to Baraka Otieno is under review"),
            "[{be}] {screen}"
        );
        let fee = 100; // KES 1.00 for 100.01–500 by default
        assert_eq!(t.balance(w.amina).await, 100_000 - 2_000 - 20_000 - fee, "[{be}] payer debited with the fee");
        assert_eq!(t.balance(w.baraka).await, 2_000, "[{be}] payee not paid yet");
        assert_eq!(suspense(t).await, 20_000 + fee, "[{be}] principal and fee in suspense");
        t.assert_verified().await;
        let held = held_list(t).await;
        assert_eq!(held.len(), 1, "[{be}]");
        assert_eq!(
            (held[0].rule.as_str(), held[0].amount_minor, held[0].payer.as_str()),
            ("out_count_per_hour", 20_000, "254712000001")
        );

        // Both parties are told it is under review; operators get an email.
        t.feed_receipts(50).await;
        assert_eq!(t.outbox_naming("is under review").await.len(), 2, "[{be}] payer and payee told");
        let alerts = t.outbox_naming("was held in suspense by the fraud rule out_count_per_hour").await;
        assert_eq!(alerts.len(), 1, "[{be}]");
        assert_eq!((alerts[0].channel.as_str(), alerts[0].recipient.as_str()), ("email", OPS));

        let reference = Reference::parse(&held[0].reference).expect("ref");
        let released = t.ledger.settle_hold(reference.clone(), Settle::Release).await.expect("release");
        assert_eq!(t.balance(w.baraka).await, 22_000, "[{be}] payee paid");
        assert_eq!(suspense(t).await, 0, "[{be}]");
        assert_eq!(released.fee_minor, fee);
        let fee_revenue = t.balance(t.ledger.settings().system.fee_revenue).await;
        assert_eq!(fee_revenue, fee, "[{be}] the fee reaches fee revenue on release");
        for how in [Settle::Release, Settle::Return] {
            let again = t.ledger.settle_hold(reference.clone(), how).await;
            assert!(matches!(again, Err(LedgerError::AlreadySettled { .. })), "[{be}] {again:?}");
        }
        // A held or releasing transfer is not reversed by hand.
        let by_hand = t
            .ledger
            .reverse(mkoba::ledger::ReversalRequest { idempotency_key: key(), reference: reference.clone() })
            .await;
        assert!(matches!(by_hand, Err(LedgerError::HeldTransfer(_))), "[{be}] {by_hand:?}");
        t.feed_receipts(50).await;
        assert_eq!(t.outbox_naming("completed after review").await.len(), 1, "[{be}] payer told");
        assert_eq!(t.outbox_naming("after review. New balance KES 220.00").await.len(), 1, "[{be}] payee told");
        assert!(held_list(t).await.is_empty());
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn a_returned_hold_gives_the_payer_everything_back() {
    for db in TestDb::all() {
        let config = with_rules(&db, |c| c.velocity.out_count_per_hour = rule(0, RuleAction::Hold));
        let t = TestLedger::open_with(db, config);
        let be = t.db.backend;
        let w = t.world(1_000).await;
        let held = send(&t, &w, 200).await.expect("held");
        assert_eq!(held.held_rule.as_deref(), Some("out_count_per_hour"));
        let reference = Reference::parse(&held.reference).expect("ref");
        // A replay of the same request is the same hold.
        t.assert_verified().await;
        t.ledger.settle_hold(reference, Settle::Return).await.expect("return");
        assert_eq!(t.balance(w.amina).await, 100_000, "[{be}] all of it back, fee included");
        assert_eq!(t.balance(w.baraka).await, 0, "[{be}]");
        assert_eq!(suspense(&t).await, 0, "[{be}]");
        t.feed_receipts(50).await;
        assert_eq!(t.outbox_naming("KES 201.00 returned to you").await.len(), 1, "[{be}]");
        assert_eq!(t.outbox_naming("was not completed after review").await.len(), 2, "[{be}] both told");
        t.assert_verified().await;
    }
}

/// Many release and return calls at once, from two writers (two processes):
/// exactly one settles the hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_releases_and_returns_settle_a_hold_once() {
    for db in TestDb::all() {
        let config = with_rules(&db, |c| c.velocity.out_count_per_hour = rule(0, RuleAction::Hold));
        let t = TestLedger::open_with(db, config);
        let be = t.db.backend;
        let w = t.world(1_000).await;
        let held = send(&t, &w, 200).await.expect("held");
        let reference = Reference::parse(&held.reference).expect("ref");
        let writers = [t.ledger.clone(), t.second_writer()];
        let results = join_all((0..16).map(|i| {
            let (ledger, reference) = (writers[i % 2].clone(), reference.clone());
            let how = if i % 4 < 2 { Settle::Release } else { Settle::Return };
            async move { (how, ledger.settle_hold(reference, how).await) }
        }))
        .await;
        let done: Vec<Settle> = results.iter().filter(|(_, r)| r.is_ok()).map(|(h, _)| *h).collect();
        assert_eq!(done.len(), 1, "[{be}] settled once: {results:?}");
        assert!(
            results.iter().all(|(_, r)| r.is_ok() || matches!(r, Err(LedgerError::AlreadySettled { .. }))),
            "[{be}]"
        );
        let (amina, baraka) = (t.balance(w.amina).await, t.balance(w.baraka).await);
        match done[0] {
            Settle::Release => assert_eq!((amina, baraka), (100_000 - 20_100, 20_000), "[{be}]"),
            Settle::Return => assert_eq!((amina, baraka), (100_000, 0), "[{be}]"),
        }
        assert_eq!(suspense(&t).await, 0, "[{be}]");
        t.assert_verified().await;
    }
}

/// A limit of N lets exactly N through however many arrive at once, from two
/// writers: the rule is decided inside the posting engine's decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_velocity_limit_holds_under_a_concurrent_burst_from_two_processes() {
    for db in TestDb::all() {
        let config = with_rules(&db, |c| {
            c.velocity.out_count_per_hour = rule(5, RuleAction::Decline);
            c.velocity.out_value_per_day_minor = rule(9_000, RuleAction::Hold);
        });
        let t = TestLedger::open_with(db, config);
        let be = t.db.backend;
        let w = t.world(1_000).await;
        let writers = [t.ledger.clone(), t.second_writer()];
        let results = join_all((0..40).map(|i| {
            let ledger = writers[i % 2].clone();
            let req = TransferRequest {
                idempotency_key: key(),
                kind: TransferKind::P2p,
                from: w.amina,
                to: w.baraka,
                amount: kes(20),
                guard: None,
                client_hash: None,
                api_key: None,
            };
            async move { ledger.submit(req).await }
        }))
        .await;
        let passed: Vec<&Receipt> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(passed.len(), 5, "[{be}] exactly the limit went through");
        // KES 20 × 4 = 80 ≤ 90; the fifth passes the day's value and is held.
        assert_eq!(passed.iter().filter(|r| r.held_rule.is_some()).count(), 1, "[{be}]");
        let declined = results.iter().filter(|r| matches!(r, Err(LedgerError::RuleDeclined { .. }))).count();
        assert_eq!(declined, 35, "[{be}]");
        assert_eq!(t.balance(w.baraka).await, 8_000, "[{be}] four paid, one held");
        t.assert_verified().await;
        // Every decline is recorded with its rule, and operators hear of each.
        t.feed_receipts(100).await;
        let alerts = t.outbox_naming("was declined by the fraud rule out_count_per_hour").await;
        assert_eq!(alerts.len(), 35, "[{be}]");
    }
}

#[tokio::test]
async fn each_rule_fires() {
    for db in TestDb::all() {
        let config = with_rules(&db, |c| {
            c.velocity.new_recipients_per_hour = rule(1, RuleAction::Decline);
            c.velocity.out_after_large_in = AfterLargeInRule {
                large_in_minor: Some(kes(5_000).minor()),
                window_s: 3_600,
                action: RuleAction::Decline,
            };
        });
        let t = TestLedger::open_with(db, config);
        let be = t.db.backend;
        let w = t.world(1_000).await;
        let chris = t.customer("0712000003", "Chris Njoroge").await;
        // One new recipient an hour: Baraka yes, then Chris no; Baraka again is not new.
        send(&t, &w, 10).await.expect("first new recipient");
        declined_by(t.transfer(TransferKind::P2p, w.amina, chris, kes(10)).await, "new_recipients_per_hour");
        send(&t, &w, 10).await.expect("Baraka is known now");
        // Merchant payments and cash-out are watched too.
        declined_by(
            t.transfer(TransferKind::MerchantPayment, w.amina, w.shop, kes(10)).await,
            "new_recipients_per_hour",
        );

        // The stolen-phone pattern: a large deposit, then money straight out.
        t.transfer(TransferKind::CashIn, w.agent, w.baraka, kes(6_000)).await.expect("large in");
        declined_by(t.transfer(TransferKind::P2p, w.baraka, w.amina, kes(10)).await, "out_after_large_in");
        declined_by(t.transfer(TransferKind::CashOut, w.baraka, w.agent, kes(500)).await, "out_after_large_in");
        // Receiving is unaffected; agents are not watched.
        t.transfer(TransferKind::P2p, w.amina, w.baraka, kes(1)).await.expect("receiving");
        t.transfer(TransferKind::CashIn, w.agent, w.amina, kes(10)).await.expect("agents");
        assert_eq!(t.balance(chris).await, 0, "[{be}] declines move nothing");
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn after_a_sim_swap_money_out_is_capped() {
    for db in TestDb::all() {
        let config = with_rules(&db, |c| c.sim_swap.max_out_minor = kes(50).minor());
        let app = spawn_app_with(db, config).await;
        let (t, be) = (&app.t, app.backend());
        let w = t.world(1_000).await;
        let now = now_ms();
        t.ledger.write(move |c| history::mark_swap(c, "254712000001", now - 1_000, "test", now)).await.expect("mark");
        send(t, &w, 30).await.expect("within the cap");
        declined_by(send(t, &w, 21).await, "sim_swap");
        let screen = app.last("254712000001", &["1", "0712000002", "21", "1357"]).await;
        assert!(screen.starts_with("END Your SIM card was changed recently"), "[{be}] {screen}");
        send(t, &w, 20).await.expect("up to the cap");
        // Receiving is unaffected.
        t.transfer(TransferKind::P2p, w.baraka, w.amina, kes(5)).await.expect("receiving");
        // A swap older than the cool-off no longer caps.
        let old = now - 73 * 3_600_000;
        t.ledger.write(move |c| history::mark_swap(c, "254712000002", old, "test", now)).await.expect("mark");
        t.transfer(TransferKind::P2p, w.baraka, w.amina, kes(40)).await.expect("cool-off over");
        t.assert_verified().await;
    }
}

/// The operator's CAMARA SIM Swap API (a stand-in from simulators/) is asked
/// before money leaves a customer; a swap it reports caps the number like an
/// operator's mark. When the API is down, payments go on.
#[tokio::test]
async fn a_swap_reported_by_the_check_api_caps_money_out() {
    use mkoba_simulators::start_camara;
    use std::time::Duration;
    for db in TestDb::all() {
        let camara = start_camara().await.expect("camara");
        camara.swap("+254712000001", Duration::from_secs(3_600));
        let config = with_rules(&db, |c| {
            c.sim_swap.check_url = camara.check_url();
            c.sim_swap.check_token = mkoba::config::Secret::new("camara-token");
            c.sim_swap.max_out_minor = kes(50).minor();
        });
        camara.require_token("camara-token");
        let app = spawn_app_with(db, config).await;
        let (t, be) = (&app.t, app.backend());
        t.world(1_000).await;
        let screen = app.last("254712000001", &["1", "0712000002", "100", "1357"]).await;
        assert!(screen.starts_with("END Your SIM card was changed recently"), "[{be}] {screen}");
        let at = t.ledger.read(|c| history::swapped_at(c, "254712000001", 0)).await.expect("read");
        let hour_ago = now_ms() - 3_600_000;
        assert!(at.is_some_and(|at| (at - hour_ago).abs() < 5_000), "[{be}] swap time from retrieve-date: {at:?}");
        let screen = app.last("254712000001", &["1", "0712000002", "40", "1357"]).await;
        assert!(screen.starts_with("END Sent"), "[{be}] within the cap: {screen}");
        assert_eq!(camara.checks(), 1, "[{be}] one check per number while the answer is fresh");

        // Not swapped: unaffected. API down: the payment goes on.
        camara.fail(true);
        let screen = app.last("254712000002", &["1", "0712000001", "10", "1357"]).await;
        assert!(screen.starts_with("END Sent"), "[{be}] {screen}");
        t.assert_verified().await;
        camara.stop().await;
    }
}

//! The ledger's behaviour on each backend: what moves, what is refused, and
//! that nothing is ever moved twice.

use crate::helpers::{kes, key, TestDb, TestLedger, World};
use mkoba::domain::{Money, Reference};
use mkoba::ledger::{LedgerError, ReversalRequest, TransferKind, TransferRequest};

#[tokio::test]
async fn p2p_moves_amount_and_fee_and_both_parties_see_the_same_reference() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let World { amina, baraka, .. } = t.world(2_000).await;

        let r = t.transfer(TransferKind::P2p, amina, baraka, kes(1_000)).await.expect("p2p");
        assert_eq!(r.reference.len(), 10);
        assert!(Reference::parse(&r.reference).is_ok());
        assert_eq!((r.amount_minor, r.fee_minor), (100_000, 500), "KES 1,000 pays KES 5 (0.5%)");
        assert_eq!(r.from.balance_after_minor, Some(200_000 - 100_000 - 500));
        assert_eq!(r.to.balance_after_minor, Some(100_000));
        assert_eq!(r.to.name, "Baraka Otieno");
        assert_eq!(t.balance(amina).await, 99_500);
        assert_eq!(t.balance(baraka).await, 100_000);
        assert_eq!(t.balance(t.ledger.settings().system.fee_revenue).await, 500);
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn small_payments_are_free_and_cash_out_pays_the_agent_commission() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let World { agent, amina, baraka, .. } = t.world(1_000).await;
        let after_deposit = t.balance(agent).await;
        assert_eq!(after_deposit, 1_000_000 - 100_000 + 500, "cash-in of KES 1,000 earns KES 5 commission");

        let r = t.transfer(TransferKind::P2p, amina, baraka, kes(50)).await.expect("p2p");
        assert_eq!(r.fee_minor, 0, "KES 50 p2p is free");

        let r = t.transfer(TransferKind::CashOut, amina, agent, kes(500)).await.expect("withdraw");
        assert_eq!((r.fee_minor, r.commission_minor), (500, 300));
        assert_eq!(t.balance(amina).await, 100_000 - 5_000 - 50_000 - 500);
        assert_eq!(t.balance(agent).await, after_deposit + 50_000 + 300);
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn merchant_payment_reaches_the_till() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let World { amina, shop, .. } = t.world(1_000).await;
        let r = t.transfer(TransferKind::MerchantPayment, amina, shop, kes(250)).await.expect("pay");
        assert_eq!(r.to.till.as_deref(), Some("55123"));
        assert_eq!(t.balance(shop).await, 25_000);
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn refusals_move_nothing() {
    for db in TestDb::all() {
        let backend = db.backend;
        let t = TestLedger::open(db);
        let World { agent, amina, baraka, shop } = t.world(100).await;
        let before = (t.balance(amina).await, t.balance(baraka).await, t.balance(agent).await);

        let cases: Vec<(&str, TransferKind, _, _, Money)> = vec![
            ("insufficient_funds", TransferKind::P2p, amina, baraka, kes(101)),
            ("self_transfer", TransferKind::P2p, amina, amina, kes(1)),
            ("wrong_party", TransferKind::P2p, amina, shop, kes(1)),
            ("wrong_party", TransferKind::CashIn, amina, baraka, kes(1)),
            ("wrong_party", TransferKind::FloatIssue, agent, baraka, kes(1)),
            ("over_transfer_limit", TransferKind::P2p, amina, baraka, kes(200_000)),
            ("amount_outside_tariff", TransferKind::P2p, amina, baraka, kes(2_000_000)),
            ("wrong_party", TransferKind::Reversal, amina, baraka, kes(1)),
        ];
        for (code, kind, from, to, amount) in cases {
            let err = t.transfer(kind, from, to, amount).await.expect_err(code);
            assert_eq!(err.code(), code, "[{backend}] {kind:?} {amount:?}: {err}");
        }
        let unknown = mkoba::ledger::AccountId(987_654);
        let err = t.transfer(TransferKind::P2p, amina, unknown, kes(1)).await.expect_err("unknown");
        assert_eq!(err.code(), "unknown_account");
        let err = t.transfer(TransferKind::P2p, amina, baraka, Money::ZERO).await.expect_err("zero");
        assert_eq!(err.code(), "invalid_input");

        assert_eq!(before, (t.balance(amina).await, t.balance(baraka).await, t.balance(agent).await));
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn tier_limits_cap_balance_and_daily_outgoing() {
    for db in TestDb::all() {
        let mut config = db.config();
        let basic = config.tiers.get_mut("basic").expect("basic tier");
        basic.max_balance_minor = kes(1_000).minor();
        basic.max_transfer_minor = kes(400).minor();
        basic.max_daily_out_minor = kes(600).minor();
        let t = TestLedger::open_with(db, config);
        let agent = t.agent("0722000001", "Duka Moja").await;
        t.float(agent, kes(10_000)).await;
        let amina = t.account("customer", "0712000001", "Amina Juma", "basic").await;
        let baraka = t.customer("0712000002", "Baraka Otieno").await;

        t.transfer(TransferKind::CashIn, agent, amina, kes(1_000)).await.expect("up to the cap");
        let err = t.transfer(TransferKind::CashIn, agent, amina, kes(1)).await.expect_err("over the cap");
        assert_eq!(err.code(), "receiver_over_balance_limit");

        let err = t.transfer(TransferKind::P2p, amina, baraka, kes(401)).await.expect_err("per transfer");
        assert_eq!(err.code(), "over_transfer_limit");
        t.transfer(TransferKind::P2p, amina, baraka, kes(400)).await.expect("first");
        t.transfer(TransferKind::P2p, amina, baraka, kes(200)).await.expect("reaches the daily cap");
        let err = t.transfer(TransferKind::P2p, amina, baraka, kes(1)).await.expect_err("daily");
        assert_eq!(err.code(), "over_daily_limit");
        assert!(matches!(err, LedgerError::OverDailyLimit { remaining_minor: 0, .. }), "{err:?}");
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn a_repeated_key_returns_the_first_result_and_a_changed_request_is_refused() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let World { agent, amina, baraka, .. } = t.world(1_000).await;
        let req = TransferRequest {
            idempotency_key: key(),
            kind: TransferKind::P2p,
            from: amina,
            to: baraka,
            amount: kes(300),
            guard: None,
            client_hash: None,
            api_key: None,
        };

        let first = t.ledger.submit(req.clone()).await.expect("first");
        let again = t.ledger.submit(req.clone()).await.expect("replay");
        assert!(!first.replayed && again.replayed);
        assert_eq!(first.reference, again.reference);
        assert_eq!(t.balance(baraka).await, 30_000, "moved once");

        let changed = TransferRequest { amount: kes(301), ..req.clone() };
        let err = t.ledger.submit(changed).await.expect_err("conflict");
        assert_eq!(err.code(), "idempotency_conflict");
        assert_eq!(t.balance(baraka).await, 30_000);

        // A refused request does not use up its key: it can succeed later.
        let later = TransferRequest { idempotency_key: key(), amount: kes(5_000), ..req };
        assert_eq!(t.ledger.submit(later.clone()).await.expect_err("too much").code(), "insufficient_funds");
        t.transfer(TransferKind::CashIn, agent, amina, kes(5_000)).await.expect("top up");
        assert!(!t.ledger.submit(later).await.expect("now it goes").replayed);
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn reversal_undoes_every_leg_once_and_only_while_funds_remain() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let World { agent, amina, baraka, .. } = t.world(2_000).await;
        let fee_revenue = t.ledger.settings().system.fee_revenue;
        let before = (t.balance(amina).await, t.balance(baraka).await, t.balance(fee_revenue).await);

        let sent = t.transfer(TransferKind::P2p, amina, baraka, kes(1_000)).await.expect("p2p");
        let reverse = |r: &str, k: &str| ReversalRequest {
            idempotency_key: k.to_string(),
            reference: Reference::parse(r).expect("reference"),
        };
        let rev = t.ledger.reverse(reverse(&sent.reference, "rev-1")).await.expect("reversal");
        assert_eq!(rev.kind, TransferKind::Reversal);
        assert_eq!(rev.reverses.as_deref(), Some(sent.reference.as_str()));
        assert_eq!(before, (t.balance(amina).await, t.balance(baraka).await, t.balance(fee_revenue).await));

        assert!(t.ledger.reverse(reverse(&sent.reference, "rev-1")).await.expect("replay").replayed);
        let err = t.ledger.reverse(reverse(&sent.reference, "rev-2")).await.expect_err("twice");
        assert_eq!(err.code(), "already_reversed");
        let err = t.ledger.reverse(reverse(&rev.reference, "rev-3")).await.expect_err("of a reversal");
        assert_eq!(err.code(), "not_reversible");
        let err = t.ledger.reverse(reverse("AAAAAAAAAA", "rev-4")).await.expect_err("unknown");
        assert_eq!(err.code(), "transfer_not_found");

        // Baraka spends what he received: the transfer can no longer be undone.
        let sent = t.transfer(TransferKind::P2p, amina, baraka, kes(500)).await.expect("p2p");
        t.transfer(TransferKind::CashOut, baraka, agent, kes(400)).await.expect("withdraw");
        let before = (t.balance(amina).await, t.balance(baraka).await);
        let err = t.ledger.reverse(reverse(&sent.reference, "rev-5")).await.expect_err("funds gone");
        assert_eq!(err.code(), "reversal_funds_gone");
        assert_eq!(before, (t.balance(amina).await, t.balance(baraka).await));
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn verify_catches_a_tampered_balance_and_a_lost_posting() {
    use diesel::connection::SimpleConnection;
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let agent = t.agent("0722000001", "Duka Moja").await;
        t.float(agent, kes(100)).await;
        t.assert_verified().await;
        let pool = t.ledger.pool().clone();
        let tamper = |sql: &'static str| {
            let mut conn = pool.get().expect("conn");
            mkoba::with_conn!(&mut *conn, c => c.batch_execute(sql)).expect("tamper");
        };
        tamper("UPDATE accounts SET balance_minor = balance_minor + 1 WHERE kind = 'agent'");
        let report = t.ledger.verify().await.expect("verify");
        assert!(!report.ok());
        assert!(report.problems.iter().any(|p| p.contains("sum to 1 minor")), "{:?}", report.problems);
        assert!(report.problems.iter().any(|p| p.contains("postings sum to")), "{:?}", report.problems);
        tamper("UPDATE accounts SET balance_minor = balance_minor - 1 WHERE kind = 'agent'");
        t.assert_verified().await;
        tamper("DELETE FROM postings WHERE id = (SELECT MAX(id) FROM postings)");
        let report = t.ledger.verify().await.expect("verify");
        assert!(report.problems.iter().any(|p| p.contains("does not balance")), "{:?}", report.problems);
    }
}

#[tokio::test]
async fn duplicate_accounts_are_refused() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        t.customer("0712000001", "Amina Juma").await;
        let new = mkoba::ledger::NewAccount::agent(&crate::helpers::msisdn("0712000001"), "Someone", None);
        let err = t.ledger.create_account(new).await.expect_err("duplicate");
        assert_eq!(err.code(), "duplicate_account");
    }
}

#[test]
fn tier_limits_hold_for_any_sequence_of_transfers() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let config = ProptestConfig { cases: 12, ..ProptestConfig::default() };
    proptest!(config, |(amounts in proptest::collection::vec(1i64..=600, 1..25))| {
        rt.block_on(async {
            let db = TestDb::sqlite();
            let mut config = db.config();
            let basic = config.tiers.get_mut("basic").expect("basic tier");
            basic.max_balance_minor = kes(2_000).minor();
            basic.max_transfer_minor = kes(500).minor();
            basic.max_daily_out_minor = kes(1_500).minor();
            let t = TestLedger::open_with(db, config);
            let agent = t.agent("0722000001", "Duka Moja").await;
            t.float(agent, kes(100_000)).await;
            let amina = t.account("customer", "0712000001", "Amina Juma", "standard").await;
            t.transfer(TransferKind::CashIn, agent, amina, kes(50_000)).await.expect("fund");
            let baraka = t.account("customer", "0712000002", "Baraka Otieno", "basic").await;
            let zawadi = t.account("customer", "0712000003", "Zawadi Mwangi", "basic").await;
            let (mut received, mut sent) = (0i64, 0i64);
            for (i, major) in amounts.iter().enumerate() {
                // Alternate: Amina fills Baraka (balance cap), Baraka spends to Zawadi (per-transfer and daily caps).
                let (from, to) = if i % 2 == 0 { (amina, baraka) } else { (baraka, zawadi) };
                match t.transfer(TransferKind::P2p, from, to, kes(*major)).await {
                    Ok(r) if from == amina => received += r.amount_minor,
                    Ok(r) => sent += r.amount_minor,
                    Err(e) => assert!(
                        ["receiver_over_balance_limit", "over_transfer_limit", "over_daily_limit", "insufficient_funds"].contains(&e.code()),
                        "unexpected refusal {e}"
                    ),
                }
                assert!(t.balance(baraka).await <= kes(2_000).minor(), "balance cap");
                assert!(sent <= kes(1_500).minor(), "daily cap: sent {sent}");
            }
            assert_eq!(t.balance(baraka).await, received - sent - fees_paid(&t, baraka).await);
            t.assert_verified().await;
        });
    });
}

/// Fees an account has paid, from its postings.
async fn fees_paid(t: &TestLedger, id: mkoba::ledger::AccountId) -> i64 {
    t.ledger
        .read(move |conn| {
            use diesel::prelude::*;
            use mkoba::db::schema::postings::dsl as p;
            let fees: Vec<i64> = mkoba::with_conn!(conn, c => p::postings
                .filter(p::account_id.eq(id.0))
                .filter(p::code.eq("fee"))
                .select(p::amount_minor)
                .load(c))?;
            Ok(-fees.iter().sum::<i64>())
        })
        .await
        .expect("fees")
}

//! Transfers posted as a group (what the writer does with every transfer
//! that queued up together) are decided exactly as if they came one by one.

use crate::helpers::{kes, TestDb, TestLedger, World};
use mkoba::ledger::{batch, AccountId, LedgerError, Receipt, TransferKind, TransferRequest};

/// Posts `reqs` as one group, in one write job, as the writer would.
async fn post_group(t: &TestLedger, reqs: Vec<TransferRequest>) -> Vec<Result<Receipt, LedgerError>> {
    let settings = t.ledger.settings_arc();
    t.ledger
        .write(move |conn| {
            let refs: Vec<&TransferRequest> = reqs.iter().collect();
            batch::apply_all(conn, &settings, &refs)
        })
        .await
        .expect("the group runs")
}

fn p2p(key: &str, from: AccountId, to: AccountId, major: i64) -> TransferRequest {
    TransferRequest::new(key.into(), TransferKind::P2p, from, to, kes(major))
}

fn ok(result: &Result<Receipt, LedgerError>) -> &Receipt {
    result.as_ref().unwrap_or_else(|e| panic!("refused: {e}"))
}

fn code(result: &Result<Receipt, LedgerError>) -> &'static str {
    result.as_ref().map_or_else(LedgerError::code, |_| "ok")
}

#[tokio::test]
async fn a_group_is_decided_in_arrival_order_against_running_balances() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let World { amina, baraka, .. } = t.world(1_000).await;
        let fee_revenue = t.ledger.settings().system.fee_revenue;
        let fees_before = t.balance(fee_revenue).await;

        let results = post_group(
            &t,
            vec![
                p2p("k1", amina, baraka, 400), // 1,000 - 400 - fee 1 = 599
                p2p("k2", amina, baraka, 400), // 198
                p2p("k3", amina, baraka, 400), // refused: 198 left
                p2p("k1", amina, baraka, 400), // the first one, again
                p2p("k4", baraka, amina, 100), // free; Amina has 298
                p2p("k3", amina, baraka, 250), // k3 was refused, so it is free to use: 47 left
                p2p("k2", amina, baraka, 1),   // k2 was used for something else
            ],
        )
        .await;

        let codes: Vec<_> = results.iter().map(code).collect();
        assert_eq!(
            codes,
            ["ok", "ok", "insufficient_funds", "ok", "ok", "ok", "idempotency_conflict"],
            "[{}]",
            t.db.backend
        );
        assert!(matches!(results[2], Err(LedgerError::InsufficientFunds { available_minor: 19_800, .. })));
        let (first, replay) = (ok(&results[0]), ok(&results[3]));
        assert!(replay.replayed && !first.replayed);
        assert_eq!(first.reference, replay.reference);
        assert_eq!(ok(&results[0]).from.balance_after_minor, Some(59_900));
        assert_eq!(ok(&results[1]).from.balance_after_minor, Some(19_800));
        assert_eq!(ok(&results[4]).to.balance_after_minor, Some(29_800));
        assert_eq!(ok(&results[5]).from.balance_after_minor, Some(4_700));
        assert_eq!(ok(&results[5]).to.balance_after_minor, Some(95_000));

        assert_eq!(t.balance(amina).await, 4_700);
        assert_eq!(t.balance(baraka).await, 95_000);
        assert_eq!(t.balance(fee_revenue).await, fees_before + 300);
        let mut references: Vec<_> = [0, 1, 4, 5].iter().map(|&i| ok(&results[i]).reference.clone()).collect();
        references.sort();
        references.dedup();
        assert_eq!(references.len(), 4, "each posted transfer has its own reference");
        t.feed_receipts(256).await;
        for reference in &references {
            assert_eq!(t.outbox_naming(reference).await.len(), 2, "both parties get a receipt for {reference}");
        }
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn daily_limits_add_up_inside_a_group() {
    for db in TestDb::all() {
        let mut config = db.config();
        config.tiers.get_mut("basic").expect("basic tier").max_daily_out_minor = kes(600).minor();
        let t = TestLedger::open_with(db, config);
        let agent = t.agent("0722000001", "Duka Moja").await;
        t.float(agent, kes(10_000)).await;
        let amina = t.account("customer", "0712000001", "Amina Juma", "basic").await;
        let baraka = t.customer("0712000002", "Baraka Otieno").await;
        t.transfer(TransferKind::CashIn, agent, amina, kes(1_000)).await.expect("fund");

        let results = post_group(
            &t,
            vec![p2p("d1", amina, baraka, 400), p2p("d2", amina, baraka, 200), p2p("d3", amina, baraka, 1)],
        )
        .await;
        assert_eq!(results.iter().map(code).collect::<Vec<_>>(), ["ok", "ok", "over_daily_limit"]);
        assert!(matches!(results[2], Err(LedgerError::OverDailyLimit { remaining_minor: 0, .. })));
        // What the group wrote is what a later transfer sees.
        let err = t.transfer(TransferKind::P2p, amina, baraka, kes(1)).await.expect_err("still over");
        assert_eq!(err.code(), "over_daily_limit");
        t.assert_verified().await;
    }
}

/// The accounts of the equivalence test, created in the same order on each
/// database so that their ids match.
async fn cast(t: &TestLedger) -> [AccountId; 5] {
    let agent = t.agent("0722000001", "Duka Moja").await;
    t.float(agent, kes(100_000)).await;
    let amina = t.account("customer", "0712000001", "Amina Juma", "standard").await;
    t.transfer(TransferKind::CashIn, agent, amina, kes(3_000)).await.expect("fund");
    let baraka = t.account("customer", "0712000002", "Baraka Otieno", "basic").await;
    let zawadi = t.account("customer", "0712000003", "Zawadi Mwangi", "basic").await;
    let shop = t.merchant("55123", "Mama Mboga").await;
    [agent, amina, baraka, zawadi, shop]
}

fn tight_limits(db: &TestDb) -> mkoba::config::Config {
    let mut config = db.config();
    let basic = config.tiers.get_mut("basic").expect("basic tier");
    basic.max_balance_minor = kes(2_000).minor();
    basic.max_transfer_minor = kes(500).minor();
    basic.max_daily_out_minor = kes(1_500).minor();
    config
}

#[test]
fn a_group_decides_exactly_as_one_at_a_time() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let config = ProptestConfig { cases: 10, ..ProptestConfig::default() };
    let op = (0u8..5, 0usize..3, 0usize..3, 1i64..=700);
    proptest!(config, |(ops in proptest::collection::vec(op, 1..40))| {
        rt.block_on(async {
            let (one_db, group_db) = (TestDb::sqlite(), TestDb::sqlite());
            let (c1, c2) = (tight_limits(&one_db), tight_limits(&group_db));
            let (one, group) = (TestLedger::open_with(one_db, c1), TestLedger::open_with(group_db, c2));
            let accounts = cast(&one).await;
            assert_eq!(cast(&group).await, accounts);
            let [agent, _, _, _, shop] = accounts;
            let customers = &accounts[1..4];
            let reqs: Vec<TransferRequest> = ops
                .iter()
                .enumerate()
                .map(|(i, &(kind, a, b, major))| {
                    let (kind, from, to) = match kind {
                        0 | 1 => (TransferKind::P2p, customers[a], customers[(a + 1 + b % 2) % 3]),
                        2 => (TransferKind::CashOut, customers[a], agent),
                        3 => (TransferKind::MerchantPayment, customers[a], shop),
                        _ => (TransferKind::CashIn, agent, customers[a]),
                    };
                    TransferRequest { idempotency_key: format!("eq-{i}"), kind, from, to, amount: kes(major), guard: None, client_hash: None, api_key: None }
                })
                .collect();

            let mut singly = Vec::with_capacity(reqs.len());
            for req in &reqs {
                singly.push(one.ledger.submit(req.clone()).await);
            }
            let grouped = post_group(&group, reqs.clone()).await;

            for (i, (s, g)) in singly.iter().zip(&grouped).enumerate() {
                assert_eq!(code(s), code(g), "request {i}: {:?}", reqs[i]);
                if let (Ok(s), Ok(g)) = (s, g) {
                    let shape = |r: &Receipt| {
                        (r.amount_minor, r.fee_minor, r.commission_minor, r.from.balance_after_minor, r.to.balance_after_minor)
                    };
                    assert_eq!(shape(s), shape(g), "request {i}");
                }
            }
            for id in accounts {
                assert_eq!(one.balance(id).await, group.balance(id).await, "account {id}");
            }
            let system = one.ledger.settings().system;
            for id in [system.fee_revenue, system.commission_expense, system.issuance] {
                assert_eq!(one.balance(id).await, group.balance(id).await, "system account {id}");
            }
            one.assert_verified().await;
            group.assert_verified().await;
        });
    });
}

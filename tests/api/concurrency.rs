//! Many submitters at once, from plain threads as a busy server would have,
//! and two writers on one database as two `mkoba serve` processes would.

use crate::helpers::{kes, key, TestDb, TestLedger, World};
use mkoba::domain::Money;
use mkoba::ledger::{AccountId, Ledger, TransferKind, TransferRequest};
use rand::Rng;
use std::collections::HashSet;

const THREADS: usize = 8;
const TRANSFERS_PER_THREAD: usize = 500;
const ACCOUNTS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_transfers_from_many_threads_conserve_money() {
    for db in TestDb::all() {
        let backend = db.backend;
        let t = TestLedger::open(db);
        let agent = t.agent("0722000001", "Duka Moja").await;
        t.float(agent, kes(1_000_000)).await;
        let mut accounts = Vec::new();
        for i in 0..ACCOUNTS {
            let phone = format!("07120{i:05}");
            accounts.push(t.funded_customer(agent, &phone, &format!("Customer {i}"), 5_000).await);
        }
        let fee_revenue = t.ledger.settings().system.fee_revenue;
        let mut before = t.balance(fee_revenue).await;
        for a in &accounts {
            before += t.balance(*a).await;
        }

        // Half the threads go through a second writer on the same database.
        let writers = [t.ledger.clone(), t.second_writer()];
        let results = tokio::task::spawn_blocking(move || {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|i| {
                        let ledger: &Ledger = &writers[i % 2];
                        let accounts = &accounts;
                        s.spawn(move || random_transfers(ledger, accounts))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("thread")).collect::<Vec<_>>()
            })
        })
        .await
        .expect("join");
        let (done, refused): (usize, usize) = results.iter().fold((0, 0), |acc, r| (acc.0 + r.0, acc.1 + r.1));
        assert_eq!(done + refused, THREADS * TRANSFERS_PER_THREAD, "[{backend}] every request answered");
        assert!(done > THREADS * TRANSFERS_PER_THREAD / 2, "[{backend}] most transfers go through: {done}");

        // p2p only moves money among these customers and the fee account.
        let fee_revenue = t.ledger.settings().system.fee_revenue;
        let mut after = t.balance(fee_revenue).await;
        for i in 0..ACCOUNTS {
            let account = t.find(&format!("07120{i:05}")).await.expect("exists");
            assert!(account.balance_minor >= 0, "[{backend}] negative balance");
            after += account.balance_minor;
        }
        assert_eq!(before, after, "[{backend}] money conserved");
        t.assert_verified().await;
    }
}

/// Returns (completed, refused). Any other error fails the test.
fn random_transfers(ledger: &Ledger, accounts: &[AccountId]) -> (usize, usize) {
    let mut rng = rand::rng();
    let (mut done, mut refused) = (0, 0);
    for _ in 0..TRANSFERS_PER_THREAD {
        let from = accounts[rng.random_range(0..accounts.len())];
        let mut to = accounts[rng.random_range(0..accounts.len())];
        if to == from {
            to = accounts[(accounts.iter().position(|a| *a == from).unwrap_or(0) + 1) % accounts.len()];
        }
        let amount = Money::from_minor(rng.random_range(1..=150_000)).expect("amount");
        let req = TransferRequest {
            idempotency_key: key(),
            kind: TransferKind::P2p,
            from,
            to,
            amount,
            guard: None,
            client_hash: None,
            api_key: None,
        };
        match ledger.submit_blocking(req) {
            Ok(_) => done += 1,
            Err(e) if e.is_refusal() => refused += 1,
            Err(e) => panic!("transfer failed: {e}"),
        }
    }
    (done, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_replayed_concurrently_moves_money_once() {
    for db in TestDb::all() {
        let backend = db.backend;
        let t = TestLedger::open(db);
        let World { amina, baraka, .. } = t.world(1_000).await;
        let req = TransferRequest {
            idempotency_key: key(),
            kind: TransferKind::P2p,
            from: amina,
            to: baraka,
            amount: kes(100),
            guard: None,
            client_hash: None,
            api_key: None,
        };
        let writers = [t.ledger.clone(), t.second_writer()];
        let receipts = tokio::task::spawn_blocking(move || {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|i| {
                        let ledger = &writers[i % 2];
                        let req = req.clone();
                        s.spawn(move || ledger.submit_blocking(req).expect("submit"))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().expect("thread")).collect::<Vec<_>>()
            })
        })
        .await
        .expect("join");
        let references: HashSet<&str> = receipts.iter().map(|r| r.reference.as_str()).collect();
        assert_eq!(references.len(), 1, "[{backend}] one transfer");
        assert_eq!(receipts.iter().filter(|r| !r.replayed).count(), 1, "[{backend}] exactly one original");
        assert_eq!(t.balance(baraka).await, 10_000, "[{backend}] moved once");
        assert_eq!(t.balance(amina).await, 100_000 - 10_000, "[{backend}] debited once");
        t.assert_verified().await;
    }
}

//! Receipts are queued from the journal after the transfer commits: once
//! each, with the balances of their own moment, however many feeders run.

use crate::helpers::{kes, key, notices, TestDb, TestLedger};
use mkoba::domain::Reference;
use mkoba::ledger::{AccountId, Receipt, ReversalRequest, TransferKind, TransferRequest};
use mkoba::notify::receipts;

async fn p2p(t: &TestLedger, key: &str, from: AccountId, to: AccountId, major: i64) -> Receipt {
    let req = TransferRequest {
        idempotency_key: key.into(),
        kind: TransferKind::P2p,
        from,
        to,
        amount: kes(major),
        guard: None,
        client_hash: None,
        api_key: None,
    };
    t.ledger.submit(req).await.expect("p2p")
}

async fn cursor(t: &TestLedger) -> i64 {
    t.ledger.read(receipts::cursor).await.expect("cursor")
}

/// The one message to `to` naming `reference`.
async fn receipt_to(t: &TestLedger, reference: &str, to: &str) -> String {
    let rows = t.outbox_naming(reference).await;
    let mine: Vec<_> = rows.iter().filter(|m| m.recipient == to).collect();
    assert_eq!(mine.len(), 1, "[{}] one receipt for {to} naming {reference}: {rows:?}", t.db.backend);
    mine[0].body.clone()
}

#[tokio::test]
async fn receipts_are_queued_once_from_the_journal_with_the_balances_of_their_moment() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let b = t.db.backend;
        let w = t.world(1_000).await;
        t.feed_receipts(256).await;
        assert_eq!(t.ledger.read(receipts::waiting).await.expect("waiting"), 0, "[{b}]");

        let (k1, k2) = (key(), key());
        let first = p2p(&t, &k1, w.amina, w.baraka, 100).await;
        let second = p2p(&t, &k2, w.amina, w.baraka, 50).await;
        assert_eq!((first.fee_minor, second.fee_minor), (0, 0), "[{b}] small payments are free");
        // Committed, not yet queued: the journal holds them.
        assert!(t.outbox_naming(&first.reference).await.is_empty(), "[{b}]");
        assert_eq!(t.ledger.read(receipts::waiting).await.expect("waiting"), 2, "[{b}]");

        // One transfer per call: the cursor moves past each once.
        assert_eq!(t.feed_receipts(1).await, vec![1, 1, 0], "[{b}]");
        assert_eq!(cursor(&t).await, second.transfer_id.0, "[{b}]");
        // The first receipt shows the balance right after it, not today's.
        let sent = receipt_to(&t, &first.reference, "254712000001").await;
        assert!(sent.contains("You sent KES 100.00 to Baraka Otieno"), "[{b}] {sent}");
        assert!(sent.contains("New balance KES 900.00"), "[{b}] {sent}");
        let received = receipt_to(&t, &first.reference, "254712000002").await;
        assert!(received.contains("You received KES 100.00 from Amina Juma"), "[{b}] {received}");
        assert!(received.contains("New balance KES 100.00"), "[{b}] {received}");
        assert!(receipt_to(&t, &second.reference, "254712000001").await.contains("New balance KES 850.00"));
        assert!(receipt_to(&t, &second.reference, "254712000002").await.contains("New balance KES 150.00"));

        // Nothing is queued twice; a replay shows the balances it had.
        assert_eq!(t.feed_receipts(1).await, vec![0], "[{b}]");
        assert_eq!(t.outbox_naming(&first.reference).await.len(), 2, "[{b}]");
        let replay = p2p(&t, &k1, w.amina, w.baraka, 100).await;
        assert!(replay.replayed, "[{b}]");
        assert_eq!(replay.from.balance_after_minor, Some(kes(900).minor()), "[{b}]");
        assert_eq!(replay.to.balance_after_minor, Some(kes(100).minor()), "[{b}]");
        t.assert_verified().await;
    }
}

#[tokio::test]
async fn a_reversal_receipt_names_the_original_and_the_balances_after_it() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let b = t.db.backend;
        let w = t.world(1_000).await;
        let paid = p2p(&t, &key(), w.amina, w.baraka, 250).await;
        let original = Reference::parse(&paid.reference).expect("reference");
        let reversal =
            t.ledger.reverse(ReversalRequest { idempotency_key: key(), reference: original }).await.expect("reversal");
        assert_eq!(reversal.to.balance_after_minor, Some(kes(1_000).minor()), "[{b}]");
        t.feed_receipts(256).await;
        let back = receipt_to(&t, &reversal.reference, "254712000001").await;
        assert!(back.contains(&format!("Reversal of {}", paid.reference)), "[{b}] {back}");
        assert!(back.contains("returned to you. New balance KES 1,000.00"), "[{b}] {back}");
        let taken = receipt_to(&t, &reversal.reference, "254712000002").await;
        assert!(taken.contains("New balance KES 0.00"), "[{b}] {taken}");
    }
}

/// Two processes (two writers) feed while transfers are posted: every
/// transfer's receipts are queued exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_feeders_queue_each_receipt_once() {
    for db in TestDb::all() {
        let t = TestLedger::open(db);
        let b = t.db.backend;
        let w = t.world(5_000).await;
        let other = TestLedger { db: t.db.clone_for_restart(), config: t.config.clone(), ledger: t.second_writer() };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let feeder = |t: &TestLedger| {
            let (ledger, config, stop) = (t.ledger.clone(), t.config.clone(), stop.clone());
            tokio::spawn(async move {
                let notices = notices(&config);
                let mut fed = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    fed += mkoba::notify::worker::feed_receipts(&ledger, &notices, 3).await.expect("feed");
                    tokio::task::yield_now().await;
                }
                fed
            })
        };
        let (one, two) = (feeder(&t), feeder(&other));
        let mut references = Vec::new();
        for i in 0..30 {
            let (from, to) = if i % 2 == 0 { (w.amina, w.baraka) } else { (w.baraka, w.amina) };
            let posted = if i % 3 == 0 { &other } else { &t };
            references.push(p2p(posted, &key(), from, to, 10).await.reference);
        }
        // Let the feeders catch up, then stop them.
        for _ in 0..200 {
            if t.ledger.read(receipts::waiting).await.expect("waiting") == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let fed = one.await.expect("feeder one") + two.await.expect("feeder two");
        assert_eq!(t.ledger.read(receipts::waiting).await.expect("waiting"), 0, "[{b}]");
        // The set-up's own transfers (float, deposit) were fed too.
        assert!(fed >= 30, "[{b}] fed {fed}");
        for reference in &references {
            assert_eq!(t.outbox_naming(reference).await.len(), 2, "[{b}] two receipts for {reference}");
        }
        drop(other);
    }
}

//! The posting engine's guards, straight through the ledger: charges never
//! beyond their allowance, refunds never beyond what was paid, a payment
//! request paid once — under many submitters at once and across two writers
//! (two processes) on one database. `ledger verify` checks the same
//! invariants afterwards, and catches a breach written around the engine.

use crate::helpers::{kes, notices, TestDb, TestLedger};
use mkoba::domain::time::Period;
use mkoba::domain::Money;
use mkoba::integrator::{self, Approval, ApprovalKind, NewApproval};
use mkoba::ledger::{AccountId, Guard, Ledger, LedgerError, TransferKind, TransferRequest};

struct Shop {
    t: TestLedger,
    customer: AccountId,
    till: AccountId,
}

async fn shop(db: TestDb, customer_major: i64) -> Shop {
    let t = TestLedger::open(db);
    let agent = t.agent("0722000001", "Duka Moja").await;
    t.float(agent, kes(1_000_000)).await;
    let customer = t.funded_customer(agent, "0712000001", "Amina", customer_major).await;
    let till = t.merchant("555111", "Habari Daily").await;
    Shop { t, customer, till }
}

async fn approval(s: &Shop, kind: ApprovalKind, amount_minor: i64, active: bool) -> Approval {
    let notices = notices(&s.t.config);
    let new = NewApproval {
        kind,
        till: s.till,
        customer: s.customer,
        amount_minor,
        period: (kind == ApprovalKind::Allowance).then_some(Period::Month),
        description: "Articles".into(),
        expires_at_ms: mkoba::domain::now_ms() + 600_000,
    };
    s.t.ledger
        .write(move |conn| {
            let till = mkoba::ledger::account::find_by_id(conn, new.till)?.expect("till");
            let customer = mkoba::ledger::account::find_by_id(conn, new.customer)?.expect("customer");
            let a = integrator::ask(conn, &notices, integrator::Ask { till: &till, customer: &customer }, &new, 0, 0)?;
            if active {
                assert!(integrator::activate(conn, &a, mkoba::domain::now_ms())?);
            }
            Ok(a)
        })
        .await
        .expect("approval")
}

fn charge(key: String, s: &Shop, allowance: &Approval, minor: i64) -> TransferRequest {
    let amount = Money::from_minor(minor).expect("amount");
    let mut req = TransferRequest::new(key, TransferKind::Charge, s.customer, s.till, amount);
    req.guard = Some(Guard::Allowance { approval_id: allowance.id });
    req
}

/// Submits every request at once, half through each writer.
async fn race(writers: [Ledger; 2], reqs: Vec<TransferRequest>) -> Vec<Result<mkoba::ledger::Receipt, LedgerError>> {
    let tasks: Vec<_> = reqs
        .into_iter()
        .enumerate()
        .map(|(i, req)| {
            let ledger = writers[i % 2].clone();
            tokio::spawn(async move { ledger.submit(req).await })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.expect("join"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_charges_racing_one_allowance_stop_at_its_limit() {
    for db in TestDb::all() {
        let backend = db.backend;
        let s = shop(db, 10_000).await;
        // Room for exactly ten charges of KES 1.
        let allowance = approval(&s, ApprovalKind::Allowance, 1_000, true).await;
        let reqs = (0..64).map(|i| charge(format!("charge-{i}"), &s, &allowance, 100)).collect();
        let results = race([s.t.ledger.clone(), s.t.second_writer()], reqs).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 10, "[{backend}] ten charges fit");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(r, LedgerError::AllowanceExhausted { remaining_minor: 0 }),
                "[{backend}] refused for the limit: {r:?}"
            );
        }
        let mut remaining: Vec<i64> =
            results.iter().filter_map(|r| r.as_ref().ok()).filter_map(|r| r.allowance_remaining_minor).collect();
        remaining.sort_unstable();
        assert_eq!(remaining, (0..10).map(|i| i * 100).collect::<Vec<_>>(), "[{backend}] each saw the one before");
        s.t.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refunds_racing_never_return_more_than_was_paid() {
    for db in TestDb::all() {
        let backend = db.backend;
        let s = shop(db, 10_000).await;
        let paid = s.t.transfer(TransferKind::MerchantPayment, s.customer, s.till, kes(10)).await.expect("payment");
        let reqs = (0..32)
            .map(|i| {
                let mut req =
                    TransferRequest::new(format!("refund-{i}"), TransferKind::Refund, s.till, s.customer, kes(3));
                req.guard = Some(Guard::Refund { original: paid.transfer_id });
                req
            })
            .collect();
        let results = race([s.t.ledger.clone(), s.t.second_writer()], reqs).await;
        let refunded: i64 = results.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.amount_minor).sum();
        assert_eq!(refunded, 900, "[{backend}] three refunds of KES 3 fit in KES 10");
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(matches!(e, LedgerError::RefundExceedsPaid { remaining_minor: 100 }), "[{backend}] {e:?}");
        }
        s.t.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_request_is_paid_once_and_only_by_its_payer() {
    for db in TestDb::all() {
        let backend = db.backend;
        let s = shop(db, 10_000).await;
        let request = approval(&s, ApprovalKind::Payment, 250, false).await;
        // The same approval under different keys (as if from two channels).
        let reqs = (0..16)
            .map(|i| {
                let mut req = integrator::payment_of(&request).expect("payment");
                req.idempotency_key = format!("approve-{i}");
                req
            })
            .collect();
        let results = race([s.t.ledger.clone(), s.t.second_writer()], reqs).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "[{backend}] paid once");
        assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| e.code() == "already_approved"));
        // A charge cannot spend a payment request as if it were an allowance.
        let wrong = charge("wrong".into(), &s, &request, 100);
        assert_eq!(s.t.ledger.submit(wrong).await.err().map(|e| e.code()), Some("not_found"));
        s.t.assert_verified().await;
    }
}

#[tokio::test]
async fn charges_on_a_pending_or_revoked_allowance_move_nothing() {
    for db in TestDb::all() {
        let s = shop(db, 1_000).await;
        let allowance = approval(&s, ApprovalKind::Allowance, 1_000, false).await;
        let pending = s.t.ledger.submit(charge("c1".into(), &s, &allowance, 100)).await;
        assert_eq!(pending.err().map(|e| e.code()), Some("not_approved"));
        let a = allowance.clone();
        s.t.ledger
            .write(move |conn| {
                integrator::activate(conn, &a, mkoba::domain::now_ms())?;
                let active = integrator::approvals::find_by_id(conn, a.id)?.expect("allowance");
                assert!(integrator::revoke(conn, &active, mkoba::domain::now_ms())?);
                Ok(())
            })
            .await
            .expect("revoke");
        let revoked = s.t.ledger.submit(charge("c2".into(), &s, &allowance, 100)).await;
        assert_eq!(revoked.err().map(|e| e.code()), Some("allowance_revoked"));
        assert_eq!(s.t.balance(s.till).await, 0);
        s.t.assert_verified().await;
    }
}

#[tokio::test]
async fn verify_catches_an_over_refund_written_around_the_engine() {
    let s = shop(TestDb::sqlite(), 1_000).await;
    let paid = s.t.transfer(TransferKind::MerchantPayment, s.customer, s.till, kes(1)).await.expect("payment");
    let mut req = TransferRequest::new("r1".into(), TransferKind::Refund, s.till, s.customer, kes(1));
    req.guard = Some(Guard::Refund { original: paid.transfer_id });
    let refund = s.t.ledger.submit(req).await.expect("refund");
    s.t.assert_verified().await;
    // A second refund row of the whole amount, as a buggy path would write it.
    let sql = format!(
        "INSERT INTO transfers (reference, idempotency_key, fingerprint, kind, debit_account_id, credit_account_id, \
         amount_minor, created_at_ms, refunds_transfer_id) VALUES ('ZZZZZZZZZ1', 'bypass', 'f', 'refund', {}, {}, 100, 0, {});",
        s.till.0, s.customer.0, paid.transfer_id
    );
    s.t.ledger.write(move |conn| conn.batch_execute(&sql).map_err(Into::into)).await.expect("bypass");
    let report = s.t.ledger.verify().await.expect("verify");
    assert!(
        report.problems.iter().any(|p| p.contains(&paid.reference) && p.contains("refunded 200")),
        "{:?} (refund {})",
        report.problems,
        refund.reference
    );
}

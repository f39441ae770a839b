use super::audit::{receipts_due, PartyRecord};
use super::caller::{find_reference, Ack};
use super::plan::kill_schedule;
use super::plan::CHARGE_MINOR;
use super::*;
use crate::aggregator::Message;
use std::time::Duration;

fn world() -> World {
    World {
        customers: (0..10).map(|i| format!("25471{i:07}")).collect(),
        agents: vec!["254780000000".into()],
        tills: vec!["55100".into()],
        pin: "1357".into(),
        country_code: "254".into(),
        allowances: vec![AllowanceRef {
            id: "al_1".into(),
            customer: "254710000004".into(),
            till: "55100".into(),
            limit_minor: 300,
        }],
    }
}

fn actions(seed: u64, caller: usize, n: usize) -> Vec<Action> {
    let shares = Shares { retry: 0.2, abandon: 0.2, wrong_pin: 0.2, end_event: 0.2 };
    let mut plan = Plan::new(seed, caller, 3, &world(), &Weights::default(), shares, (20, 200));
    (0..n).map(|_| plan.next_action()).collect()
}

#[test]
fn the_same_seed_sends_the_same_requests() {
    for caller in 0..3 {
        assert_eq!(actions(42, caller, 300), actions(42, caller, 300));
    }
    assert_ne!(actions(42, 0, 50), actions(43, 0, 50), "another seed, other requests");
    assert_ne!(actions(42, 0, 50), actions(42, 1, 50), "each caller its own stream");
    let d = Duration::from_secs(10);
    assert_eq!(kill_schedule(7, 3, 3, d), kill_schedule(7, 3, 3, d));
    assert_ne!(kill_schedule(7, 3, 3, d), kill_schedule(8, 3, 3, d));
}

#[test]
fn plans_stay_in_their_lane() {
    let all = actions(9, 1, 2000);
    // Caller 1 of 3 owns customers 1, 4 and 7 (and the numbers it registers).
    let owned = ["254710000001", "254710000004", "254710000007"];
    for a in &all {
        match a.kind {
            Kind::Register => assert!(a.phone.starts_with("25479001"), "{}", a.phone),
            _ => assert!(owned.contains(&a.phone.as_str()), "{}", a.phone),
        }
        if let Some(k) = a.abandon_after {
            assert!(k >= 1 && k < a.steps.len());
        }
    }
    // Never two wrong PINs in a row for one phone (three would lock it).
    let mut last_wrong = std::collections::HashSet::new();
    for a in all.iter().filter(|a| a.kind != Kind::Register) {
        assert!(!(a.wrong_pin && last_wrong.contains(&a.phone)), "two wrong PINs in a row for {}", a.phone);
        if a.wrong_pin {
            last_wrong.insert(a.phone.clone());
        } else {
            last_wrong.remove(&a.phone);
        }
    }
    let kinds: std::collections::HashSet<Kind> = all.iter().map(|a| a.kind).collect();
    assert_eq!(kinds.len(), 11, "every kind shows up: {kinds:?}");
    // Charges go under the allowance of the one customer of caller 1 who has one.
    for a in all.iter().filter(|a| a.kind == Kind::Charge) {
        let ask = a.charge.as_ref().expect("a charge says what it asks");
        assert_eq!((a.phone.as_str(), ask.allowance_id.as_str(), ask.till.as_str()), ("254710000004", "al_1", "55100"));
        assert!((CHARGE_MINOR.0..=CHARGE_MINOR.1).contains(&ask.amount_minor));
        assert!(!a.wrong_pin && !a.end_event && a.abandon_after.is_none());
    }
    let keys: std::collections::HashSet<&str> =
        all.iter().filter(|a| a.kind == Kind::Charge).map(|a| a.id.as_str()).collect();
    assert_eq!(keys.len(), all.iter().filter(|a| a.kind == Kind::Charge).count(), "one key per charge");
    // A caller whose customers have no allowance never charges.
    let mut plan = Plan::new(9, 0, 3, &world(), &Weights::default(), Shares::default(), (20, 200));
    assert!((0..500).all(|_| plan.next_action().kind != Kind::Charge));
    let send = all.iter().find(|a| a.kind == Kind::Send && !a.wrong_pin).expect("a send");
    assert_eq!(send.steps[0], "");
    assert!(send.steps[4].starts_with("1*07") && send.steps[4].ends_with("*1357"), "{:?}", send.steps);
}

#[test]
fn mix_weights_parse() {
    let w = Weights::parse("send=3, sms=1").expect("valid");
    assert_eq!(w.0.len(), 5);
    let w = Weights::parse("charge=2,pay=1").expect("valid");
    assert_eq!(w.0, vec![(Kind::Charge, 2), (Kind::Pay, 1)]);
    assert!(Weights::default().0.contains(&(Kind::Charge, 2)), "the default crowd charges");
    assert!(Weights::parse("send=0").is_err());
    assert!(Weights::parse("fly=1").is_err());
    assert!(Weights::parse("send").is_err());
}

fn party(kind: &str, phone: Option<&str>) -> PartyRecord {
    PartyRecord { kind: kind.into(), msisdn: phone.map(Into::into), till: None, notify_to: phone.map(Into::into) }
}

fn transfer(id: i64, reference: &str, key: &str) -> TransferRecord {
    TransferRecord {
        id,
        reference: reference.into(),
        kind: "p2p".into(),
        amount_minor: 5_000,
        idempotency_key: key.into(),
        created_at_ms: 1_700_000_000_000,
        from: party("customer", Some("254710000001")),
        to: party("customer", Some("254710000002")),
    }
}

fn sms(to: &str, text: &str) -> Message {
    Message {
        id: format!("ATXid_{to}{text}"),
        to: to.into(),
        from: "MKOBA".into(),
        message: text.into(),
        link_id: None,
        received_at_ms: 0,
        delivered: true,
    }
}

fn consistent() -> AuditInput {
    let ack = Ack { reference: "QK7H2M9XTA".into(), phone: "254710000001".into(), kind: Kind::Send };
    AuditInput {
        acks: vec![ack],
        transfers: vec![transfer(1, "QK7H2M9XTA", "ussd:africastalking:s1")],
        messages: vec![
            sms("254710000001", "QK7H2M9XTA Confirmed. You sent KES 50.00"),
            sms("254710000002", "QK7H2M9XTA Confirmed. You received KES 50.00"),
        ],
        retry_mismatches: 0,
        ledger_verify: Ok(()),
        digest_below_minor: 1_000,
        kills_unix_ms: Vec::new(),
        ..AuditInput::default()
    }
}

#[test]
fn a_consistent_run_passes_the_audit() {
    let a = audit(&consistent());
    assert!(a.ok, "{a:?}");
    assert_eq!((a.transfers, a.acknowledged, a.receipts_expected, a.receipts_found), (1, 1, 2, 2));
}

#[test]
fn a_broken_run_fails_the_audit() {
    // A reference a caller was shown that does not exist.
    let mut input = consistent();
    input.acks.push(Ack { reference: "ZZZZZZZZZ9".into(), phone: "254710000001".into(), kind: Kind::Send });
    let a = audit(&input);
    assert!(!a.ok);
    assert_eq!(a.acked_missing, vec!["ZZZZZZZZZ9"]);

    // A receipt sent twice, and one never sent.
    let mut input = consistent();
    input.messages.push(input.messages[0].clone());
    input.messages.remove(1);
    let a = audit(&input);
    assert!(!a.ok);
    assert_eq!(a.receipts_duplicated.len(), 1);
    assert_eq!(a.receipts_missing.len(), 1);

    // A second copy of a receipt sent just before a kill is at-least-once,
    // listed apart; the same copies without a kill between them fail.
    let mut input = consistent();
    let mut again = input.messages[0].clone();
    (input.messages[0].received_at_ms, again.received_at_ms) = (10_000, 14_000);
    input.messages.push(again);
    input.kills_unix_ms = vec![10_200];
    let a = audit(&input);
    assert!(a.ok && a.resent_after_kill.len() == 1, "{a:?}");
    input.kills_unix_ms = vec![12_000];
    assert!(!audit(&input).ok, "the first copy went long before the kill");
    input.kills_unix_ms.clear();
    assert_eq!(audit(&input).receipts_duplicated.len(), 1);

    // A transfer nobody was told of.
    let mut input = consistent();
    input.transfers.push(transfer(2, "SILENT0001", "ussd:africastalking:s2"));
    let a = audit(&input);
    assert_eq!(a.silent, vec!["SILENT0001"]);
    assert!(!a.ok);

    // An SMS answered twice, a repeated hop answered differently, a ledger that does not verify.
    let mut input = consistent();
    let mut reply = sms("254710000001", "Your balance is KES 1.00");
    reply.link_id = Some("ATXid_1".into());
    input.messages.extend([reply.clone(), reply]);
    assert_eq!(audit(&input).sms_replies_duplicated, vec!["ATXid_1 ×2"]);
    let mut input = consistent();
    input.retry_mismatches = 1;
    assert!(!audit(&input).ok);
    let mut input = consistent();
    input.ledger_verify = Err("sum of balances is 5".into());
    assert!(!audit(&input).ok);
}

#[test]
fn receipts_follow_mkobas_rules() {
    let mut t = transfer(1, "QK7H2M9XTA", "ussd:africastalking:s1");
    assert_eq!(receipts_due(&t, 1_000).len(), 2);
    t.amount_minor = 1_000; // a USSD micro payment: the payer's receipt waits for the digest
    assert_eq!(receipts_due(&t, 1_000), vec!["254710000002"]);
    t.idempotency_key = "sms:africastalking:x".into();
    assert_eq!(receipts_due(&t, 1_000).len(), 2);
    t.kind = "float_issue".into();
    t.from = party("system", None);
    assert_eq!(receipts_due(&t, 1_000), vec!["254710000002"]);
    assert_eq!(
        find_reference("END Sent KES 50.00 to Mteja B. Ref QK7H2M9XTA. Fee KES 0.00").as_deref(),
        Some("QK7H2M9XTA")
    );
    assert_eq!(find_reference("END Wrong PIN. 2 attempt(s) left."), None);
}

/// A charge of `amount_minor` under `al_1` (customer 1 to till 55100)
/// with key `key`, stored (when `reference` is some) at `at_ms`.
fn charge(key: &str, reference: &str, amount_minor: i64, at_ms: i64) -> (ChargeRecord, TransferRecord) {
    let record = ChargeRecord {
        key: key.into(),
        allowance_id: "al_1".into(),
        customer: "254710000001".into(),
        till: "55100".into(),
        amount_minor,
        outcome: ChargeOutcome::Acked { reference: reference.into() },
    };
    let mut t = transfer(0, reference, &format!("api:7:{key}"));
    t.kind = "charge".into();
    t.amount_minor = amount_minor;
    t.created_at_ms = at_ms;
    t.to = PartyRecord {
        kind: "merchant".into(),
        msisdn: None,
        till: Some("55100".into()),
        notify_to: Some("254770000000".into()),
    };
    (record, t)
}

/// [`consistent`] plus three acknowledged charges (120 of a 300 limit) and
/// one refused, each charge with its till's receipt.
fn with_charges() -> AuditInput {
    let mut input = consistent();
    input.allowances = vec![AllowanceRef {
        id: "al_1".into(),
        customer: "254710000001".into(),
        till: "55100".into(),
        limit_minor: 300,
    }];
    let at = 1_700_000_000_000;
    for (i, (key, reference, amount)) in
        [("k1", "CHG0000001", 50), ("k2", "CHG0000002", 40), ("k3", "CHG0000003", 30)].into_iter().enumerate()
    {
        let (record, mut t) = charge(key, reference, amount, at + i64::try_from(i).unwrap_or(0));
        t.id = 10 + i64::try_from(i).unwrap_or(0);
        input.messages.push(sms("254770000000", &format!("{reference} Confirmed. You received KES 0.50")));
        input.charges.push(record);
        input.transfers.push(t);
    }
    input.charges.push(ChargeRecord {
        outcome: ChargeOutcome::Refused { code: "allowance_exhausted".into() },
        ..charge("k4", "-", 49, at).0
    });
    input
}

#[test]
fn charges_pass_the_audit_when_consistent() {
    let a = audit(&with_charges());
    assert!(a.ok, "{a:?}");
    assert_eq!((a.charges_acknowledged, a.charges_checked, a.charges_refused, a.allowances_checked), (3, 3, 1, 1));
    // The payer of a charge gets no receipt of it; the till does.
    assert_eq!((a.receipts_expected, a.receipts_found), (5, 5));
}

#[test]
fn an_acknowledged_charge_missing_from_the_ledger_fails_the_audit() {
    let mut input = with_charges();
    input.transfers.retain(|t| t.reference != "CHG0000002");
    input.messages.retain(|m| !m.message.starts_with("CHG0000002"));
    let a = audit(&input);
    assert!(!a.ok, "{a:?}");
    assert_eq!(a.charges_missing, vec!["CHG0000002"]);
    assert_eq!(a.charges_checked, 2);
}

#[test]
fn acknowledged_charges_above_the_allowance_limit_fail_the_audit() {
    let mut input = with_charges();
    input.allowances[0].limit_minor = 100; // 120 acknowledged (and stored) in one day
    let a = audit(&input);
    assert!(!a.ok, "{a:?}");
    assert_eq!(a.allowances_overdrawn.len(), 2, "{:?}", a.allowances_overdrawn);
    assert!(a.allowances_overdrawn.iter().any(|f| f.contains("120 acknowledged > 100")));
    assert!(a.allowances_overdrawn.iter().any(|f| f.contains("120 stored > 100")));

    // The same charges spread over two of mkoba's days are within the limit of each.
    let mut input = with_charges();
    input.allowances[0].limit_minor = 100;
    let next_day = input.transfers.last().map(|t| t.created_at_ms + 86_400_000).unwrap_or_default();
    if let Some(t) = input.transfers.last_mut() {
        t.created_at_ms = next_day;
    }
    assert!(audit(&input).ok);
}

#[test]
fn other_charge_breaches_fail_the_audit() {
    // A refused charge that moved money.
    let mut input = with_charges();
    let (_, mut moved) = charge("k4", "CHG0000004", 49, 1_700_000_000_000);
    moved.id = 20;
    input.transfers.push(moved);
    input.messages.push(sms("254770000000", "CHG0000004 Confirmed. You received KES 0.49"));
    let a = audit(&input);
    assert!(!a.ok && a.charges_refused_moved.len() == 1, "{a:?}");

    // One reference given to two keys (the second stored nowhere of its own).
    let mut input = with_charges();
    input.charges.push(charge("k5", "CHG0000001", 50, 0).0);
    let a = audit(&input);
    assert!(!a.ok, "{a:?}");
    assert_eq!(a.charges_shared_reference, vec!["CHG0000001 ← 2 keys"]);

    // Acknowledged as a charge, stored as another kind or amount.
    let mut input = with_charges();
    input.transfers[1].kind = "merchant_payment".into();
    input.transfers[2].amount_minor = 41;
    let a = audit(&input);
    assert!(!a.ok);
    assert_eq!(a.charges_mismatched.len(), 2, "{:?}", a.charges_mismatched);

    // A charge in the ledger nobody asked for.
    let mut input = with_charges();
    let (_, mut stray) = charge("k9", "CHG0000009", 5, 1_700_000_000_000);
    stray.id = 30;
    input.transfers.push(stray);
    input.messages.push(sms("254770000000", "CHG0000009 Confirmed. You received KES 0.05"));
    let a = audit(&input);
    assert!(!a.ok);
    assert_eq!(a.charges_unexpected, vec!["CHG0000009 (api:7:k9)"]);

    // A retried charge answered with another reference.
    let mut input = with_charges();
    input.retry_mismatches = 1;
    assert!(!audit(&input).ok);
}

#[test]
fn a_charge_tells_only_its_till() {
    let (_, t) = charge("k1", "CHG0000001", 50, 0);
    assert_eq!(receipts_due(&t, 1_000), vec!["254770000000"], "no receipt for the payer: the digest tells them");
}

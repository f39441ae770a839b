use super::audit::{receipts_due, PartyRecord};
use super::caller::{find_reference, Ack};
use super::plan::kill_schedule;
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
    assert_eq!(kinds.len(), 10, "every kind shows up: {kinds:?}");
    let send = all.iter().find(|a| a.kind == Kind::Send && !a.wrong_pin).expect("a send");
    assert_eq!(send.steps[0], "");
    assert!(send.steps[4].starts_with("1*07") && send.steps[4].ends_with("*1357"), "{:?}", send.steps);
}

#[test]
fn mix_weights_parse() {
    let w = Weights::parse("send=3, sms=1").expect("valid");
    assert_eq!(w.0.len(), 5);
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

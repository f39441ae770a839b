//! The customer's side of payment requests and allowances (SPEC §9) over
//! the real webhooks: USSD menu 5 and My account → 5, SMS APPROVE/KUBALI,
//! DECLINE/KATAA and STOP/SITISHA. Requests are made as the integrator API
//! makes them (`integrator::ask`, which tells the customer by SMS).

use crate::helpers::{notices, random_suffix, spawn_app, TestApp, TestDb, World};
use crate::sms::{text_to, with_aggregator};
use mkoba::domain::time::Period;
use mkoba::domain::{now_ms, Money};
use mkoba::integrator::{self, Approval, ApprovalKind, ApprovalStatus, Ask, NewApproval};
use mkoba::ledger::{account, TransferKind};
use mkoba::ussd::render::fits;
use std::time::Duration;

const AMINA: &str = "254712000001";
const TEN_MINUTES_MS: i64 = 600_000;

/// A request of Mama Mboga's (till 55123) to Amina, as the API makes it.
async fn ask(app: &TestApp, w: &World, amount_minor: i64, period: Option<Period>, ttl_ms: i64) -> Approval {
    let kind = if period.is_some() { ApprovalKind::Allowance } else { ApprovalKind::Payment };
    let description = match period {
        Some(_) => "Gazeti Daily: the morning paper on your phone".to_string(),
        None => format!("Order {} of sukuma wiki, tomatoes and onions", &random_suffix()[..6]),
    };
    ask_with(
        app,
        w,
        NewApproval {
            kind,
            till: w.shop,
            customer: w.amina,
            amount_minor,
            period,
            description,
            expires_at_ms: now_ms() + ttl_ms,
        },
    )
    .await
}

async fn ask_with(app: &TestApp, w: &World, new: NewApproval) -> Approval {
    let notices = notices(&app.t.config);
    let amount = Money::from_minor(new.amount_minor).expect("amount");
    let fee = app.t.ledger.quote(TransferKind::MerchantPayment, amount).expect("quote").fee.minor();
    let (shop, amina) = (w.shop, w.amina);
    app.t
        .ledger
        .write(move |conn| {
            let till = account::find_by_id(conn, shop)?.expect("shop");
            let customer = account::find_by_id(conn, amina)?.expect("amina");
            integrator::ask(conn, &notices, Ask { till: &till, customer: &customer }, &new, fee, now_ms())
        })
        .await
        .expect("ask")
}

/// The code in the newest request SMS to Amina, checked against the
/// contract: 4 to 6 uppercase letters and digits, at least one letter.
async fn code_from_sms(app: &TestApp) -> String {
    let messages = app.t.outbox_naming("APPROVE ").await;
    let sms = messages.last().expect("a request SMS");
    assert_eq!(sms.recipient, AMINA);
    code_in(&sms.body)
}

fn code_in(body: &str) -> String {
    let code = body.split("APPROVE ").nth(1).and_then(|r| r.split_whitespace().next()).expect("a code").to_string();
    let shape = (4..=6).contains(&code.len())
        && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && code.chars().any(|c| c.is_ascii_uppercase());
    assert!(shape, "code {code:?} in {body:?}");
    code
}

async fn approval(app: &TestApp, id: i64) -> Approval {
    app.t.ledger.read(move |c| integrator::approvals::find_by_id(c, id)).await.expect("read").expect("approval")
}

/// The hops of one session, from its first: every screen.
async fn hops(app: &TestApp, session: &str, inputs: &[&str]) -> Vec<String> {
    let mut screens = vec![app.hop(session, AMINA, "").await.1];
    for i in 0..inputs.len() {
        screens.push(app.hop(session, AMINA, &inputs[..=i].join("*")).await.1);
    }
    screens
}

fn assert_all_fit(b: &str, screens: &[String]) {
    for s in screens {
        assert!(fits(s), "[{b}] screen over budget ({} chars): {s:?}", s.chars().count());
    }
}

fn reference_in(screen: &str) -> String {
    screen.split("Ref ").nth(1).and_then(|r| r.get(..10)).expect("a reference").to_string()
}

#[tokio::test]
async fn ussd_approves_a_payment_request_once() {
    for db in TestDb::all() {
        let app = spawn_app(db).await;
        let w = app.t.world(1_000).await;
        let b = app.backend();
        // The longest description there is: the screen shortens it.
        let long = format!("Weekly box: {}", "sukuma wiki, tomatoes, onions, ".repeat(5));
        let description = long.chars().take(integrator::DESCRIPTION_MAX_CHARS).collect::<String>();
        let new = NewApproval {
            kind: ApprovalKind::Payment,
            till: w.shop,
            customer: w.amina,
            amount_minor: 25_000,
            period: None,
            description,
            expires_at_ms: now_ms() + TEN_MINUTES_MS,
        };
        let request = ask_with(&app, &w, new).await;
        assert_eq!(code_from_sms(&app).await, request.code, "[{b}]");
        let session = format!("ATUid_{}", random_suffix());
        let screens = hops(&app, &session, &["5", "1", "1", "1357"]).await;
        assert_all_fit(b, &screens);
        assert!(screens[0].contains("5. Approvals"), "[{b}] {}", screens[0]);
        assert!(screens[1].starts_with("CON Approvals\n1. Mama Mboga KES 250.00"), "[{b}] {}", screens[1]);
        let detail = &screens[2];
        for part in ["Mama Mboga", "KES 250.00", "Weekly box: sukuma wiki", "...", "Fee KES 1.00", "1. Approve"] {
            assert!(detail.contains(part), "[{b}] detail lacks {part}: {detail}");
        }
        assert!(screens[3].contains("PIN"), "[{b}] {}", screens[3]);
        let done = &screens[4];
        assert!(done.starts_with("END Paid KES 250.00 to Mama Mboga. Ref "), "[{b}] {done}");
        let reference = reference_in(done);
        // The aggregator repeats the hop: the same answer, nothing paid again.
        assert_eq!(&app.hop(&session, AMINA, "5*1*1*1357").await.1, done, "[{b}]");
        assert_eq!(app.t.balance(w.amina).await, 100_000 - 25_000 - 100, "[{b}] paid once, with its fee");
        assert_eq!(app.t.balance(w.shop).await, 25_000, "[{b}]");
        let paid = approval(&app, request.id).await;
        assert_eq!(paid.status, ApprovalStatus::Approved, "[{b}]");
        let transfer =
            app.t.ledger.read(move |c| mkoba::ledger::transfer::find_by_id(c, paid.transfer_id.unwrap_or(0)));
        assert_eq!(transfer.await.expect("read").map(|t| t.reference), Some(reference), "[{b}]");
        // Decided: no longer listed.
        let none = app.last(AMINA, &["5"]).await;
        assert!(none.starts_with("END You have no payment requests"), "[{b}] {none}");
        app.t.assert_verified().await;
    }
}

#[tokio::test]
async fn ussd_declines_a_request_and_lists_newest_first() {
    for db in TestDb::all() {
        let app = spawn_app(db).await;
        let w = app.t.world(1_000).await;
        let b = app.backend();
        let older = ask(&app, &w, 5_000, None, TEN_MINUTES_MS).await;
        let newer = ask(&app, &w, 7_000, None, TEN_MINUTES_MS).await;
        let list = app.last(AMINA, &["5"]).await;
        assert!(list.contains("1. Mama Mboga KES 70.00\n2. Mama Mboga KES 50.00"), "[{b}] newest first: {list}");
        // Back from a request to the list, then decline the older one.
        let screens = app.dial(AMINA, &["5", "1", "0", "2", "2"]).await;
        assert_all_fit(b, &screens);
        assert!(screens[3].starts_with("CON Approvals"), "[{b}] 0 goes back: {}", screens[3]);
        assert!(screens[5].starts_with("END You declined the request from Mama Mboga"), "[{b}] {}", screens[5]);
        assert_eq!(approval(&app, older.id).await.status, ApprovalStatus::Declined, "[{b}]");
        assert_eq!(approval(&app, newer.id).await.status, ApprovalStatus::Pending, "[{b}]");
        assert_eq!(app.t.balance(w.amina).await, 100_000, "[{b}] nothing moved");
        let list = app.last(AMINA, &["5"]).await;
        assert!(list.contains("1. Mama Mboga KES 70.00\n0. Back"), "[{b}] {list}");
        app.t.assert_verified().await;
    }
}

#[tokio::test]
async fn a_long_list_is_paged() {
    for db in TestDb::all() {
        let app = spawn_app(db).await;
        let w = app.t.world(1_000).await;
        let b = app.backend();
        for major in 1..=9 {
            ask(&app, &w, major * 100, None, TEN_MINUTES_MS).await;
        }
        let screens = app.dial(AMINA, &["5", "98", "9"]).await;
        assert_all_fit(b, &screens);
        assert!(screens[1].starts_with("CON Approvals\n1. Mama Mboga KES 9.00"), "[{b}] {}", screens[1]);
        assert!(screens[1].ends_with("98. More"), "[{b}] {}", screens[1]);
        assert!(screens[2].contains("9. Mama Mboga KES 1.00\n0. Back"), "[{b}] {}", screens[2]);
        assert!(screens[3].starts_with("CON Mama Mboga asks you to pay KES 1.00"), "[{b}] {}", screens[3]);
        let home = app.last(AMINA, &["5", "98", "00"]).await;
        assert!(home.contains("5. Approvals"), "[{b}] 00 goes home: {home}");
    }
}

#[tokio::test]
async fn ussd_approves_an_allowance_then_revokes_it_from_my_account() {
    for db in TestDb::all() {
        let app = spawn_app(db).await;
        let w = app.t.world(1_000).await;
        let b = app.backend();
        let allowance = ask(&app, &w, 10_000, Some(Period::Week), TEN_MINUTES_MS).await;
        code_from_sms(&app).await;
        let screens = app.dial(AMINA, &["5", "1", "1", "1357"]).await;
        assert_all_fit(b, &screens);
        assert!(screens[1].contains("Mama Mboga up to KES 100.00 a week"), "[{b}] {}", screens[1]);
        for part in ["up to KES 100.00 a week", "Gazeti Daily", "Fee up to KES 0.00", "2. Decline"] {
            assert!(screens[2].contains(part), "[{b}] detail lacks {part}: {}", screens[2]);
        }
        assert!(screens[4].starts_with("END Allowance active: Mama Mboga"), "[{b}] {}", screens[4]);
        assert_eq!(approval(&app, allowance.id).await.status, ApprovalStatus::Active, "[{b}]");
        assert_eq!(app.t.balance(w.amina).await, 100_000, "[{b}] approving moves nothing");

        let screens = app.dial(AMINA, &["4", "5", "1", "1"]).await;
        assert_all_fit(b, &screens);
        assert!(screens[1].contains("5. Allowances"), "[{b}] {}", screens[1]);
        assert!(screens[2].contains("1. Mama Mboga KES 100.00 a week, KES 100.00 left"), "[{b}] {}", screens[2]);
        assert!(screens[3].contains("till 55123") && screens[3].contains("1. Revoke"), "[{b}] {}", screens[3]);
        assert!(screens[4].starts_with("END Allowance revoked: Mama Mboga"), "[{b}] {}", screens[4]);
        assert_eq!(approval(&app, allowance.id).await.status, ApprovalStatus::Revoked, "[{b}]");
        let none = app.last(AMINA, &["4", "5"]).await;
        assert_eq!(none, "END You have no active allowances.", "[{b}]");
        // In Kiswahili too.
        app.last(AMINA, &["4", "4", "2"]).await;
        let home = app.last(AMINA, &[]).await;
        assert!(home.contains("5. Idhini"), "[{b}] {home}");
        app.t.assert_verified().await;
    }
}

#[tokio::test]
async fn an_expired_request_cannot_be_approved() {
    for db in TestDb::all() {
        let app = spawn_app(db).await;
        let w = app.t.world(1_000).await;
        let b = app.backend();
        let request = ask(&app, &w, 5_000, None, 1_500).await;
        let session = format!("ATUid_{}", random_suffix());
        let screens = hops(&app, &session, &["5", "1", "1"]).await;
        assert!(screens[3].contains("PIN"), "[{b}] {}", screens[3]);
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        let end = app.hop(&session, AMINA, "5*1*1*1357").await.1;
        assert_eq!(end, "END This request has expired. Nothing was paid.", "[{b}]");
        assert_eq!(app.t.balance(w.amina).await, 100_000, "[{b}] nothing moved");
        assert_eq!(approval(&app, request.id).await.status_at(now_ms()), ApprovalStatus::Expired, "[{b}]");
        let none = app.last(AMINA, &["5"]).await;
        assert!(none.starts_with("END You have no payment requests"), "[{b}] expired ones are not listed: {none}");
        app.t.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_approve_decline_and_stop() {
    for db in TestDb::all() {
        let (app, sim) = with_aggregator(db, true).await;
        let w = app.t.world(1_000).await;
        let b = app.backend();
        let id = || format!("ATXid_{}", random_suffix());
        let pay = ask(&app, &w, 5_000, None, TEN_MINUTES_MS).await;
        let code = code_in(&text_to(&sim, AMINA, "asks you to pay KES 50.00").await);
        assert_eq!(code, pay.code, "[{b}]");

        app.sms(&id(), AMINA, &format!("APPROVE {code} 9999")).await;
        text_to(&sim, AMINA, "Wrong PIN. 2 attempt(s) left").await;
        assert_eq!(app.t.find(AMINA).await.expect("amina").pin_failures, 1, "[{b}] the attempt counts");
        assert_eq!(approval(&app, pay.id).await.status, ApprovalStatus::Pending, "[{b}]");
        assert_eq!(app.t.balance(w.amina).await, 100_000, "[{b}] nothing moved");

        // The same SMS id twice is handled once.
        let once = id();
        for _ in 0..2 {
            assert_eq!(app.sms(&once, AMINA, &format!("kubali {} 1357", code.to_lowercase())).await, 200);
        }
        let receipt = text_to(&sim, AMINA, "You paid KES 50.00 to Mama Mboga").await;
        assert_eq!(approval(&app, pay.id).await.status, ApprovalStatus::Approved, "[{b}]");
        assert_eq!(app.t.balance(w.amina).await, 95_000, "[{b}]");
        app.sms(&id(), AMINA, &format!("APPROVE {code} 1357")).await;
        text_to(&sim, AMINA, "already approved").await;
        assert_eq!(app.t.balance(w.amina).await, 95_000, "[{b}] paid once");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let receipts = sim.inbox(AMINA).iter().filter(|m| m.message.contains("You paid KES 50.00")).count();
        assert_eq!(receipts, 1, "[{b}] {receipt}");

        let declined = ask(&app, &w, 6_000, None, TEN_MINUTES_MS).await;
        app.sms(&id(), AMINA, &format!("DECLINE {}", declined.code)).await;
        text_to(&sim, AMINA, "You declined the request from Mama Mboga").await;
        assert_eq!(approval(&app, declined.id).await.status, ApprovalStatus::Declined, "[{b}]");
        app.sms(&id(), AMINA, "APPROVE ZZ99 1357").await;
        text_to(&sim, AMINA, "No request with that code").await;

        let active = ask(&app, &w, 10_000, Some(Period::Month), TEN_MINUTES_MS).await;
        let pending = ask(&app, &w, 2_000, Some(Period::Day), TEN_MINUTES_MS).await;
        app.sms(&id(), AMINA, &format!("APPROVE {} 1357", active.code)).await;
        text_to(&sim, AMINA, "Allowance active: Mama Mboga may charge you up to KES 100.00 a month").await;
        app.sms(&id(), AMINA, "STOP 55123").await;
        text_to(&sim, AMINA, "Stopped 2 allowance(s)").await;
        assert_eq!(approval(&app, active.id).await.status, ApprovalStatus::Revoked, "[{b}]");
        assert_eq!(approval(&app, pending.id).await.status, ApprovalStatus::Declined, "[{b}]");
        app.sms(&id(), AMINA, "sitisha 55123").await;
        text_to(&sim, AMINA, "no allowances for Mama Mboga").await;
        app.sms(&id(), AMINA, "HELP").await;
        text_to(&sim, AMINA, "APPROVE code pin | DECLINE code | STOP till").await;
        let all: Vec<String> = sim.inbox(AMINA).into_iter().map(|m| m.message).collect();
        assert!(all.iter().all(|m| !m.contains("1357") && !m.contains("9999")), "[{b}] {all:?}");
        app.t.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_from_ussd_and_sms_at_once_pays_once() {
    for db in TestDb::all() {
        let (app, sim) = with_aggregator(db, true).await;
        let w = app.t.world(1_000).await;
        let b = app.backend();
        for round in 0..3 {
            let request = ask(&app, &w, 10_000, None, TEN_MINUTES_MS).await;
            let session = format!("ATUid_{}", random_suffix());
            hops(&app, &session, &["5", "1", "1"]).await;
            let (sms_id, sms_text) = (format!("ATXid_{}", random_suffix()), format!("APPROVE {} 1357", request.code));
            let (ussd, _) = tokio::join!(app.hop(&session, AMINA, "5*1*1*1357"), app.sms(&sms_id, AMINA, &sms_text));
            let ussd = ussd.1;
            let ok =
                ussd.starts_with("END Paid KES 100.00") || ussd.starts_with("END This request was already approved");
            assert!(ok, "[{b}] round {round}: {ussd}");
            assert_eq!(approval(&app, request.id).await.status, ApprovalStatus::Approved, "[{b}]");
            // The SMS side answers too: its receipt, or "already approved".
            let paid = 100_000 - (round + 1) * 10_000;
            assert_eq!(app.t.balance(w.amina).await, paid, "[{b}] round {round}: paid exactly once");
            assert_eq!(app.t.balance(w.shop).await, (round + 1) * 10_000, "[{b}] round {round}");
        }
        text_to(&sim, AMINA, "You paid KES 100.00 to Mama Mboga").await;
        app.t.assert_verified().await;
    }
}

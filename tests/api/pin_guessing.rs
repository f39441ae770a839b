//! PIN guessing under concurrency (SPEC §11): many guesses for one account
//! at once, over USSD and SMS, split across two processes on one database.
//! At most `pin.max_attempts` PINs are checked before the lock, a locked
//! account checks nothing and answers a right PIN as it does a wrong one, and
//! one lock sends one notice.

use crate::helpers::{random_suffix, spawn_app_with, TestApp, TestDb, TOKEN};
use futures_util::future::join_all;

const AMINA: &str = "254712000001";
const RIGHT_PIN: &str = "1357";
const GUESSES: usize = 55;
const LOCKED: &str = "Your account is locked after too many wrong PINs.";
const BUSY: &str = "Your PIN is being checked for another request.";

/// Two apps (as two `mkoba serve` processes) on one database, with the usual
/// cast; their SMS senders are off so that replies stay in the outbox.
async fn two_processes(db: TestDb) -> (TestApp, TestApp) {
    let mut config = db.config();
    config.notify.workers = false;
    let first = spawn_app_with(db, config.clone()).await;
    first.t.world(1_000).await;
    let second = spawn_app_with(first.t.db.clone_for_restart(), config).await;
    (first, second)
}

fn wrong_pin(i: usize) -> String {
    format!("{i:04}")
}

fn checks(apps: &[&TestApp]) -> u64 {
    apps.iter().map(|a| a.pins.checks()).sum()
}

async fn lock_notices(app: &TestApp) -> usize {
    app.t.outbox_naming("was locked after").await.iter().filter(|m| m.recipient == AMINA).count()
}

/// Balance checks over USSD, each in a session of its own, all at once,
/// alternating between the two apps. Returns each PIN with its reply.
async fn ussd_burst(apps: [&TestApp; 2], pins: &[String]) -> Vec<(String, String)> {
    join_all(pins.iter().enumerate().map(|(i, pin)| async move {
        let app = apps[i % 2];
        let session = format!("ATUid_{}", random_suffix());
        let (status, body) = app.hop(&session, AMINA, &format!("4*1*{pin}")).await;
        assert_eq!(status, 200, "{body}");
        (pin.clone(), body)
    }))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_ussd_guesses_checks_at_most_max_attempts_and_locks_once() {
    for db in TestDb::all() {
        let (a, b) = two_processes(db).await;
        let be = a.backend();
        let before = checks(&[&a, &b]);

        let guesses: Vec<String> = (0..GUESSES).map(wrong_pin).collect();
        let replies = ussd_burst([&a, &b], &guesses).await;
        let wrong = replies.iter().filter(|(_, r)| r.starts_with("END Wrong PIN")).count();
        let locked = replies.iter().filter(|(_, r)| r.starts_with(&format!("END {LOCKED}"))).count();
        // Guesses that came while the three checks ran are turned away unchecked.
        let busy = replies.iter().filter(|(_, r)| r.starts_with(&format!("END {BUSY}"))).count();
        assert_eq!(wrong + locked + busy, GUESSES, "[{be}] every reply is 'wrong', 'locked' or 'busy': {replies:?}");
        assert!(wrong <= 3, "[{be}] at most 3 wrong-PIN answers, got {wrong}");
        assert_eq!(checks(&[&a, &b]) - before, 3, "[{be}] exactly pin.max_attempts PINs checked");
        assert_eq!(a.t.find(AMINA).await.expect("amina").status.as_str(), "locked", "[{be}]");
        assert_eq!(lock_notices(&a).await, 1, "[{be}] one lock, one notice");

        // Locked: the right PIN is not checked and gets the wrong one's answer.
        let after_lock = checks(&[&a, &b]);
        let right = ussd_burst([&a, &b], &[RIGHT_PIN.to_string(), wrong_pin(99)]).await;
        assert_eq!(right[0].1, right[1].1, "[{be}] right and wrong PIN answered alike when locked");
        assert!(right[0].1.starts_with(&format!("END {LOCKED}")), "[{be}] {:?}", right[0]);
        assert_eq!(checks(&[&a, &b]), after_lock, "[{be}] a locked account checks nothing");
        assert_eq!(lock_notices(&a).await, 1, "[{be}] still one notice");
        a.t.assert_verified().await;
    }
}

/// The probe's reproduction: 55 wrong guesses and the right one, together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_right_pin_inside_a_burst_is_only_checked_within_the_attempts() {
    for db in TestDb::all() {
        let (a, b) = two_processes(db).await;
        let be = a.backend();
        let before = checks(&[&a, &b]);
        let mut guesses: Vec<String> = (0..GUESSES).map(wrong_pin).collect();
        guesses.insert(GUESSES / 2, RIGHT_PIN.to_string());
        let replies = ussd_burst([&a, &b], &guesses).await;
        let right = &replies.iter().find(|(p, _)| p == RIGHT_PIN).expect("right").1;
        let checked = checks(&[&a, &b]) - before;
        if right.starts_with("END Your balance") {
            // Its check was one of the first three; it clears the count, so
            // up to three more may follow it before the lock.
            assert!(checked <= 6, "[{be}] {checked} checks");
        } else {
            let unchecked = right.starts_with(&format!("END {LOCKED}")) || right.starts_with(&format!("END {BUSY}"));
            assert!(unchecked, "[{be}] right PIN got {right:?}");
            assert_eq!(checked, 3, "[{be}] the right PIN was never checked");
            assert_eq!(a.t.find(AMINA).await.expect("amina").status.as_str(), "locked", "[{be}]");
        }
        let balance_replies = replies.iter().filter(|(_, r)| r.starts_with("END Your balance")).count();
        assert!(balance_replies <= 1, "[{be}] only the right PIN can open the account");
        assert!(lock_notices(&a).await <= 1, "[{be}] at most one notice");
    }
}

impl TestApp {
    async fn sms_from(&self, from: &str, text: &str) -> u16 {
        let id = format!("ATXid_{}", random_suffix());
        let form = [
            ("from", format!("+{from}")),
            ("to", "20880".to_string()),
            ("text", text.to_string()),
            ("date", "2026-11-30 12:00:00".to_string()),
            ("id", id),
            ("linkId", String::new()),
            ("networkCode", "63902".to_string()),
        ];
        let url = format!("{}/webhooks/africastalking/sms?token={TOKEN}", self.address);
        self.client.post(url).form(&form).send().await.expect("post").status().as_u16()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_sms_guesses_checks_at_most_max_attempts_and_locks_once() {
    for db in TestDb::all() {
        let (a, b) = two_processes(db).await;
        let be = a.backend();
        let before = checks(&[&a, &b]);
        let statuses = join_all((0..GUESSES).map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            async move { app.sms_from(AMINA, &format!("BAL {}", wrong_pin(i))).await }
        }))
        .await;
        assert!(statuses.iter().all(|&s| s == 200), "[{be}] {statuses:?}");
        assert_eq!(checks(&[&a, &b]) - before, 3, "[{be}] exactly pin.max_attempts PINs checked");
        assert_eq!(a.t.find(AMINA).await.expect("amina").status.as_str(), "locked", "[{be}]");
        assert_eq!(lock_notices(&a).await, 1, "[{be}] one lock, one notice");
        let wrong = a.t.outbox_naming("attempt(s) left").await.len();
        assert!(wrong <= 3, "[{be}] {wrong} wrong-PIN replies");

        // The right PIN by SMS now gets exactly what a wrong one gets.
        let locked_before = a.t.outbox_naming(LOCKED).await.len();
        assert_eq!(a.sms_from(AMINA, &format!("BAL {RIGHT_PIN}")).await, 200);
        assert_eq!(b.sms_from(AMINA, "BAL 0099").await, 200);
        let locked_replies = a.t.outbox_naming(LOCKED).await;
        assert_eq!(locked_replies.len(), locked_before + 2, "[{be}] both answered 'locked'");
        let n = locked_replies.len();
        assert_eq!(locked_replies[n - 1].body, locked_replies[n - 2].body, "[{be}] the same words");
        assert!(a.t.outbox_naming("Your balance is").await.is_empty(), "[{be}] no balance leaked");
    }
}

/// USSD and SMS count against the same attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_over_both_channels_share_the_attempts() {
    for db in TestDb::all() {
        let (a, b) = two_processes(db).await;
        let be = a.backend();
        let before = checks(&[&a, &b]);
        let pins: Vec<String> = (0..20).map(wrong_pin).collect();
        let ussd = ussd_burst([&a, &b], &pins);
        let sms = join_all((20..40).map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            async move { app.sms_from(AMINA, &format!("BAL {}", wrong_pin(i))).await }
        }));
        let _ = tokio::join!(ussd, sms);
        assert_eq!(checks(&[&a, &b]) - before, 3, "[{be}] three checks across both channels");
        assert_eq!(lock_notices(&a).await, 1, "[{be}] one notice");
    }
}

/// An aggregator repeating a hop repeats the same guess: one attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_hop_costs_one_attempt() {
    for db in TestDb::all() {
        let (a, b) = two_processes(db).await;
        let be = a.backend();
        let session = format!("ATUid_{}", random_suffix());
        let replies = join_all((0..8).map(|i| {
            let (app, session) = (if i % 2 == 0 { &a } else { &b }, session.clone());
            async move { app.hop(&session, AMINA, "4*1*0001").await.1 }
        }))
        .await;
        assert!(replies.iter().all(|r| r == "END Wrong PIN. 2 attempt(s) left."), "[{be}] {replies:?}");
        assert_eq!(a.t.find(AMINA).await.expect("amina").pin_failures, 1, "[{be}] one attempt counted");
    }
}

/// One source guessing the PINs of many numbers is refused past
/// `rate_limits.wrong_pins_per_source`, whatever the numbers; right PINs do
/// not count.
#[tokio::test]
async fn wrong_pins_from_one_source_across_many_numbers_are_limited() {
    for db in TestDb::all() {
        let mut config = db.config();
        config.notify.workers = false;
        config.rate_limits.wrong_pins_per_source = 4;
        let app = spawn_app_with(db, config).await;
        let be = app.backend();
        let mut phones = Vec::new();
        for i in 0..6 {
            let phone = format!("2547130000{i:02}");
            app.t.customer(&phone, &format!("Customer {i}")).await;
            phones.push(phone);
        }
        // A right PIN first: it does not use up the source's allowance.
        assert!(app.last(&phones[5], &["4", "1", RIGHT_PIN]).await.starts_with("END Your balance"), "[{be}]");
        for phone in &phones[..4] {
            let reply = app.last(phone, &["4", "1", "0001"]).await;
            assert!(reply.starts_with("END Wrong PIN"), "[{be}] {reply}");
        }
        let checks = app.pins.checks();
        let refused = app.last(&phones[4], &["4", "1", RIGHT_PIN]).await;
        assert!(refused.starts_with("END Too many requests"), "[{be}] {refused}");
        assert_eq!(app.pins.checks(), checks, "[{be}] refused before any check");
        assert_eq!(app.t.find(&phones[4]).await.expect("customer").pin_failures, 0, "[{be}] costs the number nothing");
    }
}

/// Right PINs arriving together are never told the account is locked:
/// those past the attempts in flight are asked to try again, unchecked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn right_pins_at_once_are_never_told_locked() {
    for db in TestDb::all() {
        let (a, b) = two_processes(db).await;
        let be = a.backend();
        let pins: Vec<String> = (0..8).map(|_| RIGHT_PIN.to_string()).collect();
        let replies = ussd_burst([&a, &b], &pins).await;
        for (_, reply) in &replies {
            let fine = reply.starts_with("END Your balance") || reply.starts_with(&format!("END {BUSY}"));
            assert!(fine, "[{be}] {reply}");
        }
        assert!(replies.iter().any(|(_, r)| r.starts_with("END Your balance")), "[{be}]");
        let amina = a.t.find(AMINA).await.expect("amina");
        assert_eq!((amina.status.as_str(), amina.pin_failures), ("active", 0), "[{be}]");
    }
}

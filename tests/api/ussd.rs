//! The USSD channel over real HTTP: every menu path of SPEC §6, replays,
//! concurrency, lockout, paging, the screen budget and bad input.

use crate::helpers::{kes, random_suffix, spawn_app, spawn_app_with, TestApp, TestDb, TOKEN};
use mkoba::ussd::render::fits;

const AMINA: &str = "254712000001";
const BARAKA: &str = "254712000002";
const AGENT: &str = "254722000001";

/// An app with Amina (KES 1,000), Baraka (empty), an agent with float and a merchant.
async fn world(db: TestDb) -> TestApp {
    let app = spawn_app(db).await;
    let t = &app.t;
    t.world(1_000).await;
    app
}

fn assert_all_fit(screens: &[String]) {
    for s in screens {
        assert!(s.starts_with("CON ") || s.starts_with("END "), "{s:?}");
        assert!(fits(s), "screen over budget ({} chars): {s:?}", s.chars().count());
    }
}

#[tokio::test]
async fn send_money_shows_name_amount_and_fee_then_moves_money_once() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let screens = app.dial(AMINA, &["1", "0712000002", "600", "1357"]).await;
        assert_all_fit(&screens);
        assert!(screens[0].contains("1. Send money"), "[{b}] {}", screens[0]);
        let confirm = &screens[3];
        assert!(confirm.starts_with("CON "), "[{b}] {confirm}");
        for part in ["KES 600.00", "Baraka Otieno", "Fee KES 5.00", "PIN"] {
            assert!(confirm.contains(part), "[{b}] confirmation lacks {part}: {confirm}");
        }
        let done = &screens[4];
        assert!(done.starts_with("END Sent KES 600.00 to Baraka Otieno"), "[{b}] {done}");
        assert!(done.contains("Balance KES 395.00"), "[{b}] {done}");
        let baraka = app.t.find(BARAKA).await.expect("baraka");
        assert_eq!(baraka.balance_minor, 60_000);
        app.t.assert_verified().await;
    }
}

#[tokio::test]
async fn withdraw_pay_balance_statement_and_agent_menus() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let done = app.last(AMINA, &["2", "0722000001", "200", "1357"]).await;
        assert!(done.starts_with("END Withdrew KES 200.00 at Duka Moja"), "[{b}] {done}");
        let confirm = app.dial(AMINA, &["3", "55123", "50"]).await.pop().unwrap_or_default();
        assert!(confirm.contains("Mama Mboga") && confirm.contains("KES 50.00"), "[{b}] {confirm}");
        let done = app.last(AMINA, &["3", "55123", "50", "1357"]).await;
        assert!(done.starts_with("END Paid KES 50.00 to Mama Mboga"), "[{b}] {done}");
        let balance = app.last(AMINA, &["4", "1", "1357"]).await;
        // 1,000 - 200 - fee 5 - 50.
        assert_eq!(balance, "END Your balance is KES 745.00.", "[{b}]");
        let statement = app.last(AMINA, &["4", "2", "1357"]).await;
        assert!(statement.contains("Mama Mboga") && statement.contains("-KES 50.00"), "[{b}] {statement}");

        let deposit = app.dial(AGENT, &["1", "0712000002", "300"]).await.pop().unwrap_or_default();
        assert!(deposit.contains("Baraka Otieno") && deposit.contains("KES 300.00"), "[{b}] {deposit}");
        let done = app.last(AGENT, &["1", "0712000002", "300", "1357"]).await;
        assert!(done.starts_with("END Deposited KES 300.00 to Baraka Otieno"), "[{b}] {done}");
        let float = app.last(AGENT, &["2", "1357"]).await;
        assert!(float.starts_with("END Your float balance is KES "), "[{b}] {float}");
        let statement = app.last(AGENT, &["3", "1357"]).await;
        assert!(statement.contains("Baraka Otieno"), "[{b}] {statement}");
        app.t.assert_verified().await;
    }
}

#[tokio::test]
async fn registration_in_kiswahili_chosen_before_registering() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let new = "254712000099";
        let set = app.last(new, &["2", "2"]).await;
        assert_eq!(set, "END Lugha imewekwa Kiswahili.", "[{b}]");
        let screens = app.dial(new, &["1", "Zawadi Mwangi", "12345678", "2580", "2580"]).await;
        assert!(screens[0].contains("Jisajili"), "[{b}] remembered language: {}", screens[0]);
        assert!(screens[5].starts_with("END Karibu Zawadi Mwangi"), "[{b}] {}", screens[5]);
        let account = app.t.find(new).await.expect("registered");
        assert_eq!(
            (account.name.as_str(), account.tier.as_str(), account.language.as_str()),
            ("Zawadi Mwangi", "basic", "sw")
        );
        let home = app.last(new, &[]).await;
        assert!(home.contains("Tuma pesa"), "[{b}] {home}");
        // Mismatched confirmation registers nobody.
        let other = "254712000098";
        let end = app.last(other, &["1", "Juma Ali", "A1234567", "2580", "2581"]).await;
        assert!(end.starts_with("END The PINs did not match"), "[{b}] {end}");
        assert!(app.t.find(other).await.is_none());
    }
}

#[tokio::test]
async fn change_pin_and_language_from_my_account() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let done = app.last(AMINA, &["4", "3", "1357", "2580", "2580"]).await;
        assert_eq!(done, "END Your PIN has been changed.", "[{b}]");
        let wrong = app.last(AMINA, &["4", "1", "1357"]).await;
        assert!(wrong.starts_with("END Wrong PIN"), "[{b}] old PIN no longer works: {wrong}");
        let ok = app.last(AMINA, &["4", "1", "2580"]).await;
        assert!(ok.starts_with("END Your balance is"), "[{b}] {ok}");
        let weak = app.dial(AMINA, &["4", "3", "2580", "1111"]).await.pop().unwrap_or_default();
        assert!(weak.starts_with("CON That PIN is too easy"), "[{b}] {weak}");
        let sw = app.last(AMINA, &["4", "4", "2"]).await;
        assert_eq!(sw, "END Lugha imewekwa Kiswahili.", "[{b}]");
        let home = app.last(AMINA, &[]).await;
        assert!(home.contains("Tuma pesa"), "[{b}] {home}");
    }
}

#[tokio::test]
async fn back_and_home_navigate_without_ending() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let screens = app.dial(AMINA, &["1", "0712000002", "0", "0", "4", "00"]).await;
        assert!(screens[3].contains("Enter phone number"), "[{b}] 0 goes back: {}", screens[3]);
        assert!(screens[4].contains("1. Send money"), "[{b}] {}", screens[4]);
        assert!(screens[5].contains("My account"), "[{b}] {}", screens[5]);
        assert!(screens[6].contains("1. Send money"), "[{b}] 00 goes home: {}", screens[6]);
        assert!(screens.iter().all(|s| s.starts_with("CON ")), "[{b}] {screens:?}");
    }
}

#[tokio::test]
async fn replayed_hops_get_the_same_reply_and_move_nothing_twice() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let sid = format!("ATUid_{}", random_suffix());
        let first = app.hop(&sid, AMINA, "").await.1;
        // Safaricom's double session start: the same empty hop again.
        assert_eq!(app.hop(&sid, AMINA, "").await.1, first, "[{b}]");
        for text in ["1", "1*0712000002", "1*0712000002*100"] {
            let a = app.hop(&sid, AMINA, text).await.1;
            assert_eq!(app.hop(&sid, AMINA, text).await.1, a, "[{b}] replay of {text}");
        }
        let done = app.hop(&sid, AMINA, "1*0712000002*100*1357").await.1;
        assert!(done.starts_with("END Sent"), "[{b}] {done}");
        for _ in 0..3 {
            assert_eq!(app.hop(&sid, AMINA, "1*0712000002*100*1357").await.1, done, "[{b}]");
        }
        // Whatever arrives later in that session moves nothing more.
        let late = app.hop(&sid, AMINA, "1*0712000002*100*1357*1").await.1;
        assert!(late.starts_with("END "), "[{b}] {late}");
        assert_eq!(app.t.find(BARAKA).await.expect("baraka").balance_minor, 10_000, "[{b}] moved once");
        app.t.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_final_hop_sent_concurrently_moves_money_once() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let sid = format!("ATUid_{}", random_suffix());
        for text in ["", "1", "1*0712000002", "1*0712000002*100"] {
            app.hop(&sid, AMINA, text).await;
        }
        let app = std::sync::Arc::new(app);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (app, sid) = (app.clone(), sid.clone());
            tasks.push(tokio::spawn(async move { app.hop(&sid, AMINA, "1*0712000002*100*1357").await }));
        }
        let mut replies = Vec::new();
        for task in tasks {
            let (status, body) = task.await.expect("task");
            assert_eq!(status, 200);
            replies.push(body);
        }
        assert!(replies.iter().all(|r| r == &replies[0]), "[{b}] one answer for all: {replies:?}");
        assert!(replies[0].starts_with("END Sent"), "[{b}] {}", replies[0]);
        assert_eq!(app.t.find(BARAKA).await.expect("baraka").balance_minor, 10_000, "[{b}] moved once");
        app.t.assert_verified().await;
    }
}

#[tokio::test]
async fn three_wrong_pins_lock_until_unlocked() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let first = app.last(AMINA, &["1", "0712000002", "100", "9999"]).await;
        assert_eq!(first, "END Wrong PIN. 2 attempt(s) left.", "[{b}]");
        assert_eq!(app.last(AMINA, &["4", "1", "9998"]).await, "END Wrong PIN. 1 attempt(s) left.", "[{b}]");
        let locked = app.last(AMINA, &["4", "2", "9997"]).await;
        assert!(locked.starts_with("END Your account is locked"), "[{b}] {locked}");
        let account = app.t.find(AMINA).await.expect("amina");
        assert_eq!(account.status.as_str(), "locked");
        // Even the right PIN is refused while locked; the menu says why at once.
        let home = app.last(AMINA, &[]).await;
        assert!(home.starts_with("END Your account is locked"), "[{b}] {home}");
        assert_eq!(app.t.find(BARAKA).await.expect("baraka").balance_minor, 0, "[{b}] nothing moved");

        let id = account.id;
        app.t
            .ledger
            .write(move |c| mkoba::ledger::account::set_status(c, id, mkoba::ledger::AccountStatus::Active))
            .await
            .expect("unlock");
        let done = app.last(AMINA, &["1", "0712000002", "100", "1357"]).await;
        assert!(done.starts_with("END Sent"), "[{b}] {done}");
        // A right PIN resets the count: two wrong ones no longer lock.
        app.last(AMINA, &["4", "1", "9999"]).await;
        app.last(AMINA, &["4", "1", "9999"]).await;
        assert_eq!(app.t.find(AMINA).await.expect("amina").status.as_str(), "active", "[{b}]");
    }
}

#[tokio::test]
async fn a_long_mini_statement_is_paged_with_98() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let amina = app.t.find(AMINA).await.expect("amina").id;
        let baraka = app.t.find(BARAKA).await.expect("baraka").id;
        for _ in 0..8 {
            app.t.transfer(mkoba::ledger::TransferKind::P2p, amina, baraka, kes(10)).await.expect("p2p");
        }
        let screens = app.dial(AMINA, &["4", "2", "1357", "98", "98"]).await;
        assert_all_fit(&screens);
        let page1 = &screens[3];
        assert!(page1.starts_with("CON Mini statement") && page1.ends_with("98. More"), "[{b}] {page1}");
        assert!(screens[4] != *page1 && screens[4].contains("Baraka"), "[{b}] {}", screens[4]);
        let lines: usize = screens[3..].iter().map(|s| s.matches("KES").count()).sum();
        assert!(lines >= 9, "[{b}] the pages hold the whole statement: {screens:?}");
        assert!(screens.last().is_some_and(|s| s.starts_with("END ")), "[{b}] last page closes: {screens:?}");
    }
}

#[test]
fn no_screen_passes_the_budget_whatever_the_names_and_amounts() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let app = rt.block_on(world(TestDb::sqlite()));
    let n = std::sync::atomic::AtomicU32::new(0);
    let config = ProptestConfig { cases: 24, ..ProptestConfig::default() };
    proptest!(config, |(name in "[A-Za-zÀ-ÿŋ' ]{2,60}", major in 1i64..150_000)| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let phone = format!("2547130{i:05}");
        let name = name.trim().to_string();
        prop_assume!(name.chars().filter(|c| c.is_alphabetic()).count() >= 2);
        let screens = rt.block_on(async {
            app.t.customer(&phone, &name).await;
            app.dial(AMINA, &["1", &phone, &major.to_string()]).await
        });
        for s in &screens {
            prop_assert!(fits(s), "over budget ({} chars): {s:?}", s.chars().count());
        }
        let last = screens.last().cloned().unwrap_or_default();
        prop_assert!(last.starts_with("CON ") || last.starts_with("END "), "{last:?}");
    });
}

#[tokio::test]
async fn bad_requests_are_refused_and_store_nothing() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let url = format!("{}/webhooks/africastalking/ussd", app.address);
        let form = [("sessionId", "S1"), ("serviceCode", "*384#"), ("phoneNumber", AMINA), ("text", "")];
        let status = |r: reqwest::Response| r.status().as_u16();
        assert_eq!(status(app.client.post(&url).form(&form).send().await.expect("send")), 401, "[{b}] no token");
        let wrong = app.hop_with("S1", AMINA, "", "*384#", "wrong-token").await;
        assert_eq!(wrong.0, 401, "[{b}]");
        let with_token = format!("{url}?token={TOKEN}");
        let missing = [("sessionId", "S2"), ("text", "")];
        assert_eq!(status(app.client.post(&with_token).form(&missing).send().await.expect("send")), 400, "[{b}]");
        let garbage =
            app.client.post(&with_token).body("%%%&&&==").header("content-type", "application/x-www-form-urlencoded");
        assert_eq!(status(garbage.send().await.expect("send")), 400, "[{b}]");
        let huge = format!("sessionId=S3&serviceCode=*384%23&phoneNumber={AMINA}&text={}", "1".repeat(20_000));
        assert_eq!(status(app.client.post(&with_token).body(huge).send().await.expect("send")), 413, "[{b}]");
        let bad_phone = app.hop("S4", "12345", "").await;
        assert_eq!(bad_phone.0, 400, "[{b}]");
        // The refused S1 was never stored: a real first hop starts fresh.
        assert!(app.hop("S1", AMINA, "").await.1.contains("Send money"), "[{b}]");
        let (_, unknown_code) = app.hop_with("S5", AMINA, "", "*999#", TOKEN).await;
        assert!(unknown_code.starts_with("END Unknown service code"), "[{b}] {unknown_code}");
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_screen_and_moves_nothing() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let retry = |s: &str, what: &str| assert!(s.starts_with("CON ") && s.contains(what), "[{b}] {s}");
        retry(&app.last(AMINA, &["7"]).await, "Invalid choice");
        retry(&app.last(AMINA, &["abc"]).await, "Invalid choice");
        retry(&app.last(AMINA, &["1", "07abc"]).await, "Invalid phone number");
        retry(&app.last(AMINA, &["1", "0712000002", "12x"]).await, "Invalid amount");
        retry(&app.last(AMINA, &["1", "0712000002", "1.234"]).await, "Invalid amount");
        retry(&app.last(AMINA, &["1", "0712000002", "10", "12"]).await, "4 digits");
        // '*' typed inside an amount arrives as extra inputs.
        retry(&app.last(AMINA, &["1", "0712000002", "1*0"]).await, "Invalid amount");
        let long = "9".repeat(300);
        retry(&app.last(AMINA, &["1", &long]).await, "Invalid");
        let end = |s: String, what: &str| assert!(s.starts_with("END ") && s.contains(what), "[{b}] {s}");
        end(app.last(AMINA, &["1", "0712999999"]).await, "not registered");
        end(app.last(AMINA, &["1", "0712000001"]).await, "yourself");
        end(app.last(AMINA, &["1", "0722000001"]).await, "not an mkoba customer");
        end(app.last(AMINA, &["2", "0712000002"]).await, "not an mkoba agent");
        end(app.last(AMINA, &["3", "99999"]).await, "does not exist");
        end(app.last(AMINA, &["1", "0712000002", "999", "1357"]).await, "Insufficient funds");
        end(app.last(AMINA, &["1", "0712000002", "2000000"]).await, "The most you can send");
        end(app.last(AMINA, &["1", "0712000002", "160000", "1357"]).await, "at once");
        assert_eq!(app.t.find(BARAKA).await.expect("baraka").balance_minor, 0, "[{b}] nothing moved");
        assert_eq!(app.t.find(AMINA).await.expect("amina").balance_minor, 100_000, "[{b}]");
        app.t.assert_verified().await;
    }
}

#[tokio::test]
async fn an_idle_session_expires() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    // 1 s, not 0: the cleanup task's first tick (at start) must not delete
    // the session before its second hop arrives.
    config.ussd.session_timeout_s = 1;
    let app = spawn_app_with(db, config).await;
    app.t.customer(AMINA, "Amina Juma").await;
    let sid = format!("ATUid_{}", random_suffix());
    app.hop(&sid, AMINA, "").await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (_, body) = app.hop(&sid, AMINA, "1").await;
    assert!(body.starts_with("END Your session has ended"), "{body}");
}

/// A name that could pass for another on someone's confirmation screen is
/// refused at registration (SPEC §4); the screen asks again.
#[tokio::test]
async fn disguised_names_are_refused_at_registration() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let new = "254712000097";
        for name in ["Baraka\u{202E}oteinO", "Bara\u{200B}ka Otieno", "Baraka\u{2067}Otieno"] {
            let screens = app.dial(new, &["1", name]).await;
            assert!(screens[2].starts_with("CON Enter a name"), "[{b}] {name:?}: {}", screens[2]);
            // Carrying on with the ID and PINs registers nobody.
            let screens = app.dial(new, &["1", name, "12345678", "2580", "2580"]).await;
            assert!(!screens[5].contains("Karibu") && !screens[5].contains("Welcome"), "[{b}] {}", screens[5]);
            assert!(app.t.find(new).await.is_none(), "[{b}] {name:?} registered");
        }
    }
}

/// A session whose stored screen mkoba cannot read is an error the caller
/// is told of, never a silent restart at the home screen.
#[tokio::test]
async fn an_unreadable_stored_session_is_refused_not_restarted() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let session = format!("ATUid_{}", random_suffix());
        app.hop(&session, AMINA, "").await;
        app.hop(&session, AMINA, "1").await;
        app.t
            .ledger
            .write(|conn| {
                use diesel::RunQueryDsl;
                mkoba::with_conn!(conn, c => diesel::sql_query(
                    "UPDATE ussd_sessions SET screen = '{\"screen\":\"from_the_future\"}'").execute(c))?;
                Ok(())
            })
            .await
            .expect("corrupt");
        let (status, body) = app.hop(&session, AMINA, "1*0712000002").await;
        assert_eq!(status, 200);
        assert!(body.starts_with("END Sorry, the service is unavailable"), "[{b}] {body}");
    }
}

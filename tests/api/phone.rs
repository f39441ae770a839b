//! `mkoba-phone`'s terminal app, played headlessly (ratatui's
//! TestBackend), against the real mkoba: sending money with a PIN, the
//! receipt arriving in the phone's inbox pane from mkoba's local inbox,
//! and a hang-up reported as Africa's Talking does, so the next dial
//! offers to resume.

use crate::helpers::{spawn_app_with, TestApp, TestDb, TOKEN};
use mkoba_simulators::phone::screen::Budget;
use mkoba_simulators::phone::{http_client, parse_script, Headless, Net, PhoneState, SmsSource};

const AMINA: &str = "254712000001";
const BARAKA: &str = "254712000002";

async fn phone(app: &TestApp, msisdn: &str) -> Headless {
    let net = Net {
        http: http_client(10_000).expect("client"),
        url: app.address.clone(),
        token: TOKEN.to_string(),
        network_code: "63902".to_string(),
        phone: msisdn.to_string(),
        sms: SmsSource::Local,
        events: true,
    };
    Headless::start(net, PhoneState::new(msisdn, "*384#", 20), 100, 34).await.expect("phone starts")
}

async fn play(phone: &mut Headless, script: &str) -> String {
    let steps = parse_script(script).expect("script");
    phone.run(&steps).await.expect("script runs").pop().unwrap_or_default()
}

async fn world(db: TestDb) -> TestApp {
    let mut config = db.config();
    config.notify.poll_interval_ms = 20;
    let app = spawn_app_with(db, config).await;
    app.t.world(1_000).await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_sends_money_with_a_masked_pin_and_shows_the_receipt() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let mut amina = phone(&app, AMINA).await;
        let home = play(&mut amina, "<dial>").await;
        assert!(home.contains("1. Send money") && home.contains("+254712000001"), "[{b}]\n{home}");

        let confirm = play(&mut amina, "1<send>0712000002<send>600<send>").await;
        for part in ["KES 600.00", "Baraka Otieno?", "Fee KES 5.00", "PIN>", "0 back", "00 home"] {
            assert!(confirm.contains(part), "[{b}] the confirmation lacks {part}:\n{confirm}");
        }
        // The counter is the budget of what mkoba really sent.
        let body = amina.state.shown.as_ref().map(|s| s.body.clone()).unwrap_or_default();
        let budget = Budget::of(&body);
        assert!(!budget.over(), "[{b}] {body:?}");
        assert!(confirm.contains(&format!("USSD {}", budget.label())), "[{b}]\n{confirm}");

        let masked = play(&mut amina, "1357").await;
        assert!(masked.contains("PIN> ••••") && !masked.contains("1357"), "[{b}]\n{masked}");
        let done = play(&mut amina, "<send><sms:You sent KES 600.00>").await;
        assert!(done.contains("Sent KES 600.00 to"), "[{b}]\n{done}");
        assert!(!done.contains("1357"), "[{b}] the PIN is never on screen:\n{done}");
        assert!(done.contains("You sent KES 600.00 to Baraka Otieno"), "[{b}] the receipt:\n{done}");
        assert!(done.contains("● NEW"), "[{b}] a new SMS is highlighted:\n{done}");
        assert!(!done.contains("session-end event"), "[{b}] mkoba took the Success event:\n{done}");

        let baraka = app.t.find(BARAKA).await.expect("baraka");
        assert_eq!(baraka.balance_minor, 60_000, "[{b}] the money moved once");
        app.t.assert_verified().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_is_reported_and_the_next_dial_offers_to_resume() {
    for db in TestDb::all() {
        let app = world(db).await;
        let b = app.backend();
        let mut amina = phone(&app, AMINA).await;
        let ended = play(&mut amina, "<dial>1<send>0712000002<send><end>").await;
        assert!(ended.contains("Call ended"), "[{b}]\n{ended}");
        assert!(!ended.contains("session-end event"), "[{b}] mkoba took the Incomplete event:\n{ended}");
        let offer = play(&mut amina, "<dial>").await;
        assert!(offer.contains("1. Continue where"), "[{b}] the dropped session can resume:\n{offer}");
        let resumed = play(&mut amina, "1<send>").await;
        assert!(resumed.contains("Enter amount"), "[{b}]\n{resumed}");
        // Bad input moves nothing: a wrong PIN ends with mkoba's words.
        let refused = play(&mut amina, "600<send>9999<send>").await;
        assert!(refused.contains("Wrong PIN"), "[{b}]\n{refused}");
        let baraka = app.t.find(BARAKA).await.expect("baraka");
        assert_eq!(baraka.balance_minor, 0, "[{b}]");
        app.t.assert_verified().await;
    }
}

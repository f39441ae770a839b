//! `mkoba-phone`'s terminal app played headlessly (ratatui's TestBackend)
//! against a real HTTP stand-in for mkoba's USSD webhooks, with the SMS
//! inbox read from the real aggregator simulator (the stand-in sends its
//! receipt through it, as mkoba does). Assertions are on the rendered
//! frames: the wrapped reply, the budget, the hints, the masked PIN, the
//! inbox pane.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use mkoba_simulators::phone::{http_client, parse_script, Headless, Net, PhoneState, SmsSource};
use mkoba_simulators::{start_aggregator, AggregatorConfig, AggregatorHandle};

const TOKEN: &str = "T0k-phone";
const PHONE: &str = "254712000001";

type Forms = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// The stand-in's screens (SPEC §6 wording, shortened).
fn answer(text: &str) -> String {
    let mut parts: Vec<&str> = if text.is_empty() { vec![] } else { text.split('*').collect() };
    // `00` goes home: what came before it no longer counts.
    if let Some(home) = parts.iter().rposition(|p| *p == "00") {
        parts.drain(..=home);
    }
    match parts.as_slice() {
        [] => "CON Welcome to mkoba\n1. Send money\n4. My account\n7. Statement\n9. Long".into(),
        ["7"] => "CON Statement\nQK7H2M9XTA sent KES 600.00 to Baraka Otieno on 30/11\n98. More\n0. Back".into(),
        ["9"] => format!("CON {}", "x".repeat(190)),
        ["1"] => "CON Enter phone number:".into(),
        ["1", _] => "CON Enter amount:".into(),
        ["1", _, amount] => format!("CON Send KES {amount}.00 to Baraka Otieno?\nFee KES 5.00\nEnter PIN to confirm:"),
        ["1", _, amount, "1357"] => format!("END Sent KES {amount}.00 to Baraka Otieno. Ref QK7H2M9XTA"),
        ["1", _, _, _] => "END Wrong PIN. 2 attempt(s) left.".into(),
        _ => "END Invalid choice".into(),
    }
}

struct StandIn {
    url: String,
    hops: Forms,
    events: Forms,
    server: actix_web::dev::ServerHandle,
}

/// Sends the receipt through the aggregator's send-SMS API, as mkoba does.
async fn send_receipt(sim_url: &str, text: &str) {
    let form = [("username", "sandbox"), ("to", "+254712000001"), ("message", text), ("from", "MKOBA")];
    let resp = reqwest::Client::new()
        .post(format!("{sim_url}/version1/messaging"))
        .header("apiKey", "sim-key")
        .form(&form)
        .send()
        .await
        .expect("send SMS");
    assert_eq!(resp.status().as_u16(), 201, "the simulator takes the SMS");
}

async fn hop(
    query: web::Query<HashMap<String, String>>,
    form: web::Form<HashMap<String, String>>,
    state: web::Data<(Forms, String)>,
) -> HttpResponse {
    if query.get("token").map(String::as_str) != Some(TOKEN) {
        return HttpResponse::Unauthorized().body("unauthorized");
    }
    let form = form.into_inner();
    let body = answer(form.get("text").map_or("", String::as_str));
    if body.starts_with("END Sent") {
        send_receipt(&state.1, "QK7H2M9XTA Confirmed. You sent KES 600.00 to Baraka Otieno.").await;
    }
    state.0.lock().expect("lock").push(form);
    HttpResponse::Ok().content_type("text/plain").body(body)
}

async fn start_stand_in(sim: &AggregatorHandle) -> StandIn {
    let (hops, events): (Forms, Forms) = Default::default();
    let hop_state = web::Data::new((Arc::clone(&hops), sim.base_url().to_string()));
    let event_state = web::Data::new(Arc::clone(&events));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(hop_state.clone())
            .app_data(event_state.clone())
            .route("/webhooks/africastalking/ussd", web::post().to(hop))
            .route(
                "/webhooks/africastalking/ussd-events",
                web::post().to(|form: web::Form<HashMap<String, String>>, seen: web::Data<Forms>| async move {
                    seen.lock().expect("lock").push(form.into_inner());
                    HttpResponse::Ok().finish()
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("bind stand-in");
    let url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    StandIn { url, hops, events, server: handle }
}

fn net(url: &str, sms: SmsSource) -> Net {
    Net {
        http: http_client(5_000).expect("client"),
        url: url.to_string(),
        token: TOKEN.to_string(),
        network_code: "63902".to_string(),
        phone: PHONE.to_string(),
        sms,
        events: true,
    }
}

async fn phone(url: &str, sim: &AggregatorHandle) -> Headless {
    let state = PhoneState::new(PHONE, "*384#", 20);
    Headless::start(net(url, SmsSource::Aggregator(sim.base_url().to_string())), state, 100, 34).await.expect("start")
}

async fn play(phone: &mut Headless, script: &str) -> String {
    phone.run(&parse_script(script).expect("script")).await.expect("script runs").pop().unwrap_or_default()
}

async fn sim() -> AggregatorHandle {
    start_aggregator(AggregatorConfig { api_key: "sim-key".into(), ..Default::default() }).await.expect("sim")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_money_wraps_counts_hints_masks_the_pin_and_shows_the_receipt() {
    let sim = sim().await;
    let mkoba = start_stand_in(&sim).await;
    let mut phone = phone(&mkoba.url, &sim).await;
    let idle = phone.text();
    assert!(idle.contains("mkoba-phone") && idle.contains("+254712000001") && idle.contains("*384#"), "{idle}");
    assert!(idle.contains("Dial *384#") && idle.contains("No messages."), "{idle}");

    let home = play(&mut phone, "<dial>").await;
    assert!(home.contains("Welcome to mkoba") && home.contains("1. Send money"), "{home}");
    assert!(home.contains("USSD 69/182"), "the budget counts CON too:\n{home}");
    assert!(!home.contains("0 back") && !home.contains("00 home"), "the home screen offers no way back:\n{home}");

    let confirm = play(&mut phone, "1<send>0712000002<send>600<send>").await;
    // Wrapped to 20 columns: the question breaks between words.
    assert!(confirm.contains("Send KES 600.00 to"), "{confirm}");
    assert!(confirm.contains("Baraka Otieno?"), "{confirm}");
    assert!(!confirm.contains("Send KES 600.00 to Baraka"), "not wrapped:\n{confirm}");
    assert!(confirm.contains("0 back") && confirm.contains("00 home"), "{confirm}");
    assert!(confirm.contains("PIN>"), "{confirm}");

    let typing = play(&mut phone, "1357").await;
    assert!(typing.contains("PIN> ••••"), "{typing}");
    assert!(!typing.contains("1357"), "the PIN is never on screen:\n{typing}");
    assert!(typing.contains("inputs: 1 › 0712000002 › 600"), "{typing}");

    let done = play(&mut phone, "<send><sms:You sent>").await;
    assert!(done.contains("Sent KES 600.00 to"), "{done}");
    assert!(done.contains("Ref") && done.contains("QK7H2M9XTA"), "{done}");
    assert!(!done.contains("1357"), "{done}");
    assert!(done.contains("1 new") && done.contains("● NEW MKOBA"), "the receipt is highlighted:\n{done}");
    assert!(done.contains("You sent KES 600.00"), "{done}");
    let read = play(&mut phone, "<read>").await;
    assert!(!read.contains("● NEW") && read.contains("You sent KES 600.00"), "{read}");

    // The hops carried every input so far; the END was reported as Success.
    let texts: Vec<String> = mkoba.hops.lock().expect("lock").iter().map(|f| f["text"].clone()).collect();
    assert_eq!(texts, ["", "1", "1*0712000002", "1*0712000002*600", "1*0712000002*600*1357"]);
    let events = mkoba.events.lock().expect("lock").clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0]["status"].as_str(), events[0]["hopsCount"].as_str()), ("Success", "5"));
    assert_eq!(events[0]["phoneNumber"], "+254712000001");
    mkoba.server.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_and_oversized_screens_hanging_up_and_failures() {
    let sim = sim().await;
    let mkoba = start_stand_in(&sim).await;
    let mut phone = phone(&mkoba.url, &sim).await;
    let statement = play(&mut phone, "<dial>7<send>").await;
    assert!(statement.contains("98 more") && statement.contains("0 back"), "{statement}");
    let home = play(&mut phone, "00<send>").await;
    assert!(home.contains("Welcome to mkoba") && !home.contains("0 back"), "{home}");
    let over = play(&mut phone, "9<send>").await;
    assert!(over.contains("USSD 194/182 OVER!"), "{over}");
    assert!(over.contains("▼ more"), "a screen longer than the display scrolls:\n{over}");
    let hung_up = play(&mut phone, "<end>").await;
    assert!(hung_up.contains("Call ended") && hung_up.contains("session ended"), "{hung_up}");
    let events = mkoba.events.lock().expect("lock").clone();
    assert_eq!(events.last().map(|e| e["status"].as_str()), Some("Incomplete"), "{events:?}");
    assert_eq!(events.last().map(|e| e["input"].as_str()), Some("7*00*9"));

    // A wrong token: the phone's own words, the reason in the status line.
    let state = PhoneState::new(PHONE, "*384#", 20);
    let mut bad = net(&mkoba.url, SmsSource::Off);
    bad.token = "wrong".into();
    let mut refused = Headless::start(bad, state, 100, 34).await.expect("start");
    let screen = play(&mut refused, "<dial>").await;
    assert!(screen.contains("Connection problem") && screen.contains("HTTP 401"), "{screen}");
    assert!(!screen.contains("wrong"), "no token on screen:\n{screen}");
    mkoba.server.stop(false).await;
    // Nobody listening: still a clear status, and the script goes on.
    let mut phone = Headless::start(net(&mkoba.url, SmsSource::Off), PhoneState::new(PHONE, "*384#", 20), 100, 34)
        .await
        .expect("start");
    let gone = play(&mut phone, "<dial>").await;
    assert!(gone.contains("cannot connect") || gone.contains("transport error"), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_plays_a_key_script_and_keeps_the_inputs_mode() {
    let sim = sim().await;
    let mkoba = start_stand_in(&sim).await;
    let (url, sim_url) = (mkoba.url.clone(), sim.base_url().to_string());
    let out = tokio::task::spawn_blocking(move || {
        let keys = Command::new(env!("CARGO_BIN_EXE_mkoba-phone"))
            .args(["--url", &url, "--token", TOKEN, "--phone", "0712000001", "--aggregator", &sim_url])
            .args(["--keys", "<dial>1<send>0712000002<send>600<send>1357<send><sms>"])
            .output()
            .expect("run mkoba-phone --keys");
        let inputs = Command::new(env!("CARGO_BIN_EXE_mkoba-phone"))
            .args(["--url", &url, "--token", TOKEN, "--phone", "0712000001", "--inputs", "1*0712000002*600*1357"])
            .output()
            .expect("run mkoba-phone --inputs");
        let bad = Command::new(env!("CARGO_BIN_EXE_mkoba-phone"))
            .args(["--url", &url, "--token", TOKEN, "--phone", "0712000001", "--keys", "<call>"])
            .output()
            .expect("run mkoba-phone --keys <call>");
        (keys, inputs, bad)
    })
    .await
    .expect("join");
    let (keys, inputs, bad) = out;
    let frame = String::from_utf8_lossy(&keys.stdout);
    assert!(keys.status.success(), "{frame}\n{}", String::from_utf8_lossy(&keys.stderr));
    assert!(frame.contains("QK7H2M9XTA") && frame.contains("● NEW MKOBA") && !frame.contains("1357"), "{frame}");
    let printed = String::from_utf8_lossy(&inputs.stdout);
    assert!(inputs.status.success(), "{printed}");
    assert!(printed.contains("--- END: session ended ---"), "{printed}");
    assert!(printed.contains("> 1357"), "the scripted mode prints its inputs, as before:\n{printed}");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown key <call>"));
    mkoba.server.stop(false).await;
}

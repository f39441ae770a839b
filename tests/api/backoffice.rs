//! The back office at /admin/ (SPEC §10) in headless Chromium against a real
//! server and the real /admin/v1: an operator signs in, finds an account
//! and its statement, reverses a transfer and releases a held one, and the
//! page shows each result while the ledger shows the money moved; names
//! holding HTML or script show as text; a viewer key sees the buttons
//! disabled and a forced click changes nothing; the page speaks Kiswahili.
//! Screenshots go to <target>/test-output/backoffice-*.png.

use crate::browser::{self, Browser};
use crate::helpers::{kes, spawn_app_with, TestApp, TestDb, World};
use mkoba::admin::Role;
use mkoba::config::{LimitRule, RuleAction};
use mkoba::domain::now_ms;
use mkoba::ledger::TransferKind;
use serde_json::Value;

const OPS: &str = "ops@mkoba.example";
const SCRIPT_NAME: &str = "<script>alert(1)</script>";
const IMG_NAME: &str = "<img src=x onerror=alert(2)>";

/// A server with the cast, one posted transfer, one held by a fraud rule,
/// and two admin keys.
struct Scene {
    app: TestApp,
    w: World,
    posted: String,
    held: String,
    operator: String,
    viewer: String,
}

async fn admin_key(app: &TestApp, name: &'static str, role: Role) -> String {
    let secret = app.t.config.api.key_secret.expose().to_string();
    let created = app.t.ledger.write(move |c| mkoba::admin::keys::create(c, &secret, name, role, now_ms())).await;
    created.expect("admin key").key
}

async fn scene(db: TestDb) -> Scene {
    let mut config = db.config();
    config.alerts.email_to = OPS.into();
    config.notify.workers = false;
    // The third payment in an hour from one payer waits in suspense.
    config.velocity.out_count_per_hour = LimitRule { limit: Some(2), action: RuleAction::Hold };
    let app = spawn_app_with(db, config).await;
    let t = &app.t;
    let w = t.world(1_000).await;
    let evil = t.customer("254712000009", SCRIPT_NAME).await;
    let evil_agent = t.agent("254722000009", IMG_NAME).await;
    t.float(evil_agent, kes(5)).await;
    let posted = t.transfer(TransferKind::P2p, w.amina, w.baraka, kes(10)).await.expect("posted").reference;
    t.transfer(TransferKind::P2p, w.amina, evil, kes(5)).await.expect("to the oddly named");
    let held = t.transfer(TransferKind::P2p, w.amina, w.baraka, kes(200)).await.expect("held");
    assert_eq!(held.held_rule.as_deref(), Some("out_count_per_hour"), "[{}] the rule holds it", app.backend());
    t.feed_receipts(50).await;
    let operator = admin_key(&app, "desk-operator", Role::Operator).await;
    let viewer = admin_key(&app, "desk-viewer", Role::Viewer).await;
    Scene { app, w, posted, held: held.reference, operator, viewer }
}

async fn sign_in(b: &Browser, s: &Scene, key: &str, name: &str) {
    b.goto(&format!("{}/admin/", s.app.address)).await;
    b.wait_for("the sign-in form", "!document.getElementById('sign-in').hidden", "document.body.innerText").await;
    b.type_into("#key", key).await;
    b.click("#sign-in-button").await;
    b.wait_text("#who-text", name).await;
}

async fn find(b: &Browser, account: &str, expect: &str) {
    b.type_into("#find", account).await;
    b.click("#find-form button[type=submit]").await;
    b.wait_text("#account-fields", expect).await;
}

async fn transfer_json(s: &Scene, reference: &str) -> Value {
    let url = format!("{}/admin/v1/transfers/{reference}", s.app.address);
    let resp = s.app.client.get(url).bearer_auth(&s.operator).send().await.expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("json")
}

/// Finds Amina, reverses her first payment after confirming, and checks the
/// page, the API and the ledger agree.
async fn reverse_a_transfer(b: &Browser, s: &Scene) {
    let (t, be) = (&s.app.t, s.app.backend());
    find(b, "0712000001", "Amina Juma").await;
    b.wait_text("#statement tbody", &s.posted).await;
    assert_eq!(t.balance(s.w.baraka).await, 1_000, "[{be}] Baraka was paid KES 10");

    b.type_into("#reference", &s.posted).await;
    b.click("#transfer-form button[type=submit]").await;
    b.wait_text("#transfer-fields", "254712000002").await;
    b.click("#reverse").await;
    b.wait_for("the confirmation step", "!document.getElementById('confirm').hidden", "document.body.innerText").await;
    assert!(b.text("#confirm-text").await.contains(&s.posted), "[{be}] the confirmation names the transfer");
    assert_eq!(t.balance(s.w.baraka).await, 1_000, "[{be}] nothing moves before the confirmation");
    b.click("#confirm-reverse").await;
    b.wait_text("#transfer-result", "was reversed by").await;

    let stored = transfer_json(s, &s.posted).await;
    let reversal = stored["reversed_by"].as_str().expect("reversed_by set").to_string();
    assert!(b.text("#transfer-result").await.contains(&reversal), "[{be}] the page names the reversal");
    b.wait_text("#transfer-fields", &reversal).await;
    assert!(!b.enabled("#reverse").await, "[{be}] a reversed transfer cannot be reversed again");
    assert_eq!(t.balance(s.w.baraka).await, 0, "[{be}] the money went back");
    t.assert_verified().await;
}

async fn release_a_held_transfer(b: &Browser, s: &Scene) {
    let (t, be) = (&s.app.t, s.app.backend());
    let button = format!("button[data-release='{}']", s.held);
    b.wait_for(
        "the held transfer",
        &format!("document.querySelector({button:?})"),
        "document.getElementById('held').innerText",
    )
    .await;
    b.click(&button).await;
    b.wait_text("#status", "was released to the payee").await;
    b.wait_for(
        "the held list without it",
        &format!("!document.querySelector({button:?})"),
        "document.getElementById('held').innerText",
    )
    .await;
    assert_eq!(t.balance(s.w.baraka).await, 20_000, "[{be}] the payee has the held KES 200");
    t.assert_verified().await;
}

/// The lists after a refresh: the alert email, the audit entries of this
/// session's writes, the float chart with the low agent marked.
async fn see_the_lists(b: &Browser, s: &Scene) {
    b.click("#refresh").await;
    b.wait_text("#alerts tbody", OPS).await;
    b.wait_text("#audit tbody", "desk-operator").await;
    b.wait_text("#float-chart", "Duka Moja").await;
    assert!(
        b.count("#float-chart .bar.low").await >= 1,
        "[{}] an agent under the threshold is marked",
        s.app.backend()
    );
    assert!(b.count("#traffic-chart svg rect.bar").await >= 24, "[{}] one column per hour", s.app.backend());
}

/// Names with markup are text: no element made from them, no dialog.
async fn names_are_text(b: &Browser, s: &Scene) {
    let be = s.app.backend();
    b.wait_text("#float-chart", IMG_NAME).await;
    assert_eq!(b.count("#float-chart img, #float-chart script").await, 0, "[{be}] the agent's name made no element");
    find(b, "0712000009", SCRIPT_NAME).await;
    assert_eq!(b.count("main script, main img").await, 0, "[{be}] the customer's name made no element");
    let shown = b.eval("document.querySelector('#account-fields dd').textContent").await;
    assert_eq!(shown.as_str(), Some(SCRIPT_NAME), "[{be}] the name shows as written");
    assert!(!b.dialog_open().await, "[{be}] no alert fired");
}

async fn kiswahili(b: &Browser, s: &Scene) {
    let be = s.app.backend();
    let missing = b.eval("I18n.missing()").await;
    assert_eq!(missing, serde_json::json!([]), "every string in both languages");
    b.select("#lang", "sw").await;
    b.wait_text("#held-h", "Miamala iliyozuiliwa").await;
    assert_eq!(b.eval("document.documentElement.lang").await.as_str(), Some("sw"), "[{be}]");
    assert!(b.text("#who-text").await.contains("Umeingia kama desk-operator (mwendeshaji)"), "[{be}]");
    assert!(b.text("#account-fields").await.contains("Jina"), "[{be}] shown data is relabelled");
    b.screenshot(&format!("backoffice-{be}-kiswahili")).await;
    b.select("#lang", "en").await;
    b.wait_text("#held-h", "Held transfers").await;
}

async fn sign_out(b: &Browser) {
    b.click("#sign-out").await;
    b.wait_for("the sign-in form", "!document.getElementById('sign-in').hidden", "document.body.innerText").await;
    assert_eq!(b.eval("sessionStorage.getItem('mkoba.adminKey')").await, Value::Null, "the key is forgotten");
}

/// A viewer sees every button disabled with the reason; a click forced past
/// that is refused by the server, shown in words, and changes nothing.
async fn a_viewer_cannot_act(b: &Browser, s: &Scene) {
    let (t, be) = (&s.app.t, s.app.backend());
    let held = t.transfer(TransferKind::P2p, s.w.amina, s.w.baraka, kes(20)).await.expect("held too").reference;
    sign_in(b, s, &s.viewer, "desk-viewer (viewer)").await;
    b.wait_for("the viewer note", "!document.getElementById('viewer-note').hidden", "document.body.innerText").await;
    find(b, "0712000001", "Amina Juma").await;
    assert!(!b.enabled("#suspend").await, "[{be}] suspend is disabled for a viewer");
    let release = format!("button[data-release='{held}']");
    b.wait_for(
        "the new held transfer",
        &format!("document.querySelector({release:?})"),
        "document.getElementById('held').innerText",
    )
    .await;
    assert!(!b.enabled(&release).await, "[{be}] release is disabled for a viewer");
    b.screenshot(&format!("backoffice-{be}-viewer")).await;
    b.eval("(document.getElementById('suspend').disabled = false, true)").await;
    b.click("#suspend").await;
    b.wait_text("#account-error", "a viewer key cannot do this").await;
    let amina = t.find("254712000001").await.expect("amina");
    assert_eq!(amina.status.as_str(), "active", "[{be}] the refused suspend changed nothing");
    sign_out(b).await;
}

async fn a_wrong_key_is_refused_in_words(b: &Browser, s: &Scene) {
    b.goto(&format!("{}/admin/", s.app.address)).await;
    b.type_into("#key", "mka_not-a-key").await;
    b.click("#sign-in-button").await;
    b.wait_text("#sign-in-error", "The key was not accepted").await;
    assert!(b.eval("document.getElementById('desk').hidden").await.as_bool().unwrap_or(false));
}

#[tokio::test]
async fn an_operator_and_a_viewer_use_the_back_office_in_a_browser() {
    if browser::skipped() {
        return;
    }
    let b = Browser::start().await;
    for db in TestDb::all() {
        let s = scene(db).await;
        a_wrong_key_is_refused_in_words(&b, &s).await;
        sign_in(&b, &s, &s.operator, "desk-operator (operator)").await;
        reverse_a_transfer(&b, &s).await;
        release_a_held_transfer(&b, &s).await;
        see_the_lists(&b, &s).await;
        b.screenshot(&format!("backoffice-{}-operator", s.app.backend())).await;
        names_are_text(&b, &s).await;
        kiswahili(&b, &s).await;
        sign_out(&b).await;
        a_viewer_cannot_act(&b, &s).await;
    }
    b.close().await;
}

/// The page and its files are served with a strict policy: no inline
/// script or style, nothing from elsewhere, no framing.
#[tokio::test]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let db = TestDb::sqlite();
    let config = db.config();
    let app = spawn_app_with(db, config).await;
    let page = app.client.get(format!("{}/admin/", app.address)).send().await.expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let csp = page.headers()["content-security-policy"].to_str().expect("ascii").to_string();
    for part in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(part), "{csp} lacks {part}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(html.contains("<script src=\"app.js\""), "the script is a file");
    assert!(!html.contains("<script>") && !html.contains(" style="), "nothing inline");
    let js = app.client.get(format!("{}/admin/app.js", app.address)).send().await.expect("js");
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let moved = bare.get(format!("{}/admin", app.address)).send().await.expect("redirect");
    assert_eq!((moved.status().as_u16(), moved.headers()["location"].to_str().ok()), (308, Some("/admin/")));
}

//! The aggregator simulator, driven over real HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use mkoba_simulators::{start_aggregator, AggregatorConfig, AggregatorHandle, Failure};
use serde_json::Value;

const KEY: &str = "test-key";

async fn start() -> AggregatorHandle {
    start_aggregator(AggregatorConfig {
        api_key: KEY.to_string(),
        username: Some("sandbox".to_string()),
        delivery_delay: Duration::from_millis(5),
        delivery_retry_backoff: Duration::from_millis(20),
        ..AggregatorConfig::default()
    })
    .await
    .expect("aggregator starts")
}

async fn send(sim: &AggregatorHandle, key: &str, form: &[(&str, &str)]) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(sim.messaging_url())
        .header("apiKey", key)
        .header("Accept", "application/json")
        .form(form)
        .send()
        .await
        .expect("send request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

fn sms<'a>(to: &'a str, message: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("username", "sandbox"), ("to", to), ("message", message), ("from", "MKOBA")]
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).expect("JSON body")
}

#[tokio::test]
async fn send_is_recorded_and_answered_in_africas_talking_shape() {
    let sim = start().await;
    let (status, body) = send(&sim, KEY, &sms("+254712345678", "Your balance is KES 10.00")).await;
    assert_eq!(status, 201, "{body}");
    let v = json(&body);
    let data = &v["SMSMessageData"];
    assert_eq!(data["Message"], "Sent to 1/1 Total Cost: KES 0.8000");
    let r = &data["Recipients"][0];
    assert_eq!(r["statusCode"], 101);
    assert_eq!(r["number"], "+254712345678");
    assert_eq!(r["status"], "Success");
    assert_eq!(r["cost"], "KES 0.8000");
    let id = r["messageId"].as_str().expect("messageId");
    assert!(id.starts_with("ATXid_"), "{id}");

    // Direct access, under every spelling of the number.
    for phone in ["254712345678", "+254712345678", "0712345678"] {
        let inbox = sim.inbox(phone);
        assert_eq!(inbox.len(), 1, "{phone}");
        assert_eq!(inbox[0].id, id);
        assert_eq!(inbox[0].from, "MKOBA");
        assert_eq!(inbox[0].message, "Your balance is KES 10.00");
        assert_eq!(inbox[0].to, "254712345678");
    }
    assert_eq!(sim.sent_count(), 1);
    assert_eq!(sim.request_count(), 1);
    assert!(sim.inbox("254700000000").is_empty());

    // The JSON read API.
    let client = reqwest::Client::new();
    let inbox: Value = client
        .get(format!("{}/sim/inbox/+254712345678", sim.base_url()))
        .send()
        .await
        .expect("inbox request")
        .json()
        .await
        .expect("inbox JSON");
    assert_eq!(inbox["phone"], "254712345678");
    assert_eq!(inbox["messages"][0]["id"], id);
    assert_eq!(inbox["messages"][0]["message"], "Your balance is KES 10.00");
    assert!(inbox["messages"][0]["received_at_ms"].as_u64().is_some());
    let all: Value = client
        .get(format!("{}/sim/messages", sim.base_url()))
        .send()
        .await
        .expect("messages request")
        .json()
        .await
        .expect("messages JSON");
    assert_eq!(all["count"], 1);
    let health = client.get(format!("{}/health", sim.base_url())).send().await.expect("health request");
    assert_eq!(health.status(), 200);

    let cleared = client.delete(format!("{}/sim/inbox", sim.base_url())).send().await.expect("clear request");
    assert_eq!(cleared.status(), 200);
    assert!(sim.inbox("254712345678").is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn several_recipients_and_invalid_numbers() {
    let sim = start().await;
    let (status, body) = send(&sim, KEY, &sms("+254712345678,0712000002, 12ab", "Hi")).await;
    assert_eq!(status, 201, "{body}");
    let v = json(&body);
    assert_eq!(v["SMSMessageData"]["Message"], "Sent to 2/3 Total Cost: KES 1.6000");
    let recipients = v["SMSMessageData"]["Recipients"].as_array().expect("recipients");
    assert_eq!(recipients.len(), 3);
    assert_eq!(recipients[1]["number"], "+254712000002");
    assert_eq!(recipients[2]["status"], "InvalidPhoneNumber");
    assert_eq!(recipients[2]["statusCode"], 403);
    assert_eq!(recipients[2]["messageId"], "None");
    assert_eq!(sim.inbox("254712000002").len(), 1);
    assert_eq!(sim.sent_count(), 2);
}

#[tokio::test]
async fn wrong_credentials_and_bad_requests_are_refused() {
    let sim = start().await;
    let (status, _) = send(&sim, "wrong", &sms("+254712345678", "x")).await;
    assert_eq!(status, 401);
    let resp = reqwest::Client::new()
        .post(sim.messaging_url())
        .form(&sms("+254712345678", "x"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401, "missing apiKey");
    let mut other_user = sms("+254712345678", "x");
    other_user[0] = ("username", "someone");
    let (status, _) = send(&sim, KEY, &other_user).await;
    assert_eq!(status, 401, "wrong username");
    let (status, _) = send(&sim, KEY, &[("username", "sandbox"), ("message", "x")]).await;
    assert_eq!(status, 400, "missing to");
    let (status, _) = send(&sim, KEY, &[("username", "sandbox"), ("to", "+254712345678")]).await;
    assert_eq!(status, 400, "missing message");
    assert_eq!(sim.sent_count(), 0);
    assert_eq!(sim.request_count(), 5);
    assert_eq!(sim.stats().rejected, 5);
}

#[tokio::test]
async fn http_500_for_n_sends_then_recovery() {
    let sim = start().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/sim/fail", sim.base_url()))
        .json(&serde_json::json!({"mode": "http_500", "count": 2}))
        .send()
        .await
        .expect("fail request");
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.failure(), Failure::http_500(2));
    for _ in 0..2 {
        let (status, _) = send(&sim, KEY, &sms("+254712345678", "x")).await;
        assert_eq!(status, 500);
    }
    assert_eq!(sim.sent_count(), 0);
    let (status, _) = send(&sim, KEY, &sms("+254712345678", "x")).await;
    assert_eq!(status, 201);
    assert_eq!(sim.sent_count(), 1);
    assert_eq!(sim.failure(), Failure::None);
}

#[tokio::test]
async fn recipient_failure_then_recovery() {
    let sim = start().await;
    sim.set_failure(Failure::recipient_failure(1));
    let (status, body) = send(&sim, KEY, &sms("+254712345678", "x")).await;
    assert_eq!(status, 201);
    let v = json(&body);
    assert_eq!(v["SMSMessageData"]["Message"], "Sent to 0/1 Total Cost: 0");
    let r = &v["SMSMessageData"]["Recipients"][0];
    assert_eq!(r["status"], "InvalidPhoneNumber");
    assert_eq!(r["statusCode"], 403);
    assert_eq!(r["messageId"], "None");
    assert!(sim.inbox("254712345678").is_empty());
    let (status, body) = send(&sim, KEY, &sms("+254712345678", "x")).await;
    assert_eq!(status, 201);
    assert_eq!(json(&body)["SMSMessageData"]["Recipients"][0]["statusCode"], 101);
    assert_eq!(sim.inbox("254712345678").len(), 1);
}

#[tokio::test]
async fn a_link_id_is_recorded_with_the_message() {
    let sim = start().await;
    let mut form = sms("+254712345678", "reply");
    form.push(("linkId", "SampleLinkId123"));
    assert_eq!(send(&sim, KEY, &form).await.0, 201);
    assert_eq!(send(&sim, KEY, &sms("+254712345678", "bulk")).await.0, 201);
    let inbox = sim.inbox("254712345678");
    assert_eq!(inbox[0].link_id.as_deref(), Some("SampleLinkId123"));
    assert_eq!(inbox[1].link_id, None);
}

/// Africa's Talking's real error shapes, on demand.
#[tokio::test]
async fn configuration_errors_in_africas_talking_shapes() {
    let sim = start().await;
    sim.set_failure(Failure::unauthorized(Some(1)));
    let (status, body) = send(&sim, KEY, &sms("+254712345678", "x")).await;
    assert_eq!((status, body.as_str()), (401, "The supplied authentication is invalid"));

    sim.set_failure(Failure::invalid_sender_id(None));
    for _ in 0..2 {
        let (status, body) = send(&sim, KEY, &sms("+254712345678", "x")).await;
        assert_eq!(status, 200, "{body}");
        let data = &json(&body)["SMSMessageData"];
        assert_eq!(data["Message"], "InvalidSenderId");
        assert_eq!(data["Recipients"].as_array().map(Vec::len), Some(0));
    }
    assert_eq!(sim.sent_count(), 0, "nothing recorded");

    for (code, name) in [
        (402, "InvalidSenderId"),
        (403, "InvalidPhoneNumber"),
        (405, "InsufficientBalance"),
        (406, "UserInBlacklist"),
        (501, "GatewayError"),
    ] {
        sim.set_failure(Failure::recipient_status(1, code));
        let (status, body) = send(&sim, KEY, &sms("+254712345678", "x")).await;
        assert_eq!(status, 201);
        let r = &json(&body)["SMSMessageData"]["Recipients"][0];
        assert_eq!((r["statusCode"].as_u64(), r["status"].as_str()), (Some(u64::from(code)), Some(name)));
    }
    let (status, _) = send(&sim, KEY, &sms("+254712345678", "x")).await;
    assert_eq!(status, 201);
    assert_eq!(sim.sent_count(), 1, "healthy again");
}

#[tokio::test]
async fn wait_for_message_sees_new_messages_and_times_out() {
    let sim = start().await;
    let none = sim.wait_for_message("0712345678", |_| true, Duration::from_millis(50)).await;
    assert!(none.is_none());
    let url = sim.messaging_url();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        reqwest::Client::new()
            .post(url)
            .header("apiKey", KEY)
            .form(&sms("+254712345678", "Received KES 5.00 from JANE. Ref QK7H2M9XTA"))
            .send()
            .await
            .expect("send")
            .status()
    });
    let msg = sim
        .wait_for_message("+254712345678", |m| m.message.contains("Received"), Duration::from_secs(5))
        .await
        .expect("message arrives");
    assert!(msg.message.contains("QK7H2M9XTA"));
    assert_eq!(sender.await.expect("sender task"), 201);
    let msgs = sim.wait_for_messages("254712345678", 1, Duration::from_millis(10)).await.expect("already there");
    assert_eq!(msgs.len(), 1);
}

type Received = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A stand-in for mkoba's delivery webhook: records each form and answers
/// the given statuses in turn (200 once they run out).
async fn start_receiver(statuses: Vec<u16>) -> (String, Received, actix_web::dev::ServerHandle) {
    let received: Received = Arc::default();
    let statuses = Arc::new(Mutex::new(statuses.into_iter()));
    let state = (Arc::clone(&received), statuses);
    let server = HttpServer::new(move || {
        let (received, statuses) = state.clone();
        App::new().route(
            "/webhooks/africastalking/delivery",
            web::post().to(
                move |query: web::Query<HashMap<String, String>>, form: web::Form<HashMap<String, String>>| {
                    let received = Arc::clone(&received);
                    let statuses = Arc::clone(&statuses);
                    async move {
                        let mut form = form.into_inner();
                        form.insert("_token".to_string(), query.get("token").cloned().unwrap_or_default());
                        received.lock().expect("lock").push(form);
                        let status = statuses.lock().expect("lock").next().unwrap_or(200);
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status")).finish()
                    }
                },
            ),
        )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("bind receiver");
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}/webhooks/africastalking/delivery?token=tok"), received, handle)
}

#[tokio::test]
async fn delivery_report_is_posted_with_the_right_fields() {
    let (callback, received, receiver) = start_receiver(vec![]).await;
    let sim = start().await;
    sim.set_delivery_callback(Some(callback));
    let (status, body) = send(&sim, KEY, &sms("0712345678", "hello")).await;
    assert_eq!(status, 201);
    let id = json(&body)["SMSMessageData"]["Recipients"][0]["messageId"].as_str().expect("messageId").to_string();
    let report = sim.wait_for_delivery_report(&id, Duration::from_secs(5)).await.expect("report posted");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.http_status, Some(200));
    assert_eq!(report.attempts, 1);
    assert!(!report.callback.contains("tok&") && report.callback.contains("token=***"));

    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 1);
    let form = &got[0];
    assert_eq!(form["id"], id);
    assert_eq!(form["status"], "Success");
    assert_eq!(form["phoneNumber"], "+254712345678");
    assert_eq!(form["networkCode"], "63902");
    assert_eq!(form["failureReason"], "");
    assert_eq!(form["retryCount"], "0");
    assert_eq!(form["_token"], "tok");
    assert_eq!(sim.stats().delivery_reports_ok, 1);
    receiver.stop(false).await;
}

#[tokio::test]
async fn delivery_reports_are_retried_and_failures_reported() {
    let (callback, received, receiver) = start_receiver(vec![500, 503]).await;
    let sim = start().await;
    // Through the control API this time.
    let resp = reqwest::Client::new()
        .post(format!("{}/sim/config", sim.base_url()))
        .json(&serde_json::json!({"delivery_callback": callback, "delivery_delay_ms": 1}))
        .send()
        .await
        .expect("config request");
    assert_eq!(resp.status(), 200);
    sim.set_failure(Failure::delivery_failed(1));
    let (_, body) = send(&sim, KEY, &sms("+254712345678", "lost")).await;
    let id = json(&body)["SMSMessageData"]["Recipients"][0]["messageId"].as_str().expect("messageId").to_string();
    let report = sim.wait_for_delivery_report(&id, Duration::from_secs(5)).await.expect("report posted");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.attempts, 3);
    assert_eq!(report.status, "Failed");
    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2]["status"], "Failed");
    assert_eq!(got[2]["failureReason"], "DeliveryFailure");
    // A failed delivery never reaches the inbox, but is listed.
    assert!(sim.inbox("254712345678").is_empty());
    assert_eq!(sim.messages().len(), 1);
    assert!(!sim.messages()[0].delivered);
    receiver.stop(false).await;
}

#[tokio::test]
async fn an_unreachable_callback_is_given_up_on() {
    let sim = start_aggregator(AggregatorConfig {
        api_key: KEY.to_string(),
        delivery_delay: Duration::ZERO,
        delivery_attempts: 2,
        delivery_retry_backoff: Duration::from_millis(10),
        // Port 9 (discard) on loopback: nothing listens there.
        delivery_callback: Some("http://127.0.0.1:9/x?token=t".to_string()),
        ..AggregatorConfig::default()
    })
    .await
    .expect("aggregator starts");
    let (_, body) = send(&sim, KEY, &sms("+254712345678", "x")).await;
    let id = json(&body)["SMSMessageData"]["Recipients"][0]["messageId"].as_str().expect("messageId").to_string();
    let report = sim.wait_for_delivery_report(&id, Duration::from_secs(5)).await.expect("given up on");
    assert!(!report.ok);
    assert_eq!(report.attempts, 2);
    assert!(report.error.is_some());
    assert_eq!(sim.stats().delivery_reports_failed, 1);
}

//! The receiver over real HTTP: started on port 0, called with reqwest.

use serde_json::json;

use super::*;
use crate::merchant::signature::{signature_header, unix_now_s};

const SECRET: &str = "whsec_receiver_test";

fn event_body(id: &str) -> String {
    json!({
        "id": id,
        "type": "charge.succeeded",
        "created_at": "2026-12-01T10:00:00Z",
        "data": {"reference": "QK7H2M9XTA", "amount_minor": 100, "remaining_minor": 4900}
    })
    .to_string()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client")
}

async fn start(failure: ReceiverFailure) -> CallbackReceiver {
    let cfg = ReceiverConfig { failure, ..ReceiverConfig::new(SECRET) };
    start_receiver(cfg).await.expect("receiver starts")
}

#[tokio::test]
async fn a_valid_event_delivered_twice_is_stored_once() {
    let receiver = start(ReceiverFailure::None).await;
    let mut subscription = receiver.subscribe();
    let http = http();
    let body = event_body("evt_dup");
    let now = unix_now_s();
    assert_eq!(post_signed(&http, &receiver.url(), SECRET, now, &body).await.expect("answered"), 200);
    // A redelivery is signed afresh, at a later time, with the same id.
    assert_eq!(post_signed(&http, &receiver.url(), SECRET, now + 1, &body).await.expect("answered"), 200);

    let events = receiver.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.id, "evt_dup");
    assert_eq!(events[0].event.kind, "charge.succeeded");
    assert_eq!(events[0].event.data["amount_minor"], 100);
    assert_eq!(events[0].body, body);
    assert_eq!(events[0].signed_at_s, now);
    assert_eq!(receiver.deliveries("evt_dup"), 2);
    let stats = receiver.stats();
    assert_eq!((stats.requests, stats.accepted, stats.duplicates), (2, 1, 1));
    assert_eq!(subscription.recv().await.map(|e| e.event.id), Some("evt_dup".to_string()));
    assert!(subscription.try_recv().is_err(), "the duplicate is not sent to subscribers");
    receiver.stop().await;
}

#[tokio::test]
async fn bad_signatures_get_400_and_are_not_stored() {
    let receiver = start(ReceiverFailure::None).await;
    let http = http();
    let url = receiver.url();
    let body = event_body("evt_bad");
    let now = unix_now_s();

    assert_eq!(post_signed(&http, &url, "wrong_secret", now, &body).await.expect("answered"), 400);
    assert_eq!(post_signed(&http, &url, SECRET, now - 301, &body).await.expect("answered"), 400);

    // Signed for one body, sent with another.
    let tampered = http
        .post(&url)
        .header(SIGNATURE_HEADER, signature_header(SECRET, now, body.as_bytes()))
        .body(event_body("evt_other"))
        .send()
        .await
        .expect("answered");
    assert_eq!(tampered.status().as_u16(), 400);
    let answer: Value = tampered.json().await.expect("JSON error");
    assert_eq!(answer["error"]["code"], "signature_mismatch");

    let unsigned = http.post(&url).body(body.clone()).send().await.expect("answered");
    assert_eq!(unsigned.status().as_u16(), 400);
    let malformed =
        http.post(&url).header(SIGNATURE_HEADER, "v1=abc").body(body.clone()).send().await.expect("answered");
    assert_eq!(malformed.status().as_u16(), 400);

    // Well signed but not an event.
    assert_eq!(post_signed(&http, &url, SECRET, now, r#"{"hello":1}"#).await.expect("answered"), 400);

    assert!(receiver.events().is_empty());
    assert_eq!(receiver.deliveries("evt_bad"), 0);
    let stats = receiver.stats();
    assert_eq!((stats.bad_signatures, stats.bad_bodies, stats.accepted), (5, 1, 0));

    // The same event, properly signed, is then accepted.
    assert_eq!(post_signed(&http, &url, SECRET, now, &body).await.expect("answered"), 200);
    assert_eq!(receiver.events().len(), 1);
}

#[tokio::test]
async fn fails_the_first_n_requests_when_told() {
    let receiver = start(ReceiverFailure::fail_first(2)).await;
    let http = http();
    let body = event_body("evt_retry");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(post_signed(&http, &receiver.url(), SECRET, unix_now_s(), &body).await.expect("answered"));
    }
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(receiver.deliveries("evt_retry"), 1, "failed attempts are not deliveries");
    assert_eq!(receiver.failure(), ReceiverFailure::None);

    receiver.set_failure(ReceiverFailure::Status { status: 503, count: None });
    for _ in 0..2 {
        assert_eq!(post_signed(&http, &receiver.url(), SECRET, unix_now_s(), &body).await.expect("answered"), 503);
    }
    assert_eq!(receiver.stats().injected_failures, 4);
}

#[tokio::test]
async fn hangs_then_answers() {
    let receiver = start(ReceiverFailure::hang_first(1)).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().expect("client");
    let body = event_body("evt_hang");
    let hung = post_signed(&impatient, &receiver.url(), SECRET, unix_now_s(), &body).await;
    assert!(hung.is_err_and(|e| e.is_timeout()), "the first request gets no answer");
    assert_eq!(post_signed(&impatient, &receiver.url(), SECRET, unix_now_s(), &body).await.expect("answered"), 200);
    let waited = receiver.wait_for_kind("charge.succeeded", Duration::from_secs(1)).await;
    assert_eq!(waited.map(|e| e.event.id), Some("evt_hang".to_string()));
    receiver.stop().await;
}

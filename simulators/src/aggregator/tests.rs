//! Failure modes, their count-down and URL redaction.

use super::state::Inner;
use super::*;

#[test]
fn failure_json_forms() {
    let parse = |s: &str| serde_json::from_str::<Failure>(s).expect("valid failure JSON");
    assert_eq!(parse(r#"{"mode":"none"}"#), Failure::None);
    assert_eq!(parse(r#"{"mode":"http_500","count":3}"#), Failure::http_500(3));
    assert_eq!(parse(r#"{"mode":"http_500"}"#), Failure::Http500 { count: None });
    assert_eq!(parse(r#"{"mode":"recipient_failure","count":2}"#), Failure::recipient_failure(2));
    assert_eq!(parse(r#"{"mode":"delivery_failed","count":1}"#), Failure::delivery_failed(1));
    assert_eq!(parse(r#"{"mode":"slow","count":1,"delay_ms":250}"#), Failure::slow(1, Duration::from_millis(250)));
    assert_eq!(parse(r#"{"mode":"unauthorized"}"#), Failure::unauthorized(None));
    assert_eq!(parse(r#"{"mode":"invalid_sender_id","count":2}"#), Failure::invalid_sender_id(Some(2)));
    assert_eq!(
        parse(r#"{"mode":"recipient_failure","count":1,"status":"GatewayError","status_code":501}"#),
        Failure::recipient_status(1, 501)
    );
    assert!(serde_json::from_str::<Failure>(r#"{"mode":"bogus"}"#).is_err());
}

#[test]
fn failure_counts_down() {
    let mut inner = Inner {
        messages: Vec::new(),
        failure: Failure::http_500(2),
        delivery_callback: None,
        delivery_delay: Duration::ZERO,
        reports: Vec::new(),
        stats: Stats::default(),
    };
    assert!(matches!(inner.consume_failure(), Failure::Http500 { .. }));
    assert!(matches!(inner.consume_failure(), Failure::Http500 { .. }));
    assert_eq!(inner.consume_failure(), Failure::None);
    inner.failure = Failure::Http500 { count: None };
    for _ in 0..5 {
        assert!(matches!(inner.consume_failure(), Failure::Http500 { .. }));
    }
    inner.failure = Failure::http_500(0);
    assert_eq!(inner.consume_failure(), Failure::None);
}

#[test]
fn redacts_tokens() {
    assert_eq!(
        redact_url("http://127.0.0.1:8080/webhooks/africastalking/delivery?token=s3cret&x=1"),
        "http://127.0.0.1:8080/webhooks/africastalking/delivery?token=***&x=1"
    );
    assert_eq!(redact_url("http://h/p"), "http://h/p");
}

//! Sending to the in-process SMTP sink, and the forms of `smtp.url`.

use super::*;
use crate::config::Secret;
use mkoba_simulators::smtp::{start_smtp, FailAt, ReceivedMail};

const WAIT: Duration = Duration::from_secs(5);

fn config(url: &str) -> SmtpConfig {
    SmtpConfig { url: Secret::new(url), from: "mkoba <alerts@localhost>".into() }
}

fn sender(url: &str) -> EmailSender {
    EmailSender::from_config(&config(url)).expect("valid config").expect("url is set")
}

fn policy(retry_base_ms: u64, max_attempts: i32) -> RetryPolicy {
    EmailSender::retry_policy(&NotifyConfig { retry_base_ms, max_attempts, ..NotifyConfig::default() })
}

fn row(to: &str, subject: &str, body: &str, attempts: i32) -> OutboxRow {
    OutboxRow {
        id: 7,
        channel: "email".into(),
        recipient: to.into(),
        subject: subject.into(),
        body: body.into(),
        status: "sending".into(),
        attempts,
        provider_id: None,
        delivery_status: None,
        last_error: None,
        sender: None,
        link_id: None,
        created_at_ms: 0,
    }
}

fn has_header(mail: &ReceivedMail, header: &str) -> bool {
    mail.data.split("\r\n").take_while(|l| !l.is_empty()).any(|l| l == header)
}

fn body(mail: &ReceivedMail) -> &str {
    mail.data.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default()
}

#[tokio::test]
async fn sends_a_plain_text_email_to_a_real_smtp_server() {
    let sink = start_smtp().await.expect("sink starts");
    let email = sender(&sink.url());
    let r = row("ops@example.com", "mkoba: agent Juma float low", "Float is KES 900.00.\nTop it up.\n", 0);
    let attempt = email.send(&r, 1_000, &policy(2_000, 8)).await;
    let Attempt::Sent { provider_id: Some(id) } = attempt else { panic!("not sent: {attempt:?}") };
    assert!(id.contains("queued as SINK1"), "{id}");

    let mail = sink.wait_for(|m| m.to == ["ops@example.com"], WAIT).await.expect("the sink got it");
    assert_eq!(mail.from, "alerts@localhost");
    assert!(has_header(&mail, "To: ops@example.com"), "{}", mail.data);
    assert!(has_header(&mail, "Subject: mkoba: agent Juma float low"), "{}", mail.data);
    assert!(has_header(&mail, "From: mkoba <alerts@localhost>"), "{}", mail.data);
    assert!(has_header(&mail, "Content-Type: text/plain; charset=utf-8"), "{}", mail.data);
    assert!(mail.data.contains("\r\nMessage-ID: <mkoba.7."), "{}", mail.data);
    // lettre ends DATA with CRLF "." CRLF after the body's own CRLF: one blank line more.
    assert_eq!(body(&mail).replace("\r\n", "\n").trim_end(), "Float is KES 900.00.\nTop it up.");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn lines_starting_with_a_dot_survive_the_trip() {
    let sink = start_smtp().await.expect("sink starts");
    let r = row("ops@example.com", "dots", "first\n.hidden\n..two\n.\nlast\n", 0);
    let attempt = sender(&sink.url()).send(&r, 0, &policy(1_000, 3)).await;
    assert!(matches!(attempt, Attempt::Sent { .. }), "{attempt:?}");
    let mail = sink.wait_for(|_| true, WAIT).await.expect("received");
    assert_eq!(body(&mail).replace("\r\n", "\n").trim_end(), "first\n.hidden\n..two\n.\nlast");
}

#[tokio::test]
async fn a_transient_refusal_is_retried_with_backoff() {
    let sink = start_smtp().await.expect("sink starts");
    let email = sender(&sink.url());
    sink.fail_next(1, 451);
    let attempt = email.send(&row("ops@example.com", "s", "b", 2), 10_000, &policy(1_000, 8)).await;
    let Attempt::Retry { error, next_attempt_at_ms } = attempt else { panic!("not a retry: {attempt:?}") };
    assert!(error.contains("451"), "{error}");
    assert_eq!(next_attempt_at_ms, 10_000 + 4_000);
    assert!(sink.messages().is_empty());
    // The injection is used up: the next attempt goes through.
    let attempt = email.send(&row("ops@example.com", "s", "b", 3), 20_000, &policy(1_000, 8)).await;
    assert!(matches!(attempt, Attempt::Sent { .. }), "{attempt:?}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn a_transient_refusal_after_the_data_is_retried() {
    let sink = start_smtp().await.expect("sink starts");
    sink.fail_next_at(1, 452, FailAt::Data);
    let attempt = sender(&sink.url()).send(&row("ops@example.com", "s", "b", 0), 0, &policy(1_000, 8)).await;
    assert!(matches!(attempt, Attempt::Retry { next_attempt_at_ms: 1_000, .. }), "{attempt:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_permanent_refusal_fails_at_once() {
    let sink = start_smtp().await.expect("sink starts");
    let email = sender(&sink.url());
    sink.fail_next(1, 550);
    let attempt = email.send(&row("nobody@example.com", "s", "b", 0), 0, &policy(1_000, 8)).await;
    let Attempt::Failed { error } = attempt else { panic!("not failed: {attempt:?}") };
    assert!(error.contains("550"), "{error}");
    sink.fail_next_at(1, 554, FailAt::Data);
    let attempt = email.send(&row("nobody@example.com", "s", "b", 0), 0, &policy(1_000, 8)).await;
    assert!(matches!(attempt, Attempt::Failed { .. }), "{attempt:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn transient_errors_fail_once_attempts_run_out() {
    let sink = start_smtp().await.expect("sink starts");
    sink.fail_next(1, 451);
    let attempt = sender(&sink.url()).send(&row("ops@example.com", "s", "b", 7), 0, &policy(1_000, 8)).await;
    let Attempt::Failed { error } = attempt else { panic!("not failed: {attempt:?}") };
    assert!(error.contains("451") && error.contains("8 attempts"), "{error}");
}

#[tokio::test]
async fn an_unreachable_server_is_retried() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let email = sender(&format!("smtp://127.0.0.1:{port}"));
    let attempt = email.send(&row("ops@example.com", "s", "b", 0), 5, &policy(500, 8)).await;
    let Attempt::Retry { error, next_attempt_at_ms } = attempt else { panic!("not a retry: {attempt:?}") };
    assert_eq!(next_attempt_at_ms, 505);
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
}

#[tokio::test]
async fn an_invalid_recipient_fails_without_contacting_the_server() {
    let sink = start_smtp().await.expect("sink starts");
    let email = sender(&sink.url());
    for bad in ["not an address", "", "a@b@c"] {
        let attempt = email.send(&row(bad, "s", "b", 0), 0, &policy(1_000, 8)).await;
        let Attempt::Failed { error } = attempt else { panic!("{bad:?}: not failed: {attempt:?}") };
        assert!(error.contains("recipient"), "{error}");
    }
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn errors_never_show_the_password() {
    // The sink offers no AUTH, so a sender with credentials cannot log in.
    let sink = start_smtp().await.expect("sink starts");
    let email = sender(&format!("smtp://alerts%40example.com:s3cr%3At-pw@127.0.0.1:{}", sink.port()));
    assert!(!format!("{email:?}").contains("s3cr"));
    let attempt = email.send(&row("ops@example.com", "s", "b", 0), 0, &policy(1_000, 8)).await;
    let Attempt::Retry { error, .. } = attempt else { panic!("not a retry: {attempt:?}") };
    assert!(!error.contains("s3cr"), "{error}");
    assert!(sink.messages().is_empty());
    let err = EmailSender::from_config(&config("smtp://u:s3cr3t-pw@host:port")).expect_err("bad port");
    assert!(!err.contains("s3cr3t"), "{err}");
    let err = EmailSender::from_config(&config("smtp//u:s3cr3t-pw@host:25")).expect_err("no scheme");
    assert!(!err.contains("s3cr3t"), "{err}");
    let err = EmailSender::from_config(&config("smtp://u:s3cr3t-pw@bad host")).expect_err("bad host");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
fn scrub_hides_the_password_raw_and_decoded() {
    let email =
        EmailSender::from_config(&config("smtp://user:pa%24%24word@127.0.0.1:2525")).expect("valid").expect("set");
    assert_eq!(email.scrub("x pa$$word y pa%24%24word z".into()), "x **** y **** z");
    assert_eq!(email.endpoint(), "smtp://127.0.0.1:2525");
}

#[test]
fn config_without_a_url_means_no_email() {
    let none = EmailSender::from_config(&SmtpConfig::default()).expect("fine");
    assert!(none.is_none());
    assert!(EmailSender::from_config(&config("   ")).expect("fine").is_none());
}

#[test]
fn bad_urls_and_senders_are_refused() {
    for bad in [
        "http://mail.example.com",
        "mail.example.com:25",
        "smtp://",
        "smtp://:25",
        "smtp://host:0",
        "smtp://host:65536",
        "smtp://host:x",
        "smtp://host/path",
        "smtp://host?tls=required",
        "smtp://user@host",
        "smtp://:pw@host",
        "smtp://u:p%zz@host",
        "smtp://[::1",
        "smtp://[nonsense]:25",
    ] {
        let err = EmailSender::from_config(&config(bad)).expect_err(bad);
        assert!(err.starts_with("smtp.url"), "{bad}: {err}");
    }
    let bad_from = SmtpConfig { url: Secret::new("smtp://127.0.0.1:25"), from: "not a mailbox".into() };
    let err = EmailSender::from_config(&bad_from).expect_err("bad from");
    assert!(err.contains("smtp.from"), "{err}");
}

#[test]
fn edge_forms_are_refused_as_before() {
    for bad in
        ["smtp://host:", "smtp://[::1]:", "smtp://@host", "smtp://u:@host", "smtp://u:p%4@host", "smtp://ho%41st"]
    {
        let err = parse_url(bad).expect_err(bad);
        assert!(err.starts_with("smtp.url"), "{bad}: {err}");
    }
    let parsed = parse_url("smtp://u:p:w@Relay_1.local:025/").expect("colon in the password");
    assert_eq!((parsed.host.as_str(), parsed.port), ("Relay_1.local", 25));
    assert_eq!(parsed.credentials, Some(("u".to_string(), "p:w".to_string())));
}

#[test]
fn url_forms_and_default_ports() {
    let parsed = parse_url("smtp://relay.local").expect("plain");
    assert_eq!((parsed.security, parsed.host.as_str(), parsed.port), (Security::Plain, "relay.local", 25));
    assert_eq!(parsed.credentials, None);
    let parsed = parse_url("smtps://smtp.example.com/").expect("tls");
    assert_eq!((parsed.security, parsed.port), (Security::Wrapper, 465));
    let parsed = parse_url("SMTP+STARTTLS://a%40b.com:p%3Aw@smtp.example.com").expect("starttls");
    assert_eq!((parsed.security, parsed.port), (Security::StartTls, 587));
    assert_eq!(parsed.credentials, Some(("a@b.com".to_string(), "p:w".to_string())));
    let parsed = parse_url("smtp://u:p@w@[::1]:2525").expect("v6, @ in the password");
    assert_eq!((parsed.host.as_str(), parsed.port), ("::1", 2525));
    assert_eq!(parsed.credentials, Some(("u".to_string(), "p@w".to_string())));
    for url in ["smtps://smtp.example.com", "smtp+starttls://u:p@smtp.example.com:2587"] {
        let email = sender(url);
        assert!(email.endpoint().ends_with(if url.ends_with("2587") { ":2587" } else { ":465" }));
    }
}

#[tokio::test]
async fn the_sink_serves_many_connections_and_stops_when_dropped() {
    let sink = start_smtp().await.expect("sink starts");
    let email = sender(&sink.url());
    let sends = (0..6).map(|i| {
        let email = email.clone();
        async move { email.send(&row(&format!("u{i}@example.com"), "s", "b", 0), 0, &policy(1_000, 8)).await }
    });
    let attempts = futures_util::future::join_all(sends).await;
    assert!(attempts.iter().all(|a| matches!(a, Attempt::Sent { .. })), "{attempts:?}");
    let waiting = sink.wait_for(|m| m.to == ["late@example.com"], WAIT);
    let late_row = row("late@example.com", "s", "b", 0);
    let late_policy = policy(1_000, 8);
    let late = email.send(&late_row, 0, &late_policy);
    let (found, sent) = tokio::join!(waiting, late);
    assert!(matches!(sent, Attempt::Sent { .. }), "{sent:?}");
    assert!(found.is_some());
    assert_eq!(sink.messages().len(), 7);
    assert!(sink.wait_for(|m| m.to == ["never@example.com"], Duration::from_millis(50)).await.is_none());

    let port = sink.port();
    drop(sink);
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the sink still accepts after drop");
}

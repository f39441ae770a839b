//! Email alerts over SMTP (lettre, rustls). One connection per message: the
//! outbox worker sends a handful of operator alerts, not bulk mail.
//!
//! `smtp.url` forms:
//! - `smtp://host[:port]` — plain SMTP, no TLS (a local relay or a test sink; port 25);
//! - `smtp://user:pass@host[:port]` — the same with AUTH (percent-encode `@`, `:` in user or password);
//! - `smtps://[user:pass@]host[:port]` — implicit TLS (port 465);
//! - `smtp+starttls://[user:pass@]host[:port]` — STARTTLS required (port 587).
//!
//! [`test_sink`] is a small in-process SMTP server for tests (unit and integration).

use super::outbox::{backoff_ms, Attempt, OutboxRow};
use crate::config::SmtpConfig;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::time::Duration;

/// Connect and per-command timeout.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts.
const RETRY_CAP_MS: u64 = 3_600_000;
/// Provider ids are stored in the outbox; keep them short.
const PROVIDER_ID_MAX: usize = 200;

/// Sends outbox rows of the email channel. Cheap to clone.
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `scheme://host:port`, for logs and errors; never credentials.
    endpoint: String,
    /// Text scrubbed from error messages (the password, raw and decoded).
    secrets: Vec<String>,
}

impl fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSender").field("endpoint", &self.endpoint).field("from", &self.from.to_string()).finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    /// Implicit TLS from the first byte (SMTPS).
    Wrapper,
    StartTls,
}

#[derive(Debug, PartialEq, Eq)]
struct SmtpUrl {
    security: Security,
    host: String,
    port: u16,
    /// User and password, percent-decoded.
    credentials: Option<(String, String)>,
    /// The password as written in the URL (before decoding).
    raw_password: Option<String>,
}

impl EmailSender {
    /// `Ok(None)` when `smtp.url` is not set. Errors never quote the password.
    pub fn from_config(smtp: &SmtpConfig) -> Result<Option<EmailSender>, String> {
        let url = smtp.url.expose().trim();
        if url.is_empty() {
            return Ok(None);
        }
        let parsed = parse_url(url)?;
        let from: Mailbox = smtp.from.trim().parse().map_err(|e| {
            format!("smtp.from '{}' is not a valid mailbox (e.g. mkoba <alerts@example.com>): {e}", smtp.from)
        })?;
        let tls_error =
            |e: lettre::transport::smtp::Error| format!("smtp.url: cannot set up TLS for {}: {e}", parsed.host);
        let builder = match parsed.security {
            Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(parsed.host.as_str()),
            Security::Wrapper => AsyncSmtpTransport::<Tokio1Executor>::relay(&parsed.host).map_err(tls_error)?,
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&parsed.host).map_err(tls_error)?
            }
        };
        let mut builder = builder.port(parsed.port).timeout(Some(SMTP_TIMEOUT));
        let mut secrets = Vec::new();
        if let Some((user, password)) = &parsed.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            secrets.push(password.clone());
        }
        secrets.extend(parsed.raw_password.clone());
        // Scrubbing a very short password would mangle every message; such a
        // password is also very unlikely to be echoed by a server.
        secrets.retain(|s| s.len() >= 3);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        let scheme = match parsed.security {
            Security::Plain => "smtp",
            Security::Wrapper => "smtps",
            Security::StartTls => "smtp+starttls",
        };
        let endpoint = format!("{scheme}://{}:{}", host_for_display(&parsed.host), parsed.port);
        Ok(Some(EmailSender { transport: builder.build(), from, endpoint, secrets }))
    }

    /// Where mail goes (`scheme://host:port`), without credentials.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends one row as a plain-text email and says what came of it.
    pub async fn send(&self, row: &OutboxRow, now_ms: i64, retry_base_ms: u64, max_attempts: i32) -> Attempt {
        let (message, message_id) = match self.message(row) {
            Ok(built) => built,
            Err(error) => return Attempt::Failed { error },
        };
        match self.transport.send(message).await {
            Ok(response) => {
                let said = response.message().collect::<Vec<_>>().join(" ");
                let said = said.trim();
                let id = if said.is_empty() { message_id } else { said.chars().take(PROVIDER_ID_MAX).collect() };
                Attempt::Sent { provider_id: Some(id) }
            }
            Err(e) => {
                let error = self.scrub(format!("SMTP {}: {e}", self.endpoint));
                let tried = row.attempts.saturating_add(1);
                if e.is_permanent() {
                    Attempt::Failed { error }
                } else if tried >= max_attempts {
                    Attempt::Failed { error: format!("{error} (gave up after {tried} attempts)") }
                } else {
                    let wait = backoff_ms(retry_base_ms, row.attempts, RETRY_CAP_MS);
                    Attempt::Retry { error, next_attempt_at_ms: now_ms.saturating_add(wait) }
                }
            }
        }
    }

    /// The email for a row, and its Message-ID. Errors are permanent.
    fn message(&self, row: &OutboxRow) -> Result<(Message, String), String> {
        let to: Mailbox = row
            .recipient
            .trim()
            .parse()
            .map_err(|e| format!("invalid recipient address '{}': {e}", row.recipient.escape_debug()))?;
        let domain = self.from.email.domain().to_string();
        let message_id = format!("<mkoba.{}.{:016x}@{domain}>", row.id, rand::random::<u64>());
        // A subject is one header line.
        let subject: String = row.subject.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(row.body.clone())
            .map_err(|e| format!("cannot build the email: {e}"))?;
        Ok((message, message_id))
    }

    fn scrub(&self, mut text: String) -> String {
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "****");
            }
        }
        text
    }
}

fn host_for_display(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Parses `smtp.url`. Messages name the part that is wrong, never the password.
fn parse_url(url: &str) -> Result<SmtpUrl, String> {
    const FORMS: &str = "expected smtp://host[:port], smtps://host[:port] or smtp+starttls://host[:port], \
        optionally with user:password@ before the host";
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("smtp.url is not a URL: {FORMS}"));
    };
    let (security, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "smtp" => (Security::Plain, 25),
        "smtps" => (Security::Wrapper, 465),
        "smtp+starttls" => (Security::StartTls, 587),
        other => {
            let shown = if other.len() <= 20 && other.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
            {
                format!(" '{other}'")
            } else {
                String::new()
            };
            return Err(format!("smtp.url has an unsupported scheme{shown}: {FORMS}"));
        }
    };
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, rest),
    };
    let hostport = hostport.strip_suffix('/').unwrap_or(hostport);
    if hostport.contains(['/', '?', '#']) {
        return Err(format!(
            "smtp.url must not have a path or query (lettre-style ?tls= options are not read): {FORMS}"
        ));
    }
    let (host, port) = split_host_port(hostport)?;
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("smtp.url has a bad port '{}' (1 to 65535)", p.escape_debug())),
        },
    };
    let valid_host = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
        && (!host.contains(':') || host.parse::<std::net::Ipv6Addr>().is_ok());
    if !valid_host {
        return Err(format!("smtp.url has a bad host '{}': {FORMS}", host.escape_debug()));
    }
    let (credentials, raw_password) = match userinfo {
        None => (None, None),
        Some(userinfo) => {
            let Some((user, password)) = userinfo.split_once(':') else {
                return Err("smtp.url has a user but no password (write user:password@host)".into());
            };
            let user = percent_decode(user).ok_or("smtp.url: the user name has a bad %-escape")?;
            let decoded = percent_decode(password).ok_or("smtp.url: the password has a bad %-escape")?;
            if user.is_empty() || decoded.is_empty() {
                return Err("smtp.url: the user name and the password must not be empty".into());
            }
            (Some((user, decoded)), Some(password.to_string()))
        }
    };
    Ok(SmtpUrl { security, host: host.to_string(), port, credentials, raw_password })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("smtp.url has an unclosed '[' in the host".into());
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("smtp.url: only an IPv6 address goes between '[' and ']'".into());
        }
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err("smtp.url: expected ':port' after ']'".into()),
            },
        };
    }
    Ok(match hostport.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A small SMTP server (RFC 5321 subset) for tests: it accepts every
/// message, keeps it in memory and can be told to refuse the next ones.
#[doc(hidden)]
pub mod test_sink {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
    use std::time::Duration;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Notify;
    use tokio::task::{JoinHandle, JoinSet};

    /// Longest line read at once (RFC 5321 allows 1000 octets).
    const MAX_LINE: u64 = 64 * 1024;
    /// Larger messages are refused with 552.
    const MAX_MESSAGE: usize = 16 * 1024 * 1024;

    /// A message as the sink received it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ReceivedMail {
        /// The envelope sender (MAIL FROM), without angle brackets.
        pub from: String,
        /// The envelope recipients (RCPT TO), without angle brackets.
        pub to: Vec<String>,
        /// The DATA as sent (headers and body, CRLF line ends), dot-unstuffed.
        pub data: String,
    }

    /// When an injected failure is answered.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FailAt {
        /// In reply to RCPT TO (every recipient of the transaction).
        Rcpt,
        /// In reply to the end of DATA; the message is not kept.
        Data,
    }

    #[derive(Debug, Clone, Copy)]
    struct Fault {
        remaining: u32,
        code: u16,
        at: FailAt,
    }

    #[derive(Default)]
    struct Shared {
        messages: Mutex<Vec<ReceivedMail>>,
        fault: Mutex<Option<Fault>>,
        arrived: Notify,
        queued: AtomicU64,
    }

    impl Shared {
        fn take_fault(&self, at: FailAt) -> Option<u16> {
            let mut fault = lock(&self.fault);
            let f = fault.as_mut().filter(|f| f.at == at && f.remaining > 0)?;
            f.remaining -= 1;
            let code = f.code;
            if f.remaining == 0 {
                *fault = None;
            }
            Some(code)
        }
    }

    fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A running sink; it stops (and drops its connections) when dropped.
    pub struct SmtpSink {
        port: u16,
        shared: Arc<Shared>,
        accept: JoinHandle<()>,
    }

    impl std::fmt::Debug for SmtpSink {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SmtpSink").field("port", &self.port).finish()
        }
    }

    /// Starts a sink on 127.0.0.1 and a free port. Needs a Tokio runtime.
    pub async fn start() -> std::io::Result<SmtpSink> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared::default());
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(SmtpSink { port, shared, accept })
    }

    impl SmtpSink {
        pub fn port(&self) -> u16 {
            self.port
        }

        /// `smtp://127.0.0.1:PORT`, for `SmtpConfig::url`.
        pub fn url(&self) -> String {
            format!("smtp://127.0.0.1:{}", self.port)
        }

        /// Every message accepted so far, oldest first.
        pub fn messages(&self) -> Vec<ReceivedMail> {
            lock(&self.shared.messages).clone()
        }

        /// The next `n` transactions are refused with `code` (a 4xx or 5xx
        /// reply code) at RCPT TO. `n = 0` clears a pending injection.
        pub fn fail_next(&self, n: u32, code: u16) {
            self.fail_next_at(n, code, FailAt::Rcpt);
        }

        /// Like [`SmtpSink::fail_next`], choosing when the refusal comes.
        pub fn fail_next_at(&self, n: u32, code: u16, at: FailAt) {
            *lock(&self.shared.fault) = (n > 0).then_some(Fault { remaining: n, code, at });
        }

        /// The first message (received before or during the wait) that
        /// satisfies `pred`, or `None` after `timeout`.
        pub async fn wait_for(&self, pred: impl Fn(&ReceivedMail) -> bool, timeout: Duration) -> Option<ReceivedMail> {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let arrived = self.shared.arrived.notified();
                tokio::pin!(arrived);
                // Registered before looking, so no arrival is missed.
                arrived.as_mut().enable();
                if let Some(found) = lock(&self.shared.messages).iter().find(|m| pred(m)) {
                    return Some(found.clone());
                }
                if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                    return lock(&self.shared.messages).iter().find(|m| pred(m)).cloned();
                }
            }
        }
    }

    impl Drop for SmtpSink {
        fn drop(&mut self) {
            // The accept task owns the connection tasks: they end with it.
            self.accept.abort();
        }
    }

    async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        sessions.spawn(session(stream, Arc::clone(&shared)));
                    }
                    // Out of file descriptors and the like: try again shortly.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                },
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
    }

    async fn session(stream: TcpStream, shared: Arc<Shared>) {
        // An I/O error ends the session, as a hang-up does.
        let _ = serve(stream, &shared).await;
    }

    struct Transaction {
        from: String,
        to: Vec<String>,
        /// The injected reply code every RCPT of this transaction gets.
        refused: Option<u16>,
    }

    async fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        write.write_all(b"220 127.0.0.1 mkoba test sink ESMTP ready\r\n").await?;
        let mut tx: Option<Transaction> = None;
        let mut line = Vec::new();
        loop {
            line.clear();
            if (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line).await? == 0 {
                return Ok(());
            }
            let text = String::from_utf8_lossy(&line);
            let command = text.trim_end_matches(['\r', '\n']);
            let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
            let reply: String = match verb.to_ascii_uppercase().as_str() {
                "EHLO" => "250-127.0.0.1 greets you\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 16777216\r\n".into(),
                "HELO" => "250 127.0.0.1\r\n".into(),
                "MAIL" => match (path_arg(arg, "FROM:"), &tx) {
                    (None, _) => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".into(),
                    (Some(_), Some(_)) => "503 5.5.1 Nested MAIL command\r\n".into(),
                    (Some(from), None) => {
                        tx = Some(Transaction { from, to: Vec::new(), refused: None });
                        "250 2.1.0 Ok\r\n".into()
                    }
                },
                "RCPT" => match (path_arg(arg, "TO:"), tx.as_mut()) {
                    (_, None) => "503 5.5.1 Need MAIL before RCPT\r\n".into(),
                    (None, Some(_)) => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".into(),
                    (Some(to), Some(t)) => {
                        if t.refused.is_none() {
                            t.refused = shared.take_fault(FailAt::Rcpt);
                        }
                        match t.refused {
                            Some(code) => injected(code),
                            None => {
                                t.to.push(to);
                                "250 2.1.5 Ok\r\n".into()
                            }
                        }
                    }
                },
                "DATA" => match tx.take() {
                    None => "503 5.5.1 Need MAIL before DATA\r\n".into(),
                    Some(t) if t.to.is_empty() => {
                        tx = Some(t);
                        "554 5.5.1 No valid recipients\r\n".into()
                    }
                    Some(t) => {
                        write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                        match read_data(&mut reader).await? {
                            None => return Ok(()),
                            Some(None) => "552 5.3.4 Message too big\r\n".into(),
                            Some(Some(data)) => match shared.take_fault(FailAt::Data) {
                                Some(code) => injected(code),
                                None => {
                                    let n = shared.queued.fetch_add(1, Ordering::Relaxed) + 1;
                                    lock(&shared.messages).push(ReceivedMail { from: t.from, to: t.to, data });
                                    shared.arrived.notify_waiters();
                                    format!("250 2.0.0 Ok: queued as SINK{n}\r\n")
                                }
                            },
                        }
                    }
                },
                "RSET" => {
                    tx = None;
                    "250 2.0.0 Ok\r\n".into()
                }
                "NOOP" => "250 2.0.0 Ok\r\n".into(),
                "QUIT" => {
                    write.write_all(b"221 2.0.0 Bye\r\n").await?;
                    return Ok(());
                }
                _ => "502 5.5.2 Command not recognised\r\n".into(),
            };
            write.write_all(reply.as_bytes()).await?;
        }
    }

    fn injected(code: u16) -> String {
        format!("{code} {}.0.0 Injected failure\r\n", code / 100)
    }

    /// `FROM:<a@b> BODY=8BITMIME` → `a@b`; `None` when malformed.
    fn path_arg(arg: &str, keyword: &str) -> Option<String> {
        let head = arg.get(..keyword.len())?;
        if !head.eq_ignore_ascii_case(keyword) {
            return None;
        }
        let rest = arg[keyword.len()..].trim_start();
        match rest.strip_prefix('<') {
            Some(inner) => inner.split_once('>').map(|(path, _)| path.to_string()),
            None => rest.split_whitespace().next().map(str::to_string),
        }
    }

    /// Reads DATA up to the lone ".". `Ok(None)`: the client hung up;
    /// `Ok(Some(None))`: the message was too big.
    async fn read_data<R>(reader: &mut BufReader<R>) -> std::io::Result<Option<Option<String>>>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        let mut data = Vec::new();
        let mut too_big = false;
        let mut line = Vec::new();
        let mut at_line_start = true;
        loop {
            line.clear();
            if (&mut *reader).take(MAX_LINE).read_until(b'\n', &mut line).await? == 0 {
                return Ok(None);
            }
            let mut chunk = line.as_slice();
            if at_line_start {
                if chunk == b".\r\n" || chunk == b".\n" {
                    break;
                }
                // Dot-unstuffing (RFC 5321 §4.5.2).
                if chunk.first() == Some(&b'.') {
                    chunk = &chunk[1..];
                }
            }
            at_line_start = line.last() == Some(&b'\n');
            if data.len() + chunk.len() > MAX_MESSAGE {
                too_big = true;
            }
            if !too_big {
                data.extend_from_slice(chunk);
            }
        }
        Ok(Some((!too_big).then(|| String::from_utf8_lossy(&data).into_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::test_sink::{self, FailAt, ReceivedMail};
    use super::*;
    use crate::config::Secret;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    const WAIT: Duration = Duration::from_secs(5);

    fn config(url: &str) -> SmtpConfig {
        SmtpConfig { url: Secret::new(url), from: "mkoba <alerts@localhost>".into() }
    }

    fn sender(url: &str) -> EmailSender {
        EmailSender::from_config(&config(url)).expect("valid config").expect("url is set")
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
        let sink = test_sink::start().await.expect("sink starts");
        let email = sender(&sink.url());
        let r = row("ops@example.com", "mkoba: agent Juma float low", "Float is KES 900.00.\nTop it up.\n", 0);
        let attempt = email.send(&r, 1_000, 2_000, 8).await;
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
        let sink = test_sink::start().await.expect("sink starts");
        let r = row("ops@example.com", "dots", "first\n.hidden\n..two\n.\nlast\n", 0);
        let attempt = sender(&sink.url()).send(&r, 0, 1_000, 3).await;
        assert!(matches!(attempt, Attempt::Sent { .. }), "{attempt:?}");
        let mail = sink.wait_for(|_| true, WAIT).await.expect("received");
        assert_eq!(body(&mail).replace("\r\n", "\n").trim_end(), "first\n.hidden\n..two\n.\nlast");
    }

    #[tokio::test]
    async fn a_transient_refusal_is_retried_with_backoff() {
        let sink = test_sink::start().await.expect("sink starts");
        let email = sender(&sink.url());
        sink.fail_next(1, 451);
        let attempt = email.send(&row("ops@example.com", "s", "b", 2), 10_000, 1_000, 8).await;
        let Attempt::Retry { error, next_attempt_at_ms } = attempt else { panic!("not a retry: {attempt:?}") };
        assert!(error.contains("451"), "{error}");
        assert_eq!(next_attempt_at_ms, 10_000 + 4_000);
        assert!(sink.messages().is_empty());
        // The injection is used up: the next attempt goes through.
        let attempt = email.send(&row("ops@example.com", "s", "b", 3), 20_000, 1_000, 8).await;
        assert!(matches!(attempt, Attempt::Sent { .. }), "{attempt:?}");
        assert_eq!(sink.messages().len(), 1);
    }

    #[tokio::test]
    async fn a_transient_refusal_after_the_data_is_retried() {
        let sink = test_sink::start().await.expect("sink starts");
        sink.fail_next_at(1, 452, FailAt::Data);
        let attempt = sender(&sink.url()).send(&row("ops@example.com", "s", "b", 0), 0, 1_000, 8).await;
        assert!(matches!(attempt, Attempt::Retry { next_attempt_at_ms: 1_000, .. }), "{attempt:?}");
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn a_permanent_refusal_fails_at_once() {
        let sink = test_sink::start().await.expect("sink starts");
        let email = sender(&sink.url());
        sink.fail_next(1, 550);
        let attempt = email.send(&row("nobody@example.com", "s", "b", 0), 0, 1_000, 8).await;
        let Attempt::Failed { error } = attempt else { panic!("not failed: {attempt:?}") };
        assert!(error.contains("550"), "{error}");
        sink.fail_next_at(1, 554, FailAt::Data);
        let attempt = email.send(&row("nobody@example.com", "s", "b", 0), 0, 1_000, 8).await;
        assert!(matches!(attempt, Attempt::Failed { .. }), "{attempt:?}");
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn transient_errors_fail_once_attempts_run_out() {
        let sink = test_sink::start().await.expect("sink starts");
        sink.fail_next(1, 451);
        let attempt = sender(&sink.url()).send(&row("ops@example.com", "s", "b", 7), 0, 1_000, 8).await;
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
        let attempt = email.send(&row("ops@example.com", "s", "b", 0), 5, 500, 8).await;
        let Attempt::Retry { error, next_attempt_at_ms } = attempt else { panic!("not a retry: {attempt:?}") };
        assert_eq!(next_attempt_at_ms, 505);
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    }

    #[tokio::test]
    async fn an_invalid_recipient_fails_without_contacting_the_server() {
        let sink = test_sink::start().await.expect("sink starts");
        let email = sender(&sink.url());
        for bad in ["not an address", "", "a@b@c"] {
            let attempt = email.send(&row(bad, "s", "b", 0), 0, 1_000, 8).await;
            let Attempt::Failed { error } = attempt else { panic!("{bad:?}: not failed: {attempt:?}") };
            assert!(error.contains("recipient"), "{error}");
        }
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn errors_never_show_the_password() {
        // The sink offers no AUTH, so a sender with credentials cannot log in.
        let sink = test_sink::start().await.expect("sink starts");
        let email = sender(&format!("smtp://alerts%40example.com:s3cr%3At-pw@127.0.0.1:{}", sink.port()));
        assert!(!format!("{email:?}").contains("s3cr"));
        let attempt = email.send(&row("ops@example.com", "s", "b", 0), 0, 1_000, 8).await;
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

    /// One SMTP reply, all its lines.
    async fn reply(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            read.read_line(&mut line).await.expect("read");
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    #[tokio::test]
    async fn the_sink_speaks_enough_smtp() {
        let sink = test_sink::start().await.expect("sink starts");
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", sink.port())).await.expect("connect");
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        assert!(reply(&mut read).await.starts_with("220 "));
        let script: &[(&str, &str)] = &[
            ("EHLO client.test\r\n", "250 "),
            ("VRFY root\r\n", "502 "),
            ("RCPT TO:<a@b>\r\n", "503 "),
            ("MAIL FROM:<me@here> BODY=8BITMIME\r\n", "250 "),
            ("MAIL FROM:<again@here>\r\n", "503 "),
            ("DATA\r\n", "554 "),
            ("RSET\r\n", "250 "),
            ("MAIL FROM:<me@here>\r\n", "250 "),
            ("RCPT TO:<you@there>\r\n", "250 "),
            ("rcpt to:<other@there>\r\n", "250 "),
            ("NOOP\r\n", "250 "),
            ("DATA\r\n", "354 "),
            ("Subject: hi\r\n\r\n..leading dot\r\nplain\r\n.\r\n", "250 "),
            ("HELO again\r\n", "250 "),
            ("QUIT\r\n", "221 "),
        ];
        for (send, expect) in script {
            write.write_all(send.as_bytes()).await.expect("write");
            let got = reply(&mut read).await;
            assert!(got.lines().last().is_some_and(|l| l.starts_with(expect)), "{send:?} → {got:?}");
        }
        let mail = sink.wait_for(|m| m.from == "me@here", WAIT).await.expect("kept");
        assert_eq!(mail.to, ["you@there", "other@there"]);
        assert_eq!(mail.data, "Subject: hi\r\n\r\n.leading dot\r\nplain\r\n");
    }

    #[tokio::test]
    async fn the_sink_serves_many_connections_and_stops_when_dropped() {
        let sink = test_sink::start().await.expect("sink starts");
        let email = sender(&sink.url());
        let sends = (0..6).map(|i| {
            let email = email.clone();
            async move { email.send(&row(&format!("u{i}@example.com"), "s", "b", 0), 0, 1_000, 8).await }
        });
        let attempts = futures_util::future::join_all(sends).await;
        assert!(attempts.iter().all(|a| matches!(a, Attempt::Sent { .. })), "{attempts:?}");
        let waiting = sink.wait_for(|m| m.to == ["late@example.com"], WAIT);
        let late_row = row("late@example.com", "s", "b", 0);
        let late = email.send(&late_row, 0, 1_000, 8);
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
}

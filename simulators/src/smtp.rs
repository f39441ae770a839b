//! A small SMTP server (RFC 5321 subset) for tests, in process: it accepts
//! every message on a loopback port, keeps it in memory and can be told to
//! refuse the next ones (at RCPT TO or after DATA) with a given reply code.
//! No AUTH, no TLS: point `smtp.url` at [`SmtpSink::url`].

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
pub async fn start_smtp() -> std::io::Result<SmtpSink> {
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
            "MAIL" => mail(arg, &mut tx),
            "RCPT" => rcpt(arg, tx.as_mut(), shared),
            "DATA" => match data(&mut tx, &mut reader, &mut write, shared).await? {
                Some(reply) => reply,
                None => return Ok(()),
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

/// MAIL FROM: starts a transaction.
fn mail(arg: &str, tx: &mut Option<Transaction>) -> String {
    match (path_arg(arg, "FROM:"), &tx) {
        (None, _) => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".into(),
        (Some(_), Some(_)) => "503 5.5.1 Nested MAIL command\r\n".into(),
        (Some(from), None) => {
            *tx = Some(Transaction { from, to: Vec::new(), refused: None });
            "250 2.1.0 Ok\r\n".into()
        }
    }
}

/// RCPT TO: adds a recipient, unless an injected failure refuses the
/// transaction's recipients.
fn rcpt(arg: &str, tx: Option<&mut Transaction>, shared: &Shared) -> String {
    match (path_arg(arg, "TO:"), tx) {
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
    }
}

/// DATA: reads the message and keeps it, or refuses it. `None` when the
/// client hung up during the data.
async fn data<R, W>(
    tx: &mut Option<Transaction>,
    reader: &mut BufReader<R>,
    write: &mut W,
    shared: &Shared,
) -> std::io::Result<Option<String>>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let reply = match tx.take() {
        None => "503 5.5.1 Need MAIL before DATA\r\n".into(),
        Some(t) if t.to.is_empty() => {
            *tx = Some(t);
            "554 5.5.1 No valid recipients\r\n".into()
        }
        Some(t) => {
            write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            match read_data(reader).await? {
                None => return Ok(None),
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
    };
    Ok(Some(reply))
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

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

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
        let sink = start_smtp().await.expect("sink starts");
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
}

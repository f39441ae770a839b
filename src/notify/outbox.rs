//! The outbox table: enqueue inside a business transaction, claim with a
//! lease, record the outcome. Several processes can drain it: a claim is a
//! conditional update, and PostgreSQL skips rows another claim holds.

use super::delivery::{self, Report, State};
use crate::db::prepared::{self, Prepared};
use crate::db::DbConn;
use crate::ledger::LedgerError;
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

/// A message to send once the transaction that wrote it commits.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: Channel,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// Enqueueing the same key twice keeps one message.
    pub dedupe_key: Option<String>,
    /// SMS: the `from` to send with instead of `sms.sender_id` (a reply
    /// from the short code the customer texted).
    pub sender: Option<String>,
    /// SMS: the inbound message's `linkId` this one answers.
    pub link_id: Option<String>,
}

impl NewMessage {
    pub fn sms(to: &str, body: String, dedupe_key: Option<String>) -> NewMessage {
        NewMessage {
            channel: Channel::Sms,
            recipient: to.to_string(),
            subject: String::new(),
            body,
            dedupe_key,
            sender: None,
            link_id: None,
        }
    }

    /// Sent from `sender` (when not empty), passing `link_id` through (when
    /// not empty).
    pub fn routed(mut self, sender: &str, link_id: &str) -> NewMessage {
        self.sender = Some(sender.trim().to_string()).filter(|s| !s.is_empty());
        self.link_id = Some(link_id.trim().to_string()).filter(|s| !s.is_empty());
        self
    }

    pub fn email(to: &str, subject: String, body: String, dedupe_key: Option<String>) -> NewMessage {
        NewMessage {
            channel: Channel::Email,
            recipient: to.to_string(),
            subject,
            body,
            dedupe_key,
            sender: None,
            link_id: None,
        }
    }
}

#[derive(Debug, Clone, QueryableByName)]
pub struct OutboxRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub channel: String,
    #[diesel(sql_type = Text)]
    pub recipient: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub provider_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub delivery_status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub sender: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub link_id: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub created_at_ms: i64,
}

/// The columns of an [`OutboxRow`], for `SELECT {COLUMNS} FROM outbox`.
pub const COLUMNS: &str = "id, channel, recipient, subject, body, status, attempts, provider_id, delivery_status, \
     last_error, sender, link_id, created_at_ms";

/// Writes a message in the caller's transaction. Returns false when a
/// message with the same dedupe key already exists.
pub fn enqueue(conn: &mut DbConn, msg: &NewMessage, now_ms: i64) -> Result<bool, LedgerError> {
    const SQL: &str = "INSERT INTO outbox (channel, recipient, subject, body, dedupe_key, sender, link_id, \
        next_attempt_at_ms, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
    let n = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<Text, _>(msg.channel.as_str())
        .bind::<Text, _>(msg.recipient.clone())
        .bind::<Text, _>(msg.subject.clone())
        .bind::<Text, _>(msg.body.clone())
        .bind::<Nullable<Text>, _>(msg.dedupe_key.clone())
        .bind::<Nullable<Text>, _>(msg.sender.clone())
        .bind::<Nullable<Text>, _>(msg.link_id.clone())
        .bind::<BigInt, _>(now_ms)
        .bind::<BigInt, _>(now_ms)
        .bind::<BigInt, _>(now_ms)
        .execute(c))?;
    Ok(n == 1)
}

/// Writes many messages without dedupe keys in the caller's transaction, in
/// a few multi-row statements.
pub fn enqueue_all(conn: &mut DbConn, msgs: &[NewMessage], now_ms: i64) -> Result<(), LedgerError> {
    for chunk in msgs.chunks(prepared::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO outbox (channel, recipient, subject, body, next_attempt_at_ms, created_at_ms, \
             updated_at_ms) VALUES {}",
            prepared::rows(chunk.len(), 7)
        );
        with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone());
            for msg in chunk {
                debug_assert!(msg.dedupe_key.is_none(), "enqueue_all does not dedupe");
                debug_assert!(msg.sender.is_none() && msg.link_id.is_none(), "enqueue_all does not route");
                q = q
                    .bind::<Text, _>(msg.channel.as_str())
                    .bind::<Text, _>(msg.recipient.clone())
                    .bind::<Text, _>(msg.subject.clone())
                    .bind::<Text, _>(msg.body.clone())
                    .bind::<BigInt, _>(now_ms)
                    .bind::<BigInt, _>(now_ms)
                    .bind::<BigInt, _>(now_ms);
            }
            q.execute(c)
        })?;
    }
    Ok(())
}

/// Whether anything of a channel may be due: a cheap read that spares idle
/// workers a write transaction per poll.
pub fn any_due(conn: &mut DbConn, channel: Channel, now_ms: i64) -> Result<bool, LedgerError> {
    #[derive(QueryableByName)]
    struct One {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    const SQL: &str = "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM (SELECT id FROM outbox WHERE channel = $1 AND \
        ((status = 'pending' AND next_attempt_at_ms <= $2) OR (status = 'sending' AND lease_until_ms < $2)) LIMIT 1) due";
    let rows: Vec<One> = with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(channel.as_str())
        .bind::<BigInt, _>(now_ms)
        .load(c))?;
    Ok(rows.first().is_some_and(|r| r.n > 0))
}

/// Messages of `channel` not yet sent (waiting, due or being sent): the
/// backlog `GET /metrics` shows.
pub fn pending(conn: &mut DbConn, channel: Channel) -> Result<i64, LedgerError> {
    #[derive(QueryableByName)]
    struct One {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    const SQL: &str =
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM outbox WHERE status IN ('pending', 'sending') AND channel = $1";
    let rows: Vec<One> = with_conn!(conn, c => diesel::sql_query(SQL).bind::<Text, _>(channel.as_str()).load(c))?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// Claims up to `limit` due messages of a channel for `lease_ms`: pending
/// ones whose time has come, and sending ones whose lease ran out (their
/// sender died).
pub fn claim_due(
    conn: &mut DbConn,
    channel: Channel,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, LedgerError> {
    let skip_locked = match conn {
        DbConn::Pg(_) => " FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE outbox SET status = 'sending', lease_until_ms = $1, updated_at_ms = $2 WHERE id IN \
         (SELECT id FROM outbox WHERE channel = $3 AND ((status = 'pending' AND next_attempt_at_ms <= $2) \
         OR (status = 'sending' AND lease_until_ms < $2)) ORDER BY id LIMIT $4{skip_locked}) RETURNING {COLUMNS}"
    );
    let rows: Vec<OutboxRow> = with_conn!(conn, c => diesel::sql_query(sql.as_str())
        .bind::<BigInt, _>(now_ms.saturating_add(lease_ms))
        .bind::<BigInt, _>(now_ms)
        .bind::<Text, _>(channel.as_str())
        .bind::<BigInt, _>(limit)
        .load(c))?;
    Ok(rows)
}

/// What a send attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent {
        provider_id: Option<String>,
    },
    /// Try again at `next_attempt_at_ms`.
    Retry {
        error: String,
        next_attempt_at_ms: i64,
    },
    Failed {
        error: String,
    },
    /// Not the message's fault: the channel is paused (the aggregator
    /// refused mkoba's configuration). Back to pending as it was, the
    /// attempt not counted; `error` says why, if this send found out.
    Held {
        error: Option<String>,
    },
    /// No aggregator is configured: the message stays on this machine, in
    /// the local inbox ([`local_inbox`]), delivered as far as it goes.
    KeptLocally,
}

/// `delivery_status` of a message kept in the local inbox.
pub const LOCAL: &str = "local";

pub fn record(conn: &mut DbConn, id: i64, attempt: &Attempt, now_ms: i64) -> Result<(), LedgerError> {
    let local = matches!(attempt, Attempt::KeptLocally).then_some(LOCAL);
    let (status, provider_id, error, next_at, counted) = match attempt {
        Attempt::Sent { provider_id } => ("sent", provider_id.as_deref(), None, now_ms, 1i32),
        Attempt::KeptLocally => ("delivered", None, None, now_ms, 1),
        Attempt::Retry { error, next_attempt_at_ms } => ("pending", None, Some(error.as_str()), *next_attempt_at_ms, 1),
        Attempt::Failed { error } => ("failed", None, Some(error.as_str()), now_ms, 1),
        Attempt::Held { error } => ("pending", None, error.as_deref(), now_ms, 0),
    };
    // Only the holder of the claim records: a message is never marked twice.
    const SQL: &str = "UPDATE outbox SET status = $1, provider_id = COALESCE($2, provider_id), last_error = COALESCE($3, last_error), \
        delivery_status = COALESCE($4, delivery_status), attempts = attempts + $5, next_attempt_at_ms = $6, \
        lease_until_ms = 0, updated_at_ms = $7 WHERE id = $8 AND status = 'sending'";
    with_conn!(conn, c => diesel::sql_query(SQL)
        .bind::<Text, _>(status)
        .bind::<Nullable<Text>, _>(provider_id)
        .bind::<Nullable<Text>, _>(error)
        .bind::<Nullable<Text>, _>(local)
        .bind::<Integer, _>(counted)
        .bind::<BigInt, _>(next_at)
        .bind::<BigInt, _>(now_ms)
        .bind::<BigInt, _>(id)
        .execute(c))?;
    Ok(())
}

/// What a delivery report did to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportApplied {
    /// The message is now in this state (it may be the one it was in).
    Applied(State),
    /// The message is final already: nothing changed.
    Final(String),
    /// The id is known, but the report names another number: nothing changed.
    OtherNumber,
    /// No SMS has this provider id (yet).
    UnknownId,
}

/// Applies a delivery report for `provider_id` sent to `recipient` by
/// [`delivery::transitions`], in one conditional UPDATE: the state it meets
/// decides, not a state read earlier, so concurrent reports cannot race.
pub fn delivery_report(
    conn: &mut DbConn,
    provider_id: &str,
    recipient: &str,
    report: Report,
    recorded: &str,
    now_ms: i64,
) -> Result<ReportApplied, LedgerError> {
    #[derive(QueryableByName)]
    struct Status {
        #[diesel(sql_type = Text)]
        status: String,
    }
    let moves = delivery::transitions(report);
    if !moves.is_empty() {
        // The states are the enum's own names, never request text.
        let cases: String =
            moves.iter().map(|(from, to)| format!(" WHEN '{}' THEN '{}'", from.as_str(), to.as_str())).collect();
        let from: Vec<String> = moves.iter().map(|(from, _)| format!("'{}'", from.as_str())).collect();
        let sql = format!(
            "UPDATE outbox SET status = CASE status{cases} END, delivery_status = $1, updated_at_ms = $2 \
             WHERE provider_id = $3 AND channel = 'sms' AND recipient = $4 AND status IN ({}) RETURNING status",
            from.join(", ")
        );
        let rows: Vec<Status> = with_conn!(conn, c => diesel::sql_query(sql.as_str())
            .bind::<Text, _>(recorded)
            .bind::<BigInt, _>(now_ms)
            .bind::<Text, _>(provider_id)
            .bind::<Text, _>(recipient)
            .load(c))?;
        if let Some(state) = rows.first().and_then(|r| State::parse(&r.status)) {
            return Ok(ReportApplied::Applied(state));
        }
    }
    // Nothing moved: find out why, for the log (the UPDATE decided).
    #[derive(QueryableByName)]
    struct Known {
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = Text)]
        recipient: String,
    }
    const SQL: &str = "SELECT status, recipient FROM outbox WHERE provider_id = $1 AND channel = 'sms' LIMIT 1";
    let known: Vec<Known> = with_conn!(conn, c => diesel::sql_query(SQL).bind::<Text, _>(provider_id).load(c))?;
    Ok(match known.into_iter().next() {
        None => ReportApplied::UnknownId,
        Some(k) if k.recipient != recipient => ReportApplied::OtherNumber,
        Some(k) => ReportApplied::Final(k.status),
    })
}

/// Frees the dedupe keys of open alerts starting with `prefix` (an incident
/// is over), so the next incident alerts again. The alert rows stay, their
/// key suffixed `:resolved:<id>`. Returns how many were open.
pub fn resolve_alerts(conn: &mut DbConn, prefix: &str) -> Result<usize, LedgerError> {
    const SQL: &str = "UPDATE outbox SET dedupe_key = dedupe_key || ':resolved:' || CAST(id AS TEXT) \
        WHERE channel = 'email' AND dedupe_key LIKE $1 AND dedupe_key NOT LIKE '%:resolved:%'";
    let pattern = format!("{prefix}%");
    Ok(with_conn!(conn, c => diesel::sql_query(SQL).bind::<Text, _>(pattern.as_str()).execute(c))?)
}

/// The last `limit` SMS kept on this machine for `recipient` (no aggregator
/// configured), oldest first.
pub fn local_inbox(conn: &mut DbConn, recipient: &str, limit: i64) -> Result<Vec<OutboxRow>, LedgerError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM outbox WHERE recipient = $1 AND channel = 'sms' AND delivery_status = '{LOCAL}' \
         ORDER BY id DESC LIMIT $2"
    );
    let mut rows: Vec<OutboxRow> = with_conn!(conn, c => diesel::sql_query(sql.as_str())
        .bind::<Text, _>(recipient)
        .bind::<BigInt, _>(limit)
        .load(c))?;
    rows.reverse();
    Ok(rows)
}

/// Messages to one recipient, oldest first (for operators and tests).
pub fn for_recipient(conn: &mut DbConn, recipient: &str) -> Result<Vec<OutboxRow>, LedgerError> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE recipient = $1 ORDER BY id");
    Ok(with_conn!(conn, c => diesel::sql_query(sql.as_str()).bind::<Text, _>(recipient).load(c))?)
}

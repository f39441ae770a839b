//! Receipts for micro payments (SPEC §9): an SMS costs about as much as a
//! KES 1 payment, so the payer's receipt of a charge, or of a small payment
//! confirmed on a USSD screen (whose END screen already showed the
//! reference), is not sent on its own. The receipts feeder writes a
//! `digest_items` row instead ([`hold_back`]), and once a day, at
//! `receipts.digest_hour` local time, [`run_digest`] sends each customer one
//! SMS: count and total per counterparty, and the balance.
//!
//! Exactly once per customer and day, across processes and restarts: the
//! digest SMS (dedupe key `digest:{account}:{day}`) and the marking of its
//! items are written in one write transaction. An item that reaches the
//! table after its day's digest went waits for the next day's.

use super::outbox::{self, NewMessage};
use super::{receipts, Notices};
use crate::db::prepared::{self, Prepared};
use crate::db::DbConn;
use crate::ledger::{Language, Ledger, LedgerError, Receipt, TransferKind};
use crate::with_conn;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use std::sync::Arc;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;

/// Customers per digest transaction.
const CUSTOMERS_PER_RUN: i64 = 100;

/// A digest SMS stays within one SMS when it can.
const SMS_CHARS_MAX: usize = 160;

/// Longest counterparty name shown in a digest.
const NAME_CHARS_MAX: usize = 18;

/// How often each process looks for a digest to send.
const CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Whether the payer's receipt of this transfer waits for the digest.
pub(super) fn digested(r: &Receipt, idempotency_key: &str, digest_below_minor: i64) -> bool {
    match r.kind {
        TransferKind::Charge => true,
        TransferKind::P2p | TransferKind::MerchantPayment => {
            r.amount_minor <= digest_below_minor && idempotency_key.starts_with("ussd:")
        }
        _ => false,
    }
}

/// Keeps the payers' receipts for the digest (once per transfer), in the
/// feeder's transaction and a few multi-row statements.
pub(super) fn hold_back(conn: &mut DbConn, receipts: &[Receipt]) -> Result<(), LedgerError> {
    for chunk in receipts.chunks(prepared::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO digest_items (account_id, transfer_id, counterparty_id, amount_minor, created_at_ms) \
             VALUES {} ON CONFLICT (transfer_id) DO NOTHING",
            prepared::rows(chunk.len(), 5)
        );
        with_conn!(conn, c => {
            let mut q = Prepared::new(sql.clone());
            for r in chunk {
                q = q
                    .bind::<BigInt, _>(r.from.account_id.0)
                    .bind::<BigInt, _>(r.transfer_id.0)
                    .bind::<BigInt, _>(r.to.account_id.0)
                    .bind::<BigInt, _>(r.amount_minor)
                    .bind::<BigInt, _>(r.created_at_ms);
            }
            q.execute(c)
        })?;
    }
    Ok(())
}

/// The digest due at `now_ms`: its local day number and its cutoff (items
/// created before it belong to it). Before today's hour, yesterday's, so a
/// process that was down at the hour still sends it.
pub fn due_digest(now_ms: i64, digest_hour: u32, offset_minutes: i64) -> (i64, i64) {
    let offset_ms = offset_minutes.saturating_mul(60_000);
    let local_ms = now_ms.saturating_add(offset_ms);
    let hour_ms = i64::from(digest_hour.min(23)) * 3_600_000;
    let today = local_ms.div_euclid(DAY_MS);
    let day = if local_ms.rem_euclid(DAY_MS) >= hour_ms { today } else { today - 1 };
    (day, day * DAY_MS - offset_ms + hour_ms)
}

#[derive(QueryableByName)]
struct Waiting {
    #[diesel(sql_type = BigInt)]
    account_id: i64,
}

/// Customers with items before `cutoff_ms` not yet in a digest, and no
/// digest for `day` sent yet.
fn waiting(conn: &mut DbConn, day: i64, cutoff_ms: i64, limit: i64) -> Result<Vec<i64>, LedgerError> {
    const SQL: &str = "SELECT DISTINCT d.account_id AS account_id FROM digest_items d \
        WHERE d.digest_day IS NULL AND d.created_at_ms < ? AND NOT EXISTS (SELECT 1 FROM outbox o \
        WHERE o.dedupe_key = 'digest:' || CAST(d.account_id AS TEXT) || ':' || ?) ORDER BY d.account_id LIMIT ?";
    let rows: Vec<Waiting> = with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(cutoff_ms)
        .bind::<Text, _>(day.to_string())
        .bind::<BigInt, _>(limit)
        .load(c))?;
    Ok(rows.into_iter().map(|r| r.account_id).collect())
}

/// Whether any digest is due at `now_ms`: a read, to spare the write lock.
pub fn any_due(conn: &mut DbConn, notices: &Notices, now_ms: i64) -> Result<bool, LedgerError> {
    let (day, cutoff_ms) = due_digest(now_ms, notices.digest_hour, notices.day_offset_minutes);
    Ok(!waiting(conn, day, cutoff_ms, 1)?.is_empty())
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    account_id: i64,
    #[diesel(sql_type = BigInt)]
    counterparty_id: i64,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    total_minor: i64,
}

/// Sends the digests due at `now_ms` to up to [`CUSTOMERS_PER_RUN`]
/// customers and marks their items; returns how many it sent. Call it in a
/// write transaction, until it returns 0.
pub fn run_digest(conn: &mut DbConn, notices: &Notices, now_ms: i64) -> Result<usize, LedgerError> {
    let (day, cutoff_ms) = due_digest(now_ms, notices.digest_hour, notices.day_offset_minutes);
    if receipts::any_waiting_before(conn, cutoff_ms)? {
        // The feeder has not yet written every item of the day: soon.
        return Ok(0);
    }
    let customers = waiting(conn, day, cutoff_ms, CUSTOMERS_PER_RUN)?;
    if customers.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "SELECT account_id, counterparty_id, CAST(COUNT(*) AS BIGINT) AS n, CAST(SUM(amount_minor) AS BIGINT) \
         AS total_minor FROM digest_items WHERE digest_day IS NULL AND created_at_ms < ? AND account_id IN {} \
         GROUP BY account_id, counterparty_id",
        prepared::row(customers.len())
    );
    let totals: Vec<Total> = with_conn!(conn, c => {
        let mut q = Prepared::new(sql.clone()).bind::<BigInt, _>(cutoff_ms);
        for id in &customers {
            q = q.bind::<BigInt, _>(*id);
        }
        q.load(c)
    })?;
    let mut ids: Vec<i64> = totals.iter().flat_map(|t| [t.account_id, t.counterparty_id]).collect();
    ids.extend(&customers);
    let accounts = receipts::accounts_by_id(conn, ids)?;
    let mut sent = 0;
    for customer in customers {
        let Some(account) = accounts.get(&customer) else { continue };
        let Some(to) = account.msisdn.as_ref().map(|m| m.to_string()) else { continue };
        let lines: Vec<Line> = totals
            .iter()
            .filter(|t| t.account_id == customer)
            .map(|t| Line {
                name: accounts.get(&t.counterparty_id).map_or_else(|| "?".to_string(), |a| a.name.clone()),
                count: t.n,
                total_minor: t.total_minor,
            })
            .collect();
        let body = compose(notices, account.language, day, lines, account.balance_minor);
        let message = NewMessage::sms(&to, body, Some(format!("digest:{customer}:{day}")));
        if outbox::enqueue(conn, &message, now_ms)? {
            mark(conn, customer, day, cutoff_ms)?;
            sent += 1;
        }
    }
    Ok(sent)
}

fn mark(conn: &mut DbConn, account_id: i64, day: i64, cutoff_ms: i64) -> Result<(), LedgerError> {
    const SQL: &str = "UPDATE digest_items SET digest_day = ? WHERE account_id = ? AND digest_day IS NULL \
        AND created_at_ms < ?";
    with_conn!(conn, c => Prepared::new(SQL)
        .bind::<BigInt, _>(day)
        .bind::<BigInt, _>(account_id)
        .bind::<BigInt, _>(cutoff_ms)
        .execute(c))?;
    Ok(())
}

/// One counterparty's share of a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub name: String,
    pub count: i64,
    pub total_minor: i64,
}

/// The digest SMS: the day's count and total, the counterparties by total
/// (as many as fit in one SMS, then "+N more"), and the balance.
pub fn compose(notices: &Notices, lang: Language, day: i64, mut lines: Vec<Line>, balance_minor: i64) -> String {
    lines.sort_by(|a, b| b.total_minor.cmp(&a.total_minor).then_with(|| a.name.cmp(&b.name)));
    let count: i64 = lines.iter().map(|l| l.count).sum();
    let total = lines.iter().fold(0i64, |sum, l| sum.saturating_add(l.total_minor));
    let (_, month, day_of_month) = crate::domain::time::civil(day);
    let (date, count, total, balance) = (
        format!("{day_of_month:02}/{month:02}"),
        count.to_string(),
        notices.money(total),
        notices.money(balance_minor),
    );
    let shown: Vec<String> = lines
        .iter()
        .map(|l| {
            let name: String = l.name.chars().take(NAME_CHARS_MAX).collect();
            let (n, amount) = (l.count.to_string(), notices.money(l.total_minor));
            notices.text(lang, "digest_line", &[("name", name.trim()), ("count", &n), ("total", &amount)])
        })
        .collect();
    let render = |k: usize| {
        let mut parts: Vec<String> = shown[..k].to_vec();
        if k < shown.len() {
            let more = (shown.len() - k).to_string();
            parts.push(notices.text(lang, "digest_more", &[("n", &more)]));
        }
        let lines = parts.join(", ");
        notices.text(
            lang,
            "digest_sms",
            &[("date", &date), ("count", &count), ("total", &total), ("lines", &lines), ("balance", &balance)],
        )
    };
    (1..=shown.len())
        .rev()
        .map(render)
        .find(|text| text.chars().count() <= SMS_CHARS_MAX)
        .unwrap_or_else(|| render(shown.len().min(1)))
}

/// Sends the day's digests, from every process, until the process stops.
pub async fn run_digests(ledger: Ledger, notices: Arc<Notices>) {
    loop {
        let now = crate::domain::now_ms();
        let check = notices.clone();
        match ledger.read(move |conn| any_due(conn, &check, now)).await {
            Ok(true) => loop {
                let notices = notices.clone();
                match ledger.write(move |conn| run_digest(conn, &notices, now)).await {
                    Ok(0) => break,
                    Ok(n) => tracing::info!(customers = n, "digest receipts queued"),
                    Err(e) => {
                        tracing::warn!(error = %e, "digest receipts");
                        break;
                    }
                }
            },
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "looking for digest receipts"),
        }
        tokio::time::sleep(CHECK_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::i18n::Catalog;

    fn notices() -> Notices {
        Notices::new(&Config::default(), Arc::new(Catalog::load().expect("catalog")))
    }

    fn line(name: &str, count: i64, total_minor: i64) -> Line {
        Line { name: name.into(), count, total_minor }
    }

    #[test]
    fn the_digest_due_is_todays_after_the_hour_and_yesterdays_before() {
        // 2026-11-24 is day 20,416; UTC+3, digest at 20:00 local = 17:00 UTC.
        let day = 20_416;
        let at = |h: i64, m: i64| day * DAY_MS + h * 3_600_000 + m * 60_000;
        assert_eq!(due_digest(at(17, 0), 20, 180), (day, at(17, 0)));
        assert_eq!(due_digest(at(23, 59), 20, 180), (day, at(17, 0)));
        assert_eq!(due_digest(at(16, 59), 20, 180), (day - 1, at(17, 0) - DAY_MS));
        // 22:00 UTC is 01:00 the next local day, before its hour.
        assert_eq!(due_digest(at(22, 0), 20, 180), (day, at(17, 0)));
    }

    #[test]
    fn a_digest_shows_totals_per_counterparty_and_the_balance() {
        let n = notices();
        let text = compose(&n, Language::En, 20_416, vec![line("Baraka", 1, 300), line("Mama Mboga", 2, 900)], 50_000);
        assert_eq!(
            text,
            "mkoba 24/11: 3 small payments, KES 12.00. Mama Mboga 2x KES 9.00, Baraka 1x KES 3.00. \
             Balance KES 500.00."
        );
        let sw = compose(&n, Language::Sw, 20_416, vec![line("Mama Mboga", 2, 900)], 50_000);
        assert!(sw.starts_with("mkoba 24/11: malipo madogo 2, KES 9.00.") && sw.contains("Salio KES 500.00"), "{sw}");
    }

    #[test]
    fn many_counterparties_fit_one_sms_with_the_rest_counted() {
        let n = notices();
        let lines: Vec<Line> = (0..12).map(|i| line(&format!("Shop number {i:02}"), 1, 100 + i)).collect();
        for lang in [Language::En, Language::Sw] {
            let text = compose(&n, lang, 20_416, lines.clone(), 1_234_567);
            let more = if lang == Language::En { "+9 more." } else { "+9 zaidi." };
            assert!(text.contains(more), "{text}");
            assert!(text.chars().count() <= SMS_CHARS_MAX, "{text}");
            assert!(text.contains("Shop number 11 1x KES 1.11"), "the largest first: {text}");
            assert!(text.contains("KES 12,345.67"), "the balance: {text}");
            assert!(text.contains("12") && text.contains("KES 12.66"), "count and total of all: {text}");
        }
    }
}

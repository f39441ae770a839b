//! Delivery reports: posted to the callback after a delay, retried on
//! transport errors and 5xx, and kept for the handle and `/sim/deliveries`.

use std::sync::Weak;
use std::time::Duration;

use tokio::sync::mpsc;

use super::state::{DeliveryJob, Shared};
use super::DeliveryReport;

/// Masks the value of a `token` (or `apiKey`/`key`) query parameter so
/// callback URLs can be logged.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return url.split('?').next().unwrap_or_default().to_string();
    };
    if parsed.query().is_none() {
        return parsed.to_string();
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let secret = matches!(k.to_ascii_lowercase().as_str(), "token" | "apikey" | "key");
            let v = if secret { "***".to_string() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

pub(super) async fn dispatch_deliveries(
    mut rx: mpsc::UnboundedReceiver<DeliveryJob>,
    shared: Weak<Shared>,
    client: reqwest::Client,
) {
    while let Some(job) = rx.recv().await {
        let Some(settings) = shared
            .upgrade()
            .map(|s| (s.cfg.delivery_attempts, s.cfg.delivery_retry_backoff, s.cfg.network_code.clone()))
        else {
            return;
        };
        tokio::spawn(deliver(shared.clone(), client.clone(), job, settings));
    }
}

async fn deliver(
    shared: Weak<Shared>,
    client: reqwest::Client,
    job: DeliveryJob,
    (attempts, backoff, network_code): (u32, Duration, String),
) {
    tokio::time::sleep(job.delay).await;
    let report = post_report(&client, &job, attempts, backoff, &network_code).await;
    log_report(&report);
    if let Some(shared) = shared.upgrade() {
        record_report(&shared, report);
    }
}

/// Posts the report as Africa's Talking does, retrying transport errors and
/// 5xx answers with a doubling wait; a 4xx answer is final.
async fn post_report(
    client: &reqwest::Client,
    job: &DeliveryJob,
    attempts: u32,
    backoff: Duration,
    network_code: &str,
) -> DeliveryReport {
    let form = [
        ("id", job.message_id.as_str()),
        ("status", job.status),
        ("phoneNumber", job.phone_number.as_str()),
        ("networkCode", network_code),
        ("failureReason", job.failure_reason.as_str()),
        ("retryCount", "0"),
    ];
    let attempts = attempts.max(1);
    let mut report = DeliveryReport {
        message_id: job.message_id.clone(),
        phone_number: job.phone_number.clone(),
        status: job.status.to_string(),
        failure_reason: job.failure_reason.clone(),
        callback: redact_url(&job.callback),
        attempts: 0,
        http_status: None,
        ok: false,
        error: None,
    };
    let mut wait = backoff;
    for attempt in 1..=attempts {
        report.attempts = attempt;
        match client.post(&job.callback).form(&form).send().await {
            Ok(resp) => {
                let status = resp.status();
                report.http_status = Some(status.as_u16());
                report.error = None;
                if status.is_success() {
                    report.ok = true;
                    break;
                }
                if status.is_client_error() {
                    break;
                }
            }
            Err(e) => report.error = Some(e.without_url().to_string()),
        }
        if attempt < attempts {
            tracing::debug!(id = %job.message_id, attempt, "delivery report not acknowledged; retrying");
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    }
    report
}

fn log_report(report: &DeliveryReport) {
    let callback = &report.callback;
    if report.ok {
        tracing::info!(id = %report.message_id, status = %report.status, %callback, "delivery report posted");
    } else {
        tracing::warn!(
            id = %report.message_id,
            attempts = report.attempts,
            http_status = ?report.http_status,
            error = ?report.error,
            %callback,
            "delivery report not acknowledged; giving up"
        );
    }
}

/// Counts the report, keeps it, and wakes whoever waits for it.
fn record_report(shared: &Shared, report: DeliveryReport) {
    {
        let mut inner = shared.lock();
        if report.ok {
            inner.stats.delivery_reports_ok += 1;
        } else {
            inner.stats.delivery_reports_failed += 1;
        }
        inner.reports.push(report);
    }
    shared.notify.notify_waiters();
}

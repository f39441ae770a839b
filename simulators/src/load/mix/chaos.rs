//! Crash mode: SIGKILL a node at the seeded moments, restart it after a
//! seeded pause, and measure how long until it serves a hop again.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::proc::{ms_since, Mkoba, Node};
use super::report::KillReport;

/// Longest wait for a restarted node's first served hop.
const RECOVERY_WAIT_MAX: Duration = Duration::from_secs(30);

/// Carries out `schedule` (offset from `origin`, node, pause) against
/// `nodes`; returns what happened at each kill.
pub async fn run_kills(
    mkoba: Mkoba,
    nodes: Vec<Arc<Node>>,
    origin: Instant,
    schedule: Vec<(Duration, usize, Duration)>,
) -> Vec<KillReport> {
    let mut reports = Vec::new();
    for (at, n, down) in schedule {
        tokio::time::sleep_until((origin + at).into()).await;
        let node = &nodes[n % nodes.len()];
        node.kill().await;
        let killed_ms = ms_since(origin);
        let killed_unix_ms = unix_ms();
        tracing::info!(node = node.index, at_ms = killed_ms, "SIGKILL");
        tokio::time::sleep(down).await;
        node.first_ok_ms.store(0, Ordering::Relaxed);
        let restarted_ms = ms_since(origin);
        let mut report = KillReport {
            node: node.index,
            at_s: killed_ms as f64 / 1000.0,
            down_ms: restarted_ms.saturating_sub(killed_ms),
            killed_at_unix_ms: killed_unix_ms,
            ..KillReport::default()
        };
        match mkoba.serve(node.index, node.port) {
            Ok(child) => {
                node.set_child(Some(child));
            }
            Err(e) => {
                tracing::error!(node = node.index, error = %e, "restart failed");
                reports.push(report);
                continue;
            }
        }
        let waited = Instant::now();
        while waited.elapsed() < RECOVERY_WAIT_MAX {
            let first = node.first_ok_ms.load(Ordering::Relaxed);
            if first > 0 {
                let first = first - 1;
                report.recovery_ms = Some(first.saturating_sub(restarted_ms));
                report.outage_ms = Some(first.saturating_sub(killed_ms));
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reports.push(report);
    }
    reports
}

fn unix_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(now.as_millis()).unwrap_or(u64::MAX)
}

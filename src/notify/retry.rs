//! When a failed send is tried again: one policy for every outbox channel
//! (SMS and email alike), exponential backoff with a cap and a last attempt.

use super::outbox::{Attempt, OutboxRow};

/// Retry policy for a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_ms: u64,
    pub cap_ms: u64,
    pub max_attempts: i32,
}

impl RetryPolicy {
    /// When attempt `attempts + 1` may run after a failure at `now_ms`
    /// (`attempts` already made before this one): base × 2^attempts, capped;
    /// `None` when this was the last attempt allowed.
    pub fn next_attempt_at(&self, attempts: i32, now_ms: i64) -> Option<i64> {
        (attempts.saturating_add(1) < self.max_attempts)
            .then(|| now_ms.saturating_add(backoff_ms(self.base_ms, attempts, self.cap_ms)))
    }

    /// Retry later, or give up if this was the last attempt allowed.
    pub fn after(&self, row: &OutboxRow, error: String, now_ms: i64) -> Attempt {
        match self.next_attempt_at(row.attempts, now_ms) {
            Some(next_attempt_at_ms) => Attempt::Retry { error, next_attempt_at_ms },
            None => {
                let tried = row.attempts.saturating_add(1);
                Attempt::Failed { error: format!("{error} (gave up after {tried} attempts)") }
            }
        }
    }
}

/// Backoff before attempt `attempts + 1`: base × 2^attempts, capped.
pub(super) fn backoff_ms(base_ms: u64, attempts: i32, cap_ms: u64) -> i64 {
    let factor = 1u64 << u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    i64::try_from(base_ms.saturating_mul(factor).min(cap_ms)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(super::backoff_ms(1_000, 0, 60_000), 1_000);
        assert_eq!(super::backoff_ms(1_000, 3, 60_000), 8_000);
        assert_eq!(super::backoff_ms(1_000, 10, 60_000), 60_000);
    }

    #[test]
    fn the_last_attempt_has_no_next() {
        let policy = RetryPolicy { base_ms: 1_000, cap_ms: 60_000, max_attempts: 3 };
        assert_eq!(policy.next_attempt_at(0, 10_000), Some(11_000));
        assert_eq!(policy.next_attempt_at(1, 10_000), Some(12_000));
        assert_eq!(policy.next_attempt_at(2, 10_000), None);
        assert_eq!(policy.next_attempt_at(0, i64::MAX), Some(i64::MAX));
    }
}

//! Velocity rules and the SIM-swap cap (SPEC §11), as a pure judgement over
//! what a payer did lately. The posting engine loads the [`History`] inside
//! its write transaction, asks [`judge`] for each transfer leaving a customer
//! and moves the history on as it accepts them, so a rule is decided by the
//! same decision that moves the money, never beside it.

use crate::config::{RuleAction, SimSwapConfig, VelocityConfig};
use crate::ledger::AccountId;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Stable names, recorded with every decline and hold.
pub const OUT_COUNT_PER_HOUR: &str = "out_count_per_hour";
pub const OUT_VALUE_PER_DAY: &str = "out_value_per_day_minor";
pub const NEW_RECIPIENTS_PER_HOUR: &str = "new_recipients_per_hour";
pub const OUT_AFTER_LARGE_IN: &str = "out_after_large_in";
pub const SIM_SWAP: &str = "sim_swap";

/// Money that left the payer (held transfers included, with their payee).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutEvent {
    pub at_ms: i64,
    pub amount_minor: i64,
    pub payee: AccountId,
    /// Whether the payer had paid this payee before this event.
    pub payee_known: bool,
}

/// What the rules look at, for one payer.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Newest last.
    pub out: Vec<OutEvent>,
    /// When the payer last received one transfer of at least
    /// `out_after_large_in.large_in_minor`.
    pub last_large_in_ms: Option<i64>,
    /// When the payer's SIM was last swapped, if it was.
    pub swapped_at_ms: Option<i64>,
}

impl History {
    /// Records an accepted transfer so the next decision sees it.
    pub fn push(&mut self, event: OutEvent) {
        self.out.push(event);
    }

    /// Whether `payee` was paid before, according to this history.
    pub fn has_paid(&self, payee: AccountId) -> bool {
        self.out.iter().any(|e| e.payee == payee)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Decline(&'static str),
    Hold(&'static str),
}

/// Decides one transfer of `amount_minor` to `payee`. `payee_known` says
/// whether the payer paid `payee` before (from the whole journal). A rule
/// that declines wins over one that holds; the SIM-swap cap always declines.
pub fn judge(
    velocity: &VelocityConfig,
    sim_swap: &SimSwapConfig,
    history: &History,
    now_ms: i64,
    payee: AccountId,
    payee_known: bool,
    amount_minor: i64,
) -> Verdict {
    if let Some(swapped) = history.swapped_at_ms {
        let cooloff_ms = sim_swap.cooloff_hours.saturating_mul(HOUR_MS);
        if now_ms < swapped.saturating_add(cooloff_ms) {
            let since = sum(history.out.iter().filter(|e| e.at_ms >= swapped));
            if since.saturating_add(amount_minor) > sim_swap.max_out_minor {
                return Verdict::Decline(SIM_SWAP);
            }
        }
    }
    let hour: Vec<&OutEvent> = history.out.iter().filter(|e| e.at_ms > now_ms - HOUR_MS).collect();
    let mut fired: Vec<(&'static str, RuleAction)> = Vec::new();
    let rule = &velocity.out_count_per_hour;
    if let Some(limit) = rule.limit {
        if i64::try_from(hour.len()).unwrap_or(i64::MAX) >= limit {
            fired.push((OUT_COUNT_PER_HOUR, rule.action));
        }
    }
    let rule = &velocity.out_value_per_day_minor;
    if let Some(limit) = rule.limit {
        let day = sum(history.out.iter().filter(|e| e.at_ms > now_ms - DAY_MS));
        if day.saturating_add(amount_minor) > limit {
            fired.push((OUT_VALUE_PER_DAY, rule.action));
        }
    }
    let rule = &velocity.new_recipients_per_hour;
    if let Some(limit) = rule.limit {
        let is_new = !payee_known && !history.has_paid(payee);
        if is_new {
            let mut new_payees: Vec<AccountId> = hour.iter().filter(|e| !e.payee_known).map(|e| e.payee).collect();
            new_payees.sort_unstable();
            new_payees.dedup();
            if i64::try_from(new_payees.len()).unwrap_or(i64::MAX) >= limit {
                fired.push((NEW_RECIPIENTS_PER_HOUR, rule.action));
            }
        }
    }
    let rule = &velocity.out_after_large_in;
    if rule.large_in_minor.is_some() {
        let window_ms = rule.window_s.saturating_mul(1000);
        if history.last_large_in_ms.is_some_and(|at| now_ms - at < window_ms) {
            fired.push((OUT_AFTER_LARGE_IN, rule.action));
        }
    }
    if let Some((name, _)) = fired.iter().find(|(_, a)| *a == RuleAction::Decline) {
        return Verdict::Decline(name);
    }
    fired.first().map_or(Verdict::Pass, |(name, _)| Verdict::Hold(name))
}

fn sum<'a>(events: impl Iterator<Item = &'a OutEvent>) -> i64 {
    events.fold(0i64, |acc, e| acc.saturating_add(e.amount_minor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AfterLargeInRule, LimitRule};

    const NOW: i64 = 1_000 * DAY_MS;

    fn rule(limit: i64, action: RuleAction) -> LimitRule {
        LimitRule { limit: Some(limit), action }
    }

    fn event(ago_ms: i64, amount_minor: i64, payee: i64, payee_known: bool) -> OutEvent {
        OutEvent { at_ms: NOW - ago_ms, amount_minor, payee: AccountId(payee), payee_known }
    }

    fn judge_with(v: &VelocityConfig, h: &History, payee: i64, known: bool, amount: i64) -> Verdict {
        judge(v, &SimSwapConfig::default(), h, NOW, AccountId(payee), known, amount)
    }

    #[test]
    fn every_rule_is_off_by_default() {
        let mut h = History::default();
        for i in 0..100 {
            h.push(event(i * 1000, 1_000_000, i, false));
        }
        h.last_large_in_ms = Some(NOW - 1);
        assert_eq!(judge_with(&VelocityConfig::default(), &h, 999, false, 1_000_000), Verdict::Pass);
    }

    #[test]
    fn a_limit_of_n_lets_n_through_and_fires_on_the_next() {
        let v = VelocityConfig { out_count_per_hour: rule(3, RuleAction::Hold), ..Default::default() };
        let mut h = History::default();
        for i in 0..3 {
            assert_eq!(judge_with(&v, &h, 7, true, 100), Verdict::Pass, "transfer {}", i + 1);
            h.push(event(0, 100, 7, true));
        }
        assert_eq!(judge_with(&v, &h, 7, true, 100), Verdict::Hold(OUT_COUNT_PER_HOUR));
        // An hour later the window is clear again.
        let old: History =
            History { out: h.out.iter().map(|e| OutEvent { at_ms: e.at_ms - HOUR_MS, ..*e }).collect(), ..h };
        assert_eq!(judge_with(&v, &old, 7, true, 100), Verdict::Pass);
    }

    #[test]
    fn value_per_day_counts_this_transfer_too() {
        let v = VelocityConfig { out_value_per_day_minor: rule(10_000, RuleAction::Decline), ..Default::default() };
        let mut h = History::default();
        h.push(event(HOUR_MS * 23, 6_000, 1, true));
        assert_eq!(judge_with(&v, &h, 1, true, 4_000), Verdict::Pass);
        assert_eq!(judge_with(&v, &h, 1, true, 4_001), Verdict::Decline(OUT_VALUE_PER_DAY));
        h.out[0].at_ms = NOW - DAY_MS;
        assert_eq!(judge_with(&v, &h, 1, true, 10_000), Verdict::Pass, "older than a day");
    }

    #[test]
    fn new_recipients_count_only_people_never_paid_before() {
        let v = VelocityConfig { new_recipients_per_hour: rule(2, RuleAction::Decline), ..Default::default() };
        let mut h = History::default();
        h.push(event(1000, 100, 1, false));
        h.push(event(900, 100, 2, false));
        h.push(event(800, 100, 3, true));
        assert_eq!(judge_with(&v, &h, 4, false, 100), Verdict::Decline(NEW_RECIPIENTS_PER_HOUR));
        assert_eq!(judge_with(&v, &h, 4, true, 100), Verdict::Pass, "paid before");
        assert_eq!(judge_with(&v, &h, 2, false, 100), Verdict::Pass, "paid this hour already");
    }

    #[test]
    fn out_after_large_in_fires_within_the_window() {
        let v = VelocityConfig {
            out_after_large_in: AfterLargeInRule {
                large_in_minor: Some(500_000),
                window_s: 600,
                action: RuleAction::Hold,
            },
            ..Default::default()
        };
        let mut h = History { last_large_in_ms: Some(NOW - 599_000), ..Default::default() };
        assert_eq!(judge_with(&v, &h, 1, true, 100), Verdict::Hold(OUT_AFTER_LARGE_IN));
        h.last_large_in_ms = Some(NOW - 600_000);
        assert_eq!(judge_with(&v, &h, 1, true, 100), Verdict::Pass);
    }

    #[test]
    fn decline_wins_over_hold() {
        let v = VelocityConfig {
            out_count_per_hour: rule(0, RuleAction::Hold),
            out_value_per_day_minor: rule(0, RuleAction::Decline),
            ..Default::default()
        };
        assert_eq!(judge_with(&v, &History::default(), 1, true, 1), Verdict::Decline(OUT_VALUE_PER_DAY));
    }

    #[test]
    fn after_a_sim_swap_money_out_is_capped_for_the_cooloff() {
        let swap = SimSwapConfig { max_out_minor: 1_000, cooloff_hours: 72, ..Default::default() };
        let v = VelocityConfig::default();
        let mut h = History { swapped_at_ms: Some(NOW - HOUR_MS), ..Default::default() };
        h.push(event(HOUR_MS * 2, 50_000, 1, true)); // before the swap: not counted
        h.push(event(10, 600, 1, true));
        let j = |h: &History, amount| judge(&v, &swap, h, NOW, AccountId(1), true, amount);
        assert_eq!(j(&h, 400), Verdict::Pass);
        assert_eq!(j(&h, 401), Verdict::Decline(SIM_SWAP));
        h.swapped_at_ms = Some(NOW - 72 * HOUR_MS);
        assert_eq!(j(&h, 100_000), Verdict::Pass, "cool-off over");
    }
}

//! The delivery status of a sent SMS: a state machine fed by the
//! aggregator's delivery reports, which come late, twice and out of order.
//!
//! A message the aggregator accepted is in flight (`sent`) until a final
//! report makes it `delivered` or `failed`. A final state never changes
//! again: a late `Sent` cannot undo a `Success`, and a `Success` after a
//! `Failed` is too late to count. A report nobody knows is recorded as
//! `unknown:<status>` on a message in flight and moves nothing.
//! [`super::outbox::delivery_report`] applies [`transitions`] in one
//! conditional UPDATE, so concurrent reports cannot race.

/// The outbox states a delivery report can meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Accepted by the aggregator, on its way.
    Sent,
    Delivered,
    Failed,
}

impl State {
    pub const ALL: [State; 3] = [State::Sent, State::Delivered, State::Failed];

    /// The outbox `status` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Sent => "sent",
            State::Delivered => "delivered",
            State::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|state| state.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        self != State::Sent
    }
}

/// What a delivery report says, whatever the aggregator's word for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Report {
    /// Still on its way (Africa's Talking: `Sent`, `Submitted`, `Buffered`).
    InFlight,
    /// Reached the phone (final).
    Delivered,
    /// Will never reach it (final).
    Failed,
    /// A status this version does not know.
    Unknown,
}

/// The state after `report`, or `None` when the report changes nothing and
/// records nothing (the state is final).
pub fn next(state: State, report: Report) -> Option<State> {
    match (state, report) {
        (State::Sent, Report::InFlight | Report::Unknown) => Some(State::Sent),
        (State::Sent, Report::Delivered) => Some(State::Delivered),
        (State::Sent, Report::Failed) => Some(State::Failed),
        (State::Delivered | State::Failed, _) => None,
    }
}

/// Every `(from, to)` pair `report` applies to: the conditional UPDATE's
/// `WHERE status IN (from…)` and `CASE status WHEN from THEN to`.
pub fn transitions(report: Report) -> Vec<(State, State)> {
    State::ALL.into_iter().filter_map(|from| next(from, report).map(|to| (from, to))).collect()
}

/// Longest aggregator status kept in `unknown:<status>`.
const STATUS_CHARS_MAX: usize = 64;

/// What the outbox's `delivery_status` records for a report that applies.
pub fn describe(report: Report, status: &str, failure_reason: &str) -> String {
    let status: String = status.chars().filter(|c| !c.is_control()).take(STATUS_CHARS_MAX).collect();
    let reason: String = failure_reason.chars().filter(|c| !c.is_control()).take(STATUS_CHARS_MAX).collect();
    match report {
        Report::Unknown => format!("unknown:{status}"),
        _ if reason.trim().is_empty() => status,
        _ => format!("{status}: {}", reason.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregators::africastalking::delivery_report as at;
    use proptest::prelude::*;

    /// Applies reports in order from `sent`, as the conditional UPDATE does.
    fn fold(reports: &[Report]) -> State {
        reports.iter().fold(State::Sent, |state, &r| next(state, r).unwrap_or(state))
    }

    #[test]
    fn each_state_and_report_has_one_next_state() {
        use State::{Delivered, Failed, Sent};
        // (current state, Africa's Talking status) → next state; None: ignored.
        let table: &[(State, &str, Option<State>)] = &[
            (Sent, "Sent", Some(Sent)),
            (Sent, "Submitted", Some(Sent)),
            (Sent, "Buffered", Some(Sent)),
            (Sent, "Success", Some(Delivered)),
            (Sent, "Rejected", Some(Failed)),
            (Sent, "Failed", Some(Failed)),
            (Sent, "AbsentSubscriber", Some(Failed)),
            (Sent, "Expired", Some(Failed)),
            (Sent, "Teleported", Some(Sent)),
            (Sent, "", Some(Sent)),
            (Sent, "success", Some(Sent)),
            (Delivered, "Sent", None),
            (Delivered, "Buffered", None),
            (Delivered, "Success", None),
            (Delivered, "Failed", None),
            (Delivered, "Teleported", None),
            (Failed, "Sent", None),
            (Failed, "Success", None),
            (Failed, "Failed", None),
            (Failed, "Expired", None),
            (Failed, "Teleported", None),
        ];
        for &(state, status, expected) in table {
            assert_eq!(next(state, at(status)), expected, "{state:?} + {status:?}");
        }
        assert_eq!(at("Teleported"), Report::Unknown);
        assert_eq!(describe(at("Teleported"), "Teleported", ""), "unknown:Teleported");
        assert_eq!(describe(at("Failed"), "Failed", "DeliveryFailure"), "Failed: DeliveryFailure");
        assert_eq!(describe(at("Success"), "Success", ""), "Success");
    }

    #[test]
    fn transitions_leave_only_from_the_state_in_flight() {
        for report in [Report::InFlight, Report::Delivered, Report::Failed, Report::Unknown] {
            let moves = transitions(report);
            assert!(moves.iter().all(|(from, _)| !from.is_final()), "{report:?}: {moves:?}");
            assert_eq!(moves.len(), 1, "{report:?}");
        }
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
    }

    fn report() -> impl Strategy<Value = Report> {
        prop_oneof![Just(Report::InFlight), Just(Report::Delivered), Just(Report::Failed), Just(Report::Unknown)]
    }

    fn non_final() -> impl Strategy<Value = Report> {
        prop_oneof![Just(Report::InFlight), Just(Report::Unknown)]
    }

    proptest! {
        /// One final report among any number of in-flight and unknown ones,
        /// in any order: the message ends in that report's state.
        #[test]
        fn any_order_ends_in_the_final_reports_state(
            reports in (prop_oneof![Just(Report::Delivered), Just(Report::Failed)],
                        proptest::collection::vec(non_final(), 0..8))
                .prop_flat_map(|(last, mut others)| {
                    others.push(last);
                    Just(others).prop_shuffle()
                })
        ) {
            let expected = if reports.contains(&Report::Delivered) { State::Delivered } else { State::Failed };
            prop_assert_eq!(fold(&reports), expected);
        }

        /// Any reports, any order: the first final report decides, and once
        /// final nothing moves the message again.
        #[test]
        fn the_first_final_report_wins(reports in proptest::collection::vec(report(), 0..12)) {
            let first_final = reports.iter().find_map(|&r| match r {
                Report::Delivered => Some(State::Delivered),
                Report::Failed => Some(State::Failed),
                _ => None,
            });
            prop_assert_eq!(fold(&reports), first_final.unwrap_or(State::Sent));
            let mut state = State::Sent;
            for &r in &reports {
                let after = next(state, r).unwrap_or(state);
                prop_assert!(!state.is_final() || after == state, "{:?} moved {:?} to {:?}", r, state, after);
                state = after;
            }
        }
    }
}

//! The state every worker and the handle share: messages, the failure in
//! force, delivery settings, reports and counters, behind one mutex.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

use super::{AggregatorConfig, DeliveryReport, Failure, Message, Stats};
use crate::msisdn;

pub(super) struct Inner {
    pub(super) messages: Vec<Message>,
    pub(super) failure: Failure,
    pub(super) delivery_callback: Option<String>,
    pub(super) delivery_delay: Duration,
    pub(super) reports: Vec<DeliveryReport>,
    pub(super) stats: Stats,
}

impl Inner {
    /// The failure mode that applies to this request, counting it down.
    pub(super) fn consume_failure(&mut self) -> Failure {
        let current = self.failure.clone();
        let Some(count) = self.failure.count_mut() else {
            return Failure::None;
        };
        match count {
            None => current,
            Some(0) => {
                self.failure = Failure::None;
                Failure::None
            }
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.failure = Failure::None;
                }
                current
            }
        }
    }
}

pub(super) struct DeliveryJob {
    pub(super) callback: String,
    pub(super) delay: Duration,
    pub(super) message_id: String,
    pub(super) phone_number: String,
    pub(super) status: &'static str,
    pub(super) failure_reason: String,
}

pub(super) struct Shared {
    pub(super) cfg: AggregatorConfig,
    pub(super) inner: Mutex<Inner>,
    pub(super) notify: Notify,
    pub(super) delivery_tx: mpsc::UnboundedSender<DeliveryJob>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn normalize(&self, phone: &str) -> Option<String> {
        msisdn::normalize(phone, &self.cfg.country_code)
    }

    pub(super) fn inbox(&self, phone: &str) -> Vec<Message> {
        let Some(phone) = self.normalize(phone) else {
            return Vec::new();
        };
        self.lock().messages.iter().filter(|m| m.delivered && m.to == phone).cloned().collect()
    }

    pub(super) fn cost(&self, messages: u64) -> String {
        if messages == 0 {
            return "0".to_string();
        }
        let e4 = self.cfg.cost_per_message_e4.saturating_mul(messages);
        format!("{} {}.{:04}", self.cfg.cost_currency, e4 / 10_000, e4 % 10_000)
    }
}

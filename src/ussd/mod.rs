//! The USSD channel: sessions, the menu state machine, paging, and the
//! exactly-once commit of each hop.
//!
//! A hop is read (session, caller), worked out (menu step, PIN check off the
//! executor), then committed in one group-commit job that records the hop
//! only if no other request recorded it first, together with its effect. A
//! repeated hop (same session, same text) gets the stored reply.

mod commit;
pub mod events;
mod hop;
pub mod menu;
pub mod render;
pub mod session;

use crate::auth::PinHasher;
use crate::config::Config;
use crate::domain::msisdn::mask_digits as mask;
use crate::i18n::Catalog;
use crate::ledger::{Language, Ledger, LedgerError};
use crate::limits::sim_swap::SimSwapCheck;
use crate::notify::Notices;
use hop::{first_hop, hop_parts, look, quick_hop, split_inputs, sync_outcome, Quick};
use menu::Ctx;
use session::{SessionKey, TextMac};
use std::sync::Arc;

pub use crate::inbound::UssdRequest;

/// What handlers need, shared across requests.
pub struct Shared {
    pub notices: Arc<Notices>,
    pub ledger: Ledger,
    pub pins: PinHasher,
    pub catalog: Arc<Catalog>,
    pub config: Arc<Config>,
    pub mac: TextMac,
    /// Asks the operator's SIM Swap API before money leaves a customer.
    pub sim_swap: SimSwapCheck,
}

#[derive(Clone)]
pub struct Ussd {
    shared: Arc<Shared>,
}

/// Attempts when another request for the same session commits first.
const HOP_ATTEMPTS: usize = 3;
/// Inputs longer than this are not menu input: refuse before any work.
const INPUT_CHARS_MAX: usize = 64;

impl Ussd {
    pub fn new(
        ledger: Ledger,
        pins: PinHasher,
        catalog: Arc<Catalog>,
        config: Arc<Config>,
        notices: Arc<Notices>,
        sim_swap: SimSwapCheck,
    ) -> Ussd {
        let mac = TextMac::new(config.pin.pepper.expose());
        Ussd { shared: Arc::new(Shared { notices, ledger, pins, catalog, config, mac, sim_swap }) }
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The response body for a hop: `CON …` or `END …`, never an error.
    ///
    /// The hop runs as a task of its own: if it is not done within
    /// `ussd.deadline_ms`, the caller is told it is processing and will get
    /// an SMS, and the task finishes the work (see [`events::Deadline`]).
    pub async fn handle(&self, req: UssdRequest) -> String {
        let deadline = Arc::new(events::Deadline::default());
        let (this, task_req, task_deadline) = (self.clone(), req.clone(), deadline.clone());
        let mut task = tokio::spawn(async move { this.try_handle(&task_req, &task_deadline).await });
        let limit = std::time::Duration::from_millis(self.shared.config.ussd.deadline_ms.max(1));
        let result = match tokio::time::timeout(limit, &mut task).await {
            Ok(joined) => joined,
            Err(_) if deadline.give_up() => {
                tracing::warn!(session = %req.session_id, deadline_ms = limit.as_millis() as u64, "ussd hop past its deadline");
                return commit::processing_reply(&self.shared.catalog);
            }
            // Its commit already claimed the answer: it is about to finish.
            Err(_) => task.await,
        };
        match result {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => {
                tracing::error!(error = %e, session = %req.session_id, "ussd hop failed");
                format!("END {}", self.shared.catalog.text(Language::En, "err_unavailable", &[]))
            }
            Err(e) => {
                tracing::error!(error = %e, session = %req.session_id, "ussd hop task failed");
                format!("END {}", self.shared.catalog.text(Language::En, "err_unavailable", &[]))
            }
        }
    }

    async fn try_handle(&self, req: &UssdRequest, deadline: &Arc<events::Deadline>) -> Result<String, LedgerError> {
        let shared = &self.shared;
        let config = &shared.config;
        if !config.service_code.contains(&req.service_code) {
            let text =
                shared.catalog.text(Language::En, "err_service_code", &[("code", config.service_code.primary())]);
            return Ok(format!("END {text}"));
        }
        let key = SessionKey { aggregator: req.aggregator.to_string(), session_id: req.session_id.clone() };
        let mac = shared.mac.of(&req.text);
        for _ in 0..HOP_ATTEMPTS {
            // SQLite: one trip to the writer reads the session and the caller
            // and, when the step needs no lookup or PIN, works it out and
            // commits it there. PostgreSQL: reads are network round trips, so
            // they run in parallel on the pool, not one after another on the
            // writer.
            let (job_shared, job_key, job_req, job_mac) = (self.shared.clone(), key.clone(), req.clone(), mac.clone());
            let job_deadline = deadline.clone();
            let look = if shared.ledger.is_sqlite() {
                let first = shared
                    .ledger
                    .write(move |conn| quick_hop(conn, &job_shared, &job_key, &job_req, &job_mac, &job_deadline))
                    .await?;
                match first {
                    Quick::Done(body) => return Ok(body),
                    Quick::Conflict => continue,
                    Quick::Slow(look) => look,
                }
            } else {
                match shared.ledger.read(move |conn| look(conn, &job_shared, &job_key, &job_req, &job_mac)).await? {
                    Err(body) => return Ok(body),
                    Ok(look) => Box::new(look),
                }
            };
            // A lookup, a PIN check or a hash: done here, off the writer.
            let hop_key = format!("ussd:{}:{}:{mac}", key.aggregator, key.session_id);
            let ctx =
                Ctx { shared, caller: &look.caller, lang: look.lang, source: req.source.as_deref(), hop_key: &hop_key };
            let outcome = match sync_outcome(&ctx, &look, &req.text) {
                Some(outcome) => outcome,
                None => match &look.session {
                    None => first_hop(&ctx, &split_inputs(&req.text)).await?,
                    Some(s) => menu::advance(&ctx, &s.screen(), &look.input).await?,
                },
            };
            let (env, hop) = hop_parts(shared, &key, req, &look, &outcome, &mac);
            let prev_hops = look.session.as_ref().map(|s| s.hop_count);
            let (job_key, catalog, job_deadline) = (key.clone(), shared.catalog.clone(), deadline.clone());
            let saved = shared
                .ledger
                .write(move |conn| {
                    commit::commit_hop(conn, &job_key, prev_hops, &hop, &outcome, &env, &catalog, &job_deadline)
                })
                .await?;
            if let Some(body) = saved {
                return Ok(body);
            }
            // Another request for this session committed first: look again.
        }
        Err(LedgerError::Internal("session kept changing under this hop".into()))
    }
}

/// The aggregator's text with every digit run of 4 or more masked: PINs,
/// amounts and phone numbers never reach a log line.
pub fn redact_text(text: &str) -> String {
    text.split('*')
        .map(|part| {
            if part.len() >= 4 && part.bytes().any(|b| b.is_ascii_digit()) {
                if part.len() >= 9 {
                    mask(part)
                } else {
                    "****".to_string()
                }
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_pins_and_numbers() {
        assert_eq!(redact_text("1*0712345678*100*1357"), "1*0712**5678*100*****");
        assert_eq!(redact_text(""), "");
        assert!(!redact_text("4*2*2468").contains("2468"));
    }
}

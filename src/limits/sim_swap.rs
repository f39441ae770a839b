//! A client for a CAMARA SIM Swap API (`sim_swap.check_url`): before money
//! leaves a customer, ask whether their SIM was swapped within the cool-off;
//! a swap it reports is marked in `sim_swaps`, where the posting engine
//! enforces the cap (`limits::velocity`), as for numbers an operator marked.
//!
//! The API is asked at most once per number per [`CACHE_TTL`]. When it
//! fails or is slow (`sim_swap.check_timeout_ms`), the payment goes on and
//! the failure is logged: an outage of the operator's API must not stop
//! every payment, and numbers already marked stay capped.

use crate::config::SimSwapConfig;
use crate::domain::{now_ms, Msisdn};
use crate::ledger::{history, Ledger};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an answer is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// Numbers remembered at most; past it the cache starts afresh.
const CACHE_MAX: usize = 100_000;

#[derive(Clone, Default)]
pub struct SimSwapCheck {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    client: reqwest::Client,
    check_url: String,
    retrieve_url: Option<String>,
    token: String,
    max_age_hours: i64,
    ledger: Ledger,
    checked: Mutex<HashMap<String, Instant>>,
}

#[derive(Deserialize)]
struct CheckReply {
    swapped: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DateReply {
    latest_sim_change: Option<String>,
}

impl SimSwapCheck {
    /// No client when `check_url` is empty.
    pub fn new(config: &SimSwapConfig, ledger: Ledger) -> Result<SimSwapCheck, String> {
        let url = config.check_url.trim();
        if url.is_empty() {
            return Ok(SimSwapCheck::default());
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.check_timeout_ms.max(1)))
            .build()
            .map_err(|e| format!("sim_swap: cannot build the HTTP client: {e}"))?;
        let retrieve_url = url.strip_suffix("/check").map(|base| format!("{base}/retrieve-date"));
        Ok(SimSwapCheck {
            inner: Some(Arc::new(Inner {
                client,
                check_url: url.to_string(),
                retrieve_url,
                token: config.check_token.expose().to_string(),
                max_age_hours: config.cooloff_hours.max(1),
                ledger,
                checked: Mutex::new(HashMap::new()),
            })),
        })
    }

    pub fn is_configured(&self) -> bool {
        self.inner.is_some()
    }

    /// Asks about `msisdn` unless asked lately; marks a reported swap.
    pub async fn check(&self, msisdn: &Msisdn) {
        let Some(inner) = &self.inner else { return };
        let key = msisdn.as_str().to_string();
        {
            let mut checked = inner.checked.lock().unwrap_or_else(|e| e.into_inner());
            if checked.get(&key).is_some_and(|at| at.elapsed() < CACHE_TTL) {
                return;
            }
            if checked.len() >= CACHE_MAX {
                checked.clear();
            }
        }
        let masked = crate::domain::msisdn::mask_digits(&key);
        match inner.ask(&key).await {
            Ok(None) => {}
            Ok(Some(swapped_at_ms)) => {
                let now = now_ms();
                let number = key.clone();
                let mark = move |c: &mut _| history::mark_swap(c, &number, swapped_at_ms, "camara", now);
                if let Err(e) = inner.ledger.write(mark).await {
                    tracing::warn!(msisdn = %masked, error = %e, "cannot record a SIM swap");
                    return;
                }
                tracing::info!(msisdn = %masked, "SIM swap reported by the check API");
            }
            Err(e) => {
                tracing::warn!(msisdn = %masked, error = %e, "SIM swap check failed; the payment goes on");
                return;
            }
        }
        inner.checked.lock().unwrap_or_else(|e| e.into_inner()).insert(key, Instant::now());
    }
}

impl Inner {
    /// When the SIM was swapped within the cool-off, if it was.
    async fn ask(&self, msisdn: &str) -> Result<Option<i64>, String> {
        let phone = format!("+{msisdn}");
        let body = serde_json::json!({ "phoneNumber": phone, "maxAge": self.max_age_hours });
        let reply: CheckReply = self.post(&self.check_url, &body).await?;
        if !reply.swapped {
            return Ok(None);
        }
        // When: from retrieve-date if the API has it, else now (stricter).
        let mut at = now_ms();
        if let Some(url) = &self.retrieve_url {
            let body = serde_json::json!({ "phoneNumber": phone });
            if let Ok(DateReply { latest_sim_change: Some(date) }) = self.post(url, &body).await {
                if let Ok(ms) = crate::domain::time::parse_rfc3339(&date) {
                    at = ms.min(at);
                }
            }
        }
        Ok(Some(at))
    }

    async fn post<T: serde::de::DeserializeOwned>(&self, url: &str, body: &serde_json::Value) -> Result<T, String> {
        let mut req = self.client.post(url).json(body);
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("the check API answered HTTP {}", status.as_u16()));
        }
        resp.json::<T>().await.map_err(|e| format!("unreadable answer: {e}"))
    }
}

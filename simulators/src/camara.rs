//! A stand-in for an operator's CAMARA SIM Swap API (v0), in process:
//! `POST /sim-swap/v0/check` (`{"phoneNumber", "maxAge"}` → `{"swapped"}`)
//! and `POST /sim-swap/v0/retrieve-date` (`{"phoneNumber"}` →
//! `{"latestSimChange"}`, RFC 3339). Tests set which numbers were swapped
//! when, and can make it fail or answer slowly.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct State {
    /// E.164 with `+` → swap time in seconds since the epoch.
    swaps: HashMap<String, i64>,
    fail: bool,
    delay: Duration,
    token: Option<String>,
    checks: u64,
}

type Shared = Arc<Mutex<State>>;

pub struct CamaraHandle {
    state: Shared,
    base_url: String,
    server: actix_web::dev::ServerHandle,
}

impl CamaraHandle {
    /// `http://127.0.0.1:PORT/sim-swap/v0/check`: mkoba's `sim_swap.check_url`.
    pub fn check_url(&self) -> String {
        format!("{}/sim-swap/v0/check", self.base_url)
    }

    /// `phone` (`+2547…`) had its SIM swapped `ago` before now.
    pub fn swap(&self, phone: &str, ago: Duration) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let at = i64::try_from(now.saturating_sub(ago.as_secs())).unwrap_or(0);
        self.lock().swaps.insert(phone.to_string(), at);
    }

    /// Answer 503 to everything (true) or serve again (false).
    pub fn fail(&self, fail: bool) {
        self.lock().fail = fail;
    }

    pub fn delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Require `Authorization: Bearer TOKEN`.
    pub fn require_token(&self, token: &str) {
        self.lock().token = Some(token.to_string());
    }

    /// Check calls answered so far.
    pub fn checks(&self) -> u64 {
        self.lock().checks
    }

    pub async fn stop(self) {
        self.server.stop(false).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckBody {
    phone_number: String,
    #[serde(default)]
    max_age: Option<i64>,
}

enum Call {
    Check,
    RetrieveDate,
}

async fn answer(
    req: actix_web::HttpRequest,
    body: web::Json<CheckBody>,
    state: web::Data<Shared>,
    call: Call,
) -> HttpResponse {
    let (fail, delay, token) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(call, Call::Check) {
            s.checks += 1;
        }
        (s.fail, s.delay, s.token.clone())
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fail {
        return HttpResponse::ServiceUnavailable()
            .json(json!({"status": 503, "code": "UNAVAILABLE", "message": "down"}));
    }
    if let Some(token) = token {
        let given = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if given != format!("Bearer {token}") {
            return HttpResponse::Unauthorized().json(json!({"status": 401, "code": "UNAUTHENTICATED"}));
        }
    }
    if !body.phone_number.starts_with('+') {
        return HttpResponse::BadRequest().json(json!({"status": 400, "code": "INVALID_ARGUMENT"}));
    }
    let swapped_at = state.lock().unwrap_or_else(|e| e.into_inner()).swaps.get(&body.phone_number).copied();
    match call {
        Call::Check => {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let max_age_s = body.max_age.unwrap_or(240).saturating_mul(3600);
            let now = i64::try_from(now).unwrap_or(i64::MAX);
            let swapped = swapped_at.is_some_and(|at| now - at <= max_age_s);
            HttpResponse::Ok().json(json!({ "swapped": swapped }))
        }
        Call::RetrieveDate => {
            let latest = swapped_at.map(rfc3339);
            HttpResponse::Ok().json(json!({ "latestSimChange": latest }))
        }
    }
}

/// Seconds since the epoch as RFC 3339 (`YYYY-MM-DDTHH:MM:SSZ`).
fn rfc3339(secs: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(secs).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// Starts the stand-in on a free port of 127.0.0.1.
pub async fn start_camara() -> io::Result<CamaraHandle> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let state: Shared = Arc::new(Mutex::new(State::default()));
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/sim-swap/v0/check", web::post().to(|r, b, s| answer(r, b, s, Call::Check)))
            .route("/sim-swap/v0/retrieve-date", web::post().to(|r, b, s| answer(r, b, s, Call::RetrieveDate)))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(CamaraHandle { state, base_url: format!("http://{addr}"), server: handle })
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_559_400), "2026-11-24T22:30:00Z");
    }
}

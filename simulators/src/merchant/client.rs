//! A typed client for mkoba's integrator API, `/api/v1` (SPEC §9), as a
//! merchant's backend would use it: `Authorization: Bearer <key>` on every
//! call, an `Idempotency-Key` on every POST, typed answers or a typed error.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::types::{
    Allowance, AllowanceId, AllowanceStatus, Balance, Charge, Movement, NewAllowance, NewCharge, NewPaymentRequest,
    NewPayout, NewRefund, PaymentRequest, PaymentRequestId, PaymentRequestStatus, Reference, Transaction,
};

/// Timeout of one call unless the caller brings its own `reqwest::Client`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest error body kept in a [`ClientError::Decode`].
const BODY_KEPT_MAX_CHARS: usize = 2_000;

/// The error mkoba answered: `{"error": {"code", "message"}}` and its status.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("HTTP {status} {code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// Why a call did not give the typed answer.
#[derive(Debug, Error)]
pub enum ClientError {
    /// mkoba refused the call with its error body.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// An answer that is neither the expected type nor mkoba's error shape
    /// (e.g. a proxy's 502 page, or a success body missing a field).
    #[error("HTTP {status}: unexpected answer ({message}): {body}")]
    Decode { status: u16, message: String, body: String },
    /// No answer: connection refused, timeout, bad URL…
    #[error("{0}")]
    Transport(String),
}

impl ClientError {
    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.status),
            Self::Decode { status, .. } => Some(*status),
            Self::Transport(_) => None,
        }
    }

    /// mkoba's error code (`allowance_exhausted`, …), when it gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api(e) => Some(&e.code),
            _ => None,
        }
    }

    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
}

/// An answer as it came, for tests of the contract itself (`raw_*`).
#[derive(Clone, Debug, PartialEq)]
pub struct RawResponse {
    pub status: u16,
    pub body: String,
    /// The body as JSON, if it is JSON.
    pub json: Option<serde_json::Value>,
}

/// A fresh random idempotency key (`sim-` and 32 hex digits).
pub fn new_idempotency_key() -> String {
    format!("sim-{:032x}", rand::random::<u128>())
}

/// The client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct MerchantClient {
    http: reqwest::Client,
    base_url: Url,
    api_key: String,
}

impl fmt::Debug for MerchantClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("MerchantClient").field("base_url", &self.base_url.as_str()).finish_non_exhaustive()
    }
}

impl MerchantClient {
    /// A client for mkoba at `base_url` (`http://127.0.0.1:8080`, no `/api/v1`)
    /// acting with `api_key`, with a [`DEFAULT_TIMEOUT`] per call.
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Self::with_http(http, base_url, api_key)
    }

    /// Same, over the caller's `reqwest::Client` (timeouts, pools, proxies).
    pub fn with_http(http: reqwest::Client, base_url: &str, api_key: &str) -> Result<Self, ClientError> {
        let base_url =
            Url::parse(base_url).map_err(|e| ClientError::Transport(format!("bad base URL {base_url:?}: {e}")))?;
        if base_url.cannot_be_a_base() {
            return Err(ClientError::Transport(format!("bad base URL {base_url}: not a base")));
        }
        Ok(Self { http, base_url, api_key: api_key.to_string() })
    }

    pub fn base_url(&self) -> &str {
        self.base_url.as_str()
    }

    /// The underlying HTTP client, to build requests this client does not.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `{base}/api/v1/{segments…}`, each segment percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    /// `POST /api/v1/payment-requests` → 201 `{id, status: "pending", code, …}`.
    pub async fn create_payment_request(&self, body: &NewPaymentRequest) -> Result<PaymentRequest, ClientError> {
        self.post(&["payment-requests"], body, &body.key_for_send()).await
    }

    /// `GET /api/v1/payment-requests/{id}`.
    pub async fn payment_request(&self, id: &PaymentRequestId) -> Result<PaymentRequest, ClientError> {
        self.get(&["payment-requests", id.as_str()]).await
    }

    /// `POST /api/v1/allowances` → 201 `{id, status: "pending", …}`.
    pub async fn create_allowance(&self, body: &NewAllowance) -> Result<Allowance, ClientError> {
        self.post(&["allowances"], body, &body.key_for_send()).await
    }

    /// `GET /api/v1/allowances/{id}`.
    pub async fn allowance(&self, id: &AllowanceId) -> Result<Allowance, ClientError> {
        self.get(&["allowances", id.as_str()]).await
    }

    /// `POST /api/v1/charges` → 201 `{reference, amount_minor, fee_minor, remaining_minor}`.
    pub async fn charge(&self, body: &NewCharge) -> Result<Charge, ClientError> {
        self.post(&["charges"], body, &body.key_for_send()).await
    }

    /// `POST /api/v1/payouts` → 201.
    pub async fn payout(&self, body: &NewPayout) -> Result<Movement, ClientError> {
        self.post(&["payouts"], body, &body.key_for_send()).await
    }

    /// `POST /api/v1/refunds` → 201.
    pub async fn refund(&self, body: &NewRefund) -> Result<Movement, ClientError> {
        self.post(&["refunds"], body, &body.key_for_send()).await
    }

    /// `GET /api/v1/transactions/{reference}`.
    pub async fn transaction(&self, reference: &Reference) -> Result<Transaction, ClientError> {
        self.get(&["transactions", reference.as_str()]).await
    }

    /// `GET /api/v1/balance`.
    pub async fn balance(&self) -> Result<Balance, ClientError> {
        self.get(&["balance"]).await
    }

    /// Polls the allowance every `interval` until it is no longer pending
    /// and returns it; after `timeout` returns it as last seen (pending).
    pub async fn wait_allowance_decided(
        &self,
        id: &AllowanceId,
        interval: Duration,
        timeout: Duration,
    ) -> Result<Allowance, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let allowance = self.allowance(id).await?;
            if allowance.status != AllowanceStatus::Pending || tokio::time::Instant::now() + interval > deadline {
                return Ok(allowance);
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Polls the payment request like [`wait_allowance_decided`](Self::wait_allowance_decided).
    pub async fn wait_payment_request_decided(
        &self,
        id: &PaymentRequestId,
        interval: Duration,
        timeout: Duration,
    ) -> Result<PaymentRequest, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let request = self.payment_request(id).await?;
            if request.status != PaymentRequestStatus::Pending || tokio::time::Instant::now() + interval > deadline {
                return Ok(request);
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// `POST {base}/api/v1/{path}` with this client's key, the JSON `body` as
    /// given and the `Idempotency-Key` only if `idempotency_key` is `Some`:
    /// for tests of the contract (missing key → 400, same key with another
    /// body → 409, `amount_minor: 1.5` → 400).
    pub async fn raw_post(
        &self,
        path: &str,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> Result<RawResponse, ClientError> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut request = self.request(Method::POST, &segments).json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        raw(request).await
    }

    /// `GET {base}/api/v1/{path}` with this client's key.
    pub async fn raw_get(&self, path: &str) -> Result<RawResponse, ClientError> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        raw(self.request(Method::GET, &segments)).await
    }

    fn request(&self, method: Method, segments: &[&str]) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(segments)).bearer_auth(&self.api_key)
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        decode(self.request(Method::GET, segments).send().await).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
        idempotency_key: &str,
    ) -> Result<T, ClientError> {
        let request = self.request(Method::POST, segments).header("Idempotency-Key", idempotency_key).json(body);
        decode(request.send().await).await
    }
}

fn transport(e: reqwest::Error) -> ClientError {
    // Without the URL (it can carry ids), but with the causes: reqwest's own
    // text ("error sending request") says nothing of why.
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    ClientError::Transport(text)
}

fn kept(body: &str) -> String {
    body.chars().take(BODY_KEPT_MAX_CHARS).collect()
}

async fn decode<T: DeserializeOwned>(sent: Result<reqwest::Response, reqwest::Error>) -> Result<T, ClientError> {
    let response = sent.map_err(transport)?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(transport)?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            status: status.as_u16(),
            message: e.to_string(),
            body: kept(&String::from_utf8_lossy(&bytes)),
        });
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(ErrorBody { error }) => {
            Err(ApiError { status: status.as_u16(), code: error.code, message: error.message }.into())
        }
        Err(_) => Err(ClientError::Decode {
            status: status.as_u16(),
            message: status.canonical_reason().unwrap_or("error").to_string(),
            body: kept(&String::from_utf8_lossy(&bytes)),
        }),
    }
}

async fn raw(request: reqwest::RequestBuilder) -> Result<RawResponse, ClientError> {
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let body = response.text().await.map_err(transport)?;
    let json = serde_json::from_str(&body).ok();
    Ok(RawResponse { status: status.as_u16(), body, json })
}

impl RawResponse {
    /// The error code of an error body.
    pub fn error_code(&self) -> Option<&str> {
        self.json.as_ref()?.get("error")?.get("code")?.as_str()
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

#[cfg(test)]
mod tests;

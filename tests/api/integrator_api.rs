//! The integrator API (SPEC §9) over real HTTP, on every backend: keys,
//! idempotency, each endpoint and each refusal, races on one allowance and
//! one payment, and the OpenAPI document against the routes.

mod cli;
mod money;
mod openapi;
mod races;
mod refusals;
mod requests;

use crate::helpers::{kes, spawn_app_with, TestApp, TestDb, World};
use mkoba::config::Config;
use mkoba::integrator::{self, approvals, keys};
use mkoba::ledger::{AccountId, Receipt, TransferKind};
use serde_json::{json, Value};

/// A running app with the usual cast, and an API key for Mama Mboga's till
/// (55123) and one for a second till (55124, "Duka la Pili").
pub struct Api {
    pub app: TestApp,
    pub w: World,
    pub key: String,
    pub other_till: AccountId,
    pub other_key: String,
}

/// One answer: status, JSON body (Null when not JSON), Retry-After.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn str(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_else(|| panic!("no {field} in {}", self.body)).to_string()
    }

    pub fn i64(&self, field: &str) -> i64 {
        self.body[field].as_i64().unwrap_or_else(|| panic!("no {field} in {}", self.body))
    }
}

/// The config these tests run with: SMS senders off (messages stay in the outbox).
pub fn api_config(db: &TestDb) -> Config {
    let mut config = db.config();
    config.notify.workers = false;
    config
}

pub async fn api(db: TestDb) -> Api {
    let config = api_config(&db);
    api_with(db, config).await
}

pub async fn api_with(db: TestDb, config: Config) -> Api {
    let app = spawn_app_with(db, config).await;
    let w = app.t.world(1_000).await;
    let other_till = app.t.merchant("55124", "Duka la Pili").await;
    let key = new_key(&app, w.shop).await;
    let other_key = new_key(&app, other_till).await;
    Api { app, w, key, other_till, other_key }
}

pub async fn new_key(app: &TestApp, till: AccountId) -> String {
    let secret = app.t.config.api.key_secret.expose().to_string();
    let created = app
        .t
        .ledger
        .write(move |conn| keys::create(conn, &secret, till, mkoba::domain::now_ms()))
        .await
        .expect("create key");
    created.key
}

pub fn idem() -> String {
    format!("idem-{}", crate::helpers::random_suffix())
}

impl Api {
    pub fn be(&self) -> &'static str {
        self.app.backend()
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, body, retry_after }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.app.address)
    }

    /// POST as Mama Mboga with this Idempotency-Key.
    pub async fn post(&self, path: &str, key: &str, body: Value) -> Answer {
        self.post_as(&self.key, path, key, body).await
    }

    pub async fn post_as(&self, api_key: &str, path: &str, key: &str, body: Value) -> Answer {
        let req = self.app.client.post(self.url(path)).bearer_auth(api_key).header("Idempotency-Key", key).json(&body);
        self.send(req).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.get_as(&self.key, path).await
    }

    pub async fn get_as(&self, api_key: &str, path: &str) -> Answer {
        self.send(self.app.client.get(self.url(path)).bearer_auth(api_key)).await
    }

    /// An allowance for Amina, pending.
    pub async fn allowance(&self, limit_minor: i64) -> String {
        let body = json!({"msisdn": "0712000001", "limit_minor": limit_minor, "period": "day", "description": "News"});
        let a = self.post("/allowances", &idem(), body).await;
        assert_eq!(a.status, 201, "[{}] {a:?}", self.be());
        a.str("id")
    }

    /// An allowance for Amina, approved on her behalf.
    pub async fn active_allowance(&self, limit_minor: i64) -> String {
        let id = self.allowance(limit_minor).await;
        self.decide(&id, "approve").await;
        id
    }

    /// What the customer's phone would do: `approve` (an allowance),
    /// `decline` or `revoke`.
    pub async fn decide(&self, public_id: &str, how: &'static str) {
        let id = public_id.to_string();
        let done = self
            .app
            .t
            .ledger
            .write(move |conn| {
                let a = approvals::find_by_public_id(conn, &id)?.expect("approval exists");
                let now = mkoba::domain::now_ms();
                match how {
                    "approve" => integrator::activate(conn, &a, now),
                    "decline" => integrator::decline(conn, &a, now),
                    _ => integrator::revoke(conn, &a, now),
                }
            })
            .await
            .expect("decide");
        assert!(done, "[{}] {how} {public_id}", self.be());
    }

    /// Pays a payment request as the customer approving it would.
    pub async fn pay(&self, public_id: &str) -> Receipt {
        let id = public_id.to_string();
        let a = self.app.t.ledger.read(move |c| approvals::find_by_public_id(c, &id)).await.expect("read");
        let req = integrator::payment_of(&a.expect("request exists")).expect("payment");
        self.app.t.ledger.submit(req).await.expect("paid")
    }

    /// A merchant payment of `major` KES from Amina to Mama Mboga.
    pub async fn payment(&self, major: i64) -> Receipt {
        let t = &self.app.t;
        t.transfer(TransferKind::MerchantPayment, self.w.amina, self.w.shop, kes(major)).await.expect("payment")
    }

    pub async fn spent(&self, public_id: &str) -> i64 {
        let id = public_id.to_string();
        let a = self.app.t.ledger.read(move |c| approvals::find_by_public_id(c, &id)).await.expect("read");
        a.expect("approval").spent_minor
    }

    pub async fn charge(&self, allowance: &str, key: &str, amount_minor: i64) -> Answer {
        let body = json!({"allowance_id": allowance, "amount_minor": amount_minor, "description": "Article"});
        self.post("/charges", key, body).await
    }
}

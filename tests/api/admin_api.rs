//! The operator API (SPEC §10) over real HTTP, on every backend: keys and
//! roles, every route and its refusals, idempotent float, held transfers,
//! the audit log (append-only, one entry per write from the API and the
//! CLI), and the OpenAPI document against the routes.

mod audit;
mod cli;
mod float;
mod held;
mod openapi;
mod routes;

use crate::helpers::{spawn_app_with, TestApp, TestDb, World};
use mkoba::admin::keys::{self, Role};
use mkoba::config::Config;
use serde_json::Value;

/// A running app with the usual cast and two admin keys.
pub struct Admin {
    pub app: TestApp,
    pub w: World,
    /// An operator key, named `ops`.
    pub op: String,
    /// A viewer key, named `desk`.
    pub viewer: String,
}

/// One answer: status and JSON body (Null when not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn str(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_else(|| panic!("no {field} in {}", self.body)).to_string()
    }
}

pub fn admin_config(db: &TestDb) -> Config {
    let mut config = db.config();
    config.notify.workers = false;
    config
}

pub async fn admin(db: TestDb) -> Admin {
    let config = admin_config(&db);
    admin_with(db, config).await
}

pub async fn admin_with(db: TestDb, config: Config) -> Admin {
    let app = spawn_app_with(db, config).await;
    let w = app.t.world(1_000).await;
    let op = new_key(&app, "ops", Role::Operator).await;
    let viewer = new_key(&app, "desk", Role::Viewer).await;
    Admin { app, w, op, viewer }
}

pub async fn new_key(app: &TestApp, name: &str, role: Role) -> String {
    let secret = app.t.config.api.key_secret.expose().to_string();
    let name = name.to_string();
    let created = app
        .t
        .ledger
        .write(move |conn| keys::create(conn, &secret, &name, role, mkoba::domain::now_ms()))
        .await
        .expect("create admin key");
    created.key
}

impl Admin {
    pub fn be(&self) -> &'static str {
        self.app.backend()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/admin/v1{path}", self.app.address)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn get_as(&self, key: &str, path: &str) -> Answer {
        self.send(self.app.client.get(self.url(path)).bearer_auth(key)).await
    }

    /// GET with the operator key.
    pub async fn get(&self, path: &str) -> Answer {
        self.get_as(&self.op, path).await
    }

    /// POST with `key`, an optional Idempotency-Key and a JSON body (none
    /// for `Value::Null`).
    pub async fn post_as(&self, key: &str, path: &str, idem: Option<&str>, body: Value) -> Answer {
        let mut req = self.app.client.post(self.url(path)).bearer_auth(key);
        if let Some(idem) = idem {
            req = req.header("Idempotency-Key", idem);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        self.send(req).await
    }

    /// POST with the operator key and no Idempotency-Key.
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.post_as(&self.op, path, None, body).await
    }

    /// The latest audit entries, newest first.
    pub async fn audit(&self, limit: usize) -> Vec<Value> {
        let a = self.get(&format!("/audit?limit={limit}")).await;
        assert_eq!(a.status, 200, "[{}] {a:?}", self.be());
        a.body["entries"].as_array().expect("entries").clone()
    }

    /// The latest audit entry.
    pub async fn last_audit(&self) -> Value {
        self.audit(1).await.pop().expect("an audit entry")
    }
}

//! Test fixtures: a fresh database per test (a SQLite file, or a PostgreSQL
//! schema when MKOBA_TEST_DATABASE_URL is set), ledgers and a running app.

use mkoba::config::{Argon2Config, Config, Secret};
use mkoba::domain::{Money, Msisdn, Pin};
use mkoba::ledger::{AccountId, AccountKey, Ledger, NewAccount, Receipt, TransferKind, TransferRequest};
use mkoba::startup::{self, Application};
use rand::Rng;

pub const TOKEN: &str = "test-token-5b1c";

/// One test's own database.
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/mkoba.db", dir.path().display());
        TestDb { url, backend: "sqlite", _dir: Some(dir), pg_admin: None }
    }

    /// A schema of its own in the PostgreSQL test database.
    pub fn postgres(base: &str) -> TestDb {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let schema = format!("t_{}", random_suffix());
        let mut admin = diesel::PgConnection::establish(base).expect("connect to MKOBA_TEST_DATABASE_URL");
        admin.batch_execute(&format!("CREATE SCHEMA {schema}")).expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
        TestDb { url, backend: "postgres", _dir: None, pg_admin: Some((base.to_string(), schema)) }
    }

    /// Every backend this run tests: SQLite always, PostgreSQL when configured.
    pub fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        if let Ok(base) = std::env::var("MKOBA_TEST_DATABASE_URL") {
            if !base.is_empty() {
                dbs.push(TestDb::postgres(&base));
            }
        }
        dbs
    }

    pub fn config(&self) -> Config {
        let mut config = Config {
            database_url: self.url.clone(),
            listen: "127.0.0.1:0".into(),
            webhook_token: Secret::new(TOKEN),
            ..Config::default()
        };
        config.pin.pepper = Secret::new("test-pepper");
        config.api.key_secret = Secret::new("test-key-secret");
        // Cheap hashing keeps tests fast; production uses the OWASP default.
        config.pin.argon2 = Argon2Config { memory_kib: 1024, iterations: 1, parallelism: 1 };
        config.database.pool_size = 8;
        // No connection is opened in the background: none is being opened on
        // a pool thread when the test binary exits (libpq's TLS teardown
        // then crashes the process).
        config.database.min_idle = 0;
        config
    }
}

impl TestDb {
    /// The same database under another handle, for a second process or a
    /// restart. Only the original cleans up.
    pub fn clone_for_restart(&self) -> TestDb {
        TestDb { url: self.url.clone(), backend: self.backend, _dir: None, pg_admin: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        if let Some((base, schema)) = &self.pg_admin {
            if let Ok(mut admin) = diesel::PgConnection::establish(base) {
                let _ = admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
            }
        }
    }
}

pub fn random_suffix() -> String {
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

/// The accounts of [`TestLedger::world`].
#[derive(Debug, Clone, Copy)]
pub struct World {
    pub agent: AccountId,
    pub amina: AccountId,
    pub baraka: AccountId,
    pub shop: AccountId,
}

/// A ledger on its own database, with helpers to set up accounts.
pub struct TestLedger {
    pub db: TestDb,
    pub config: Config,
    pub ledger: Ledger,
}

pub fn msisdn(s: &str) -> Msisdn {
    Msisdn::parse(s, &Default::default()).expect("valid test number")
}

pub fn kes(major: i64) -> Money {
    Money::from_minor(major * 100).expect("valid amount")
}

/// What composes messages, as `mkoba serve` builds it.
pub fn notices(config: &Config) -> std::sync::Arc<mkoba::notify::Notices> {
    let catalog = std::sync::Arc::new(mkoba::i18n::Catalog::load().expect("catalog"));
    std::sync::Arc::new(mkoba::notify::Notices::new(config, catalog))
}

pub fn key() -> String {
    format!("test:{}", random_suffix())
}

impl TestLedger {
    pub fn open(db: TestDb) -> TestLedger {
        let config = db.config();
        TestLedger::open_with(db, config)
    }

    pub fn open_with(db: TestDb, config: Config) -> TestLedger {
        let ledger = startup::open_ledger(&config).expect("open ledger");
        TestLedger { db, config, ledger }
    }

    /// A second ledger (own writer) on the same database: what a second
    /// `mkoba serve` process would be.
    pub fn second_writer(&self) -> Ledger {
        startup::open_ledger(&self.config).expect("open second ledger")
    }

    pub async fn account(&self, kind: &str, phone: &str, name: &str, tier: &str) -> AccountId {
        let pin_hash = startup::pin_hasher(&self.config)
            .expect("hasher")
            .hash(&Pin::parse("1357", 4).expect("pin"))
            .expect("hash");
        let number = msisdn(phone);
        let new = match kind {
            "agent" => NewAccount::agent(&number, name, Some(pin_hash)),
            _ => NewAccount::customer(&number, name, tier, Some(pin_hash)),
        };
        self.ledger.create_account(new).await.expect("create account")
    }

    pub async fn customer(&self, phone: &str, name: &str) -> AccountId {
        self.account("customer", phone, name, "standard").await
    }

    pub async fn agent(&self, phone: &str, name: &str) -> AccountId {
        self.account("agent", phone, name, "agent").await
    }

    pub async fn merchant(&self, till: &str, name: &str) -> AccountId {
        let till = mkoba::domain::Till::parse(till).expect("till");
        let new = NewAccount::merchant(&till, name, &msisdn("0799000000"));
        self.ledger.create_account(new).await.expect("create merchant")
    }

    pub async fn transfer(
        &self,
        kind: TransferKind,
        from: AccountId,
        to: AccountId,
        amount: Money,
    ) -> Result<Receipt, mkoba::ledger::LedgerError> {
        self.ledger
            .submit(TransferRequest {
                idempotency_key: key(),
                kind,
                from,
                to,
                amount,
                guard: None,
                client_hash: None,
                api_key: None,
            })
            .await
    }

    pub async fn float(&self, agent: AccountId, amount: Money) -> Receipt {
        let issuance = self.ledger.settings().system.issuance;
        self.transfer(TransferKind::FloatIssue, issuance, agent, amount).await.expect("float issue")
    }

    /// An agent with float and a customer holding `major` after a deposit.
    pub async fn funded_customer(&self, agent: AccountId, phone: &str, name: &str, major: i64) -> AccountId {
        let c = self.customer(phone, name).await;
        self.transfer(TransferKind::CashIn, agent, c, kes(major)).await.expect("deposit");
        c
    }

    /// The cast most tests start from: Duka Moja (agent, KES 10,000 of float),
    /// Amina Juma (deposited `amina_major` at Duka Moja), Baraka Otieno (empty)
    /// and Mama Mboga (till 55123).
    pub async fn world(&self, amina_major: i64) -> World {
        let agent = self.agent("254722000001", "Duka Moja").await;
        self.float(agent, kes(10_000)).await;
        let amina = self.funded_customer(agent, "254712000001", "Amina Juma", amina_major).await;
        let baraka = self.customer("254712000002", "Baraka Otieno").await;
        let shop = self.merchant("55123", "Mama Mboga").await;
        World { agent, amina, baraka, shop }
    }

    /// Queues the receipts of every transfer posted so far, `limit` transfers
    /// per call, as the SMS sender does; returns each call's count.
    pub async fn feed_receipts(&self, limit: i64) -> Vec<usize> {
        let notices = notices(&self.config);
        let mut counts = Vec::new();
        loop {
            let n = mkoba::notify::worker::feed_receipts(&self.ledger, &notices, limit).await.expect("feed receipts");
            counts.push(n);
            if n == 0 {
                return counts;
            }
        }
    }

    /// The outbox messages whose text names `needle`, oldest first.
    pub async fn outbox_naming(&self, needle: &str) -> Vec<mkoba::notify::outbox::OutboxRow> {
        let pattern = format!("%{needle}%");
        let sql = format!("SELECT {} FROM outbox WHERE body LIKE $1 ORDER BY id", mkoba::notify::outbox::COLUMNS);
        self.ledger
            .read(move |conn| {
                use diesel::RunQueryDsl;
                Ok(mkoba::with_conn!(conn, c => diesel::sql_query(sql.as_str())
                .bind::<diesel::sql_types::Text, _>(pattern.clone())
                .load(c))?)
            })
            .await
            .expect("outbox")
    }

    pub async fn balance(&self, id: AccountId) -> i64 {
        self.ledger
            .read(move |conn| mkoba::ledger::account::find_by_id(conn, id))
            .await
            .expect("read")
            .expect("account exists")
            .balance_minor
    }

    pub async fn find(&self, phone: &str) -> Option<mkoba::ledger::Account> {
        self.ledger.find_account(AccountKey::Msisdn(msisdn(phone))).await.expect("read")
    }

    /// Asserts every ledger invariant holds.
    pub async fn assert_verified(&self) {
        let report = self.ledger.verify().await.expect("verify runs");
        assert!(report.ok(), "[{}] ledger verify failed: {:?}", self.db.backend, report.problems);
    }
}

/// The application, started on a free port, with its ledger for set-up.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub t: TestLedger,
    /// The app's own PIN hasher (it counts the PINs it checked).
    pub pins: mkoba::auth::PinHasher,
}

pub async fn spawn_app(db: TestDb) -> TestApp {
    let config = db.config();
    spawn_app_with(db, config).await
}

pub async fn spawn_app_with(db: TestDb, config: Config) -> TestApp {
    let app = Application::build(config.clone()).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let ledger = app.state().ledger.clone();
    let pins = app.state().pins.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp { address, client: reqwest::Client::new(), t: TestLedger { db, config, ledger }, pins }
}

impl TestApp {
    pub fn backend(&self) -> &'static str {
        self.t.db.backend
    }

    /// One USSD hop exactly as Africa's Talking sends it: (status, body).
    pub async fn hop(&self, session: &str, phone: &str, text: &str) -> (u16, String) {
        self.hop_with(session, phone, text, "*384#", TOKEN).await
    }

    pub async fn hop_with(&self, session: &str, phone: &str, text: &str, code: &str, token: &str) -> (u16, String) {
        let form = [
            ("sessionId", session),
            ("serviceCode", code),
            ("phoneNumber", phone),
            ("networkCode", "63902"),
            ("text", text),
        ];
        let resp = self
            .client
            .post(format!("{}/webhooks/africastalking/ussd?token={token}", self.address))
            .form(&form)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// Dials and sends each input in turn; returns every screen.
    pub async fn dial(&self, phone: &str, inputs: &[&str]) -> Vec<String> {
        let session = format!("ATUid_{}", random_suffix());
        let mut screens = Vec::new();
        let (status, body) = self.hop(&session, phone, "").await;
        assert_eq!(status, 200, "{body}");
        screens.push(body);
        for i in 0..inputs.len() {
            let (status, body) = self.hop(&session, phone, &inputs[..=i].join("*")).await;
            assert_eq!(status, 200, "{body}");
            screens.push(body);
        }
        screens
    }

    /// The last screen of a session.
    pub async fn last(&self, phone: &str, inputs: &[&str]) -> String {
        self.dial(phone, inputs).await.pop().unwrap_or_default()
    }
}

/// (method in lower case, path) pairs.
pub type Operations = std::collections::BTreeSet<(String, String)>;

/// The operations an OpenAPI document describes, and those of a route
/// table (`http::api::route_table`, `http::admin::route_table`), to compare
/// the two.
pub fn documented_and_routed(
    doc: &serde_json::Value,
    routes: Vec<(actix_web::http::Method, String)>,
) -> (Operations, Operations) {
    let paths = doc["paths"].as_object().expect("paths");
    let documented = paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
            methods.into_iter().map(move |m| (m, path.clone()))
        })
        .collect();
    let routed = routes.into_iter().map(|(m, p)| (m.as_str().to_ascii_lowercase(), p)).collect();
    (documented, routed)
}

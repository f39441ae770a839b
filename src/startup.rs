//! Builds the application from a configuration: database, ledger, HTTP
//! server bound to its port. Tests start the real thing on port 0.

use crate::auth::PinHasher;
use crate::config::Config;
use crate::db::{self, migrate};
use crate::domain::now_ms;
use crate::http;
use crate::i18n::Catalog;
use crate::integrator::directory::Directory;
use crate::integrator::keys::KeyCache;
use crate::ledger::Ledger;
use crate::limits::sim_swap::SimSwapCheck;
use crate::limits::Limits;
use crate::notify::callback_sender::{self, CallbackSender};
use crate::notify::email::EmailSender;
use crate::notify::sms::SmsSender;
use crate::notify::{digest, summary, worker, Notices};
use crate::secrets;
use crate::sms::SmsService;
use crate::ussd::{session, Ussd};
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;

/// What every handler can reach.
pub struct AppState {
    pub ledger: Ledger,
    pub config: Arc<Config>,
    pub pins: PinHasher,
    pub ussd: Ussd,
    pub sms: SmsService,
    pub limits: Limits,
    /// `webhooks.allowed_ips`, parsed; empty lets any address in.
    pub webhook_sources: Vec<ipnet::IpNet>,
    pub notices: Arc<Notices>,
    /// Allowances API charges named, remembered (see [`Directory`]).
    pub allowances: Directory,
    /// API keys this process has authenticated (see [`KeyCache`]).
    pub api_keys: KeyCache,
}

/// Opens the pool, applies pending migrations and starts the ledger writer.
/// Blocking: call it from a plain thread or `spawn_blocking`.
pub fn open_ledger(config: &Config) -> anyhow::Result<Ledger> {
    let pool = db::open_pool(
        &config.database_url,
        config.database.pool_size,
        config.database.min_idle,
        config.database.pool_timeout_ms,
        config.database.busy_timeout_ms,
    )
    .context("opening the database")?;
    let mut conn = pool.get().context("connecting to the database")?;
    let ran = migrate::run(&mut conn)?;
    if ran > 0 {
        tracing::info!(migrations = ran, "database migrated");
    }
    drop(conn);
    Ok(Ledger::open(config, pool)?)
}

pub fn pin_hasher(config: &Config) -> anyhow::Result<PinHasher> {
    Ok(PinHasher::new(&config.pin.pepper, &config.pin.argon2, config.pin.verify_concurrency)?)
}

/// The outbox workers: SMS always, email when SMTP is configured; the
/// callback sender and the daily digest receipts.
fn start_senders(state: &web::Data<AppState>) -> anyhow::Result<()> {
    let config = &state.config;
    let callbacks = CallbackSender::new(&config.api).map_err(anyhow::Error::msg)?;
    tokio::spawn(callback_sender::run_callbacks(state.ledger.clone(), callbacks, config.notify.clone()));
    tokio::spawn(digest::run_digests(state.ledger.clone(), state.notices.clone()));
    if config.sms.api_key.is_set() {
        let sms = SmsSender::new(&config.sms).map_err(anyhow::Error::msg)?;
        let backoff_s = config.sms.config_error_backoff_s;
        let (ledger, notices) = (state.ledger.clone(), state.notices.clone());
        tokio::spawn(worker::run_sms(ledger, notices, sms, config.notify.clone(), backoff_s));
    } else {
        tokio::spawn(worker::run_local_sms(state.ledger.clone(), state.notices.clone(), config.notify.clone()));
    }
    match EmailSender::from_config(&config.smtp).map_err(anyhow::Error::msg)? {
        Some(email) => {
            tokio::spawn(worker::run_email(state.ledger.clone(), email, config.notify.clone()));
        }
        None if !config.alerts.email_to.is_empty() => {
            tracing::warn!("alerts.email_to is set but smtp.url is not: alert emails wait in the outbox");
        }
        None => {}
    }
    Ok(())
}

/// Every minute: drop idle USSD sessions, forget idle rate-limit keys, and
/// once a day queue the ledger summary for the operator.
async fn housekeeping(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    let mut summarised_day = None;
    loop {
        tick.tick().await;
        let idle_ms = i64::try_from(state.config.ussd.session_timeout_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let cutoff = now_ms().saturating_sub(idle_ms);
        match state.ledger.write(move |conn| session::delete_idle(conn, cutoff)).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "expired idle USSD sessions"),
            Err(e) => tracing::warn!(error = %e, "session cleanup failed"),
        }
        state.limits.forget_idle();
        let week_ago = now_ms().saturating_sub(7 * 86_400_000);
        if let Err(e) = state.ledger.write(move |conn| crate::sms::forget_inbound_before(conn, week_ago)).await {
            tracing::warn!(error = %e, "inbound SMS cleanup failed");
        }
        let limits = state.config.attempt_limits();
        if limits.source_window_ms > 0 {
            let current = now_ms().div_euclid(limits.source_window_ms);
            let forget = move |conn: &mut _| crate::auth::lockout::forget_sources_before(conn, current);
            if let Err(e) = state.ledger.write(forget).await {
                tracing::warn!(error = %e, "PIN source cleanup failed");
            }
        }
        let day_ago = now_ms().saturating_sub(86_400_000);
        let forget = move |conn: &mut _| crate::ussd::events::forget_before(conn, day_ago);
        if let Err(e) = state.ledger.write(forget).await {
            tracing::warn!(error = %e, "USSD session event cleanup failed");
        }
        let forget = move |conn: &mut _| crate::auth::lockout::forget_claims_before(conn, day_ago);
        if let Err(e) = state.ledger.write(forget).await {
            tracing::warn!(error = %e, "PIN claim cleanup failed");
        }
        if !state.config.alerts.email_to.is_empty() {
            let offset = state.config.ledger.day_utc_offset_minutes;
            let yesterday = crate::domain::time::day_number(now_ms(), offset) - 1;
            if summarised_day != Some(yesterday) {
                let notices = state.notices.clone();
                // The dedupe key makes this once per day across every process.
                match state.ledger.write(move |c| summary::enqueue_daily(c, &notices, yesterday, offset)).await {
                    Ok(()) => summarised_day = Some(yesterday),
                    Err(e) => tracing::warn!(error = %e, "daily summary failed"),
                }
            }
        }
    }
}

/// Every second: pending payment requests and allowances past their expiry
/// become expired, with their callback events. A cheap read first, so an
/// idle system takes no write lock.
async fn expire_approvals(state: web::Data<AppState>) {
    const PER_PASS: i64 = 500;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.ledger.read(|conn| crate::integrator::any_due(conn, now_ms())).await {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading approvals due to expire failed");
                continue;
            }
        }
        match state.ledger.write(|conn| crate::integrator::expire_due(conn, now_ms(), PER_PASS)).await {
            Ok(n) => tracing::debug!(approvals = n, "expired pending approvals"),
            Err(e) => tracing::warn!(error = %e, "expiring approvals failed"),
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Fills in generated secrets, opens everything and binds `config.listen`.
    pub async fn build(mut config: Config) -> anyhow::Result<Application> {
        let generated = secrets::ensure(&mut config)?;
        if !generated.is_empty() {
            tracing::info!(generated = ?generated, file = %secrets::path_for(&config).display(), "generated secrets");
            if config.is_postgres() && generated.contains(&"pin.pepper") {
                tracing::warn!("the PIN pepper was generated locally: every mkoba process sharing this PostgreSQL must be given the same MKOBA_PIN__PEPPER");
            }
        }
        let for_open = config.clone();
        let ledger = tokio::task::spawn_blocking(move || open_ledger(&for_open)).await??;
        let (pepper, argon, concurrency) = (&config.pin.pepper, &config.pin.argon2, config.pin.verify_concurrency);
        let pins = PinHasher::observed(pepper, argon, concurrency, ledger.metrics().clone())?;
        let listener = TcpListener::bind(&config.listen).with_context(|| format!("binding {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let catalog = Arc::new(Catalog::load().map_err(anyhow::Error::msg)?);
        let config = Arc::new(config);
        let sim_swap = SimSwapCheck::new(&config.sim_swap, ledger.clone()).map_err(anyhow::Error::msg)?;
        let notices = Arc::new(Notices::new(&config, catalog.clone()));
        let ussd =
            Ussd::new(ledger.clone(), pins.clone(), catalog.clone(), config.clone(), notices.clone(), sim_swap.clone());
        let sms = SmsService::new(ledger.clone(), pins.clone(), catalog, config.clone(), notices.clone(), sim_swap);
        let limits = Limits::new(&config.rate_limits);
        let webhook_sources = config.webhooks.allowed_nets().map_err(anyhow::Error::msg)?;
        if !config.sms.api_key.is_set() {
            tracing::warn!(
                "sms.api_key is not set: outbound SMS stay on this machine, in a local inbox \
                 (GET /dev/inbox/<phone>?token=<webhook_token>, or mkoba-phone --inbox); \
                 nothing is sent to Africa's Talking. Set MKOBA_SMS__USERNAME and MKOBA_SMS__API_KEY to send for real"
            );
        }
        let state = web::Data::new(AppState {
            ledger,
            config,
            pins,
            ussd,
            sms,
            limits,
            webhook_sources,
            notices,
            allowances: Directory::default(),
            api_keys: KeyCache::default(),
        });
        tokio::spawn(housekeeping(state.clone()));
        tokio::spawn(expire_approvals(state.clone()));
        if state.config.notify.workers {
            start_senders(&state)?;
        }
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::observe::observe))
                .app_data(app_state.clone())
                .configure(http::routes)
        })
        .listen(listener)?
        .run();
        Ok(Application { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The URLs to give the aggregator, token included. Printed once at start.
    pub fn callback_urls(&self) -> Vec<(&'static str, String)> {
        let config = &self.state.config;
        let host = config.listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
        let token = config.webhook_token.expose();
        ["ussd", "ussd-events", "sms", "delivery"]
            .into_iter()
            .map(|kind| (kind, format!("http://{host}:{}/webhooks/africastalking/{kind}?token={token}", self.port)))
            .collect()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

//! Setting up a mix run's world through the `mkoba` CLI, as an operator
//! would: agents (`agent create`, `float issue`), customers (`customer
//! register`, PIN on standard input), merchants (`merchant create`); then,
//! once a node serves, each customer's opening balance as a cash deposit at
//! an agent over USSD. The references these print are acknowledgements too.
//! Then the integrator's side (SPEC §9): an API key per till (`merchant key
//! create`), and for a seeded subset of the customers an allowance that the
//! till asks for over the API and the customer approves by SMS (`APPROVE
//! <code> <PIN>`), checked active before the crowd starts.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::caller::{find_reference, inbound_sms_form, Ack, SHORT_CODE};
use super::plan::{caller_seed, AllowanceRef, Kind, World};
use super::proc::Mkoba;
use crate::load::LoadError;
use crate::merchant::{AllowanceStatus, MerchantClient, NewAllowance, Period};
use crate::msisdn;
use crate::ussd::{webhook_url, UssdClient};

/// CLI commands (and allowance set-ups) run at once during set-up.
const SETUP_PARALLEL: usize = 4;

/// Share of the customers who approve an allowance (at least one does).
const ALLOWANCE_SHARE: f64 = 0.5;

/// Most allowances set up: each costs a PIN check.
const ALLOWANCES_MAX: usize = 200;

/// Longest wait for an approved allowance to read as active.
const ACTIVE_WAIT: Duration = Duration::from_secs(10);

/// The numbers of a world of `customers`, `agents` and `merchants`.
pub fn world(customers: usize, agents: usize, merchants: usize, pin: &str, country_code: &str) -> World {
    World {
        customers: (0..customers).map(|i| format!("25471{i:07}")).collect(),
        agents: (0..agents).map(|i| format!("25478{i:07}")).collect(),
        tills: (0..merchants).map(|i| format!("{}", 55_100 + i)).collect(),
        pin: pin.to_string(),
        country_code: country_code.to_string(),
        allowances: Vec::new(),
    }
}

/// Runs `jobs` (each a list of CLI arguments and a standard input) a few at
/// a time; returns each one's standard output in order.
async fn run_all(mkoba: &Mkoba, jobs: Vec<(Vec<String>, String)>) -> Result<Vec<String>, LoadError> {
    let gate = Arc::new(Semaphore::new(SETUP_PARALLEL));
    let mut set = JoinSet::new();
    for (i, (args, stdin)) in jobs.into_iter().enumerate() {
        let (mkoba, gate) = (mkoba.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire().await.map_err(|e| LoadError(e.to_string()))?;
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            existing_ok(&mkoba, &args, &stdin).await.map(|out| (i, out))
        });
    }
    let mut outs = Vec::new();
    while let Some(done) = set.join_next().await {
        outs.push(done.map_err(|e| LoadError(e.to_string()))??);
    }
    outs.sort_by_key(|(i, _)| *i);
    Ok(outs.into_iter().map(|(_, o)| o).collect())
}

/// Runs a set-up command; an account that already exists (a working
/// directory used before) is fine: the crowd runs on the world it finds.
async fn existing_ok(mkoba: &Mkoba, args: &[&str], stdin: &str) -> Result<String, LoadError> {
    let out = mkoba.cli(args, stdin).await?;
    if out.code == 0 || (out.code == 1 && out.stderr.contains("already")) {
        return Ok(out.stdout);
    }
    let cmd = args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
    Err(LoadError(format!("mkoba {cmd} exited {}: {}", out.code, out.stderr.trim())))
}

/// Creates the accounts and issues float; returns the float references.
pub async fn accounts(mkoba: &Mkoba, w: &World, float_major: u64) -> Result<Vec<String>, LoadError> {
    let pin = format!("{}\n", w.pin);
    let s = |x: &str| x.to_string();
    let mut jobs = Vec::new();
    for (i, a) in w.agents.iter().enumerate() {
        jobs.push((
            vec![s("agent"), s("create"), s("--msisdn"), a.clone(), s("--name"), format!("Duka {}", letters(i))],
            pin.clone(),
        ));
    }
    for (i, c) in w.customers.iter().enumerate() {
        let name = format!("Mteja {}", letters(i));
        let args =
            vec![s("customer"), s("register"), s("--msisdn"), c.clone(), s("--name"), name, s("--tier"), s("standard")];
        jobs.push((args, pin.clone()));
    }
    for (i, till) in w.tills.iter().enumerate() {
        let contact = format!("25477{i:07}");
        let name = format!("Soko {}", letters(i));
        jobs.push((
            vec![s("merchant"), s("create"), s("--till"), till.clone(), s("--name"), name, s("--msisdn"), contact],
            String::new(),
        ));
    }
    // The first command alone: it writes the secrets file (the PIN pepper)
    // that every later one must read rather than race to create.
    let rest = jobs.split_off(1);
    run_all(mkoba, jobs).await?;
    run_all(mkoba, rest).await?;
    let floats = w
        .agents
        .iter()
        .map(|a| {
            (
                vec![
                    s("float"),
                    s("issue"),
                    s("--agent"),
                    a.clone(),
                    s("--amount"),
                    float_major.to_string(),
                    s("--json"),
                ],
                String::new(),
            )
        })
        .collect();
    let mut refs = Vec::new();
    for out in run_all(mkoba, floats).await? {
        let v: serde_json::Value =
            serde_json::from_str(out.trim()).map_err(|e| LoadError(format!("float issue: {e}")))?;
        let r =
            v["receipt"]["reference"].as_str().ok_or_else(|| LoadError("float issue printed no reference".into()))?;
        refs.push(r.to_string());
    }
    Ok(refs)
}

/// Deposits `amount_major` to every customer at agent `i % agents`, one
/// agent's deposits after another (an agent's PIN is checked once at a
/// time), the agents in parallel. Returns the deposits' acknowledgements.
pub async fn deposits(ussd: &UssdClient, w: &World, amount_major: u64) -> Result<Vec<Ack>, LoadError> {
    let mut set = JoinSet::new();
    for (a, agent) in w.agents.iter().enumerate() {
        let mine: Vec<String> = w.customers.iter().skip(a).step_by(w.agents.len()).cloned().collect();
        let (ussd, agent, pin, cc) = (ussd.clone(), agent.clone(), w.pin.clone(), w.country_code.clone());
        set.spawn(async move {
            let mut acks = Vec::new();
            for (n, customer) in mine.iter().enumerate() {
                let session = format!("ATUid_setup_{a}_{n}");
                let to = msisdn::local_format(customer, &cc);
                let inputs = ["1".to_string(), to, amount_major.to_string(), pin.clone()];
                let mut reply = String::new();
                for k in 0..=inputs.len() {
                    let text = inputs[..k].join("*");
                    let r = ussd.hop(&session, &agent, &text).await.map_err(|e| LoadError(format!("deposit: {e}")))?;
                    reply = r.body;
                }
                let reference = find_reference(&reply)
                    .ok_or_else(|| LoadError(format!("a set-up deposit was refused: {}", reply.trim())))?;
                acks.push(Ack { reference, phone: agent.clone(), kind: Kind::Send });
            }
            Ok::<_, LoadError>(acks)
        });
    }
    let mut acks = Vec::new();
    while let Some(done) = set.join_next().await {
        acks.extend(done.map_err(|e| LoadError(e.to_string()))??);
    }
    Ok(acks)
}

/// A new API key for each till: `(till, key)`.
pub async fn api_keys(mkoba: &Mkoba, w: &World) -> Result<Vec<(String, String)>, LoadError> {
    let jobs = w
        .tills
        .iter()
        .map(|t| {
            let args = ["merchant", "key", "create", "--till", t, "--json"].map(str::to_string).to_vec();
            (args, String::new())
        })
        .collect();
    let mut keys = Vec::new();
    for (till, out) in w.tills.iter().zip(run_all(mkoba, jobs).await?) {
        let v: serde_json::Value =
            serde_json::from_str(out.trim()).map_err(|e| LoadError(format!("merchant key create: {e}")))?;
        let key = v["key"].as_str().ok_or_else(|| LoadError("merchant key create printed no key".into()))?;
        keys.push((till.clone(), key.to_string()));
    }
    Ok(keys)
}

/// Where and how set-up reaches a serving node.
pub struct Api<'a> {
    pub http: &'a reqwest::Client,
    pub base_url: &'a str,
    pub token: &'a str,
    pub network_code: &'a str,
    /// `(till, API key)`.
    pub keys: &'a [(String, String)],
    /// Range of the allowances' daily limits, minor units.
    pub limit_minor: (i64, i64),
}

/// The customers who get an allowance, seeded: each with
/// [`ALLOWANCE_SHARE`], at least one, at most [`ALLOWANCES_MAX`]; each for
/// till `i % tills` with a seeded daily limit in `limit_minor`.
pub fn allowance_plan(seed: u64, w: &World, limit_minor: (i64, i64)) -> Vec<(String, String, i64)> {
    let mut rng = StdRng::seed_from_u64(caller_seed(seed, usize::MAX - 1));
    let mut chosen = Vec::new();
    for (i, c) in w.customers.iter().enumerate() {
        if chosen.len() == ALLOWANCES_MAX || w.tills.is_empty() {
            break;
        }
        let limit = rng.random_range(limit_minor.0..=limit_minor.1.max(limit_minor.0));
        if rng.random_bool(ALLOWANCE_SHARE) || (chosen.is_empty() && i + 1 == w.customers.len()) {
            chosen.push((c.clone(), w.tills[i % w.tills.len()].clone(), limit));
        }
    }
    chosen
}

/// Sets up the allowances of [`allowance_plan`]: the till asks (`POST
/// /api/v1/allowances`), the customer approves by SMS with the code the
/// request carries, and the till sees it active.
pub async fn allowances(api: &Api<'_>, seed: u64, w: &World) -> Result<Vec<AllowanceRef>, LoadError> {
    let gate = Arc::new(Semaphore::new(SETUP_PARALLEL));
    let mut set = JoinSet::new();
    for (n, (customer, till, limit_minor)) in allowance_plan(seed, w, api.limit_minor).into_iter().enumerate() {
        let key = api.keys.iter().find(|(t, _)| *t == till).map(|(_, k)| k.clone());
        let key = key.ok_or_else(|| LoadError(format!("no API key for till {till}")))?;
        let client = MerchantClient::with_http(api.http.clone(), api.base_url, &key)
            .map_err(|e| LoadError(format!("allowance set-up: {e}")))?;
        let sms_url = webhook_url(api.base_url, "/webhooks/africastalking/sms", api.token)
            .map_err(|e| LoadError(format!("allowance set-up: {e}")))?;
        let (http, gate, pin, network) = (api.http.clone(), gate.clone(), w.pin.clone(), api.network_code.to_string());
        set.spawn(async move {
            let _permit = gate.acquire().await.map_err(|e| LoadError(e.to_string()))?;
            let fail = |what: &str, e: &dyn std::fmt::Display| LoadError(format!("allowance set-up, {what}: {e}"));
            let ask = NewAllowance::new(customer.clone(), limit_minor, Period::Day, "Mix crowd reading")
                .with_idempotency_key(format!("mix-allowance-{:032x}", rand::random::<u128>()));
            let asked = client.create_allowance(&ask).await.map_err(|e| fail("ask", &e))?;
            let code = asked.code.clone().ok_or_else(|| LoadError("an allowance came without a code".into()))?;
            let id = format!("ATXid_setup_approve_{n}_{:016x}", rand::random::<u64>());
            let text = format!("APPROVE {code} {pin}");
            let form = inbound_sms_form(&customer, SHORT_CODE, &text, &id, &network);
            let resp = http.post(sms_url).form(&form).send().await.map_err(|e| fail("APPROVE", &e))?;
            if resp.status().as_u16() != 200 {
                return Err(LoadError(format!("allowance set-up: APPROVE got HTTP {}", resp.status())));
            }
            let now = client
                .wait_allowance_decided(&asked.id, Duration::from_millis(100), ACTIVE_WAIT)
                .await
                .map_err(|e| fail("check", &e))?;
            if now.status != AllowanceStatus::Active {
                return Err(LoadError(format!(
                    "allowance set-up: {} is {} after APPROVE",
                    now.id.as_str(),
                    now.status
                )));
            }
            Ok::<_, LoadError>((n, AllowanceRef { id: asked.id.0, customer, till, limit_minor }))
        });
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        out.push(done.map_err(|e| LoadError(e.to_string()))??);
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out.into_iter().map(|(_, a)| a).collect())
}

/// 0 → `Aa`, 1 → `Ab`…: names are letters only.
fn letters(mut i: usize) -> String {
    let mut out = String::new();
    loop {
        out.insert(0, char::from(b'a' + u8::try_from(i % 26).unwrap_or(0)));
        i /= 26;
        if i == 0 {
            break;
        }
    }
    let mut chars = out.chars();
    match chars.next() {
        Some(c) => format!("{}{}", c.to_ascii_uppercase(), chars.as_str()),
        None => out,
    }
}

//! What each virtual caller does, decided up front: a seeded generator of
//! actions (USSD sessions, SMS commands, session-end events, integrator
//! charges under the allowances set up for some customers) that depends
//! only on the seed, the caller's index and the world it was set up in, never
//! on mkoba's answers. The same seed therefore sends the same requests in the
//! same order (an action cut short by an error or a kill sends fewer).

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::super::{err, LoadError};
use crate::msisdn;

/// The people and places the crowd uses, all E.164 digits (tills as typed).
#[derive(Clone, Debug, Default)]
pub struct World {
    pub customers: Vec<String>,
    pub agents: Vec<String>,
    pub tills: Vec<String>,
    pub pin: String,
    pub country_code: String,
    /// The active allowances set up for some of the customers (none until
    /// set-up has made them).
    pub allowances: Vec<AllowanceRef>,
}

/// An allowance a customer approved for a till: the crowd's integrator
/// charges go under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowanceRef {
    /// Its `al_…` id.
    pub id: String,
    pub customer: String,
    pub till: String,
    /// Per day (the crowd's allowances are daily).
    pub limit_minor: i64,
}

/// Amounts the crowd charges, minor units (inclusive): small beside an
/// allowance's limit, so that a run's charges use some allowances up.
pub const CHARGE_MINOR: (i64, i64) = (1, 50);

/// Shares (0..=1) of the disturbances an aggregator and its callers cause.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shares {
    /// A hop (or an SMS) sent twice, as an aggregator that timed out does.
    pub retry: f64,
    /// A session the caller leaves before its last hop.
    pub abandon: f64,
    /// A PIN entered wrong (never twice in a row for one phone).
    pub wrong_pin: f64,
    /// A session whose end the aggregator reports on the events webhook.
    pub end_event: f64,
}

/// What a session or an SMS does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Register,
    Send,
    Withdraw,
    Pay,
    Balance,
    Statement,
    SmsBalance,
    SmsSend,
    SmsPay,
    SmsStatement,
    /// `POST /api/v1/charges` by the till, under the customer's allowance.
    Charge,
}

impl Kind {
    pub fn is_sms(self) -> bool {
        matches!(self, Kind::SmsBalance | Kind::SmsSend | Kind::SmsPay | Kind::SmsStatement)
    }

    /// Whether it is a USSD session (not an SMS, not an API call).
    pub fn is_ussd(self) -> bool {
        !self.is_sms() && self != Kind::Charge
    }

    /// Whether a completed one moves money.
    pub fn moves_money(self) -> bool {
        matches!(self, Kind::Send | Kind::Withdraw | Kind::Pay | Kind::SmsSend | Kind::SmsPay | Kind::Charge)
    }
}

/// Relative weights of each kind of action (`--mix`).
#[derive(Clone, Debug, PartialEq)]
pub struct Weights(pub Vec<(Kind, u32)>);

impl Default for Weights {
    fn default() -> Self {
        Weights(vec![
            (Kind::Register, 1),
            (Kind::Send, 4),
            (Kind::Withdraw, 2),
            (Kind::Pay, 2),
            (Kind::Balance, 2),
            (Kind::Statement, 1),
            (Kind::SmsBalance, 1),
            (Kind::SmsSend, 1),
            (Kind::SmsPay, 1),
            (Kind::SmsStatement, 1),
            (Kind::Charge, 2),
        ])
    }
}

impl Weights {
    /// `send=4,withdraw=2,pay=2,balance=2,statement=1,register=1,sms=2,charge=2`
    /// (`sms` spreads over the four SMS commands; unnamed kinds weigh 0).
    pub fn parse(s: &str) -> Result<Weights, LoadError> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, w)) = part.split_once('=') else {
                return err(format!("--mix: {part}: expected name=weight"));
            };
            let w: u32 = w.trim().parse().map_err(|_| LoadError(format!("--mix: {part}: bad weight")))?;
            let kinds: &[Kind] = match name.trim() {
                "register" => &[Kind::Register],
                "send" => &[Kind::Send],
                "withdraw" => &[Kind::Withdraw],
                "pay" => &[Kind::Pay],
                "balance" => &[Kind::Balance],
                "statement" => &[Kind::Statement],
                "sms" => &[Kind::SmsBalance, Kind::SmsSend, Kind::SmsPay, Kind::SmsStatement],
                "charge" => &[Kind::Charge],
                other => return err(format!("--mix: unknown kind {other}")),
            };
            out.extend(kinds.iter().map(|k| (*k, w)));
        }
        if out.iter().all(|(_, w)| *w == 0) {
            return err("--mix: every weight is 0");
        }
        Ok(Weights(out))
    }

    fn pick(&self, rng: &mut StdRng) -> Kind {
        let total: u32 = self.0.iter().map(|(_, w)| *w).sum();
        let mut x = rng.random_range(0..total.max(1));
        for (kind, w) in &self.0 {
            if x < *w {
                return *kind;
            }
            x -= w;
        }
        Kind::Balance
    }

    /// These weights without `kind`.
    fn without(&self, kind: Kind) -> Weights {
        Weights(self.0.iter().copied().filter(|(k, _)| *k != kind).collect())
    }
}

/// One thing a caller does: a USSD session (its cumulative `text`s, one per
/// hop), one SMS (`steps[0]` is its text) or one charge (`steps[0]` is its
/// description).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub kind: Kind,
    pub phone: String,
    /// `sessionId`, the SMS `id`, or the charge's `Idempotency-Key`.
    pub id: String,
    pub steps: Vec<String>,
    /// Send this hop (or the SMS) twice.
    pub retry_step: Option<usize>,
    /// Leave after this many hops (less than `steps.len()`).
    pub abandon_after: Option<usize>,
    pub wrong_pin: bool,
    /// Post a session-end event after the session.
    pub end_event: bool,
    /// What a charge asks for.
    pub charge: Option<ChargeAsk>,
}

/// A charge: `amount_minor` under allowance `allowance_id` of `till`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeAsk {
    pub allowance_id: String,
    pub till: String,
    pub amount_minor: i64,
}

/// The generator of one virtual caller.
pub struct Plan {
    rng: StdRng,
    caller: usize,
    phones: Vec<String>,
    world: World,
    weights: Weights,
    shares: Shares,
    amount_major: (u32, u32),
    wrong_last: HashSet<String>,
    registered: u32,
    /// The allowances of this caller's customers.
    allowances: Vec<AllowanceRef>,
}

/// The seed of caller `caller` under run seed `seed` (splitmix64).
pub fn caller_seed(seed: u64, caller: usize) -> u64 {
    let mut z = seed ^ (caller as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Plan {
    /// Caller `caller` of `callers` owns the customers `caller`,
    /// `caller + callers`, … so no two callers use one phone at once.
    pub fn new(
        seed: u64,
        caller: usize,
        callers: usize,
        world: &World,
        weights: &Weights,
        shares: Shares,
        amount_major: (u32, u32),
    ) -> Plan {
        let phones: Vec<String> = world.customers.iter().skip(caller).step_by(callers.max(1)).cloned().collect();
        let allowances: Vec<AllowanceRef> =
            world.allowances.iter().filter(|a| phones.contains(&a.customer)).cloned().collect();
        // A caller none of whose customers has an allowance cannot charge.
        let weights = if allowances.is_empty() { weights.without(Kind::Charge) } else { weights.clone() };
        Plan {
            rng: StdRng::seed_from_u64(caller_seed(seed, caller)),
            caller,
            phones,
            world: world.clone(),
            weights,
            shares,
            amount_major,
            wrong_last: HashSet::new(),
            registered: 0,
            allowances,
        }
    }

    fn chance(&mut self, share: f64) -> bool {
        share > 0.0 && self.rng.random_bool(share.clamp(0.0, 1.0))
    }

    fn local(&self, phone: &str) -> String {
        msisdn::local_format(phone, &self.world.country_code)
    }

    /// The next action.
    pub fn next_action(&mut self) -> Action {
        let kind = self.weights.pick(&mut self.rng);
        if kind == Kind::Charge && !self.allowances.is_empty() {
            return self.charge();
        }
        let phone = if kind == Kind::Register || self.phones.is_empty() {
            self.registered += 1;
            // 2547 9 ccc nnnn: never one of the set-up numbers.
            format!("25479{:03}{:04}", self.caller % 1000, self.registered % 10_000)
        } else {
            self.phones[self.rng.random_range(0..self.phones.len())].clone()
        };
        let kind = if self.phones.is_empty() { Kind::Register } else { kind };
        let wrong_pin =
            kind != Kind::Register && !self.wrong_last.contains(&phone) && self.chance(self.shares.wrong_pin);
        if wrong_pin {
            self.wrong_last.insert(phone.clone());
        } else {
            self.wrong_last.remove(&phone);
        }
        let pin = if wrong_pin { wrong(&self.world.pin) } else { self.world.pin.clone() };
        let id_prefix = if kind.is_sms() { "ATXid_" } else { "ATUid_" };
        let id = format!("{id_prefix}{:032x}", self.rng.random::<u128>());
        let steps = self.steps(kind, &phone, &pin);
        let retry_step = self.chance(self.shares.retry).then(|| self.rng.random_range(0..steps.len()));
        let abandon_after = (!kind.is_sms() && steps.len() > 1 && self.chance(self.shares.abandon))
            .then(|| self.rng.random_range(1..steps.len()));
        let end_event = !kind.is_sms() && self.chance(self.shares.end_event);
        Action { kind, phone, id, steps, retry_step, abandon_after, wrong_pin, end_event, charge: None }
    }

    /// A charge under one of this caller's customers' allowances. No PIN
    /// is typed, so the wrong-PIN streak of that phone is left as it was.
    fn charge(&mut self) -> Action {
        let allowance = self.allowances[self.rng.random_range(0..self.allowances.len())].clone();
        let amount_minor = self.rng.random_range(CHARGE_MINOR.0..=CHARGE_MINOR.1);
        let id = format!("mix-charge-{:032x}", self.rng.random::<u128>());
        let description = format!("Article {}", self.rng.random_range(1..1000u32));
        let retry_step = self.chance(self.shares.retry).then_some(0);
        let ask = ChargeAsk { allowance_id: allowance.id, till: allowance.till, amount_minor };
        Action {
            kind: Kind::Charge,
            phone: allowance.customer,
            id,
            steps: vec![description],
            retry_step,
            abandon_after: None,
            wrong_pin: false,
            end_event: false,
            charge: Some(ask),
        }
    }

    fn amount(&mut self) -> String {
        let (lo, hi) = self.amount_major;
        self.rng.random_range(lo..=hi.max(lo)).to_string()
    }

    fn other_customer(&mut self, me: &str) -> String {
        let all = &self.world.customers;
        let mut i = self.rng.random_range(0..all.len());
        if all[i] == me && all.len() > 1 {
            i = (i + 1) % all.len();
        }
        all[i].clone()
    }

    fn steps(&mut self, kind: Kind, phone: &str, pin: &str) -> Vec<String> {
        let session = |inputs: &[String]| -> Vec<String> {
            let mut texts = vec![String::new()];
            for n in 1..=inputs.len() {
                texts.push(inputs[..n].join("*"));
            }
            texts
        };
        let s = |x: &str| x.to_string();
        match kind {
            Kind::Register => {
                let name = NAMES[self.rng.random_range(0..NAMES.len())];
                let id_number = format!("{}", self.rng.random_range(10_000_000u32..99_999_999));
                session(&[s("1"), s(name), id_number, s(pin), s(pin)])
            }
            Kind::Send => {
                let to = self.other_customer(phone);
                let (to, amount) = (self.local(&to), self.amount());
                session(&[s("1"), to, amount, s(pin)])
            }
            Kind::Withdraw => {
                let agent = self.world.agents[self.rng.random_range(0..self.world.agents.len())].clone();
                let (agent, amount) = (self.local(&agent), self.amount());
                session(&[s("2"), agent, amount, s(pin)])
            }
            Kind::Pay => {
                let till = self.world.tills[self.rng.random_range(0..self.world.tills.len())].clone();
                let amount = self.amount();
                session(&[s("3"), till, amount, s(pin)])
            }
            Kind::Balance => session(&[s("4"), s("1"), s(pin)]),
            Kind::Statement => session(&[s("4"), s("2"), s(pin)]),
            Kind::SmsBalance => vec![format!("BAL {pin}")],
            Kind::SmsStatement => vec![format!("STMT {pin}")],
            Kind::SmsSend => {
                let to = self.other_customer(phone);
                vec![format!("SEND {} {} {pin}", self.amount(), self.local(&to))]
            }
            Kind::SmsPay => {
                let till = self.world.tills[self.rng.random_range(0..self.world.tills.len())].clone();
                vec![format!("PAY {till} {} {pin}", self.amount())]
            }
            // Made by `charge`, never here: it has no phone steps.
            Kind::Charge => vec![String::new()],
        }
    }
}

/// A PIN of the same length that is not `pin` (each digit moved by one).
fn wrong(pin: &str) -> String {
    pin.bytes().map(|b| char::from(b'0' + (b - b'0' + 1) % 10)).collect()
}

/// Names new customers register with (letters and spaces only).
const NAMES: &[&str] = &[
    "Amina Juma",
    "Baraka Otieno",
    "Chebet Koech",
    "Daudi Mwangi",
    "Esther Wanjiru",
    "Faraji Said",
    "Grace Akinyi",
    "Hamisi Ali",
];

/// Seeded moments (offsets from the start) and victims of `kills` SIGKILLs
/// within `duration`, and how long each node stays down: spread over the
/// middle 80 % of the run so each restart has load to recover under.
pub fn kill_schedule(
    seed: u64,
    kills: usize,
    nodes: usize,
    duration: std::time::Duration,
) -> Vec<(std::time::Duration, usize, std::time::Duration)> {
    let mut rng = StdRng::seed_from_u64(caller_seed(seed, usize::MAX));
    let span = duration.as_secs_f64();
    let slot = 0.8 * span / kills.max(1) as f64;
    (0..kills)
        .map(|k| {
            let at = 0.1 * span + slot * (k as f64 + rng.random_range(0.2..0.8));
            let node = rng.random_range(0..nodes.max(1));
            let down_ms = rng.random_range(100..400u64);
            (std::time::Duration::from_secs_f64(at), node, std::time::Duration::from_millis(down_ms))
        })
        .collect()
}

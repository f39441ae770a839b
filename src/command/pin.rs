//! The PIN check every channel makes before an effect, in one place: the
//! attempt is reserved in the database first (see `auth::lockout`), then the
//! PIN is checked off the executor, and the result is an effect that settles
//! the attempt in the channel's transaction.

use super::Effect;
use crate::auth::lockout::{self, Attempt, AttemptRequest};
use crate::auth::PinHasher;
use crate::config::Config;
use crate::domain::Pin;
use crate::ledger::{Account, Ledger, LedgerError};
use crate::limits::sim_swap::SimSwapCheck;

/// How long, and how many times, a request waits for other requests' PIN
/// checks to settle before it is told to try again (bounded well inside a
/// USSD hop's deadline).
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(150);
const BUSY_WAITS: u32 = 10;

/// What a PIN check needs, borrowed from the channel.
pub struct Checker<'a> {
    pub ledger: &'a Ledger,
    pub pins: &'a PinHasher,
    pub config: &'a Config,
    pub sim_swap: &'a SimSwapCheck,
}

/// Checks `pin` (`None`: malformed, a wrong PIN that still costs an attempt)
/// for `account` before `on_ok`. `claim` names the request, so a repeated one
/// reuses its attempt; `source` is where it came from. Returns the effect to
/// apply (which settles the attempt), or the catalogue key of why nothing
/// was checked (locked, suspended, too many wrong PINs from the source).
pub async fn check(
    c: &Checker<'_>,
    account: &Account,
    pin: Option<Pin>,
    claim: String,
    source: Option<&str>,
    on_ok: Effect,
) -> Result<Result<Effect, &'static str>, LedgerError> {
    if let (true, Some(msisdn)) = (on_ok.moves_money(), &account.msisdn) {
        // A swap the operator's API reports is marked before the transfer is decided.
        c.sim_swap.check(msisdn).await;
    }
    let request = AttemptRequest { claim, source: source.map(str::to_string) };
    let mut waited = 0;
    let (ticket, pin_hash) = loop {
        match lockout::reserve_on(c.ledger, account.id, request.clone(), c.config.attempt_limits()).await? {
            Attempt::Go(ticket, pin_hash) => break (ticket, pin_hash),
            Attempt::Locked => return Ok(Err("err_locked")),
            // Checks of other requests hold every attempt left: they settle
            // within a PIN check's time, so wait a little before giving up.
            Attempt::Busy if waited < BUSY_WAITS => {
                waited += 1;
                tokio::time::sleep(BUSY_WAIT).await;
            }
            Attempt::Busy => return Ok(Err("err_pin_busy")),
            Attempt::NotActive => return Ok(Err("err_not_active")),
            Attempt::SourceLimited => return Ok(Err("err_rate_limited")),
        }
    };
    let right = match pin {
        Some(pin) => c.pins.verify_async(pin, pin_hash).await,
        None => false,
    };
    Ok(Ok(if right { Effect::PinRight { ticket, then: Box::new(on_ok) } } else { Effect::PinFailed { ticket } }))
}

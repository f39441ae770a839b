//! Why a command did not succeed, and how each error becomes a refusal
//! (exit 1) or a failure to carry it out (exit 3).

use crate::ledger::LedgerError;

/// Why a command did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The operation was refused (exit 1).
    Refused(String),
    /// mkoba could not carry it out: the database, the disk… (exit 3).
    Failed(String),
}

/// Bad input the operator gave: refused.
macro_rules! refusal_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Failure {
                Failure::Refused(e.to_string())
            }
        }
    )*};
}
refusal_from!(
    crate::domain::MsisdnError,
    crate::domain::MoneyError,
    crate::domain::ReferenceError,
    crate::domain::PinError
);

/// Something mkoba could not do: not the operator's input.
macro_rules! failure_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Failure {
                Failure::Failed(format!("{e:#}"))
            }
        }
    )*};
}
failure_from!(crate::secrets::SecretsError, anyhow::Error, crate::auth::AuthError, std::io::Error);

/// A ledger error is a refusal only when the operation was refused.
impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Failure {
        if e.is_refusal() {
            Failure::Refused(e.to_string())
        } else {
            Failure::Failed(e.to_string())
        }
    }
}

pub(crate) type Outcome = Result<(), Failure>;

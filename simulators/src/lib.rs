//! Simulators for mkoba's outside world.
//!
//! * [`aggregator`]: an in-process (or stand-alone) HTTP server that speaks
//!   Africa's Talking's send-SMS API, keeps every phone's inbox, injects
//!   failures on demand and posts delivery reports back to mkoba.
//! * [`ussd`]: a small client for mkoba's USSD webhook, speaking exactly what
//!   Africa's Talking sends (used by `mkoba-phone` and `mkoba-load`).
//! * [`load`]: the USSD load generator behind `mkoba-load`.
//! * [`msisdn`]: phone-number normalisation shared by all of the above.
//! * [`camara`]: a stand-in for an operator's CAMARA SIM Swap API.
//! * [`inbox`]: reads mkoba's local inbox (a mkoba with no SMS credentials
//!   keeps its outbound SMS there; `mkoba-phone --inbox`).
//! * [`smtp`]: a small SMTP server that keeps what it receives (email alerts).
//! * [`phone`]: `mkoba-phone`'s terminal app (ratatui): the handset's
//!   state, drawing, SMS inbox, and a headless scripted mode for tests.
//! * [`merchant`]: an integrator of the `/api/v1` API: a typed client and a
//!   callback receiver that verifies signatures (used by `mkoba-merchant`).

pub mod aggregator;
pub mod camara;
pub mod inbox;
pub mod load;
pub mod merchant;
pub mod msisdn;
pub mod phone;
pub mod smtp;
pub mod ussd;

pub use aggregator::{start_aggregator, AggregatorConfig, AggregatorHandle, DeliveryReport, Failure, Message};
pub use camara::{start_camara, CamaraHandle};
pub use smtp::{start_smtp, FailAt, ReceivedMail, SmtpSink};

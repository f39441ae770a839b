//! The operator's side of mkoba (SPEC §10), channel-neutral: admin keys and
//! their roles, the append-only audit log, and the operations an operator
//! performs. The CLI (`cli`) and the admin API (`http::admin`) are both
//! adapters over these functions, so an operation exists once and is
//! audited the same way whichever way it came: [`run`] writes an effect,
//! its audit row and its stored answer in one transaction.

pub mod accounts;
pub mod audit;
pub mod keys;
pub mod money;
pub mod run;
pub mod views;

pub use keys::{AdminKey, Role};
pub use run::{Done, Idem, Stored};

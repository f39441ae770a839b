//! mkoba: a mobile money gateway. Feature-phone users reach it by USSD and
//! SMS through a telecom aggregator; it authenticates them by PIN and moves
//! e-money on a double-entry ledger.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod ledger;
pub mod secrets;
pub mod startup;
pub mod telemetry;

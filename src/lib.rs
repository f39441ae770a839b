//! mkoba: a mobile money gateway. Feature-phone users reach it by USSD and
//! SMS through a telecom aggregator; it authenticates them by PIN and moves
//! e-money on a double-entry ledger.

pub mod admin;
pub mod aggregators;
pub mod auth;
pub mod cli;
pub mod command;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod i18n;
pub mod inbound;
pub mod integrator;
pub mod ledger;
pub mod limits;
pub mod notify;
pub mod secrets;
pub mod sms;
pub mod startup;
pub mod telemetry;
pub mod ussd;

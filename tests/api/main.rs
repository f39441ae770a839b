//! One integration-test binary (one link) with a module per area.

mod batch;
mod cli;
mod concurrency;
mod email;
mod health;
mod helpers;
mod ledger;
mod logs;
mod receipts;
mod sms;
mod ussd;
mod webhooks;

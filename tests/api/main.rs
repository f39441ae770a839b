//! One integration-test binary (one link) with a module per area.

mod admin_api;
mod approvals;
mod backoffice;
mod batch;
mod browser;
mod callbacks;
mod cli;
mod concurrency;
mod digest;
mod email;
mod fraud;
mod guards;
mod health;
mod helpers;
mod integrator_api;
mod ledger;
mod load;
mod logs;
mod metrics;
mod phone;
mod pin_guessing;
mod receipts;
mod sms;
mod ussd;
mod ussd_events;
mod webhooks;

//! One adapter per aggregator protocol, each translating its webhooks into
//! mkoba's channel-neutral requests.

pub mod africastalking;

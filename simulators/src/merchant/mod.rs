//! A merchant of mkoba's integrator API (SPEC §9), for tests, benches and
//! the `mkoba-merchant` CLI.
//!
//! * [`client`]: [`MerchantClient`], a typed async client for `/api/v1`
//!   (bearer key, a fresh `Idempotency-Key` per operation unless given one,
//!   typed answers or a [`ClientError`] holding mkoba's [`ApiError`]).
//! * [`receiver`]: [`CallbackReceiver`], the merchant's callback endpoint:
//!   verifies `Mkoba-Signature`, dedupes by event id, keeps the events, and
//!   fails on demand ([`ReceiverFailure`]).
//! * [`signature`]: signing and verifying `Mkoba-Signature`.
//! * [`types`]: request bodies, responses, ids and statuses.
//! * [`amount`]: amounts typed in major units (`1`, `1.50`) to minor units.
//!
//! This crate does not depend on the `mkoba` package: it speaks only the
//! HTTP contract, as an outside integrator would.

pub mod amount;
pub mod client;
pub mod receiver;
pub mod signature;
pub mod types;

pub use amount::{format_minor, parse_amount_minor, AmountError};
pub use client::{new_idempotency_key, ApiError, ClientError, MerchantClient, RawResponse};
pub use receiver::{
    post_signed, start_receiver, CallbackReceiver, Event, ReceivedEvent, ReceiverConfig, ReceiverFailure, ReceiverStats,
};
pub use signature::{sign, signature_header, verify, SignatureError, DEFAULT_TOLERANCE, SIGNATURE_HEADER};
pub use types::{
    Allowance, AllowanceId, AllowanceStatus, Balance, Charge, Movement, NewAllowance, NewCharge, NewPaymentRequest,
    NewPayout, NewRefund, PaymentRequest, PaymentRequestId, PaymentRequestStatus, Period, Reference, Transaction,
};

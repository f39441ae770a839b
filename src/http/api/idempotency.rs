//! `Idempotency-Key`: required on every POST (400 without it). Requests
//! that move money are made idempotent by the ledger itself (the key
//! becomes the transfer's, see [`crate::integrator::money::Caller`]);
//! requests that create a payment request or an allowance keep their answer
//! in `api_idempotency`, claimed, created and recorded in one write
//! transaction, so a retry gets the stored answer and nothing is created
//! twice, even from two processes at once.

use super::errors::ApiError;
use crate::db::schema::api_idempotency as idem;
use crate::db::DbConn;
use crate::domain::now_ms;
use crate::ledger::{AccountId, Ledger, LedgerError};
use crate::with_conn;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use diesel::prelude::*;
use std::future::{ready, Ready};

pub const HEADER: &str = "Idempotency-Key";
/// Longest key accepted.
pub const KEY_MAX_CHARS: usize = 200;

/// The request's `Idempotency-Key`: 1 to 200 visible ASCII characters.
pub struct IdempotencyKey(pub String);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<IdempotencyKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(key_of(req))
    }
}

fn key_of(req: &HttpRequest) -> Result<IdempotencyKey, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Err(ApiError::bad_request("idempotency_key_required", "every POST needs an Idempotency-Key header"));
    };
    let key = value.to_str().unwrap_or("").trim();
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > KEY_MAX_CHARS || !visible {
        let message = format!("Idempotency-Key must be 1 to {KEY_MAX_CHARS} visible ASCII characters");
        return Err(ApiError::bad_request("invalid_idempotency_key", message));
    }
    Ok(IdempotencyKey(key.to_string()))
}

/// An answer as sent, or as stored for a retry.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn response(&self) -> Result<HttpResponse, ApiError> {
        let status = StatusCode::from_u16(self.status).map_err(|e| ApiError::internal(&e))?;
        Ok(HttpResponse::build(status).content_type("application/json").body(self.body.clone()))
    }
}

enum Claim {
    Mine,
    Stored(Answer),
    OtherRequest,
}

/// Runs `create` once for the till's `key`: its JSON answer is recorded (as
/// 201) in the same write transaction. A retry with the same `hash` gets
/// the stored answer; with another, [`LedgerError::IdempotencyConflict`].
/// A refusal records nothing, so a retry is decided afresh.
pub async fn once<F>(
    ledger: &Ledger,
    till: AccountId,
    key: String,
    hash: String,
    mut create: F,
) -> Result<Answer, LedgerError>
where
    F: FnMut(&mut DbConn) -> Result<String, LedgerError> + Send + 'static,
{
    ledger
        .write(move |conn| {
            match claim(conn, till, &key, &hash)? {
                Claim::Stored(answer) => return Ok(answer),
                Claim::OtherRequest => return Err(LedgerError::IdempotencyConflict),
                Claim::Mine => {}
            }
            let body = create(conn)?;
            record(conn, till, &key, 201, &body)?;
            Ok(Answer { status: 201, body })
        })
        .await
}

/// Takes the key (a row with no answer yet, which only this transaction can
/// see), or finds it taken. On PostgreSQL a claim by another process still
/// in flight makes this wait for its commit, then find its answer.
fn claim(conn: &mut DbConn, till: AccountId, key: &str, hash: &str) -> Result<Claim, LedgerError> {
    let row = (
        idem::account_id.eq(till.0),
        idem::idem_key.eq(key),
        idem::request_hash.eq(hash),
        idem::status_code.eq(0),
        idem::response_body.eq(""),
        idem::created_at_ms.eq(now_ms()),
    );
    let inserted =
        with_conn!(conn, c => diesel::insert_into(idem::table).values(row).on_conflict_do_nothing().execute(c))?;
    if inserted == 1 {
        return Ok(Claim::Mine);
    }
    let (stored_hash, status, body): (String, i32, String) = with_conn!(conn, c => idem::table
        .select((idem::request_hash, idem::status_code, idem::response_body))
        .filter(idem::account_id.eq(till.0))
        .filter(idem::idem_key.eq(key))
        .first(c))?;
    if stored_hash != hash {
        return Ok(Claim::OtherRequest);
    }
    let status = u16::try_from(status)
        .ok()
        .filter(|s| *s >= 200)
        .ok_or_else(|| LedgerError::corrupt("api_idempotency.status_code", &status.to_string()))?;
    Ok(Claim::Stored(Answer { status, body }))
}

fn record(conn: &mut DbConn, till: AccountId, key: &str, status: i32, body: &str) -> Result<(), LedgerError> {
    let n = with_conn!(conn, c => diesel::update(idem::table)
        .filter(idem::account_id.eq(till.0))
        .filter(idem::idem_key.eq(key))
        .set((idem::status_code.eq(status), idem::response_body.eq(body)))
        .execute(c))?;
    if n == 1 {
        Ok(())
    } else {
        Err(LedgerError::Internal("an idempotency claim vanished".into()))
    }
}

//! `GET /api/v1/transactions/{reference}` and `GET /api/v1/balance`: the
//! till's own transfers and balance.

use super::auth::Till;
use super::errors::{ApiError, ErrorBody};
use super::schemas::{BalanceView, Counterparty, TransactionView};
use crate::domain::time::rfc3339;
use crate::integrator::money;
use crate::ledger::account;
use crate::ledger::LedgerError;
use crate::startup::AppState;
use actix_web::{web, HttpResponse};

#[utoipa::path(
    get, path = "/api/v1/transactions/{reference}", tag = "account",
    params(("reference" = String, Path, description = "A transfer's 10-character reference")),
    responses(
        (status = 200, description = "The transfer as this till sees it", body = TransactionView),
        (status = 404, description = "No transfer of this till's with this reference", body = ErrorBody),
    )
)]
pub async fn get_transaction(
    state: web::Data<AppState>,
    till: Till,
    reference: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reference = reference.into_inner();
    let found = state.ledger.read(move |conn| money::transfer_for(conn, till.0, &reference)).await?;
    let t = found.ok_or_else(ApiError::not_found)?;
    let other = &t.counterparty;
    Ok(HttpResponse::Ok().json(TransactionView {
        direction: if t.incoming { "in" } else { "out" }.to_string(),
        balance_after_minor: if t.incoming {
            t.row.credit_balance_after_minor
        } else {
            t.row.debit_balance_after_minor
        },
        reference: t.row.reference,
        kind: t.row.kind,
        amount_minor: t.row.amount_minor,
        fee_minor: t.row.fee_minor,
        counterparty: Counterparty {
            name: other.name.clone(),
            msisdn: other.msisdn.as_ref().map(|m| m.to_string()),
            till: other.till.as_ref().map(|t| t.to_string()),
        },
        refunded_minor: t.refunded_minor,
        refund_of: t.refund_of,
        created_at: rfc3339(t.row.created_at_ms),
    }))
}

#[utoipa::path(
    get, path = "/api/v1/balance", tag = "account",
    responses((status = 200, description = "The till's balance", body = BalanceView))
)]
pub async fn get_balance(state: web::Data<AppState>, till: Till) -> Result<HttpResponse, ApiError> {
    let found = state.ledger.read(move |conn| account::find_by_id(conn, till.0)).await?;
    let account = found.ok_or_else(|| LedgerError::Internal(format!("the key's till {} is gone", till.0)))?;
    Ok(HttpResponse::Ok().json(BalanceView {
        balance_minor: account.balance_minor,
        currency: state.ledger.settings().currency.code.clone(),
    }))
}

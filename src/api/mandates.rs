//! `/accounts/{…}/debitmandates`: create a debit mandate on the payer's account, read one back.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mmapi_core::mandate::{self, DebitMandate, DebitMandateRequest};
use mmapi_core::model::{Party, RequestState};
use mmapi_core::patch::{self, GenericPatch};
use mmapi_core::GsmaError;

use super::accounts::parse_account_id;
use super::error::ApiError;
use super::headers::RequestHeaders;
use super::json::{GsmaJson, RawJson};
use super::transactions::body_bytes;
use crate::auth::Caller;
use crate::engine::{Engine, NewMandateRequest};

fn path_error(e: PathRejection) -> ApiError {
    GsmaError::format(
        "path",
        format!("Malformed path parameter: {}", e.body_text()),
    )
    .into()
}

async fn create(
    engine: Arc<Engine>,
    caller: Caller,
    payer: Vec<Party>,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, GsmaJson<RequestState>), ApiError> {
    let body = body_bytes(body)?;
    let request = mandate::debit_mandate_request(&body)?;
    let state = engine
        .accept_mandate(NewMandateRequest {
            client_id: caller.client_id,
            allowed_providers: caller.allowed_providers,
            correlation_id: headers.correlation_id,
            callback_url: headers.callback_url,
            payer,
            request,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, GsmaJson(StatusCode::ACCEPTED, state)))
}

/// Create a debit mandate on the payer's account (the account in the path). The gateway answers 202 with a
/// pending request state (`objectReference` is the mandate reference); the operator then asks the payer to
/// approve it, and the final debit mandate (or the error object) is PUT to `X-Callback-URL`, or read by polling
/// `GET /requeststates/{serverCorrelationId}`. Take a payment under it with `POST /transactions/type/merchantpay`
/// whose `debitParty` is `[{"key": "mandatereference", "value": <mandateReference>}]`.
#[utoipa::path(
    post,
    path = "/accounts/{identifierType}/{identifier}/debitmandates",
    operation_id = "accountsIdentifierTypeIdentifierDebitmandatesPOST",
    tag = "Debit Mandates",
    params(
        ("identifierType" = String, Path, description = "The payer's identifier type, e.g. msisdn"),
        ("identifier" = String, Path, description = "The payer's identifier, e.g. +255744553111"),
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses (idempotency key)"),
        ("X-Callback-URL" = Option<String>, Header, description = "Where the final debit mandate (or the error object) is PUT; without it the client polls"),
    ),
    request_body(content = DebitMandateRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored; the operator creates the mandate asynchronously", body = RequestState,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Validation or business-rule error (e.g. the currency's operator offers no mandates)", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
        (status = 503, description = "Service unavailable", body = GsmaError),
    )
)]
pub async fn create_by_identifier(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, GsmaJson<RequestState>), ApiError> {
    let Path((identifier_type, identifier)) = path.map_err(path_error)?;
    let payer = vec![Party::new(identifier_type, identifier)];
    create(engine, caller, payer, headers, body).await
}

/// Create a debit mandate on the payer's account, named by an account id (`msisdn@+255744553111`); as
/// `POST /accounts/{identifierType}/{identifier}/debitmandates`.
#[utoipa::path(
    post,
    path = "/accounts/{accountId}/debitmandates",
    operation_id = "accountsAccountIdDebitmandatesPOST",
    tag = "Debit Mandates",
    params(
        ("accountId" = String, Path, description = "identifierType@identifier, up to three joined by $"),
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses (idempotency key)"),
        ("X-Callback-URL" = Option<String>, Header, description = "Where the final debit mandate (or the error object) is PUT; without it the client polls"),
    ),
    request_body(content = DebitMandateRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored; the operator creates the mandate asynchronously", body = RequestState,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Validation or business-rule error", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
        (status = 503, description = "Service unavailable", body = GsmaError),
    )
)]
pub async fn create_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, GsmaJson<RequestState>), ApiError> {
    let Path(account_id) = path.map_err(path_error)?;
    let payer = parse_account_id(&account_id)?;
    create(engine, caller, payer, headers, body).await
}

async fn read(
    engine: &Engine,
    caller: &Caller,
    payer: &[Party],
    reference: &str,
) -> Result<RawJson, ApiError> {
    let body = engine.mandate(&caller.client_id, payer, reference).await?;
    Ok(RawJson(StatusCode::OK, body))
}

/// Read a debit mandate of the payer's account. The operator is asked whether the mandate is still active.
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}",
    operation_id = "accountsIdentifierTypeIdentifierDebitmandatesDebitMandateReferenceGET",
    tag = "Debit Mandates",
    params(
        ("identifierType" = String, Path, description = "The payer's identifier type, e.g. msisdn"),
        ("identifier" = String, Path, description = "The payer's identifier"),
        ("debitMandateReference" = String, Path, description = "The mandate reference the gateway gave"),
    ),
    responses(
        (status = 200, description = "The debit mandate", body = DebitMandate,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 404, description = "No such mandate of this account and client", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
    )
)]
pub async fn get_by_identifier(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<RawJson, ApiError> {
    let Path((identifier_type, identifier, reference)) = path.map_err(path_error)?;
    read(
        &engine,
        &caller,
        &[Party::new(identifier_type, identifier)],
        &reference,
    )
    .await
}

/// Read a debit mandate of the payer's account, named by an account id; as
/// `GET /accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}`.
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/debitmandates/{debitMandateReference}",
    operation_id = "accountsAccountIdDebitmandatesDebitMandateReferenceGET",
    tag = "Debit Mandates",
    params(
        ("accountId" = String, Path, description = "identifierType@identifier, up to three joined by $"),
        ("debitMandateReference" = String, Path, description = "The mandate reference the gateway gave"),
    ),
    responses(
        (status = 200, description = "The debit mandate", body = DebitMandate,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 404, description = "No such mandate of this account and client", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
    )
)]
pub async fn get_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<RawJson, ApiError> {
    let Path((account_id, reference)) = path.map_err(path_error)?;
    let payer = parse_account_id(&account_id)?;
    read(&engine, &caller, &payer, &reference).await
}

async fn cancel(
    engine: &Engine,
    caller: &Caller,
    payer: &[Party],
    reference: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body = body_bytes(body)?;
    let status = patch::single_replace(&body, "/mandateStatus")?;
    if status != "inactive" {
        return Err(GsmaError::format(
            "[0].value",
            format!("A mandate can only be made 'inactive' (cancelled), not '{status}'"),
        )
        .into());
    }
    engine
        .cancel_mandate(&caller.client_id, payer, reference)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancel a debit mandate of the payer's account: the body `[{"op": "replace", "path": "/mandateStatus",
/// "value": "inactive"}]`. The operator cancels it before the gateway answers 204; no payment can be taken
/// under it afterwards (businessRule/noMandateAuthority). Cancelling an inactive mandate again also answers 204.
#[utoipa::path(
    patch,
    path = "/accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}",
    operation_id = "accountsIdentifierTypeIdentifierDebitmandatesDebitMandateReferencePATCH",
    tag = "Debit Mandates",
    params(
        ("identifierType" = String, Path, description = "The payer's identifier type, e.g. msisdn"),
        ("identifier" = String, Path, description = "The payer's identifier"),
        ("debitMandateReference" = String, Path, description = "The mandate reference the gateway gave"),
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses"),
    ),
    request_body(content = Vec<GenericPatch>, content_type = "application/json"),
    responses(
        (status = 204, description = "Cancelled at the operator",
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "A malformed patch, or a mandate whose creation is still pending", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 404, description = "No such mandate of this account and client", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
        (status = 503, description = "The operator did not confirm the cancellation", body = GsmaError),
    )
)]
pub async fn cancel_by_identifier(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((identifier_type, identifier, reference)) = path.map_err(path_error)?;
    let payer = [Party::new(identifier_type, identifier)];
    cancel(&engine, &caller, &payer, &reference, body).await
}

/// Cancel a debit mandate of the payer's account, named by an account id; as
/// `PATCH /accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}`.
#[utoipa::path(
    patch,
    path = "/accounts/{accountId}/debitmandates/{debitMandateReference}",
    operation_id = "accountsAccountIdDebitmandatesDebitMandateReferencePATCH",
    tag = "Debit Mandates",
    params(
        ("accountId" = String, Path, description = "identifierType@identifier, up to three joined by $"),
        ("debitMandateReference" = String, Path, description = "The mandate reference the gateway gave"),
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses"),
    ),
    request_body(content = Vec<GenericPatch>, content_type = "application/json"),
    responses(
        (status = 204, description = "Cancelled at the operator",
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "A malformed patch, or a mandate whose creation is still pending", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 404, description = "No such mandate of this account and client", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
        (status = 503, description = "The operator did not confirm the cancellation", body = GsmaError),
    )
)]
pub async fn cancel_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((account_id, reference)) = path.map_err(path_error)?;
    let payer = parse_account_id(&account_id)?;
    cancel(&engine, &caller, &payer, &reference, body).await
}

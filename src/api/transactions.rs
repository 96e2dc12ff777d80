//! `/transactions`: create a transaction of a type, read one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{
    RequestState, ReversalRequest, Transaction, TransactionRequest, TransactionType,
};
use mmapi_core::{parse, GsmaError};

use super::error::ApiError;
use super::headers::RequestHeaders;
use super::json::{GsmaJson, RawJson};
use super::path_param;
use crate::auth::Caller;
use crate::engine::{Engine, NewReversal, NewTransactionRequest};

/// Reads a request body, turning a refused body (too large, unreadable) into a GSMA error.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let error = GsmaError::new(
            ErrorCategory::Validation,
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ErrorCode::LengthError
            } else {
                ErrorCode::FormatError
            },
            rejection.body_text(),
        );
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::with_status(status, error)
        } else {
            ApiError::new(error)
        }
    })
}

/// Create a transaction of the type in the path. The gateway answers 202 with a pending request state once
/// the transaction is stored; the outcome comes by callback to `X-Callback-URL`, or by polling
/// `GET /requeststates/{serverCorrelationId}`.
#[utoipa::path(
    post,
    path = "/transactions/type/{transactionType}",
    operation_id = "transactionstypetransactionTypePUT",
    tag = "Transactions",
    params(
        ("transactionType" = TransactionType, Path, description = "The harmonised transaction type"),
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses; a second request with the same one is refused as a duplicate and `GET /responses/{X-CorrelationID}` finds what it created"),
        ("X-Callback-URL" = Option<String>, Header, description = "Where the final transaction (or the error object) is PUT; without it the client polls"),
    ),
    request_body(content = TransactionRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored; processing is asynchronous", body = RequestState,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Validation or business-rule error", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 404, description = "Not found", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
        (status = 503, description = "Service unavailable", body = GsmaError),
    )
)]
pub async fn create(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, GsmaJson<RequestState>), ApiError> {
    let type_text = path_param(path)?;
    let transaction_type: TransactionType = type_text.parse().map_err(|_| {
        GsmaError::format(
            "transactionType",
            format!(
                "'{type_text}' is not a transaction type; use one of billpay, deposit, disbursement, transfer, \
                 merchantpay, inttransfer, adjustment, reversal, withdrawal"
            ),
        )
    })?;
    let body = body_bytes(body)?;
    let request = parse::transaction_request(&body)?;
    let state = engine
        .accept_transaction(NewTransactionRequest {
            client_id: caller.client_id,
            allowed_providers: caller.allowed_providers,
            correlation_id: headers.correlation_id,
            callback_url: headers.callback_url,
            transaction_type,
            request,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, GsmaJson(StatusCode::ACCEPTED, state)))
}

/// Read a transaction.
#[utoipa::path(
    get,
    path = "/transactions/{transactionReference}",
    operation_id = "transactionsTransactionReferenceGET",
    tag = "Transactions",
    params(("transactionReference" = String, Path, description = "The reference the gateway gave the transaction")),
    responses(
        (status = 200, description = "The transaction", body = Transaction,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 404, description = "No such transaction", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
    )
)]
pub async fn get(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<RawJson, ApiError> {
    let reference = path_param(path)?;
    match engine.store().transaction_body(&reference).await? {
        Some(row) if row.client_id == caller.client_id => Ok(RawJson(StatusCode::OK, row.body)),
        _ => Err(
            GsmaError::not_found(format!("There is no transaction {reference}"))
                .with_param("transactionReference", reference)
                .into(),
        ),
    }
}

/// Reverse (`type: reversal`) or refund (`type: adjustment`) a completed transaction. The gateway answers 202
/// with a pending request state; the reversal is a new transaction whose `originalTransactionReference` is the
/// one in the path, and the original reads `reversed` once a reversal completes.
#[utoipa::path(
    post,
    path = "/transactions/{transactionReference}/reversals",
    operation_id = "transactionsTransactionReferenceReversalsPOST",
    tag = "Transactions",
    params(
        ("transactionReference" = String, Path, description = "The transaction to reverse"),
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses (idempotency key)"),
        ("X-Callback-URL" = Option<String>, Header, description = "Where the final reversal (or the error object) is PUT"),
    ),
    request_body(content = ReversalRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored", body = RequestState,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Validation or business-rule error (e.g. the original is not completed)", body = GsmaError),
        (status = 404, description = "No such original transaction", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
        (status = 503, description = "Service unavailable", body = GsmaError),
    )
)]
pub async fn reverse(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, GsmaJson<RequestState>), ApiError> {
    let original_reference = path_param(path)?;
    let body = body_bytes(body)?;
    let request = parse::reversal_request(&body)?;
    let state = engine
        .accept_reversal(NewReversal {
            client_id: caller.client_id,
            correlation_id: headers.correlation_id,
            callback_url: headers.callback_url,
            original_reference,
            request,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, GsmaJson(StatusCode::ACCEPTED, state)))
}

/// The harmonised transaction type of a deprecated `POST /transactions` body (its `type` field).
fn type_in_body(body: &[u8]) -> Result<TransactionType, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::from(GsmaError::format(
            "body",
            format!("The body is not a JSON object: {e}"),
        ))
    })?;
    match value.get("type") {
        None | Some(serde_json::Value::Null) => Err(GsmaError::mandatory("type").into()),
        Some(serde_json::Value::String(text)) => text.parse().map_err(|_| {
            GsmaError::format(
                "type",
                format!(
                    "'{text}' is not a transaction type; use one of billpay, deposit, disbursement, transfer, \
                     merchantpay, inttransfer, adjustment, reversal, withdrawal"
                ),
            )
            .into()
        }),
        Some(_) => Err(GsmaError::format("type", "type must be a string").into()),
    }
}

/// Create a transaction whose type is in the body (`type`). Deprecated in MMAPI 1.2 in favour of
/// `POST /transactions/type/{transactionType}`, and served exactly as that route.
#[utoipa::path(
    post,
    path = "/transactions",
    operation_id = "transactionsPOST",
    tag = "Transactions",
    params(
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses (idempotency key)"),
        ("X-Callback-URL" = Option<String>, Header, description = "Where the final transaction (or the error object) is PUT; without it the client polls"),
    ),
    request_body(content = TransactionRequest, content_type = "application/json",
        description = "As for POST /transactions/type/{transactionType}, with the harmonised `type` in the body"),
    responses(
        (status = 202, description = "Accepted and stored; processing is asynchronous", body = RequestState,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Validation or business-rule error (e.g. no `type`)", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
        (status = 503, description = "Service unavailable", body = GsmaError),
    )
)]
pub async fn create_with_type_in_body(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, GsmaJson<RequestState>), ApiError> {
    let body = body_bytes(body)?;
    let transaction_type = type_in_body(&body)?;
    let request = parse::transaction_request(&body)?;
    let state = engine
        .accept_transaction(NewTransactionRequest {
            client_id: caller.client_id,
            allowed_providers: caller.allowed_providers,
            correlation_id: headers.correlation_id,
            callback_url: headers.callback_url,
            transaction_type,
            request,
        })
        .await?;
    Ok((StatusCode::ACCEPTED, GsmaJson(StatusCode::ACCEPTED, state)))
}

/// One operation of a GSMA PATCH body (RFC 6902 subset).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = patchOperation)]
pub struct PatchOperation {
    /// `replace` (or `add`).
    pub op: String,
    /// The property: `/transactionStatus`.
    pub path: String,
    /// The new value: `cancelled`.
    pub value: serde_json::Value,
}

/// The only change the gateway takes: `[{"op":"replace","path":"/transactionStatus","value":"cancelled"}]`.
fn is_cancellation(body: &[u8]) -> Result<(), ApiError> {
    const EXPECTED: &str =
        "The gateway takes one change here: [{\"op\":\"replace\",\"path\":\"/transactionStatus\",\"value\":\"cancelled\"}]";
    let ops: Vec<PatchOperation> = serde_json::from_slice(body)
        .map_err(|e| ApiError::from(GsmaError::format("body", format!("{EXPECTED}: {e}"))))?;
    if ops.is_empty() || ops.len() > 10 {
        return Err(GsmaError::format("body", format!("{EXPECTED}: 1 to 10 operations")).into());
    }
    for op in &ops {
        if op.op != "replace" && op.op != "add" {
            return Err(GsmaError::format("op", EXPECTED).into());
        }
        if op.path != "/transactionStatus" {
            return Err(GsmaError::format("path", EXPECTED).into());
        }
        if op.value.as_str() != Some("cancelled") {
            return Err(GsmaError::format("value", EXPECTED).into());
        }
    }
    Ok(())
}

/// Cancel a transaction the gateway has not yet sent to the operator: the body is
/// `[{"op":"replace","path":"/transactionStatus","value":"cancelled"}]`. The gateway answers 204; the
/// transaction then reads `failed`, its request state carries the cancellation as its error, and a client that
/// gave an `X-Callback-URL` receives that error object. A transaction already sent, or final, cannot be
/// cancelled (`400 businessRule/incorrectState`); only the client that created it may cancel it.
#[utoipa::path(
    patch,
    path = "/transactions/{transactionReference}",
    operation_id = "transactionsTransactionReferencePATCH",
    tag = "Transactions",
    params(("transactionReference" = String, Path, description = "The transaction to cancel")),
    request_body(content = Vec<PatchOperation>, content_type = "application/json"),
    responses(
        (status = 204, description = "Cancelled",
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Not a cancellation, or the transaction was already sent or is final (businessRule/incorrectState)", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 404, description = "No such transaction", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
    )
)]
pub async fn update(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let reference = path_param(path)?;
    let body = body_bytes(body)?;
    is_cancellation(&body)?;
    engine
        .cancel_transaction(&caller.client_id, &reference)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

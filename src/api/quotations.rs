//! `/quotations`: what a transaction would cost, by the tariff of the operator it routes to.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mmapi_core::model::RequestState;
use mmapi_core::quotation::{self, Quotation, QuotationRequest};
use mmapi_core::GsmaError;

use super::error::ApiError;
use super::headers::RequestHeaders;
use super::json::GsmaJson;
use super::path_param;
use super::transactions::body_bytes;
use crate::auth::Caller;
use crate::engine::{Engine, NewQuotationRequest};

/// Create a quotation: the transaction the body describes (`type`, a transfer when absent; `requestAmount`,
/// `requestCurrency`, the parties) priced by the tariff of the operator it routes to. The gateway answers at
/// once, 201 with the completed quotation: one quote whose `fees` are what the operator will charge (none when
/// its tariff has no charge for it) and whose `quoteExpiryTime` ends its validity. A transaction cites it with
/// `internationalTransferInformation.quotationReference` (and `quoteId`); after the expiry it is refused with
/// businessRule/quoteHasExpired. Between accounts of an operator that quotes itself (a GSMA-speaking operator
/// with `quotations = true`, e.g. the sandbox's MMAPI simulator for `walletid` accounts) the request is the
/// operator's: forwarded, its answer (typically 202 and a request state) passed back.
#[utoipa::path(
    post,
    path = "/quotations",
    operation_id = "quotationsPOST",
    tag = "Quotations",
    params(
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses (idempotency key)"),
    ),
    request_body(content = QuotationRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The completed quotation", body = Quotation,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 202, description = "Forwarded to an operator that quotes itself: its request state", body = RequestState),
        (status = 400, description = "Validation or business-rule error (e.g. no operator carries the transaction)", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
        (status = 503, description = "Service unavailable", body = GsmaError),
    )
)]
pub async fn create(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body)?;
    let request = quotation::quotation_request(&body)?;
    if let Some(forwarded) =
        super::forward::quotation_to_operator(&engine, &caller, &request, &headers, &body).await
    {
        return forwarded;
    }
    let quotation = engine
        .create_quotation(NewQuotationRequest {
            client_id: caller.client_id,
            allowed_providers: caller.allowed_providers,
            correlation_id: headers.correlation_id,
            request,
        })
        .await?;
    Ok(GsmaJson(StatusCode::CREATED, quotation).into_response())
}

/// Read a quotation the client made.
#[utoipa::path(
    get,
    path = "/quotations/{quotationReference}",
    operation_id = "quotationsQuotationReferenceGET",
    tag = "Quotations",
    params(("quotationReference" = String, Path, description = "The reference the gateway gave the quotation")),
    responses(
        (status = 200, description = "The quotation", body = Quotation,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 404, description = "No such quotation of this client", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
    )
)]
pub async fn get(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let reference = path_param(path)?;
    match engine.quotation(&caller.client_id, &reference).await {
        Ok(quotation) => Ok(GsmaJson(StatusCode::OK, quotation).into_response()),
        Err(not_ours) => {
            match super::forward::operator_quotation(&engine, &caller, &reference).await? {
                Some(theirs) => Ok(theirs),
                None => Err(not_ours.into()),
            }
        }
    }
}

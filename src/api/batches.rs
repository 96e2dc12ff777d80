//! `/batchtransactions`: bulk disbursements. Post a batch, approve it (maker/checker), read it, and list its
//! completed and rejected items.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mmapi_core::model::RequestState;
use mmapi_core::GsmaError;
use serde::Serialize;

use super::accounts::{query_number, query_time};
use super::error::ApiError;
use super::headers::RequestHeaders;
use super::json::GsmaJson;
use super::path_param;
use super::transactions::body_bytes;
use crate::auth::Caller;
use crate::engine::batches::{
    BatchCompletion, BatchRejection, BatchTransaction, BatchTransactionRequest,
};
use crate::engine::{Engine, NewBatchRequest};
use crate::store::BatchListQuery;

/// Post a batch of disbursements. The gateway always answers 202 once the batch and every item are stored:
/// each item is validated on its own, and an invalid one becomes a rejection with its reason
/// (`GET …/rejections`). With `batchStatus: "created"` the batch waits for a `PATCH` of `/batchStatus` to
/// `approved`; otherwise its items are sent at once (not before `scheduledStartDate`), each as a disbursement
/// through its operator. The final batch is PUT to `X-Callback-URL` when every item is final.
#[utoipa::path(
    post,
    path = "/batchtransactions",
    operation_id = "batchtransactionsPOST",
    tag = "Batch Transactions",
    params(
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses (idempotency key)"),
        ("X-Callback-URL" = Option<String>, Header, description = "Where the final batch is PUT once every item is final; without it the client polls"),
    ),
    request_body(content = BatchTransactionRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored; the items are processed asynchronously", body = RequestState,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "The batch as a whole is malformed (items are judged one by one)", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
    )
)]
pub async fn create(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, GsmaJson<RequestState>), ApiError> {
    let body = body_bytes(body)?;
    let state = engine
        .accept_batch(NewBatchRequest {
            client_id: caller.client_id,
            allowed_providers: caller.allowed_providers,
            correlation_id: headers.correlation_id,
            callback_url: headers.callback_url,
            body: body.to_vec(),
        })
        .await?;
    Ok((StatusCode::ACCEPTED, GsmaJson(StatusCode::ACCEPTED, state)))
}

/// Read a batch: its status, `processingFlag`, and how many items completed or were rejected.
#[utoipa::path(
    get,
    path = "/batchtransactions/{batchId}",
    operation_id = "batchtransactionsBatchIdGET",
    tag = "Batch Transactions",
    params(("batchId" = String, Path, description = "The batch id the gateway gave")),
    responses(
        (status = 200, description = "The batch", body = BatchTransaction,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 404, description = "No such batch of this client", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
    )
)]
pub async fn get(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<GsmaJson<BatchTransaction>, ApiError> {
    let batch_id = path_param(path)?;
    let batch = engine.batch(&caller.client_id, &batch_id).await?;
    Ok(GsmaJson(StatusCode::OK, batch))
}

/// Approve a batch posted with `batchStatus: "created"`: the body is
/// `[{"op": "replace", "path": "/batchStatus", "value": "approved"}]`. When the maker is configured for
/// maker/checker (`[batches] approvers`), only one of its approvers may do this. Answers 204.
#[utoipa::path(
    patch,
    path = "/batchtransactions/{batchId}",
    operation_id = "batchtransactionsBatchIdPATCH",
    tag = "Batch Transactions",
    params(("batchId" = String, Path, description = "The batch id the gateway gave")),
    request_body(content = Vec<Object>, content_type = "application/json",
        description = "Patch operations (1 to 10); only /batchStatus to approved is accepted"),
    responses(
        (status = 204, description = "Approved", headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Another change, or the batch is not waiting for approval", body = GsmaError),
        (status = 401, description = "Not authorised, or the batch must be approved by another client", body = GsmaError),
        (status = 404, description = "No such batch of this client", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
    )
)]
pub async fn update(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    _headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let batch_id = path_param(path)?;
    let body = body_bytes(body)?;
    engine
        .approve_batch(&caller.client_id, &batch_id, &body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The query of a batch's completions or rejections.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct BatchListParams {
    /// Records to return (default 50, at most 1000).
    pub limit: Option<String>,
    /// Records to skip.
    pub offset: Option<String>,
    /// Only items that became final (or were rejected) at or after this time (RFC 3339).
    pub from_date_time: Option<String>,
    /// Only items that became final (or were rejected) at or before this time (RFC 3339).
    pub to_date_time: Option<String>,
}

fn list_query(
    query: Result<Query<BatchListParams>, QueryRejection>,
) -> Result<BatchListQuery, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::from(GsmaError::format("query", e.body_text())))?;
    Ok(BatchListQuery {
        from_ms: query_time("fromDateTime", q.from_date_time.as_deref())?,
        to_ms: query_time("toDateTime", q.to_date_time.as_deref())?,
        limit: query_number("limit", q.limit.as_deref(), 50, 1000)?,
        offset: query_number("offset", q.offset.as_deref(), 0, i64::MAX / 2)?,
    })
}

/// A page with the GSMA record-count headers.
fn page<T: Serialize>(total: i64, offset: i64, items: Vec<T>) -> Result<Response, ApiError> {
    if offset > total {
        return Err(GsmaError::new(
            mmapi_core::ErrorCategory::Validation,
            mmapi_core::ErrorCode::InvalidOffset,
            format!("offset {offset} is beyond the {total} matching records"),
        )
        .into());
    }
    let returned = items.len();
    let mut response = GsmaJson(StatusCode::OK, items).into_response();
    let headers = response.headers_mut();
    headers.insert("x-records-available-count", HeaderValue::from(total));
    headers.insert("x-records-returned-count", HeaderValue::from(returned));
    Ok(response)
}

/// A batch's completed items, newest first, paginated (`X-Records-Available-Count`,
/// `X-Records-Returned-Count`).
#[utoipa::path(
    get,
    path = "/batchtransactions/{batchId}/completions",
    operation_id = "batchtransactionsBatchIdCompletionsGET",
    tag = "Batch Transactions",
    params(("batchId" = String, Path, description = "The batch id the gateway gave"), BatchListParams),
    responses(
        (status = 200, description = "The completed items", body = Vec<BatchCompletion>,
         headers(
            ("X-Records-Available-Count" = i32, description = "Records that match"),
            ("X-Records-Returned-Count" = i32, description = "Records returned"),
            ("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Malformed filter or an offset beyond the records", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 404, description = "No such batch of this client", body = GsmaError),
    )
)]
pub async fn completions(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<BatchListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let batch_id = path_param(path)?;
    let q = list_query(query)?;
    let (total, items) = engine
        .batch_completions(&caller.client_id, &batch_id, &q)
        .await?;
    page(total, q.offset, items)
}

/// A batch's rejected items, newest first, paginated: those invalid when posted (with the reason) and those
/// the operator refused.
#[utoipa::path(
    get,
    path = "/batchtransactions/{batchId}/rejections",
    operation_id = "batchtransactionsBatchIdRejectionsGET",
    tag = "Batch Transactions",
    params(("batchId" = String, Path, description = "The batch id the gateway gave"), BatchListParams),
    responses(
        (status = 200, description = "The rejected items", body = Vec<BatchRejection>,
         headers(
            ("X-Records-Available-Count" = i32, description = "Records that match"),
            ("X-Records-Returned-Count" = i32, description = "Records returned"),
            ("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Malformed filter or an offset beyond the records", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
        (status = 404, description = "No such batch of this client", body = GsmaError),
    )
)]
pub async fn rejections(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<BatchListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let batch_id = path_param(path)?;
    let q = list_query(query)?;
    let (total, items) = engine
        .batch_rejections(&caller.client_id, &batch_id, &q)
        .await?;
    page(total, q.offset, items)
}

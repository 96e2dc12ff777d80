//! Bulk transactions: `POST /batchtransactions` (always `202`), each item parsed on its own (a bad one is a
//! rejection, the others count in `parsingSuccessCount`); a batch posted with `batchStatus` `created` waits for a
//! `PATCH` of `/batchStatus` to `approved` (maker/checker); then each item is made and processed like any
//! transaction, ending in `/completions` or `/rejections`, and the batch reads `completed`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mmapi_core::model::{TransactionRequest, TransactionType};
use mmapi_core::{ErrorCategory, ErrorCode, GsmaError, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::requests::{accepted, begin, complete_later};
use super::{answer, json_body, lock, new_reference, page, AsyncHeaders, Sim, SimError};

/// The most items a batch may carry here.
const MAX_ITEMS: usize = 10_000;

#[derive(Serialize, Deserialize)]
struct Batch {
    /// The request's own fields (`batchTitle`, `batchdescription`, …).
    request: Value,
    status: String,
    items: Vec<(TransactionType, TransactionRequest, Value)>,
    /// How many of `items` were processed (each one's outcome is in the completions or the rejections).
    #[serde(default)]
    next_item: usize,
    parsed: usize,
    approval_date: Option<Timestamp>,
    completion_date: Option<Timestamp>,
    processing: bool,
    completions: Vec<Value>,
    rejections: Vec<Value>,
}

/// Batches, by `batchId`.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Batches {
    by_id: HashMap<String, Batch>,
}

fn view(id: &str, b: &Batch) -> Value {
    let mut view = b.request.clone();
    if let Some(fields) = view.as_object_mut() {
        fields.remove("transactions");
    }
    view["batchId"] = json!(id);
    view["batchStatus"] = json!(b.status);
    view["approvalDate"] = json!(b.approval_date);
    view["completionDate"] = json!(b.completion_date);
    view["processingFlag"] = json!(b.processing);
    view["parsingSuccessCount"] = json!(b.parsed);
    view["completedCount"] = json!(b.completions.len());
    view["rejectionCount"] = json!(b.rejections.len());
    view
}

fn rejection(item: &Value, reference: Option<String>, reason: &GsmaError) -> Value {
    let mut rejection = json!({
        "creditParty": item.get("creditParty").cloned().unwrap_or(json!([])),
        "debitParty": item.get("debitParty").cloned().unwrap_or(json!([])),
        "rejectionDate": Timestamp::now(),
        "rejectionReason": reason.error_description.clone().unwrap_or_default(),
    });
    if let Some(reference) = reference {
        rejection["transactionReference"] = json!(reference);
    }
    rejection
}

/// An item: a transaction of its `type` (default `disbursement`).
fn parse_item(item: &Value) -> Result<(TransactionType, TransactionRequest), GsmaError> {
    let transaction_type = match item.get("type") {
        None | Some(Value::Null) => TransactionType::Disbursement,
        Some(t) => serde_json::from_value(t.clone())
            .map_err(|_| GsmaError::format("type", "not a transaction type"))?,
    };
    let bytes =
        serde_json::to_vec(item).map_err(|e| GsmaError::format("transactions", e.to_string()))?;
    Ok((
        transaction_type,
        mmapi_core::parse::transaction_request(&bytes)?,
    ))
}

/// `POST /batchtransactions`
pub(crate) async fn create(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let headers = AsyncHeaders::read(&headers)?;
    let request = json_body(&body)?;
    let transactions = request
        .get("transactions")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| GsmaError::mandatory("transactions"))?;
    if transactions.len() > MAX_ITEMS {
        return Err(GsmaError::format("transactions", format!("at most {MAX_ITEMS} items")).into());
    }
    let maker_checker = match request.get("batchStatus").and_then(Value::as_str) {
        None | Some("approved") => false,
        Some("created") => true,
        Some(other) => {
            return Err(GsmaError::format(
                "batchStatus",
                format!("a batch is posted created or approved, not {other}"),
            )
            .into())
        }
    };
    let mut batch = Batch {
        request: request.clone(),
        status: if maker_checker { "created" } else { "approved" }.to_owned(),
        items: Vec::new(),
        next_item: 0,
        parsed: 0,
        approval_date: (!maker_checker).then(Timestamp::now),
        completion_date: None,
        processing: false,
        completions: Vec::new(),
        rejections: Vec::new(),
    };
    for item in transactions {
        match parse_item(item) {
            Ok((t, r)) => {
                batch.parsed += 1;
                batch.items.push((t, r, item.clone()));
            }
            Err(e) => batch.rejections.push(rejection(item, None, &e)),
        }
    }
    let id = new_reference();
    let (request_id, state) = begin(&sim, &headers, format!("/batchtransactions/{id}"), &id)?;
    lock(&sim.batches).by_id.insert(id.clone(), batch);
    let batch_id = id.clone();
    complete_later(&sim, request_id, move |sim| {
        let batches = lock(&sim.batches);
        let batch = batches
            .by_id
            .get(&batch_id)
            .ok_or_else(GsmaError::internal)?;
        Ok(view(&batch_id, batch))
    });
    if !maker_checker {
        spawn_processing(&sim, id);
    }
    Ok(accepted(state))
}

/// Processes an approved batch's items, one after the other, after the processing delay. Each item is made and
/// recorded in the batch under the simulator's mutation gate, so that a saved state never holds an item's
/// transaction without its outcome in the batch; a batch interrupted by a restart goes on from its next item.
pub(crate) fn spawn_processing(sim: &Arc<Sim>, id: String) {
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        tokio::time::sleep(sim.config.processing_delay).await;
        loop {
            let _mutating = sim.gate.lock().await;
            let mut batches = lock(&sim.batches);
            let Some(batch) = batches.by_id.get_mut(&id) else {
                return;
            };
            let Some((transaction_type, request, item)) = batch.items.get(batch.next_item).cloned()
            else {
                batch.processing = false;
                batch.status = "completed".to_owned();
                batch.completion_date = Some(Timestamp::now());
                sim.touched();
                return;
            };
            batch.processing = true;
            batch.next_item += 1;
            match super::transactions::run_now(&sim, transaction_type, &request) {
                Ok((reference, _)) => batch.completions.push(json!({
                    "transactionReference": reference,
                    "creditParty": item.get("creditParty").cloned().unwrap_or(json!([])),
                    "debitParty": item.get("debitParty").cloned().unwrap_or(json!([])),
                    "completionDate": Timestamp::now(),
                    "link": format!("/transactions/{reference}"),
                })),
                Err((reference, reason)) => {
                    batch.rejections.push(rejection(&item, reference, &reason))
                }
            }
            sim.touched();
        }
    });
}

/// The batch `id` as `GET /batchtransactions/{batchId}` shows it, if there is one.
pub(crate) fn view_of(sim: &Sim, id: &str) -> Option<Value> {
    lock(&sim.batches).by_id.get(id).map(|b| view(id, b))
}

/// The batches an interrupted run left approved and not completed: to be processed again from their next item.
pub(crate) fn unfinished(batches: &Batches) -> Vec<String> {
    batches
        .by_id
        .iter()
        .filter(|(_, b)| b.status == "approved")
        .map(|(id, _)| id.clone())
        .collect()
}

/// `GET /batchtransactions/{batchId}`
pub(crate) async fn read(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> Result<Response, SimError> {
    let batches = lock(&sim.batches);
    let batch = batches
        .by_id
        .get(&id)
        .ok_or_else(|| GsmaError::not_found("No such batch"))?;
    Ok(answer(StatusCode::OK, view(&id, batch)))
}

/// `PATCH /batchtransactions/{batchId}`: `/batchStatus` → `approved`, for a batch posted `created`.
pub(crate) async fn approve(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, SimError> {
    let value = mmapi_core::patch::single_replace(&body, "/batchStatus")?;
    if value != "approved" {
        return Err(GsmaError::format("batchStatus", "a batch can only be approved").into());
    }
    {
        let mut batches = lock(&sim.batches);
        let batch = batches
            .by_id
            .get_mut(&id)
            .ok_or_else(|| GsmaError::not_found("No such batch"))?;
        if batch.status != "created" {
            return Err(GsmaError::new(
                ErrorCategory::BusinessRule,
                ErrorCode::IncorrectState,
                "Only a batch waiting for approval can be approved",
            )
            .into());
        }
        batch.status = "approved".to_owned();
        batch.approval_date = Some(Timestamp::now());
    }
    spawn_processing(&sim, id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /batchtransactions/{batchId}/completions` and `…/rejections`, paged.
pub(crate) async fn results(
    State(sim): State<Arc<Sim>>,
    Path((id, which)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    let list = {
        let batches = lock(&sim.batches);
        let batch = batches
            .by_id
            .get(&id)
            .ok_or_else(|| GsmaError::not_found("No such batch"))?;
        match which.as_str() {
            "completions" => batch.completions.clone(),
            "rejections" => batch.rejections.clone(),
            _ => return Err(GsmaError::not_found("No such resource").into()),
        }
    };
    Ok(page(list, &query)?)
}

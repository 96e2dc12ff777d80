//! Asynchronous requests: the request state a `202` answers, its completion after the processing delay, the
//! callback PUT to `X-Callback-URL` (the final object, or the error object), `GET /requeststates/{id}` and
//! `GET /responses/{X-CorrelationID}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mmapi_core::GsmaError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{answer, lock, AsyncHeaders, Sim, SimError};

/// One request.
#[derive(Serialize, Deserialize)]
struct Request {
    status: String,
    object_reference: String,
    callback_url: Option<String>,
    client_correlation_id: Option<String>,
    error: Option<GsmaError>,
}

/// Every request, by `serverCorrelationId`, and the links of what each client correlation id created.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Requests {
    by_id: HashMap<String, Request>,
    links: HashMap<String, String>,
}

impl Requests {
    fn view(&self, id: &str) -> Option<Value> {
        let r = self.by_id.get(id)?;
        let mut state = json!({
            "serverCorrelationId": id,
            "status": r.status,
            "notificationMethod": if r.callback_url.is_some() { "callback" } else { "polling" },
            "objectReference": r.object_reference,
        });
        if let Some(error) = &r.error {
            state["error"] = json!(error);
        }
        Some(state)
    }
}

/// Registers a request that makes the object at `link` (whose reference is `object_reference`); a repeated
/// `X-CorrelationID` is refused as a duplicate. Answers the request state to send with the `202`.
pub(crate) fn begin(
    sim: &Sim,
    headers: &AsyncHeaders,
    link: String,
    object_reference: &str,
) -> Result<(String, Value), GsmaError> {
    let mut requests = lock(&sim.requests);
    if let Some(cid) = &headers.correlation_id {
        if requests.links.contains_key(cid) {
            return Err(GsmaError::duplicate_request(format!(
                "X-CorrelationID {cid} was already used; GET /responses/{cid} finds what it created"
            )));
        }
        requests.links.insert(cid.clone(), link);
    }
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    requests.by_id.insert(
        id.clone(),
        Request {
            status: "pending".to_owned(),
            object_reference: object_reference.to_owned(),
            callback_url: headers.callback_url.clone(),
            client_correlation_id: headers.correlation_id.clone(),
            error: None,
        },
    );
    let state = requests.view(&id).unwrap_or(Value::Null);
    Ok((id, state))
}

/// The `202` answer to an asynchronous request.
pub(crate) fn accepted(state: Value) -> Response {
    answer(StatusCode::ACCEPTED, state)
}

/// After the processing delay, runs `work` (which answers the final object or why the request failed) and
/// records the outcome, both under the mutation gate, then calls back.
pub(crate) fn complete_later<F>(sim: &Arc<Sim>, id: String, work: F)
where
    F: FnOnce(&Sim) -> Result<Value, GsmaError> + Send + 'static,
{
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        tokio::time::sleep(sim.config.processing_delay).await;
        let delivery = {
            let _mutating = sim.gate.lock().await;
            let outcome = work(&sim);
            let delivery = record(&sim, &id, outcome);
            sim.touched();
            delivery
        };
        if let Some(delivery) = delivery {
            delivery.send(&sim).await;
        }
    });
}

/// A callback to send.
struct Delivery {
    url: String,
    correlation_id: Option<String>,
    body: Value,
}

impl Delivery {
    async fn send(self, sim: &Sim) {
        deliver(sim, &self.url, self.correlation_id.as_deref(), &self.body).await;
    }
}

/// Records a request's outcome; the callback it owes, if its client gave a URL.
fn record(sim: &Sim, id: &str, outcome: Result<Value, GsmaError>) -> Option<Delivery> {
    let mut requests = lock(&sim.requests);
    let request = requests.by_id.get_mut(id)?;
    let body = match outcome {
        Ok(object) => {
            request.status = "completed".to_owned();
            object
        }
        Err(error) => {
            request.status = "failed".to_owned();
            request.error = Some(error.clone());
            json!(error)
        }
    };
    request.callback_url.clone().map(|url| Delivery {
        url,
        correlation_id: request.client_correlation_id.clone(),
        body,
    })
}

/// Settles what a restart interrupted: each request still pending (its processing never ran, so it changed
/// nothing) fails with an `internal` error, as does its pending transaction, and its callback is sent. A pending
/// batch request completes with its batch, which goes on processing.
pub(crate) fn settle_interrupted(sim: &Arc<Sim>) {
    let pending: Vec<(String, String)> = lock(&sim.requests)
        .by_id
        .iter()
        .filter(|(_, r)| r.status == "pending")
        .map(|(id, r)| (id.clone(), r.object_reference.clone()))
        .collect();
    let mut deliveries = Vec::new();
    for (id, object_reference) in pending {
        let outcome = match super::batches::view_of(sim, &object_reference) {
            Some(batch) => Ok(batch),
            None => {
                lock(&sim.transactions).fail_interrupted(&object_reference);
                Err(GsmaError::new(
                    mmapi_core::ErrorCategory::Internal,
                    mmapi_core::ErrorCode::GenericError,
                    "The operator restarted before processing the request; nothing was done",
                ))
            }
        };
        deliveries.extend(record(sim, &id, outcome));
    }
    sim.touched();
    if deliveries.is_empty() {
        return;
    }
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        for delivery in deliveries {
            delivery.send(&sim).await;
        }
    });
}

/// PUTs a callback, trying three times.
async fn deliver(sim: &Sim, url: &str, correlation_id: Option<&str>, body: &Value) {
    for attempt in 1..=3u64 {
        let mut request = sim
            .http
            .put(url)
            .header("X-Date", mmapi_core::Timestamp::now().to_string())
            .json(body);
        if let Some(id) = correlation_id {
            request = request.header("X-CorrelationID", id);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                tracing::debug!(status = %r.status(), attempt, "MMAPI simulator callback refused")
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt, "MMAPI simulator callback not delivered")
            }
        }
        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
    }
}

/// A path parameter that must be a UUID (`400 validation/formatError` otherwise).
fn uuid_path(name: &str, value: &str) -> Result<(), GsmaError> {
    uuid::Uuid::try_parse(value)
        .map(|_| ())
        .map_err(|_| GsmaError::format(name, format!("{name} '{value}' is not a UUID")))
}

/// `PATCH /requeststates/{serverCorrelationId}`: deprecated in MMAPI 1.2 (a request state is the server's; its
/// outcome reaches the client by callback or polling), refused as the gateway refuses it, once the id is known.
pub(crate) async fn patch_request_state(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> SimError {
    if let Err(e) = uuid_path("serverCorrelationId", &id) {
        return SimError(e);
    }
    if lock(&sim.requests).view(&id.to_ascii_lowercase()).is_none() {
        return SimError(GsmaError::not_found("No such request state"));
    }
    SimError(
        GsmaError::new(
            mmapi_core::ErrorCategory::BusinessRule,
            mmapi_core::ErrorCode::GenericError,
            "Not offered: this operation is deprecated in MMAPI 1.2; the outcome reaches the client by callback or polling",
        )
        .with_param("operationId", "requeststatesServerCorrelationIdPATCH")
        .with_param("reason", "deprecated"),
    )
}

/// `GET /requeststates/{serverCorrelationId}`
pub(crate) async fn request_state(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> Result<Response, SimError> {
    uuid_path("serverCorrelationId", &id)?;
    let view = lock(&sim.requests).view(&id.to_ascii_lowercase());
    view.map(|state| answer(StatusCode::OK, state))
        .ok_or_else(|| {
            SimError(GsmaError::not_found(
                "No request has this serverCorrelationId",
            ))
        })
}

/// `GET /responses/{clientCorrelationId}`
pub(crate) async fn response(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
) -> Result<Response, SimError> {
    uuid_path("clientCorrelationId", &id)?;
    let link = lock(&sim.requests)
        .links
        .get(&id.to_ascii_lowercase())
        .cloned();
    link.map(|link| answer(StatusCode::OK, json!({ "link": link })))
        .ok_or_else(|| SimError(GsmaError::not_found("No request has this X-CorrelationID")))
}

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
use serde_json::{json, Value};

use super::{answer, lock, AsyncHeaders, Sim, SimError};

/// One request.
struct Request {
    status: &'static str,
    object_reference: String,
    callback_url: Option<String>,
    client_correlation_id: Option<String>,
    error: Option<GsmaError>,
}

/// Every request, by `serverCorrelationId`, and the links of what each client correlation id created.
#[derive(Default)]
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
            status: "pending",
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

/// After the processing delay, runs `work` (which answers the final object or why the request failed), records
/// the outcome and calls back.
pub(crate) fn complete_later<F>(sim: &Arc<Sim>, id: String, work: F)
where
    F: FnOnce(&Sim) -> Result<Value, GsmaError> + Send + 'static,
{
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        tokio::time::sleep(sim.config.processing_delay).await;
        let outcome = work(&sim);
        finish(&sim, &id, outcome).await;
    });
}

/// Records a request's outcome and delivers its callback.
pub(crate) async fn finish(sim: &Sim, id: &str, outcome: Result<Value, GsmaError>) {
    let delivery = {
        let mut requests = lock(&sim.requests);
        let Some(request) = requests.by_id.get_mut(id) else {
            return;
        };
        let body = match outcome {
            Ok(object) => {
                request.status = "completed";
                object
            }
            Err(error) => {
                request.status = "failed";
                request.error = Some(error.clone());
                json!(error)
            }
        };
        request
            .callback_url
            .clone()
            .map(|url| (url, request.client_correlation_id.clone(), body))
    };
    if let Some((url, correlation_id, body)) = delivery {
        deliver(sim, &url, correlation_id.as_deref(), &body).await;
    }
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

//! The routes where the operator PUTs its callbacks (the `X-Callback-URL` we gave it): the final state of a
//! transaction we sent it, `/callbacks/{name}/transactions/{our reference}`, and the outcome of a client's
//! request we forwarded to it, `/callbacks/{name}/forwarded/{the X-CorrelationID we sent it under}`, which the
//! gateway relays to the client.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::Router;
use mmapi_core::provider::{EventError, EventReceipt, EventSink, Outcome, ProviderEvent};

use crate::transform::{correlation_id_for, outcome_of};

#[derive(Clone)]
struct CallbackState {
    provider: String,
    sink: Arc<dyn EventSink>,
}

/// The path below the provider's callback base for one of our transactions.
pub(crate) fn transaction_path(reference: &str) -> String {
    format!("/transactions/{reference}")
}

/// The path below the provider's callback base for a forwarded request sent under `correlation_id`.
pub(crate) fn forwarded_path(correlation_id: &str) -> String {
    format!("/forwarded/{correlation_id}")
}

/// The callback routes, handing each final state to `sink`.
pub(crate) fn router(provider: String, sink: Arc<dyn EventSink>) -> Router {
    Router::new()
        .route(
            "/transactions/{reference}",
            put(transaction_callback).post(transaction_callback),
        )
        .route(
            "/forwarded/{correlation_id}",
            put(forwarded_callback).post(forwarded_callback),
        )
        .with_state(CallbackState { provider, sink })
}

/// A transaction object (completed, failed) or an error object. The operator echoes the `X-CorrelationID` we
/// sent; one that does not match the reference in the URL is refused. An unknown reference is ignored by the
/// engine; 204 either way, so the operator stops sending it. A result we could not record is 503, so the
/// operator sends it again.
async fn transaction_callback(
    State(state): State<CallbackState>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let correlation_id = correlation_id_for(&reference);
    let echoed = headers
        .get("X-CorrelationID")
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    if echoed.is_some_and(|id| id != correlation_id) {
        tracing::warn!(provider = %state.provider, reference, "operator callback with another X-CorrelationID; ignored");
        return StatusCode::BAD_REQUEST;
    }
    let Some(outcome) = serde_json::from_slice(&body)
        .ok()
        .and_then(|value| outcome_of(&value))
    else {
        tracing::warn!(provider = %state.provider, reference, "operator callback is neither a transaction nor an error object");
        return StatusCode::BAD_REQUEST;
    };
    if outcome == Outcome::Pending {
        return StatusCode::NO_CONTENT;
    }
    let event = ProviderEvent {
        reference: correlation_id,
        transaction_hint: Some(reference),
        outcome,
    };
    let recorded = state.sink.deliver(&state.provider, event).await;
    answer(&state.provider, recorded)
}

/// 204 once the sink recorded a callback (whatever it made of it); 503 when it could not, so that the operator
/// sends it again.
fn answer(provider: &str, recorded: Result<EventReceipt, EventError>) -> StatusCode {
    match recorded {
        Ok(receipt) => {
            tracing::debug!(provider, ?receipt, "operator callback recorded");
            StatusCode::NO_CONTENT
        }
        Err(e) => {
            tracing::warn!(provider, error = %e, "operator callback not recorded; the operator will send it again");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// The outcome of a forwarded request (whatever object the operation makes, or an error object), relayed to the
/// client as it is. The path's id is one the gateway made up for the request and gave only to the operator; an
/// echoed `X-CorrelationID` that differs is refused. 204 once relayed or when the id is unknown; 503 when it
/// could not be recorded, so that the operator sends it again.
async fn forwarded_callback(
    State(state): State<CallbackState>,
    Path(correlation_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let echoed = headers.get("X-CorrelationID").and_then(|v| v.to_str().ok());
    if echoed.is_some_and(|id| !id.eq_ignore_ascii_case(&correlation_id)) {
        tracing::warn!(provider = %state.provider, "forwarded-request callback with another X-CorrelationID; ignored");
        return StatusCode::BAD_REQUEST;
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        tracing::warn!(provider = %state.provider, "forwarded-request callback is not JSON");
        return StatusCode::BAD_REQUEST;
    };
    if !body.is_object() {
        tracing::warn!(provider = %state.provider, "forwarded-request callback is not a JSON object");
        return StatusCode::BAD_REQUEST;
    }
    let relayed = state
        .sink
        .relay_forwarded(&state.provider, &correlation_id, body)
        .await;
    answer(&state.provider, relayed)
}

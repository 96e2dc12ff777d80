//! The route where the operator PUTs the final state of a transaction we sent it (its `X-Callback-URL`
//! callback): `/callbacks/{name}/transactions/{our reference}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::Router;
use mmapi_core::provider::{EventSink, Outcome, ProviderEvent};

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

/// The callback routes, handing each final state to `sink`.
pub(crate) fn router(provider: String, sink: Arc<dyn EventSink>) -> Router {
    Router::new()
        .route(
            "/transactions/{reference}",
            put(transaction_callback).post(transaction_callback),
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
    match state.sink.deliver(&state.provider, event).await {
        Ok(receipt) => {
            tracing::debug!(provider = %state.provider, ?receipt, "operator callback recorded");
            StatusCode::NO_CONTENT
        }
        Err(e) => {
            tracing::warn!(provider = %state.provider, error = %e, "operator callback not recorded; the operator will send it again");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

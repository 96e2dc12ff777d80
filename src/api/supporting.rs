//! Supporting resources: `/requeststates`, `/responses`, `/heartbeat`.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use mmapi_core::model::{Heartbeat, Link, NotificationMethod, RequestState, RequestStatus};
use mmapi_core::GsmaError;
use uuid::Uuid;

use super::error::ApiError;
use super::headers::UUID_RE;
use super::json::GsmaJson;
use super::path_param;
use crate::auth::Caller;
use crate::engine::Engine;
use crate::store::{RequestStateRow, StoreError};

fn uuid_param(name: &str, value: &str) -> Result<String, ApiError> {
    if UUID_RE.is_match(value) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(GsmaError::format(name, format!("{name} '{value}' is not a UUID")).into())
    }
}

fn request_state_of(row: RequestStateRow) -> Result<RequestState, StoreError> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(format!(
            "request state {}: {what}",
            row.server_correlation_id
        ))
    };
    Ok(RequestState {
        server_correlation_id: Uuid::parse_str(&row.server_correlation_id)
            .map_err(|_| corrupt("id"))?,
        object_reference: row.object_reference,
        status: RequestStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
        notification_method: if row.notification_method == "callback" {
            NotificationMethod::Callback
        } else {
            NotificationMethod::Polling
        },
        pending_reason: None,
        expiry_time: None,
        poll_limit: None,
        error: match row.error {
            Some(text) => Some(serde_json::from_str(&text).map_err(|_| corrupt("error"))?),
            None => None,
        },
    })
}

/// Read the state of an asynchronous request.
#[utoipa::path(
    get,
    path = "/requeststates/{serverCorrelationId}",
    operation_id = "requeststatesServerCorrelationIdGET",
    tag = "Supporting",
    params(("serverCorrelationId" = String, Path, description = "The UUID the gateway returned when it accepted the request")),
    responses(
        (status = 200, description = "The request state", body = RequestState,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Not a UUID", body = GsmaError),
        (status = 404, description = "No such request", body = GsmaError),
    )
)]
pub async fn request_state(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<GsmaJson<RequestState>, ApiError> {
    let raw = path_param(path)?;
    let id = uuid_param("serverCorrelationId", &raw)?;
    let not_found = || {
        ApiError::from(
            GsmaError::not_found(format!("There is no request {raw}"))
                .with_param("serverCorrelationId", raw.clone()),
        )
    };
    let own = match engine.store().request_state(&id).await? {
        Some(row) if row.client_id != caller.client_id => return Err(not_found()),
        // The gateway's record of a request forwarded to an operator: what the operator says of it, once it said
        // anything, else the record.
        Some(row) if row.object_type == crate::store::FORWARDED => Some(row),
        Some(row) => return Ok(GsmaJson(StatusCode::OK, request_state_of(row)?)),
        None => None,
    };
    // Not the gateway's: a request of the caller's forwarded to a GSMA-speaking operator (see `forward`) is its.
    match super::forward::operator_request_state(&engine, &caller, &id).await? {
        Some(state) => Ok(GsmaJson(StatusCode::OK, state)),
        None => match own {
            Some(row) => Ok(GsmaJson(StatusCode::OK, request_state_of(row)?)),
            None => Err(not_found()),
        },
    }
}

/// Find the resource a request created, by the client's `X-CorrelationID`.
#[utoipa::path(
    get,
    path = "/responses/{clientCorrelationId}",
    operation_id = "responsesClientCorrelationIdGET",
    tag = "Supporting",
    params(("clientCorrelationId" = String, Path, description = "The X-CorrelationID the client sent")),
    responses(
        (status = 200, description = "A link to the resource", body = Link,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Not a UUID", body = GsmaError),
        (status = 404, description = "Nothing was created with that correlation id", body = GsmaError),
    )
)]
pub async fn response(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<GsmaJson<Link>, ApiError> {
    let raw = path_param(path)?;
    uuid_param("clientCorrelationId", &raw)?;
    let found = engine
        .store()
        .request_state_by_correlation(&caller.client_id, &raw)
        .await?;
    if let Some(row) = found
        .as_ref()
        .filter(|row| row.object_type == crate::store::FORWARDED)
    {
        // Forwarded to an operator: what it made is the operator's to tell, under the id the gateway sent.
        if let Some(link) =
            super::forward::operator_response(&engine, &caller, &row.server_correlation_id).await?
        {
            return Ok(GsmaJson(StatusCode::OK, link));
        }
    }
    let link = match found.and_then(|row| row.object_reference.map(|r| (row.object_type, r))) {
        Some((object_type, reference)) => Some(engine.link_to(&object_type, &reference).await?),
        None => None,
    };
    match link {
        Some(link) => Ok(GsmaJson(StatusCode::OK, Link { link })),
        None => Err(GsmaError::not_found(format!(
            "Nothing was created with X-CorrelationID {raw}"
        ))
        .with_param("clientCorrelationId", raw)
        .into()),
    }
}

/// Whether the gateway is up.
///
/// `degraded` while some of the providers' circuit breakers are open, `unavailable` while all are. The
/// `X-Unavailable-Providers` header names the open ones: `daraja`, or `mpesa-openapi:TZS` for one market.
#[utoipa::path(
    get,
    path = "/heartbeat",
    operation_id = "heartbeatGET",
    tag = "Supporting",
    security(()),
    responses((status = 200, description = "The service status", body = Heartbeat,
               headers(("X-Date" = String, description = "When the response was sent"),
                       ("X-Unavailable-Providers" = String,
                        description = "The providers whose circuit breakers are open, comma-separated"))))
)]
pub async fn heartbeat(
    State(engine): State<Arc<Engine>>,
) -> ([(HeaderName, HeaderValue); 1], GsmaJson<Heartbeat>) {
    let router = engine.router();
    let service_status = router.service_status();
    let names = router.unavailable_providers().join(",");
    let header = HeaderValue::from_str(&names).unwrap_or(HeaderValue::from_static(""));
    (
        [(HeaderName::from_static(UNAVAILABLE_PROVIDERS), header)],
        GsmaJson(
            StatusCode::OK,
            Heartbeat {
                service_status,
                delay: None,
                planned_restoration_time: None,
            },
        ),
    )
}

/// The heartbeat's header naming the open circuit breakers (comma-separated, may be empty).
pub const UNAVAILABLE_PROVIDERS: &str = "x-unavailable-providers";

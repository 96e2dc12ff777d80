//! Fault injection in the Daraja simulator: the shared settings and decisions of
//! [`mmapi_core::simulator_faults`], with Daraja's 5xx (HTTP 500 `500.003.02 Spike Arrest Violation`) and
//! OAuth exempt. Result callbacks (STK and initiator-API results) are what gets dropped, delayed or doubled;
//! STK Query and Transaction Status still tell the outcome.

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};

pub(crate) use mmapi_core::simulator_faults::{CallbackFault, FaultInjector};
pub use mmapi_core::simulator_faults::{Faults, InvalidFaults};

use super::{
    wire::{codes, Rejection},
    Shared,
};

/// Calls never faulted: OAuth and the simulator's own `/__simulator/` routes.
fn exempt(path: &str) -> bool {
    path.starts_with("/oauth/") || path.starts_with("/__simulator/")
}

/// The simulator's answer to an injected 5xx.
fn server_error() -> Response {
    Rejection::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        codes::SPIKE_ARREST,
        "Error Occurred: Spike Arrest Violation",
    )
    .into_response()
}

/// Middleware: injects call faults into every API but the [`exempt`] ones.
pub(crate) async fn inject(State(sim): State<Shared>, request: Request, next: Next) -> Response {
    mmapi_core::simulator_faults::inject(
        &sim.faults,
        "Daraja simulator",
        exempt,
        server_error,
        request,
        next,
    )
    .await
}

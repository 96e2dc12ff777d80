//! Fault injection in the OpenAPI simulator: the shared settings and decisions of
//! [`mmapi_core::simulator_faults`], with the OpenAPI's 5xx (HTTP 503 `INS-16 Unable to handle the request
//! due to a temporary overloading`) and `getSession/` exempt. Asynchronous results are what gets dropped,
//! delayed or doubled; `queryTransactionStatus` still tells the outcome.

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};

pub(crate) use mmapi_core::simulator_faults::FaultInjector;
pub use mmapi_core::simulator_faults::{Faults, InvalidFaults};

use super::{payments::refuse, Shared};

/// Calls never faulted: `getSession/` and the simulator's own `/__simulator/` routes.
fn exempt(path: &str) -> bool {
    path.ends_with("/getSession/") || path.starts_with("/__simulator/")
}

/// The simulator's answer to an injected 5xx.
fn server_error() -> Response {
    let response = refuse("INS-16", None);
    debug_assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    response.into_response()
}

/// Middleware: injects call faults into every API but the [`exempt`] ones.
pub(crate) async fn inject(State(sim): State<Shared>, request: Request, next: Next) -> Response {
    mmapi_core::simulator_faults::inject(
        &sim.faults,
        "OpenAPI simulator",
        exempt,
        server_error,
        request,
        next,
    )
    .await
}

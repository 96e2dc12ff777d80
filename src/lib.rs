//! mmapi-gateway: the GSMA Mobile Money API in front of M-Pesa operators.
//!
//! `api` is the HTTP facade, `engine` orchestrates a request's way (accept, persist, dispatch, complete,
//! notify), `store` keeps everything durable, `notify` delivers client callbacks, `routing` chooses the
//! provider behind a circuit breaker (`breaker`), and `sandbox` runs the operator simulators in-process.

pub mod api;
pub mod app;
pub mod auth;
pub mod bills;
pub mod breaker;
pub mod callback_sources;
pub mod callbacks;
pub mod config;
pub mod dashboard;
pub mod engine;
pub mod fees;
pub mod metrics;
pub mod notify;
pub mod observe;
pub mod reconcile;
pub mod review;
pub mod routing;
pub mod sandbox;
pub mod simulate;
pub mod store;
pub mod telemetry;
pub mod tls;

//! The outermost HTTP layer: a request id for every request, a tracing span carrying it, and the HTTP metrics.
//!
//! The id is the client's `X-Request-ID` when it is well formed (1–64 characters of `A–Z a–z 0–9 . _ : -`),
//! else a fresh UUID; it is returned in the `X-Request-ID` response header, and every log line written while
//! the request is handled carries it as the `request_id` field of the `request` span. The engine stores it with
//! the request state ([`current_request_id`]), so the operator call a transaction causes (logged in its
//! `dispatch` span) and the client callback it ends with (the `X-Request-ID` header of the PUT) carry it too.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The request id header, read and written.
pub const REQUEST_ID: &str = "x-request-id";

/// A request's id, in the request's extensions for handlers that want it.
#[derive(Clone, Debug)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("")
    }
}

/// Whether a client-supplied request id is acceptable as is.
pub fn well_formed(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn fresh_id() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    // A UUID is always a valid header value.
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("unknown"))
}

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request this task is handling, if any: what the engine records with what the request creates.
pub fn current_request_id() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The layer: `Router::layer(axum::middleware::from_fn(observe::layer))`, applied to the whole app.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = match request.headers().get(REQUEST_ID) {
        Some(value) if well_formed(value.as_bytes()) => value.clone(),
        _ => fresh_id(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = request.method().clone();
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id.to_str().unwrap_or(""),
        method = %method,
        route = route.as_deref().unwrap_or("unmatched"),
    );
    let current = id.to_str().unwrap_or("").to_owned();
    let mut response = CURRENT
        .scope(current, next.run(request).instrument(span))
        .await;
    crate::metrics::metrics().http_request(
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

//! Integrity and limits of client requests: `X-Content-Hash`, the body size limit and per-client rate limits,
//! all answered with GSMA error objects.
//!
//! [`RequestGuards`] is put in every request's extensions once (in [`crate::app`]); the middlewares here and
//! the `X-Callback-URL` check read it from there.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::GsmaError;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::auth::Caller;
use crate::config::{Config, LimitSettings};
use crate::notify::policy::CallbackPolicy;

/// What the request guards need, shared by every request.
#[derive(Clone)]
pub struct RequestGuards {
    /// Where callbacks may go.
    pub callbacks: Arc<CallbackPolicy>,
    /// Per-client rate limits.
    pub rates: Arc<RateLimits>,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
}

impl RequestGuards {
    /// The guards of a configuration.
    pub fn new(config: &Config, callbacks: Arc<CallbackPolicy>) -> Self {
        Self {
            callbacks,
            rates: Arc::new(RateLimits::new(&config.limits)),
            max_body_bytes: config.limits.max_body_bytes,
        }
    }
}

/// How many clients' rate limiters are kept at most; the memory is emptied when it is full.
const LIMITERS_CAPACITY: usize = 100_000;

/// Per-client rate limits (GCRA, one limiter a client, in this instance's memory).
pub struct RateLimits {
    default_per_sec: u32,
    burst: Option<u32>,
    /// Each client's limiter and the rate it was made for.
    limiters: Mutex<HashMap<String, (u32, Arc<DefaultDirectRateLimiter>)>>,
}

impl RateLimits {
    /// Limits with the defaults of `[limits]`.
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            default_per_sec: settings.default_rate_limit_per_sec,
            burst: settings.rate_limit_burst,
            limiters: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request of `client_id`, whose own rate is `own_rate` (the default when `None`; 0: no limit).
    /// `Err` holds how long to wait before a request is allowed again.
    pub fn check(&self, client_id: &str, own_rate: Option<u32>) -> Result<(), Duration> {
        let Some(rate) = NonZeroU32::new(own_rate.unwrap_or(self.default_per_sec)) else {
            return Ok(());
        };
        let limiter = {
            let Ok(mut limiters) = self.limiters.lock() else {
                return Ok(());
            };
            match limiters.get(client_id) {
                Some((made_for, limiter)) if *made_for == rate.get() => limiter.clone(),
                _ => {
                    if limiters.len() >= LIMITERS_CAPACITY {
                        limiters.clear();
                    }
                    let burst = self.burst.and_then(NonZeroU32::new).unwrap_or(rate);
                    let limiter = Arc::new(RateLimiter::direct(
                        Quota::per_second(rate).allow_burst(burst),
                    ));
                    limiters.insert(client_id.to_owned(), (rate.get(), limiter.clone()));
                    limiter
                }
            }
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Middleware on the GSMA routes, after authentication: a client over its rate gets 400
/// businessRule/rateLimitError (as the spec says, not 429) with `Retry-After` in seconds.
pub async fn rate_limit(request: Request, next: Next) -> Response {
    let over = match (
        request.extensions().get::<RequestGuards>(),
        request.extensions().get::<Caller>(),
    ) {
        (Some(guards), Some(caller)) => guards
            .rates
            .check(&caller.client_id, caller.rate_limit_per_sec)
            .err()
            .map(|wait| (caller.client_id.clone(), wait)),
        _ => None,
    };
    let Some((client, wait)) = over else {
        return next.run(request).await;
    };
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    tracing::debug!(%client, seconds, "rate limit exceeded");
    let mut response = ApiError::new(GsmaError::new(
        ErrorCategory::BusinessRule,
        ErrorCode::RateLimitError,
        format!("Too many requests; retry after {seconds} s"),
    ))
    .into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Middleware on the GSMA routes: when `X-Content-Hash` is sent it must be the SHA-256 of the body, in hex
/// (either case), else 400 validation/formatError.
pub async fn content_hash(request: Request, next: Next) -> Response {
    let Some(sent) = request.headers().get("x-content-hash") else {
        return next.run(request).await;
    };
    let bad = |why: &str| {
        ApiError::new(GsmaError::format("X-Content-Hash", why.to_owned())).into_response()
    };
    let Ok(sent) = sent.to_str().map(|s| s.trim().to_ascii_lowercase()) else {
        return bad("X-Content-Hash is not valid text");
    };
    if sent.len() != 64 || !sent.bytes().all(|b| b.is_ascii_hexdigit()) {
        return bad("X-Content-Hash must be the SHA-256 of the body in hexadecimal (64 digits)");
    }
    let (parts, body) = request.into_parts();
    // Read the body as the handlers would (the same size limit, the same errors).
    let mut read = Request::new(body);
    *read.extensions_mut() = parts.extensions.clone();
    let bytes = match super::transactions::body_bytes(Bytes::from_request(read, &()).await) {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    if hex::encode(Sha256::digest(&bytes)) != sent {
        return bad("X-Content-Hash does not match the SHA-256 of the body");
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The body limits of `[limits]`: one for every request, a larger one for `POST …/batchtransactions`.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    default: usize,
    batch: usize,
}

impl BodyLimits {
    /// The limits of `[limits]`.
    pub fn of(settings: &LimitSettings) -> Self {
        Self {
            default: settings.max_body_bytes,
            batch: settings.max_batch_body_bytes.max(settings.max_body_bytes),
        }
    }

    /// The limit of a request to `path`.
    pub fn for_path(&self, path: &str) -> usize {
        if path.trim_end_matches('/').ends_with("/batchtransactions") {
            self.batch
        } else {
            self.default
        }
    }

    /// The largest of them.
    pub fn largest(&self) -> usize {
        self.batch
    }
}

/// Middleware around the whole application: a body over its route's limit is refused, before it is read when
/// its `Content-Length` says so, else when reading passes the limit; any 413 an inner layer gives in another
/// form becomes a GSMA error.
pub async fn refuse_large_bodies(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    let max = limits.for_path(request.uri().path());
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return too_large(max).await;
    }
    let request = request.map(|body| Body::new(http_body_util::Limited::new(body, max)));
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return too_large(max).await;
    }
    response
}

async fn too_large(max: usize) -> Response {
    let response = ApiError::with_status(
        StatusCode::PAYLOAD_TOO_LARGE,
        GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::LengthError,
            format!("The request body is larger than {max} bytes"),
        ),
    )
    .into_response();
    super::headers::add_x_date(response).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_own_budget() {
        let limits = RateLimits::new(&LimitSettings {
            default_rate_limit_per_sec: 3,
            ..LimitSettings::default()
        });
        for _ in 0..3 {
            assert!(limits.check("a", None).is_ok());
        }
        let wait = limits.check("a", None).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(limits.check("b", None).is_ok());
        // A client's own rate replaces the default; 0 means no limit.
        for _ in 0..10 {
            assert!(limits.check("c", Some(10)).is_ok());
        }
        assert!(limits.check("c", Some(10)).is_err());
        for _ in 0..100 {
            assert!(limits.check("d", Some(0)).is_ok());
        }
    }

    #[test]
    fn burst_setting() {
        let limits = RateLimits::new(&LimitSettings {
            default_rate_limit_per_sec: 10,
            rate_limit_burst: Some(2),
            ..LimitSettings::default()
        });
        assert!(limits.check("a", None).is_ok());
        assert!(limits.check("a", None).is_ok());
        assert!(limits.check("a", None).is_err());
    }
}

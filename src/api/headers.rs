//! GSMA request headers: `X-CorrelationID`, `X-Callback-URL`, `Content-Type`, and the `X-Date` response header.
//!
//! `X-Callback-URL` is checked against the gateway's [`CallbackPolicy`] (from the [`RequestGuards`] in the
//! request's extensions) and the calling client's own `callback_hosts`.

use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use mmapi_core::{GsmaError, Timestamp};
use regex::Regex;

use super::error::ApiError;
use super::limits::RequestGuards;
use crate::auth::Caller;
use crate::notify::policy::{Allowlist, CallbackPolicy};

/// The spec's UUID pattern (`X-CorrelationID`, `serverCorrelationId`, `clientCorrelationId`).
pub static UUID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
        .expect("valid UUID regex")
});

/// The headers of a create or update request.
#[derive(Debug, Default)]
pub struct RequestHeaders {
    /// `X-CorrelationID`: the client's idempotency key.
    pub correlation_id: Option<String>,
    /// `X-Callback-URL`: where the outcome is PUT.
    pub callback_url: Option<String>,
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| GsmaError::format(name, format!("{name} is not valid text")).into()),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        if let Some(ct) = header_text(headers, "content-type")? {
            let media = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if media != "application/json" && !media.ends_with("+json") {
                return Err(GsmaError::format(
                    "Content-Type",
                    format!("Content-Type must be application/json, not '{ct}'"),
                )
                .into());
            }
        }
        let correlation_id = match header_text(headers, "x-correlationid")? {
            Some(id) if !UUID_RE.is_match(id) => {
                return Err(GsmaError::format(
                    "X-CorrelationID",
                    format!("X-CorrelationID '{id}' is not a UUID"),
                )
                .into())
            }
            Some(id) => Some(id.to_owned()),
            None => None,
        };
        let callback_url = match header_text(headers, "x-callback-url")? {
            Some(url) => {
                let strict = CallbackPolicy::default();
                let policy = parts
                    .extensions
                    .get::<RequestGuards>()
                    .map_or(&strict, |g| &*g.callbacks);
                let client = parts
                    .extensions
                    .get::<Caller>()
                    .map(|c| Allowlist::parse_lenient(&c.callback_hosts))
                    .unwrap_or_default();
                Some(valid_callback_url(url, policy, &client)?)
            }
            None => None,
        };
        Ok(Self {
            correlation_id,
            callback_url,
        })
    }
}

/// Checks a callback URL: absolute, https (http only to loopback where loopback is allowed), no credentials,
/// and an IP literal host must be public or allowlisted (host names are checked on delivery, when resolved).
fn valid_callback_url(
    text: &str,
    policy: &CallbackPolicy,
    client: &Allowlist,
) -> Result<String, ApiError> {
    let bad = |why: &str| -> ApiError {
        GsmaError::format("X-Callback-URL", format!("X-Callback-URL '{text}' {why}")).into()
    };
    let url = reqwest::Url::parse(text).map_err(|_| bad("is not an absolute URL"))?;
    policy
        .check_url(&url, client)
        .map_err(|refusal| bad(&format!("is refused: {refusal}")))?;
    Ok(url.to_string())
}

/// Adds `X-Date` to every response.
pub async fn add_x_date(mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&Timestamp::now().to_string()) {
        response.headers_mut().insert("x-date", v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls() {
        let settings = crate::config::CallbackSettings::default();
        let sandbox = CallbackPolicy::new(&settings, true).unwrap();
        let production = CallbackPolicy::new(&settings, false).unwrap();
        let none = Allowlist::default();
        assert_eq!(
            valid_callback_url("http://127.0.0.1:9000/cb", &sandbox, &none).unwrap(),
            "http://127.0.0.1:9000/cb"
        );
        assert!(valid_callback_url("http://127.0.0.1:9000/cb", &production, &none).is_err());
        for policy in [&sandbox, &production] {
            assert!(valid_callback_url("https://example.com/x?y=1", policy, &none).is_ok());
            for bad in [
                "/relative",
                "ftp://example.com/",
                "http://example.com/",
                "https://user:pw@example.com/",
                "not a url",
                "http://10.0.0.1/x",
                "https://169.254.169.254/",
            ] {
                assert!(valid_callback_url(bad, policy, &none).is_err(), "{bad}");
            }
        }
        let mine = Allowlist::parse(&["10.0.0.0/8"]).unwrap();
        assert!(valid_callback_url("https://10.0.0.1/x", &production, &mine).is_ok());
    }
}

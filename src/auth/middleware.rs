//! The authentication middleware: reads the credentials a request carries, puts the [`Caller`] in its
//! extensions, or answers 401 with a GSMA error that says nothing more than "not authenticated".

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use mmapi_core::Secret;

use super::registry::{ClientRegistry, Presented};
use super::{AuthError, Caller, Role};
use crate::api::error::ApiError;

/// Requires an authenticated client.
pub async fn require_client(
    State(registry): State<Arc<ClientRegistry>>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&registry, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => unauthenticated(e),
    }
}

/// Requires an authenticated client with the operator role.
pub async fn require_operator(
    State(registry): State<Arc<ClientRegistry>>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticate(&registry, request.headers()).await {
        Ok(caller) if caller.role == Role::Operator => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(caller) => {
            tracing::info!(client = %caller.client_id, "an operator route asked by a client without the operator role");
            ApiError::from(AuthError::Forbidden).into_response()
        }
        Err(e) => unauthenticated(e),
    }
}

/// Checks the credentials in `headers`.
pub async fn authenticate(
    registry: &ClientRegistry,
    headers: &HeaderMap,
) -> Result<Caller, AuthError> {
    registry.authenticate(&presented(headers)?).await
}

/// A 401 with `WWW-Authenticate`, so that HTTP clients know to send Basic credentials.
fn unauthenticated(e: AuthError) -> Response {
    let mut response = ApiError::from(e).into_response();
    if response.status() == axum::http::StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mmapi-gateway\", Bearer"),
        );
    }
    response
}

/// The credentials in a request's headers. A malformed `Authorization` is invalid, not missing.
pub fn presented(headers: &HeaderMap) -> Result<Presented, AuthError> {
    let text = |name| -> Result<Option<String>, AuthError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map(|s| s.trim().to_owned())
                    .map_err(|_| AuthError::Invalid)
            })
            .transpose()
    };
    let mut presented = Presented {
        api_key: text("x-api-key")?
            .filter(|k| !k.is_empty())
            .map(Secret::new),
        client_id: text("x-client-id")?.filter(|k| !k.is_empty()),
        ..Presented::default()
    };
    if let Some(authorization) = text(AUTHORIZATION.as_str())? {
        let (scheme, value) = authorization.split_once(' ').ok_or(AuthError::Invalid)?;
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            presented.basic = Some(basic_credentials(value)?);
        } else if scheme.eq_ignore_ascii_case("bearer") && !value.is_empty() {
            presented.bearer = Some(Secret::new(value));
        } else {
            return Err(AuthError::Invalid);
        }
    }
    Ok(presented)
}

/// The consumer key and secret of an `Authorization: Basic` value.
pub fn basic_credentials(value: &str) -> Result<(String, Secret), AuthError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|_| AuthError::Invalid)?;
    let decoded = String::from_utf8(decoded).map_err(|_| AuthError::Invalid)?;
    let (key, secret) = decoded.split_once(':').ok_or(AuthError::Invalid)?;
    if key.is_empty() {
        return Err(AuthError::Invalid);
    }
    Ok((key.to_owned(), Secret::new(secret)))
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| AuthError::Missing.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn reads_basic_bearer_and_api_key() {
        // base64("ck_1:s:e:c") — a secret may itself contain colons.
        let p = presented(&headers(&[
            ("authorization", "Basic Y2tfMTpzOmU6Yw=="),
            ("x-api-key", "k"),
        ]))
        .unwrap();
        let (key, secret) = p.basic.unwrap();
        assert_eq!((key.as_str(), secret.expose()), ("ck_1", "s:e:c"));
        assert_eq!(p.api_key.unwrap().expose(), "k");

        let p = presented(&headers(&[("authorization", "bearer tok")])).unwrap();
        assert_eq!(p.bearer.unwrap().expose(), "tok");
        assert!(presented(&HeaderMap::new()).unwrap().basic.is_none());
    }

    #[test]
    fn malformed_authorization_is_invalid() {
        for bad in [
            "Basic",
            "Basic !!!",
            "Basic bm9jb2xvbg==",
            "Digest abc",
            "Bearer ",
        ] {
            assert!(
                matches!(
                    presented(&headers(&[("authorization", bad)])),
                    Err(AuthError::Invalid)
                ),
                "{bad}"
            );
        }
    }
}

//! Authorization API: `GET /oauth/v1/generate` and the bearer-token check of the other APIs.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{RawQuery, State},
    http::{header::AUTHORIZATION, HeaderMap, StatusCode},
    routing::get,
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use rand::{distr::Alphanumeric, Rng};

use super::{
    wire::{self, codes, Rejection, TokenResponse},
    Shared,
};

/// Routes of the Authorization API.
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route(
        "/oauth/v1/generate",
        get(generate).fallback(wire::method_not_allowed),
    )
}

/// Issued access tokens and their expiry. Several tokens may be valid at once.
pub(crate) struct TokenStore {
    ttl: Duration,
    inner: Mutex<Tokens>,
}

struct Tokens {
    expiry: HashMap<String, Instant>,
    /// Prune expired tokens once the map grows past this size.
    prune_at: usize,
}

const MIN_PRUNE_AT: usize = 1024;

impl TokenStore {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(Tokens {
                expiry: HashMap::new(),
                prune_at: MIN_PRUNE_AT,
            }),
        }
    }

    fn issue(&self) -> String {
        let token: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(28)
            .map(char::from)
            .collect();
        let now = Instant::now();
        let mut tokens = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.expiry.len() >= tokens.prune_at {
            tokens.expiry.retain(|_, exp| *exp > now);
            tokens.prune_at = MIN_PRUNE_AT.max(tokens.expiry.len() * 2);
        }
        tokens.expiry.insert(token.clone(), now + self.ttl);
        token
    }

    fn is_valid(&self, token: &str) -> bool {
        let tokens = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .expiry
            .get(token)
            .is_some_and(|exp| *exp > Instant::now())
    }

    /// Every token issued and not pruned yet (for tests that check the tokens leak nowhere).
    pub(crate) fn issued(&self) -> Vec<String> {
        let tokens = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        tokens.expiry.keys().cloned().collect()
    }

    /// `expires_in` as Daraja sends it: a string of the lifetime in seconds minus one.
    fn expires_in(&self) -> String {
        self.ttl.as_secs().saturating_sub(1).to_string()
    }
}

fn invalid_authentication() -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        codes::INVALID_AUTHENTICATION,
        "Invalid Authentication passed",
    )
}

/// `GET /oauth/v1/generate?grant_type=client_credentials` with Basic auth.
async fn generate(
    State(sim): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<TokenResponse>, Rejection> {
    let (key, secret) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials)
        .ok_or_else(invalid_authentication)?;
    if key != sim.consumer_key || secret != sim.consumer_secret {
        return Err(invalid_authentication());
    }
    let grant_ok = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .any(|(k, v)| k == "grant_type" && v == "client_credentials");
    if !grant_ok {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_GRANT_TYPE,
            "Invalid grant type passed",
        ));
    }
    Ok(Json(TokenResponse {
        access_token: sim.tokens.issue(),
        expires_in: sim.tokens.expires_in(),
    }))
}

/// Decodes `Basic base64(key:secret)`.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (key, secret) = text.split_once(':')?;
    Some((key.to_owned(), secret.to_owned()))
}

/// How an API answers a bearer token that is unknown or expired (PROVIDERS.md A.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadToken {
    /// HTTP 404 `404.001.03 Invalid Access Token`: STK, Reversal, and (no other flavour is
    /// documented for them) B2C and B2B.
    NotFound,
    /// HTTP 400 `400.003.01 Invalid Access Token`: C2B and Transaction Status.
    BadRequest,
    /// HTTP 401 `401.002.01 Error Occurred - Invalid Access Token - <token>`: Account Balance.
    Unauthorized,
}

/// Checks `Authorization: Bearer <token>` on an API route, with the STK flavour of errors.
pub(crate) fn authorize(sim: &Shared, headers: &HeaderMap) -> Result<(), Rejection> {
    authorize_as(sim, headers, BadToken::NotFound)
}

/// Checks `Authorization: Bearer <token>` on an API route.
///
/// A missing or malformed header is HTTP 404 `404.001.04 Invalid Authentication Header` on
/// every API; an unknown or expired token is answered as `flavour` says.
pub(crate) fn authorize_as(
    sim: &Shared,
    headers: &HeaderMap,
    flavour: BadToken,
) -> Result<(), Rejection> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            Rejection::new(
                StatusCode::NOT_FOUND,
                codes::INVALID_AUTH_HEADER,
                "Invalid Authentication Header",
            )
        })?;
    if sim.tokens.is_valid(token) {
        return Ok(());
    }
    Err(match flavour {
        BadToken::NotFound => Rejection::new(
            StatusCode::NOT_FOUND,
            codes::INVALID_ACCESS_TOKEN,
            "Invalid Access Token",
        ),
        BadToken::BadRequest => Rejection::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_ACCESS_TOKEN_400,
            "Invalid Access Token",
        ),
        BadToken::Unauthorized => Rejection::new(
            StatusCode::UNAUTHORIZED,
            codes::INVALID_ACCESS_TOKEN_401,
            format!("Error Occurred - Invalid Access Token - {token}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header() {
        let h = format!("Basic {}", STANDARD.encode("key:sec:ret"));
        assert_eq!(
            basic_credentials(&h),
            Some(("key".to_owned(), "sec:ret".to_owned()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(basic_credentials("Basic"), None);
    }

    #[test]
    fn tokens_expire() {
        let store = TokenStore::new(Duration::from_millis(0));
        let t = store.issue();
        assert!(!store.is_valid(&t));
        let store = TokenStore::new(Duration::from_secs(3600));
        let a = store.issue();
        let b = store.issue();
        assert_eq!(a.len(), 28);
        assert!(store.is_valid(&a) && store.is_valid(&b));
        assert!(!store.is_valid("nope"));
        assert_eq!(store.expires_in(), "3599");
    }
}

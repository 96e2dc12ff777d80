//! `GET getSession/`, the session store, and the check of every other API's bearer.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use rand::Rng;

use super::{
    markets::Market,
    wire::{Kind, Reply},
    Session, Shared,
};

pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/{env}/ipg/v2/{market}/getSession/", get(get_session))
}

/// An answer that ends a request early (boxed: responses are large).
pub(crate) type Refusal = Box<Response>;

/// A new 32-hex id (session ids and ConversationIDs).
pub(crate) fn new_hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A new Mobile Money transaction id: 12 mixed-case alphanumerics.
pub(crate) fn new_transaction_id() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(12)
        .map(char::from)
        .collect()
}

/// The market of a path, or the answer: 404 for an environment other than `sandbox` or
/// `openapi`, `400 INS-998` for an unknown market.
pub(crate) fn resolve(env: &str, market: &str) -> Result<&'static Market, Refusal> {
    if env != "sandbox" && env != "openapi" {
        return Err(Box::new(StatusCode::NOT_FOUND.into_response()));
    }
    Market::by_context(market)
        .ok_or_else(|| Box::new(Reply::new("INS-998").into_response_for(Kind::Read)))
}

/// The token of `Authorization: Bearer …`.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// Decrypts the bearer off the async runtime (RSA-4096 takes milliseconds).
async fn decrypt_bearer(state: &Shared, headers: &HeaderMap) -> Option<String> {
    let token = bearer(headers)?;
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || state.keys.decrypt(&token))
        .await
        .ok()
        .flatten()
}

async fn get_session(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = resolve(&env, &market) {
        return *response;
    }
    let failed = || Reply::new("INS-989").into_response_for(Kind::Read);
    let has_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty());
    if !has_origin {
        return failed();
    }
    if decrypt_bearer(&state, &headers).await.as_deref() != Some(state.api_key.as_str()) {
        return failed();
    }
    let id = new_hex_id();
    let now = Instant::now();
    let session = Session {
        live_at: now + state.session_activation_delay,
        expires_at: now + state.session_lifetime,
    };
    {
        let mut sessions = state.sessions.lock().expect("sessions lock");
        sessions.retain(|_, s| s.expires_at > now);
        sessions.insert(id.clone(), session);
    }
    Reply {
        session_id: Some(id),
        ..Reply::new("INS-0")
    }
    .into_response_for(Kind::Read)
}

/// Checks the bearer of an API call: the encrypted id of a live, unexpired session. Otherwise
/// `401 INS-2 Invalid API Key`.
pub(crate) async fn authenticate(state: &Shared, headers: &HeaderMap) -> Result<(), Refusal> {
    let refused = || Err(Box::new(Reply::new("INS-2").into_response_for(Kind::Read)));
    let Some(id) = decrypt_bearer(state, headers).await else {
        return refused();
    };
    let now = Instant::now();
    let sessions = state.sessions.lock().expect("sessions lock");
    match sessions.get(&id) {
        Some(s) if s.live_at <= now && now < s.expires_at => Ok(()),
        _ => refused(),
    }
}

//! `POST /v1/oauth/accesstoken`: OAuth 2.0 client credentials, as the GSMA sandbox and SDKs use them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use mmapi_core::{GsmaError, Secret};
use serde::Serialize;

use super::middleware::basic_credentials;
use super::registry::{ClientRegistry, Presented};
use super::AuthError;
use crate::api::error::ApiError;

/// Where the token endpoint is mounted (outside the API's mount points, as in the GSMA sandbox).
pub const TOKEN_PATH: &str = "/v1/oauth/accesstoken";

/// The token endpoint's answer.
#[derive(Debug, Serialize)]
pub struct AccessToken {
    /// The bearer token for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Issues an access token (the OpenAPI document describes it as the `oauth2` security scheme's token URL): form `grant_type=client_credentials`, with the consumer key and secret as HTTP Basic
/// credentials (or as the form's `client_id` and `client_secret`).
pub async fn issue(
    State(registry): State<Arc<ClientRegistry>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<AccessToken>), ApiError> {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| GsmaError::format("body", "The body must be a URL-encoded form"))?;
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(GsmaError::format(
                "grant_type",
                format!("grant_type '{other}' is not supported; use client_credentials"),
            )
            .into())
        }
        None => return Err(GsmaError::mandatory("grant_type").into()),
    }
    let basic = match headers.get(axum::http::header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| AuthError::Invalid)?.trim();
            let encoded = value
                .strip_prefix("Basic ")
                .or_else(|| value.strip_prefix("basic "))
                .ok_or(AuthError::Invalid)?;
            basic_credentials(encoded.trim())?
        }
        None => match (field("client_id"), field("client_secret")) {
            (Some(id), Some(secret)) => (id.to_owned(), Secret::new(secret)),
            _ => return Err(AuthError::Missing.into()),
        },
    };
    let caller = registry
        .authenticate(&Presented {
            basic: Some(basic),
            ..Presented::default()
        })
        .await?;
    let (token, expires_in) = registry.issue_token(&caller).await?;
    tracing::info!(client = %caller.client_id, "access token issued");
    Ok((
        StatusCode::OK,
        Json(AccessToken {
            access_token: token.expose().to_owned(),
            token_type: "Bearer",
            expires_in,
        }),
    ))
}

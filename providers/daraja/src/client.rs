//! HTTP to Daraja: pooled connections, the OAuth token cache, and one retry after a token error.

use std::time::{Duration, Instant};

use base64::Engine as _;
use mmapi_core::provider::ProviderError;
use mmapi_core::Secret;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{Mutex, RwLock};

use crate::config::DarajaConfig;
use crate::transform::TOKEN_ERROR_CODES;
use crate::wire;

/// Refresh the token this long before Daraja says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// A failed call: either no usable answer, or Daraja's error envelope.
#[derive(Debug)]
pub enum CallError {
    /// Transport failure or unreadable answer, already classified.
    Transport(ProviderError),
    /// Daraja rejected the call with its error envelope.
    Rejected {
        status: u16,
        envelope: wire::ErrorEnvelope,
    },
}

#[derive(Clone)]
struct CachedToken {
    value: Secret,
    refresh_at: Instant,
}

/// A Daraja API client for one app (consumer key and secret).
pub struct DarajaClient {
    http: reqwest::Client,
    base_url: String,
    consumer_key: Secret,
    consumer_secret: Secret,
    token: RwLock<Option<CachedToken>>,
    refreshing: Mutex<()>,
}

impl DarajaClient {
    /// A client for the configured host. Connections are pooled and reused.
    pub fn new(config: &DarajaConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            consumer_key: config.consumer_key.clone(),
            consumer_secret: config.consumer_secret.clone(),
            token: RwLock::new(None),
            refreshing: Mutex::new(()),
        })
    }

    /// POSTs a JSON body to a Daraja API path with a bearer token, re-authenticating once on a token error.
    pub async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, CallError> {
        let mut retried = false;
        loop {
            let token = self.token().await.map_err(CallError::Transport)?;
            let response = self
                .http
                .post(format!("{}{}", self.base_url, path))
                .bearer_auth(token.expose())
                .json(body)
                .send()
                .await
                .map_err(|e| CallError::Transport(classify_send_error(&e)))?;
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| {
                CallError::Transport(ProviderError::InDoubt(format!(
                    "reading Daraja's answer: {e}"
                )))
            })?;
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|e| {
                    CallError::Transport(ProviderError::InDoubt(format!(
                        "unreadable Daraja answer to {path}: {e}"
                    )))
                });
            }
            let mut envelope: wire::ErrorEnvelope =
                serde_json::from_slice(&bytes).unwrap_or_default();
            // Daraja echoes a refused bearer token in its message (`401.002.01 … Invalid Access Token - <token>`);
            // the message travels on into logs and error parameters, the token must not.
            if let Some(message) = envelope.error_message.as_mut() {
                *message = redact(message, &token);
            }
            let token_error = envelope
                .error_code
                .as_deref()
                .is_some_and(|c| TOKEN_ERROR_CODES.contains(&c));
            if token_error && !retried {
                retried = true;
                self.forget(&token).await;
                continue;
            }
            return Err(CallError::Rejected {
                status: status.as_u16(),
                envelope,
            });
        }
    }

    /// A valid access token, fetched when none is cached or the cached one is about to expire.
    async fn token(&self) -> Result<Secret, ProviderError> {
        if let Some(t) = self.token.read().await.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        let _guard = self.refreshing.lock().await;
        if let Some(t) = self.token.read().await.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *self.token.write().await = Some(fresh);
        Ok(value)
    }

    async fn forget(&self, stale: &Secret) {
        let mut slot = self.token.write().await;
        if slot.as_ref().is_some_and(|t| &t.value == stale) {
            *slot = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, ProviderError> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.consumer_key.expose(),
            self.consumer_secret.expose()
        ));
        let response = self
            .http
            .get(format!(
                "{}/oauth/v1/generate?grant_type=client_credentials",
                self.base_url
            ))
            .header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"))
            .send()
            .await
            .map_err(|e| {
                ProviderError::Unavailable(format!("Daraja OAuth unreachable: {}", without_url(&e)))
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            ProviderError::Unavailable(format!("Daraja OAuth: {}", without_url(&e)))
        })?;
        if !status.is_success() {
            let envelope: wire::ErrorEnvelope = serde_json::from_slice(&bytes).unwrap_or_default();
            let code = envelope.error_code.unwrap_or_default();
            return Err(if status.is_server_error() {
                ProviderError::Unavailable(format!("Daraja OAuth answered HTTP {status} {code}"))
            } else {
                ProviderError::Configuration(format!(
                    "Daraja refused the consumer key and secret (HTTP {status} {code})"
                ))
            });
        }
        let token: wire::TokenResponse = serde_json::from_slice(&bytes).map_err(|e| {
            ProviderError::Unavailable(format!("unreadable Daraja OAuth answer: {e}"))
        })?;
        let lifetime = token.expires_in.as_str().parse::<u64>().unwrap_or(3599);
        let lifetime = Duration::from_secs(lifetime).saturating_sub(TOKEN_MARGIN);
        Ok(CachedToken {
            value: token.access_token,
            refresh_at: Instant::now() + lifetime.max(Duration::from_secs(1)),
        })
    }
}

/// `text` with every occurrence of `secret` replaced by `[redacted]`.
fn redact(text: &str, secret: &Secret) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret.expose(), "[redacted]")
    }
}

/// A request that never reached Daraja is safe to send again; one that timed out may have been processed.
fn classify_send_error(e: &reqwest::Error) -> ProviderError {
    if e.is_connect() {
        ProviderError::Unavailable(format!("Daraja unreachable: {}", without_url(e)))
    } else {
        ProviderError::InDoubt(format!("no answer from Daraja: {}", without_url(e)))
    }
}

/// reqwest errors print the URL; ours carry no secrets, but keep messages short and uniform.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<daraja>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echoed_token_is_redacted() {
        let token = Secret::new("c9SQxWWhmdVRlyh0zh8gZDTkubVF");
        assert_eq!(
            redact(
                "Error Occurred - Invalid Access Token - c9SQxWWhmdVRlyh0zh8gZDTkubVF",
                &token
            ),
            "Error Occurred - Invalid Access Token - [redacted]"
        );
        assert_eq!(redact("no token here", &Secret::new("")), "no token here");
    }
}

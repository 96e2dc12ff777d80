//! HTTP to one OpenAPI market: pooled connections, the session cache (renewed before its lifetime ends and once
//! when a call is refused with 401 `INS-2`/`INS-989`), and the encrypted bearer.

use std::time::{Duration, Instant};

use mmapi_core::provider::ProviderError;
use mmapi_core::Secret;
use rsa::RsaPublicKey;
use serde::Serialize;
use tokio::sync::{Mutex, RwLock};

use crate::config::MarketConfig;
use crate::credential;
use crate::wire;

/// How a call is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// POST with a JSON body.
    Post,
    /// PUT with a JSON body.
    Put,
    /// GET with the fields as a query string.
    Get,
}

/// An HTTP answer of the OpenAPI: its status and `output_*` body (empty when unreadable).
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: wire::Response,
}

struct Session {
    /// The session ID encrypted with the public key: the bearer of every call.
    bearer: Secret,
    refresh_at: Instant,
}

/// A client of one market's application (API key, public key, origin).
pub struct MarketClient {
    http: reqwest::Client,
    root: String,
    api_key: Secret,
    public_key: RsaPublicKey,
    origin: String,
    lifetime: Duration,
    activation_delay: Duration,
    session: RwLock<Option<Session>>,
    refreshing: Mutex<()>,
}

impl MarketClient {
    /// A client for the configured market.
    pub fn new(config: &MarketConfig) -> Result<Self, crate::OpenApiError> {
        let public_key = credential::public_key(&config.public_key)?;
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            root: config.api_root(),
            api_key: config.api_key.clone(),
            public_key,
            origin: config.origin.clone(),
            lifetime: Duration::from_secs(config.session_lifetime_secs),
            activation_delay: Duration::from_millis(config.session_activation_delay_ms),
            session: RwLock::new(None),
            refreshing: Mutex::new(()),
        })
    }

    /// Sends one API call (`api` is the path suffix with its trailing slash, e.g. `b2cPayment/`). A 401 with
    /// `INS-2`/`INS-989` (or no code) renews the session and sends the call once more; the refused call was not
    /// processed. `idempotent`: a timeout is safe to retry (queries) rather than in doubt.
    pub async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        api: &str,
        body: &B,
        idempotent: bool,
    ) -> Result<Answer, ProviderError> {
        let mut renewed = false;
        loop {
            let bearer = self.bearer().await?;
            let url = format!("{}{api}", self.root);
            let request = match method {
                Method::Post => self.http.post(url).json(body),
                Method::Put => self.http.put(url).json(body),
                Method::Get => self.http.get(url).query(body),
            };
            let response = request
                .header(reqwest::header::ORIGIN, &self.origin)
                .bearer_auth(bearer.expose())
                .send()
                .await
                .map_err(|e| classify_send_error(&e, idempotent))?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(|e| {
                if idempotent {
                    ProviderError::Unavailable(format!(
                        "reading M-Pesa's answer: {}",
                        without_url(&e)
                    ))
                } else {
                    ProviderError::InDoubt(format!("reading M-Pesa's answer: {}", without_url(&e)))
                }
            })?;
            let parsed = serde_json::from_slice::<wire::Response>(&bytes);
            let body = match parsed {
                Ok(b) => b,
                Err(e) if (200..300).contains(&status) => {
                    return Err(ProviderError::InDoubt(format!(
                        "unreadable M-Pesa answer to {api}: {e}"
                    )))
                }
                Err(_) => wire::Response::default(),
            };
            let code = body.response_code.as_deref().unwrap_or("");
            if status == 401 && matches!(code, "" | "INS-2" | "INS-989") && !renewed {
                renewed = true;
                tracing::info!(api, "M-Pesa OpenAPI refused the session; renewing it");
                self.forget(&bearer).await;
                continue;
            }
            if crate::transform::needs_new_session(code) {
                self.forget(&bearer).await;
            }
            return Ok(Answer { status, body });
        }
    }

    /// The bearer of the current session, opening a new session when none is cached or it is about to end.
    async fn bearer(&self) -> Result<Secret, ProviderError> {
        if let Some(s) = self.session.read().await.as_ref() {
            if Instant::now() < s.refresh_at {
                return Ok(s.bearer.clone());
            }
        }
        let _guard = self.refreshing.lock().await;
        if let Some(s) = self.session.read().await.as_ref() {
            if Instant::now() < s.refresh_at {
                return Ok(s.bearer.clone());
            }
        }
        let fresh = self.open_session().await?;
        let bearer = fresh.bearer.clone();
        *self.session.write().await = Some(fresh);
        Ok(bearer)
    }

    async fn forget(&self, stale: &Secret) {
        let mut slot = self.session.write().await;
        if slot.as_ref().is_some_and(|s| &s.bearer == stale) {
            *slot = None;
        }
    }

    /// `getSession/` with the encrypted API key.
    async fn open_session(&self) -> Result<Session, ProviderError> {
        let bearer = credential::bearer(&self.public_key, &self.api_key)
            .map_err(|e| ProviderError::Configuration(e.to_string()))?;
        let started = Instant::now();
        let response = self
            .http
            .get(format!("{}getSession/", self.root))
            .header(reqwest::header::ORIGIN, &self.origin)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .bearer_auth(bearer.expose())
            .send()
            .await
            .map_err(|e| {
                ProviderError::Unavailable(format!("M-Pesa getSession: {}", without_url(&e)))
            })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            ProviderError::Unavailable(format!("M-Pesa getSession: {}", without_url(&e)))
        })?;
        let body: wire::Response = serde_json::from_slice(&bytes).unwrap_or_default();
        let code = body.response_code.clone().unwrap_or_default();
        if !status.is_success() {
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                ProviderError::Unavailable(format!(
                    "M-Pesa getSession answered HTTP {status} {code}"
                ))
            } else {
                ProviderError::Configuration(format!(
                    "M-Pesa refused the API key or public key (getSession HTTP {status} {code})"
                ))
            });
        }
        let session_id = body
            .session_id
            .filter(|s| !s.is_empty() && code == crate::transform::SUCCESS)
            .ok_or_else(|| {
                ProviderError::Unavailable(format!(
                    "M-Pesa getSession answered {code} without a session"
                ))
            })?;
        let bearer = credential::bearer(&self.public_key, &session_id)
            .map_err(|e| ProviderError::Configuration(e.to_string()))?;
        if !self.activation_delay.is_zero() {
            tokio::time::sleep(self.activation_delay).await;
        }
        let margin = (self.lifetime / 10).min(Duration::from_secs(60));
        Ok(Session {
            bearer,
            refresh_at: started
                + self
                    .lifetime
                    .saturating_sub(margin)
                    .max(Duration::from_millis(100)),
        })
    }
}

/// A request that never reached M-Pesa is safe to send again; one that timed out may have been processed.
fn classify_send_error(e: &reqwest::Error, idempotent: bool) -> ProviderError {
    if e.is_connect() || idempotent {
        ProviderError::Unavailable(format!("M-Pesa OpenAPI unreachable: {}", without_url(e)))
    } else {
        ProviderError::InDoubt(format!("no answer from M-Pesa OpenAPI: {}", without_url(e)))
    }
}

/// reqwest errors print the URL (with the query string); keep messages short and free of it.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<openapi>");
    }
    text
}

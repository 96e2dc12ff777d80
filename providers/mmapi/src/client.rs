//! HTTP calls to the operator's MMAPI: authentication (Basic, OAuth 2.0 client credentials, `X-API-Key`), the
//! GSMA request headers, and what a failed call means for the transaction.

use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use mmapi_core::provider::{ProviderError, RecordCounts};
use mmapi_core::time::Timestamp;
use mmapi_core::Secret;
use reqwest::{header, Method, StatusCode, Url};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{AuthScheme, MmapiConfig};

/// A call to make.
#[derive(Debug, Default)]
pub(crate) struct Call<'a> {
    /// Path segments below `base_url`, each percent-encoded as needed.
    pub segments: Vec<&'a str>,
    /// Instead of `segments`: a path below `base_url` that is already percent-encoded, and its query.
    pub raw_path: Option<(&'a str, Option<&'a str>)>,
    /// `X-CorrelationID`.
    pub correlation_id: Option<&'a str>,
    /// `X-Callback-URL`.
    pub callback_url: Option<&'a str>,
    /// The JSON body.
    pub body: Option<&'a serde_json::Value>,
}

/// The operator's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
    /// A list's record counts, when the operator sent both headers.
    pub records: Option<RecordCounts>,
}

/// A bearer token and when to stop using it.
struct Token {
    value: Secret,
    renew_at: Instant,
}

/// The client of one operator.
pub(crate) struct OperatorClient {
    http: reqwest::Client,
    base: Url,
    scheme: AuthScheme,
    consumer_key: String,
    consumer_secret: Secret,
    api_key: Option<Secret>,
    token_url: Url,
    token: Mutex<Option<Token>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl OperatorClient {
    pub(crate) fn new(config: &MmapiConfig) -> Result<Self, String> {
        let base = Url::parse(config.base_url.trim_end_matches('/'))
            .map_err(|e| format!("base_url: {e}"))?;
        if base.cannot_be_a_base() {
            return Err("base_url cannot have paths below it".into());
        }
        let token_url = match &config.auth.token_url {
            Some(url) => Url::parse(url).map_err(|e| format!("token_url: {e}"))?,
            None => base
                .join("/v1/oauth/accesstoken")
                .map_err(|e| format!("token_url: {e}"))?,
        };
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            http,
            base,
            scheme: config.auth.scheme,
            consumer_key: config.auth.consumer_key.clone().unwrap_or_default(),
            consumer_secret: config
                .auth
                .consumer_secret
                .clone()
                .unwrap_or_else(|| Secret::new("")),
            api_key: config.auth.api_key.clone(),
            token_url,
            token: Mutex::new(None),
        })
    }

    /// Sends a call. A request that never reached the operator, or that only reads, fails as
    /// [`ProviderError::Unavailable`]; a write that got no answer is [`ProviderError::InDoubt`]. Any HTTP answer
    /// is returned as it is, except a 401 to a bearer token, which renews the token and sends once more.
    pub(crate) async fn send(
        &self,
        method: Method,
        call: &Call<'_>,
    ) -> Result<Answer, ProviderError> {
        let first = self.send_once(method.clone(), call).await?;
        if first.status == StatusCode::UNAUTHORIZED && self.scheme == AuthScheme::Oauth2 {
            *self.token.lock().await = None;
            return self.send_once(method, call).await;
        }
        Ok(first)
    }

    async fn send_once(&self, method: Method, call: &Call<'_>) -> Result<Answer, ProviderError> {
        let mut url = self.base.clone();
        match call.raw_path {
            Some((path, query)) => {
                let joined = format!("{}{path}", self.base.path().trim_end_matches('/'));
                url.set_path(&joined);
                url.set_query(query);
            }
            None => {
                if let Ok(mut path) = url.path_segments_mut() {
                    path.pop_if_empty().extend(call.segments.iter().copied());
                }
            }
        }
        let reads = method == Method::GET;
        let mut request = self
            .http
            .request(method, url)
            .header(header::ACCEPT, "application/json")
            .header("X-Date", Timestamp::now().to_string());
        request = match self.scheme {
            AuthScheme::None => request,
            AuthScheme::Basic => request.header(header::AUTHORIZATION, self.basic()),
            AuthScheme::Oauth2 => request.header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.bearer().await?),
            ),
        };
        if let Some(key) = &self.api_key {
            request = request.header("X-API-Key", key.expose());
        }
        if let Some(id) = call.correlation_id {
            request = request.header("X-CorrelationID", id);
        }
        if let Some(url) = call.callback_url {
            request = request.header("X-Callback-URL", url);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify_send_error(&e, reads))?;
        let status = response.status();
        let count = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let records = match (
            count("X-Records-Available-Count"),
            count("X-Records-Returned-Count"),
        ) {
            (Some(available), Some(returned)) => Some(RecordCounts {
                available,
                returned,
            }),
            _ => None,
        };
        let bytes = response
            .bytes()
            .await
            .map_err(|e| classify_send_error(&e, reads))?;
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
        };
        Ok(Answer {
            status,
            body,
            records,
        })
    }

    fn basic(&self) -> String {
        let pair = format!("{}:{}", self.consumer_key, self.consumer_secret.expose());
        format!("Basic {}", STANDARD.encode(pair))
    }

    /// The cached bearer token, fetched with the client credentials grant when missing or about to expire.
    async fn bearer(&self) -> Result<String, ProviderError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| t.renew_at > Instant::now()) {
            return Ok(token.value.expose().to_owned());
        }
        let response = self
            .http
            .post(self.token_url.clone())
            .header(header::AUTHORIZATION, self.basic())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| classify_send_error(&e, true))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ProviderError::Configuration(format!(
                "the operator refused the gateway's client credentials ({status})"
            )));
        }
        if !status.is_success() {
            return Err(ProviderError::Unavailable(format!(
                "the operator's token endpoint answered {status}"
            )));
        }
        let answer: TokenAnswer = response.json().await.map_err(|_| {
            ProviderError::Unavailable("the operator's token endpoint answered no token".into())
        })?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300));
        let margin = (lifetime / 10).min(Duration::from_secs(60));
        let value = answer.access_token;
        *cached = Some(Token {
            value: Secret::new(value.clone()),
            renew_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        Ok(value)
    }
}

/// A request that never reached the operator, or a read, is safe to send again; a write that timed out may
/// have been processed.
fn classify_send_error(e: &reqwest::Error, reads: bool) -> ProviderError {
    let text = without_url(e);
    if e.is_connect() || reads {
        ProviderError::Unavailable(format!("the operator is unreachable: {text}"))
    } else {
        ProviderError::InDoubt(format!("no answer from the operator: {text}"))
    }
}

/// reqwest errors print the URL; keep messages short and free of it.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<operator>");
    }
    text
}

//! Safaricom Daraja (M-Pesa Kenya) behind the GSMA API, and a wire-accurate Daraja simulator.
//!
//! `wire` holds Daraja's JSON as Daraja spells it, `transform` maps it to and from the harmonised model (pure
//! functions), `client` does the HTTP and OAuth, and `simulator` is an independent implementation of Daraja's side.

pub mod client;
pub mod config;
pub mod simulator;
pub mod transform;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use mmapi_core::currency::Currency;
use mmapi_core::model::{Transaction, TransactionRequest, TransactionType};
use mmapi_core::provider::{
    Capabilities, EventSink, Outcome, Provider, ProviderError, ProviderEvent, ProviderRefs,
    Submitted,
};
use mmapi_core::GsmaError;
use serde_json::json;

use crate::client::{CallError, DarajaClient};
pub use crate::config::{DarajaConfig, ShortcodeConfig};

/// The provider name stored with each transaction Daraja serves.
pub const NAME: &str = "daraja";

/// Why the Daraja adapter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DarajaError {
    /// The configuration is unusable.
    #[error("invalid Daraja configuration: {0}")]
    Config(String),
    /// The HTTP client could not be created.
    #[error("cannot create the Daraja HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The Daraja adapter.
pub struct DarajaProvider {
    config: DarajaConfig,
    client: DarajaClient,
    callback_base_url: String,
}

impl DarajaProvider {
    /// Builds the adapter. `callback_base_url` is the public URL where the gateway mounts this provider's
    /// callback routes (e.g. `https://gw.example.com/callbacks/daraja`); Daraja posts results there.
    pub fn new(
        config: DarajaConfig,
        callback_base_url: impl Into<String>,
    ) -> Result<Self, DarajaError> {
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(DarajaError::Config(format!(
                "base_url '{}' is not an http(s) URL",
                config.base_url
            )));
        }
        if config.consumer_key.is_empty() || config.consumer_secret.is_empty() {
            return Err(DarajaError::Config(
                "consumer_key and consumer_secret are required".into(),
            ));
        }
        if let Some(s) = config.shortcodes.iter().find(|s| s.passkey.is_empty()) {
            return Err(DarajaError::Config(format!(
                "shortcode {} has no passkey",
                s.shortcode
            )));
        }
        let client = DarajaClient::new(&config)?;
        Ok(Self {
            config,
            client,
            callback_base_url: callback_base_url.into().trim_end_matches('/').to_owned(),
        })
    }

    fn map_call_error(error: CallError) -> ProviderError {
        match error {
            CallError::Transport(e) => e,
            CallError::Rejected { status, envelope } => {
                transform::envelope_error(status, &envelope)
            }
        }
    }
}

#[async_trait]
impl Provider for DarajaProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transaction_types: vec![TransactionType::Merchantpay, TransactionType::Billpay],
            currencies: vec![Currency::KES],
        }
    }

    fn check(
        &self,
        transaction_type: TransactionType,
        request: &TransactionRequest,
    ) -> Result<(), GsmaError> {
        match transaction_type {
            TransactionType::Merchantpay | TransactionType::Billpay => {
                transform::check_stk_request(&self.config, transaction_type, request)
            }
            other => Err(GsmaError::transaction_type(format!(
                "M-Pesa Kenya (Daraja) cannot carry a {other} transaction through this gateway yet"
            ))),
        }
    }

    async fn submit(&self, tx: &Transaction) -> Result<Submitted, ProviderError> {
        let timestamp = transform::daraja_timestamp(chrono::Utc::now());
        let callback_url = format!(
            "{}/stk/{}",
            self.callback_base_url, tx.transaction_reference
        );
        let body = transform::stk_push_request(&self.config, tx, &timestamp, callback_url)
            .map_err(|error| {
                ProviderError::Rejected(mmapi_core::provider::Failure {
                    provider_code: String::new(),
                    provider_description: String::new(),
                    error,
                })
            })?;
        let ack: wire::StkPushResponse = self
            .client
            .post("/mpesa/stkpush/v1/processrequest", &body)
            .await
            .map_err(Self::map_call_error)?;
        if ack.response_code.as_str() != "0" {
            return Err(ProviderError::InDoubt(format!(
                "STK Push answered ResponseCode {}",
                ack.response_code
            )));
        }
        let mut refs = ProviderRefs {
            reference: ack.checkout_request_id,
            ..Default::default()
        };
        refs.extra
            .insert("MerchantRequestID".into(), ack.merchant_request_id);
        Ok(Submitted {
            refs,
            outcome: Outcome::Pending,
        })
    }

    async fn status(
        &self,
        tx: &Transaction,
        refs: &ProviderRefs,
    ) -> Result<Outcome, ProviderError> {
        if refs.reference.is_empty() {
            return Err(ProviderError::InDoubt(
                "no CheckoutRequestID was recorded for this STK Push".into(),
            ));
        }
        let target = transform::stk_target(&self.config, &tx.credit_party)
            .map_err(|e| ProviderError::Configuration(e.to_string()))?;
        let account = self.config.shortcode(&target.party_b).ok_or_else(|| {
            ProviderError::Configuration(format!(
                "shortcode {} is no longer configured",
                target.party_b
            ))
        })?;
        let timestamp = transform::daraja_timestamp(chrono::Utc::now());
        let body = wire::StkQueryRequest {
            password: transform::stk_password(
                &target.business_short_code,
                account.passkey.expose(),
                &timestamp,
            ),
            business_short_code: target.business_short_code,
            timestamp,
            checkout_request_id: refs.reference.clone(),
        };
        match self
            .client
            .post::<_, wire::StkQueryResponse>("/mpesa/stkpushquery/v1/query", &body)
            .await
        {
            Ok(answer) => Ok(transform::stk_query_outcome(&answer)),
            Err(CallError::Rejected { envelope, .. })
                if transform::query_still_processing(&envelope) =>
            {
                Ok(Outcome::Pending)
            }
            Err(e) => Err(Self::map_call_error(e)),
        }
    }

    fn result_deadline(&self, _transaction_type: TransactionType) -> Duration {
        Duration::from_secs(self.config.stk_result_deadline_secs)
    }

    fn unacknowledged_expiry(&self, _transaction_type: TransactionType) -> Option<Duration> {
        Some(Duration::from_secs(
            self.config.stk_unacknowledged_expiry_secs,
        ))
    }

    fn callback_router(&self, sink: Arc<dyn EventSink>) -> Option<Router> {
        Some(
            Router::new()
                .route("/stk", post(stk_callback))
                .route("/stk/{transaction_reference}", post(stk_callback_for))
                .with_state(sink),
        )
    }
}

async fn stk_callback_for(
    State(sink): State<Arc<dyn EventSink>>,
    Path(transaction_reference): Path<String>,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    receive_stk_callback(sink, Some(transaction_reference), &body).await
}

async fn stk_callback(
    State(sink): State<Arc<dyn EventSink>>,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    receive_stk_callback(sink, None, &body).await
}

/// Parses an STK callback and hands its outcome to the engine. Daraja gets 200 once the result is recorded.
async fn receive_stk_callback(
    sink: Arc<dyn EventSink>,
    transaction_hint: Option<String>,
    body: &[u8],
) -> (StatusCode, Json<serde_json::Value>) {
    let envelope: wire::StkCallbackEnvelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "ignored an unreadable Daraja STK callback");
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"ResultCode": 1, "ResultDesc": "Rejected: unreadable callback"})),
            );
        }
    };
    let (reference, outcome) = transform::stk_callback_outcome(&envelope.body.stk_callback);
    let event = ProviderEvent {
        reference,
        transaction_hint,
        outcome,
    };
    match sink.deliver(NAME, event).await {
        Ok(receipt) => {
            tracing::debug!(?receipt, "Daraja STK callback recorded");
            (
                StatusCode::OK,
                Json(json!({"ResultCode": 0, "ResultDesc": "Accepted"})),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record a Daraja STK callback");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(
                    json!({"ResultCode": 1, "ResultDesc": "Temporarily unable to record the result"}),
                ),
            )
        }
    }
}

//! The Vodafone/Vodacom M-Pesa OpenAPI (openapiportal.m-pesa.com) behind the GSMA API: Tanzania, Ghana, Lesotho,
//! DRC and Mozambique, and a wire-accurate simulator of it.
//!
//! `wire` holds the OpenAPI's JSON as the portal spells it, `transform` maps it to and from the harmonised model
//! (pure functions), `client` does the HTTP, sessions and the encrypted bearer, and `simulator` is an independent
//! implementation of the operator's side.

pub mod client;
pub mod config;
pub mod credential;
pub mod simulator;
pub mod transform;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use mmapi_core::model::{Transaction, TransactionType};
use mmapi_core::provider::{
    Capabilities, CheckRequest, DispatchContext, EventSink, Failure, Outcome, Provider,
    ProviderError, ProviderEvent, ProviderRefs, Submitted,
};
use mmapi_core::GsmaError;
use serde_json::json;

use crate::client::{MarketClient, Method};
pub use crate::config::{Market, MarketConfig, OpenApiConfig};
use crate::transform::Answered;

/// The provider name stored with each transaction the OpenAPI serves.
pub const NAME: &str = "mpesa-openapi";

/// Why the OpenAPI adapter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    /// The configuration is unusable.
    #[error("invalid M-Pesa OpenAPI configuration: {0}")]
    Config(String),
    /// The HTTP client could not be created.
    #[error("cannot create the M-Pesa OpenAPI HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The public key is unusable.
    #[error(transparent)]
    Credential(#[from] credential::CredentialError),
}

/// One configured market with its client.
struct MarketEntry {
    config: MarketConfig,
    market: Market,
    client: MarketClient,
}

/// The M-Pesa OpenAPI adapter.
pub struct OpenApiProvider {
    config: OpenApiConfig,
    markets: Vec<MarketEntry>,
    callback_base_url: String,
}

impl OpenApiProvider {
    /// Builds the adapter. `callback_base_url` is the public URL where the gateway mounts this provider's
    /// callback routes (e.g. `https://gw.example.com/callbacks/mpesa-openapi`): register
    /// `{callback_base_url}/result` as the application's asynchronous response URL at the portal.
    pub fn new(
        config: OpenApiConfig,
        callback_base_url: impl Into<String>,
    ) -> Result<Self, OpenApiError> {
        let callback_base_url: String = callback_base_url.into();
        let mut markets = Vec::with_capacity(config.markets.len());
        for m in &config.markets {
            let market = m.market().ok_or_else(|| {
                OpenApiError::Config(format!(
                    "unknown market '{}' (vodacomTZN, vodafoneGHA, vodacomLES, vodacomDRC, vodacomMOZ)",
                    m.market
                ))
            })?;
            if markets
                .iter()
                .any(|e: &MarketEntry| e.market.currency == market.currency)
            {
                return Err(OpenApiError::Config(format!(
                    "market {} is configured twice",
                    market.context
                )));
            }
            if !matches!(m.environment.as_str(), "sandbox" | "openapi") {
                return Err(OpenApiError::Config(format!(
                    "environment '{}' of {} is neither 'sandbox' nor 'openapi'",
                    m.environment, market.context
                )));
            }
            if !(m.base_url.starts_with("http://") || m.base_url.starts_with("https://")) {
                return Err(OpenApiError::Config(format!(
                    "base_url '{}' of {} is not an http(s) URL",
                    m.base_url, market.context
                )));
            }
            if m.api_key.is_empty() {
                return Err(OpenApiError::Config(format!(
                    "api_key of {} is empty",
                    market.context
                )));
            }
            let code = &m.service_provider_code;
            if !(4..=12).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(OpenApiError::Config(format!(
                    "service_provider_code '{code}' of {} is not 4 to 12 letters or digits",
                    market.context
                )));
            }
            if m.session_lifetime_secs == 0 {
                return Err(OpenApiError::Config(format!(
                    "session_lifetime_secs of {} must be positive",
                    market.context
                )));
            }
            markets.push(MarketEntry {
                client: MarketClient::new(m)?,
                config: m.clone(),
                market,
            });
        }
        Ok(Self {
            config,
            markets,
            callback_base_url: callback_base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The URL to register as the application's asynchronous response URL at the portal.
    pub fn async_result_url(&self) -> String {
        format!("{}/result", self.callback_base_url)
    }

    /// The registered name of an M-Pesa customer (`queryBeneficiaryName/`, offered by Vodafone Ghana only), for
    /// `GET /accounts/msisdn/{msisdn}/accountname`. The market is the one of `currency`.
    pub async fn account_name(
        &self,
        currency: &mmapi_core::Currency,
        msisdn: &str,
    ) -> Result<mmapi_core::model::SubjectName, ProviderError> {
        let entry = self
            .markets
            .iter()
            .find(|e| e.market.currency == currency.code())
            .ok_or_else(|| {
                ProviderError::Unsupported(format!(
                    "no M-Pesa OpenAPI market is configured for {currency}"
                ))
            })?;
        if entry.market.country != "GHA" {
            return Err(ProviderError::Unsupported(format!(
                "the M-Pesa OpenAPI tells account names in Ghana only, not {}",
                entry.market.country
            )));
        }
        let customer_msisdn =
            transform::normalise_msisdn(&entry.market, msisdn, entry.config.is_sandbox())
                .ok_or_else(|| {
                    Self::rejected(GsmaError::format(
                        "msisdn",
                        format!("'{msisdn}' is not a mobile number of Ghana"),
                    ))
                })?;
        let query = wire::BeneficiaryQuery {
            customer_msisdn,
            country: entry.market.country.into(),
            service_provider_code: entry.config.service_provider_code.clone(),
            third_party_conversation_id: uuid::Uuid::new_v4().simple().to_string(),
            kyc_query_type: "Name".into(),
        };
        let answer = entry
            .client
            .call(Method::Get, "queryBeneficiaryName/", &query, true)
            .await?;
        transform::beneficiary_name(answer.status, &answer.body)
    }

    fn entry(&self, tx: &Transaction) -> Result<&MarketEntry, ProviderError> {
        self.markets
            .iter()
            .find(|e| e.market.currency == tx.currency.code())
            .ok_or_else(|| {
                ProviderError::Unsupported(format!(
                    "no M-Pesa OpenAPI market is configured for {}",
                    tx.currency
                ))
            })
    }

    fn rejected(error: GsmaError) -> ProviderError {
        ProviderError::Rejected(Failure {
            error,
            provider_code: String::new(),
            provider_description: String::new(),
        })
    }

    /// Sends a money-moving request and classifies its answer.
    async fn send<B: serde::Serialize + Sync>(
        entry: &MarketEntry,
        method: Method,
        api: &str,
        body: &B,
        third_party_id: &str,
    ) -> Result<Submitted, ProviderError> {
        let answer = entry.client.call(method, api, body, false).await?;
        match transform::transaction_answer(
            answer.status,
            &answer.body,
            third_party_id,
            &entry.market,
            entry.config.async_mode,
        ) {
            Answered::Outcome(refs, outcome) => Ok(Submitted { refs, outcome }),
            Answered::Error(e) => Err(e),
        }
    }
}

#[async_trait]
impl Provider for OpenApiProvider {
    async fn account_name(
        &self,
        account: mmapi_core::provider::AccountRef<'_>,
    ) -> Result<mmapi_core::model::AccountName, ProviderError> {
        let msisdn =
            mmapi_core::model::party_value(account.identifiers, "msisdn").ok_or_else(|| {
                ProviderError::Unsupported(
                    "the M-Pesa OpenAPI tells the names of mobile numbers only".into(),
                )
            })?;
        // queryBeneficiaryName exists in Ghana only.
        let ghs = mmapi_core::Currency::parse("GHS")
            .map_err(|e| ProviderError::Configuration(e.to_string()))?;
        let name = OpenApiProvider::account_name(self, &ghs, msisdn).await?;
        Ok(mmapi_core::model::AccountName { name, lei: None })
    }

    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transaction_types: vec![
                TransactionType::Merchantpay,
                TransactionType::Billpay,
                TransactionType::Disbursement,
                TransactionType::Transfer,
                TransactionType::Reversal,
                TransactionType::Deposit,
                TransactionType::Withdrawal,
            ],
            currencies: self
                .markets
                .iter()
                .filter_map(|e| e.market.currency())
                .collect(),
            ..Capabilities::default()
        }
    }

    fn check(&self, c: &CheckRequest<'_>) -> Result<(), GsmaError> {
        transform::check_request(&self.config, c.transaction_type, c.request, c.original)
    }

    fn check_mandate(
        &self,
        payer: &[mmapi_core::model::Party],
        request: &mmapi_core::mandate::DebitMandateRequest,
    ) -> Result<(), GsmaError> {
        transform::mandate::check(&self.config, payer, request).map(|_| ())
    }

    async fn create_mandate(
        &self,
        order: &mmapi_core::mandate::MandateOrder<'_>,
    ) -> Result<ProviderRefs, ProviderError> {
        let (body, market) =
            transform::mandate::creation_request(&self.config, order).map_err(Self::rejected)?;
        let entry = self
            .markets
            .iter()
            .find(|e| e.market.context == market.context)
            .ok_or_else(|| {
                ProviderError::Unsupported(format!("{} is not configured", market.context))
            })?;
        let why = match entry
            .client
            .call(Method::Post, "directDebitCreation/", &body, false)
            .await
        {
            Ok(answer) => {
                return transform::mandate::creation_answer(
                    answer.status,
                    &answer.body,
                    &body,
                    &market,
                )
            }
            Err(ProviderError::InDoubt(why)) => why,
            Err(e) => return Err(e),
        };
        // The creation may or may not have been taken: ask M-Pesa for the mandate before answering.
        let refs = transform::mandate::sent_refs(&body, &market);
        let context = mmapi_core::mandate::MandateContext {
            reference: order.reference.to_owned(),
            payer: order.payer.to_vec(),
            refs: refs.clone(),
        };
        for attempt in 1..=3u64 {
            match Provider::query_mandate(self, &context).await {
                Ok(mmapi_core::mandate::MandateState::Active) => return Ok(refs),
                Ok(mmapi_core::mandate::MandateState::Inactive) => {
                    return Err(ProviderError::Unavailable(format!(
                        "M-Pesa did not create the mandate ({why})"
                    )))
                }
                Err(e) => {
                    tracing::info!(error = %e, attempt, "M-Pesa mandate query unanswered");
                    tokio::time::sleep(Duration::from_secs(attempt)).await;
                }
            }
        }
        Err(ProviderError::InDoubt(why))
    }

    async fn query_mandate(
        &self,
        mandate: &mmapi_core::mandate::MandateContext,
    ) -> Result<mmapi_core::mandate::MandateState, ProviderError> {
        let market = transform::mandate::mandate_market(mandate).ok_or_else(|| {
            ProviderError::Unsupported("the mandate names no M-Pesa OpenAPI market".into())
        })?;
        let entry = self
            .markets
            .iter()
            .find(|e| e.market.context == market.context)
            .ok_or_else(|| {
                ProviderError::Unsupported(format!("{} is not configured", market.context))
            })?;
        let query = transform::mandate::query(
            &entry.config,
            &entry.market,
            mandate,
            uuid::Uuid::new_v4().simple().to_string(),
        );
        let answer = entry
            .client
            .call(Method::Get, "queryDirectDebit/", &query, true)
            .await?;
        transform::mandate::query_answer(answer.status, &answer.body)
    }

    async fn resume_mandate(
        &self,
        order: &mmapi_core::mandate::MandateOrder<'_>,
    ) -> Result<ProviderRefs, ProviderError> {
        // Ask first: the interrupted creation may have been taken. A mandate M-Pesa does not have active
        // (INS-58) was never created, so it is created now.
        let (body, market) =
            transform::mandate::creation_request(&self.config, order).map_err(Self::rejected)?;
        let refs = transform::mandate::sent_refs(&body, &market);
        let context = mmapi_core::mandate::MandateContext {
            reference: order.reference.to_owned(),
            payer: order.payer.to_vec(),
            refs: refs.clone(),
        };
        match Provider::query_mandate(self, &context).await? {
            mmapi_core::mandate::MandateState::Active => Ok(refs),
            mmapi_core::mandate::MandateState::Inactive => self.create_mandate(order).await,
        }
    }

    async fn cancel_mandate(
        &self,
        mandate: &mmapi_core::mandate::MandateContext,
    ) -> Result<(), ProviderError> {
        let market = transform::mandate::mandate_market(mandate).ok_or_else(|| {
            ProviderError::Unsupported("the mandate names no M-Pesa OpenAPI market".into())
        })?;
        let entry = self
            .markets
            .iter()
            .find(|e| e.market.context == market.context)
            .ok_or_else(|| {
                ProviderError::Unsupported(format!("{} is not configured", market.context))
            })?;
        let body = transform::mandate::cancel(
            &entry.config,
            &entry.market,
            mandate,
            uuid::Uuid::new_v4().simple().to_string(),
        );
        let answer = entry
            .client
            .call(Method::Put, "directDebitCancel/", &body, false)
            .await?;
        transform::mandate::cancel_answer(answer.status, &answer.body)
    }

    async fn submit(
        &self,
        tx: &Transaction,
        context: &DispatchContext,
    ) -> Result<Submitted, ProviderError> {
        let entry = self.entry(tx)?;
        let (cfg, market) = (&entry.config, &entry.market);
        let third_party_id = transform::third_party_id(&tx.transaction_reference);
        match tx.transaction_type {
            TransactionType::Merchantpay
                if mmapi_core::model::party_value(
                    &tx.debit_party,
                    mmapi_core::mandate::MANDATE_REFERENCE_KEY,
                )
                .is_some() =>
            {
                let mandate = context.mandate.as_ref().ok_or_else(|| {
                    Self::rejected(GsmaError::new(
                        mmapi_core::ErrorCategory::BusinessRule,
                        mmapi_core::ErrorCode::NoMandateAuthority,
                        "The payment names no debit mandate the gateway knows",
                    ))
                })?;
                let body = transform::mandate::payment_request(cfg, market, tx, mandate)
                    .map_err(Self::rejected)?;
                Self::send(
                    entry,
                    Method::Post,
                    "directDebitPayment/",
                    &body,
                    &third_party_id,
                )
                .await
            }
            t if t.is_customer_payment() => {
                let body = transform::c2b_request(cfg, market, tx).map_err(Self::rejected)?;
                Self::send(
                    entry,
                    Method::Post,
                    "c2bPayment/singleStage/",
                    &body,
                    &third_party_id,
                )
                .await
            }
            TransactionType::Disbursement | TransactionType::Deposit => {
                let body = transform::b2c_request(cfg, market, tx).map_err(Self::rejected)?;
                Self::send(entry, Method::Post, "b2cPayment/", &body, &third_party_id).await
            }
            TransactionType::Transfer => {
                let body = transform::b2b_request(cfg, market, tx).map_err(Self::rejected)?;
                Self::send(entry, Method::Post, "b2bPayment/", &body, &third_party_id).await
            }
            TransactionType::Reversal => {
                let (original, refs) = context.original.as_ref().ok_or_else(|| {
                    ProviderError::Unsupported("a reversal needs its original transaction".into())
                })?;
                let body = transform::reversal_request(cfg, market, tx, original, refs)
                    .map_err(Self::rejected)?;
                Self::send(entry, Method::Put, "reversal/", &body, &third_party_id).await
            }
            other => Err(ProviderError::Unsupported(format!(
                "the M-Pesa OpenAPI cannot carry {other}"
            ))),
        }
    }

    /// Every money-moving API refuses a repeat of its `input_ThirdPartyConversationID` (409 `INS-10`), and the
    /// key is derived from the transaction reference, so the same request goes again. Not a customer payment
    /// (`c2bPayment/singleStage/`): its USSD prompt would reach the customer long after they were at the till.
    /// A payment under a debit mandate prompts nobody and is sent again.
    async fn resend(
        &self,
        tx: &Transaction,
        context: &DispatchContext,
    ) -> Result<Submitted, ProviderError> {
        let under_mandate = mmapi_core::model::party_value(
            &tx.debit_party,
            mmapi_core::mandate::MANDATE_REFERENCE_KEY,
        )
        .is_some();
        if tx.transaction_type.is_customer_payment() && !under_mandate {
            return Err(ProviderError::Unsupported(
                "a USSD payment prompt is not sent again long after the customer was asked".into(),
            ));
        }
        Provider::submit(self, tx, context).await
    }

    async fn status(
        &self,
        tx: &Transaction,
        refs: &ProviderRefs,
    ) -> Result<Outcome, ProviderError> {
        let entry = self.entry(tx)?;
        let query = transform::status_query(
            &entry.config,
            &entry.market,
            tx,
            refs,
            uuid::Uuid::new_v4().simple().to_string(),
        );
        let answer = entry
            .client
            .call(Method::Get, "queryTransactionStatus/", &query, true)
            .await?;
        transform::status_outcome(answer.status, &answer.body)
    }

    fn result_deadline(&self, _transaction_type: TransactionType) -> Duration {
        Duration::from_secs(
            self.markets
                .iter()
                .map(|e| e.config.result_deadline_secs)
                .max()
                .unwrap_or(180),
        )
    }

    fn unacknowledged_expiry(&self, transaction_type: TransactionType) -> Option<Duration> {
        // A USSD prompt lives a couple of minutes; a payment not found well after that was never taken. The
        // other APIs wait for an operator of the gateway.
        match transaction_type {
            t if t.is_customer_payment() => Some(Duration::from_secs(600)),
            _ => None,
        }
    }

    fn callback_router(&self, sink: Arc<dyn EventSink>) -> Option<Router> {
        Some(
            Router::new()
                .route("/result", post(async_result))
                .route("/result/{market}", post(async_result))
                .with_state(sink),
        )
    }
}

type Reply = (StatusCode, Json<serde_json::Value>);

/// An asynchronous result (§B.5): handed to the engine, then acknowledged with the `output_*` answer.
async fn async_result(State(sink): State<Arc<dyn EventSink>>, body: Bytes) -> Reply {
    let result: wire::AsyncResult = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "ignored an unreadable M-Pesa OpenAPI result");
            return (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({"output_ResponseCode": "INS-21", "output_ResponseDesc": "Unreadable result"}),
                ),
            );
        }
    };
    let referenced = result
        .original_conversation_id
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty());
    if !referenced || result.result_code.is_none() {
        tracing::warn!(
            "ignored an M-Pesa OpenAPI result without its ConversationID or result code"
        );
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({"output_ResponseCode": "INS-21", "output_ResponseDesc": "Missing OriginalConversationID or ResultCode"}),
            ),
        );
    }
    let ack = Json(serde_json::to_value(transform::async_ack(&result)).unwrap_or_default());
    if result.original_transaction_id.is_some() {
        // The result of a status query: it names no transaction of ours; the next query settles it.
        tracing::info!("an asynchronous M-Pesa OpenAPI status result was acknowledged");
        return (StatusCode::OK, ack);
    }
    let (reference, transaction_hint, outcome) = transform::async_result_outcome(&result);
    match sink
        .deliver(
            NAME,
            ProviderEvent {
                reference,
                transaction_hint,
                outcome,
            },
        )
        .await
    {
        Ok(receipt) => {
            tracing::debug!(?receipt, "M-Pesa OpenAPI result recorded");
            (StatusCode::OK, ack)
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record an M-Pesa OpenAPI result");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(
                    json!({"output_ResponseCode": "INS-1", "output_ResponseDesc": "Temporarily unable to record the result"}),
                ),
            )
        }
    }
}

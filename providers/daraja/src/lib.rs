//! Safaricom Daraja (M-Pesa Kenya) behind the GSMA API, and a wire-accurate Daraja simulator.
//!
//! `wire` holds Daraja's JSON as Daraja spells it, `transform` maps it to and from the harmonised model (pure
//! functions), `client` does the HTTP and OAuth, and `simulator` is an independent implementation of Daraja's side.

pub mod bill_manager;
pub mod client;
pub mod config;
pub mod credential;
pub mod ratiba;
pub mod simulator;
pub mod tariff;
pub mod transform;
pub mod url_tag;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use mmapi_core::currency::Currency;
use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::mandate::{
    DebitMandateRequest, MandateContext, MandateOrder, MandateState, MANDATE_REFERENCE_KEY,
};
use mmapi_core::model::{party_value, Balance, Party, Transaction, TransactionType};
use mmapi_core::provider::{
    AccountRef, Capabilities, CheckRequest, DispatchContext, EventSink, Failure, Invoice, Outcome,
    Provider, ProviderError, ProviderEvent, ProviderRefs, Submitted,
};
use mmapi_core::{GsmaError, Secret};
use serde_json::json;
use tokio::sync::oneshot;

use crate::client::{CallError, DarajaClient};
pub use crate::config::{DarajaConfig, ShortcodeConfig};
use crate::transform::org::{self, ResultApi};

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
    /// The initiator's SecurityCredential could not be made.
    #[error(transparent)]
    Credential(#[from] credential::CredentialError),
}

type BalanceWaiters = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Balance, ProviderError>>>>>;
/// Standing orders awaiting the customer's answer, by mandate reference.
type RatibaWaiters = Arc<Mutex<RatibaAnswers>>;

/// Customers' answers to standing orders: the creations waiting for one, and the answers that came while none
/// waited (e.g. just after a restart, before the interrupted creation was taken up again).
#[derive(Default)]
struct RatibaAnswers {
    waiting: HashMap<String, oneshot::Sender<ratiba::StandingOrderResult>>,
    unclaimed: HashMap<String, ratiba::StandingOrderResult>,
}

/// Answers kept for a creation to come at most (the oldest are not evicted: new ones are refused past it).
const MAX_UNCLAIMED_RATIBA_ANSWERS: usize = 10_000;

/// Removes a mandate's waiter however its creation ends.
struct RatibaWaiter<'a> {
    waiters: &'a RatibaWaiters,
    reference: &'a str,
}

impl Drop for RatibaWaiter<'_> {
    fn drop(&mut self) {
        if let Ok(mut answers) = self.waiters.lock() {
            answers.waiting.remove(self.reference);
        }
    }
}

/// The Daraja adapter.
pub struct DarajaProvider {
    config: DarajaConfig,
    client: DarajaClient,
    callback_base_url: String,
    /// The initiator password encrypted with Daraja's certificate, when an initiator is configured.
    security_credential: Option<Secret>,
    balances: BalanceWaiters,
    ratiba: RatibaWaiters,
    /// Tags the transaction references in our callback URLs.
    tagger: url_tag::UrlTagger,
}

/// What the callback routes share.
#[derive(Clone)]
struct CallbackState {
    sink: Arc<dyn EventSink>,
    balances: BalanceWaiters,
    ratiba: RatibaWaiters,
    c2b: Arc<Vec<config::C2bConfig>>,
    tagger: url_tag::UrlTagger,
}

/// Pages of one Pull Transactions query read at most (of up to 1,000 payments each).
const MAX_PULL_PAGES: usize = 100;

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
        let security_credential = match (&config.initiator_password, &config.certificate) {
            (Some(password), Some(certificate)) if config.initiator_name.is_some() => {
                let key = credential::public_key(&credential::certificate_pem(certificate)?)?;
                Some(Secret::new(credential::security_credential(
                    &key,
                    password.expose(),
                )?))
            }
            (None, None) if config.initiator_name.is_none() => None,
            _ => {
                return Err(DarajaError::Config(
                    "initiator_name, initiator_password and certificate go together".into(),
                ))
            }
        };
        let client = DarajaClient::new(&config)?;
        let tagger = url_tag::UrlTagger::new(config.consumer_secret.expose());
        Ok(Self {
            tagger,
            config,
            client,
            callback_base_url: callback_base_url.into().trim_end_matches('/').to_owned(),
            security_credential,
            balances: Arc::new(Mutex::new(HashMap::new())),
            ratiba: Arc::new(Mutex::new(RatibaAnswers::default())),
        })
    }

    /// Registers a shortcode for Pull Transactions (`1001`, already registered, is as good).
    async fn register_pull(
        &self,
        c2b: &config::C2bConfig,
        nominated: &str,
    ) -> Result<(), ProviderError> {
        let body = wire::PullRegisterRequest {
            short_code: c2b.shortcode.clone(),
            request_type: "Pull",
            nominated_number: nominated.to_owned(),
            callback_url: format!("{}/pull/{}", self.callback_base_url, c2b.shortcode),
        };
        let answer: wire::PullRegisterResponse = self
            .client
            .post("/pulltransactions/v1/register", &body)
            .await
            .map_err(Self::map_call_error)?;
        match answer.response_status.as_str() {
            "1000" | "1001" => {
                tracing::info!(shortcode = %c2b.shortcode, "registered for Pull Transactions");
                Ok(())
            }
            other => Err(ProviderError::Unavailable(format!(
                "Pull Transactions registration of {} answered ResponseStatus {other}",
                c2b.shortcode
            ))),
        }
    }

    fn map_call_error(error: CallError) -> ProviderError {
        match error {
            CallError::Transport(e) => e,
            CallError::Rejected { status, envelope } => {
                transform::envelope_error(status, &envelope)
            }
        }
    }

    fn credential(&self) -> Result<&str, ProviderError> {
        self.security_credential
            .as_ref()
            .map(Secret::expose)
            .ok_or_else(|| ProviderError::Configuration("no Daraja initiator is configured".into()))
    }

    fn result_urls(&self, api: &str, key: &str) -> (String, String) {
        let key = self.tagger.tagged(key);
        (
            format!("{}/result/{api}/{key}", self.callback_base_url),
            format!("{}/timeout/{api}/{key}", self.callback_base_url),
        )
    }

    fn rejected(error: GsmaError) -> ProviderError {
        ProviderError::Rejected(Failure {
            error,
            provider_code: String::new(),
            provider_description: String::new(),
        })
    }

    /// Posts an organisation-API request and turns its acknowledgement into provider references.
    async fn post_async<B: serde::Serialize + Sync>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Submitted, ProviderError> {
        let ack: wire::AsyncAck = self
            .client
            .post(path, body)
            .await
            .map_err(Self::map_call_error)?;
        if ack.response_code.as_str() != "0" {
            return Err(ProviderError::InDoubt(format!(
                "{path} answered ResponseCode {}",
                ack.response_code
            )));
        }
        let mut refs = ProviderRefs {
            reference: ack.conversation_id,
            ..Default::default()
        };
        if let Some(originator) = ack.originator_conversation_id {
            refs.extra
                .insert("OriginatorConversationID".into(), originator);
        }
        Ok(Submitted {
            refs,
            outcome: Outcome::Pending,
        })
    }

    async fn submit_stk(&self, tx: &Transaction) -> Result<Submitted, ProviderError> {
        let timestamp = transform::daraja_timestamp(chrono::Utc::now());
        let callback_url = format!(
            "{}/stk/{}",
            self.callback_base_url,
            self.tagger.tagged(&tx.transaction_reference)
        );
        let body = transform::stk_push_request(&self.config, tx, &timestamp, callback_url)
            .map_err(Self::rejected)?;
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

    async fn stk_status(
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

    /// Asks the Transaction Status API; its answer comes asynchronously to the status result route.
    async fn transaction_status(
        &self,
        tx: &Transaction,
        refs: &ProviderRefs,
    ) -> Result<Outcome, ProviderError> {
        // B2C is sent with our reference as OriginatorConversationID, so it can be queried even unacknowledged.
        let original_conversation_id =
            refs.extra
                .get("OriginatorConversationID")
                .cloned()
                .or_else(|| {
                    (tx.transaction_type != TransactionType::Transfer)
                        .then(|| tx.transaction_reference.clone())
                });
        let Some(original_conversation_id) = original_conversation_id else {
            return Err(ProviderError::InDoubt(
                "no reference of this transfer was recorded".into(),
            ));
        };
        let party_a = org::paying_shortcode(&self.config, &tx.debit_party)
            .or_else(|_| {
                self.config
                    .disbursement_shortcode
                    .clone()
                    .ok_or_else(GsmaError::internal)
            })
            .map_err(|e| ProviderError::Configuration(e.to_string()))?;
        let key = if refs.reference.is_empty() {
            tx.transaction_reference.clone()
        } else {
            format!("{}/{}", tx.transaction_reference, refs.reference)
        };
        let (result_url, timeout_url) = self.result_urls("status", &key);
        let body = wire::TransactionStatusRequest {
            initiator: self.config.initiator_name.clone().unwrap_or_default(),
            security_credential: Secret::new(self.credential()?),
            command_id: "TransactionStatusQuery",
            transaction_id: tx.transaction_receipt.clone(),
            original_conversation_id: Some(original_conversation_id),
            party_a,
            identifier_type: "4",
            result_url,
            queue_time_out_url: timeout_url,
            remarks: "Status check".into(),
            occasion: String::new(),
        };
        let _: wire::AsyncAck = self
            .client
            .post("/mpesa/transactionstatus/v1/query", &body)
            .await
            .map_err(Self::map_call_error)?;
        Ok(Outcome::Pending)
    }
}

#[async_trait]
impl Provider for DarajaProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let mut transaction_types = vec![
            TransactionType::Merchantpay,
            TransactionType::Billpay,
            TransactionType::Withdrawal,
        ];
        if self.security_credential.is_some() {
            transaction_types.extend([
                TransactionType::Disbursement,
                TransactionType::Transfer,
                TransactionType::Reversal,
                TransactionType::Adjustment,
                TransactionType::Deposit,
            ]);
        }
        Capabilities {
            transaction_types,
            currencies: vec![Currency::KES],
            ..Capabilities::default()
        }
    }

    fn check(&self, c: &CheckRequest<'_>) -> Result<(), GsmaError> {
        if party_value(c.request.debit_parties(), MANDATE_REFERENCE_KEY).is_some() {
            return Err(GsmaError::transaction_type(
                "M-Pesa Ratiba takes the payments of a standing order itself, on its due dates; a payment \
                 cannot be requested under it",
            )
            .with_param("field", "debitParty"));
        }
        match c.transaction_type {
            t if t.is_customer_payment() => {
                transform::check_stk_request(&self.config, c.transaction_type, c.request)
            }
            t if t.is_payment_to_customer() => org::check_b2c(&self.config, c.request),
            TransactionType::Transfer => org::check_b2b(&self.config, c.request),
            TransactionType::Reversal => {
                let original = c
                    .original
                    .ok_or_else(|| GsmaError::mandatory("originalTransactionReference"))?;
                if original.transaction_receipt.is_none() {
                    return Err(GsmaError::new(
                        ErrorCategory::BusinessRule,
                        ErrorCode::IncorrectState,
                        "The original transaction has no M-Pesa receipt, so it cannot be reversed",
                    ));
                }
                org::whole_amount(&c.request.amount, 1, i64::MAX / 2).map(|_| ())
            }
            other => Err(GsmaError::transaction_type(format!(
                "M-Pesa Kenya (Daraja) cannot carry a {other} transaction through this gateway"
            ))),
        }
    }

    async fn submit(
        &self,
        tx: &Transaction,
        context: &DispatchContext,
    ) -> Result<Submitted, ProviderError> {
        match tx.transaction_type {
            t if t.is_customer_payment() => self.submit_stk(tx).await,
            t if t.is_payment_to_customer() => {
                let (result_url, timeout_url) = self.result_urls("b2c", &tx.transaction_reference);
                let body = org::b2c_request(
                    &self.config,
                    tx,
                    self.credential()?,
                    result_url,
                    timeout_url,
                )
                .map_err(Self::rejected)?;
                self.post_async("/mpesa/b2c/v3/paymentrequest", &body).await
            }
            TransactionType::Transfer => {
                let (result_url, timeout_url) = self.result_urls("b2b", &tx.transaction_reference);
                let body = org::b2b_request(
                    &self.config,
                    tx,
                    self.credential()?,
                    result_url,
                    timeout_url,
                )
                .map_err(Self::rejected)?;
                self.post_async("/mpesa/b2b/v1/paymentrequest", &body).await
            }
            TransactionType::Reversal => {
                let (original, _) = context.original.as_ref().ok_or_else(|| {
                    ProviderError::Unsupported("a reversal needs its original transaction".into())
                })?;
                let (result_url, timeout_url) =
                    self.result_urls("reversal", &tx.transaction_reference);
                let body = org::reversal_request(
                    &self.config,
                    original,
                    &tx.amount,
                    self.credential()?,
                    result_url,
                    timeout_url,
                )
                .map_err(Self::rejected)?;
                self.post_async("/mpesa/reversal/v1/request", &body).await
            }
            other => Err(ProviderError::Unsupported(format!(
                "Daraja cannot carry {other}"
            ))),
        }
    }

    /// Only B2C can be sent again: v3 takes our reference as its `OriginatorConversationID` and refuses a repeat
    /// of one it took (`500.002.1001`). STK Push would prompt the customer again; B2B and Reversal take no key.
    async fn resend(
        &self,
        tx: &Transaction,
        context: &DispatchContext,
    ) -> Result<Submitted, ProviderError> {
        if !tx.transaction_type.is_payment_to_customer() {
            return Err(ProviderError::Unsupported(format!(
                "Daraja takes no idempotency key for a {}, so it is not sent again",
                tx.transaction_type
            )));
        }
        Provider::submit(self, tx, context).await
    }

    async fn status(
        &self,
        tx: &Transaction,
        refs: &ProviderRefs,
    ) -> Result<Outcome, ProviderError> {
        match tx.transaction_type {
            t if t.is_customer_payment() => self.stk_status(tx, refs).await,
            _ => self.transaction_status(tx, refs).await,
        }
    }

    async fn start(&self) -> Result<(), ProviderError> {
        for c2b in &self.config.c2b {
            let body = wire::C2bRegisterRequest {
                short_code: c2b.shortcode.clone(),
                response_type: c2b.response_type.clone(),
                confirmation_url: format!(
                    "{}/c2b/{}/confirmation",
                    self.callback_base_url, c2b.shortcode
                ),
                validation_url: format!(
                    "{}/c2b/{}/validation",
                    self.callback_base_url, c2b.shortcode
                ),
            };
            match self
                .client
                .post::<_, wire::C2bRegisterResponse>("/mpesa/c2b/v2/registerurl", &body)
                .await
            {
                Ok(answer) if answer.response_code.as_str() == "0" => {
                    tracing::info!(shortcode = %c2b.shortcode, "C2B URLs registered with Daraja");
                }
                Ok(answer) => {
                    return Err(ProviderError::Unavailable(format!(
                        "C2B registration of {} answered ResponseCode {}",
                        c2b.shortcode, answer.response_code
                    )))
                }
                // Production registers once; a repeat is refused but the URLs stand.
                Err(CallError::Rejected { envelope, .. })
                    if envelope
                        .error_message
                        .as_deref()
                        .is_some_and(|m| m.contains("already registered")) =>
                {
                    tracing::info!(shortcode = %c2b.shortcode, "C2B URLs were already registered");
                }
                Err(e) => return Err(Self::map_call_error(e)),
            }
        }
        for c2b in &self.config.c2b {
            if let Some(nominated) = &c2b.pull_nominated_number {
                self.register_pull(c2b, nominated).await?;
            }
        }
        if let Some(bm) = &self.config.bill_manager {
            bill_manager::opt_in(&self.client, bm, &self.callback_base_url).await?;
        }
        Ok(())
    }

    /// Pull Transactions for each shortcode registered for it: every page of payments between the dates.
    async fn pull_incoming(
        &self,
        from: mmapi_core::Timestamp,
        to: mmapi_core::Timestamp,
    ) -> Result<Vec<mmapi_core::provider::IncomingPayment>, ProviderError> {
        let pulled: Vec<_> = self
            .config
            .c2b
            .iter()
            .filter(|c| c.pull_nominated_number.is_some())
            .collect();
        if pulled.is_empty() {
            return Err(ProviderError::Unsupported(
                "no shortcode is registered for Pull Transactions".into(),
            ));
        }
        let date = |t: &mmapi_core::Timestamp| {
            t.0.with_timezone(&transform::eat())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        };
        let mut payments = Vec::new();
        for c2b in pulled {
            let mut offset = 0;
            for page in 0..MAX_PULL_PAGES {
                let body = wire::PullQueryRequest {
                    short_code: c2b.shortcode.clone(),
                    start_date: date(&from),
                    end_date: date(&to),
                    off_set_value: offset.to_string(),
                };
                let answer: serde_json::Value = self
                    .client
                    .post("/pulltransactions/v1/query", &body)
                    .await
                    .map_err(Self::map_call_error)?;
                let found =
                    transform::c2b::pulled_payments(c2b, answer.get("Response").unwrap_or(&answer));
                if found.is_empty() {
                    break;
                }
                offset += found.len();
                if page + 1 == MAX_PULL_PAGES {
                    tracing::warn!(shortcode = %c2b.shortcode, "Pull Transactions: more pages than read");
                }
                payments.extend(found);
            }
        }
        Ok(payments)
    }

    fn check_mandate(
        &self,
        payer: &[Party],
        request: &DebitMandateRequest,
    ) -> Result<(), GsmaError> {
        let order = MandateOrder {
            reference: "check",
            payer,
            request,
        };
        ratiba::standing_order(&self.config, &order, String::new(), nairobi_today()).map(|_| ())
    }

    async fn create_mandate(
        &self,
        order: &MandateOrder<'_>,
    ) -> Result<ProviderRefs, ProviderError> {
        let callback_url = format!(
            "{}/ratiba/{}",
            self.callback_base_url,
            self.tagger.tagged(order.reference)
        );
        let body = ratiba::standing_order(&self.config, order, callback_url, nairobi_today())
            .map_err(Self::rejected)?;
        let (sender, answer) = oneshot::channel();
        let already = match self.ratiba.lock() {
            Ok(mut answers) => {
                let already = answers.unclaimed.remove(order.reference);
                if already.is_none() {
                    answers.waiting.insert(order.reference.to_owned(), sender);
                }
                already
            }
            Err(_) => None,
        };
        // An earlier send of this order was answered while no creation waited (the gateway restarted).
        if let Some(result) = already {
            return if result.approved() {
                Ok(ratiba::created_refs(&body, None, &result))
            } else {
                Err(ProviderError::Rejected(result.failure()))
            };
        }
        let _waiter = RatibaWaiter {
            waiters: &self.ratiba,
            reference: order.reference,
        };
        let ack_ref = match self
            .client
            .post::<_, ratiba::StandingOrderAck>(ratiba::CREATE_PATH, &body)
            .await
        {
            Ok(ack) if ack.accepted() => ack.header.and_then(|h| h.response_ref_id),
            Ok(_) => {
                return Err(ProviderError::InDoubt(
                    "Ratiba did not acknowledge the standing order with responseCode 200".into(),
                ))
            }
            // The name is this mandate's own reference: an earlier send of this very order reached Ratiba (the
            // gateway stopped before it was answered). Its answer comes to the same callback URL: wait for it.
            Err(CallError::Rejected { envelope, .. })
                if envelope
                    .error_message
                    .as_deref()
                    .is_some_and(ratiba::is_duplicate_name) =>
            {
                tracing::info!(
                    reference = order.reference,
                    "Ratiba already has this standing order: waiting for the customer's answer to it"
                );
                None
            }
            Err(e) => return Err(Self::map_call_error(e)),
        };
        let wait = Duration::from_secs(self.config.ratiba_approval_timeout_secs);
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(result)) if result.approved() => {
                Ok(ratiba::created_refs(&body, ack_ref, &result))
            }
            Ok(Ok(result)) => Err(ProviderError::Rejected(result.failure())),
            Ok(Err(_)) | Err(_) => Err(ProviderError::InDoubt(format!(
                "no answer from the customer to the standing order within {} s",
                wait.as_secs()
            ))),
        }
    }

    async fn query_mandate(&self, mandate: &MandateContext) -> Result<MandateState, ProviderError> {
        let _ = mandate;
        Err(ProviderError::Unsupported(
            "M-Pesa Ratiba offers no enquiry on a standing order".into(),
        ))
    }

    async fn cancel_mandate(&self, mandate: &MandateContext) -> Result<(), ProviderError> {
        let _ = mandate;
        Err(ProviderError::Unsupported(
            "M-Pesa Ratiba offers businesses no API to cancel a standing order; the customer cancels it from \
             the M-Pesa menu or app"
                .into(),
        ))
    }

    async fn send_invoices(&self, invoices: &[Invoice]) -> Result<(), ProviderError> {
        let Some(bm) = &self.config.bill_manager else {
            return Err(ProviderError::Unsupported(
                "no paybill is opted in to Bill Manager ([providers.daraja.bill_manager])".into(),
            ));
        };
        if let Some(other) = invoices.iter().find(|i| i.paybill != bm.shortcode) {
            return Err(ProviderError::Unsupported(format!(
                "paybill {} is not the one opted in to Bill Manager",
                other.paybill
            )));
        }
        bill_manager::send(&self.client, invoices).await
    }

    async fn cancel_invoices(&self, external_references: &[String]) -> Result<(), ProviderError> {
        if self.config.bill_manager.is_none() {
            return Err(ProviderError::Unsupported(
                "no paybill is opted in to Bill Manager".into(),
            ));
        }
        bill_manager::cancel(&self.client, external_references).await
    }

    async fn balance(&self, account: AccountRef<'_>) -> Result<Balance, ProviderError> {
        let shortcode =
            org::balance_shortcode(&self.config, account.identifiers).map_err(Self::rejected)?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiters) = self.balances.lock() {
            waiters.insert(token.clone(), tx);
        }
        let (result_url, timeout_url) = self.result_urls("balance", &token);
        let body = wire::AccountBalanceRequest {
            initiator: self.config.initiator_name.clone().unwrap_or_default(),
            security_credential: Secret::new(self.credential()?),
            command_id: "AccountBalance",
            party_a: shortcode,
            identifier_type: "4",
            remarks: "Balance enquiry".into(),
            queue_time_out_url: timeout_url,
            result_url,
        };
        let sent = self
            .client
            .post::<_, wire::AsyncAck>("/mpesa/accountbalance/v1/query", &body)
            .await;
        let answer = match sent {
            Err(e) => Err(Self::map_call_error(e)),
            Ok(_) => match tokio::time::timeout(
                Duration::from_secs(self.config.balance_timeout_secs),
                rx,
            )
            .await
            {
                Ok(Ok(answer)) => answer,
                _ => Err(ProviderError::Unavailable(
                    "M-Pesa did not answer the balance enquiry in time".into(),
                )),
            },
        };
        if let Ok(mut waiters) = self.balances.lock() {
            waiters.remove(&token);
        }
        answer
    }

    fn result_deadline(&self, transaction_type: TransactionType) -> Duration {
        match transaction_type {
            t if t.is_customer_payment() => {
                Duration::from_secs(self.config.stk_result_deadline_secs)
            }
            _ => Duration::from_secs(self.config.result_deadline_secs),
        }
    }

    fn unacknowledged_expiry(&self, transaction_type: TransactionType) -> Option<Duration> {
        match transaction_type {
            t if t.is_customer_payment() => Some(Duration::from_secs(
                self.config.stk_unacknowledged_expiry_secs,
            )),
            // B2C can be asked about by our own reference; the others wait for an operator of the gateway.
            _ => None,
        }
    }

    fn callback_router(&self, sink: Arc<dyn EventSink>) -> Option<Router> {
        let state = CallbackState {
            sink,
            balances: self.balances.clone(),
            ratiba: self.ratiba.clone(),
            c2b: Arc::new(self.config.c2b.clone()),
            tagger: self.tagger.clone(),
        };
        Some(
            Router::new()
                .route("/stk", post(stk_callback))
                .route("/c2b/{shortcode}/validation", post(c2b_validation))
                .route("/c2b/{shortcode}/confirmation", post(c2b_confirmation))
                .route("/pull/{shortcode}", post(pull_notification))
                .route(
                    "/billmanager/{shortcode}/payment",
                    post(bill_manager_payment),
                )
                .route("/stk/{transaction_reference}", post(stk_callback_for))
                .route("/ratiba/{mandate_reference}", post(ratiba_callback))
                .route("/result/balance/{token}", post(balance_result))
                .route("/timeout/balance/{token}", post(balance_timeout))
                .route(
                    "/result/status/{transaction_reference}",
                    post(status_result),
                )
                .route(
                    "/result/status/{transaction_reference}/{reference}",
                    post(status_result_for),
                )
                .route(
                    "/timeout/status/{transaction_reference}",
                    post(ignored_timeout),
                )
                .route(
                    "/timeout/status/{transaction_reference}/{reference}",
                    post(ignored_timeout),
                )
                .route("/result/{api}/{transaction_reference}", post(org_result))
                .route("/timeout/{api}/{transaction_reference}", post(org_timeout))
                .with_state(state),
        )
    }
}

type Answer = (StatusCode, Json<serde_json::Value>);

fn accepted() -> Answer {
    (
        StatusCode::OK,
        Json(json!({"ResultCode": 0, "ResultDesc": "Accepted"})),
    )
}

/// A payload that parses but names no operator reference: refused, as it can match nothing we issued.
fn unreferenced(what: &str) -> Answer {
    tracing::warn!("ignored a Daraja {what} without its operator reference");
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"ResultCode": 1, "ResultDesc": "Rejected: no reference"})),
    )
}

fn unreadable(what: &str, e: &serde_json::Error) -> Answer {
    tracing::warn!(error = %e, "ignored an unreadable Daraja {what}");
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"ResultCode": 1, "ResultDesc": "Rejected: unreadable body"})),
    )
}

async fn deliver(sink: &Arc<dyn EventSink>, event: ProviderEvent) -> Answer {
    match sink.deliver(NAME, event).await {
        Ok(receipt) => {
            tracing::debug!(?receipt, "Daraja result recorded");
            accepted()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record a Daraja result");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(
                    json!({"ResultCode": 1, "ResultDesc": "Temporarily unable to record the result"}),
                ),
            )
        }
    }
}

async fn stk_callback_for(
    State(state): State<CallbackState>,
    Path(tagged_reference): Path<String>,
    body: Bytes,
) -> Answer {
    let hint = hint(&state, &tagged_reference);
    receive_stk_callback(&state.sink, hint, &body).await
}

/// The transaction a callback URL names, if the gateway issued that URL (see [`url_tag`]); a URL it did not
/// issue names none, so its result must match an operator reference we recorded.
fn hint(state: &CallbackState, tagged: &str) -> Option<String> {
    let key = state.tagger.untagged(tagged);
    if key.is_none() {
        tracing::warn!(
            url_key = ?tagged,
            "a Daraja callback came to a URL the gateway did not issue; it names no transaction"
        );
    }
    key.map(str::to_owned)
}

async fn stk_callback(State(state): State<CallbackState>, body: Bytes) -> Answer {
    receive_stk_callback(&state.sink, None, &body).await
}

/// Parses an STK callback and hands its outcome to the engine. Daraja gets 200 once the result is recorded.
async fn receive_stk_callback(
    sink: &Arc<dyn EventSink>,
    transaction_hint: Option<String>,
    body: &[u8],
) -> Answer {
    let envelope: wire::StkCallbackEnvelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => return unreadable("STK callback", &e),
    };
    if envelope
        .body
        .stk_callback
        .checkout_request_id
        .trim()
        .is_empty()
    {
        return unreferenced("STK callback");
    }
    let (reference, outcome) = transform::stk_callback_outcome(&envelope.body.stk_callback);
    deliver(
        sink,
        ProviderEvent {
            reference,
            transaction_hint,
            outcome,
        },
    )
    .await
}

fn result_api(api: &str) -> Option<ResultApi> {
    match api {
        "b2c" => Some(ResultApi::B2c),
        "b2b" => Some(ResultApi::B2b),
        "reversal" => Some(ResultApi::Reversal),
        _ => None,
    }
}

/// A B2C, B2B or reversal `Result`.
async fn org_result(
    State(state): State<CallbackState>,
    Path((api, tagged_reference)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let Some(api) = result_api(&api) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"ResultCode": 1, "ResultDesc": "Unknown result route"})),
        );
    };
    let envelope: wire::ResultEnvelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return unreadable("result", &e),
    };
    let (conversation_id, outcome) = org::result_outcome(api, &envelope.result);
    let Some(conversation_id) = conversation_id.filter(|c| !c.trim().is_empty()) else {
        return unreferenced("result");
    };
    let event = ProviderEvent {
        reference: conversation_id,
        transaction_hint: hint(&state, &tagged_reference),
        outcome,
    };
    deliver(&state.sink, event).await
}

/// Daraja gave up on a request in its queue: it was not processed.
async fn org_timeout(
    State(state): State<CallbackState>,
    Path((api, tagged_reference)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    if result_api(&api).is_none() {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"ResultCode": 1, "ResultDesc": "Unknown result route"})),
        );
    }
    let envelope: wire::ResultEnvelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return unreadable("queue timeout", &e),
    };
    let Some(conversation_id) = envelope
        .result
        .conversation_id
        .clone()
        .filter(|c| !c.trim().is_empty())
    else {
        // Daraja documents no sample of this payload: acknowledge it, but without a reference it can settle
        // nothing (the transaction is settled by a status query).
        tracing::warn!("ignored a Daraja queue timeout without its ConversationID");
        return accepted();
    };
    let code = envelope.result.result_code.to_string();
    let desc = envelope.result.result_desc.clone().unwrap_or_default();
    let event = ProviderEvent {
        reference: conversation_id,
        transaction_hint: hint(&state, &tagged_reference),
        outcome: Outcome::Failed(Failure {
            error: GsmaError::unavailable(
                "M-Pesa timed out before processing the request; nothing was moved",
            )
            .with_param("providerCode", code.clone())
            .with_param("providerDescription", desc.clone()),
            provider_code: code,
            provider_description: desc,
        }),
    };
    deliver(&state.sink, event).await
}

async fn status_result(
    State(state): State<CallbackState>,
    Path(tagged_reference): Path<String>,
    body: Bytes,
) -> Answer {
    let hint = hint(&state, &tagged_reference);
    receive_status(&state.sink, hint, None, &body).await
}

async fn status_result_for(
    State(state): State<CallbackState>,
    Path((transaction_reference, tagged_reference)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let key = hint(
        &state,
        &format!("{transaction_reference}/{tagged_reference}"),
    );
    let (hint, reference) = match key.as_deref().and_then(|k| k.split_once('/')) {
        Some((hint, reference)) => (Some(hint.to_owned()), Some(reference.to_owned())),
        None => (None, None),
    };
    receive_status(&state.sink, hint, reference, &body).await
}

/// A Transaction Status result: it settles the original transaction when it says how that ended.
async fn receive_status(
    sink: &Arc<dyn EventSink>,
    transaction_hint: Option<String>,
    reference: Option<String>,
    body: &[u8],
) -> Answer {
    let envelope: wire::ResultEnvelope = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(e) => return unreadable("status result", &e),
    };
    match org::status_result(&envelope.result) {
        Some((original, outcome)) => {
            let event = ProviderEvent {
                reference: reference.or(original).unwrap_or_default(),
                transaction_hint,
                outcome,
            };
            deliver(sink, event).await
        }
        None => {
            tracing::info!(
                code = %envelope.result.result_code,
                "a Transaction Status result settled nothing; the transaction will be asked about again"
            );
            accepted()
        }
    }
}

async fn ignored_timeout() -> Answer {
    accepted()
}

async fn balance_result(
    State(state): State<CallbackState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Answer {
    let answer = match serde_json::from_slice::<wire::ResultEnvelope>(&body) {
        Err(e) => return unreadable("balance result", &e),
        Ok(envelope) => {
            let code = envelope.result.result_code.to_string();
            match envelope.result.parameter("AccountBalance") {
                Some(text) if code == "0" => org::gsma_balance(&org::parse_account_balance(&text))
                    .ok_or_else(|| {
                        ProviderError::InDoubt("Daraja's AccountBalance was empty".into())
                    }),
                _ => match org::result_error(
                    ResultApi::B2c,
                    &code,
                    envelope.result.result_desc.as_deref().unwrap_or(""),
                ) {
                    Some(error) => Err(ProviderError::Rejected(Failure {
                        error,
                        provider_code: code,
                        provider_description: envelope
                            .result
                            .result_desc
                            .clone()
                            .unwrap_or_default(),
                    })),
                    None => Err(ProviderError::InDoubt(
                        "Daraja's balance result had no AccountBalance".into(),
                    )),
                },
            }
        }
    };
    answer_balance(&state, &token, answer);
    accepted()
}

async fn balance_timeout(State(state): State<CallbackState>, Path(token): Path<String>) -> Answer {
    answer_balance(
        &state,
        &token,
        Err(ProviderError::Unavailable(
            "M-Pesa timed out the balance enquiry".into(),
        )),
    );
    accepted()
}

/// Hands a balance result to the enquiry waiting under the (tagged) token of its URL.
fn answer_balance(
    state: &CallbackState,
    tagged_token: &str,
    answer: Result<Balance, ProviderError>,
) {
    let waiter = hint(state, tagged_token).and_then(|token| {
        state
            .balances
            .lock()
            .ok()
            .and_then(|mut w| w.remove(&token))
    });
    match waiter {
        Some(tx) => {
            let _ = tx.send(answer);
        }
        None => tracing::info!("a balance result came for no waiting enquiry"),
    }
}

/// Daraja asks whether to accept a customer's payment to one of our shortcodes.
async fn c2b_validation(
    State(state): State<CallbackState>,
    Path(shortcode): Path<String>,
    body: Bytes,
) -> Answer {
    let notification: wire::C2bNotification = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return unreadable("C2B validation", &e),
    };
    let config = state.c2b.iter().find(|c| {
        c.shortcode == shortcode && c.shortcode == notification.business_short_code.as_str()
    });
    let (mut code, mut desc) = transform::c2b::validate(config, &notification);
    if code == "0" {
        if let Some(payment) = transform::c2b::incoming_payment(config, &notification) {
            if let Err(why) = state.sink.validate_incoming(NAME, &payment).await {
                tracing::info!(shortcode, %why, "a C2B payment breaks a bill's rules");
                (code, desc) = ("C2B00013", "Rejected: invalid amount");
            }
        }
    }
    if code != "0" {
        tracing::info!(shortcode, code, "refused a C2B payment at validation");
    }
    (
        StatusCode::OK,
        Json(json!({"ResultCode": code, "ResultDesc": desc})),
    )
}

/// The date in Nairobi, which Ratiba's dates are in.
fn nairobi_today() -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&transform::eat())
        .date_naive()
}

/// Ratiba's answer to a standing order (the customer approved or declined it), handed to the creation waiting
/// for it. A URL the gateway did not issue, or a mandate no creation waits for any more, changes nothing.
async fn ratiba_callback(
    State(state): State<CallbackState>,
    Path(tagged_reference): Path<String>,
    body: Bytes,
) -> Answer {
    let Some(reference) = hint(&state, &tagged_reference) else {
        return unreferenced("Ratiba callback");
    };
    let Some(result) = ratiba::parse_callback(&body) else {
        tracing::warn!(reference, "ignored an unreadable Ratiba callback");
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"ResultCode": 1, "ResultDesc": "Rejected: unreadable body"})),
        );
    };
    let Ok(mut answers) = state.ratiba.lock() else {
        return accepted();
    };
    match answers.waiting.remove(&reference) {
        Some(sender) => {
            let _ = sender.send(result);
        }
        None if answers.unclaimed.len() < MAX_UNCLAIMED_RATIBA_ANSWERS => {
            tracing::info!(
                reference,
                code = %result.code,
                "a Ratiba answer came while no creation waited: kept for the creation taken up again"
            );
            answers.unclaimed.insert(reference, result);
        }
        None => tracing::warn!(
            reference,
            code = %result.code,
            "a Ratiba answer came for a mandate no creation waits for"
        ),
    }
    accepted()
}

/// Pull Transactions pushes payments to the URL registered for the shortcode: each becomes a completed
/// transaction, as its confirmation would have made it (a payment already recorded changes nothing).
async fn pull_notification(
    State(state): State<CallbackState>,
    Path(shortcode): Path<String>,
    body: Bytes,
) -> Answer {
    let Some(config) = state
        .c2b
        .iter()
        .find(|c| c.shortcode == shortcode && c.pull_nominated_number.is_some())
    else {
        tracing::warn!(
            shortcode,
            "ignored Pull Transactions for a shortcode not registered"
        );
        return accepted();
    };
    let body: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return unreadable("Pull Transactions notification", &e),
    };
    for payment in transform::c2b::pulled_payments(config, &body) {
        if let Err(e) = state.sink.incoming(NAME, payment).await {
            tracing::error!(error = %e, "could not record a pulled payment");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"ResultCode": 1, "ResultDesc": "Not recorded, send again"})),
            );
        }
    }
    accepted()
}

/// Daraja confirms a customer's payment: it becomes a completed transaction.
async fn c2b_confirmation(
    State(state): State<CallbackState>,
    Path(shortcode): Path<String>,
    body: Bytes,
) -> Answer {
    let notification: wire::C2bNotification = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return unreadable("C2B confirmation", &e),
    };
    if notification.business_short_code.as_str() != shortcode {
        tracing::warn!(
            shortcode,
            "ignored a C2B confirmation for another shortcode"
        );
        return accepted();
    }
    let config = state.c2b.iter().find(|c| c.shortcode == shortcode);
    let Some(payment) = transform::c2b::incoming_payment(config, &notification) else {
        tracing::warn!(
            shortcode,
            "ignored a C2B confirmation with an unreadable amount"
        );
        return accepted();
    };
    match state.sink.incoming(NAME, payment).await {
        Ok(_) => (
            StatusCode::OK,
            Json(json!({"ResultCode": 0, "ResultDesc": "Success"})),
        ),
        Err(e) => {
            tracing::error!(error = %e, "could not record a C2B confirmation");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(
                    json!({"ResultCode": 1, "ResultDesc": "Temporarily unable to record the payment"}),
                ),
            )
        }
    }
}

/// A Bill Manager payment push: recorded as an incoming payment (a repeat of its `transactionId`, e.g. the same
/// payment's C2B confirmation, is recorded once).
async fn bill_manager_payment(
    State(state): State<CallbackState>,
    Path(shortcode): Path<String>,
    body: Bytes,
) -> Answer {
    let push: bill_manager::PaymentPush = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return unreadable("Bill Manager payment", &e),
    };
    let Some(payment) = bill_manager::incoming_payment(&shortcode, &push) else {
        tracing::warn!(
            shortcode,
            "ignored a Bill Manager payment with an unreadable amount"
        );
        return accepted();
    };
    match state.sink.incoming(NAME, payment).await {
        Ok(_) => (
            StatusCode::OK,
            Json(json!({"rescode": "200", "resmsg": "Success"})),
        ),
        Err(e) => {
            tracing::error!(error = %e, "could not record a Bill Manager payment");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(
                    json!({"rescode": "500", "resmsg": "Temporarily unable to record the payment"}),
                ),
            )
        }
    }
}

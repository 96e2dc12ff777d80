//! A backend for operators that already speak the GSMA Mobile Money API: harmonised requests are forwarded to
//! the operator's own MMAPI endpoint, its asynchronous answers (callbacks to our route, or its
//! `/requeststates` polled) become our states, its references are kept beside ours and its errors reach the
//! client as they are.
//!
//! - Transactions: `POST /transactions/type/{type}` with our reference as `X-CorrelationID` (as a UUID), so a
//!   request sent again after a restart is refused by the operator's idempotency and found through its
//!   `/responses/{X-CorrelationID}` instead of paying twice.
//! - Reversals: `POST /transactions/{their reference}/reversals`.
//! - Status (reconciliation): `GET /requeststates/{serverCorrelationId}`, then the transaction for its receipt.
//! - Balance and account name: `GET /accounts/{…}/balance` and `…/accountname`.
//! - Debit mandates: `POST/GET/PATCH /accounts/{…}/debitmandates[/{ref}]`, the creation's request state polled
//!   until final; a payment under a mandate names the operator's mandate reference.

mod callbacks;
mod client;
pub mod config;
pub mod simulator;
mod transform;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mmapi_core::mandate::{MandateContext, MandateOrder, MandateState};
use mmapi_core::model::TransactionType;
use mmapi_core::model::{AccountName, Balance, Party, RequestState, RequestStatus, Transaction};
use mmapi_core::provider::{
    AccountRef, Capabilities, CheckRequest, DispatchContext, EventSink, ForwardAnswer,
    ForwardRequest, Outcome, Provider, ProviderError, ProviderRefs, Submitted,
};
use mmapi_core::{ErrorCode, GsmaError};
use reqwest::{Method, StatusCode};
use serde_json::json;

use client::{Answer, Call, OperatorClient};
pub use config::{AuthConfig, AuthScheme, MmapiConfig, Operations};
pub use transform::correlation_id_for;
use transform::{OBJECT_REFERENCE, SERVER_CORRELATION_ID};

/// The configuration cannot make a working provider.
#[derive(Debug, thiserror::Error)]
#[error("MMAPI operator '{name}': {reason}")]
pub struct MmapiError {
    pub name: String,
    pub reason: String,
}

/// One GSMA-speaking operator.
pub struct MmapiProvider {
    config: MmapiConfig,
    client: OperatorClient,
    /// Where the operator's callbacks reach us: `{public_url}/callbacks/{name}`.
    callback_base: String,
}

impl MmapiProvider {
    /// A provider for `config`, whose callbacks come to `callback_base`.
    pub fn new(config: MmapiConfig, callback_base: String) -> Result<Self, MmapiError> {
        let fail = |reason: String| MmapiError {
            name: config.name.clone(),
            reason,
        };
        config.validate().map_err(fail)?;
        let client = OperatorClient::new(&config).map_err(fail)?;
        Ok(Self {
            config,
            client,
            callback_base: callback_base.trim_end_matches('/').to_owned(),
        })
    }

    async fn get(&self, segments: Vec<&str>) -> Result<Answer, ProviderError> {
        self.client
            .send(
                Method::GET,
                &Call {
                    segments,
                    ..Call::default()
                },
            )
            .await
    }

    /// `GET /requeststates/{id}`.
    async fn request_state(
        &self,
        server_correlation_id: &str,
    ) -> Result<RequestState, ProviderError> {
        let answer = self
            .get(vec!["requeststates", server_correlation_id])
            .await?;
        if !answer.status.is_success() {
            return Err(transform::refusal(&answer, false));
        }
        transform::request_state(&answer).ok_or_else(|| {
            ProviderError::Unavailable("the operator answered no request state".into())
        })
    }

    /// Polls a pending request state until it is final or `within` has passed.
    async fn settle(
        &self,
        mut state: RequestState,
        within: Duration,
    ) -> Result<RequestState, ProviderError> {
        let deadline = Instant::now() + within;
        while state.status == RequestStatus::Pending {
            if Instant::now() >= deadline {
                return Err(ProviderError::InDoubt(
                    "the operator's request is still pending".into(),
                ));
            }
            tokio::time::sleep(self.config.poll_interval()).await;
            state = self
                .request_state(&state.server_correlation_id.to_string())
                .await?;
        }
        Ok(state)
    }

    /// `GET /responses/{X-CorrelationID}`: the path (below `base_url`) of what a request we sent created, if
    /// the operator has it.
    async fn created_by(&self, correlation_id: &str) -> Result<Option<String>, ProviderError> {
        let answer = self.get(vec!["responses", correlation_id]).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !answer.status.is_success() {
            return Err(transform::refusal(&answer, false));
        }
        Ok(answer.body["link"].as_str().map(str::to_owned))
    }

    /// The operator's reference of a transaction we sent it.
    async fn their_reference(&self, refs: &ProviderRefs) -> Result<String, ProviderError> {
        if let Some(reference) = refs.extra.get(OBJECT_REFERENCE) {
            return Ok(reference.clone());
        }
        if let Some(id) = refs.extra.get(SERVER_CORRELATION_ID) {
            if let Some(reference) = self.request_state(id).await?.object_reference {
                return Ok(reference);
            }
        }
        match self.created_by(&refs.reference).await? {
            Some(link) => Ok(last_segment(&link).to_owned()),
            None => Err(ProviderError::Rejected(transform::failure(
                GsmaError::not_found("The operator has no record of the original transaction"),
            ))),
        }
    }

    /// What became of the transaction the operator knows as `reference`.
    async fn transaction_outcome(&self, reference: &str) -> Result<Outcome, ProviderError> {
        let answer = self.get(vec!["transactions", reference]).await?;
        if !answer.status.is_success() {
            return Err(transform::refusal(&answer, false));
        }
        transform::outcome_of(&answer.body).ok_or_else(|| {
            ProviderError::Unavailable("the operator answered no transaction".into())
        })
    }

    /// Our references and the outcome, from the operator's answer to a request that created something.
    async fn taken(
        &self,
        correlation_id: &str,
        answer: &Answer,
    ) -> Result<Submitted, ProviderError> {
        if let Some(state) = transform::request_state(answer) {
            let refs = transform::refs_of(correlation_id, Some(&state));
            let outcome = match transform::state_outcome(&state) {
                Some(outcome) => outcome,
                None => match &state.object_reference {
                    Some(reference) => self.transaction_outcome(reference).await?,
                    None => Outcome::Pending,
                },
            };
            return Ok(Submitted { refs, outcome });
        }
        // A synchronous answer: the created object itself.
        let mut refs = transform::refs_of(correlation_id, None);
        if let Some(reference) = answer.body["transactionReference"].as_str() {
            refs.extra
                .insert(OBJECT_REFERENCE.into(), reference.to_owned());
        }
        let outcome = transform::outcome_of(&answer.body).unwrap_or(Outcome::Pending);
        Ok(Submitted { refs, outcome })
    }

    /// A request refused as a duplicate was taken by an earlier attempt (before a restart): find what it made.
    async fn taken_before(&self, correlation_id: &str) -> Result<Submitted, ProviderError> {
        let mut refs = transform::refs_of(correlation_id, None);
        if let Some(link) = self.created_by(correlation_id).await? {
            refs.extra
                .insert(OBJECT_REFERENCE.into(), last_segment(&link).to_owned());
        }
        Ok(Submitted {
            refs,
            outcome: Outcome::Pending,
        })
    }

    /// `GET /accounts/{…}/{what}`, read as `T`.
    async fn read_account<T: serde::de::DeserializeOwned>(
        &self,
        identifiers: &[Party],
        what: &str,
    ) -> Result<T, ProviderError> {
        let path = account_path(identifiers, &[what]);
        let answer = self.get(path.iter().map(String::as_str).collect()).await?;
        if !answer.status.is_success() {
            return Err(transform::refusal(&answer, false));
        }
        serde_json::from_value(answer.body)
            .map_err(|_| ProviderError::Unavailable(format!("the operator answered no {what}")))
    }

    fn mandates_offered(&self) -> Result<(), ProviderError> {
        if self.config.operations.debit_mandates {
            Ok(())
        } else {
            Err(ProviderError::Unsupported(
                "this operator offers no debit mandates through this gateway".into(),
            ))
        }
    }

    /// The operator's mandate reference from the answer to a creation, following its request state.
    async fn mandate_created(&self, answer: &Answer) -> Result<ProviderRefs, ProviderError> {
        if let Some(reference) = answer.body["mandateReference"].as_str() {
            return Ok(mandate_refs(reference, None));
        }
        let state = transform::request_state(answer).ok_or_else(|| {
            ProviderError::InDoubt(
                "the operator answered neither a mandate nor a request state".into(),
            )
        })?;
        let within = Duration::from_secs(self.config.mandate_timeout_secs);
        let state = self.settle(state, within).await?;
        if let Some(Outcome::Failed(failure)) = transform::state_outcome(&state) {
            return Err(ProviderError::Rejected(failure));
        }
        let reference = state.object_reference.as_deref().ok_or_else(|| {
            ProviderError::InDoubt(
                "the operator completed the mandate without its reference".into(),
            )
        })?;
        Ok(mandate_refs(reference, Some(&state)))
    }
}

/// The operator's references of a mandate.
fn mandate_refs(reference: &str, state: Option<&RequestState>) -> ProviderRefs {
    let mut refs = ProviderRefs {
        reference: reference.to_owned(),
        ..ProviderRefs::default()
    };
    if let Some(state) = state {
        refs.extra.insert(
            SERVER_CORRELATION_ID.into(),
            state.server_correlation_id.to_string(),
        );
    }
    refs
}

/// `accounts/{…}/{tail…}` as path segments: the account as `{key}/{value}` for one identifier,
/// `key1@value1$key2@value2` for several.
fn account_path(identifiers: &[Party], tail: &[&str]) -> Vec<String> {
    let mut path = vec!["accounts".to_owned()];
    match identifiers {
        [one] => path.extend([one.key.clone(), one.value.clone()]),
        many => path.push(
            many.iter()
                .map(|p| format!("{}@{}", p.key, p.value))
                .collect::<Vec<_>>()
                .join("$"),
        ),
    }
    path.extend(tail.iter().map(|s| (*s).to_owned()));
    path
}

fn last_segment(link: &str) -> &str {
    link.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(link)
}

fn is_duplicate(answer: &Answer) -> bool {
    transform::error_of(&answer.body).is_some_and(|e| e.error_code == ErrorCode::DuplicateRequest)
}

#[async_trait]
impl Provider for MmapiProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transaction_types: self.config.transaction_types.clone(),
            currencies: self.config.currencies.clone(),
            identifier_types: self.config.identifier_types.clone(),
            quotations: self.config.quotations,
            statements: self.config.operations.statements,
            bills: self.config.operations.bills,
        }
    }

    /// The operator checks its own rules; its refusal fails the transaction with its error.
    fn check(&self, request: &CheckRequest<'_>) -> Result<(), GsmaError> {
        let _ = request;
        Ok(())
    }

    async fn submit(
        &self,
        transaction: &Transaction,
        context: &DispatchContext,
    ) -> Result<Submitted, ProviderError> {
        let correlation_id = correlation_id_for(&transaction.transaction_reference);
        let callback_url = self.config.callbacks.then(|| {
            format!(
                "{}{}",
                self.callback_base,
                callbacks::transaction_path(&transaction.transaction_reference)
            )
        });
        let type_name = transaction.transaction_type.to_string();
        let (their_original, body) = match (&context.original, transaction.transaction_type) {
            (Some((_, refs)), TransactionType::Reversal) => (
                Some(self.their_reference(refs).await?),
                transform::reversal_body(transaction),
            ),
            (None, TransactionType::Reversal) => {
                return Err(ProviderError::Unsupported(
                    "a reversal needs its original transaction".into(),
                ))
            }
            _ => (
                None,
                transform::transaction_body(
                    transaction,
                    context.mandate.as_ref().map(|m| m.refs.reference.as_str()),
                    self.config.quotations,
                ),
            ),
        };
        let segments = match &their_original {
            Some(original) => vec!["transactions", original.as_str(), "reversals"],
            None => vec!["transactions", "type", type_name.as_str()],
        };
        let answer = self
            .client
            .send(
                Method::POST,
                &Call {
                    segments,
                    correlation_id: Some(&correlation_id),
                    callback_url: callback_url.as_deref(),
                    body: Some(&body),
                    raw_path: None,
                },
            )
            .await?;
        if answer.status.is_success() {
            return self.taken(&correlation_id, &answer).await;
        }
        if is_duplicate(&answer) {
            return self.taken_before(&correlation_id).await;
        }
        Err(transform::refusal(&answer, true))
    }

    async fn status(
        &self,
        _transaction: &Transaction,
        refs: &ProviderRefs,
    ) -> Result<Outcome, ProviderError> {
        if let Some(id) = refs.extra.get(SERVER_CORRELATION_ID) {
            let state = self.request_state(id).await?;
            if let Some(outcome) = transform::state_outcome(&state) {
                return Ok(outcome);
            }
            if let Some(reference) = &state.object_reference {
                return self.transaction_outcome(reference).await;
            }
        }
        if let Some(reference) = refs.extra.get(OBJECT_REFERENCE) {
            return self.transaction_outcome(reference).await;
        }
        match self.created_by(&refs.reference).await? {
            Some(link) => self.transaction_outcome(last_segment(&link)).await,
            // The operator, whose idempotency key is our correlation id, never took the request.
            None => Ok(Outcome::Failed(transform::failure(GsmaError::unavailable(
                "The operator never took the request",
            )))),
        }
    }

    async fn account_name(&self, account: AccountRef<'_>) -> Result<AccountName, ProviderError> {
        if !self.config.operations.account_name {
            return Err(ProviderError::Unsupported(
                "this operator offers no account-name lookup through this gateway".into(),
            ));
        }
        self.read_account(account.identifiers, "accountname").await
    }

    async fn balance(&self, account: AccountRef<'_>) -> Result<Balance, ProviderError> {
        if !self.config.operations.balance {
            return Err(ProviderError::Unsupported(
                "this operator offers no balance enquiry through this gateway".into(),
            ));
        }
        self.read_account(account.identifiers, "balance").await
    }

    fn check_mandate(
        &self,
        payer: &[Party],
        request: &mmapi_core::mandate::DebitMandateRequest,
    ) -> Result<(), GsmaError> {
        let _ = payer;
        let operations = &self.config.operations;
        if !operations.debit_mandates {
            return Err(GsmaError::transaction_type(
                "The operator for this currency offers no debit mandates through this gateway",
            ));
        }
        match (&operations.mandate_frequencies, request.frequency_type) {
            (Some(offered), Some(asked)) if !offered.contains(&asked) => Err(GsmaError::format(
                "frequencyType",
                format!(
                    "The operator takes no '{}' mandates; it offers {}",
                    asked.as_str(),
                    offered
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            _ => Ok(()),
        }
    }

    async fn create_mandate(
        &self,
        order: &MandateOrder<'_>,
    ) -> Result<ProviderRefs, ProviderError> {
        self.mandates_offered()?;
        let correlation_id = correlation_id_for(order.reference);
        let body = serde_json::to_value(order.request).unwrap_or_else(|_| json!({}));
        let path = account_path(order.payer, &["debitmandates"]);
        let answer = self
            .client
            .send(
                Method::POST,
                &Call {
                    segments: path.iter().map(String::as_str).collect(),
                    correlation_id: Some(&correlation_id),
                    callback_url: None,
                    body: Some(&body),
                    raw_path: None,
                },
            )
            .await?;
        if answer.status.is_success() {
            return self.mandate_created(&answer).await;
        }
        if is_duplicate(&answer) {
            return self.resume_mandate(order).await;
        }
        Err(transform::refusal(&answer, true))
    }

    async fn resume_mandate(
        &self,
        order: &MandateOrder<'_>,
    ) -> Result<ProviderRefs, ProviderError> {
        self.mandates_offered()?;
        let correlation_id = correlation_id_for(order.reference);
        match self.created_by(&correlation_id).await? {
            Some(link) => Ok(mandate_refs(last_segment(&link), None)),
            None => self.create_mandate(order).await,
        }
    }

    async fn query_mandate(&self, mandate: &MandateContext) -> Result<MandateState, ProviderError> {
        self.mandates_offered()?;
        let path = account_path(
            &mandate.payer,
            &["debitmandates", mandate.refs.reference.as_str()],
        );
        let answer = self.get(path.iter().map(String::as_str).collect()).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(MandateState::Inactive);
        }
        if !answer.status.is_success() {
            return Err(transform::refusal(&answer, false));
        }
        Ok(match answer.body["mandateStatus"].as_str() {
            Some("active") | None => MandateState::Active,
            Some(_) => MandateState::Inactive,
        })
    }

    async fn cancel_mandate(&self, mandate: &MandateContext) -> Result<(), ProviderError> {
        self.mandates_offered()?;
        let path = account_path(
            &mandate.payer,
            &["debitmandates", mandate.refs.reference.as_str()],
        );
        let patch = json!([{"op": "replace", "path": "/mandateStatus", "value": "inactive"}]);
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let answer = self
            .client
            .send(
                Method::PATCH,
                &Call {
                    segments: path.iter().map(String::as_str).collect(),
                    correlation_id: Some(&correlation_id),
                    callback_url: None,
                    body: Some(&patch),
                    raw_path: None,
                },
            )
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        if !answer.status.is_success() {
            return Err(transform::refusal(&answer, true));
        }
        if let Some(state) = transform::request_state(&answer) {
            let within = Duration::from_secs(self.config.mandate_timeout_secs);
            let state = self.settle(state, within).await?;
            if let Some(Outcome::Failed(failure)) = transform::state_outcome(&state) {
                return Err(ProviderError::Rejected(failure));
            }
        }
        Ok(())
    }

    async fn forward(&self, request: &ForwardRequest<'_>) -> Result<ForwardAnswer, ProviderError> {
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| ProviderError::Unsupported(format!("method {}", request.method)))?;
        let body: Option<serde_json::Value> = match request.body.filter(|b| !b.is_empty()) {
            Some(bytes) => Some(serde_json::from_slice(bytes).map_err(|_| {
                ProviderError::Rejected(transform::failure(GsmaError::format(
                    "body",
                    "The request body is not valid JSON",
                )))
            })?),
            None => None,
        };
        // The operator calls the gateway, which relays the outcome to the client through its outbox.
        let relay_url =
            match (request.callback_url, request.correlation_id) {
                (Some(_), Some(id)) if self.config.callbacks && method != Method::GET => Some(
                    format!("{}{}", self.callback_base, callbacks::forwarded_path(id)),
                ),
                _ => None,
            };
        let answer = self
            .client
            .send(
                method,
                &Call {
                    raw_path: Some((request.path, request.query)),
                    correlation_id: request.correlation_id,
                    callback_url: relay_url.as_deref(),
                    body: body.as_ref(),
                    ..Call::default()
                },
            )
            .await?;
        if answer.status == StatusCode::UNAUTHORIZED || answer.status == StatusCode::FORBIDDEN {
            return Err(transform::refusal(&answer, true));
        }
        Ok(ForwardAnswer {
            status: answer.status.as_u16(),
            body: answer.body,
            records: answer.records,
        })
    }

    /// One endpoint: one circuit breaker, whatever the currency.
    fn breaker_per_currency(&self) -> bool {
        false
    }

    fn result_deadline(&self, _transaction_type: TransactionType) -> Duration {
        self.config.result_deadline()
    }

    fn unacknowledged_expiry(&self, _transaction_type: TransactionType) -> Option<Duration> {
        None
    }

    fn callback_router(&self, sink: Arc<dyn EventSink>) -> Option<axum::Router> {
        Some(callbacks::router(self.config.name.clone(), sink))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_paths() {
        let one = [Party {
            key: "walletid".into(),
            value: "1".into(),
        }];
        assert_eq!(
            account_path(&one, &["balance"]),
            vec!["accounts", "walletid", "1", "balance"]
        );
        let two = [
            Party {
                key: "accountcategory".into(),
                value: "default".into(),
            },
            Party {
                key: "msisdn".into(),
                value: "+254708374149".into(),
            },
        ];
        assert_eq!(
            account_path(&two, &[]),
            vec!["accounts", "accountcategory@default$msisdn@+254708374149"]
        );
        assert_eq!(last_segment("/transactions/ABC"), "ABC");
        assert_eq!(last_segment("/accounts/msisdn/1/debitmandates/M1/"), "M1");
    }
}

//! Use-case orchestration: accept → persist → dispatch → complete → notify.
//!
//! The engine owns no state of its own: everything it knows is in the store, so a restarted gateway carries on
//! where the stopped one was.

mod awaiting;
pub mod background;
pub mod batches;
pub mod bills;
pub mod cancel;
pub(crate) mod dispatch;
mod events;
pub(crate) mod forwarded;
pub mod mandates;
pub mod quotations;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{
    Balance, NotificationMethod, Party, RequestState, RequestStatus, ReversalRequest, ReversalType,
    Transaction, TransactionRequest, TransactionStatus, TransactionType,
};
use mmapi_core::provider::{
    AccountRef, CheckRequest, IncomingPayment, Outcome, ProviderError, ProviderRefs,
};
use mmapi_core::{GsmaError, Timestamp};
use tokio::sync::{mpsc, Semaphore};
use uuid::Uuid;

use crate::config::DispatchSettings;
use crate::notify::Notifier;
use crate::routing::Router;
use crate::store::{
    AcceptResult, AccountQuery, Finalisation, NewCallback, NewIncoming, NewRequestState,
    NewTransaction, Store, StoreError, TransactionRow,
};

pub use batches::{spawn_batch_runner, NewBatchRequest};
pub use dispatch::spawn_dispatcher;
pub use mandates::NewMandateRequest;
pub use quotations::NewQuotationRequest;

/// Why the engine refused or could not take a request.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request breaks a rule (routing, the operator's own checks).
    #[error("{0}")]
    Rejected(GsmaError),
    /// The client already used this correlation id.
    #[error("duplicate request")]
    Duplicate {
        /// Where the resource created by the first request is.
        link: Option<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new transaction as a client asked for it.
#[derive(Debug)]
pub struct NewTransactionRequest {
    pub client_id: String,
    /// The providers the client may use; all when `None`.
    pub allowed_providers: Option<Vec<String>>,
    pub correlation_id: Option<String>,
    pub callback_url: Option<String>,
    pub transaction_type: TransactionType,
    pub request: TransactionRequest,
}

/// A reversal or refund of a completed transaction, as a client asked for it.
#[derive(Debug)]
pub struct NewReversal {
    pub client_id: String,
    pub correlation_id: Option<String>,
    pub callback_url: Option<String>,
    pub original_reference: String,
    pub request: ReversalRequest,
}

/// What the dispatcher needs to send one transaction.
#[derive(Debug)]
pub struct DispatchJob {
    pub(crate) row: TransactionRow,
    /// The transaction the row's body holds, as accepted (so that the dispatcher need not parse it again).
    pub(crate) transaction: Transaction,
}

/// The engine. Shared as `Arc<Engine>`.
pub struct Engine {
    store: Store,
    router: Router,
    notifier: Notifier,
    pub(crate) settings: DispatchSettings,
    dispatch_queue: mpsc::Sender<DispatchJob>,
    /// Operator calls in flight, shared by the dispatcher and the reconciler.
    pub(crate) permits: Arc<Semaphore>,
    /// Transactions a task of this process is working on, so two ticks never work on the same one.
    in_flight: Mutex<HashSet<String>>,
    /// Transactions sent by this instance whose result it awaits.
    pub(crate) awaiting: awaiting::Awaiting,
    /// Tariffs and quote lifetime (`[quotations]`).
    pub(crate) quotation_settings: crate::fees::QuotationSettings,
    /// Bulk disbursements: settings and per-provider limits (`[batches]`).
    batches: batches::Batches,
    /// The bill companies (`[bills]`).
    pub(crate) bill_settings: crate::bills::BillSettings,
    /// One payment of a bill at a time is checked and accepted.
    bill_turns: bills::BillTurns,
}

impl Engine {
    /// Builds the engine; `dispatch_queue` is the sending half of the queue [`spawn_dispatcher`] reads.
    pub(crate) fn new(
        store: Store,
        router: Router,
        notifier: Notifier,
        settings: DispatchSettings,
        dispatch_queue: mpsc::Sender<DispatchJob>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(settings.concurrency));
        Self {
            store,
            router,
            notifier,
            settings,
            dispatch_queue,
            permits,
            in_flight: Mutex::new(HashSet::new()),
            awaiting: awaiting::Awaiting::default(),
            quotation_settings: crate::fees::QuotationSettings::default(),
            batches: batches::Batches::new(batches::BatchSettings::default()),
            bill_settings: crate::bills::BillSettings::default(),
            bill_turns: bills::BillTurns::default(),
        }
    }

    /// The engine with these bulk-disbursement settings (the defaults otherwise).
    pub(crate) fn with_batch_settings(mut self, settings: batches::BatchSettings) -> Self {
        self.batches = batches::Batches::new(settings);
        self
    }

    /// The engine with these bill companies (none otherwise: bills for any paybill).
    pub(crate) fn with_bill_settings(mut self, settings: crate::bills::BillSettings) -> Self {
        self.bill_settings = settings;
        self
    }

    /// The engine with these tariffs and quote lifetime (the built-in ones otherwise).
    pub(crate) fn with_quotation_settings(
        mut self,
        settings: crate::fees::QuotationSettings,
    ) -> Self {
        self.quotation_settings = settings;
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How many sent transactions this instance awaits a result for.
    pub fn awaiting_results(&self) -> usize {
        self.awaiting.len()
    }

    /// The providers.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Validates, routes and durably accepts a transaction, then queues it for dispatch. The returned request
    /// state is committed before this returns.
    pub async fn accept_transaction(
        &self,
        mut new: NewTransactionRequest,
    ) -> Result<RequestState, EngineError> {
        let provider = if new.transaction_type == TransactionType::Adjustment {
            self.prepare_refund(&new.client_id, &mut new.request)
                .await?
        } else if let Some(provider) = self
            .mandate_payment_provider(&new.client_id, new.transaction_type, &new.request)
            .await?
        {
            provider
        } else {
            self.router
                .route(new.transaction_type, &new.request)
                .map_err(EngineError::Rejected)?
        };
        if let Some(allowed) = &new.allowed_providers {
            if !allowed.iter().any(|p| p == provider.name()) {
                return Err(EngineError::Rejected(GsmaError::new(
                    ErrorCategory::Authorisation,
                    ErrorCode::RequestingPartyAuthorisationError,
                    "This client is not permitted to use the operator this transaction routes to",
                )));
            }
        }
        new.request.fees = self
            .fees_for(
                &new.client_id,
                provider.name(),
                new.transaction_type,
                &new.request,
            )
            .await?;
        self.persist_and_queue(provider, new).await
    }

    /// Accepts a reversal (or a refund, `type: adjustment`) of a completed transaction of the client's. The
    /// new transaction carries `originalTransactionReference`; the original reads `reversed` once a reversal
    /// completes.
    pub async fn accept_reversal(&self, new: NewReversal) -> Result<RequestState, EngineError> {
        let (original_row, original) = self
            .completed_original(&new.client_id, &new.original_reference)
            .await?;
        let r = new.request;
        if let Some(currency) = r.currency {
            if currency != original.currency {
                return Err(EngineError::Rejected(
                    GsmaError::new(
                        ErrorCategory::Validation,
                        ErrorCode::CurrencyNotSupported,
                        format!(
                            "The original transaction is in {}, not {currency}",
                            original.currency
                        ),
                    )
                    .with_param("field", "currency"),
                ));
            }
        }
        let amount = r.amount.unwrap_or_else(|| original.amount.clone());
        if amount.value() > original.amount.value() {
            return Err(EngineError::Rejected(
                GsmaError::new(
                    ErrorCategory::BusinessRule,
                    ErrorCode::GreaterThanTransactionMaxValue,
                    format!(
                        "A reversal cannot exceed the original amount {}",
                        original.amount
                    ),
                )
                .with_param("field", "amount"),
            ));
        }
        let transaction_type = match r.reversal_type {
            ReversalType::Reversal => TransactionType::Reversal,
            ReversalType::Adjustment => TransactionType::Adjustment,
        };
        let request = TransactionRequest {
            amount,
            currency: original.currency,
            debit_party: Some(original.credit_party.clone()),
            credit_party: Some(original.debit_party.clone()),
            requesting_organisation_transaction_reference: r
                .requesting_organisation_transaction_reference,
            original_transaction_reference: Some(original.transaction_reference.clone()),
            sub_type: r.sub_type,
            description_text: r.description_text,
            custom_data: r.custom_data,
            metadata: r.metadata,
            ..TransactionRequest::empty(original.amount.clone(), original.currency)
        };
        let provider = self
            .router
            .by_name(&original_row.provider)
            .cloned()
            .ok_or_else(|| {
                EngineError::Rejected(GsmaError::unavailable(
                    "The original transaction's operator is no longer configured",
                ))
            })?;
        if !provider.capabilities().supports(transaction_type) {
            return Err(EngineError::Rejected(GsmaError::transaction_type(format!(
                "The operator of the original transaction cannot carry a {transaction_type}"
            ))));
        }
        provider
            .check(&CheckRequest {
                transaction_type,
                request: &request,
                original: Some(&original),
            })
            .map_err(EngineError::Rejected)?;
        self.persist_and_queue(
            provider,
            NewTransactionRequest {
                allowed_providers: None,
                client_id: new.client_id,
                correlation_id: new.correlation_id,
                callback_url: new.callback_url,
                transaction_type,
                request,
            },
        )
        .await
    }

    /// A refund (`adjustment`) names the payment it refunds: it must be the client's and completed. Parties
    /// the client left out are those of the original, reversed.
    async fn prepare_refund(
        &self,
        client_id: &str,
        request: &mut TransactionRequest,
    ) -> Result<Arc<dyn mmapi_core::provider::Provider>, EngineError> {
        let reference = request
            .original_transaction_reference
            .clone()
            .ok_or_else(|| {
                EngineError::Rejected(GsmaError::mandatory("originalTransactionReference"))
            })?;
        let (row, original) = self.completed_original(client_id, &reference).await?;
        if request.credit_party.is_none() {
            request.credit_party = Some(original.debit_party.clone());
        }
        if request.debit_party.is_none() {
            request.debit_party = Some(original.credit_party.clone());
        }
        let provider = self.router.by_name(&row.provider).cloned().ok_or_else(|| {
            EngineError::Rejected(GsmaError::unavailable(
                "The original transaction's operator is no longer configured",
            ))
        })?;
        if !provider
            .capabilities()
            .supports(TransactionType::Adjustment)
        {
            return Err(EngineError::Rejected(GsmaError::transaction_type(
                "The operator of the original transaction cannot carry refunds",
            )));
        }
        provider
            .check(&CheckRequest {
                transaction_type: TransactionType::Adjustment,
                request,
                original: Some(&original),
            })
            .map_err(EngineError::Rejected)?;
        Ok(provider)
    }

    /// The client's completed transaction with this reference (404 if it is not the client's or does not exist;
    /// 400 incorrectState if it is not completed).
    async fn completed_original(
        &self,
        client_id: &str,
        reference: &str,
    ) -> Result<(TransactionRow, Transaction), EngineError> {
        let row = match self.store.transaction(reference).await? {
            Some(row) if row.client_id == client_id => row,
            _ => {
                return Err(EngineError::Rejected(
                    GsmaError::not_found(format!("There is no transaction {reference}"))
                        .with_param("originalTransactionReference", reference),
                ))
            }
        };
        if row.status != "completed" {
            return Err(EngineError::Rejected(GsmaError::new(
                ErrorCategory::BusinessRule,
                ErrorCode::IncorrectState,
                format!("Transaction {reference} is {}; only a completed transaction can be reversed or refunded", row.status),
            )));
        }
        if matches!(row.transaction_type.as_str(), "reversal" | "adjustment") {
            return Err(EngineError::Rejected(GsmaError::new(
                ErrorCategory::BusinessRule,
                ErrorCode::IncorrectState,
                "A reversal or refund cannot itself be reversed or refunded",
            )));
        }
        let original = serde_json::from_str(&row.body)
            .map_err(|e| StoreError::Corrupt(format!("transaction {reference}: {e}")))?;
        Ok((row, original))
    }

    /// The name of an account's holder, from the first provider that can tell it.
    pub async fn account_name(
        &self,
        identifiers: &[Party],
    ) -> Result<mmapi_core::model::AccountName, EngineError> {
        for provider in self.router.for_account(identifiers) {
            match provider.account_name(AccountRef { identifiers }).await {
                Ok(name) => return Ok(name),
                Err(ProviderError::Unsupported(_)) => continue,
                Err(e) => {
                    return Err(EngineError::Rejected(lookup_error(
                        e,
                        "account-name lookup",
                    )))
                }
            }
        }
        Err(EngineError::Rejected(GsmaError::not_found(
            "No operator behind this gateway can tell the name of this account (M-Pesa offers it in Ghana only)",
        )))
    }

    /// The balance of an operator account the gateway holds, from the first provider that can tell it.
    pub async fn balance(&self, identifiers: &[Party]) -> Result<Balance, EngineError> {
        for provider in self.router.for_account(identifiers) {
            match provider.balance(AccountRef { identifiers }).await {
                Ok(balance) => return Ok(balance),
                Err(ProviderError::Unsupported(_)) => continue,
                Err(e) => return Err(EngineError::Rejected(lookup_error(e, "balance enquiry"))),
            }
        }
        Err(EngineError::Rejected(GsmaError::not_found(
            "No operator behind this gateway can tell the balance of this account",
        )))
    }

    async fn persist_and_queue(
        &self,
        provider: Arc<dyn mmapi_core::provider::Provider>,
        new: NewTransactionRequest,
    ) -> Result<RequestState, EngineError> {
        let now = Timestamp::now();
        let server_correlation_id = Uuid::now_v7();
        let reference = Uuid::now_v7().simple().to_string();
        let transaction =
            Transaction::pending(reference.clone(), new.transaction_type, new.request, now);
        let body = serde_json::to_string(&transaction)
            .map_err(|e| StoreError::Corrupt(format!("cannot serialise a transaction: {e}")))?;
        let notification_method = if new.callback_url.is_some() {
            NotificationMethod::Callback
        } else {
            NotificationMethod::Polling
        };
        let request_id = crate::observe::current_request_id();
        let rs = NewRequestState {
            server_correlation_id: server_correlation_id.to_string(),
            client_id: new.client_id.clone(),
            client_correlation_id: new.correlation_id.clone(),
            object_type: "transaction",
            object_reference: reference.clone(),
            notification_method: notification_method_str(notification_method),
            callback_url: new.callback_url.clone(),
            now_ms: now.millis(),
            request_id: request_id.clone(),
        };
        let tx = NewTransaction::of(&transaction, provider.name(), body.clone());
        match self.store.accept(rs, tx).await? {
            AcceptResult::Accepted => {}
            AcceptResult::Duplicate {
                object_type,
                object_reference,
                ..
            } => {
                return Err(EngineError::Duplicate {
                    link: object_reference.map(|r| link_for(&object_type, &r)),
                })
            }
        }
        let row = TransactionRow {
            transaction_reference: reference.clone(),
            server_correlation_id: server_correlation_id.to_string(),
            client_id: new.client_id,
            transaction_type: new.transaction_type.as_str().to_owned(),
            status: "pending".into(),
            provider: provider.name().to_owned(),
            dispatch_state: "queued".into(),
            dispatch_attempts: 0,
            provider_reference: None,
            provider_refs: None,
            check_attempts: 0,
            in_doubt_since: None,
            body,
            callback_url: new.callback_url,
            client_correlation_id: new.correlation_id,
            request_id,
        };
        // A full queue is not an error: the reconciler sends what waited too long.
        if self
            .dispatch_queue
            .try_send(DispatchJob { row, transaction })
            .is_err()
        {
            tracing::debug!(
                reference,
                "dispatch queue full; the reconciler will send it"
            );
        }
        Ok(RequestState {
            server_correlation_id,
            object_reference: Some(reference),
            status: RequestStatus::Pending,
            notification_method,
            pending_reason: None,
            expiry_time: None,
            poll_limit: None,
            error: None,
        })
    }

    /// Makes a pending transaction final with the operator's outcome, and queues the client's callback.
    /// Returns whether this call changed it (false: it was already final).
    pub(crate) async fn finalise(
        &self,
        row: &TransactionRow,
        outcome: &Outcome,
        learnt_refs: Option<&ProviderRefs>,
    ) -> Result<bool, StoreError> {
        let mut transaction: Transaction = serde_json::from_str(&row.body).map_err(|e| {
            StoreError::Corrupt(format!("transaction {}: {e}", row.transaction_reference))
        })?;
        let now = Timestamp::now();
        transaction.modification_date = Some(now);
        let (status, error) = match outcome {
            Outcome::Pending => return Ok(false),
            Outcome::Completed(done) => {
                transaction.transaction_status = TransactionStatus::Completed;
                transaction.transaction_receipt = done.receipt.clone();
                ("completed", None)
            }
            Outcome::Failed(failure) => {
                transaction.transaction_status = TransactionStatus::Failed;
                ("failed", Some(failure.error.clone()))
            }
        };
        let body = serde_json::to_string(&transaction)
            .map_err(|e| StoreError::Corrupt(format!("cannot serialise a transaction: {e}")))?;
        let error_json = match &error {
            Some(e) => {
                Some(serde_json::to_string(e).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            }
            None => None,
        };
        let callback = row.callback_url.as_ref().map(|url| NewCallback {
            claimed_until: now.millis() + self.lease_ms(),
            url: url.clone(),
            correlation_id: row.client_correlation_id.clone(),
            body: error_json.clone().unwrap_or_else(|| body.clone()),
            client_id: Some(row.client_id.clone()),
            request_id: row.request_id.clone(),
        });
        let provider_refs = match learnt_refs {
            Some(refs) => Some((
                refs.reference.clone(),
                serde_json::to_string(refs).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
            None => None,
        };
        let reverses = match (&outcome, transaction.transaction_type) {
            (Outcome::Completed(_), TransactionType::Reversal) => {
                self.reversed_original(&transaction, now).await?
            }
            _ => None,
        };
        let finalisation = Finalisation {
            reverses,
            outcome: Some(outcome_detail(outcome, error_json.as_deref())),
            transaction_reference: row.transaction_reference.clone(),
            server_correlation_id: row.server_correlation_id.clone(),
            status,
            body,
            error: error_json,
            provider_refs,
            callback: callback.clone(),
            now_ms: now.millis(),
        };
        let result = self.store.finalise(finalisation).await?;
        self.awaiting.remove(&row.transaction_reference);
        let Some(result) = result else {
            return Ok(false);
        };
        crate::metrics::metrics().transaction_final(
            &row.provider,
            transaction.currency.code(),
            &row.transaction_type,
            status,
        );
        tracing::debug!(
            reference = %row.transaction_reference,
            status,
            provider = %row.provider,
            "transaction final"
        );
        if let (Some(id), Some(cb)) = (result.callback_id, callback) {
            self.notifier
                .deliver_now(id, row.server_correlation_id.clone(), cb);
        }
        Ok(true)
    }

    /// How long this instance holds work it claims.
    pub(crate) fn lease_ms(&self) -> i64 {
        i64::try_from(self.settings.claim_lease_ms).unwrap_or(60_000)
    }

    /// Records a payment the operator reports that the gateway did not start, as a completed transaction, and
    /// queues the business's notification. Returns false for a repeat of an operator reference.
    pub(crate) async fn record_incoming(
        &self,
        provider: &str,
        payment: IncomingPayment,
    ) -> Result<bool, StoreError> {
        let (payment, mandate_client) = self.under_mandate(provider, payment).await?;
        let now = Timestamp::now();
        let reference = Uuid::now_v7().simple().to_string();
        let server_correlation_id = Uuid::now_v7().to_string();
        let mut request = TransactionRequest::empty(payment.amount, payment.currency);
        request.debit_party = Some(payment.debit_party);
        request.credit_party = Some(payment.credit_party);
        let mut transaction =
            Transaction::pending(reference.clone(), payment.transaction_type, request, now);
        transaction.transaction_status = TransactionStatus::Completed;
        transaction.transaction_receipt = payment.receipt;
        if let Some(at) = payment.completed_at {
            transaction.creation_date = Some(at);
        }
        let body =
            serde_json::to_string(&transaction).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let owner = match (mandate_client, transaction.credit_party.first()) {
            (Some(client), _) => Some(client),
            (None, Some(party)) => {
                crate::auth::registry::owner_of_account(&self.store, &party.value).await?
            }
            (None, None) => None,
        }
        .unwrap_or_else(|| crate::auth::UNCLAIMED.to_owned());
        // The notification belongs to the client the account is granted to: its key signs it.
        let callback = payment.notification_url.map(|url| NewCallback {
            claimed_until: now.millis() + self.lease_ms(),
            url,
            correlation_id: None,
            body: body.clone(),
            client_id: Some(owner.clone()),
            request_id: None,
        });
        let incoming = NewIncoming {
            request_state: NewRequestState {
                server_correlation_id: server_correlation_id.clone(),
                client_id: owner,
                client_correlation_id: None,
                object_type: "transaction",
                object_reference: reference.clone(),
                notification_method: if callback.is_some() {
                    "callback"
                } else {
                    "polling"
                },
                callback_url: callback.as_ref().map(|c| c.url.clone()),
                now_ms: now.millis(),
                request_id: None,
            },
            transaction: NewTransaction::of(&transaction, provider, body),
            provider_reference: payment.provider_reference,
            callback: callback.clone(),
        };
        let result = self.store.incoming(incoming).await?;
        if !result.recorded {
            return Ok(false);
        }
        tracing::info!(reference, provider, "incoming payment recorded");
        if let (Some(id), Some(cb)) = (result.callback_id, callback) {
            self.notifier.deliver_now(id, server_correlation_id, cb);
        }
        Ok(true)
    }

    /// An account's transactions, newest first, and how many match in all.
    pub async fn account_transactions(
        &self,
        query: &AccountQuery,
    ) -> Result<(i64, Vec<String>), StoreError> {
        self.store.account_transactions(query).await
    }

    /// The original of a completed reversal, as it reads once reversed.
    async fn reversed_original(
        &self,
        reversal: &Transaction,
        now: Timestamp,
    ) -> Result<Option<(String, String)>, StoreError> {
        let Some(reference) = &reversal.original_transaction_reference else {
            return Ok(None);
        };
        let Some(row) = self.store.transaction(reference).await? else {
            return Ok(None);
        };
        let mut original: Transaction = serde_json::from_str(&row.body)
            .map_err(|e| StoreError::Corrupt(format!("transaction {reference}: {e}")))?;
        original.transaction_status = TransactionStatus::Reversed;
        original.modification_date = Some(now);
        let body =
            serde_json::to_string(&original).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Some((reference.clone(), body)))
    }

    /// Marks a transaction as being worked on by this process; false if it already is.
    /// For a clean stop: waits (up to `grace`) for the operator calls under way to finish, and lets no more
    /// start. Returns whether they all finished.
    pub async fn quiesce(&self, grace: Duration) -> bool {
        let all = u32::try_from(self.settings.concurrency).unwrap_or(u32::MAX);
        match tokio::time::timeout(grace, self.permits.acquire_many(all)).await {
            Ok(Ok(permits)) => {
                permits.forget();
                true
            }
            _ => false,
        }
    }

    pub(crate) fn claim(&self, reference: &str) -> bool {
        self.in_flight
            .lock()
            .map(|mut set| set.insert(reference.to_owned()))
            .unwrap_or(false)
    }

    pub(crate) fn release(&self, reference: &str) {
        if let Ok(mut set) = self.in_flight.lock() {
            set.remove(reference);
        }
    }

    /// The wait before the next status check of a transaction checked `attempts` times already.
    pub(crate) fn check_backoff(&self, deadline: Duration, attempts: i64) -> Duration {
        let factor = 1u32 << attempts.clamp(0, 16) as u32;
        deadline
            .max(Duration::from_secs(1))
            .saturating_mul(factor)
            .min(Duration::from_secs(self.settings.max_check_interval_secs))
    }
}

/// The GSMA error for a synchronous lookup (balance, account name) the operator did not answer.
fn lookup_error(e: ProviderError, what: &str) -> GsmaError {
    match e {
        ProviderError::Rejected(f) => f.error,
        ProviderError::Unavailable(text) | ProviderError::InDoubt(text) => {
            tracing::info!(reason = %text, "{what} unanswered");
            GsmaError::unavailable(format!("The operator did not answer the {what} in time"))
        }
        ProviderError::Configuration(text) => {
            tracing::error!(reason = %text, "{what} refused by the operator");
            GsmaError::internal()
        }
        ProviderError::Unsupported(text) => GsmaError::not_found(text),
    }
}

/// The path of a resource created by a request, as `/responses` and duplicate errors give it.
pub fn link_for(object_type: &str, reference: &str) -> String {
    match object_type {
        "transaction" => format!("/transactions/{reference}"),
        // A request forwarded to a GSMA-speaking operator: its request state leads to what the operator made.
        crate::store::FORWARDED => format!("/requeststates/{reference}"),
        other => format!("/{other}s/{reference}"),
    }
}

/// The stored form of a notification method.
pub fn notification_method_str(m: NotificationMethod) -> &'static str {
    match m {
        NotificationMethod::Callback => "callback",
        NotificationMethod::Polling => "polling",
    }
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    Timestamp::now().millis()
}

/// What a transaction's story records of its result: the receipt of a completed one; of a failed one, the
/// GSMA error the client sees beside the operator's own result code and description (empty when the gateway,
/// not the operator, failed it).
fn outcome_detail(outcome: &Outcome, error_json: Option<&str>) -> String {
    let error: Option<serde_json::Value> = error_json.and_then(|e| serde_json::from_str(e).ok());
    match outcome {
        Outcome::Completed(done) => serde_json::json!({ "receipt": done.receipt }),
        Outcome::Failed(failure) => serde_json::json!({
            "error": error,
            "providerCode": failure.provider_code,
            "providerDescription": failure.provider_description,
        }),
        Outcome::Pending => serde_json::json!({}),
    }
    .to_string()
}

//! Use-case orchestration: accept → persist → dispatch → complete → notify.
//!
//! The engine owns no state of its own: everything it knows is in the store, so a restarted gateway carries on
//! where the stopped one was.

pub(crate) mod dispatch;
mod events;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mmapi_core::model::{
    NotificationMethod, RequestState, RequestStatus, Transaction, TransactionRequest,
    TransactionStatus, TransactionType,
};
use mmapi_core::provider::{Outcome, ProviderRefs};
use mmapi_core::{GsmaError, Timestamp};
use tokio::sync::{mpsc, Semaphore};
use uuid::Uuid;

use crate::config::DispatchSettings;
use crate::notify::Notifier;
use crate::routing::Router;
use crate::store::{
    AcceptResult, Finalisation, NewCallback, NewRequestState, NewTransaction, Store, StoreError,
    TransactionRow,
};

pub use dispatch::spawn_dispatcher;

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
    pub correlation_id: Option<String>,
    pub callback_url: Option<String>,
    pub transaction_type: TransactionType,
    pub request: TransactionRequest,
}

/// What the dispatcher needs to send one transaction.
#[derive(Debug)]
pub struct DispatchJob {
    pub(crate) row: TransactionRow,
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
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The providers.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Validates, routes and durably accepts a transaction, then queues it for dispatch. The returned request
    /// state is committed before this returns.
    pub async fn accept_transaction(
        &self,
        new: NewTransactionRequest,
    ) -> Result<RequestState, EngineError> {
        let provider = self
            .router
            .route(new.transaction_type, &new.request)
            .map_err(EngineError::Rejected)?;
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
        let rs = NewRequestState {
            server_correlation_id: server_correlation_id.to_string(),
            client_id: new.client_id.clone(),
            client_correlation_id: new.correlation_id.clone(),
            object_type: "transaction",
            object_reference: reference.clone(),
            notification_method: notification_method_str(notification_method),
            callback_url: new.callback_url.clone(),
            now_ms: now.millis(),
        };
        let tx = NewTransaction {
            transaction_reference: reference.clone(),
            transaction_type: new.transaction_type.as_str(),
            provider: provider.name().to_owned(),
            body: body.clone(),
        };
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
        };
        // A full queue is not an error: the reconciler sends what waited too long.
        if self.dispatch_queue.try_send(DispatchJob { row }).is_err() {
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
        });
        let provider_refs = match learnt_refs {
            Some(refs) => Some((
                refs.reference.clone(),
                serde_json::to_string(refs).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
            None => None,
        };
        let finalisation = Finalisation {
            transaction_reference: row.transaction_reference.clone(),
            server_correlation_id: row.server_correlation_id.clone(),
            status,
            body,
            error: error_json,
            provider_refs,
            callback: callback.clone(),
            now_ms: now.millis(),
        };
        let Some(result) = self.store.finalise(finalisation).await? else {
            return Ok(false);
        };
        tracing::info!(
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

    /// Marks a transaction as being worked on by this process; false if it already is.
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

/// The path of a resource created by a request, as `/responses` and duplicate errors give it.
pub fn link_for(object_type: &str, reference: &str) -> String {
    match object_type {
        "transaction" => format!("/transactions/{reference}"),
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

//! Bulk disbursements (GSMA `/batchtransactions`): accept a batch, approve it (maker/checker), send its items,
//! and close it.
//!
//! A batch is accepted whole: each item is validated on its own (a bad one is a rejection with its reason) and
//! the batch, its items and its request state are committed before the 202. Once approved and past its
//! `scheduledStartDate`, a runner turns each waiting item into an ordinary disbursement transaction; the item is
//! marked sent in the same database transaction that creates its transaction, so a restart never creates (nor
//! pays) an item twice, and the dispatcher, the reconciler and crash recovery then carry it like any other. Items
//! go out under a per-provider rate and concurrency limit. When every item is final the batch is completed and
//! its callback is queued in the outbox, in one database transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{
    KeyValue, NotificationMethod, Party, RequestState, RequestStatus, RequestingOrganisation,
    Transaction, TransactionRequest, TransactionType,
};
use mmapi_core::provider::{CheckRequest, Provider};
use mmapi_core::{parse, GsmaError, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{dispatch, now_ms, Engine, EngineError};
use crate::store::{
    Backend, BatchChange, BatchListQuery, BatchListRow, BatchRow, Change, NewBatch, NewBatchItem,
    NewCallback, NewRequestState, NewTransaction, StoreError, TransactionRow, WaitingItemRow,
};

/// The request state's object type of a batch (its link is `/batchtransactions/{batchId}`).
pub const OBJECT_TYPE: &str = "batchtransaction";

/// The most items a batch may hold (the GSMA specification's limit).
pub const MAX_ITEMS: usize = 999_999;

/// Bulk disbursements (`[batches]`).
///
/// The defaults are conservative. Neither operator publishes a rate for B2C: Daraja answers an excess with
/// `500.003.02 Spike Arrest Violation (TPS)` or `26 SystemTooBusy`, and the M-Pesa OpenAPI counts transactions
/// against per-session limits (`INS-993`). So batch items go out at 10 a second and 4 at a time per operator
/// unless an operator agreement allows more. Single disbursements (`/transactions/type/disbursement`) are not
/// limited by these.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSettings {
    /// How often the runner looks for batches to work on, in milliseconds.
    pub tick_ms: u64,
    /// Batch items sent a second, per operator.
    pub rate_per_sec: u32,
    /// Batch items being sent at once, per operator.
    pub concurrency: usize,
    /// [`BatchSettings::rate_per_sec`] per provider (`daraja`, `mpesa-openapi`), where it differs.
    pub rate_per_sec_per_provider: BTreeMap<String, u32>,
    /// [`BatchSettings::concurrency`] per provider, where it differs.
    pub concurrency_per_provider: BTreeMap<String, usize>,
    /// Maker/checker: for a client (consumer key) listed here, only the clients named may approve its batches
    /// (`PATCH /batchStatus` to `approved`), and not the client itself. They may also read those batches. A
    /// client not listed approves its own batches.
    pub approvers: BTreeMap<String, Vec<String>>,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            tick_ms: 500,
            rate_per_sec: 10,
            concurrency: 4,
            rate_per_sec_per_provider: BTreeMap::new(),
            concurrency_per_provider: BTreeMap::new(),
            approvers: BTreeMap::new(),
        }
    }
}

impl BatchSettings {
    fn rate(&self, provider: &str) -> u32 {
        self.rate_per_sec_per_provider
            .get(provider)
            .copied()
            .unwrap_or(self.rate_per_sec)
            .max(1)
    }

    fn concurrency(&self, provider: &str) -> usize {
        self.concurrency_per_provider
            .get(provider)
            .copied()
            .unwrap_or(self.concurrency)
            .max(1)
    }
}

/// The engine's batch state: settings, this instance's identity for leases, and the per-provider limits.
pub(crate) struct Batches {
    settings: BatchSettings,
    owner: String,
    limits: Mutex<HashMap<String, Arc<ProviderLimit>>>,
}

impl Batches {
    pub(crate) fn new(settings: BatchSettings) -> Self {
        Self {
            settings,
            owner: Uuid::now_v7().to_string(),
            limits: Mutex::new(HashMap::new()),
        }
    }

    fn limit_for(&self, provider: &str) -> Arc<ProviderLimit> {
        let mut limits = self
            .limits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limits
            .entry(provider.to_owned())
            .or_insert_with(|| {
                Arc::new(ProviderLimit {
                    permits: Arc::new(Semaphore::new(self.settings.concurrency(provider))),
                    interval: Duration::from_secs(1) / self.settings.rate(provider),
                    next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
                })
            })
            .clone()
    }
}

/// One operator's limit for batch items: calls in flight, and an even spacing of their starts.
struct ProviderLimit {
    permits: Arc<Semaphore>,
    interval: Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl ProviderLimit {
    /// Waits for this operator's next slot.
    async fn wait_turn(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(tokio::time::Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// `batchStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = batchStatus)]
pub enum BatchStatus {
    /// Waits for approval (maker/checker).
    Created,
    /// Approved: its items are being sent (or wait for the scheduled start).
    Approved,
    /// Every item is final.
    Completed,
}

/// The fields of a batch the gateway keeps as the client sent them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch_title: Option<String>,
    #[serde(
        default,
        rename = "batchdescription",
        skip_serializing_if = "Option::is_none"
    )]
    batch_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requesting_organisation: Option<RequestingOrganisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    custom_data: Option<Vec<KeyValue>>,
}

/// The body of `POST /batchtransactions` (`requestBatchTransaction`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = requestBatchTransaction)]
pub struct BatchTransactionRequest {
    /// The disbursements, 1 to 999,999. Each is validated on its own: an invalid one is listed in `/rejections`.
    /// An item's `type`, when given, must be `disbursement`.
    pub transactions: Vec<TransactionRequest>,
    /// `created` makes the batch wait for approval (`PATCH` of `/batchStatus` to `approved`); absent or
    /// `approved`, it is processed at once (from `scheduledStartDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_status: Option<BatchStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub batch_title: Option<String>,
    #[serde(
        default,
        rename = "batchdescription",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 256)]
    pub batch_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation: Option<RequestingOrganisation>,
    /// No item is sent before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_start_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Vec<KeyValue>>,
}

/// A batch (`responseBatchTransaction`), also the body of its callback.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseBatchTransaction)]
pub struct BatchTransaction {
    pub batch_id: String,
    pub batch_status: BatchStatus,
    /// When it was approved (absent until then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_date: Option<Timestamp>,
    /// When its last item became final (absent until then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_title: Option<String>,
    #[serde(
        default,
        rename = "batchdescription",
        skip_serializing_if = "Option::is_none"
    )]
    pub batch_description: Option<String>,
    /// Whether its items are being sent now.
    pub processing_flag: bool,
    /// Items completed.
    pub completed_count: i64,
    /// Items rejected when posted, or failed at the operator.
    pub rejection_count: i64,
    /// Items that passed validation when posted.
    pub parsing_success_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation: Option<RequestingOrganisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_start_date: Option<Timestamp>,
    pub creation_date: Timestamp,
    pub modification_date: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Vec<KeyValue>>,
}

/// A rejected item (`responseBatchTransactionRejection`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseBatchTransactionRejection)]
pub struct BatchRejection {
    /// The item's transaction, when it was sent and failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation_transaction_reference: Option<String>,
    pub credit_party: Vec<Party>,
    pub debit_party: Vec<Party>,
    /// Why (the GSMA error's description).
    pub rejection_reason: String,
    pub rejection_date: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Vec<KeyValue>>,
}

/// A completed item (`responseBatchTransactionCompletion`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseBatchTransactionCompletion)]
pub struct BatchCompletion {
    pub transaction_reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation_transaction_reference: Option<String>,
    pub credit_party: Vec<Party>,
    pub debit_party: Vec<Party>,
    pub completion_date: Timestamp,
    /// Where the transaction is: `/transactions/{transactionReference}`.
    pub link: String,
}

/// A batch as a client posted it.
#[derive(Debug)]
pub struct NewBatchRequest {
    pub client_id: String,
    /// The providers the client may use; all when `None`.
    pub allowed_providers: Option<Vec<String>>,
    pub correlation_id: Option<String>,
    pub callback_url: Option<String>,
    /// The request body (`requestBatchTransaction`).
    pub body: Vec<u8>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn not_found(batch_id: &str) -> EngineError {
    EngineError::Rejected(
        GsmaError::not_found(format!("There is no batch {batch_id}"))
            .with_param("batchId", batch_id),
    )
}

impl Engine {
    /// Validates a batch item by item, and durably accepts it with its rejections. The returned request state
    /// (`objectReference` is the batch id) is committed before this returns.
    pub async fn accept_batch(&self, new: NewBatchRequest) -> Result<RequestState, EngineError> {
        let mut object = parse::json_object(&new.body).map_err(EngineError::Rejected)?;
        let items = match object.remove("transactions") {
            None | Some(Value::Null) => {
                return Err(EngineError::Rejected(GsmaError::mandatory("transactions")))
            }
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_ITEMS => items,
            Some(_) => {
                return Err(EngineError::Rejected(GsmaError::format(
                    "transactions",
                    format!("transactions must be an array of 1 to {MAX_ITEMS} transactions"),
                )))
            }
        };
        let status = match object.remove("batchStatus") {
            None | Some(Value::Null) => "approved",
            Some(Value::String(s)) if s == "approved" => "approved",
            Some(Value::String(s)) if s == "created" => "created",
            Some(other) => {
                return Err(EngineError::Rejected(GsmaError::format(
                    "batchStatus",
                    format!("batchStatus {other} cannot be posted; use created (to approve it later) or approved"),
                )))
            }
        };
        let scheduled_start_at = match object.remove("scheduledStartDate") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                parse::typed::<Timestamp>(value)
                    .map_err(|_| {
                        EngineError::Rejected(GsmaError::format(
                            "scheduledStartDate",
                            "scheduledStartDate must be an RFC 3339 date-time",
                        ))
                    })?
                    .millis(),
            ),
        };
        let meta: BatchMeta = parse::typed(Value::Object(object)).map_err(EngineError::Rejected)?;
        for (field, value) in [
            ("batchTitle", &meta.batch_title),
            ("batchdescription", &meta.batch_description),
        ] {
            if value.as_ref().is_some_and(|v| v.len() > 256) {
                return Err(EngineError::Rejected(GsmaError::format(
                    field,
                    format!("{field} is longer than 256 characters"),
                )));
            }
        }
        let mut parsed = Vec::with_capacity(items.len());
        let mut valid = 0i64;
        for (index, item) in items.into_iter().enumerate() {
            let index = i64::try_from(index).unwrap_or(i64::MAX);
            parsed.push(
                match self.validate_item(&item, new.allowed_providers.as_deref()) {
                    Ok((request, provider)) => {
                        valid += 1;
                        NewBatchItem {
                            index,
                            status: "valid",
                            provider: Some(provider),
                            item: serde_json::to_string(&request)
                                .map_err(|e| corrupt("a batch item", e))?,
                            rejection_reason: None,
                        }
                    }
                    Err(error) => NewBatchItem {
                        index,
                        status: "rejected",
                        provider: None,
                        item: item.to_string(),
                        rejection_reason: Some(rejection_reason(&error)),
                    },
                },
            );
        }
        let now = Timestamp::now();
        let server_correlation_id = Uuid::now_v7();
        let batch_id = Uuid::now_v7().simple().to_string();
        let notification_method = if new.callback_url.is_some() {
            NotificationMethod::Callback
        } else {
            NotificationMethod::Polling
        };
        let batch = NewBatch {
            request_state: NewRequestState {
                server_correlation_id: server_correlation_id.to_string(),
                client_id: new.client_id.clone(),
                client_correlation_id: new.correlation_id.clone(),
                object_type: OBJECT_TYPE,
                object_reference: batch_id.clone(),
                notification_method: super::notification_method_str(notification_method),
                callback_url: new.callback_url,
                now_ms: now.millis(),
                request_id: crate::observe::current_request_id(),
            },
            batch_id: batch_id.clone(),
            status,
            meta: serde_json::to_string(&meta).map_err(|e| corrupt("a batch", e))?,
            parsing_success_count: valid,
            scheduled_start_at,
            items: parsed,
        };
        let accepted = self
            .store
            .apply(Change::Batch(BatchChange::Accept(Box::new(batch))))
            .await?;
        if accepted == 0 {
            let link = match &new.correlation_id {
                Some(id) => self
                    .store
                    .request_state_by_correlation(&new.client_id, id)
                    .await?
                    .and_then(|row| {
                        row.object_reference
                            .map(|r| super::link_for(&row.object_type, &r))
                    }),
                None => None,
            };
            return Err(EngineError::Duplicate { link });
        }
        tracing::info!(batch_id, status, valid, "batch accepted");
        Ok(RequestState {
            server_correlation_id,
            object_reference: Some(batch_id),
            status: RequestStatus::Pending,
            notification_method,
            pending_reason: None,
            expiry_time: None,
            poll_limit: None,
            error: None,
        })
    }

    /// One item: a disbursement request the operator it routes to would take, and that operator's name.
    fn validate_item(
        &self,
        item: &Value,
        allowed: Option<&[String]>,
    ) -> Result<(TransactionRequest, String), GsmaError> {
        let Value::Object(object) = item else {
            return Err(GsmaError::format(
                "transactions",
                "A batch item must be a JSON object",
            ));
        };
        let mut object = object.clone();
        match object.remove("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) if t == "disbursement" => {}
            Some(other) => {
                return Err(GsmaError::transaction_type(format!(
                    "A batch carries disbursements only, not {other}"
                )))
            }
        }
        let body = serde_json::to_vec(&Value::Object(object))
            .map_err(|e| GsmaError::format("transactions", e.to_string()))?;
        let request = parse::transaction_request(&body)?;
        if request.credit_party.is_none() {
            return Err(GsmaError::mandatory("creditParty"));
        }
        // Routed as `Router::route` does, but without asking the circuit breaker: an operator down now is no
        // reason to reject an item that will be sent later.
        let parties = request.parties();
        let provider = self
            .router
            .for_parties(request.currency.code(), &parties)
            .ok_or_else(|| {
                GsmaError::new(
                    ErrorCategory::Validation,
                    ErrorCode::CurrencyNotSupported,
                    format!("No operator behind this gateway moves {}", request.currency),
                )
                .with_param("field", "currency")
            })?;
        if !provider
            .capabilities()
            .supports(TransactionType::Disbursement)
        {
            return Err(GsmaError::transaction_type(format!(
                "The operator for {} cannot carry disbursements",
                request.currency
            )));
        }
        provider.check(&CheckRequest {
            transaction_type: TransactionType::Disbursement,
            request: &request,
            original: None,
        })?;
        if let Some(allowed) = allowed {
            if !allowed.iter().any(|p| p == provider.name()) {
                return Err(GsmaError::new(
                    ErrorCategory::Authorisation,
                    ErrorCode::RequestingPartyAuthorisationError,
                    "This client is not permitted to use the operator this transaction routes to",
                ));
            }
        }
        Ok((request, provider.name().to_owned()))
    }

    /// A batch the client may see: its own, or one it may approve.
    async fn visible_batch(
        &self,
        client_id: &str,
        batch_id: &str,
    ) -> Result<BatchRow, EngineError> {
        match self.store.batch(batch_id).await? {
            Some(row) if row.client_id == client_id || self.may_approve(&row, client_id) => Ok(row),
            _ => Err(not_found(batch_id)),
        }
    }

    fn may_approve(&self, row: &BatchRow, client_id: &str) -> bool {
        match self.batches.settings.approvers.get(&row.client_id) {
            Some(approvers) => {
                client_id != row.client_id && approvers.iter().any(|a| a == client_id)
            }
            None => client_id == row.client_id,
        }
    }

    /// The batch `batch_id`, as the client sees it (404 for another client's).
    pub async fn batch(
        &self,
        client_id: &str,
        batch_id: &str,
    ) -> Result<BatchTransaction, EngineError> {
        let row = self.visible_batch(client_id, batch_id).await?;
        Ok(self.batch_object(&row, None).await?)
    }

    async fn batch_object(
        &self,
        row: &BatchRow,
        completed_now: Option<Timestamp>,
    ) -> Result<BatchTransaction, StoreError> {
        let meta: BatchMeta =
            serde_json::from_str(&row.meta).map_err(|e| corrupt("a stored batch", e))?;
        let mut completed = 0;
        let mut rejected = 0;
        for (state, n) in self.store.batch_counts(&row.batch_id).await? {
            match state.as_str() {
                "completed" | "reversed" => completed += n,
                "rejected" | "failed" => rejected += n,
                _ => {}
            }
        }
        let status = if completed_now.is_some() {
            "completed"
        } else {
            row.status.as_str()
        };
        Ok(BatchTransaction {
            batch_id: row.batch_id.clone(),
            batch_status: match status {
                "created" => BatchStatus::Created,
                "completed" => BatchStatus::Completed,
                _ => BatchStatus::Approved,
            },
            approval_date: row.approved_at.map(Timestamp::from_millis),
            completion_date: completed_now.or(row.completed_at.map(Timestamp::from_millis)),
            batch_title: meta.batch_title,
            batch_description: meta.batch_description,
            processing_flag: status == "processing",
            completed_count: completed,
            rejection_count: rejected,
            parsing_success_count: row.parsing_success_count,
            requesting_organisation: meta.requesting_organisation,
            scheduled_start_date: row.scheduled_start_at.map(Timestamp::from_millis),
            creation_date: Timestamp::from_millis(row.created_at),
            modification_date: completed_now.unwrap_or(Timestamp::from_millis(row.updated_at)),
            request_date: meta.request_date,
            custom_data: meta.custom_data,
        })
    }

    /// Applies `PATCH /batchtransactions/{batchId}`: the only change is `/batchStatus` to `approved`, by a
    /// client allowed to approve the batch (its maker, or under maker/checker one of its approvers).
    pub async fn approve_batch(
        &self,
        client_id: &str,
        batch_id: &str,
        patch: &[u8],
    ) -> Result<(), EngineError> {
        let ops: Vec<Value> = match serde_json::from_slice(patch) {
            Ok(Value::Array(ops)) if (1..=10).contains(&ops.len()) => ops,
            _ => {
                return Err(EngineError::Rejected(GsmaError::format(
                    "body",
                    "The body must be an array of 1 to 10 patch operations",
                )))
            }
        };
        let approves = ops.iter().all(|op| {
            matches!(op["op"].as_str(), Some("replace" | "add"))
                && op["path"] == "/batchStatus"
                && op["value"] == "approved"
        });
        if !approves {
            return Err(EngineError::Rejected(GsmaError::format(
                "body",
                "Only [{\"op\": \"replace\", \"path\": \"/batchStatus\", \"value\": \"approved\"}] can change a batch",
            )));
        }
        let row = self.visible_batch(client_id, batch_id).await?;
        if !self.may_approve(&row, client_id) {
            return Err(EngineError::Rejected(GsmaError::new(
                ErrorCategory::Authorisation,
                ErrorCode::RequestingPartyAuthorisationError,
                "This batch must be approved by another client (maker/checker)",
            )));
        }
        let changed = self
            .store
            .apply(Change::Batch(BatchChange::Approve {
                batch_id: batch_id.to_owned(),
                approved_by: client_id.to_owned(),
                now_ms: now_ms(),
            }))
            .await?;
        if changed == 0 {
            return Err(EngineError::Rejected(GsmaError::new(
                ErrorCategory::BusinessRule,
                ErrorCode::IncorrectState,
                format!(
                    "Batch {batch_id} is {}; only a created batch can be approved",
                    row.status
                ),
            )));
        }
        tracing::info!(batch_id, approved_by = client_id, "batch approved");
        Ok(())
    }

    /// A batch's completed items, newest first, and how many there are in all.
    pub async fn batch_completions(
        &self,
        client_id: &str,
        batch_id: &str,
        q: &BatchListQuery,
    ) -> Result<(i64, Vec<BatchCompletion>), EngineError> {
        self.visible_batch(client_id, batch_id).await?;
        let (total, rows) = self.store.batch_completions(batch_id, q).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let transaction = transaction_of(&row)?;
            let Some(transaction) = transaction else {
                continue;
            };
            out.push(BatchCompletion {
                link: super::link_for("transaction", &transaction.transaction_reference),
                transaction_reference: transaction.transaction_reference,
                requesting_organisation_transaction_reference: transaction
                    .requesting_organisation_transaction_reference,
                credit_party: transaction.credit_party,
                debit_party: transaction.debit_party,
                completion_date: Timestamp::from_millis(row.at),
            });
        }
        Ok((total, out))
    }

    /// A batch's rejected items (invalid when posted, or failed at the operator), newest first, and how many
    /// there are in all.
    pub async fn batch_rejections(
        &self,
        client_id: &str,
        batch_id: &str,
        q: &BatchListQuery,
    ) -> Result<(i64, Vec<BatchRejection>), EngineError> {
        self.visible_batch(client_id, batch_id).await?;
        let (total, rows) = self.store.batch_rejections(batch_id, q).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let item: Value = serde_json::from_str(&row.item).unwrap_or(Value::Null);
            let parties = |field: &str| -> Vec<Party> {
                serde_json::from_value(item[field].clone()).unwrap_or_default()
            };
            let reason = match (&row.rejection_reason, &row.error) {
                (Some(reason), _) => reason.clone(),
                (None, Some(error)) => serde_json::from_str::<GsmaError>(error)
                    .map(|e| rejection_reason(&e))
                    .unwrap_or_else(|_| "The operator refused the transaction".into()),
                (None, None) => "The operator refused the transaction".into(),
            };
            out.push(BatchRejection {
                transaction_reference: row.transaction_reference.clone(),
                requesting_organisation_transaction_reference: item
                    ["requestingOrganisationTransactionReference"]
                    .as_str()
                    .map(str::to_owned),
                credit_party: parties("creditParty"),
                debit_party: parties("debitParty"),
                rejection_reason: reason,
                rejection_date: Timestamp::from_millis(row.at),
                custom_data: serde_json::from_value(item["customData"].clone()).ok(),
            });
        }
        Ok((total, out))
    }

    /// One round of the batch runner: takes each due batch this instance may work on, and sends its next
    /// items or completes it.
    async fn run_batches(self: &Arc<Self>) -> Result<(), StoreError> {
        let now = now_ms();
        let owner = self.batches.owner.clone();
        for batch_id in self.store.due_batches(&owner, now).await? {
            let claimed = self
                .store
                .apply(Change::Batch(BatchChange::Claim {
                    batch_id: batch_id.clone(),
                    owner: owner.clone(),
                    now_ms: now,
                    until: now + self.lease_ms(),
                }))
                .await?;
            if claimed == 0 {
                continue;
            }
            self.work_on_batch(&batch_id).await?;
        }
        Ok(())
    }

    /// Sends the batch's next items, as many as fit in half its lease, or completes it once all are final.
    async fn work_on_batch(self: &Arc<Self>, batch_id: &str) -> Result<(), StoreError> {
        let Some(row) = self.store.batch(batch_id).await? else {
            return Ok(());
        };
        let slowest = self
            .router
            .providers()
            .map(|p| self.batches.settings.rate(p.name()))
            .min()
            .unwrap_or(1);
        let chunk = (i64::from(slowest) * self.lease_ms() / 2_000).clamp(1, 2_000);
        let items = self.store.waiting_items(batch_id, chunk).await?;
        if items.is_empty() {
            return self.complete_if_done(&row).await;
        }
        let mut by_provider: HashMap<String, Vec<WaitingItemRow>> = HashMap::new();
        for item in items {
            by_provider
                .entry(item.provider.clone().unwrap_or_default())
                .or_default()
                .push(item);
        }
        let row = Arc::new(row);
        let mut groups = JoinSet::new();
        for (provider, items) in by_provider {
            let engine = Arc::clone(self);
            let row = Arc::clone(&row);
            groups.spawn(async move { engine.send_items(row, provider, items).await });
        }
        while groups.join_next().await.is_some() {}
        Ok(())
    }

    /// Sends items of one operator under its rate and concurrency limit.
    async fn send_items(
        self: Arc<Self>,
        row: Arc<BatchRow>,
        provider: String,
        items: Vec<WaitingItemRow>,
    ) {
        let Some(operator) = self.router.by_name(&provider).cloned() else {
            tracing::error!(batch_id = %row.batch_id, provider, "batch items routed to a provider that is no longer configured");
            return;
        };
        let limit = self.batches.limit_for(&provider);
        let mut sends = JoinSet::new();
        for item in items {
            limit.wait_turn().await;
            let Ok(permit) = limit.permits.clone().acquire_owned().await else {
                return;
            };
            let engine = Arc::clone(&self);
            let (row, operator) = (Arc::clone(&row), Arc::clone(&operator));
            sends.spawn(async move {
                if let Err(e) = engine.send_item(&row, operator, item).await {
                    tracing::warn!(batch_id = %row.batch_id, error = %e, "could not send a batch item; will retry");
                }
                drop(permit);
            });
        }
        while sends.join_next().await.is_some() {}
    }

    /// Turns one waiting item into its transaction (once) and sends it.
    async fn send_item(
        &self,
        batch: &BatchRow,
        provider: Arc<dyn Provider>,
        item: WaitingItemRow,
    ) -> Result<(), StoreError> {
        let mut request: TransactionRequest =
            serde_json::from_str(&item.item).map_err(|e| corrupt("a batch item", e))?;
        if request.fees.is_none() {
            // The operator's charge, as for a single disbursement (see `crate::fees`).
            request.fees = self
                .quotation_settings
                .fee(
                    provider.name(),
                    request.currency.code(),
                    TransactionType::Disbursement,
                    &request.amount,
                )
                .map(|fee| vec![fee]);
        }
        let now = Timestamp::now();
        let server_correlation_id = Uuid::now_v7().to_string();
        let reference = Uuid::now_v7().simple().to_string();
        let transaction = Transaction::pending(
            reference.clone(),
            TransactionType::Disbursement,
            request,
            now,
        );
        let body = serde_json::to_string(&transaction).map_err(|e| corrupt("a transaction", e))?;
        let request_state = NewRequestState {
            server_correlation_id: server_correlation_id.clone(),
            client_id: batch.client_id.clone(),
            client_correlation_id: None,
            object_type: "transaction",
            object_reference: reference.clone(),
            notification_method: super::notification_method_str(NotificationMethod::Polling),
            callback_url: None,
            now_ms: now.millis(),
            // The item's operator call is logged with the request that posted the batch.
            request_id: batch.request_id.clone(),
        };
        let new_transaction = NewTransaction::of(&transaction, provider.name(), body.clone());
        let created = self
            .store
            .apply(Change::Batch(BatchChange::AcceptItem {
                batch_id: batch.batch_id.clone(),
                index: item.item_index,
                request_state,
                transaction: Box::new(new_transaction),
            }))
            .await?;
        if created == 0 {
            return Ok(()); // sent already (by an earlier round or another instance)
        }
        let row = TransactionRow {
            transaction_reference: reference.clone(),
            server_correlation_id,
            client_id: batch.client_id.clone(),
            transaction_type: TransactionType::Disbursement.as_str().to_owned(),
            status: "pending".into(),
            provider: provider.name().to_owned(),
            dispatch_state: "queued".into(),
            dispatch_attempts: 0,
            provider_reference: None,
            provider_refs: None,
            check_attempts: 0,
            in_doubt_since: None,
            body,
            callback_url: None,
            client_correlation_id: None,
            request_id: batch.request_id.clone(),
        };
        let Ok(_permit) = self.permits.clone().acquire_owned().await else {
            return Ok(());
        };
        if self.claim(&reference) {
            dispatch::dispatch(self, &row).await;
            self.release(&reference);
        }
        Ok(())
    }

    /// Completes the batch, with its callback, once none of its items waits or is pending.
    async fn complete_if_done(&self, row: &BatchRow) -> Result<(), StoreError> {
        if row.status != "processing" {
            return Ok(());
        }
        let open = self
            .store
            .batch_counts(&row.batch_id)
            .await?
            .into_iter()
            .any(|(state, n)| n > 0 && matches!(state.as_str(), "valid" | "pending"));
        if open {
            return Ok(());
        }
        let now = Timestamp::now();
        let batch = self.batch_object(row, Some(now)).await?;
        let body = serde_json::to_string(&batch).map_err(|e| corrupt("a batch", e))?;
        let callback = row.callback_url.as_ref().map(|url| NewCallback {
            claimed_until: now.millis() + self.lease_ms(),
            url: url.clone(),
            correlation_id: row.client_correlation_id.clone(),
            body,
            client_id: Some(row.client_id.clone()),
            request_id: row.request_id.clone(),
        });
        let done = self
            .store
            .apply(Change::Batch(BatchChange::Complete {
                batch_id: row.batch_id.clone(),
                server_correlation_id: row.server_correlation_id.clone(),
                callback: callback.clone(),
                now_ms: now.millis(),
            }))
            .await?;
        if done == 0 {
            return Ok(());
        }
        tracing::info!(
            batch_id = %row.batch_id,
            completed = batch.completed_count,
            rejected = batch.rejection_count,
            "batch completed"
        );
        // `done` is the callback's outbox id when one was queued.
        if let (Some(cb), Ok(id)) = (callback, i64::try_from(done)) {
            self.notifier
                .deliver_now(id, row.server_correlation_id.clone(), cb);
        }
        Ok(())
    }
}

/// The reason a rejection shows: the GSMA error's description (or its code).
fn rejection_reason(error: &GsmaError) -> String {
    error
        .error_description
        .clone()
        .unwrap_or_else(|| format!("{:?}", error.error_code))
}

fn transaction_of(row: &BatchListRow) -> Result<Option<Transaction>, StoreError> {
    row.body
        .as_deref()
        .map(|body| {
            serde_json::from_str(body).map_err(|e| corrupt("a batch item's transaction", e))
        })
        .transpose()
}

/// Starts the batch runner: it sends the items of approved batches and completes them. On SQLite this is the
/// only instance, so leases left by a stopped process are void at once.
pub fn spawn_batch_runner(engine: Arc<Engine>) {
    tokio::spawn(async move {
        if engine.store.backend() == Backend::Sqlite {
            if let Err(e) = engine
                .store
                .apply(Change::Batch(BatchChange::ReleaseLeases))
                .await
            {
                tracing::error!(error = %e, "could not release the batch leases of the previous run");
            }
        }
        let tick = Duration::from_millis(engine.batches.settings.tick_ms.max(10));
        loop {
            tokio::time::sleep(tick).await;
            if let Err(e) = engine.run_batches().await {
                tracing::warn!(error = %e, "batch round failed; will retry");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_provider_fall_back_to_the_defaults() {
        let mut settings = BatchSettings::default();
        settings
            .rate_per_sec_per_provider
            .insert("daraja".into(), 25);
        settings
            .concurrency_per_provider
            .insert("mpesa-openapi".into(), 0);
        assert_eq!(settings.rate("daraja"), 25);
        assert_eq!(settings.rate("mpesa-openapi"), 10);
        assert_eq!(settings.concurrency("daraja"), 4);
        assert_eq!(settings.concurrency("mpesa-openapi"), 1, "never zero");
        let batches = Batches::new(settings);
        let limit = batches.limit_for("daraja");
        assert_eq!(limit.interval, Duration::from_millis(40));
        assert!(Arc::ptr_eq(&limit, &batches.limit_for("daraja")));
    }

    #[tokio::test]
    async fn turns_are_spaced_by_the_rate() {
        let batches = Batches::new(BatchSettings {
            rate_per_sec: 50,
            ..BatchSettings::default()
        });
        let limit = batches.limit_for("daraja");
        let started = tokio::time::Instant::now();
        for _ in 0..6 {
            limit.wait_turn().await;
        }
        // The first turn is at once, the other five 20 ms apart.
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}

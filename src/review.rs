//! Manual review: transactions whose operator result never came and whose status queries did not settle them by
//! the give-up time ([`DispatchSettings::review_after`](crate::config::DispatchSettings::review_after)). They stay
//! `pending` (and so does their request state), the reconciler stops querying them, and a person settles each one
//! with [`resolve`] (CLI `mmapi-gateway review resolve`, or `POST /internal/review/{reference}`), which finalises
//! it through the engine so that the client's callback is sent. A late operator result still settles them.

use std::sync::Arc;
use std::time::Duration;

use mmapi_core::model::Transaction;
use mmapi_core::provider::{Completion, Outcome};
use mmapi_core::GsmaError;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::engine::dispatch::failed;
use crate::engine::Engine;
use crate::store::{Store, StoreError, TransactionRow};

/// The most transactions one listing returns.
pub const LIST_LIMIT: i64 = 1_000;

/// Why a review could not be listed or resolved.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no transaction {0}")]
    NotFound(String),
    #[error("transaction {reference} is not waiting for review (status {status}, dispatch {dispatch_state})")]
    NotInReview {
        reference: String,
        status: String,
        dispatch_state: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot deliver callbacks: {0}")]
    Http(#[from] reqwest::Error),
}

/// A transaction waiting for manual review.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewItem {
    pub transaction_reference: String,
    pub server_correlation_id: String,
    pub transaction_type: String,
    pub provider: String,
    /// The operator's reference, if it acknowledged the request.
    pub provider_reference: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    /// When the gateway accepted it (RFC 3339).
    pub creation_date: Option<String>,
    /// Status queries asked before it was given up.
    pub status_checks: i64,
    /// Whether the sending itself was in doubt (no acknowledgement from the operator).
    pub in_doubt: bool,
}

impl ReviewItem {
    fn of(row: &TransactionRow) -> Self {
        let transaction: Option<Transaction> = serde_json::from_str(&row.body).ok();
        Self {
            transaction_reference: row.transaction_reference.clone(),
            server_correlation_id: row.server_correlation_id.clone(),
            transaction_type: row.transaction_type.clone(),
            provider: row.provider.clone(),
            provider_reference: row.provider_reference.clone(),
            amount: transaction.as_ref().map(|t| t.amount.to_string()),
            currency: transaction.as_ref().map(|t| t.currency.to_string()),
            creation_date: transaction
                .as_ref()
                .and_then(|t| t.creation_date.map(|d| d.to_string())),
            status_checks: row.check_attempts,
            in_doubt: row.in_doubt_since.is_some(),
        }
    }
}

/// How a person settles a transaction in review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// The money moved (e.g. the operator's portal shows it).
    Completed,
    /// No money moved.
    Failed,
}

/// The transactions waiting for manual review, oldest first.
pub async fn list(store: &Store) -> Result<Vec<ReviewItem>, StoreError> {
    Ok(store
        .transactions_in_review(LIST_LIMIT)
        .await?
        .iter()
        .map(ReviewItem::of)
        .collect())
}

/// Finalises a transaction in review as `resolution`, queuing (and starting) its client callback.
pub async fn resolve(
    engine: &Engine,
    reference: &str,
    resolution: Resolution,
) -> Result<(), ReviewError> {
    let row = engine
        .store()
        .transaction(reference)
        .await?
        .ok_or_else(|| ReviewError::NotFound(reference.to_owned()))?;
    if row.status != "pending" || row.dispatch_state != "review" {
        return Err(ReviewError::NotInReview {
            reference: reference.to_owned(),
            status: row.status,
            dispatch_state: row.dispatch_state,
        });
    }
    let outcome = match resolution {
        Resolution::Completed => Outcome::Completed(Completion {
            receipt: None,
            completed_at: None,
        }),
        Resolution::Failed => failed(GsmaError::unavailable(
            "The operator's result never came; the transaction was settled as failed after review",
        )),
    };
    tracing::info!(
        reference,
        ?resolution,
        "transaction settled by manual review"
    );
    if engine.finalise(&row, &outcome, None).await? {
        Ok(())
    } else {
        // Settled meanwhile (e.g. by a late operator result).
        let row = engine.store().transaction(reference).await?;
        Err(ReviewError::NotInReview {
            reference: reference.to_owned(),
            status: row.as_ref().map(|r| r.status.clone()).unwrap_or_default(),
            dispatch_state: row.map(|r| r.dispatch_state).unwrap_or_default(),
        })
    }
}

/// How long [`resolve_offline`] holds the callback it queued before a running gateway may deliver it instead.
const OFFLINE_LEASE: Duration = Duration::from_secs(3);

/// [`resolve`] from outside a running gateway (the CLI): opens the store of `config`, finalises the transaction
/// and tries its callback at once; if that attempt does not succeed, the running gateway's outbox delivers it.
pub async fn resolve_offline(
    config: &Config,
    reference: &str,
    resolution: Resolution,
) -> Result<(), ReviewError> {
    let store = Store::open(
        config.database_url.as_deref(),
        &config.data_dir,
        &config.store,
    )
    .await?;
    let lease_ms = i64::try_from(OFFLINE_LEASE.as_millis()).unwrap_or(3_000);
    let notifier = crate::notify::spawn(
        store.clone(),
        config.callbacks.clone(),
        Arc::new(config.callback_policy()),
        lease_ms,
    )?;
    let mut settings = config.dispatch.clone();
    settings.claim_lease_ms = OFFLINE_LEASE.as_millis() as u64;
    let (dispatch_tx, _dispatch_rx) = mpsc::channel(1);
    let engine = Arc::new(Engine::new(
        store,
        crate::routing::Router::new(config.breaker.clone()),
        notifier,
        settings,
        dispatch_tx,
    ));
    resolve(&engine, reference, resolution).await?;
    // Give the first delivery attempt its chance before the process ends.
    tokio::time::sleep(OFFLINE_LEASE.min(Duration::from_millis(
        config.callbacks.timeout_ms.saturating_add(200),
    )))
    .await;
    Ok(())
}

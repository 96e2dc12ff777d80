//! The client-callback delivery log and redelivery (CLI `mmapi-gateway callbacks list|redeliver`). The outbox
//! keeps, for each callback, its attempts, the latest answer's status and error, and whether it is `pending`,
//! `delivered` or `abandoned`. Redelivery puts a callback back to `pending`, due at once, so that a running
//! gateway delivers it (with a fresh attempt budget).

use mmapi_core::time::Timestamp;
use serde::Serialize;

use crate::store::{Change, OutboxLogRow, Store, StoreError};

/// The most callbacks one listing returns unless told otherwise.
pub const DEFAULT_LIST_LIMIT: i64 = 1_000;

/// Why callbacks could not be listed or redelivered.
#[derive(Debug, thiserror::Error)]
pub enum CallbacksError {
    #[error("no client callback {0}")]
    NotFound(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One client callback's delivery log. Its body (the client's transaction) is left out.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackItem {
    /// The outbox id, for `callbacks redeliver`.
    pub id: i64,
    pub server_correlation_id: String,
    pub url: String,
    /// `pending`, `delivered` or `abandoned`.
    pub state: String,
    pub attempts: i64,
    /// The HTTP status of the latest attempt, if it got an answer.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub delivered_at: Option<String>,
}

impl CallbackItem {
    fn of(row: OutboxLogRow) -> Self {
        Self {
            id: row.id,
            server_correlation_id: row.server_correlation_id,
            url: row.url,
            state: row.state,
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: Timestamp::from_millis(row.created_at).to_string(),
            delivered_at: row
                .delivered_at
                .map(|ms| Timestamp::from_millis(ms).to_string()),
        }
    }
}

/// Up to `limit` callbacks, in `state` if given, newest first.
pub async fn list(
    store: &Store,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<CallbackItem>, StoreError> {
    Ok(store
        .callback_log(state, limit)
        .await?
        .into_iter()
        .map(CallbackItem::of)
        .collect())
}

/// Puts the callbacks `ids` back to `pending`, due now; a running gateway delivers them. Stops at the first id
/// the outbox does not hold.
pub async fn redeliver(store: &Store, ids: &[i64]) -> Result<(), CallbacksError> {
    for &id in ids {
        let now_ms = Timestamp::now().millis();
        if store.apply(Change::Redeliver { id, now_ms }).await? == 0 {
            return Err(CallbacksError::NotFound(id));
        }
        tracing::info!(id, "client callback queued for redelivery");
    }
    Ok(())
}

/// Puts every abandoned callback back to `pending`; returns their ids.
pub async fn redeliver_abandoned(store: &Store) -> Result<Vec<i64>, CallbacksError> {
    let ids = store.abandoned_callback_ids().await?;
    redeliver(store, &ids).await?;
    Ok(ids)
}

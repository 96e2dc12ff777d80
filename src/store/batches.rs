//! Bulk disbursements (`/batchtransactions`): what is stored of a batch and its items, their reads (through the
//! pool) and the writes the group-commit writer applies for them ([`Change::Batch`](super::Change::Batch)).
//!
//! An item's transaction is an ordinary transaction; the item only points at it, so the dispatcher, the
//! reconciler and crash recovery carry it like any other.

use sqlx::FromRow;

use super::conn::WriteConn;
use super::writer::{
    accept as accept_transaction, queue_callback, request_state_params, CLAIM_REQUEST_STATE,
};
use super::{AcceptResult, NewCallback, NewRequestState, NewTransaction, Store, StoreError};

/// A batch as stored.
#[derive(Clone, Debug, FromRow)]
pub struct BatchRow {
    pub batch_id: String,
    pub server_correlation_id: String,
    /// The client that posted it (the maker).
    pub client_id: String,
    /// `created`, `approved`, `processing` or `completed`.
    pub status: String,
    /// The GSMA fields the gateway only echoes (JSON object).
    pub meta: String,
    pub item_count: i64,
    pub parsing_success_count: i64,
    /// ms since the epoch.
    pub scheduled_start_at: Option<i64>,
    pub approved_at: Option<i64>,
    pub approved_by: Option<String>,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Where the client wants the batch callback, from the request state.
    pub callback_url: Option<String>,
    /// The client's `X-CorrelationID`, from the request state.
    pub client_correlation_id: Option<String>,
    /// The `X-Request-ID` of the request that posted the batch, from the request state.
    pub request_id: Option<String>,
}

/// An item waiting to be sent.
#[derive(Clone, Debug, FromRow)]
pub struct WaitingItemRow {
    pub item_index: i64,
    /// The operator it routes to.
    pub provider: Option<String>,
    /// The posted item (JSON).
    pub item: String,
}

/// A row of `/completions` or `/rejections`.
#[derive(Clone, Debug, FromRow)]
pub struct BatchListRow {
    pub item_index: i64,
    /// The posted item (JSON).
    pub item: String,
    /// Why it was rejected when posted.
    pub rejection_reason: Option<String>,
    pub transaction_reference: Option<String>,
    /// The item's transaction (JSON), once sent.
    pub body: Option<String>,
    /// The GSMA error object (JSON) of a failed transaction.
    pub error: Option<String>,
    /// When it completed or was rejected, ms since the epoch.
    pub at: i64,
}

/// A new batch with all its items.
#[derive(Clone, Debug)]
pub struct NewBatch {
    pub request_state: NewRequestState,
    pub batch_id: String,
    /// `created` (waits for approval) or `approved`.
    pub status: &'static str,
    pub meta: String,
    pub parsing_success_count: i64,
    pub scheduled_start_at: Option<i64>,
    pub items: Vec<NewBatchItem>,
}

/// One item of a new batch.
#[derive(Clone, Debug)]
pub struct NewBatchItem {
    pub index: i64,
    /// `valid` or `rejected`.
    pub status: &'static str,
    pub provider: Option<String>,
    pub item: String,
    pub rejection_reason: Option<String>,
}

/// Changes to batches.
#[derive(Clone, Debug)]
pub enum BatchChange {
    /// Claims the idempotency key and stores the batch with its items; 0 rows when the correlation id was used.
    Accept(Box<NewBatch>),
    /// A `created` batch is approved; 0 rows when it was not `created`.
    Approve {
        batch_id: String,
        approved_by: String,
        now_ms: i64,
    },
    /// Takes (or keeps) the batch for this instance until `until`, if it is due and no other instance holds it;
    /// an `approved` batch becomes `processing`. 0 rows when not taken.
    Claim {
        batch_id: String,
        owner: String,
        now_ms: i64,
        until: i64,
    },
    /// Turns a waiting item into its transaction, in one database transaction; 0 rows when the item was not
    /// waiting any more (nothing is created).
    AcceptItem {
        batch_id: String,
        index: i64,
        request_state: NewRequestState,
        transaction: Box<NewTransaction>,
    },
    /// Every item is final: the batch is completed, its request state too, and its callback is queued. 0 when it
    /// was not `processing`; else the callback's outbox id, or 1 without a callback.
    Complete {
        batch_id: String,
        server_correlation_id: String,
        callback: Option<NewCallback>,
        now_ms: i64,
    },
    /// After a start of the only instance: leases of the stopped process are void.
    ReleaseLeases,
}

pub(super) const BATCH_COLUMNS: &str = "SELECT b.batch_id, b.server_correlation_id, b.client_id, b.status, b.meta, \
    b.item_count, b.parsing_success_count, b.scheduled_start_at, b.approved_at, b.approved_by, b.completed_at, \
    b.created_at, b.updated_at, r.callback_url, r.client_correlation_id, r.request_id \
    FROM batches b JOIN request_states r ON r.server_correlation_id = b.server_correlation_id";

/// Items listed by `/completions` and `/rejections`, with their date (`at`).
const LIST_FROM: &str = "FROM batch_items i JOIN batches b ON b.batch_id = i.batch_id \
    LEFT JOIN transactions t ON t.transaction_reference = i.transaction_reference \
    LEFT JOIN request_states r ON r.server_correlation_id = t.server_correlation_id \
    WHERE i.batch_id = $1";

const LIST_AT: &str = "COALESCE(t.updated_at, b.created_at)";

/// Filters of a batch's completions or rejections.
#[derive(Clone, Debug, Default)]
pub struct BatchListQuery {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

impl Store {
    /// A batch by its id.
    pub async fn batch(&self, batch_id: &str) -> Result<Option<BatchRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, BatchRow>(&format!("{BATCH_COLUMNS} WHERE b.batch_id = $1"))
                .bind(batch_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Batches due for work that `owner` may take: approved or processing, past their scheduled start, and
    /// held by no other instance.
    pub async fn due_batches(&self, owner: &str, now_ms: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT batch_id FROM batches WHERE status IN ('approved', 'processing') \
             AND (scheduled_start_at IS NULL OR scheduled_start_at <= $1) \
             AND (lease_until IS NULL OR lease_until <= $1 OR lease_owner = $2) ORDER BY created_at LIMIT 100",
        )
        .bind(now_ms)
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The first `limit` items of a batch still waiting to be sent, in their order.
    pub async fn waiting_items(
        &self,
        batch_id: &str,
        limit: i64,
    ) -> Result<Vec<WaitingItemRow>, StoreError> {
        Ok(sqlx::query_as::<_, WaitingItemRow>(
            "SELECT item_index, provider, item FROM batch_items WHERE batch_id = $1 AND status = 'valid' \
             ORDER BY item_index LIMIT $2",
        )
        .bind(batch_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many items of a batch are in each state: `rejected`, `valid` (waiting), or the status of the item's
    /// transaction (`pending`, `completed`, `failed`, `reversed`).
    pub async fn batch_counts(&self, batch_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (String, i64)>(
            "SELECT CASE WHEN i.status = 'submitted' THEN COALESCE(t.status, 'pending') ELSE i.status END AS s, \
             COUNT(*) FROM batch_items i LEFT JOIN transactions t ON t.transaction_reference = i.transaction_reference \
             WHERE i.batch_id = $1 GROUP BY 1",
        )
        .bind(batch_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A batch's completed items, newest first, with how many match in all.
    pub async fn batch_completions(
        &self,
        batch_id: &str,
        q: &BatchListQuery,
    ) -> Result<(i64, Vec<BatchListRow>), StoreError> {
        self.batch_list(
            batch_id,
            "i.status = 'submitted' AND t.status IN ('completed', 'reversed')",
            q,
        )
        .await
    }

    /// A batch's rejected items (invalid when posted, or failed at the operator), newest first, with how many
    /// match in all.
    pub async fn batch_rejections(
        &self,
        batch_id: &str,
        q: &BatchListQuery,
    ) -> Result<(i64, Vec<BatchListRow>), StoreError> {
        self.batch_list(
            batch_id,
            "(i.status = 'rejected' OR (i.status = 'submitted' AND t.status = 'failed'))",
            q,
        )
        .await
    }

    async fn batch_list(
        &self,
        batch_id: &str,
        which: &str,
        q: &BatchListQuery,
    ) -> Result<(i64, Vec<BatchListRow>), StoreError> {
        let mut filter = format!(" AND {which}");
        if q.from_ms.is_some() {
            filter.push_str(&format!(" AND {LIST_AT} >= $2"));
        }
        if q.to_ms.is_some() {
            filter.push_str(&format!(" AND {LIST_AT} <= $3"));
        }
        // Unused placeholders are bound too (as a value no row passes), so both databases see $2 and $3.
        let (from, to) = (q.from_ms.unwrap_or(i64::MIN), q.to_ms.unwrap_or(i64::MAX));
        let count_sql = format!("SELECT COUNT(*) {LIST_FROM}{filter} AND $2 <= $3");
        let (total,): (i64,) = sqlx::query_as(&count_sql)
            .bind(batch_id)
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query_as::<_, BatchListRow>(&format!(
            "SELECT i.item_index, i.item, i.rejection_reason, i.transaction_reference, t.body, r.error, \
             {LIST_AT} AS at {LIST_FROM}{filter} AND $2 <= $3 ORDER BY {LIST_AT} DESC, i.item_index DESC \
             LIMIT $4 OFFSET $5"
        ))
        .bind(batch_id)
        .bind(from)
        .bind(to)
        .bind(q.limit)
        .bind(q.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((total, rows))
    }
}

/// Applies a [`BatchChange`] in the writer's database transaction.
pub(super) async fn apply<C: WriteConn>(
    conn: &mut C,
    change: &BatchChange,
) -> Result<u64, StoreError> {
    match change {
        BatchChange::Accept(b) => accept(conn, b).await,
        BatchChange::Approve {
            batch_id,
            approved_by,
            now_ms,
        } => {
            conn.execute(
                "UPDATE batches SET status = 'approved', approved_at = $3, approved_by = $2, updated_at = $3 \
                 WHERE batch_id = $1 AND status = 'created'",
                &[batch_id.into(), approved_by.into(), (*now_ms).into()],
            )
            .await
        }
        BatchChange::Claim {
            batch_id,
            owner,
            now_ms,
            until,
        } => {
            conn.execute(
                "UPDATE batches SET status = CASE WHEN status = 'approved' THEN 'processing' ELSE status END, \
                 lease_owner = $2, lease_until = $4, updated_at = $3 \
                 WHERE batch_id = $1 AND status IN ('approved', 'processing') \
                 AND (scheduled_start_at IS NULL OR scheduled_start_at <= $3) \
                 AND (lease_until IS NULL OR lease_until <= $3 OR lease_owner = $2)",
                &[
                    batch_id.into(),
                    owner.into(),
                    (*now_ms).into(),
                    (*until).into(),
                ],
            )
            .await
        }
        BatchChange::AcceptItem {
            batch_id,
            index,
            request_state,
            transaction,
        } => {
            let taken = conn
                .execute(
                    "UPDATE batch_items SET status = 'submitted', transaction_reference = $3 \
                     WHERE batch_id = $1 AND item_index = $2 AND status = 'valid'",
                    &[
                        batch_id.into(),
                        (*index).into(),
                        (&transaction.transaction_reference).into(),
                    ],
                )
                .await?;
            if taken == 0 {
                return Ok(0);
            }
            match accept_transaction(conn, request_state, transaction).await? {
                AcceptResult::Accepted => Ok(1),
                AcceptResult::Duplicate { .. } => Err(StoreError::Corrupt(
                    "a batch item's transaction collided with another request".into(),
                )),
            }
        }
        BatchChange::Complete {
            batch_id,
            server_correlation_id,
            callback,
            now_ms,
        } => {
            let changed = conn
                .execute(
                    "UPDATE batches SET status = 'completed', completed_at = $2, updated_at = $2, \
                     lease_owner = NULL, lease_until = NULL WHERE batch_id = $1 AND status = 'processing'",
                    &[batch_id.into(), (*now_ms).into()],
                )
                .await?;
            if changed == 0 {
                return Ok(0);
            }
            conn.execute(
                "UPDATE request_states SET status = 'completed', updated_at = $2 WHERE server_correlation_id = $1",
                &[server_correlation_id.into(), (*now_ms).into()],
            )
            .await?;
            match callback {
                Some(cb) => {
                    let id = queue_callback(conn, server_correlation_id, cb, *now_ms).await?;
                    Ok(u64::try_from(id).unwrap_or(1).max(1))
                }
                None => Ok(1),
            }
        }
        BatchChange::ReleaseLeases => {
            conn.execute(
                "UPDATE batches SET lease_owner = NULL, lease_until = NULL \
                 WHERE status IN ('approved', 'processing')",
                &[],
            )
            .await
        }
    }
}

async fn accept<C: WriteConn>(conn: &mut C, b: &NewBatch) -> Result<u64, StoreError> {
    let rs = &b.request_state;
    let inserted = conn
        .execute(CLAIM_REQUEST_STATE, &request_state_params(rs, "pending"))
        .await?;
    if inserted == 0 {
        return Ok(0);
    }
    let approved_at = (b.status == "approved").then_some(rs.now_ms);
    let item_count = i64::try_from(b.items.len()).unwrap_or(i64::MAX);
    conn.execute(
        "INSERT INTO batches (batch_id, server_correlation_id, client_id, status, meta, item_count, \
         parsing_success_count, scheduled_start_at, approved_at, approved_by, completed_at, lease_owner, \
         lease_until, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, NULL, $11, $11)",
        &[
            (&b.batch_id).into(),
            (&rs.server_correlation_id).into(),
            (&rs.client_id).into(),
            b.status.into(),
            (&b.meta).into(),
            item_count.into(),
            b.parsing_success_count.into(),
            b.scheduled_start_at.into(),
            approved_at.into(),
            approved_at.map(|_| rs.client_id.as_str()).into(),
            rs.now_ms.into(),
        ],
    )
    .await?;
    for item in &b.items {
        conn.execute(
            "INSERT INTO batch_items (batch_id, item_index, status, provider, item, rejection_reason, \
             transaction_reference) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
            &[
                (&b.batch_id).into(),
                item.index.into(),
                item.status.into(),
                (&item.provider).into(),
                (&item.item).into(),
                (&item.rejection_reason).into(),
            ],
        )
        .await?;
    }
    Ok(1)
}

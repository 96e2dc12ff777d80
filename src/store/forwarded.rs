//! Requests forwarded to a GSMA-speaking operator ([`crate::api::forward`]): who sent each, to which operator,
//! and what the operator answered. Reads go through the pool; the writes are the group-commit writer's
//! ([`Change::ClaimForward`](super::Change::ClaimForward), [`Change::ForwardAnswered`](super::Change::ForwardAnswered),
//! [`Change::RelayForwarded`](super::Change::RelayForwarded)).

use sqlx::FromRow;

use super::conn::WriteConn;
use super::writer::{queue_callback, request_state_params, CLAIM_REQUEST_STATE};
use super::{NewCallback, NewRequestState, Store, StoreError};

/// The `object_type` of the request state that claims a forwarded request's idempotency key.
pub const FORWARDED: &str = "forwarded";

/// A forwarded request as stored.
#[derive(Clone, Debug, FromRow)]
pub struct ForwardedRow {
    /// The `X-CorrelationID` the gateway sent the operator.
    pub operator_correlation_id: String,
    /// The client that sent it: no other client reads what it made.
    pub client_id: String,
    /// The operator (`[[providers.mmapi]]` name) it went to.
    pub operator: String,
    pub method: String,
    /// The path below the API root, as the client sent it.
    pub path: String,
    /// The operator's HTTP status; `None` while no answer was received.
    pub answer_status: Option<i64>,
    /// The operator's `serverCorrelationId` of an asynchronous answer.
    pub operator_server_correlation_id: Option<String>,
    /// The reference of what the request created (a quotation, a code, a link…), once known.
    pub object_reference: Option<String>,
}

/// A request about to be forwarded.
#[derive(Clone, Debug)]
pub struct NewForward {
    pub operator_correlation_id: String,
    pub client_id: String,
    /// The client's `X-CorrelationID`, claimed as its idempotency key.
    pub client_correlation_id: Option<String>,
    pub operator: String,
    pub method: String,
    pub path: String,
    pub callback_url: Option<String>,
    pub now_ms: i64,
    pub request_id: Option<String>,
}

/// What the operator answered a forwarded request, or later told of it.
#[derive(Clone, Debug)]
pub struct ForwardAnswer {
    pub operator_correlation_id: String,
    /// The operator's HTTP status (`None`: only the ids below are news, e.g. from a request state read later).
    pub status: Option<i64>,
    pub operator_server_correlation_id: Option<String>,
    pub object_reference: Option<String>,
    /// For an asynchronous answer to a client that wants a callback: when to ask the operator for the outcome if
    /// its callback has not come by then.
    pub check_at: Option<i64>,
    pub now_ms: i64,
}

/// A forwarded request whose outcome is owed to its client and due to be asked of the operator.
#[derive(Clone, Debug, FromRow)]
pub struct DueRelay {
    pub operator_correlation_id: String,
    pub operator: String,
    pub operator_server_correlation_id: Option<String>,
    pub next_check_at: i64,
    pub created_at: i64,
    pub client_id: String,
    pub client_correlation_id: Option<String>,
    pub callback_url: String,
}

/// An operator's callback for a forwarded request, to relay to its client.
#[derive(Clone, Debug)]
pub struct ForwardRelay {
    pub operator_correlation_id: String,
    /// The reference of what the callback says was created, if it names one.
    pub object_reference: Option<String>,
    /// The callback to the client: the operator's body under the client's `X-CorrelationID`.
    pub callback: NewCallback,
    pub now_ms: i64,
}

const COLUMNS: &str = "operator_correlation_id, client_id, operator, method, path, answer_status, \
    operator_server_correlation_id, object_reference";

impl Store {
    /// A forwarded request by the `X-CorrelationID` the gateway sent the operator.
    pub async fn forwarded(
        &self,
        operator_correlation_id: &str,
    ) -> Result<Option<ForwardedRow>, StoreError> {
        self.forwarded_where("operator_correlation_id", operator_correlation_id)
            .await
    }

    /// The forwarded request the operator answered with this `serverCorrelationId`.
    pub async fn forwarded_by_operator_state(
        &self,
        server_correlation_id: &str,
    ) -> Result<Option<ForwardedRow>, StoreError> {
        self.forwarded_where("operator_server_correlation_id", server_correlation_id)
            .await
    }

    /// The forwarded request that created the object with this reference.
    pub async fn forwarded_by_object(
        &self,
        object_reference: &str,
    ) -> Result<Option<ForwardedRow>, StoreError> {
        self.forwarded_where("object_reference", object_reference)
            .await
    }

    /// Up to `limit` forwarded requests whose outcome is owed to their client and due to be asked of the operator
    /// at `now_ms`, the most overdue first.
    pub async fn forwarded_relays_due(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueRelay>, StoreError> {
        Ok(sqlx::query_as::<_, DueRelay>(
            "SELECT f.operator_correlation_id, f.operator, f.operator_server_correlation_id, f.next_check_at, \
             f.created_at, r.client_id, r.client_correlation_id, r.callback_url FROM forwarded_requests f \
             JOIN request_states r ON r.server_correlation_id = f.operator_correlation_id \
             WHERE f.relayed_at IS NULL AND f.next_check_at <= $1 AND r.callback_url IS NOT NULL \
             ORDER BY f.next_check_at LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn forwarded_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<ForwardedRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM forwarded_requests WHERE {column} = $1 \
             ORDER BY created_at LIMIT 1"
        );
        Ok(sqlx::query_as::<_, ForwardedRow>(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?)
    }
}

/// Claims the client's idempotency key and records the request; 0 rows when the client already used the
/// correlation id (for a forwarded request or one of the gateway's own).
pub(super) async fn claim<C: WriteConn>(
    conn: &mut C,
    forward: &NewForward,
) -> Result<u64, StoreError> {
    let request_state = NewRequestState {
        server_correlation_id: forward.operator_correlation_id.clone(),
        client_id: forward.client_id.clone(),
        client_correlation_id: forward.client_correlation_id.clone(),
        object_type: FORWARDED,
        object_reference: forward.operator_correlation_id.clone(),
        notification_method: if forward.callback_url.is_some() {
            "callback"
        } else {
            "polling"
        },
        callback_url: forward.callback_url.clone(),
        now_ms: forward.now_ms,
        request_id: forward.request_id.clone(),
    };
    let inserted = conn
        .execute(
            CLAIM_REQUEST_STATE,
            &request_state_params(&request_state, "pending"),
        )
        .await?;
    if inserted == 0 {
        return Ok(0);
    }
    conn.execute(
        "INSERT INTO forwarded_requests (operator_correlation_id, client_id, operator, method, path, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        &[
            (&forward.operator_correlation_id).into(),
            (&forward.client_id).into(),
            (&forward.operator).into(),
            (&forward.method).into(),
            (&forward.path).into(),
            forward.now_ms.into(),
        ],
    )
    .await
}

/// Records the operator's answer (or ids learnt later); an id already known is kept.
pub(super) async fn answered<C: WriteConn>(
    conn: &mut C,
    answer: &ForwardAnswer,
) -> Result<u64, StoreError> {
    let changed = conn
        .execute(
            "UPDATE forwarded_requests SET answer_status = COALESCE($2, answer_status), \
             operator_server_correlation_id = COALESCE(operator_server_correlation_id, $3), \
             object_reference = COALESCE(object_reference, $4), updated_at = $5, \
             next_check_at = CASE WHEN relayed_at IS NULL THEN COALESCE($6, next_check_at) END \
             WHERE operator_correlation_id = $1",
            &[
                (&answer.operator_correlation_id).into(),
                answer.status.into(),
                (&answer.operator_server_correlation_id).into(),
                (&answer.object_reference).into(),
                answer.now_ms.into(),
                answer.check_at.into(),
            ],
        )
        .await?;
    if answer.status.is_some() {
        conn.execute(
            "UPDATE request_states SET status = 'completed', updated_at = $2 \
             WHERE server_correlation_id = $1 AND status = 'pending'",
            &[
                (&answer.operator_correlation_id).into(),
                answer.now_ms.into(),
            ],
        )
        .await?;
    }
    Ok(changed)
}

/// Forgets a forwarded request the operator refused outright (a 4xx: nothing was created), so that the client
/// may send it again, corrected, under the same `X-CorrelationID`.
pub(super) async fn release<C: WriteConn>(
    conn: &mut C,
    operator_correlation_id: &str,
) -> Result<u64, StoreError> {
    conn.execute(
        "DELETE FROM request_states WHERE server_correlation_id = $1 AND object_type = 'forwarded'",
        &[operator_correlation_id.into()],
    )
    .await?;
    conn.execute(
        "DELETE FROM forwarded_requests WHERE operator_correlation_id = $1",
        &[operator_correlation_id.into()],
    )
    .await
}

/// Records what an operator's callback says was created and queues it for the client: 1 row (the callback), or 0
/// when an outcome was relayed already (the operator's callback repeated, or one that came after the gateway had
/// asked the operator for the outcome), which is not sent again.
pub(super) async fn relay<C: WriteConn>(
    conn: &mut C,
    relay: &ForwardRelay,
) -> Result<u64, StoreError> {
    let marked_relayed = conn
        .execute(
            "UPDATE forwarded_requests SET object_reference = COALESCE(object_reference, $2), updated_at = $3, \
             relayed_at = $3, next_check_at = NULL WHERE operator_correlation_id = $1 AND relayed_at IS NULL",
            &[
                (&relay.operator_correlation_id).into(),
                (&relay.object_reference).into(),
                relay.now_ms.into(),
            ],
        )
        .await?;
    if marked_relayed == 0 {
        return Ok(0);
    }
    queue_callback(
        conn,
        &relay.operator_correlation_id,
        &relay.callback,
        relay.now_ms,
    )
    .await?;
    Ok(1)
}

/// Takes the check of a due relay (0 rows when another instance took it, or its callback came, since it was
/// read): the next check, if the outcome is still unknown then, is at `next_check_at`.
pub(super) async fn postpone<C: WriteConn>(
    conn: &mut C,
    operator_correlation_id: &str,
    seen_check_at: i64,
    next_check_at: i64,
) -> Result<u64, StoreError> {
    conn.execute(
        "UPDATE forwarded_requests SET next_check_at = $3 \
         WHERE operator_correlation_id = $1 AND next_check_at = $2 AND relayed_at IS NULL",
        &[
            operator_correlation_id.into(),
            seen_check_at.into(),
            next_check_at.into(),
        ],
    )
    .await
}

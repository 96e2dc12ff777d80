//! A transaction's story (`transaction_events`): one row per step, written by the group-commit writer in the
//! same database transaction as the state change the step records, and read back for the dashboard.

use serde_json::{json, Map, Value};

use super::conn::WriteConn;
use super::{Change, EventRow, Store, StoreError};

/// A step a bookkeeping change adds to a story, when the change took effect.
pub(super) enum Step<'a> {
    /// A step of the transaction `reference`.
    Transaction {
        reference: &'a str,
        at_ms: i64,
        kind: &'static str,
        detail: Option<String>,
    },
    /// A step of the transaction whose client callback is the outbox row `id`.
    Callback {
        id: i64,
        at_ms: i64,
        kind: &'static str,
        detail: String,
    },
}

fn transaction<'a>(
    reference: &'a str,
    at_ms: i64,
    kind: &'static str,
    detail: Option<String>,
) -> Step<'a> {
    Step::Transaction {
        reference,
        at_ms,
        kind,
        detail,
    }
}

/// The step `change` adds, if any.
pub(super) fn step_of(change: &Change) -> Option<Step<'_>> {
    Some(match change {
        Change::Sending {
            transaction_reference,
            now_ms,
            ..
        } => transaction(transaction_reference, *now_ms, "dispatched", None),
        Change::Acknowledged {
            transaction_reference,
            provider_refs,
            now_ms,
            ..
        } => transaction(
            transaction_reference,
            *now_ms,
            "acknowledged",
            Some(provider_refs.clone()),
        ),
        Change::RetryDispatch {
            transaction_reference,
            now_ms,
            ..
        } => transaction(transaction_reference, *now_ms, "retry", None),
        Change::InDoubt {
            transaction_reference,
            now_ms,
            ..
        } => transaction(transaction_reference, *now_ms, "in_doubt", None),
        Change::Resent {
            transaction_reference,
            answer,
            now_ms,
        } => transaction(
            transaction_reference,
            *now_ms,
            "resent",
            Some(answer.clone()),
        ),
        Change::Review {
            transaction_reference,
            now_ms,
        } => transaction(transaction_reference, *now_ms, "review", None),
        Change::Cancel(c) => transaction(&c.transaction_reference, c.now_ms, "cancelled", Some(c.error.clone())),
        Change::CallbackDelivered { id, status, now_ms } => Step::Callback {
            id: *id,
            at_ms: *now_ms,
            kind: "callback",
            detail: json!({"outboxId": id, "status": status, "delivered": true}).to_string(),
        },
        Change::CallbackFailed {
            id,
            status,
            error,
            give_up,
            now_ms,
            ..
        } => Step::Callback {
            id: *id,
            at_ms: *now_ms,
            kind: "callback",
            detail: json!({"outboxId": id, "status": status, "error": error, "delivered": false, "gaveUp": give_up})
                .to_string(),
        },
        Change::Redeliver { id, now_ms } => Step::Callback {
            id: *id,
            at_ms: *now_ms,
            kind: "callback_redeliver",
            detail: json!({"outboxId": id}).to_string(),
        },
        _ => return None,
    })
}

/// Records `step` (the change it comes from took effect).
pub(super) async fn record_step<C: WriteConn>(
    conn: &mut C,
    step: &Step<'_>,
) -> Result<(), StoreError> {
    match step {
        Step::Transaction {
            reference,
            at_ms,
            kind,
            detail,
        } => record(conn, reference, *at_ms, kind, detail.as_deref()).await,
        Step::Callback {
            id,
            at_ms,
            kind,
            detail,
        } => {
            // The callback's transaction is the one of its request state (a callback of a batch, a mandate or
            // a quotation has none, and adds no step). Every table is reached by its primary key: a join on
            // transactions.server_correlation_id, which has no index, read the whole table for each callback.
            conn.execute(
                "INSERT INTO transaction_events (transaction_reference, at_ms, kind, detail) \
                 SELECT t.transaction_reference, $2, $3, $4 FROM outbox o \
                 JOIN request_states r ON r.server_correlation_id = o.server_correlation_id \
                 JOIN transactions t ON t.transaction_reference = r.object_reference \
                 AND t.server_correlation_id = o.server_correlation_id \
                 WHERE o.id = $1 AND r.object_type = 'transaction'",
                &[(*id).into(), (*at_ms).into(), (*kind).into(), detail.into()],
            )
            .await
            .map(|_| ())
        }
    }
}

/// Adds a step to the story of the transaction `reference`.
pub(super) async fn record<C: WriteConn>(
    conn: &mut C,
    reference: &str,
    at_ms: i64,
    kind: &str,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO transaction_events (transaction_reference, at_ms, kind, detail) VALUES ($1, $2, $3, $4)",
        &[reference.into(), at_ms.into(), kind.into(), detail.into()],
    )
    .await
    .map(|_| ())
}

/// A JSON object of the pairs whose value is known.
pub(crate) fn detail(pairs: &[(&str, Option<&str>)]) -> String {
    let object: Map<String, Value> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| ((*k).to_owned(), Value::from(v))))
        .collect();
    Value::Object(object).to_string()
}

impl Store {
    /// The story of the transaction `reference`, in the order it happened.
    pub async fn transaction_events(&self, reference: &str) -> Result<Vec<EventRow>, StoreError> {
        Ok(sqlx::query_as::<_, EventRow>(
            "SELECT at_ms, kind, detail FROM transaction_events WHERE transaction_reference = $1 ORDER BY id",
        )
        .bind(reference)
        .fetch_all(&self.pool)
        .await?)
    }
}

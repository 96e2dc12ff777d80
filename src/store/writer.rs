//! The group-commit writer: one connection, one task, many changes per database transaction.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::{AnyConnection, Connection, Row};
use tokio::sync::{mpsc, oneshot};

use super::records::*;
use super::{Backend, StoreError, WriterStats, TRANSACTION_COLUMNS};

/// The most changes one commit carries.
const MAX_BATCH: usize = 1024;

type Reply = oneshot::Sender<Result<WriteReply, StoreError>>;

/// A change waiting for the writer.
pub(super) enum WriteOp {
    Accept {
        rs: NewRequestState,
        tx: NewTransaction,
        reply: Reply,
    },
    Change {
        change: Change,
        reply: Reply,
    },
    Finalise {
        f: Finalisation,
        reply: Reply,
    },
    Claim {
        claim: Claim,
        reply: Reply,
    },
    Incoming {
        incoming: NewIncoming,
        reply: Reply,
    },
}

/// Due work claimed by this instance until a lease ends.
pub(super) enum Claim {
    Transactions {
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    },
    Callbacks {
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    },
}

impl WriteOp {
    fn reply(self) -> Reply {
        match self {
            WriteOp::Accept { reply, .. }
            | WriteOp::Change { reply, .. }
            | WriteOp::Finalise { reply, .. }
            | WriteOp::Claim { reply, .. }
            | WriteOp::Incoming { reply, .. } => reply,
        }
    }
}

/// The writer's answer to one change.
pub(super) enum WriteReply {
    Accepted(AcceptResult),
    /// Rows the change touched.
    Done(u64),
    Finalised(Option<FinaliseResult>),
    ClaimedTransactions(Vec<TransactionRow>),
    ClaimedCallbacks(Vec<OutboxRow>),
    Incoming(IncomingResult),
}

#[derive(Default)]
pub(super) struct SharedStats {
    commits: AtomicU64,
    operations: AtomicU64,
}

impl SharedStats {
    pub(super) fn snapshot(&self) -> WriterStats {
        WriterStats {
            commits: self.commits.load(Ordering::Relaxed),
            operations: self.operations.load(Ordering::Relaxed),
        }
    }
}

/// Runs until every sender is dropped.
pub(super) async fn run(
    backend: Backend,
    mut conn: AnyConnection,
    mut rx: mpsc::Receiver<WriteOp>,
    stats: std::sync::Arc<SharedStats>,
) {
    let mut batch: Vec<WriteOp> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        match commit_batch(backend, &mut conn, &batch).await {
            Ok(replies) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                stats.operations.fetch_add(n, Ordering::Relaxed);
                for (op, reply) in batch.drain(..).zip(replies) {
                    let _ = op.reply().send(Ok(reply));
                }
            }
            Err(batch_error) => {
                // One change may have spoilt the batch: apply each on its own, so the others still land.
                tracing::warn!(error = %batch_error, size = n, "group commit failed; retrying its changes one by one");
                for op in batch.drain(..) {
                    let result = commit_batch(backend, &mut conn, std::slice::from_ref(&op)).await;
                    if result.is_ok() {
                        stats.commits.fetch_add(1, Ordering::Relaxed);
                        stats.operations.fetch_add(1, Ordering::Relaxed);
                    }
                    let reply = result.map(|mut r| r.remove(0)).map_err(StoreError::from);
                    let _ = op.reply().send(reply);
                }
            }
        }
    }
}

async fn commit_batch(
    backend: Backend,
    conn: &mut AnyConnection,
    batch: &[WriteOp],
) -> Result<Vec<WriteReply>, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let mut replies = Vec::with_capacity(batch.len());
    for op in batch {
        let reply = match op {
            WriteOp::Accept { rs, tx: t, .. } => {
                WriteReply::Accepted(accept(&mut tx, rs, t).await?)
            }
            WriteOp::Change { change, .. } => WriteReply::Done(apply(&mut tx, change).await?),
            WriteOp::Finalise { f, .. } => WriteReply::Finalised(finalise(&mut tx, f).await?),
            WriteOp::Claim { claim, .. } => claim_due(backend, &mut tx, claim).await?,
            WriteOp::Incoming { incoming, .. } => {
                WriteReply::Incoming(record_incoming(&mut tx, incoming).await?)
            }
        };
        replies.push(reply);
    }
    tx.commit().await?;
    Ok(replies)
}

/// How long a freshly accepted transaction may wait for the dispatcher before the reconciler sends it.
const DISPATCH_GRACE_MS: i64 = 10_000;

async fn accept(
    conn: &mut AnyConnection,
    rs: &NewRequestState,
    t: &NewTransaction,
) -> Result<AcceptResult, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO request_states (server_correlation_id, client_id, client_correlation_id, object_type, \
         object_reference, status, notification_method, callback_url, error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, NULL, $8, $8) \
         ON CONFLICT (client_id, client_correlation_id) DO NOTHING",
    )
    .bind(&rs.server_correlation_id)
    .bind(&rs.client_id)
    .bind(&rs.client_correlation_id)
    .bind(rs.object_type)
    .bind(&rs.object_reference)
    .bind(rs.notification_method)
    .bind(&rs.callback_url)
    .bind(rs.now_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        let existing = sqlx::query(
            "SELECT server_correlation_id, object_type, object_reference FROM request_states \
             WHERE client_id = $1 AND client_correlation_id = $2",
        )
        .bind(&rs.client_id)
        .bind(&rs.client_correlation_id)
        .fetch_one(&mut *conn)
        .await?;
        return Ok(AcceptResult::Duplicate {
            server_correlation_id: existing.try_get(0)?,
            object_type: existing.try_get(1)?,
            object_reference: existing.try_get(2)?,
        });
    }
    sqlx::query(
        "INSERT INTO transactions (transaction_reference, server_correlation_id, client_id, transaction_type, \
         status, provider, dispatch_state, next_check_at, body, created_at, updated_at, debit_account, \
         credit_account) VALUES ($1, $2, $3, $4, 'pending', $5, 'queued', $6, $7, $8, $8, $9, $10)",
    )
    .bind(&t.transaction_reference)
    .bind(&rs.server_correlation_id)
    .bind(&rs.client_id)
    .bind(t.transaction_type)
    .bind(&t.provider)
    .bind(rs.now_ms + DISPATCH_GRACE_MS)
    .bind(&t.body)
    .bind(rs.now_ms)
    .bind(&t.debit_account)
    .bind(&t.credit_account)
    .execute(&mut *conn)
    .await?;
    Ok(AcceptResult::Accepted)
}

async fn apply(conn: &mut AnyConnection, change: &Change) -> Result<u64, sqlx::Error> {
    let done = match change {
        Change::Sending {
            transaction_reference,
            now_ms,
            claimed_until,
        } => {
            sqlx::query(
                "UPDATE transactions SET dispatch_state = 'sending', dispatch_attempts = dispatch_attempts + 1, \
                 next_check_at = $3, updated_at = $2 \
                 WHERE transaction_reference = $1 AND status = 'pending' AND dispatch_state = 'queued'",
            )
            .bind(transaction_reference)
            .bind(now_ms)
            .bind(claimed_until)
            .execute(&mut *conn)
            .await?
        }
        Change::Acknowledged {
            transaction_reference,
            provider_reference,
            provider_refs,
            next_check_at,
            now_ms,
        } => {
            sqlx::query(
                "UPDATE transactions SET dispatch_state = 'acknowledged', provider_reference = $2, provider_refs = $3, \
                 next_check_at = $4, updated_at = $5 WHERE transaction_reference = $1 AND status = 'pending'",
            )
            .bind(transaction_reference)
            .bind(provider_reference)
            .bind(provider_refs)
            .bind(next_check_at)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?
        }
        Change::RetryDispatch {
            transaction_reference,
            next_check_at,
            now_ms,
        } => {
            sqlx::query(
                "UPDATE transactions SET dispatch_state = 'queued', next_check_at = $2, updated_at = $3 \
                 WHERE transaction_reference = $1 AND status = 'pending' AND dispatch_state = 'sending'",
            )
            .bind(transaction_reference)
            .bind(next_check_at)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?
        }
        Change::InDoubt {
            transaction_reference,
            next_check_at,
            now_ms,
        } => {
            sqlx::query(
                "UPDATE transactions SET dispatch_state = 'in_doubt', next_check_at = $2, updated_at = $3, \
                 in_doubt_since = COALESCE(in_doubt_since, $3) WHERE transaction_reference = $1 AND status = 'pending'",
            )
            .bind(transaction_reference)
            .bind(next_check_at)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?
        }
        Change::CheckLater {
            transaction_reference,
            next_check_at,
            now_ms,
        } => {
            sqlx::query(
                "UPDATE transactions SET next_check_at = $2, check_attempts = check_attempts + 1, updated_at = $3 \
                 WHERE transaction_reference = $1 AND status = 'pending'",
            )
            .bind(transaction_reference)
            .bind(next_check_at)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?
        }
        Change::CallbackDelivered { id, status, now_ms } => {
            sqlx::query(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, last_status = $2, last_error = NULL, \
                 delivered_at = $3 WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(i64::from(*status))
            .bind(now_ms)
            .execute(&mut *conn)
            .await?
        }
        Change::CallbackFailed {
            id,
            status,
            error,
            next_attempt_at,
            give_up,
        } => {
            sqlx::query(
                "UPDATE outbox SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4, \
                 next_attempt_at = $5 WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(if *give_up { "abandoned" } else { "pending" })
            .bind(status.map(i64::from))
            .bind(error)
            .bind(next_attempt_at)
            .execute(&mut *conn)
            .await?
        }
        Change::RecoverAfterRestart {
            now_ms,
            sole_instance,
        } => {
            if !sole_instance {
                // Other instances may be working on these right now: claims and deadlines settle them.
                return Ok(0);
            }
            let doubtful = sqlx::query(
                "UPDATE transactions SET dispatch_state = 'in_doubt', next_check_at = $1, \
                 in_doubt_since = COALESCE(in_doubt_since, $1) WHERE status = 'pending' AND dispatch_state = 'sending'",
            )
            .bind(now_ms)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            let due = sqlx::query(
                "UPDATE transactions SET next_check_at = $1 WHERE status = 'pending' \
                 AND dispatch_state IN ('queued', 'acknowledged', 'in_doubt') \
                 AND (next_check_at IS NULL OR next_check_at > $1)",
            )
            .bind(now_ms)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            return Ok(doubtful + due);
        }
    };
    Ok(done.rows_affected())
}

async fn finalise(
    conn: &mut AnyConnection,
    f: &Finalisation,
) -> Result<Option<FinaliseResult>, sqlx::Error> {
    let (provider_reference, provider_refs) = match &f.provider_refs {
        Some((reference, refs)) => (Some(reference.as_str()), Some(refs.as_str())),
        None => (None, None),
    };
    let changed = sqlx::query(
        "UPDATE transactions SET status = $2, body = $3, dispatch_state = 'final', next_check_at = NULL, \
         updated_at = $4, provider_reference = COALESCE($5, provider_reference), \
         provider_refs = COALESCE($6, provider_refs) \
         WHERE transaction_reference = $1 AND status = 'pending'",
    )
    .bind(&f.transaction_reference)
    .bind(f.status)
    .bind(&f.body)
    .bind(f.now_ms)
    .bind(provider_reference)
    .bind(provider_refs)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(None);
    }
    sqlx::query("UPDATE request_states SET status = $2, error = $3, updated_at = $4 WHERE server_correlation_id = $1")
        .bind(&f.server_correlation_id)
        .bind(f.status)
        .bind(&f.error)
        .bind(f.now_ms)
        .execute(&mut *conn)
        .await?;
    if let Some((original, body)) = &f.reverses {
        sqlx::query(
            "UPDATE transactions SET status = 'reversed', body = $2, updated_at = $3 \
             WHERE transaction_reference = $1 AND status = 'completed'",
        )
        .bind(original)
        .bind(body)
        .bind(f.now_ms)
        .execute(&mut *conn)
        .await?;
    }
    let callback_id = match &f.callback {
        Some(cb) => Some(
            sqlx::query(
                "INSERT INTO outbox (server_correlation_id, url, correlation_id, body, state, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6) RETURNING id",
            )
            .bind(&f.server_correlation_id)
            .bind(&cb.url)
            .bind(&cb.correlation_id)
            .bind(&cb.body)
            .bind(cb.claimed_until)
            .bind(f.now_ms)
            .fetch_one(&mut *conn)
            .await?
            .try_get::<i64, _>(0)?,
        ),
        None => None,
    };
    Ok(Some(FinaliseResult { callback_id }))
}

/// Claims due work: moves its next time to the end of a lease so that no other instance takes it meanwhile.
/// On PostgreSQL rows locked by another instance's claim are skipped (`FOR UPDATE SKIP LOCKED`).
async fn claim_due(
    backend: Backend,
    conn: &mut AnyConnection,
    claim: &Claim,
) -> Result<WriteReply, sqlx::Error> {
    let skip_locked = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    match claim {
        Claim::Transactions {
            now_ms,
            lease_ms,
            limit,
        } => {
            let claimed: Vec<String> = sqlx::query_scalar(&format!(
                "UPDATE transactions SET next_check_at = $2 WHERE transaction_reference IN (\
                 SELECT transaction_reference FROM transactions WHERE status = 'pending' AND next_check_at <= $1 \
                 ORDER BY next_check_at LIMIT $3{skip_locked}) RETURNING transaction_reference"
            ))
            .bind(now_ms)
            .bind(now_ms + lease_ms)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
            if claimed.is_empty() {
                return Ok(WriteReply::ClaimedTransactions(Vec::new()));
            }
            let placeholders: Vec<String> = (1..=claimed.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "{TRANSACTION_COLUMNS} WHERE t.transaction_reference IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_as::<_, TransactionRow>(&sql);
            for reference in &claimed {
                query = query.bind(reference);
            }
            Ok(WriteReply::ClaimedTransactions(
                query.fetch_all(&mut *conn).await?,
            ))
        }
        Claim::Callbacks {
            now_ms,
            lease_ms,
            limit,
        } => {
            let rows = sqlx::query_as::<_, OutboxRow>(&format!(
                "UPDATE outbox SET next_attempt_at = $2 WHERE id IN (\
                 SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at LIMIT $3{skip_locked}) \
                 RETURNING id, server_correlation_id, url, correlation_id, body, attempts"
            ))
            .bind(now_ms)
            .bind(now_ms + lease_ms)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
            Ok(WriteReply::ClaimedCallbacks(rows))
        }
    }
}

/// Records a completed payment the gateway did not start, once per operator reference.
async fn record_incoming(
    conn: &mut AnyConnection,
    i: &NewIncoming,
) -> Result<IncomingResult, sqlx::Error> {
    let (rs, t) = (&i.request_state, &i.transaction);
    let inserted = sqlx::query(
        "INSERT INTO transactions (transaction_reference, server_correlation_id, client_id, transaction_type, \
         status, provider, dispatch_state, provider_reference, body, created_at, updated_at, debit_account, \
         credit_account) VALUES ($1, $2, $3, $4, 'completed', $5, 'final', $6, $7, $8, $8, $9, $10) \
         ON CONFLICT (provider, provider_reference) DO NOTHING",
    )
    .bind(&t.transaction_reference)
    .bind(&rs.server_correlation_id)
    .bind(&rs.client_id)
    .bind(t.transaction_type)
    .bind(&t.provider)
    .bind(&i.provider_reference)
    .bind(&t.body)
    .bind(rs.now_ms)
    .bind(&t.debit_account)
    .bind(&t.credit_account)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(IncomingResult {
            recorded: false,
            callback_id: None,
        });
    }
    sqlx::query(
        "INSERT INTO request_states (server_correlation_id, client_id, client_correlation_id, object_type, \
         object_reference, status, notification_method, callback_url, error, created_at, updated_at) \
         VALUES ($1, $2, NULL, $3, $4, 'completed', $5, $6, NULL, $7, $7)",
    )
    .bind(&rs.server_correlation_id)
    .bind(&rs.client_id)
    .bind(rs.object_type)
    .bind(&rs.object_reference)
    .bind(rs.notification_method)
    .bind(&rs.callback_url)
    .bind(rs.now_ms)
    .execute(&mut *conn)
    .await?;
    let callback_id = match &i.callback {
        Some(cb) => Some(
            sqlx::query(
                "INSERT INTO outbox (server_correlation_id, url, correlation_id, body, state, attempts, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6) RETURNING id",
            )
            .bind(&rs.server_correlation_id)
            .bind(&cb.url)
            .bind(&cb.correlation_id)
            .bind(&cb.body)
            .bind(cb.claimed_until)
            .bind(rs.now_ms)
            .fetch_one(&mut *conn)
            .await?
            .try_get::<i64, _>(0)?,
        ),
        None => None,
    };
    Ok(IncomingResult {
        recorded: true,
        callback_id,
    })
}

//! The group-commit writer: one connection, one task, many changes per database transaction.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::conn::{Param, WriteConn};
use super::events;
use super::records::*;
use super::{Backend, StoreError, WriterStats};

/// A commit slower than this is logged: every caller in it waited that long.
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_millis(100);

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
    /// Where the change's first row lock falls: transactions by reference, then outbox rows by id, then claims
    /// (which skip locked rows) and start-up recovery.
    fn lock_order(&self) -> (u8, &str, i64) {
        match self {
            WriteOp::Accept { tx, .. } => (0, &tx.transaction_reference, 0),
            WriteOp::Finalise { f, .. } => (0, &f.transaction_reference, 0),
            WriteOp::Incoming { incoming, .. } => {
                (0, &incoming.transaction.transaction_reference, 0)
            }
            WriteOp::Change { change, .. } => match change {
                Change::Sending {
                    transaction_reference,
                    ..
                }
                | Change::Acknowledged {
                    transaction_reference,
                    ..
                }
                | Change::RetryDispatch {
                    transaction_reference,
                    ..
                }
                | Change::InDoubt {
                    transaction_reference,
                    ..
                }
                | Change::CheckLater {
                    transaction_reference,
                    ..
                }
                | Change::Resent {
                    transaction_reference,
                    ..
                }
                | Change::Review {
                    transaction_reference,
                    ..
                } => (0, transaction_reference, 0),
                Change::Cancel(c) => (0, &c.transaction_reference, 0),
                Change::CallbackDelivered { id, .. }
                | Change::CallbackFailed { id, .. }
                | Change::Redeliver { id, .. } => (1, "", *id),
                _ => (2, "", 0),
            },
            WriteOp::Claim { .. } => (2, "", 0),
        }
    }

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
    /// The references of the transactions claimed.
    ClaimedTransactions(Vec<String>),
    /// The outbox ids of the callbacks claimed.
    ClaimedCallbacks(Vec<i64>),
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
pub(super) async fn run<C: WriteConn>(
    backend: Backend,
    mut conn: C,
    mut rx: mpsc::Receiver<WriteOp>,
    stats: std::sync::Arc<SharedStats>,
    gather_window: Option<std::time::Duration>,
) {
    let mut batch: Vec<WriteOp> = Vec::with_capacity(MAX_BATCH);
    let mut last_commit_end = std::time::Instant::now();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        take_ready(&mut rx, &mut batch);
        if let Some(window) = gather_window {
            // Changes arriving back to back (this one came within the window of the last commit) but few: wait
            // for more, so that one commit (one fsync) carries them. An idle gateway never waits. The sleep
            // blocks: only a writer on a thread of its own (SQLite's) is given a window.
            if batch.len() < GATHER_ENOUGH && last_commit_end.elapsed() < window {
                std::thread::sleep(window);
                take_ready(&mut rx, &mut batch);
            }
        }
        let n = batch.len() as u64;
        if backend == Backend::Postgres {
            // Concurrent writers (and instances) lock rows in one order, so they wait for each other rather than
            // deadlock. Changes to one transaction keep their order (the sort is stable).
            batch.sort_by(|a, b| a.lock_order().cmp(&b.lock_order()));
        }
        let started = std::time::Instant::now();
        let committed = commit_batch(backend, &mut conn, &batch).await;
        let took = started.elapsed();
        last_commit_end = std::time::Instant::now();
        if took >= SLOW_COMMIT {
            tracing::warn!(
                size = n,
                took_ms = took.as_millis() as u64,
                "slow group commit"
            );
        }
        match committed {
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
                    let reply = result.map(|mut r| r.remove(0));
                    let _ = op.reply().send(reply);
                }
            }
        }
    }
}

/// A batch this large is committed at once, without waiting for more.
const GATHER_ENOUGH: usize = 64;

/// Moves the changes already queued into the batch, up to its size limit.
fn take_ready(rx: &mut mpsc::Receiver<WriteOp>, batch: &mut Vec<WriteOp>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(op) => batch.push(op),
            Err(_) => break,
        }
    }
}

/// Applies a batch in one database transaction: all of it or, after a rollback, none.
async fn commit_batch<C: WriteConn>(
    backend: Backend,
    conn: &mut C,
    batch: &[WriteOp],
) -> Result<Vec<WriteReply>, StoreError> {
    conn.begin().await?;
    match apply_batch(backend, conn, batch).await {
        Ok(replies) => match conn.commit().await {
            Ok(()) => Ok(replies),
            Err(error) => {
                let _ = conn.rollback().await;
                Err(error)
            }
        },
        Err(error) => {
            if let Err(rollback) = conn.rollback().await {
                tracing::warn!(error = %rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

async fn apply_batch<C: WriteConn>(
    backend: Backend,
    conn: &mut C,
    batch: &[WriteOp],
) -> Result<Vec<WriteReply>, StoreError> {
    let mut replies = Vec::with_capacity(batch.len());
    for op in batch {
        let reply = match op {
            WriteOp::Accept { rs, tx, .. } => WriteReply::Accepted(accept(conn, rs, tx).await?),
            WriteOp::Change { change, .. } => {
                let changed = apply(conn, change).await?;
                if changed > 0 {
                    if let Some(step) = events::step_of(change) {
                        events::record_step(conn, &step).await?;
                    }
                }
                WriteReply::Done(changed)
            }
            WriteOp::Finalise { f, .. } => WriteReply::Finalised(finalise(conn, f).await?),
            WriteOp::Claim { claim, .. } => claim_due(backend, conn, claim).await?,
            WriteOp::Incoming { incoming, .. } => {
                WriteReply::Incoming(record_incoming(conn, incoming).await?)
            }
        };
        replies.push(reply);
    }
    Ok(replies)
}

/// How long a freshly accepted transaction may wait for the dispatcher before the reconciler sends it.
const DISPATCH_GRACE_MS: i64 = 10_000;

const INSERT_REQUEST_STATE: &str = "INSERT INTO request_states (server_correlation_id, client_id, \
    client_correlation_id, object_type, object_reference, status, notification_method, callback_url, error, \
    created_at, updated_at, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9, $10)";

/// The request-state insert that claims the idempotency key, or does nothing if it is taken.
pub(super) const CLAIM_REQUEST_STATE: &str = "INSERT INTO request_states (server_correlation_id, client_id, \
    client_correlation_id, object_type, object_reference, status, notification_method, callback_url, error, \
    created_at, updated_at, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $9, $10) \
    ON CONFLICT (client_id, client_correlation_id) DO NOTHING";

const INSERT_OUTBOX: &str = "INSERT INTO outbox (server_correlation_id, url, correlation_id, body, state, \
    attempts, next_attempt_at, created_at, client_id, request_id) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $8) \
    RETURNING id";

pub(super) fn request_state_params<'a>(
    rs: &'a NewRequestState,
    status: &'a str,
) -> [Param<'a>; 10] {
    [
        (&rs.server_correlation_id).into(),
        (&rs.client_id).into(),
        (&rs.client_correlation_id).into(),
        rs.object_type.into(),
        (&rs.object_reference).into(),
        status.into(),
        rs.notification_method.into(),
        (&rs.callback_url).into(),
        rs.now_ms.into(),
        (&rs.request_id).into(),
    ]
}

/// Queues a client callback and returns its outbox id.
pub(super) async fn queue_callback<C: WriteConn>(
    conn: &mut C,
    server_correlation_id: &str,
    cb: &NewCallback,
    now_ms: i64,
) -> Result<i64, StoreError> {
    let ids = conn
        .fetch_ints(
            INSERT_OUTBOX,
            &[
                server_correlation_id.into(),
                (&cb.url).into(),
                (&cb.correlation_id).into(),
                (&cb.body).into(),
                cb.claimed_until.into(),
                now_ms.into(),
                (&cb.client_id).into(),
                (&cb.request_id).into(),
            ],
        )
        .await?;
    ids.first()
        .copied()
        .ok_or_else(|| StoreError::Corrupt("the outbox gave no id".into()))
}

/// Claims the idempotency key and stores a request state with its pending transaction.
pub(super) async fn accept<C: WriteConn>(
    conn: &mut C,
    rs: &NewRequestState,
    t: &NewTransaction,
) -> Result<AcceptResult, StoreError> {
    let inserted = conn
        .execute(CLAIM_REQUEST_STATE, &request_state_params(rs, "pending"))
        .await?;
    if inserted == 0 {
        let existing = conn
            .fetch_texts(
                "SELECT server_correlation_id, object_type, object_reference FROM request_states \
                 WHERE client_id = $1 AND client_correlation_id = $2",
                &[(&rs.client_id).into(), (&rs.client_correlation_id).into()],
                3,
            )
            .await?;
        let mut columns = existing
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("a conflicting request state vanished".into()))?
            .into_iter();
        let mut next = || columns.next().flatten();
        return Ok(AcceptResult::Duplicate {
            server_correlation_id: next().unwrap_or_default(),
            object_type: next().unwrap_or_default(),
            object_reference: next(),
        });
    }
    conn.execute(
        "INSERT INTO transactions (transaction_reference, server_correlation_id, client_id, transaction_type, \
         status, provider, dispatch_state, next_check_at, body, created_at, updated_at, debit_account, \
         credit_account, currency, amount) \
         VALUES ($1, $2, $3, $4, 'pending', $5, 'queued', $6, $7, $8, $8, $9, $10, $11, $12)",
        &[
            (&t.transaction_reference).into(),
            (&rs.server_correlation_id).into(),
            (&rs.client_id).into(),
            t.transaction_type.into(),
            (&t.provider).into(),
            (rs.now_ms + DISPATCH_GRACE_MS).into(),
            (&t.body).into(),
            rs.now_ms.into(),
            (&t.debit_account).into(),
            (&t.credit_account).into(),
            (&t.currency).into(),
            (&t.amount).into(),
        ],
    )
    .await?;
    count_accounts(conn, &rs.client_id, t).await?;
    events::record(conn, &t.transaction_reference, rs.now_ms, "accepted", None).await?;
    Ok(AcceptResult::Accepted)
}

const COUNT_ACCOUNT: &str =
    "INSERT INTO account_counts (client_id, account, transactions) VALUES ($1, $2, 1) \
    ON CONFLICT (client_id, account) DO UPDATE SET transactions = account_counts.transactions + 1";

/// Adds a transaction just stored to its accounts' counts (migration `0015_account_counts`): once for its debit
/// account and once for a different credit account, as an account page lists it. On SQLite the writer does it
/// here, in the insert's database transaction (migration `0016_lean_transaction_writes` says why not a trigger);
/// on PostgreSQL the insert's trigger adds rows to `account_count_deltas`, which no other writer locks.
async fn count_accounts<C: WriteConn>(
    conn: &mut C,
    client_id: &str,
    t: &NewTransaction,
) -> Result<(), StoreError> {
    if conn.backend() != Backend::Sqlite {
        return Ok(());
    }
    let debit = t.debit_account.as_deref();
    let credit = t.credit_account.as_deref().filter(|c| Some(*c) != debit);
    for account in [debit, credit].into_iter().flatten() {
        conn.execute(COUNT_ACCOUNT, &[client_id.into(), account.into()])
            .await?;
    }
    Ok(())
}

async fn apply<C: WriteConn>(conn: &mut C, change: &Change) -> Result<u64, StoreError> {
    match change {
        Change::Sending {
            transaction_reference,
            now_ms,
            claimed_until,
        } => {
            conn.execute(
                "UPDATE transactions SET dispatch_state = 'sending', dispatch_attempts = dispatch_attempts + 1, \
                 next_check_at = $3, updated_at = $2 \
                 WHERE transaction_reference = $1 AND status = 'pending' AND dispatch_state = 'queued'",
                &[transaction_reference.into(), (*now_ms).into(), (*claimed_until).into()],
            )
            .await
        }
        Change::Acknowledged {
            transaction_reference,
            provider_reference,
            provider_refs,
            next_check_at,
            now_ms,
        } => {
            conn.execute(
                "UPDATE transactions SET dispatch_state = 'acknowledged', provider_reference = $2, provider_refs = $3, \
                 next_check_at = $4, updated_at = $5 WHERE transaction_reference = $1 AND status = 'pending'",
                &[
                    transaction_reference.into(),
                    provider_reference.into(),
                    provider_refs.into(),
                    (*next_check_at).into(),
                    (*now_ms).into(),
                ],
            )
            .await
        }
        Change::RetryDispatch {
            transaction_reference,
            next_check_at,
            now_ms,
        } => {
            conn.execute(
                "UPDATE transactions SET dispatch_state = 'queued', next_check_at = $2, updated_at = $3 \
                 WHERE transaction_reference = $1 AND status = 'pending' AND dispatch_state = 'sending'",
                &[transaction_reference.into(), (*next_check_at).into(), (*now_ms).into()],
            )
            .await
        }
        Change::InDoubt {
            transaction_reference,
            next_check_at,
            now_ms,
        } => {
            conn.execute(
                "UPDATE transactions SET dispatch_state = 'in_doubt', next_check_at = $2, updated_at = $3, \
                 in_doubt_since = COALESCE(in_doubt_since, $3) WHERE transaction_reference = $1 AND status = 'pending'",
                &[transaction_reference.into(), (*next_check_at).into(), (*now_ms).into()],
            )
            .await
        }
        Change::CheckLater {
            transaction_reference,
            next_check_at,
            now_ms,
        } => {
            conn.execute(
                "UPDATE transactions SET next_check_at = $2, check_attempts = check_attempts + 1, updated_at = $3 \
                 WHERE transaction_reference = $1 AND status = 'pending'",
                &[transaction_reference.into(), (*next_check_at).into(), (*now_ms).into()],
            )
            .await
        }
        Change::Resent {
            transaction_reference,
            now_ms,
            ..
        } => {
            conn.execute(
                "UPDATE transactions SET updated_at = $2 WHERE transaction_reference = $1 AND status = 'pending'",
                &[transaction_reference.into(), (*now_ms).into()],
            )
            .await
        }
        Change::Review {
            transaction_reference,
            now_ms,
        } => {
            conn.execute(
                "UPDATE transactions SET dispatch_state = 'review', next_check_at = NULL, updated_at = $2 \
                 WHERE transaction_reference = $1 AND status = 'pending' \
                 AND dispatch_state IN ('acknowledged', 'in_doubt')",
                &[transaction_reference.into(), (*now_ms).into()],
            )
            .await
        }
        Change::Flush => Ok(0),
        Change::FoldAccountCounts { limit } => fold_account_counts(conn, *limit).await,
        Change::CallbackDelivered { id, status, now_ms } => {
            conn.execute(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, last_status = $2, last_error = NULL, \
                 delivered_at = $3 WHERE id = $1 AND state = 'pending'",
                &[(*id).into(), i64::from(*status).into(), (*now_ms).into()],
            )
            .await
        }
        Change::CallbackFailed {
            id,
            status,
            error,
            next_attempt_at,
            give_up,
            ..
        } => {
            conn.execute(
                "UPDATE outbox SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4, \
                 next_attempt_at = $5 WHERE id = $1 AND state = 'pending'",
                &[
                    (*id).into(),
                    (if *give_up { "abandoned" } else { "pending" }).into(),
                    status.map(i64::from).into(),
                    error.into(),
                    (*next_attempt_at).into(),
                ],
            )
            .await
        }
        Change::Redeliver { id, now_ms } => {
            conn.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $2, delivered_at = NULL \
                 WHERE id = $1",
                &[(*id).into(), (*now_ms).into()],
            )
            .await
        }
        Change::PutClient(c) => {
            conn.execute(
                "INSERT INTO clients (client_id, name, secret_hash, api_key_digest, signing_key, role, \
                 allowed_providers, callback_hosts, accounts, rate_limit_per_sec, disabled, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    (&c.client_id).into(),
                    (&c.name).into(),
                    (&c.secret_hash).into(),
                    (&c.api_key_digest).into(),
                    (&c.signing_key).into(),
                    (&c.role).into(),
                    (&c.allowed_providers).into(),
                    (&c.callback_hosts).into(),
                    (&c.accounts).into(),
                    c.rate_limit_per_sec.into(),
                    c.disabled.into(),
                    c.created_at.into(),
                    c.updated_at.into(),
                ],
            )
            .await
        }
        Change::PutSession(session) => {
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE expires_at < $1",
                &[session.created_at.into()],
            )
            .await?;
            conn.execute(
                "INSERT INTO dashboard_sessions (session_digest, client_id, csrf_token, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    (&session.session_digest).into(),
                    (&session.client_id).into(),
                    (&session.csrf_token).into(),
                    session.expires_at.into(),
                    session.created_at.into(),
                ],
            )
            .await
        }
        Change::DeleteSession { session_digest } => {
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE session_digest = $1",
                &[session_digest.into()],
            )
            .await
        }
        Change::RotateClient {
            client_id,
            secret_hash,
            api_key_digest,
            signing_key,
            now_ms,
        } => {
            conn.execute(
                "DELETE FROM access_tokens WHERE client_id = $1",
                &[client_id.into()],
            )
            .await?;
            conn.execute(
                "UPDATE clients SET secret_hash = $2, api_key_digest = $3, signing_key = $4, updated_at = $5 \
                 WHERE client_id = $1",
                &[
                    client_id.into(),
                    secret_hash.into(),
                    api_key_digest.into(),
                    signing_key.into(),
                    (*now_ms).into(),
                ],
            )
            .await
        }
        Change::SetClientDisabled {
            client_id,
            disabled,
            now_ms,
        } => {
            if *disabled {
                conn.execute(
                    "DELETE FROM access_tokens WHERE client_id = $1",
                    &[client_id.into()],
                )
                .await?;
            }
            conn.execute(
                "UPDATE clients SET disabled = $2, updated_at = $3 WHERE client_id = $1",
                &[
                    client_id.into(),
                    i64::from(*disabled).into(),
                    (*now_ms).into(),
                ],
            )
            .await
        }
        Change::PutAccessToken {
            token_digest,
            client_id,
            expires_at,
            now_ms,
        } => {
            conn.execute(
                "DELETE FROM access_tokens WHERE expires_at < $1",
                &[(*now_ms).into()],
            )
            .await?;
            conn.execute(
                "INSERT INTO access_tokens (token_digest, client_id, expires_at) VALUES ($1, $2, $3)",
                &[
                    token_digest.into(),
                    client_id.into(),
                    (*expires_at).into(),
                ],
            )
            .await
        }
        Change::AcceptMandate {
            request_state,
            mandate,
        } => super::mandates::accept(conn, request_state, mandate).await,
        Change::ClaimMandate {
            mandate_reference,
            cutoff_ms,
            now_ms,
        } => super::mandates::claim(conn, mandate_reference, *cutoff_ms, *now_ms).await,
        Change::FinaliseMandate(f) => super::mandates::finalise(conn, f).await,
        Change::UpdateMandate {
            mandate_reference,
            status,
            body,
            now_ms,
        } => super::mandates::update(conn, mandate_reference, status, body, *now_ms).await,
        Change::Batch(change) => super::batches::apply(conn, change).await,
        Change::PutQuotation {
            request_state,
            quotation,
        } => super::quotations::put(conn, request_state, quotation).await,
        Change::ClaimForward(forward) => super::forwarded::claim(conn, forward).await,
        Change::ForwardAnswered(answer) => super::forwarded::answered(conn, answer).await,
        Change::ReleaseForward {
            operator_correlation_id,
        } => super::forwarded::release(conn, operator_correlation_id).await,
        Change::RelayForwarded(relay) => super::forwarded::relay(conn, relay).await,
        Change::PostponeRelay {
            operator_correlation_id,
            seen_check_at,
            next_check_at,
        } => {
            super::forwarded::postpone(conn, operator_correlation_id, *seen_check_at, *next_check_at)
                .await
        }
        Change::PutBills(bills) => super::bills::put(conn, bills).await,
        Change::CancelBill {
            client_id,
            bill_reference,
            now_ms,
        } => super::bills::cancel(conn, client_id, bill_reference, *now_ms).await,
        Change::ClaimInvoice {
            bill_reference,
            cutoff_ms,
            now_ms,
        } => super::bills::claim_invoice(conn, bill_reference, *cutoff_ms, *now_ms).await,
        Change::SetInvoiceStatus {
            bill_references,
            status,
            now_ms,
        } => super::bills::set_invoice_status(conn, bill_references, status, *now_ms).await,
        Change::Cancel(c) => cancel(conn, c).await,
        Change::RecoverAfterRestart {
            now_ms,
            sole_instance,
        } => {
            if !sole_instance {
                // Other instances may be working on these right now: claims and deadlines settle them.
                return Ok(0);
            }
            let doubtful = conn
                .execute(
                    "UPDATE transactions SET dispatch_state = 'in_doubt', next_check_at = $1, \
                     in_doubt_since = COALESCE(in_doubt_since, $1) WHERE status = 'pending' AND dispatch_state = 'sending'",
                    &[(*now_ms).into()],
                )
                .await?;
            let due = conn
                .execute(
                    "UPDATE transactions SET next_check_at = $1 WHERE status = 'pending' \
                     AND dispatch_state IN ('queued', 'acknowledged', 'in_doubt') \
                     AND (next_check_at IS NULL OR next_check_at > $1)",
                    &[(*now_ms).into()],
                )
                .await?;
            Ok(doubtful + due)
        }
    }
}

/// Cancels a transaction that was never claimed for dispatch: the condition on `dispatch_state` is what keeps a
/// dispatch (`queued` → `sending`, also conditional) and a cancellation from both happening.
async fn cancel<C: WriteConn>(conn: &mut C, c: &Cancellation) -> Result<u64, StoreError> {
    let changed = conn
        .execute(
            "UPDATE transactions SET status = 'failed', body = $3, dispatch_state = 'final', next_check_at = NULL, \
             updated_at = $4 WHERE transaction_reference = $1 AND client_id = $2 AND status = 'pending' \
             AND dispatch_state = 'queued'",
            &[
                (&c.transaction_reference).into(),
                (&c.client_id).into(),
                (&c.body).into(),
                c.now_ms.into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Ok(0);
    }
    conn.execute(
        "UPDATE request_states SET status = 'failed', error = $2, updated_at = $3 WHERE server_correlation_id = $1",
        &[
            (&c.server_correlation_id).into(),
            (&c.error).into(),
            c.now_ms.into(),
        ],
    )
    .await?;
    if let Some(cb) = &c.callback {
        queue_callback(conn, &c.server_correlation_id, cb, c.now_ms).await?;
    }
    Ok(changed)
}

async fn finalise<C: WriteConn>(
    conn: &mut C,
    f: &Finalisation,
) -> Result<Option<FinaliseResult>, StoreError> {
    let (provider_reference, provider_refs) = match &f.provider_refs {
        Some((reference, refs)) => (Some(reference.as_str()), Some(refs.as_str())),
        None => (None, None),
    };
    let changed = conn
        .execute(
            "UPDATE transactions SET status = $2, body = $3, dispatch_state = 'final', next_check_at = NULL, \
             updated_at = $4, provider_reference = COALESCE($5, provider_reference), \
             provider_refs = COALESCE($6, provider_refs) \
             WHERE transaction_reference = $1 AND status = 'pending'",
            &[
                (&f.transaction_reference).into(),
                f.status.into(),
                (&f.body).into(),
                f.now_ms.into(),
                provider_reference.into(),
                provider_refs.into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Ok(None);
    }
    events::record(
        conn,
        &f.transaction_reference,
        f.now_ms,
        f.status,
        f.outcome.as_deref(),
    )
    .await?;
    conn.execute(
        "UPDATE request_states SET status = $2, error = $3, updated_at = $4 WHERE server_correlation_id = $1",
        &[
            (&f.server_correlation_id).into(),
            f.status.into(),
            (&f.error).into(),
            f.now_ms.into(),
        ],
    )
    .await?;
    if f.status == "completed" {
        super::bills::apply_payment(
            conn,
            &f.server_correlation_id,
            &f.transaction_reference,
            &f.body,
            f.now_ms,
        )
        .await?;
    }
    if let Some((original, body)) = &f.reverses {
        conn.execute(
            "UPDATE transactions SET status = 'reversed', body = $2, updated_at = $3 \
             WHERE transaction_reference = $1 AND status = 'completed'",
            &[original.into(), body.into(), f.now_ms.into()],
        )
        .await?;
    }
    let callback_id = match &f.callback {
        Some(cb) => Some(queue_callback(conn, &f.server_correlation_id, cb, f.now_ms).await?),
        None => None,
    };
    Ok(Some(FinaliseResult { callback_id }))
}

/// Claims due work: moves its next time to the end of a lease so that no other instance takes it meanwhile.
/// On PostgreSQL rows locked by another instance's claim are skipped (`FOR UPDATE SKIP LOCKED`).
async fn claim_due<C: WriteConn>(
    backend: Backend,
    conn: &mut C,
    claim: &Claim,
) -> Result<WriteReply, StoreError> {
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
            let claimed = conn
                .fetch_texts(
                    &format!(
                        "UPDATE transactions SET next_check_at = $2 WHERE transaction_reference IN (\
                         SELECT transaction_reference FROM transactions WHERE status = 'pending' \
                         AND next_check_at <= $1 ORDER BY next_check_at LIMIT $3{skip_locked}) \
                         RETURNING transaction_reference"
                    ),
                    &[(*now_ms).into(), (now_ms + lease_ms).into(), (*limit).into()],
                    1,
                )
                .await?;
            Ok(WriteReply::ClaimedTransactions(
                claimed
                    .into_iter()
                    .filter_map(|row| row.into_iter().next().flatten())
                    .collect(),
            ))
        }
        Claim::Callbacks {
            now_ms,
            lease_ms,
            limit,
        } => {
            let ids = conn
                .fetch_ints(
                    &format!(
                        "UPDATE outbox SET next_attempt_at = $2 WHERE id IN (\
                         SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1 \
                         ORDER BY next_attempt_at LIMIT $3{skip_locked}) RETURNING id"
                    ),
                    &[
                        (*now_ms).into(),
                        (now_ms + lease_ms).into(),
                        (*limit).into(),
                    ],
                )
                .await?;
            Ok(WriteReply::ClaimedCallbacks(ids))
        }
    }
}

/// Records a completed payment the gateway did not start, once per operator reference.
async fn record_incoming<C: WriteConn>(
    conn: &mut C,
    i: &NewIncoming,
) -> Result<IncomingResult, StoreError> {
    let (rs, t) = (&i.request_state, &i.transaction);
    let inserted = conn
        .execute(
            "INSERT INTO transactions (transaction_reference, server_correlation_id, client_id, transaction_type, \
             status, provider, dispatch_state, provider_reference, body, created_at, updated_at, debit_account, \
             credit_account, currency, amount) \
             VALUES ($1, $2, $3, $4, 'completed', $5, 'final', $6, $7, $8, $8, $9, $10, $11, $12) \
             ON CONFLICT (provider, provider_reference) DO NOTHING",
            &[
                (&t.transaction_reference).into(),
                (&rs.server_correlation_id).into(),
                (&rs.client_id).into(),
                t.transaction_type.into(),
                (&t.provider).into(),
                (&i.provider_reference).into(),
                (&t.body).into(),
                rs.now_ms.into(),
                (&t.debit_account).into(),
                (&t.credit_account).into(),
                (&t.currency).into(),
                (&t.amount).into(),
            ],
        )
        .await?;
    if inserted == 0 {
        return Ok(IncomingResult {
            recorded: false,
            callback_id: None,
        });
    }
    count_accounts(conn, &rs.client_id, t).await?;
    conn.execute(INSERT_REQUEST_STATE, &request_state_params(rs, "completed"))
        .await?;
    let detail = events::detail(&[("providerReference", Some(i.provider_reference.as_str()))]);
    events::record(
        conn,
        &t.transaction_reference,
        rs.now_ms,
        "received",
        Some(&detail),
    )
    .await?;
    super::bills::apply_payment(
        conn,
        &rs.server_correlation_id,
        &t.transaction_reference,
        &t.body,
        rs.now_ms,
    )
    .await?;
    let callback_id = match &i.callback {
        Some(cb) => Some(queue_callback(conn, &rs.server_correlation_id, cb, rs.now_ms).await?),
        None => None,
    };
    Ok(IncomingResult {
        recorded: true,
        callback_id,
    })
}

/// Moves up to `limit` account-count deltas into `account_counts`, in one statement: the deltas no other instance
/// is folding (`SKIP LOCKED`), summed per account, the counts upserted in key order (so two instances folding at
/// once wait for each other rather than deadlock). PostgreSQL only: SQLite's trigger counts directly.
async fn fold_account_counts<C: WriteConn>(conn: &mut C, limit: i64) -> Result<u64, StoreError> {
    conn.execute(
        "WITH moved AS (DELETE FROM account_count_deltas WHERE id IN \
         (SELECT id FROM account_count_deltas ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING client_id, account, delta) \
         INSERT INTO account_counts (client_id, account, transactions) \
         SELECT client_id, account, SUM(delta) FROM moved GROUP BY client_id, account ORDER BY client_id, account \
         ON CONFLICT (client_id, account) DO UPDATE SET transactions = account_counts.transactions + EXCLUDED.transactions",
        &[limit.into()],
    )
    .await
}

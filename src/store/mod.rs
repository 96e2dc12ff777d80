//! Durable state: request states, transactions and the client-callback outbox, in SQLite (WAL; the embedded
//! default) or PostgreSQL (for several gateway instances sharing one database). The same SQL serves both.
//!
//! Every change goes through one writer ([`writer`]) that batches the changes that arrive while a commit is
//! under way into the next database transaction (group commit), and answers each caller only once its commit
//! has landed. On SQLite the writer is a thread of its own with prepared statements ([`conn`]); on PostgreSQL a
//! task with its own connection. Reads use a separate connection pool and never wait for the writer.

mod batches;
mod bills;
mod clients;
mod conn;
mod events;
mod forwarded;
mod gauges;
mod mandates;
mod ops;
mod quotations;
mod records;
mod reports;
mod sessions;
mod writer;

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};
use tokio::sync::{mpsc, oneshot};

pub use batches::{
    BatchChange, BatchListQuery, BatchListRow, BatchRow, NewBatch, NewBatchItem, WaitingItemRow,
};
pub use bills::{BillPaymentRow, BillRow, NewBill};
pub use forwarded::{DueRelay, ForwardAnswer, ForwardRelay, ForwardedRow, NewForward, FORWARDED};
pub use mandates::{MandateFinalisation, MandateRow, NewMandate};
pub use quotations::{NewQuotation, QuotationRow};
pub use records::*;
pub use reports::{LatencyRow, ReportFilter, ReportRow, SummaryRow};
use writer::{WriteOp, WriteReply};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite writer's database failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A migration failed.
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored document could not be read back.
    #[error("corrupt stored document: {0}")]
    Corrupt(String),
    /// The writer task has stopped (the gateway is shutting down).
    #[error("the store's writer has stopped")]
    WriterGone,
    /// The data directory could not be prepared.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    /// The database URL names no supported database.
    #[error("unsupported database URL (use postgres://… or sqlite://…)")]
    UnsupportedUrl,
}

/// Group-commit writers on PostgreSQL. Each statement there is a round trip to the server, so one writer is
/// bound by latency, not by the database; several, each with its own connection, commit side by side. (SQLite
/// allows one writer at a time: it has one.)
const POSTGRES_WRITERS: usize = 4;

/// Which database the store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One gateway instance, embedded file.
    Sqlite,
    /// Any number of gateway instances sharing one server.
    Postgres,
}

/// Statistics of the group-commit writer.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterStats {
    /// Database transactions committed.
    pub commits: u64,
    /// Changes applied.
    pub operations: u64,
}

/// Tuning of the store's writer (`[store]`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// SQLite: when changes arrive back to back, how long (microseconds) the writer waits to gather more
    /// into one commit, so that one fsync carries them; 0 commits what is there at once. An idle gateway
    /// never waits. PostgreSQL's writers commit side by side and do not wait.
    pub group_commit_window_us: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            group_commit_window_us: 1_000,
        }
    }
}

/// The gateway's store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    pool: AnyPool,
    /// The writers' queues: one on SQLite; on PostgreSQL several, each with its own connection, taken in turn.
    writers: std::sync::Arc<[mpsc::Sender<WriteOp>]>,
    next_writer: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stats: std::sync::Arc<writer::SharedStats>,
}

impl Store {
    /// Opens the store: the PostgreSQL database at `database_url` when one is given, else (creating it if
    /// needed) the SQLite database `mmapi.db` in `data_dir`. Runs the migrations and starts the writer.
    /// `settings` tune the writer.
    pub async fn open(
        database_url: Option<&str>,
        data_dir: &Path,
        settings: &StoreSettings,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, options, sqlite_path) = match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                (Backend::Postgres, url.parse::<AnyConnectOptions>()?, None)
            }
            Some(url) if url.starts_with("sqlite:") => {
                let sqlite = url.parse::<SqliteConnectOptions>()?;
                let path = sqlite.get_filename().to_owned();
                (
                    Backend::Sqlite,
                    url.parse::<AnyConnectOptions>()?,
                    Some(path),
                )
            }
            Some(_) => return Err(StoreError::UnsupportedUrl),
            None => {
                std::fs::create_dir_all(data_dir)?;
                let path = std::path::absolute(data_dir.join("mmapi.db"))?;
                let sqlite = SqliteConnectOptions::new().filename(&path);
                let options = AnyConnectOptions::from_url(&sqlite.to_url_lossy())?;
                (Backend::Sqlite, options, Some(path))
            }
        };
        let options = options.disable_statement_logging();
        let stats = std::sync::Arc::new(writer::SharedStats::default());
        let mut writers = Vec::new();
        match (backend, sqlite_path) {
            (Backend::Sqlite, Some(path)) => {
                let mut migrator = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .connect()
                    .await?;
                sqlx::migrate!("./migrations/sqlite")
                    .run(&mut migrator)
                    .await?;
                migrator.close().await?;
                let wal_restart = conn::WalRestart::default();
                let writer_conn = conn::SqliteWriteConn::open(&path, wal_restart.clone())?;
                let (stop_checkpoints, checkpoints_stopped) = std::sync::mpsc::channel::<()>();
                conn::spawn_checkpointer(path, checkpoints_stopped, wal_restart)?;
                let stats = stats.clone();
                let gather_window = (settings.group_commit_window_us > 0)
                    .then(|| Duration::from_micros(settings.group_commit_window_us));
                let (tx, rx) = mpsc::channel(16_384);
                writers.push(tx);
                std::thread::Builder::new()
                    .name("store-writer".into())
                    .spawn(move || {
                        let runtime = match tokio::runtime::Builder::new_current_thread().build() {
                            Ok(runtime) => runtime,
                            Err(error) => {
                                tracing::error!(%error, "the store's writer could not start");
                                return;
                            }
                        };
                        runtime.block_on(writer::run(
                            backend,
                            writer_conn,
                            rx,
                            stats,
                            gather_window,
                        ));
                        drop(stop_checkpoints);
                    })?;
            }
            (Backend::Sqlite, None) => return Err(StoreError::UnsupportedUrl),
            (Backend::Postgres, _) => {
                let pg_options: PgConnectOptions = database_url
                    .ok_or(StoreError::UnsupportedUrl)?
                    .parse::<PgConnectOptions>()?
                    .disable_statement_logging();
                for i in 0..POSTGRES_WRITERS {
                    let mut writer_conn = PgConnection::connect_with(&pg_options).await?;
                    if i == 0 {
                        sqlx::migrate!("./migrations/postgres")
                            .run(&mut writer_conn)
                            .await?;
                    }
                    let (tx, rx) = mpsc::channel(16_384);
                    writers.push(tx);
                    tokio::spawn(writer::run(
                        backend,
                        conn::PgWriteConn(writer_conn),
                        rx,
                        stats.clone(),
                        None,
                    ));
                }
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA query_only = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            backend,
            pool,
            writers: writers.into(),
            next_writer: Default::default(),
            stats,
        })
    }

    /// Which database the store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits and group-commit batches so far.
    pub fn writer_stats(&self) -> WriterStats {
        self.stats.snapshot()
    }

    async fn write<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<WriteReply, StoreError>>) -> WriteOp,
        unwrap: impl FnOnce(WriteReply) -> Option<T>,
    ) -> Result<T, StoreError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let turn = self
            .next_writer
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let writer = self
            .writers
            .get(turn % self.writers.len().max(1))
            .ok_or(StoreError::WriterGone)?;
        writer
            .send(make(reply_tx))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        let reply = reply_rx.await.map_err(|_| StoreError::WriterGone)??;
        unwrap(reply)
            .ok_or_else(|| StoreError::Corrupt("the writer answered with the wrong reply".into()))
    }

    /// Claims the idempotency key and stores a new request state with its pending transaction, in one
    /// database transaction.
    pub async fn accept(
        &self,
        rs: NewRequestState,
        tx: NewTransaction,
    ) -> Result<AcceptResult, StoreError> {
        self.write(
            |reply| WriteOp::Accept { rs, tx, reply },
            |r| match r {
                WriteReply::Accepted(a) => Some(a),
                _ => None,
            },
        )
        .await
    }

    /// Applies a bookkeeping change (dispatch, status checks, outbox attempts) and returns the rows it touched.
    pub async fn apply(&self, change: Change) -> Result<u64, StoreError> {
        self.write(
            |reply| WriteOp::Change { change, reply },
            |r| match r {
                WriteReply::Done(n) => Some(n),
                _ => None,
            },
        )
        .await
    }

    /// Makes a pending transaction final, updates its request state and queues the client callback, in one
    /// database transaction. Returns `None` when the transaction was no longer pending (nothing changed).
    pub async fn finalise(&self, f: Finalisation) -> Result<Option<FinaliseResult>, StoreError> {
        self.write(
            |reply| WriteOp::Finalise { f, reply },
            |r| match r {
                WriteReply::Finalised(x) => Some(x),
                _ => None,
            },
        )
        .await
    }

    /// Brings pending work forward after a start. On SQLite the only instance is this one: a transaction left
    /// `sending` was interrupted by the stop and is in doubt at once, and every transaction waiting for dispatch
    /// or a status check is due now (results may have been missed while it was down). On PostgreSQL other
    /// instances may be working on them, so nothing changes: expiring claims and deadlines settle them.
    /// Run once at start-up, before any dispatch.
    pub async fn recover_after_restart(&self, now_ms: i64) -> Result<(), StoreError> {
        let change = Change::RecoverAfterRestart {
            now_ms,
            sole_instance: self.backend == Backend::Sqlite,
        };
        self.apply(change).await.map(|_| ())
    }

    /// A request state by its server correlation id.
    pub async fn request_state(&self, id: &str) -> Result<Option<RequestStateRow>, StoreError> {
        Ok(sqlx::query_as::<_, RequestStateRow>(
            "SELECT server_correlation_id, client_id, client_correlation_id, object_type, object_reference, \
             status, notification_method, callback_url, error FROM request_states WHERE server_correlation_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The request state created by a client's correlation id.
    pub async fn request_state_by_correlation(
        &self,
        client_id: &str,
        correlation_id: &str,
    ) -> Result<Option<RequestStateRow>, StoreError> {
        Ok(sqlx::query_as::<_, RequestStateRow>(
            "SELECT server_correlation_id, client_id, client_correlation_id, object_type, object_reference, \
             status, notification_method, callback_url, error FROM request_states \
             WHERE client_id = $1 AND client_correlation_id = $2",
        )
        .bind(client_id)
        .bind(correlation_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A transaction by its reference.
    pub async fn transaction(&self, reference: &str) -> Result<Option<TransactionRow>, StoreError> {
        Ok(sqlx::query_as::<_, TransactionRow>(&format!(
            "{TRANSACTION_COLUMNS} WHERE t.transaction_reference = $1"
        ))
        .bind(reference)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A transaction's owner and body (what a client reads), by its reference: one look-up in one table,
    /// without the request state that [`Store::transaction`] joins.
    pub async fn transaction_body(
        &self,
        reference: &str,
    ) -> Result<Option<TransactionBody>, StoreError> {
        Ok(sqlx::query_as::<_, TransactionBody>(
            "SELECT client_id, body FROM transactions WHERE transaction_reference = $1",
        )
        .bind(reference)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A transaction by the operator's reference.
    pub async fn transaction_by_provider_reference(
        &self,
        provider: &str,
        provider_reference: &str,
    ) -> Result<Option<TransactionRow>, StoreError> {
        Ok(sqlx::query_as::<_, TransactionRow>(&format!(
            "{TRANSACTION_COLUMNS} WHERE t.provider = $1 AND t.provider_reference = $2"
        ))
        .bind(provider)
        .bind(provider_reference)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a completed payment the gateway did not start (once per operator reference) with its
    /// notification, in one database transaction.
    pub async fn incoming(&self, incoming: NewIncoming) -> Result<IncomingResult, StoreError> {
        self.write(
            |reply| WriteOp::Incoming { incoming, reply },
            |r| match r {
                WriteReply::Incoming(x) => Some(x),
                _ => None,
            },
        )
        .await
    }

    /// An account's transactions, newest first, with the number that match the filters in all.
    ///
    /// Each side of the account is read from its own index (`client_id`, account, `created_at`,
    /// reference) and the two are merged, so a page costs its length however many transactions the account
    /// has. Unfiltered, the count is the account's kept count ([`Store::account_count`]); filtered, it counts
    /// the index range (the rows too for a status or type filter).
    pub async fn account_transactions(
        &self,
        q: &AccountQuery,
    ) -> Result<(i64, Vec<String>), StoreError> {
        let mut filters = String::new();
        let mut n = 2;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if q.from_ms.is_some() {
            filters.push_str(&format!(" AND created_at >= {}", next()));
        }
        if q.to_ms.is_some() {
            filters.push_str(&format!(" AND created_at <= {}", next()));
        }
        if q.status.is_some() {
            filters.push_str(&format!(" AND status = {}", next()));
        }
        if q.transaction_type.is_some() {
            filters.push_str(&format!(" AND transaction_type = {}", next()));
        }
        let (limit, offset, window) = (next(), next(), next());
        let debit_side = format!("client_id = $1 AND debit_account = $2{filters}");
        let credit_side = format!(
            "client_id = $1 AND credit_account = $2 AND (debit_account IS NULL OR debit_account <> $2){filters}"
        );
        // Each side is cut to the page's end before the two are merged, so that neither store's planner can
        // choose to read a whole side and sort it (PostgreSQL did, with statistics from when the table was small).
        let newest = "ORDER BY created_at DESC, transaction_reference DESC";
        let side = |condition: &str, name: &str| {
            format!(
                "SELECT created_at, transaction_reference, body FROM (SELECT created_at, transaction_reference, \
                 body FROM transactions WHERE {condition} {newest} LIMIT {window}) AS {name}"
            )
        };
        let list_sql = format!(
            "SELECT created_at, transaction_reference, body FROM ({} UNION ALL {}) AS sides \
             {newest} LIMIT {limit} OFFSET {offset}",
            side(&debit_side, "debits"),
            side(&credit_side, "credits"),
        );
        macro_rules! bind_filters {
            ($query:expr) => {{
                let mut query = $query.bind(&q.client_id).bind(&q.account);
                if let Some(v) = q.from_ms {
                    query = query.bind(v);
                }
                if let Some(v) = q.to_ms {
                    query = query.bind(v);
                }
                if let Some(v) = &q.status {
                    query = query.bind(v);
                }
                if let Some(v) = &q.transaction_type {
                    query = query.bind(v);
                }
                query
            }};
        }
        let total: i64 = if filters.is_empty() {
            self.account_count(&q.client_id, &q.account).await?
        } else {
            let count_sql = format!(
                "SELECT (SELECT COUNT(*) FROM transactions WHERE {debit_side}) + \
                 (SELECT COUNT(*) FROM transactions WHERE {credit_side})"
            );
            bind_filters!(sqlx::query_scalar(&count_sql))
                .fetch_one(&self.pool)
                .await?
        };
        let rows: Vec<(i64, String, String)> = bind_filters!(sqlx::query_as(&list_sql))
            .bind(q.limit)
            .bind(q.offset)
            .bind(q.limit.saturating_add(q.offset))
            .fetch_all(&self.pool)
            .await?;
        Ok((total, rows.into_iter().map(|(_, _, body)| body).collect()))
    }

    /// How many transactions an account of a client lists (unfiltered): its kept count, plus on PostgreSQL the
    /// deltas not folded into it yet. Two look-ups, however many transactions the account has.
    pub async fn account_count(&self, client_id: &str, account: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(COALESCE((SELECT transactions FROM account_counts WHERE client_id = $1 AND account = $2), 0) \
             + COALESCE((SELECT SUM(delta) FROM account_count_deltas WHERE client_id = $1 AND account = $2), 0) \
             AS BIGINT)",
        )
        .bind(client_id)
        .bind(account)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Folds account-count deltas into the accounts' counts (PostgreSQL; nothing to do on SQLite), up to
    /// `limit` of them; returns the counts changed.
    pub async fn fold_account_counts(&self, limit: i64) -> Result<u64, StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(0);
        }
        self.apply(Change::FoldAccountCounts { limit }).await
    }

    /// Claims up to `limit` pending transactions that need attention by `now_ms` (never sent, in doubt, or
    /// waiting for a status check), oldest first, for `lease_ms`: no other instance takes them meanwhile.
    pub async fn claim_due_transactions(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<TransactionRow>, StoreError> {
        let claim = writer::Claim::Transactions {
            now_ms,
            lease_ms,
            limit,
        };
        let references = self
            .write(
                |reply| WriteOp::Claim { claim, reply },
                |r| match r {
                    WriteReply::ClaimedTransactions(references) => Some(references),
                    _ => None,
                },
            )
            .await?;
        if references.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{TRANSACTION_COLUMNS} WHERE t.transaction_reference IN ({})",
            placeholders(references.len())
        );
        let query = references
            .iter()
            .fold(sqlx::query_as::<_, TransactionRow>(&sql), |q, r| q.bind(r));
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Claims up to `limit` client callbacks due for (another) delivery attempt, for `lease_ms`.
    pub async fn claim_due_callbacks(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let claim = writer::Claim::Callbacks {
            now_ms,
            lease_ms,
            limit,
        };
        let ids = self
            .write(
                |reply| WriteOp::Claim { claim, reply },
                |r| match r {
                    WriteReply::ClaimedCallbacks(ids) => Some(ids),
                    _ => None,
                },
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, server_correlation_id, url, correlation_id, body, attempts, client_id, request_id FROM outbox \
             WHERE id IN ({}) ORDER BY next_attempt_at",
            placeholders(ids.len())
        );
        let query = ids
            .iter()
            .fold(sqlx::query_as::<_, OutboxRow>(&sql), |q, id| q.bind(*id));
        Ok(query.fetch_all(&self.pool).await?)
    }
}

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The key under which a side of a transaction is listed: the value of its first identifier, without spaces,
/// dashes or a leading `+` (so `+254 708 374149` and `254708374149` are one account).
pub fn account_key(value: &str) -> String {
    let compact: String = value.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    compact.strip_prefix('+').unwrap_or(&compact).to_owned()
}

/// Transactions joined with what their request state says about notifying the client.
pub(crate) const TRANSACTION_COLUMNS: &str = "SELECT t.transaction_reference, t.server_correlation_id, t.client_id, \
    t.transaction_type, t.status, t.provider, t.dispatch_state, t.dispatch_attempts, t.provider_reference, \
    t.provider_refs, t.check_attempts, t.in_doubt_since, t.body, r.callback_url, r.client_correlation_id, r.request_id \
    FROM transactions t JOIN request_states r ON r.server_correlation_id = t.server_correlation_id";

//! The writer's SQLite connection: rusqlite on the writer's own thread, every statement prepared once and
//! cached, so a change costs a function call rather than a hop to another thread. Checkpoints run on a thread
//! of their own, never inside a commit; only the few frames left over when the WAL is to restart are checkpointed
//! by the writer, between two commits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params_from_iter, Connection, ToSql};

use super::{Backend, Param, StoreError, WriteConn};

/// How often the checkpointer copies committed pages from the WAL into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// A WAL holding more frames than this (4 KiB pages) after a checkpoint is to be started afresh: the writer is
/// asked to finish the checkpoint between two commits (see [`WalRestart`]).
const RESTART_WAL_AFTER_FRAMES: i64 = 1024;

/// Set by the checkpointer when the WAL has been copied into the database file but keeps growing.
///
/// SQLite writes the WAL from its start again only when a write transaction begins with every frame already
/// checkpointed. Under a steady stream of commits that never happens by itself: the checkpointer runs beside the
/// writer, and by the time it has copied the WAL the writer has appended to it, so the file would grow without
/// end (1.4 GB in 15 s at 4,000 payments a second). When this flag is set, the writer checkpoints the few
/// frames committed since, on its own connection, just before its next transaction, which then restarts the WAL.
#[derive(Clone, Default)]
pub(in crate::store) struct WalRestart(Arc<AtomicBool>);

/// The writer's own SQLite connection.
pub(in crate::store) struct SqliteWriteConn {
    conn: Connection,
    wal_restart: WalRestart,
}

impl SqliteWriteConn {
    /// Opens the writer's connection: WAL, every commit synced to disk, no automatic checkpoints (the
    /// checkpointer does them, and sets `wal_restart` when the writer is to finish one).
    pub fn open(path: &Path, wal_restart: WalRestart) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
             PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 0;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Self { conn, wal_restart })
    }

    /// Checkpoints what the checkpointer left (the frames committed while it ran), so that the next write
    /// transaction starts the WAL afresh.
    fn finish_checkpoint(&mut self) {
        if self.wal_restart.0.swap(false, Ordering::Relaxed) {
            if let Err(error) =
                self.conn
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            {
                tracing::warn!(%error, "WAL checkpoint before a restart failed");
            }
        }
    }
}

/// The store's SQL numbers its placeholders `$n` (PostgreSQL's way); SQLite's spelling is `?n`.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Param::Int(v) => v.to_sql(),
            Param::Text(v) => v.to_sql(),
        }
    }
}

#[async_trait::async_trait]
impl WriteConn for SqliteWriteConn {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn begin(&mut self) -> Result<(), StoreError> {
        self.finish_checkpoint();
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    async fn rollback(&mut self) -> Result<(), StoreError> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let sql = sqlite_sql(sql);
        let mut statement = self.conn.prepare_cached(&sql)?;
        let changed = statement.execute(params_from_iter(params.iter()))? as u64;
        warn_of_full_scan(&mut statement, &sql);
        Ok(changed)
    }

    async fn fetch_texts(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        columns: usize,
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let sql = sqlite_sql(sql);
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(params.iter()), |row| {
            (0..columns)
                .map(|i| row.get::<_, Option<String>>(i))
                .collect()
        })?;
        let rows = rows.collect::<Result<_, _>>()?;
        warn_of_full_scan(&mut statement, &sql);
        Ok(rows)
    }

    async fn fetch_ints(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<i64>, StoreError> {
        let sql = sqlite_sql(sql);
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows =
            statement.query_map(params_from_iter(params.iter()), |row| row.get::<_, i64>(0))?;
        let rows = rows.collect::<Result<_, _>>()?;
        warn_of_full_scan(&mut statement, &sql);
        Ok(rows)
    }
}

/// Logs a write statement that read a whole table: its cost grows with the store, and as the writer is one
/// thread, every commit waits for it (a join on an unindexed column once made each delivered callback read
/// every transaction). The statement's text has placeholders, never values.
fn warn_of_full_scan(statement: &mut rusqlite::CachedStatement<'_>, sql: &str) {
    let scanned = statement.reset_status(rusqlite::StatementStatus::FullscanStep);
    if scanned > 0 {
        tracing::warn!(rows = scanned, sql, "a write statement read a whole table");
    }
}

/// Starts the thread that checkpoints the WAL of the database at `path` every 100 ms, without blocking the
/// writer or readers (`PASSIVE`), and asks the writer to restart a WAL that has grown (`wal_restart`). It stops
/// when `stop`'s sender is dropped.
pub(in crate::store) fn spawn_checkpointer(
    path: PathBuf,
    stop: Receiver<()>,
    wal_restart: WalRestart,
) -> Result<(), StoreError> {
    let conn = Connection::open(&path)?;
    conn.execute_batch("PRAGMA busy_timeout = 10000;")?;
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || loop {
            match stop.recv_timeout(CHECKPOINT_INTERVAL) {
                Err(RecvTimeoutError::Timeout) => {
                    // (busy, frames in the WAL, frames checkpointed)
                    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                    }) {
                        Ok((frames, checkpointed)) => {
                            if frames > RESTART_WAL_AFTER_FRAMES && checkpointed == frames {
                                wal_restart.0.store(true, Ordering::Relaxed);
                            }
                        }
                        Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
                    }
                }
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    // A last checkpoint, so a clean stop leaves a small WAL.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                    break;
                }
            }
        })?;
    Ok(())
}

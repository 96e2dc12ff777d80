//! Reads of the transactions waiting for manual review and of the callback delivery log, and the shutdown
//! barrier.

use super::writer::WriteOp;
use super::{Change, OutboxLogRow, Store, StoreError, TransactionRow, TRANSACTION_COLUMNS};

impl Store {
    /// Up to `limit` transactions marked for manual review (`dispatch_state` `review`), oldest first.
    pub async fn transactions_in_review(
        &self,
        limit: i64,
    ) -> Result<Vec<TransactionRow>, StoreError> {
        Ok(sqlx::query_as::<_, TransactionRow>(&format!(
            "{TRANSACTION_COLUMNS} WHERE t.status = 'pending' AND t.dispatch_state = 'review' \
             ORDER BY t.updated_at, t.transaction_reference LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Up to `limit` client callbacks' delivery logs, in `state` if given, newest first.
    pub async fn callback_log(
        &self,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxLogRow>, StoreError> {
        const COLUMNS: &str =
            "SELECT id, server_correlation_id, url, state, attempts, last_status, last_error, \
            created_at, delivered_at FROM outbox";
        let sql = match state {
            Some(_) => format!("{COLUMNS} WHERE state = $1 ORDER BY id DESC LIMIT $2"),
            None => format!("{COLUMNS} ORDER BY id DESC LIMIT $1"),
        };
        let mut query = sqlx::query_as::<_, OutboxLogRow>(&sql);
        if let Some(state) = state {
            query = query.bind(state.to_owned());
        }
        Ok(query.bind(limit).fetch_all(&self.pool).await?)
    }

    /// The outbox ids of the client callbacks given up on, oldest first.
    pub async fn abandoned_callback_ids(&self) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM outbox WHERE state = 'abandoned' ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Waits until every write queued before this call has committed: a barrier sent to each writer, which
    /// drains its queue in order.
    pub async fn flush(&self) -> Result<(), StoreError> {
        for writer in self.writers.iter() {
            let (reply, done) = tokio::sync::oneshot::channel();
            writer
                .send(WriteOp::Change {
                    change: Change::Flush,
                    reply,
                })
                .await
                .map_err(|_| StoreError::WriterGone)?;
            done.await.map_err(|_| StoreError::WriterGone)??;
        }
        Ok(())
    }
}

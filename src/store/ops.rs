//! Reads of the transactions waiting for manual review, and the shutdown barrier.

use super::writer::WriteOp;
use super::{Change, Store, StoreError, TransactionRow, TRANSACTION_COLUMNS};

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

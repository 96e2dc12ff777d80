//! Reads behind the `/metrics` gauges: outbox depth, reconciliation backlog and connection-pool usage.
//! Run only when `/metrics` is scraped, never on a request's path.

use super::{Store, StoreError};

/// Counts of work still owed, read at scrape time.
#[derive(Debug, Default, Clone)]
pub struct Backlog {
    /// Client callbacks not yet delivered (outbox `pending`).
    pub callbacks_owed: i64,
    /// Client callbacks given up on (outbox `abandoned`).
    pub callbacks_abandoned: i64,
    /// Pending transactions by `dispatch_state` (`queued`, `sending`, `acknowledged`, `in_doubt`, `review`).
    pub pending_by_dispatch_state: Vec<(String, i64)>,
}

/// The read pool's size and idle connections.
#[derive(Debug, Default, Clone, Copy)]
pub struct PoolUsage {
    pub size: u32,
    pub idle: u32,
}

impl Store {
    /// The work still owed, in two small aggregate queries (both served by partial indexes on `status`/`state`).
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        let outbox: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM outbox WHERE state IN ('pending', 'abandoned') GROUP BY state",
        )
        .fetch_all(&self.pool)
        .await?;
        let pending: Vec<(String, i64)> = sqlx::query_as(
            "SELECT dispatch_state, COUNT(*) FROM transactions WHERE status = 'pending' \
             GROUP BY dispatch_state ORDER BY dispatch_state",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut backlog = Backlog {
            pending_by_dispatch_state: pending,
            ..Backlog::default()
        };
        for (state, count) in outbox {
            match state.as_str() {
                "pending" => backlog.callbacks_owed = count,
                "abandoned" => backlog.callbacks_abandoned = count,
                _ => {}
            }
        }
        Ok(backlog)
    }

    /// How many read connections are open and how many of them are idle.
    pub fn pool_usage(&self) -> PoolUsage {
        PoolUsage {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }
}

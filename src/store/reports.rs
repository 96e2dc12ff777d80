//! The dashboard's reads: transactions by filter (a page, their count, what the charts total), the operator
//! latency of each (dispatched → final, from the story), and the operations page's figures. A client's filter
//! carries its id, so isolation is in the SQL, never applied after the rows are read.

use sqlx::FromRow;

use super::{BatchRow, OutboxLogRow, Store, StoreError, TransactionRow, TRANSACTION_COLUMNS};

/// Which transactions a report covers. `client_id` is set for every client that is not an operator.
#[derive(Clone, Debug, Default)]
pub struct ReportFilter {
    pub client_id: Option<String>,
    /// Created at or after (ms since the epoch).
    pub from_ms: i64,
    /// Created before (ms since the epoch).
    pub to_ms: i64,
    pub provider: Option<String>,
    /// The market: a currency code.
    pub currency: Option<String>,
    pub transaction_type: Option<String>,
    pub status: Option<String>,
    /// An account key (see [`account_key`](super::account_key)) on either side.
    pub msisdn: Option<String>,
}

/// A value bound to a filter's placeholder.
enum Bind<'a> {
    Int(i64),
    Text(&'a str),
}

impl ReportFilter {
    /// The `WHERE` clause over `transactions t` and its values, numbered from `$1`.
    fn clause(&self) -> (String, Vec<Bind<'_>>) {
        let mut binds = vec![Bind::Int(self.from_ms), Bind::Int(self.to_ms)];
        let mut sql = String::from("t.created_at >= $1 AND t.created_at < $2");
        let columns = [
            ("t.client_id", &self.client_id),
            ("t.provider", &self.provider),
            ("t.currency", &self.currency),
            ("t.transaction_type", &self.transaction_type),
            ("t.status", &self.status),
        ];
        for (column, value) in columns {
            if let Some(value) = value {
                binds.push(Bind::Text(value));
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        if let Some(msisdn) = &self.msisdn {
            binds.push(Bind::Text(msisdn));
            let n = binds.len();
            sql.push_str(&format!(
                " AND (t.debit_account = ${n} OR t.credit_account = ${n})"
            ));
        }
        (sql, binds)
    }
}

macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds.iter() {
            query = match bind {
                Bind::Int(v) => query.bind(*v),
                Bind::Text(v) => query.bind(*v),
            };
        }
        query
    }};
}

/// A transaction as a report lists it.
#[derive(Clone, Debug, FromRow)]
pub struct ReportRow {
    pub transaction_reference: String,
    pub client_id: String,
    pub transaction_type: String,
    pub status: String,
    pub provider: String,
    pub currency: Option<String>,
    /// A decimal string.
    pub amount: Option<String>,
    pub debit_account: Option<String>,
    pub credit_account: Option<String>,
    pub provider_reference: Option<String>,
    /// ms since the epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the charts total per transaction.
#[derive(Clone, Debug, FromRow)]
pub struct SummaryRow {
    pub created_at: i64,
    pub status: String,
    pub currency: Option<String>,
    pub amount: Option<String>,
}

/// When a transaction was sent to its operator and when it became final (ms since the epoch).
#[derive(Clone, Debug, FromRow)]
pub struct LatencyRow {
    pub provider: String,
    pub dispatched_at: i64,
    pub final_at: i64,
}

const REPORT_COLUMNS: &str = "SELECT t.transaction_reference, t.client_id, t.transaction_type, t.status, \
    t.provider, t.currency, t.amount, t.debit_account, t.credit_account, t.provider_reference, t.created_at, \
    t.updated_at FROM transactions t";

impl Store {
    /// A transaction by its reference, if it belongs to `client_id` (any client's when `None`).
    pub async fn transaction_seen_by(
        &self,
        reference: &str,
        client_id: Option<&str>,
    ) -> Result<Option<TransactionRow>, StoreError> {
        let sql = match client_id {
            Some(_) => format!(
                "{TRANSACTION_COLUMNS} WHERE t.transaction_reference = $1 AND t.client_id = $2"
            ),
            None => format!("{TRANSACTION_COLUMNS} WHERE t.transaction_reference = $1"),
        };
        let mut query = sqlx::query_as::<_, TransactionRow>(&sql).bind(reference);
        if let Some(client_id) = client_id {
            query = query.bind(client_id);
        }
        Ok(query.fetch_optional(&self.pool).await?)
    }

    /// How many transactions match `filter`.
    pub async fn report_count(&self, filter: &ReportFilter) -> Result<i64, StoreError> {
        let (clause, binds) = filter.clause();
        let sql = format!("SELECT COUNT(*) FROM transactions t WHERE {clause}");
        Ok(bind_all!(sqlx::query_scalar::<_, i64>(&sql), binds)
            .fetch_one(&self.pool)
            .await?)
    }

    /// The transactions matching `filter`, newest first.
    pub async fn report_page(
        &self,
        filter: &ReportFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let (clause, binds) = filter.clause();
        let n = binds.len();
        let sql = format!(
            "{REPORT_COLUMNS} WHERE {clause} ORDER BY t.created_at DESC, t.transaction_reference DESC \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        Ok(bind_all!(sqlx::query_as::<_, ReportRow>(&sql), binds)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Up to `limit` transactions matching `filter` as the charts total them.
    pub async fn report_summary(
        &self,
        filter: &ReportFilter,
        limit: i64,
    ) -> Result<Vec<SummaryRow>, StoreError> {
        let (clause, binds) = filter.clause();
        let sql = format!(
            "SELECT t.created_at, t.status, t.currency, t.amount FROM transactions t WHERE {clause} \
             ORDER BY t.created_at LIMIT ${}",
            binds.len() + 1
        );
        Ok(bind_all!(sqlx::query_as::<_, SummaryRow>(&sql), binds)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Up to `limit` operator latencies of the final transactions matching `filter`: from the first dispatch
    /// to the result, as their stories recorded them.
    pub async fn report_latencies(
        &self,
        filter: &ReportFilter,
        limit: i64,
    ) -> Result<Vec<LatencyRow>, StoreError> {
        let (clause, binds) = filter.clause();
        let sql = format!(
            "SELECT t.provider, MIN(d.at_ms) AS dispatched_at, MAX(f.at_ms) AS final_at FROM transactions t \
             JOIN transaction_events d ON d.transaction_reference = t.transaction_reference AND d.kind = 'dispatched' \
             JOIN transaction_events f ON f.transaction_reference = t.transaction_reference \
             AND f.kind IN ('completed', 'failed') \
             WHERE {clause} GROUP BY t.transaction_reference, t.provider LIMIT ${}",
            binds.len() + 1
        );
        Ok(bind_all!(sqlx::query_as::<_, LatencyRow>(&sql), binds)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Final transactions since `since_ms` by provider and status: `(provider, status, count)`.
    pub async fn recent_outcomes(
        &self,
        since_ms: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (String, String, i64)>(
            "SELECT provider, status, COUNT(*) FROM transactions WHERE updated_at >= $1 \
             AND status IN ('completed', 'failed') GROUP BY provider, status ORDER BY provider, status",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many client callbacks are in each outbox state: `(state, count)`.
    pub async fn callback_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (String, i64)>(
            "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The client callbacks of a request, oldest first.
    pub async fn callbacks_of(
        &self,
        server_correlation_id: &str,
    ) -> Result<Vec<OutboxLogRow>, StoreError> {
        Ok(sqlx::query_as::<_, OutboxLogRow>(
            "SELECT id, server_correlation_id, url, state, attempts, last_status, last_error, created_at, \
             delivered_at FROM outbox WHERE server_correlation_id = $1 ORDER BY id",
        )
        .bind(server_correlation_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The latest `limit` batches, newest first.
    pub async fn recent_batches(&self, limit: i64) -> Result<Vec<BatchRow>, StoreError> {
        Ok(sqlx::query_as::<_, BatchRow>(&format!(
            "{} ORDER BY b.created_at DESC LIMIT $1",
            super::batches::BATCH_COLUMNS
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

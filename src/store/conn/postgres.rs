//! The writer's PostgreSQL connection (sqlx, with its cache of prepared statements).

use sqlx::postgres::{PgArguments, PgConnection};
use sqlx::query::Query;
use sqlx::{Executor, Postgres, Row};

use super::{Backend, Param, StoreError, WriteConn};

/// The writer's own PostgreSQL connection.
pub(in crate::store) struct PgWriteConn(pub PgConnection);

fn bound<'q>(sql: &'q str, params: &[Param<'q>]) -> Query<'q, Postgres, PgArguments> {
    params
        .iter()
        .fold(sqlx::query(sql), |query, param| match *param {
            Param::Int(v) => query.bind(v),
            Param::Text(v) => query.bind(v),
        })
}

#[async_trait::async_trait]
impl WriteConn for PgWriteConn {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn begin(&mut self) -> Result<(), StoreError> {
        self.0.execute("BEGIN").await?;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), StoreError> {
        self.0.execute("COMMIT").await?;
        Ok(())
    }

    async fn rollback(&mut self) -> Result<(), StoreError> {
        self.0.execute("ROLLBACK").await?;
        Ok(())
    }

    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        Ok(bound(sql, params)
            .execute(&mut self.0)
            .await?
            .rows_affected())
    }

    async fn fetch_texts(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        columns: usize,
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let rows = bound(sql, params).fetch_all(&mut self.0).await?;
        rows.iter()
            .map(|row| {
                (0..columns)
                    .map(|i| {
                        row.try_get::<Option<String>, _>(i)
                            .map_err(StoreError::from)
                    })
                    .collect()
            })
            .collect()
    }

    async fn fetch_ints(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<i64>, StoreError> {
        let rows = bound(sql, params).fetch_all(&mut self.0).await?;
        rows.iter()
            .map(|row| row.try_get::<i64, _>(0).map_err(StoreError::from))
            .collect()
    }
}

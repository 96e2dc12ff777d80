//! The writer's connection: the few things the group-commit writer asks of a database, so that its changes are
//! written once and run on SQLite (a dedicated thread with prepared statements) and on PostgreSQL alike.

mod postgres;
mod sqlite;

pub(super) use postgres::PgWriteConn;
pub(super) use sqlite::{spawn_checkpointer, SqliteWriteConn, WalRestart};

use super::{Backend, StoreError};

/// A value bound to a statement's `$n` placeholder. NULLs carry their type, as PostgreSQL needs it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Param<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(Some(v))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Param::Int(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Param::Text(v.as_deref())
    }
}

/// What the group-commit writer needs of its database connection.
#[async_trait::async_trait]
pub(super) trait WriteConn: Send {
    /// The database this connection writes to.
    fn backend(&self) -> Backend;
    /// Starts a database transaction that will write.
    async fn begin(&mut self) -> Result<(), StoreError>;
    /// Makes the open transaction durable.
    async fn commit(&mut self) -> Result<(), StoreError>;
    /// Abandons the open transaction, if any.
    async fn rollback(&mut self) -> Result<(), StoreError>;
    /// Runs a statement and returns the rows it changed.
    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError>;
    /// Runs a query whose first `columns` columns are text (or NULL).
    async fn fetch_texts(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        columns: usize,
    ) -> Result<Vec<Vec<Option<String>>>, StoreError>;
    /// Runs a query whose first column is an integer.
    async fn fetch_ints(&mut self, sql: &str, params: &[Param<'_>])
        -> Result<Vec<i64>, StoreError>;
}

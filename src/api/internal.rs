//! Operational endpoints outside the GSMA API: `GET /internal/stats`, the figures an operator (and the benchmark)
//! reads to see how the store is coping.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::engine::Engine;

/// The gateway's counters since it started.
#[derive(Debug, Serialize)]
pub struct Stats {
    pub store: StoreStats,
    /// Transactions sent by this instance whose operator result has not come yet.
    pub awaiting_results: usize,
}

/// The group-commit writer's counters: `operations / commits` is the average batch.
#[derive(Debug, Serialize)]
pub struct StoreStats {
    pub backend: &'static str,
    pub commits: u64,
    pub operations: u64,
}

/// The routes under `/internal`.
pub fn routes(engine: Arc<Engine>) -> Router {
    Router::new().route("/stats", get(stats)).with_state(engine)
}

async fn stats(State(engine): State<Arc<Engine>>) -> Json<Stats> {
    let store = engine.store();
    let writer = store.writer_stats();
    Json(Stats {
        store: StoreStats {
            backend: match store.backend() {
                crate::store::Backend::Sqlite => "sqlite",
                crate::store::Backend::Postgres => "postgres",
            },
            commits: writer.commits,
            operations: writer.operations,
        },
        awaiting_results: engine.awaiting_results(),
    })
}

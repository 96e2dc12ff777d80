//! Operational endpoints outside the GSMA API: `GET /internal/stats`, the figures an operator (and the benchmark)
//! reads to see how the store is coping; `GET /internal/review`, the transactions waiting for manual review, and
//! `POST /internal/review/{reference}` (`{"status": "completed"|"failed"}`), which settles one.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mmapi_core::GsmaError;
use serde::{Deserialize, Serialize};

use crate::api::error::ApiError;
use crate::review::{Resolution, ReviewError, ReviewItem};

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
    Router::new()
        .route("/stats", get(stats))
        .route("/review", get(review_list))
        .route("/review/{reference}", post(review_resolve))
        .with_state(engine)
}

async fn review_list(State(engine): State<Arc<Engine>>) -> Result<Json<Vec<ReviewItem>>, ApiError> {
    crate::review::list(engine.store())
        .await
        .map(Json)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot list transactions in review");
            ApiError::new(GsmaError::internal())
        })
}

/// The body of `POST /internal/review/{reference}`.
#[derive(Debug, Deserialize)]
pub struct ReviewDecision {
    pub status: Resolution,
}

async fn review_resolve(
    State(engine): State<Arc<Engine>>,
    Path(reference): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // Parsed here, not by axum's `Json`, so that a malformed body gets a GSMA error object.
    let decision: ReviewDecision = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(GsmaError::format(
            "status",
            format!("The body must be {{\"status\": \"completed\"|\"failed\"}}: {e}"),
        ))
    })?;
    match crate::review::resolve(&engine, &reference, decision.status).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(ReviewError::NotFound(_)) => Err(ApiError::new(GsmaError::not_found(
            "No transaction with this reference",
        ))),
        Err(e @ ReviewError::NotInReview { .. }) => Err(ApiError::with_status(
            StatusCode::CONFLICT,
            GsmaError::new(
                mmapi_core::ErrorCategory::BusinessRule,
                mmapi_core::ErrorCode::GenericError,
                e.to_string(),
            ),
        )),
        Err(e) => {
            tracing::error!(reference, error = %e, "cannot settle a transaction in review");
            Err(ApiError::new(GsmaError::internal()))
        }
    }
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

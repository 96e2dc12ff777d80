//! The ceiling: a bare axum server that reads each request and answers `202` with a small JSON body, with
//! nothing behind it. The gateway can at best approach what the same machine and load generator get from it.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Router;

/// Serves until killed. Runs on a multi-threaded runtime with one worker per core, like the gateway.
pub fn serve(listen: SocketAddr) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let app = Router::new().fallback(accept);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// Reads the body and answers like the gateway's accept, without doing anything.
async fn accept(_body: Bytes) -> impl IntoResponse {
    let id = uuid::Uuid::now_v7();
    let answer = format!(
        r#"{{"serverCorrelationId":"{id}","objectReference":"{}","status":"pending","notificationMethod":"polling"}}"#,
        id.simple()
    );
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        answer,
    )
}

//! The one place where errors become HTTP responses: a GSMA error object with its category's status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::GsmaError;

use super::json::GsmaJson;
use crate::engine::EngineError;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: GsmaError,
}

impl ApiError {
    /// An error with the HTTP status of its category.
    pub fn new(error: GsmaError) -> Self {
        let status =
            StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, error }
    }

    /// Whether it says that what was asked for does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
    }

    /// An error with a status other than its category's (405, 413).
    pub fn with_status(status: StatusCode, error: GsmaError) -> Self {
        Self { status, error }
    }
}

impl From<GsmaError> for ApiError {
    fn from(error: GsmaError) -> Self {
        ApiError::new(error)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Rejected(error) => ApiError::new(error),
            EngineError::Duplicate { link } => {
                let mut error = GsmaError::duplicate_request(
                    "A request with this X-CorrelationID has already been processed; GET /responses/{X-CorrelationID} gives the resource it created",
                );
                if let Some(link) = link {
                    error = error.with_param("link", link);
                }
                ApiError::new(error)
            }
            EngineError::Store(e) => {
                tracing::error!(error = %e, "store failure while handling a request");
                ApiError::new(GsmaError::internal())
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::from(EngineError::Store(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        GsmaJson(self.status, self.error).into_response()
    }
}

/// 404 for a path no route serves.
pub async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(GsmaError::not_found(format!(
        "There is no resource at {}",
        uri.path()
    )))
}

/// 405 for a method a route does not serve.
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::GenericError,
            format!("{} is not supported on {}", method, uri.path()),
        ),
    )
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(e: crate::auth::AuthError) -> Self {
        match &e {
            crate::auth::AuthError::Store(_) | crate::auth::AuthError::Hash(_) => {
                tracing::error!(error = %e, "the client registry failed");
            }
            _ => tracing::info!(reason = %e, "request not authenticated"),
        }
        ApiError::new(e.to_gsma())
    }
}

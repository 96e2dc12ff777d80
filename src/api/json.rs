//! JSON responses with the content type GSMA gives: `application/json; charset=utf-8`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The GSMA content type.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A status and a JSON body.
pub struct GsmaJson<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for GsmaJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.1) {
            Ok(bytes) => {
                let mut response = (self.0, bytes).into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
                response
            }
            Err(e) => {
                tracing::error!(error = %e, "could not serialise a response");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// A status and JSON text that is already serialised (a stored document).
pub struct RawJson(pub StatusCode, pub String);

impl IntoResponse for RawJson {
    fn into_response(self) -> Response {
        let mut response = (self.0, self.1).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }
}

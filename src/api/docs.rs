//! The gateway's OpenAPI document, generated from the handlers and the model.

use utoipa::OpenApi;

use super::{supporting, transactions};

/// The OpenAPI document of the GSMA facade.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mmapi-gateway",
        description = "The GSMA Mobile Money API 1.2, served by mmapi-gateway in front of M-Pesa operators. \
            Deviation from the GSMA YAML, on purpose: the error object's description is `errorDescription` \
            (as the GSMA prose specification and test platform spell it), not `errordescription`.",
        license(name = "Apache-2.0")
    ),
    servers(
        (url = "/v1.2/mm", description = "The gateway's GSMA API"),
        (url = "/simulator/v1.2/passthrough/mm", description = "The same API at the GSMA SDKs' default path")
    ),
    paths(
        transactions::create,
        transactions::get,
        supporting::request_state,
        supporting::response,
        supporting::heartbeat,
    ),
    tags(
        (name = "Transactions", description = "Payments and transfers"),
        (name = "Supporting", description = "Request states, responses and the heartbeat")
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `mmapi-gateway openapi` prints and `openapi/mmapi-gateway.json` holds).
pub fn json() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

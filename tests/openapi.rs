//! The checked-in OpenAPI document is the one the code generates, and it describes the API as served.

use serde_json::Value;

const CHECKED_IN: &str = "openapi/mmapi-gateway.json";

#[test]
fn checked_in_document_is_current() {
    let generated = mmapi_gateway::api::docs::json();
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        generated == checked_in,
        "{CHECKED_IN} is stale: regenerate it with `cargo run -- openapi > {CHECKED_IN}`"
    );
}

#[test]
fn document_uses_gsma_names_and_no_nulls() {
    let doc: Value = serde_json::from_str(&mmapi_gateway::api::docs::json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let error = &schemas["errorObject"]["properties"];
    assert!(error["errorDescription"].is_object());
    assert!(error["errordescription"].is_null());
    assert_eq!(
        schemas["amount"]["pattern"],
        mmapi_core::amount::AMOUNT_PATTERN
    );
    let state = &schemas["requestStateObject"];
    assert_eq!(
        state["required"],
        serde_json::json!(["serverCorrelationId", "status", "notificationMethod"])
    );
    assert!(
        !doc.to_string().contains("\"null\""),
        "no nullable types: the gateway never sends null"
    );
    for path in [
        "/transactions/type/{transactionType}",
        "/transactions/{transactionReference}",
        "/requeststates/{serverCorrelationId}",
        "/responses/{clientCorrelationId}",
        "/heartbeat",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}

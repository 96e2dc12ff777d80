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
    let mandate = &schemas["responseDebitMandate"];
    assert_eq!(mandate["required"][0], "mandateReference");
    for field in [
        "payee",
        "mandateStatus",
        "startDate",
        "endDate",
        "amountLimit",
        "currency",
        "frequencyType",
        "numberOfPayments",
        "requestDate",
        "creationDate",
    ] {
        assert!(
            mandate["properties"][field].is_object(),
            "responseDebitMandate.{field}"
        );
    }
    assert!(schemas["requestDebitMandate"]["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|f| f == "startDate")));
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
        "/accounts/{identifierType}/{identifier}/debitmandates",
        "/accounts/{accountId}/debitmandates",
        "/accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}",
        "/accounts/{accountId}/debitmandates/{debitMandateReference}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}

#[test]
fn document_tells_generated_clients_how_to_authenticate() {
    let doc: Value = serde_json::from_str(&mmapi_gateway::api::docs::json()).unwrap();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["basicAuth"]["scheme"], "basic");
    assert_eq!(
        schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"],
        "/v1/oauth/accesstoken"
    );
    assert_eq!(schemes["apiKey"]["name"], "X-API-Key");
    assert_eq!(schemes["apiKey"]["in"], "header");
    assert_eq!(doc["security"].as_array().map(Vec::len), Some(3));
    // The heartbeat is open.
    assert_eq!(
        doc["paths"]["/heartbeat"]["get"]["security"],
        serde_json::json!([{}])
    );
}

//! Acceptance 6 of issue 9: every operation of the GSMA MMAPI 1.2 master YAML (all 71, as listed in
//! `GSMA-NOTES.md` Appendix A) is walked with a minimal valid request, under each mount point, and answers a
//! success status the specification declares for it or a GSMA error object with its category's status — never
//! an unrouted 404, a 405 or a 5xx. The capability table (`GET /capabilities`) lists each operation, and the
//! README prints that table.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

/// One operation of the GSMA 1.2 master: method, path, `operationId`, declared success statuses.
struct Operation {
    method: &'static str,
    path: &'static str,
    operation_id: &'static str,
    success: &'static [u16],
}

const fn op(
    method: &'static str,
    path: &'static str,
    operation_id: &'static str,
    success: &'static [u16],
) -> Operation {
    Operation {
        method,
        path,
        operation_id,
        success,
    }
}

const GET: &[u16] = &[200];
const CREATE: &[u16] = &[201, 202];
const UPDATE: &[u16] = &[202, 204];

/// The 71 operations of `mobile-money-api-specification-1.2.0-master_0.yaml`, in its order.
#[rustfmt::skip]
const OPERATIONS: &[Operation] = &[
    op("POST", "/transactions", "transactionsPOST", CREATE),
    op("POST", "/transactions/type/{transactionType}", "transactionstypetransactionTypePUT", CREATE),
    op("GET", "/transactions/{transactionReference}", "transactionsTransactionReferenceGET", GET),
    op("PATCH", "/transactions/{transactionReference}", "transactionsTransactionReferencePATCH", UPDATE),
    op("POST", "/transactions/{transactionReference}/reversals", "transactionsTransactionReferenceReversalsPOST", CREATE),
    op("POST", "/batchtransactions", "batchtransactionsPOST", &[202]),
    op("GET", "/batchtransactions/{batchId}", "batchtransactionsBatchIdGET", GET),
    op("PATCH", "/batchtransactions/{batchId}", "batchtransactionsBatchIdPATCH", UPDATE),
    op("GET", "/batchtransactions/{batchId}/rejections", "batchtransactionsBatchIdRejectionsGET", GET),
    op("GET", "/batchtransactions/{batchId}/completions", "batchtransactionsBatchIdCompletionsGET", GET),
    op("POST", "/accounts/{identityType}", "accountsPOST", CREATE),
    op("GET", "/accounts/{accountId}", "accountsAccountIdGET", GET),
    op("PATCH", "/accounts/{accountId}", "accountsAccountIdPATCH", UPDATE),
    op("GET", "/accounts/{identifierType}/{identifier}", "accountsIdentifierTypeIdentifierGET", GET),
    op("PATCH", "/accounts/{identifierType}/{identifier}", "accountsIdentifierTypeIdentifierPATCH", UPDATE),
    op("PATCH", "/accounts/{accountId}/identities/{identityId}", "accountIdentitiesAccountIdPATCH", UPDATE),
    op("PATCH", "/accounts/{identifierType}/{identifier}/identities/{identityId}", "accountIdentitiesIdentifierTypeIdentifierPATCH", UPDATE),
    op("GET", "/accounts/{accountId}/status", "accountsAccountIdStatusGET", GET),
    op("GET", "/accounts/{identifierType}/{identifier}/status", "accountsIdentifierTypeIdentifierStatusGET", GET),
    op("GET", "/accounts/{accountId}/accountname", "accountsAccountIdAccountnameGET", GET),
    op("GET", "/accounts/{identifierType}/{identifier}/accountname", "accountsIdentifierTypeIdentifierAccountnameGET", GET),
    op("GET", "/accounts/{accountId}/balance", "accountsAccountIdBalanceGET", GET),
    op("GET", "/accounts/{identifierType}/{identifier}/balance", "accountsIdentifierTypeIdentifierBalanceGET", GET),
    op("GET", "/accounts/balance", "accountsBalanceGET", GET),
    op("GET", "/accounts/{accountId}/transactions", "accountsAccountIdTransactionsGET", GET),
    op("GET", "/accounts/{identifierType}/{identifier}/transactions", "accountsIdentifierTypeIdentifierTransactionsGET", GET),
    op("GET", "/accounts/{accountId}/statemententries", "accountsAccountIdStatemententriesGET", GET),
    op("GET", "/accounts/{identifierType}/{identifier}/statemententries", "accountsIdentifierTypeIdentifierStatemententriesGET", GET),
    op("GET", "/statemententries/{transactionReference}", "statemententriesTransactionReferenceGET", GET),
    op("GET", "/billcompanies", "billCompaniesGET", GET),
    op("GET", "/billcompanies/{serviceProvider}", "billCompaniesServiceProviderGET", GET),
    op("GET", "/accounts/{accountId}/billcompanies", "accountsAccountIdBillCompaniesGET", GET),
    op("GET", "/accounts/{identifierType}/{identifier}/billcompanies", "accountsIdentifierTypeIdentifierBillCompaniesGET", GET),
    op("GET", "/accounts/{accountId}/bills", "accountsAccountIdBillsGET", GET),
    op("GET", "/accounts/{identifierType}/{identifier}/bills", "accountsIdentifierTypeIdentifierBillsGET", GET),
    op("POST", "/accounts/{accountId}/bills/{billReference}/payments", "accountsAccountIdBillsBillReferencePaymentsPOST", CREATE),
    op("GET", "/accounts/{accountId}/bills/{billReference}/payments", "accountsAccountIdBillsBillReferencePaymentsGET", GET),
    op("POST", "/accounts/{identifierType}/{identifier}/bills/{billReference}/payments", "accountsIdentifierTypeIdentifierBillsBillReferencePaymentsPOST", CREATE),
    op("GET", "/accounts/{identifierType}/{identifier}/bills/{billReference}/payments", "accountsIdentifierTypeIdentifierBillsBillReferencePaymentsGET", GET),
    op("POST", "/bills/{billReference}/payments", "billsBillReferencePaymentsPOST", CREATE),
    op("GET", "/bills/{billReference}/payments", "abillsBillReferencePaymentsGET", GET),
    op("POST", "/accounts/{accountId}/bills/payments", "accountsAccountIdBillsBillPaymentsPOST", CREATE),
    op("GET", "/accounts/{accountId}/bills/payments", "accountsAccountIdBillsBillPaymentsGET", GET),
    op("POST", "/accounts/{identifierType}/{identifier}/bills/payments", "accountsIdentifierTypeIdentifierBillsBillPaymentsPOST", CREATE),
    op("GET", "/accounts/{identifierType}/{identifier}/bills/payments", "accountsIdentifierTypeIdentifierBillsBillPaymentsGET", GET),
    op("POST", "/accounts/{accountId}/debitmandates", "accountsAccountIdDebitmandatesPOST", CREATE),
    op("POST", "/accounts/{identifierType}/{identifier}/debitmandates", "accountsIdentifierTypeIdentifierDebitmandatesPOST", CREATE),
    op("GET", "/accounts/{accountId}/debitmandates/{debitMandateReference}", "accountsAccountIdDebitmandatesDebitMandateReferenceGET", GET),
    op("PATCH", "/accounts/{accountId}/debitmandates/{debitMandateReference}", "accountsAccountIdDebitmandatesDebitMandateReferencePATCH", UPDATE),
    op("GET", "/accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}", "accountsIdentifierTypeIdentifierDebitmandatesDebitMandateReferenceGET", GET),
    op("PATCH", "/accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}", "accountsIdentifierTypeIdentifierDebitmandatesDebitMandateReferencePATCH", UPDATE),
    op("POST", "/accounts/{accountId}/links", "accountsAccountIdLinksPOST", CREATE),
    op("POST", "/accounts/{identifierType}/{identifier}/links", "accountsIdentifierTypeIdentifierLinksPOST", CREATE),
    op("GET", "/accounts/{accountId}/links/{linkReference}", "accountsAccountIdLinksLinkReferenceGET", GET),
    op("PATCH", "/accounts/{accountId}/links/{linkReference}", "accountsAccountIdLinksLinkReferencePATCH", UPDATE),
    op("GET", "/accounts/{identifierType}/{identifier}/links/{linkReference}", "accountsIdentifierTypeIdentifierLinksLinkReferenceGET", GET),
    op("PATCH", "/accounts/{identifierType}/{identifier}/links/{linkReference}", "accountsIdentifierTypeIdentifierLinksLinkReferencePATCH", UPDATE),
    op("POST", "/quotations", "quotationsPOST", CREATE),
    op("GET", "/quotations/{quotationReference}", "quotationsQuotationReferenceGET", GET),
    op("POST", "/accounts/{accountId}/authorisationcodes", "accountsAccountIdAuthorisationcodesPOST", CREATE),
    op("GET", "/accounts/{accountId}/authorisationcodes", "accountsAccountIdAuthorisationcodesGET", GET),
    op("POST", "/accounts/{identifierType}/{identifier}/authorisationcodes", "accountsIdentifierTypeIdentifierAuthorisationCodesPOST", CREATE),
    op("GET", "/accounts/{identifierType}/{identifier}/authorisationcodes", "accountsIdentifierTypeIdentifierAuthorisationCodesGET", GET),
    op("GET", "/accounts/{accountId}/authorisationcodes/{authorisationCode}", "accountsAccountIdAuthorisationCodeAuthorisationCodeGET", GET),
    op("PATCH", "/accounts/{accountId}/authorisationcodes/{authorisationCode}", "accountsAccountIdAuthorisationCodesAuthorisationCodePATCH", UPDATE),
    op("GET", "/accounts/{identifierType}/{identifier}/authorisationcodes/{authorisationCode}", "accountsIdentifierTypeIdentifierAuthorisationCodesAuthorisationCodeGET", GET),
    op("PATCH", "/accounts/{identifierType}/{identifier}/authorisationcodes/{authorisationCode}", "accountsIdentifierTypeIdentifierAuthorisationCodesAuthorisationCodePATCH", UPDATE),
    op("GET", "/heartbeat", "heartbeatGET", GET),
    op("GET", "/requeststates/{serverCorrelationId}", "requeststatesServerCorrelationIdGET", GET),
    op("PATCH", "/requeststates/{serverCorrelationId}", "requeststatesServerCorrelationIdPATCH", &[204]),
    op("GET", "/responses/{clientCorrelationId}", "responsesClientCorrelationIdGET", GET),
];

/// Real values for the path's parameters: a completed transaction of the walking client, its request state
/// and correlation id, and the sandbox's organisation account.
struct Fixtures {
    transaction_reference: String,
    server_correlation_id: String,
    client_correlation_id: String,
}

fn concrete_path(path: &str, f: &Fixtures) -> String {
    path.replace("{transactionType}", "merchantpay")
        .replace("{transactionReference}", &f.transaction_reference)
        .replace("{serverCorrelationId}", &f.server_correlation_id)
        .replace("{clientCorrelationId}", &f.client_correlation_id)
        .replace("{identityType}", "individual")
        .replace("{accountId}", "organisationid@600000")
        .replace("{identifierType}", "organisationid")
        .replace("{identifier}", "600000")
        .replace("{identityId}", "1")
        .replace("{serviceProvider}", "kplc")
        .replace("{billReference}", "bill-1")
        .replace(
            "{debitMandateReference}",
            "00000000000000000000000000000000",
        )
        .replace("{linkReference}", "link-1")
        .replace("{quotationReference}", "00000000000000000000000000000000")
        .replace("{authorisationCode}", "code-1")
        .replace("{batchId}", "00000000000000000000000000000000")
}

fn kes_payment() -> Value {
    json!({"amount": "10", "currency": "KES",
           "debitParty": [{"key": "msisdn", "value": PAYER}],
           "creditParty": [{"key": "storeid", "value": TILL}]})
}

/// A minimal valid body for the operation (`None` for a GET).
fn body(operation: &Operation) -> Option<Value> {
    let id = operation.operation_id;
    if operation.method == "GET" {
        return None;
    }
    if operation.method == "PATCH" {
        return Some(match id {
            "transactionsTransactionReferencePATCH" => {
                json!([{"op": "replace", "path": "/transactionStatus", "value": "cancelled"}])
            }
            id if id.contains("Debitmandates") => {
                json!([{"op": "replace", "path": "/mandateStatus", "value": "inactive"}])
            }
            id if id.contains("Links") => {
                json!([{"op": "replace", "path": "/status", "value": "inactive"}])
            }
            id if id.contains("AuthorisationCode") => {
                json!([{"op": "replace", "path": "/codeState", "value": "cancelled"}])
            }
            "batchtransactionsBatchIdPATCH" => {
                json!([{"op": "replace", "path": "/batchStatus", "value": "approved"}])
            }
            "requeststatesServerCorrelationIdPATCH" => {
                json!([{"op": "replace", "path": "/status", "value": "completed"}])
            }
            _ => json!([{"op": "replace", "path": "/accountStatus", "value": "unavailable"}]),
        });
    }
    Some(match id {
        "transactionsPOST" => {
            let mut payment = kes_payment();
            payment["type"] = json!("merchantpay");
            payment
        }
        "transactionstypetransactionTypePUT" => kes_payment(),
        "transactionsTransactionReferenceReversalsPOST" => json!({"type": "reversal"}),
        "accountsPOST" => {
            json!({"accountIdentifiers": [{"key": "msisdn", "value": "+254700000001"}],
                                  "identity": [{"identityKyc": {"nationality": "KE"}, "accountRelationship": "accountholder"}]})
        }
        id if id.contains("Debitmandates") => json!({
            "payee": [{"key": "businessshortcode", "value": "600000"}],
            "amountLimit": "1000", "currency": "KES", "startDate": "2030-01-01", "frequencyType": "weekly"}),
        id if id.contains("Links") => {
            json!({"sourceAccountIdentifiers": [{"key": "accountid", "value": "1"}],
                                               "mode": "both", "status": "active"})
        }
        "batchtransactionsPOST" => json!({"batchTitle": "walk", "transactions": [
            {"amount": "10", "currency": "KES",
             "debitParty": [{"key": "organisationid", "value": "600000"}],
             "creditParty": [{"key": "msisdn", "value": PAYER}]}]}),
        "quotationsPOST" => json!({"requestAmount": "100", "requestCurrency": "KES",
                                   "debitParty": [{"key": "msisdn", "value": PAYER}],
                                   "creditParty": [{"key": "storeid", "value": TILL}]}),
        id if id.contains("uthorisation") => json!({"amount": "10", "currency": "KES"}),
        id if id.contains("Bill") => json!({"amountPaid": "10", "currency": "KES"}),
        _ => json!({}),
    })
}

/// Sends one operation and checks its answer.
async fn walk(gw: &TestGateway, mount: &str, operation: &Operation, f: &Fixtures) -> Value {
    let root = gw.base.trim_end_matches("/v1.2/mm");
    let url = format!("{root}{mount}{}", concrete_path(operation.path, f));
    let method = reqwest::Method::from_bytes(operation.method.as_bytes()).expect("method");
    let mut request = gw
        .http
        .request(method, &url)
        .header("x-correlationid", correlation_id());
    if let Some(body) = body(operation) {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let what = format!("{} {url} ({})", operation.method, operation.operation_id);
    assert!(status != 405, "{what}: 405 {text}");
    assert!(status < 500, "{what}: {status} {text}");
    if operation.success.contains(&status) {
        return serde_json::from_str(&text).unwrap_or(Value::Null);
    }
    assert!(
        !(200..300).contains(&status),
        "{what}: {status} is not a success status the specification declares ({:?})",
        operation.success
    );
    let error: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{what}: {status} without a GSMA error object: {text}"));
    let category = error["errorCategory"].as_str().unwrap_or_default();
    let expected_status = match category {
        "businessRule" | "validation" => 400,
        "authorisation" => 401,
        "identification" => 404,
        other => panic!("{what}: {status} with errorCategory {other:?}: {text}"),
    };
    assert_eq!(status, expected_status, "{what}: {text}");
    assert!(error["errorCode"].is_string(), "{what}: {text}");
    let description = error["errorDescription"].as_str().unwrap_or_default();
    assert!(
        !description.starts_with("There is no resource at"),
        "{what}: unrouted: {text}"
    );
    error
}

async fn fixtures(gw: &TestGateway) -> Fixtures {
    let client_correlation_id = correlation_id();
    let (status, state) = gw
        .merchantpay(PAYER, "10", &[("X-CorrelationID", &client_correlation_id)])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let server_correlation_id = state["serverCorrelationId"]
        .as_str()
        .expect("serverCorrelationId")
        .to_owned();
    let done = gw
        .wait_final(&server_correlation_id, std::time::Duration::from_secs(20))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    Fixtures {
        transaction_reference: done["objectReference"]
            .as_str()
            .expect("objectReference")
            .to_owned(),
        server_correlation_id,
        client_correlation_id,
    }
}

#[tokio::test]
async fn every_operation_of_the_master_is_answered() {
    assert_eq!(OPERATIONS.len(), 71, "the 1.2 master has 71 operations");
    let gw = TestGateway::start().await;
    let f = fixtures(&gw).await;
    for mount in [
        "/v1.2/mm",
        "/simulator/v1.2/passthrough/mm",
        "/2/oauth/simulator/v1.2/mm",
    ] {
        for operation in OPERATIONS {
            walk(&gw, mount, operation, &f).await;
        }
    }
}

#[tokio::test]
async fn operations_not_offered_name_their_reason() {
    let gw = TestGateway::start().await;
    let f = Fixtures {
        transaction_reference: "none".into(),
        server_correlation_id: uuid::Uuid::new_v4().to_string(),
        client_correlation_id: correlation_id(),
    };
    let (status, table) = gw.get("/capabilities").await;
    assert_eq!(status, StatusCode::OK, "{table}");
    let listed = table["operations"].as_array().expect("operations");
    for operation in OPERATIONS {
        let row = listed
            .iter()
            .find(|row| row["operationId"] == operation.operation_id)
            .unwrap_or_else(|| panic!("{} is not in the capability table", operation.operation_id));
        assert_eq!(row["method"], operation.method, "{row}");
        assert_eq!(row["path"], operation.path, "{row}");
        if row["status"] == "notOffered" {
            let error = walk(&gw, "/v1.2/mm", operation, &f).await;
            assert_eq!(error["errorCategory"], "businessRule", "{error}");
            assert_eq!(error["errorCode"], "genericError", "{error}");
            let params = error["errorParameters"]
                .as_array()
                .expect("errorParameters");
            assert!(
                params
                    .iter()
                    .any(|p| p["key"] == "operationId" && p["value"] == operation.operation_id),
                "{error}"
            );
            assert!(
                params
                    .iter()
                    .any(|p| p["key"] == "reason" && p["value"] == row["reason"]),
                "{error}"
            );
        } else {
            assert_eq!(row["status"], "supported", "{row}");
        }
    }
    // inttransfer is a transaction type no market carries: businessRule/transactionTypeError.
    let (status, error) = gw
        .post_raw(
            "/transactions/type/inttransfer",
            kes_payment().to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["errorCode"], "transactionTypeError", "{error}");
    // Unauthenticated, an operation not offered is refused like any other.
    let response = reqwest::Client::new()
        .get(gw.url("/billcompanies"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn readme_prints_the_capability_table() {
    let gw = TestGateway::start().await;
    let (status, value) = gw.get("/capabilities").await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let table: mmapi_gateway::api::capabilities::CapabilityTable =
        serde_json::from_value(value.clone()).expect("a capability table");
    assert!(
        table
            .markets
            .iter()
            .any(|m| m.currency == "KES" && m.provider == "daraja"),
        "{value}"
    );
    let expected = mmapi_gateway::api::capabilities::markdown(&table);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let begin = "<!-- capabilities:begin -->\n";
    let end = "<!-- capabilities:end -->";
    let printed = readme
        .split_once(begin)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(table, _)| table)
        .expect("the README has a capabilities section");
    if printed != expected {
        let out = std::env::temp_dir().join("capabilities.md");
        let _ = std::fs::write(&out, &expected);
        panic!(
            "the README's capability table differs from GET /capabilities (sandbox); the current table is in {}",
            out.display()
        );
    }
}

#[test]
fn the_openapi_document_describes_every_operation() {
    let doc: Value =
        serde_json::from_str(&mmapi_gateway::api::docs::json()).expect("the OpenAPI document");
    for operation in OPERATIONS {
        let method = operation.method.to_ascii_lowercase();
        assert_eq!(
            doc["paths"][operation.path][&method]["operationId"], operation.operation_id,
            "{} {} in the OpenAPI document",
            operation.method, operation.path
        );
    }
    assert!(doc["paths"]["/capabilities"]["get"].is_object());
}

/// Issue 7: without credentials, every operation but the heartbeat is refused with 401 clientAuthorisationError,
/// under every mount — the operations added since (batches, quotations, statement entries, the ones not offered)
/// included.
#[tokio::test]
async fn every_operation_but_the_heartbeat_needs_credentials() {
    let gw = TestGateway::start().await;
    let anonymous = reqwest::Client::new();
    let root = gw.base.trim_end_matches("/v1.2/mm").to_owned();
    let f = Fixtures {
        transaction_reference: "00000000000000000000000000000000".into(),
        server_correlation_id: uuid::Uuid::new_v4().to_string(),
        client_correlation_id: correlation_id(),
    };
    for mount in [
        "/v1.2/mm",
        "/simulator/v1.2/passthrough/mm",
        "/2/oauth/simulator/v1.2/mm",
    ] {
        for operation in OPERATIONS {
            let url = format!("{root}{mount}{}", concrete_path(operation.path, &f));
            let method = reqwest::Method::from_bytes(operation.method.as_bytes()).expect("method");
            let mut request = anonymous.request(method, &url);
            if let Some(body) = body(operation) {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let response = request.send().await.expect("request sent");
            let status = response.status();
            let error: Value = response.json().await.unwrap_or(Value::Null);
            if operation.operation_id == "heartbeatGET" {
                assert_eq!(status, StatusCode::OK, "{url}");
                continue;
            }
            assert_eq!(
                (status, error["errorCode"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("clientAuthorisationError")),
                "{} {url}: {error}",
                operation.method
            );
        }
    }
}

//! The Vodafone/Vodacom M-Pesa OpenAPI behind the same GSMA endpoints, in sandbox mode: TZS and GHS go to the
//! OpenAPI simulator, KES to the Daraja simulator.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

async fn final_of(gw: &TestGateway, path: &str, body: Value) -> (Value, Value) {
    let (status, state) = gw.post_raw(path, body.to_string(), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{path}: {state}");
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    let (_, tx) = gw
        .get(&format!(
            "/transactions/{}",
            state["objectReference"].as_str().unwrap()
        ))
        .await;
    (done, tx)
}

fn payment(currency: &str, payer: &str, amount: &str) -> Value {
    json!({"amount": amount, "currency": currency,
           "debitParty": [{"key": "msisdn", "value": payer}],
           "creditParty": [{"key": "businessshortcode", "value": "000000"}]})
}

/// Only documented GSMA properties come back: nothing of the operator's wire format.
fn assert_gsma_only(tx: &Value) {
    let allowed = [
        "transactionReference",
        "type",
        "transactionStatus",
        "amount",
        "currency",
        "debitParty",
        "creditParty",
        "requestingOrganisationTransactionReference",
        "originalTransactionReference",
        "subType",
        "descriptionText",
        "fees",
        "geoCode",
        "transactionReceipt",
        "requestDate",
        "creationDate",
        "modificationDate",
        "customData",
        "metadata",
    ];
    for key in tx.as_object().unwrap().keys() {
        assert!(
            allowed.contains(&key.as_str()),
            "unexpected property {key} in {tx}"
        );
        assert!(!key.starts_with("output_") && !key.starts_with("input_"));
    }
}

#[tokio::test]
async fn tanzania_and_ghana_payments_through_the_gsma_api() {
    let gw = TestGateway::start().await;
    let (done, tx) = final_of(
        &gw,
        "/transactions/type/merchantpay",
        payment("TZS", "000000000001", "1000"),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(tx["currency"], "TZS");
    assert!(tx["transactionReceipt"].is_string());
    assert_gsma_only(&tx);

    let (done, _) = final_of(
        &gw,
        "/transactions/type/merchantpay",
        payment("TZS", "000000000008", "1000"),
    )
    .await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"]["errorCategory"], "businessRule");
    assert_eq!(done["error"]["errorCode"], "insufficientFunds");

    let (done, _) = final_of(
        &gw,
        "/transactions/type/merchantpay",
        payment("GHS", "000000000001", "10.50"),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");

    let disbursement = json!({"amount": "5000", "currency": "TZS",
                              "debitParty": [{"key": "businessshortcode", "value": "000000"}],
                              "creditParty": [{"key": "msisdn", "value": "+255744553111"}]});
    let (done, _) = final_of(&gw, "/transactions/type/disbursement", disbursement).await;
    assert_eq!(done["status"], "completed", "{done}");

    let b2b = json!({"amount": "7000", "currency": "TZS",
                     "debitParty": [{"key": "businessshortcode", "value": "000000"}],
                     "creditParty": [{"key": "businessshortcode", "value": "000001"}]});
    let (done, _) = final_of(&gw, "/transactions/type/transfer", b2b).await;
    assert_eq!(done["status"], "completed", "{done}");

    let (_, paid) = final_of(
        &gw,
        "/transactions/type/merchantpay",
        payment("TZS", "255744553111", "2500"),
    )
    .await;
    assert_eq!(paid["transactionStatus"], "completed", "{paid}");
    let reference = paid["transactionReference"].as_str().unwrap();
    let (done, reversal) = final_of(
        &gw,
        &format!("/transactions/{reference}/reversals"),
        json!({"type": "reversal"}),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(reversal["originalTransactionReference"], reference);
    let (_, original) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(original["transactionStatus"], "reversed");
}

#[tokio::test]
async fn ghana_carries_the_same_use_cases_as_tanzania() {
    let gw = TestGateway::start().await;
    let (done, _) = final_of(
        &gw,
        "/transactions/type/merchantpay",
        payment("GHS", "000000000008", "10"),
    )
    .await;
    assert_eq!(done["error"]["errorCode"], "insufficientFunds", "{done}");

    let disbursement = json!({"amount": "50", "currency": "GHS",
                              "debitParty": [{"key": "businessshortcode", "value": "000000"}],
                              "creditParty": [{"key": "msisdn", "value": "+233241234567"}]});
    let (done, tx) = final_of(&gw, "/transactions/type/disbursement", disbursement).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(tx["currency"], "GHS");
    assert_gsma_only(&tx);

    let b2b = json!({"amount": "70", "currency": "GHS",
                     "debitParty": [{"key": "businessshortcode", "value": "000000"}],
                     "creditParty": [{"key": "businessshortcode", "value": "000001"}]});
    let (done, _) = final_of(&gw, "/transactions/type/transfer", b2b).await;
    assert_eq!(done["status"], "completed", "{done}");

    let (_, paid) = final_of(
        &gw,
        "/transactions/type/merchantpay",
        payment("GHS", "233241234567", "25"),
    )
    .await;
    assert_eq!(paid["transactionStatus"], "completed", "{paid}");
    let reference = paid["transactionReference"].as_str().unwrap();
    let (done, _) = final_of(
        &gw,
        &format!("/transactions/{reference}/reversals"),
        json!({"type": "reversal"}),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, original) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(original["transactionStatus"], "reversed");
}

#[tokio::test]
async fn ghana_account_names_and_routing_by_currency() {
    let gw = TestGateway::start().await;
    let (status, name) = gw.get("/accounts/msisdn/000000000001/accountname").await;
    assert_eq!(status, StatusCode::OK, "{name}");
    assert!(
        name["name"]["fullName"].is_string() || name["name"]["firstName"].is_string(),
        "{name}"
    );

    // KES still goes to Daraja: the M-Pesa OpenAPI simulator counts no request for it.
    let openapi = gw.gateway.openapi_simulator.as_ref().unwrap();
    let before = openapi.request_count();
    let (done, _) = final_of(
        &gw,
        "/transactions/type/merchantpay",
        json!({"amount": "100", "currency": "KES",
               "debitParty": [{"key": "msisdn", "value": PAYER}],
               "creditParty": [{"key": "storeid", "value": TILL}]}),
    )
    .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(openapi.request_count(), before);
    let (done, _) = final_of(
        &gw,
        "/transactions/type/merchantpay",
        payment("TZS", "000000000001", "100"),
    )
    .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(openapi.request_count(), before + 1);

    // A Kenyan number cannot pay in shillings of Tanzania.
    let (status, e) = gw
        .post_raw(
            "/transactions/type/merchantpay",
            payment("TZS", "+254708374149", "100").to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError")),
        "{e}"
    );
}

//! Quotations and fees over real HTTP in sandbox mode: a quote prices a transaction by the operator's tariff,
//! the simulator then charges exactly that, the completed transaction carries it, and an expired quote is
//! refused.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

const CUSTOMER: &str = "+254708374149";

fn quotation_body(amount: &str) -> Value {
    json!({"type": "disbursement", "requestAmount": amount, "requestCurrency": "KES",
           "debitParty": [{"key": "organisationid", "value": "600000"}],
           "creditParty": [{"key": "msisdn", "value": CUSTOMER}]})
}

fn disbursement_citing(amount: &str, quotation: &Value) -> Value {
    json!({"amount": amount, "currency": "KES",
           "debitParty": [{"key": "organisationid", "value": "600000"}],
           "creditParty": [{"key": "msisdn", "value": CUSTOMER}],
           "internationalTransferInformation": {
               "originCountry": "KE",
               "quotationReference": quotation["quotationReference"],
               "quoteId": quotation["quotes"][0]["quoteId"]}})
}

fn sim_balance(gw: &TestGateway, account: &str) -> Decimal {
    let sim = gw.gateway.simulator.as_ref().expect("sandbox simulator");
    sim.balance_of(account)
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no simulated balance for {account}"))
}

async fn quote(gw: &TestGateway, amount: &str, correlation_id: &str) -> Value {
    let (status, quotation) = gw
        .post_raw(
            "/quotations",
            quotation_body(amount).to_string(),
            &[("X-CorrelationID", correlation_id)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{quotation}");
    quotation
}

async fn complete(gw: &TestGateway, transaction_type: &str, body: Value) -> Value {
    let (status, state) = gw
        .post_raw(
            &format!("/transactions/type/{transaction_type}"),
            body.to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, tx) = gw
        .get(&format!(
            "/transactions/{}",
            done["objectReference"].as_str().unwrap()
        ))
        .await;
    tx
}

#[tokio::test]
async fn a_quote_is_what_the_operator_charges_and_the_transaction_carries_it() {
    let gw = TestGateway::start().await;
    let correlation = correlation_id();
    let quotation = quote(&gw, "1000", &correlation).await;
    assert_eq!(quotation["quotationStatus"], "completed", "{quotation}");
    assert_eq!(quotation["type"], "disbursement");
    let q = &quotation["quotes"][0];
    assert_eq!(q["sendingAmount"], "1000");
    assert_eq!(q["receivingAmount"], "1000");
    assert_eq!(q["fees"][0]["feeAmount"], "5", "{quotation}");
    assert_eq!(q["fees"][0]["feeCurrency"], "KES");
    assert!(q["quoteExpiryTime"].is_string(), "{quotation}");
    let reference = quotation["quotationReference"].as_str().unwrap();

    // It reads back, /responses links to it, and a repeat of the correlation id is a duplicate.
    let (status, read) = gw.get(&format!("/quotations/{reference}")).await;
    assert_eq!((status, &read), (StatusCode::OK, &quotation));
    let (status, link) = gw.get(&format!("/responses/{correlation}")).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!(link["link"], format!("/quotations/{reference}"));
    let (status, e) = gw
        .post_raw(
            "/quotations",
            quotation_body("1000").to_string(),
            &[("X-CorrelationID", &correlation)],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("duplicateRequest")),
        "{e}"
    );

    // The disbursement that cites it: the simulator's charge equals the quote, and the transaction carries it.
    let utility = sim_balance(&gw, "600000:utility");
    let charges = sim_balance(&gw, "600000:charges");
    let tx = complete(&gw, "disbursement", disbursement_citing("1000", &quotation)).await;
    assert_eq!(tx["fees"], q["fees"], "{tx}");
    assert_eq!(
        utility - sim_balance(&gw, "600000:utility"),
        Decimal::from(1000)
    );
    assert_eq!(
        charges - sim_balance(&gw, "600000:charges"),
        Decimal::from(5)
    );

    // The Account Balance API shows the Charges Paid account the same way M-Pesa does.
    let (status, _) = gw.get("/accounts/organisationid/600000/balance").await;
    assert_eq!(status, StatusCode::OK);

    // Without a quote the tariff still applies; a merchant payment is charged to the merchant by its own
    // tariff, so the gateway states no fee.
    let tx = complete(
        &gw,
        "disbursement",
        json!({"amount": "6000", "currency": "KES",
               "debitParty": [{"key": "organisationid", "value": "600000"}],
               "creditParty": [{"key": "msisdn", "value": CUSTOMER}]}),
    )
    .await;
    assert_eq!(tx["fees"][0]["feeAmount"], "11", "{tx}");
    let tx = complete(
        &gw,
        "merchantpay",
        json!({"amount": "100", "currency": "KES",
               "debitParty": [{"key": "msisdn", "value": CUSTOMER}],
               "creditParty": [{"key": "storeid", "value": "174379"}]}),
    )
    .await;
    assert!(tx.get("fees").is_none(), "{tx}");
}

#[tokio::test]
async fn quotes_are_the_clients_own_and_hold_only_for_their_transaction() {
    let gw = TestGateway::start().await;
    let quotation = quote(&gw, "1000", &correlation_id()).await;
    let reference = quotation["quotationReference"].as_str().unwrap();

    let (_, other) = gw.another_client("another business").await;
    let response = other
        .get(gw.url(&format!("/quotations/{reference}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let e: Value = response.json().await.unwrap();
    assert_eq!(e["errorCode"], "identifierError");

    // Another amount than the quote's.
    let (status, e) = gw
        .post_raw(
            "/transactions/type/disbursement",
            disbursement_citing("2000", &quotation).to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["errorCategory"], "businessRule", "{e}");

    // An unknown quotation.
    let mut unknown = quotation.clone();
    unknown["quotationReference"] = json!("0000");
    let (status, e) = gw
        .post_raw(
            "/transactions/type/disbursement",
            disbursement_citing("1000", &unknown).to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");

    // Bad requests name the field.
    let (status, e) = gw
        .post_raw(
            "/quotations",
            json!({"requestCurrency": "KES",
                   "debitParty": [{"key": "organisationid", "value": "600000"}],
                   "creditParty": [{"key": "msisdn", "value": CUSTOMER}]})
            .to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("mandatoryValueNotSupplied")),
        "{e}"
    );
    let (status, e) = gw
        .post_raw(
            "/quotations",
            quotation_body("1000").to_string().replace("KES", "XTS"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
}

#[tokio::test]
async fn a_quote_cited_after_its_expiry_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.quotations.lifetime_secs = 1;
    let gw = TestGateway::start_with(config, dir).await;
    let quotation = quote(&gw, "1000", &correlation_id()).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, e) = gw
        .post_raw(
            "/transactions/type/disbursement",
            disbursement_citing("1000", &quotation).to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCategory"].as_str(), e["errorCode"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("businessRule"),
            Some("quoteHasExpired")
        ),
        "{e}"
    );
}

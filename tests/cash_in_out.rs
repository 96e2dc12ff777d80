//! Agent services over M-Pesa, in sandbox mode over real HTTP: a cash-in (`deposit`) is the agent's organisation
//! paying the customer (Daraja B2C, OpenAPI b2cPayment); a cash-out (`withdrawal`) is the customer paying the
//! agent's till for the cash handed over (Daraja STK Push, OpenAPI c2bPayment). The simulators' balances move by
//! the amounts.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

const KE_CUSTOMER: &str = "254708374149";
const TZ_CUSTOMER: &str = "255744553111";

async fn complete(gw: &TestGateway, transaction_type: &str, body: Value) -> (Value, Value) {
    let (status, state) = gw
        .post_raw(
            &format!("/transactions/type/{transaction_type}"),
            body.to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{transaction_type}: {state}");
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

fn kenyan_balance(gw: &TestGateway, account: &str) -> Decimal {
    let sim = gw.gateway.simulator.as_ref().expect("sandbox simulator");
    sim.balance_of(account)
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no simulated balance for {account}"))
}

fn tanzanian_balance(gw: &TestGateway, msisdn: &str) -> Decimal {
    let sim = gw
        .gateway
        .openapi_simulator
        .as_ref()
        .expect("sandbox OpenAPI simulator");
    sim.balance_of("vodacomTZN", msisdn)
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no simulated balance for {msisdn}"))
}

#[tokio::test]
async fn cash_in_and_cash_out_at_a_kenyan_agent() {
    let gw = TestGateway::start().await;
    let before = kenyan_balance(&gw, KE_CUSTOMER);

    // Cash-in: the customer hands the agent KES 300; the agent's organisation pays it into the wallet.
    let (done, tx) = complete(
        &gw,
        "deposit",
        json!({"amount": "300", "currency": "KES",
               "debitParty": [{"key": "organisationid", "value": "600000"}],
               "creditParty": [{"key": "msisdn", "value": format!("+{KE_CUSTOMER}")}]}),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(tx["type"], "deposit", "{tx}");
    assert!(tx["transactionReceipt"].is_string(), "{tx}");
    assert_eq!(
        kenyan_balance(&gw, KE_CUSTOMER) - before,
        Decimal::from(300)
    );

    // Cash-out: the customer approves paying the agent's till KES 200 and takes the cash.
    let (done, tx) = complete(
        &gw,
        "withdrawal",
        json!({"amount": "200", "currency": "KES",
               "debitParty": [{"key": "msisdn", "value": KE_CUSTOMER}],
               "creditParty": [{"key": "businessshortcode", "value": "174379"}]}),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(tx["type"], "withdrawal", "{tx}");
    assert_eq!(
        kenyan_balance(&gw, KE_CUSTOMER) - before,
        Decimal::from(100)
    );

    // A cash-out the customer cancels on the phone fails with the mapped error and moves nothing.
    let (done, _) = complete(
        &gw,
        "withdrawal",
        json!({"amount": "200", "currency": "KES",
               "debitParty": [{"key": "msisdn", "value": "254700000001"}],
               "creditParty": [{"key": "businessshortcode", "value": "174379"}]}),
    )
    .await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["errorCode"], "requestDeclined", "{done}");

    // A cash-in must name the customer's wallet.
    let (status, e) = gw
        .post_raw(
            "/transactions/type/deposit",
            json!({"amount": "300", "currency": "KES",
                   "debitParty": [{"key": "organisationid", "value": "600000"}],
                   "creditParty": [{"key": "accountid", "value": "12"}]})
            .to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["errorCategory"], "validation", "{e}");
}

#[tokio::test]
async fn cash_in_and_cash_out_at_a_tanzanian_agent() {
    let gw = TestGateway::start().await;
    let before = tanzanian_balance(&gw, TZ_CUSTOMER);
    let (done, tx) = complete(
        &gw,
        "deposit",
        json!({"amount": "5000", "currency": "TZS",
               "debitParty": [{"key": "businessshortcode", "value": "000000"}],
               "creditParty": [{"key": "msisdn", "value": format!("+{TZ_CUSTOMER}")}]}),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(tx["type"], "deposit", "{tx}");
    assert_eq!(
        tanzanian_balance(&gw, TZ_CUSTOMER) - before,
        Decimal::from(5000)
    );

    let (done, tx) = complete(
        &gw,
        "withdrawal",
        json!({"amount": "2000", "currency": "TZS",
               "debitParty": [{"key": "msisdn", "value": TZ_CUSTOMER}],
               "creditParty": [{"key": "businessshortcode", "value": "000000"}]}),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(tx["type"], "withdrawal", "{tx}");
    assert_eq!(
        tanzanian_balance(&gw, TZ_CUSTOMER) - before,
        Decimal::from(3000)
    );

    // The insufficient-balance test number cannot take cash out.
    let (done, _) = complete(
        &gw,
        "withdrawal",
        json!({"amount": "2000", "currency": "TZS",
               "debitParty": [{"key": "msisdn", "value": "000000000008"}],
               "creditParty": [{"key": "businessshortcode", "value": "000000"}]}),
    )
    .await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["errorCode"], "insufficientFunds", "{done}");
}

#[tokio::test]
async fn a_cash_transaction_no_operator_carries_gets_a_transaction_type_error() {
    let gw = TestGateway::start().await;
    // International transfers are not carried by any M-Pesa API this gateway drives.
    let (status, e) = gw
        .post_raw(
            "/transactions/type/inttransfer",
            json!({"amount": "300", "currency": "KES",
                   "debitParty": [{"key": "msisdn", "value": KE_CUSTOMER}],
                   "creditParty": [{"key": "msisdn", "value": format!("+{TZ_CUSTOMER}")}]})
            .to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        (e["errorCategory"].as_str(), e["errorCode"].as_str()),
        (Some("businessRule"), Some("transactionTypeError")),
        "{e}"
    );
}

//! Customer payments made from the phone (Daraja C2B): registration at start-up, validation by account number,
//! confirmations recorded as completed transactions, notification of the business, and the account's
//! transaction list with GSMA pagination.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

async fn list(gw: &TestGateway, path: &str) -> (StatusCode, Value, i64, i64) {
    let response = gw.http.get(gw.url(path)).send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let count = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    let (available, returned) = (
        count("x-records-available-count"),
        count("x-records-returned-count"),
    );
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        available,
        returned,
    )
}

#[tokio::test]
async fn a_c2b_payment_is_recorded_listed_and_notified_once() {
    let receiver = CallbackReceiver::start(vec![503]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(dir.path()).await;
    config.simulators.c2b_notification_url = Some(receiver.url.clone());
    config.simulators.c2b_account_references = Some(vec!["ACC-1".into()]);
    let gw = TestGateway::start_with(config, dir).await;

    simulate_c2b(&gw, "acc-1", 250).await;
    // The first delivery is refused (503), the retry is accepted: one notification per success.
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let payment = &got[1].body;
    assert_eq!(payment["transactionStatus"], "completed");
    assert_eq!(payment["type"], "billpay");
    assert_eq!(
        payment["amount"]
            .as_str()
            .map(|a| a.trim_end_matches(".00")),
        Some("250")
    );
    assert_eq!(
        payment["creditParty"][0],
        json!({"key": "businessshortcode", "value": "174379"})
    );
    assert_eq!(payment["creditParty"][1]["value"], "acc-1");
    let receipt = payment["transactionReceipt"].as_str().unwrap().to_owned();

    // An account number the business does not know is refused at validation: nothing is recorded.
    simulate_c2b(&gw, "NOPE", 100).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.all().len(),
        2,
        "no notification for a refused payment"
    );

    let (status, listed, available, returned) =
        list(&gw, "/accounts/businessshortcode/174379/transactions").await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!((available, returned), (1, 1));
    assert_eq!(listed[0]["transactionReceipt"], receipt.as_str());
    let (_, by_id, _, _) = list(&gw, "/accounts/businessshortcode@174379/transactions").await;
    assert_eq!(by_id, listed);
    let reference = listed[0]["transactionReference"].as_str().unwrap();
    let (status, tx) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(
        (status, tx["transactionReceipt"].as_str()),
        (StatusCode::OK, Some(receipt.as_str()))
    );
}

#[tokio::test]
async fn account_transactions_are_paginated_newest_first() {
    let gw = TestGateway::start().await;
    let mut references = Vec::new();
    for amount in ["11", "12", "13"] {
        let (status, state) = gw.merchantpay(PAYER, amount, &[]).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        references.push(state["objectReference"].as_str().unwrap().to_owned());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, page, available, returned) =
        list(&gw, "/accounts/msisdn/%2B254708374149/transactions?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!((available, returned), (3, 2));
    assert_eq!(
        page[0]["transactionReference"],
        references[2].as_str(),
        "newest first"
    );
    assert_eq!(page[1]["transactionReference"], references[1].as_str());
    // The unfiltered count is the account's kept count; a filter that excludes nothing counts the index range:
    // both agree, before and after PostgreSQL's deltas are folded into the counts, and a new payment counts.
    let since_2000 = "/accounts/msisdn/254708374149/transactions?fromDateTime=2000-01-01T00:00:00Z";
    let (_, _, counted, _) = list(&gw, since_2000).await;
    assert_eq!(counted, 3);
    let store = gw.gateway.engine.store();
    store.fold_account_counts(1_000).await.expect("folded");
    let (_, _, available, _) = list(&gw, "/accounts/msisdn/254708374149/transactions").await;
    assert_eq!(available, 3);
    let (status, state) = gw.merchantpay(PAYER, "14", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let (_, _, available, _) = list(&gw, "/accounts/msisdn/254708374149/transactions").await;
    assert_eq!(available, 4, "a new payment counts before it is folded");
    store.fold_account_counts(1_000).await.expect("folded");
    let (_, _, available, _) = list(&gw, "/accounts/msisdn/254708374149/transactions").await;
    let (_, _, counted, _) = list(&gw, since_2000).await;
    assert_eq!((available, counted), (4, 4), "and after");
    references.push(state["objectReference"].as_str().unwrap().to_owned());
    let (_, rest, _, returned) = list(
        &gw,
        "/accounts/msisdn/254708374149/transactions?limit=2&offset=2",
    )
    .await;
    assert_eq!(returned, 2);
    assert_eq!(rest[0]["transactionReference"], references[1].as_str());
    let (_, rest, _, returned) = list(
        &gw,
        "/accounts/msisdn/254708374149/transactions?limit=2&offset=3",
    )
    .await;
    assert_eq!(returned, 1);
    assert_eq!(rest[0]["transactionReference"], references[0].as_str());
    let (status, end, _, returned) =
        list(&gw, "/accounts/msisdn/254708374149/transactions?offset=4").await;
    assert_eq!((status, end, returned), (StatusCode::OK, json!([]), 0));
    let (status, e, _, _) = list(&gw, "/accounts/msisdn/254708374149/transactions?offset=5").await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalidOffset"))
    );
    let (status, e, _, _) =
        list(&gw, "/accounts/msisdn/254708374149/transactions?limit=lots").await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError"))
    );
    let (_, none, available, _) = list(
        &gw,
        "/accounts/msisdn/254708374149/transactions?fromDateTime=2099-01-01T00:00:00Z",
    )
    .await;
    assert_eq!((none, available), (json!([]), 0));
    let (_, till, available, _) = list(
        &gw,
        "/accounts/storeid/174379/transactions?transactionType=merchantpay",
    )
    .await;
    assert_eq!(available, 4, "{till}");
}

/// A C2B payment whose confirmation Daraja never sends (every callback of the simulator is lost) is filled in
/// from Pull Transactions: it becomes the same completed `billpay`, notified once, and a later pull that lists
/// it again changes nothing.
#[tokio::test]
async fn a_lost_c2b_confirmation_is_filled_in_from_pull_transactions() {
    let receiver = CallbackReceiver::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(dir.path()).await;
    config.simulators.c2b_notification_url = Some(receiver.url.clone());
    config.simulators.faults.drop_callbacks = 1.0;
    config.dispatch.pull_interval_secs = 1;
    let gw = TestGateway::start_with(config, dir).await;

    simulate_c2b(&gw, "PULLED-1", 175).await;
    let got = receiver.wait_for(1, Duration::from_secs(15)).await;
    let payment = &got[0].body;
    assert_eq!(payment["transactionStatus"], "completed", "{payment}");
    assert_eq!(payment["type"], "billpay");
    assert_eq!(
        payment["amount"]
            .as_str()
            .map(|a| a.trim_end_matches(".00")),
        Some("175")
    );
    assert_eq!(payment["creditParty"][1]["value"], "PULLED-1", "{payment}");
    let receipt = payment["transactionReceipt"].as_str().unwrap().to_owned();

    // Listed once among the paybill's transactions, although every pull since lists it again.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (status, page, _, _) = list(
        &gw,
        "/accounts/businessshortcode/174379/transactions?limit=50",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let with_receipt = page
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["transactionReceipt"] == receipt.as_str())
        .count();
    assert_eq!(with_receipt, 1, "{page}");
    assert_eq!(receiver.all().len(), 1, "notified once");
    // It came from the pull, not from a confirmation.
    let metrics = gw
        .http
        .get(format!("http://{}/metrics", gw.gateway.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mmapi_pulled_payments_total{provider=\"daraja\"} 1")),
        "{metrics}"
    );
}

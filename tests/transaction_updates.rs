//! The rest of the transaction surface (issue 9, point 7): the deprecated `POST /transactions` (type in the body)
//! behaves as the typed route, and `PATCH /transactions/{transactionReference}` cancels a transaction not yet sent
//! to the operator — only by its owner, and never one already sent or final (`businessRule/incorrectState`).

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

const CANCEL: &str = r#"[{"op":"replace","path":"/transactionStatus","value":"cancelled"}]"#;

fn payment_with_type(transaction_type: Option<&str>) -> Value {
    let mut body = json!({"amount": "15", "currency": "KES",
                          "debitParty": [{"key": "msisdn", "value": PAYER}],
                          "creditParty": [{"key": "storeid", "value": TILL}]});
    if let Some(t) = transaction_type {
        body["type"] = json!(t);
    }
    body
}

async fn patch(http: &reqwest::Client, url: &str, body: &str) -> (u16, Value) {
    let response = http
        .patch(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request sent");
    assert!(response.headers().contains_key("x-date"), "X-Date missing");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn post_transactions_with_the_type_in_the_body_is_the_typed_route() {
    let gw = TestGateway::start().await;
    let correlation = correlation_id();
    let (status, state) = gw
        .post_raw(
            "/transactions",
            payment_with_type(Some("merchantpay")).to_string(),
            &[("X-CorrelationID", &correlation)],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    assert_eq!(state["status"], "pending", "{state}");
    let id = state["serverCorrelationId"].as_str().expect("id");
    let done = gw.wait_final(id, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "completed", "{done}");
    let reference = done["objectReference"].as_str().expect("reference");
    let (status, transaction) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(transaction["type"], "merchantpay", "{transaction}");
    assert_eq!(transaction["amount"], "15", "{transaction}");

    // The same idempotency as the typed route.
    let (status, error) = gw
        .post_raw(
            "/transactions",
            payment_with_type(Some("merchantpay")).to_string(),
            &[("X-CorrelationID", &correlation)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["errorCode"], "duplicateRequest", "{error}");

    // No type, or not a harmonised one.
    let (status, error) = gw
        .post_raw("/transactions", payment_with_type(None).to_string(), &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["errorCode"], "mandatoryValueNotSupplied", "{error}");
    assert_eq!(error["errorParameters"][0]["value"], "type", "{error}");
    let (status, error) = gw
        .post_raw(
            "/transactions",
            payment_with_type(Some("gift")).to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["errorCode"], "formatError", "{error}");
    // A type no market carries, exactly as on the typed route.
    let (status, error) = gw
        .post_raw(
            "/transactions",
            payment_with_type(Some("inttransfer")).to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["errorCode"], "transactionTypeError", "{error}");
}

#[tokio::test]
async fn a_sent_or_final_transaction_cannot_be_cancelled() {
    let gw = TestGateway::start().await;
    let (status, state) = gw.merchantpay(PAYER, "20", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().expect("id"),
            Duration::from_secs(20),
        )
        .await;
    let reference = done["objectReference"].as_str().expect("reference");
    let url = gw.url(&format!("/transactions/{reference}"));

    let (status, error) = patch(&gw.http, &url, CANCEL).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorCategory"], "businessRule", "{error}");
    assert_eq!(error["errorCode"], "incorrectState", "{error}");
    let (_, transaction) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(transaction["transactionStatus"], "completed");

    // Only a cancellation is taken.
    let completed = r#"[{"op":"replace","path":"/transactionStatus","value":"completed"}]"#;
    let (status, error) = patch(&gw.http, &url, completed).await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (400, Some("formatError")),
        "{error}"
    );
    let (status, error) = patch(&gw.http, &url, "[]").await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (400, Some("formatError")),
        "{error}"
    );
    let (status, error) = patch(&gw.http, &url, "{").await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (400, Some("formatError")),
        "{error}"
    );
    // Unknown transaction.
    let (status, error) = patch(&gw.http, &gw.url("/transactions/nosuchreference"), CANCEL).await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (404, Some("identifierError")),
        "{error}"
    );
}

/// A gateway whose Daraja simulator answers every API call with its rate-limit 5xx: nothing is ever processed,
/// so each transaction waits, `queued`, to retry.
async fn gateway_with_unreachable_operator() -> TestGateway {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.simulators.faults.server_errors = 1.0;
    config.breaker.failure_threshold = 10_000;
    config.dispatch.max_attempts = 1_000;
    TestGateway::start_with(config, dir).await
}

#[tokio::test]
async fn a_transaction_not_yet_sent_is_cancelled_by_its_owner_only() {
    let gw = gateway_with_unreachable_operator().await;
    let receiver = CallbackReceiver::start(vec![]).await;
    let correlation = correlation_id();
    let (status, state) = gw
        .merchantpay(
            PAYER,
            "30",
            &[
                ("X-Callback-URL", &receiver.url),
                ("X-CorrelationID", &correlation),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let id = state["serverCorrelationId"]
        .as_str()
        .expect("id")
        .to_owned();
    let reference = state["objectReference"]
        .as_str()
        .expect("reference")
        .to_owned();
    let url = gw.url(&format!("/transactions/{reference}"));

    // Another client: as if it did not exist.
    let (_, other) = gw.another_client("someone else").await;
    let (status, error) = patch(&other, &url, CANCEL).await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (404, Some("identifierError")),
        "{error}"
    );

    // The owner. While a (refused) attempt is under way the transaction counts as sent; between attempts it is
    // queued again, and cancellable.
    let started = Instant::now();
    loop {
        let (status, body) = patch(&gw.http, &url, CANCEL).await;
        if status == 204 {
            break;
        }
        assert_eq!(body["errorCode"], "incorrectState", "{status} {body}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never cancellable: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, transaction) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(transaction["transactionStatus"], "failed", "{transaction}");
    let (_, request_state) = gw.get(&format!("/requeststates/{id}")).await;
    assert_eq!(request_state["status"], "failed", "{request_state}");
    assert_eq!(
        request_state["error"]["errorCategory"], "businessRule",
        "{request_state}"
    );

    // The callback carries the cancellation, with the client's correlation id.
    let callbacks = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        callbacks[0].body["errorCategory"], "businessRule",
        "{:?}",
        callbacks[0].body
    );
    assert_eq!(
        callbacks[0]
            .headers
            .get("x-correlationid")
            .and_then(|v| v.to_str().ok()),
        Some(correlation.as_str())
    );

    // A second cancellation finds it final.
    let (status, error) = patch(&gw.http, &url, CANCEL).await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (400, Some("incorrectState")),
        "{error}"
    );

    // The dispatcher's retry finds nothing to send: it stays cancelled.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, transaction) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(transaction["transactionStatus"], "failed", "{transaction}");
    assert_eq!(receiver.all().len(), 1, "one callback only");
}

/// A decimal amount string in hundredths (money is never a float).
fn cents(amount: &str) -> i64 {
    let (units, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let fraction = format!("{fraction:0<2}");
    units.parse::<i64>().expect("units") * 100 + fraction[..2].parse::<i64>().expect("hundredths")
}

/// Cancellations racing the dispatcher: each transaction is either cancelled (and never completes) or was sent
/// (the cancellation is refused and the transaction settles as the operator says). The till's balance at the
/// operator moves by exactly the payments that were not cancelled.
#[tokio::test]
async fn cancellation_and_dispatch_never_both_happen() {
    // One operator call at a time, so that transactions wait for the dispatcher while their cancellations come.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.dispatch.concurrency = 1;
    let gw = TestGateway::start_with(config, dir).await;
    let balance = |gw: &TestGateway| {
        let url = gw.url(&format!("/accounts/storeid/{TILL}/balance"));
        let http = gw.http.clone();
        async move {
            let (status, body) = get_json(&http, &url).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            cents(body["availableBalance"].as_str().expect("balance"))
        }
    };
    let before = balance(&gw).await;
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let http = gw.http.clone();
        let base = gw.base.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"amount": "1", "currency": "KES",
                              "debitParty": [{"key": "msisdn", "value": PAYER}],
                              "creditParty": [{"key": "storeid", "value": TILL}]});
            let response = http
                .post(format!("{base}/transactions/type/merchantpay"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), 202);
            let state: Value = response.json().await.expect("json");
            let reference = state["objectReference"]
                .as_str()
                .expect("reference")
                .to_owned();
            let id = state["serverCorrelationId"]
                .as_str()
                .expect("id")
                .to_owned();
            let (status, body) =
                patch(&http, &format!("{base}/transactions/{reference}"), CANCEL).await;
            assert!(
                status == 204 || (status == 400 && body["errorCode"] == "incorrectState"),
                "{status} {body}"
            );
            (status == 204, id)
        }));
    }
    let (mut completed, mut cancellations) = (0, 0);
    for task in tasks {
        let (cancelled, id) = task.await.expect("task");
        cancellations += i64::from(cancelled);
        let state = gw.wait_final(&id, Duration::from_secs(30)).await;
        if cancelled {
            assert_eq!(state["status"], "failed", "{state}");
        } else if state["status"] == "completed" {
            completed += 1;
        }
    }
    assert!(
        cancellations > 0,
        "no cancellation reached a queued transaction: the race was not exercised"
    );
    // STK results arrive by callback shortly after the simulator books them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = balance(&gw).await;
    assert_eq!(
        after - before,
        completed * 100,
        "the till moved by the completed payments only"
    );
}

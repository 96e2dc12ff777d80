//! Which answers of a client's callback endpoint end delivery, over loopback: a 2xx ends it; a 4xx other than
//! 408/429 is given up after `callbacks.client_error_max_attempts` (3 by default); 408, 429 and 5xx are
//! retried.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;

/// Pays with a callback to `receiver`; returns the `X-CorrelationID` sent.
async fn pay_with_callback(gw: &TestGateway, receiver: &CallbackReceiver) -> String {
    let cid = correlation_id();
    let (status, body) = gw
        .merchantpay(
            PAYER,
            "100",
            &[("X-CorrelationID", &cid), ("X-Callback-URL", &receiver.url)],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["notificationMethod"], "callback");
    cid
}

#[tokio::test]
async fn a_client_error_is_given_up_after_three_attempts() {
    let gw = TestGateway::start().await;
    // Sandbox mode: Daraja, the M-Pesa OpenAPI and the MMAPI simulator.
    assert_eq!(gw.gateway.engine.router().providers().count(), 3);
    let receiver = CallbackReceiver::start(vec![400; 20]).await;
    let cid = pay_with_callback(&gw, &receiver).await;
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    for attempt in &got {
        assert_eq!(
            attempt.headers["x-correlationid"].to_str().ok(),
            Some(cid.as_str())
        );
        assert_eq!(attempt.body["transactionStatus"], "completed");
    }
    // Well past the back-off of a fourth attempt (100 ms doubling, the outbox scanned every 500 ms).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.all().len(),
        3,
        "a 400 was retried more than 3 times"
    );
}

#[tokio::test]
async fn a_server_error_is_retried_until_delivered() {
    let gw = TestGateway::start().await;
    let receiver = CallbackReceiver::start(vec![503, 200]).await;
    pay_with_callback(&gw, &receiver).await;
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[0].body, got[1].body, "the same callback again");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.all().len(), 2, "delivered, so no more attempts");
}

#[tokio::test]
async fn too_many_requests_is_retried_past_the_client_error_budget() {
    let gw = TestGateway::start().await;
    let receiver = CallbackReceiver::start(vec![429, 408, 429, 429, 204]).await;
    pay_with_callback(&gw, &receiver).await;
    receiver.wait_for(5, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.all().len(), 5);
}

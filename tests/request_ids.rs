//! The request id (`X-Request-ID`): kept when the client gives a good one, made when not, and carried into the
//! callbacks a request causes.

mod common;

use common::{correlation_id, CallbackReceiver, TestGateway, PAYER, TILL};

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_good_one_is_kept() {
    let gw = TestGateway::start().await;
    let url = gw.url("/heartbeat");
    let given = gw
        .http
        .get(&url)
        .header("X-Request-ID", "trace-42.a:b_c")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        given.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"trace-42.a:b_c"[..])
    );
    let bad = gw
        .http
        .get(&url)
        .header("X-Request-ID", "has spaces and <html>")
        .send()
        .await
        .expect("sent");
    let replaced = bad
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id");
    assert!(uuid::Uuid::parse_str(replaced).is_ok(), "{replaced}");
    let none = gw.http.get(&url).send().await.expect("sent");
    let fresh = none
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request id");
    assert_ne!(fresh, replaced);
    // Refused requests and unknown routes carry one too.
    let unknown = reqwest::Client::new()
        .get(format!("http://{}/nowhere", gw.gateway.address))
        .send()
        .await
        .expect("sent");
    assert!(unknown.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn the_request_id_reaches_the_callback_the_request_causes() {
    let gw = TestGateway::start().await;
    let receiver = CallbackReceiver::start(vec![]).await;
    let response = gw
        .http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("content-type", "application/json")
        .header("X-Request-ID", "checkout-7f3a")
        .header("X-CorrelationID", correlation_id())
        .header("X-Callback-URL", &receiver.url)
        .body(
            serde_json::json!({"amount": "10", "currency": "KES",
                               "debitParty": [{"key": "msisdn", "value": PAYER}],
                               "creditParty": [{"key": "storeid", "value": TILL}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"checkout-7f3a"[..])
    );
    let callbacks = receiver
        .wait_for(1, std::time::Duration::from_secs(20))
        .await;
    assert_eq!(callbacks[0].body["transactionStatus"], "completed");
    assert_eq!(
        callbacks[0]
            .headers
            .get("x-request-id")
            .map(|v| v.as_bytes()),
        Some(&b"checkout-7f3a"[..]),
        "the callback names the request that caused it"
    );
}

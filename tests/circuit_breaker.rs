//! The circuit breakers per provider and market, end to end over loopback: while the Daraja simulator is stopped,
//! new KES requests get `503 serviceUnavailable` within a second and `GET /heartbeat` reports the outage; TZS
//! requests (the M-Pesa OpenAPI) still flow; once the simulator is back, the gateway recovers without a restart.
//! Each OpenAPI market has its own breaker.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

async fn gateway() -> TestGateway {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.breaker.failure_threshold = 3;
    config.breaker.cool_down_ms = 300;
    TestGateway::start_with(config, dir).await
}

/// The heartbeat's `serviceStatus` and its `X-Unavailable-Providers` header.
async fn heartbeat(gw: &TestGateway) -> (String, String) {
    let response = gw
        .http
        .get(gw.url("/heartbeat"))
        .send()
        .await
        .expect("heartbeat");
    assert_eq!(response.status(), 200);
    let providers = response
        .headers()
        .get("x-unavailable-providers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.expect("json");
    (
        body["serviceStatus"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        providers,
    )
}

fn payment(currency: &str, payer: &str, till: &str, key: &str) -> String {
    json!({"amount": "100", "currency": currency,
           "debitParty": [{"key": "msisdn", "value": payer}],
           "creditParty": [{"key": key, "value": till}]})
    .to_string()
}

async fn pay_kes(gw: &TestGateway) -> (StatusCode, Value) {
    gw.merchantpay(PAYER, "100", &[]).await
}

async fn pay_tzs(gw: &TestGateway) -> (StatusCode, Value) {
    pay_in(gw, "TZS").await
}

/// A payment in one of the OpenAPI markets' currencies, from the sandbox test customer.
async fn pay_in(gw: &TestGateway, currency: &str) -> (StatusCode, Value) {
    gw.post_raw(
        "/transactions/type/merchantpay",
        payment(currency, "000000000001", "000000", "businessshortcode"),
        &[],
    )
    .await
}

/// Sends payments in `currency` until one is refused with 503.
async fn trip(gw: &TestGateway, currency: &str, within: Duration) {
    let started = Instant::now();
    loop {
        let (status, body) = pay_in(gw, currency).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body["errorCategory"], "serviceUnavailable", "{body}");
            return;
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{currency}: {body}");
        assert!(
            started.elapsed() < within,
            "{currency} still accepted after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends KES payments until one is refused with 503; returns how long that took.
async fn until_refused(gw: &TestGateway, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = pay_kes(gw).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body["errorCategory"], "serviceUnavailable", "{body}");
            return started.elapsed();
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert!(
            started.elapsed() < within,
            "still accepting KES payments after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stopped_operator_fails_fast_and_recovers_without_a_restart() {
    let gw = gateway().await;
    // Up: a payment completes, and the heartbeat says so.
    let (status, state) = pay_kes(&gw).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().expect("id"),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(heartbeat(&gw).await, ("available".into(), String::new()));
    // The simulator counted that STK Push once, under the gateway's (tagged) callback URL for the transaction.
    let (_, stats) = get_json(
        &gw.http,
        &format!(
            "http://{}/sandbox/daraja/__simulator/submissions",
            gw.gateway.address
        ),
    )
    .await;
    let reference = state["objectReference"].as_str().expect("reference");
    let counted: Vec<_> = stats["submissions"]
        .as_object()
        .expect("submissions")
        .iter()
        .filter(|(url, _)| url.contains(reference))
        .map(|(_, n)| n.clone())
        .collect();
    assert_eq!(counted, [json!(1)], "{stats}");
    assert_eq!(stats["duplicates"], json!([]));

    // Daraja goes down.
    let listener = gw
        .gateway
        .daraja_listener
        .clone()
        .expect("sandbox listener");
    listener.stop().await;
    let took = until_refused(&gw, Duration::from_secs(1)).await;
    assert!(took < Duration::from_secs(1), "503 only after {took:?}");
    assert_eq!(
        heartbeat(&gw).await,
        ("degraded".into(), "daraja".to_owned())
    );
    // Refused again at once, well within the cool-down.
    let (status, body) = pay_kes(&gw).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errorCategory"], "serviceUnavailable");
    // The other provider is not affected.
    let (status, body) = pay_tzs(&gw).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Daraja comes back: after the cool-down a probe goes through, and the breaker closes.
    listener.resume().await.expect("listens again");
    let started = Instant::now();
    let probe = loop {
        let (status, body) = pay_kes(&gw).await;
        if status == StatusCode::ACCEPTED {
            break body;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(started.elapsed() < Duration::from_secs(10), "not recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let done = gw
        .wait_final(
            probe["serverCorrelationId"].as_str().expect("id"),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let started = Instant::now();
    while heartbeat(&gw).await.0 != "available" {
        assert!(started.elapsed() < Duration::from_secs(5), "still degraded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = pay_kes(&gw).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test]
async fn each_market_has_its_own_breaker_and_all_down_is_unavailable() {
    let gw = gateway().await;
    assert_eq!(heartbeat(&gw).await.0, "available");
    gw.gateway
        .daraja_listener
        .clone()
        .expect("daraja")
        .stop()
        .await;
    gw.gateway
        .openapi_listener
        .clone()
        .expect("openapi")
        .stop()
        .await;
    until_refused(&gw, Duration::from_secs(2)).await;
    trip(&gw, "TZS", Duration::from_secs(2)).await;
    // Tanzania is refused; Ghana, whose breaker has seen no failure yet, still accepts.
    assert_eq!(
        heartbeat(&gw).await,
        ("degraded".into(), "daraja,mpesa-openapi:TZS".into())
    );
    let (status, body) = pay_in(&gw, "GHS").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    for currency in ["GHS", "LSL", "USD", "MZN"] {
        trip(&gw, currency, Duration::from_secs(2)).await;
    }
    // The MMAPI simulator (walletid accounts) still serves: degraded, until it is down too. It is one
    // endpoint, so one breaker whatever the currency.
    assert_eq!(heartbeat(&gw).await.0, "degraded");
    gw.gateway
        .mmapi_listener
        .clone()
        .expect("mmapi")
        .stop()
        .await;
    let started = Instant::now();
    loop {
        let (status, body) = gw
            .post_raw(
                "/transactions/type/merchantpay",
                json!({"amount": "1", "currency": "GBP", "debitParty": [{"key": "walletid", "value": "5"}],
                       "creditParty": [{"key": "walletid", "value": "6"}]})
                .to_string(),
                &[],
            )
            .await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "walletid payments still accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, providers) = heartbeat(&gw).await;
    assert_eq!(status, "unavailable");
    assert_eq!(
        providers,
        "daraja,mmapi-simulator,mpesa-openapi:GHS,mpesa-openapi:LSL,mpesa-openapi:MZN,mpesa-openapi:TZS,mpesa-openapi:USD"
    );
}

//! `[telemetry] otlp_endpoint`: the spans of a payment (its `request`, the `dispatch` to the operator and the
//! `callback` to the client, each with the request id) reach an OpenTelemetry collector over OTLP/HTTP.
//!
//! The collector here is a loopback listener that keeps what is posted to `/v1/traces`; OTLP protobuf carries
//! strings as they are, so the span names and attributes are read from the bytes. Logging is process-wide, so
//! this binary holds this one test.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use common::*;
use mmapi_gateway::telemetry::{self, LogFormat, TelemetrySettings};

type Received = Arc<Mutex<Vec<Bytes>>>;

async fn collect(State(received): State<Received>, body: Bytes) -> axum::http::StatusCode {
    received.lock().expect("lock").push(body);
    axum::http::StatusCode::OK
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payments_spans_reach_the_collector_with_its_request_id() {
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector = listener.local_addr().expect("address");
    let app = Router::new()
        .route("/v1/traces", post(collect))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let settings = TelemetrySettings {
        otlp_endpoint: Some(format!("http://{collector}/v1/traces")),
        service_name: "mmapi-gateway-under-test".into(),
        ..TelemetrySettings::default()
    };
    let mut exporter = telemetry::init(LogFormat::Text, &settings).expect("telemetry");
    assert!(exporter.exporting());

    let gw = TestGateway::start().await;
    let callbacks = CallbackReceiver::start(vec![]).await;
    let body = serde_json::json!({"amount": "10", "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": PAYER}],
        "creditParty": [{"key": "storeid", "value": TILL}]});
    let response = gw
        .http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("X-Request-ID", "otlp-trace-7f3a")
        .header("X-CorrelationID", correlation_id())
        .header("X-Callback-URL", &callbacks.url)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
    callbacks.wait_for(1, Duration::from_secs(20)).await;

    // Shutting the exporter down sends what it still holds (a blocking call: off the runtime's threads).
    tokio::task::spawn_blocking(move || exporter.shutdown())
        .await
        .expect("exporter stopped");
    let exported: Vec<u8> = received.lock().expect("lock").concat();
    assert!(!exported.is_empty(), "nothing reached the collector");
    for expected in [
        "mmapi-gateway-under-test",
        "request",
        "dispatch",
        "callback",
        "otlp-trace-7f3a",
        "/v1.2/mm/transactions/type/{transactionType}",
    ] {
        assert!(
            contains(&exported, expected),
            "'{expected}' is not in the exported spans"
        );
    }
}

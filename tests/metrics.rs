//! `/metrics` (Prometheus text, operator clients only).
//!
//! The metrics registry is process-wide, as in a deployed gateway, so this binary holds only tests that either
//! count what they cause or cause nothing countable: a test that made payments beside them would add to their
//! counts. The request-id tests live in `request_ids.rs` for that reason.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::TestGateway;
use reqwest::StatusCode;

fn value_of(v: &prometheus_parse::Value) -> f64 {
    use prometheus_parse::Value;
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => *x,
        _ => f64::NAN,
    }
}

/// A counter's samples are named with or without `_total`, depending on the parser's reading of OpenMetrics.
fn named(metric: &str, counter: &str) -> bool {
    metric == counter || metric.strip_suffix("_total") == Some(counter)
}

async fn scrape(gw: &TestGateway) -> (String, prometheus_parse::Scrape) {
    let root = format!("http://{}", gw.gateway.address);
    let response = gw
        .http
        .get(format!("{root}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("metrics text");
    if std::env::var_os("MMAPI_PRINT_METRICS").is_some() {
        println!("{text}");
    }
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("/metrics parses as Prometheus text");
    (text, parsed)
}

#[tokio::test]
async fn metrics_count_the_payments_made_per_final_status() {
    let gw = TestGateway::start().await;
    // Succeeds, cancelled by the customer (1032), insufficient funds (1): a mix of outcomes.
    let payers = [
        "+254708374149",
        "254700000001",
        "+254708374149",
        "0700000002",
        "+254708374149",
    ];
    let mut ids = Vec::new();
    for round in 0..4 {
        for payer in payers {
            let cid = uuid::Uuid::new_v4().to_string();
            let (status, state) = gw
                .merchantpay(
                    payer,
                    &format!("{}", 10 + round),
                    &[("X-CorrelationID", &cid)],
                )
                .await;
            assert_eq!(status, axum::http::StatusCode::ACCEPTED, "{state}");
            ids.push(
                state["serverCorrelationId"]
                    .as_str()
                    .expect("serverCorrelationId")
                    .to_owned(),
            );
        }
    }
    let mut by_status: HashMap<String, f64> = HashMap::new();
    for id in &ids {
        let state = gw.wait_final(id, Duration::from_secs(20)).await;
        let status = state["status"].as_str().expect("status").to_owned();
        *by_status.entry(status).or_default() += 1.0;
    }
    assert_eq!(by_status.len(), 2, "mixed outcomes: {by_status:?}");

    let (text, scrape) = scrape(&gw).await;
    for (status, expected) in &by_status {
        let counted: f64 = scrape
            .samples
            .iter()
            .filter(|s| named(&s.metric, "mmapi_transactions"))
            .filter(|s| s.labels.get("status") == Some(status.as_str()))
            .filter(|s| s.labels.get("type") == Some("merchantpay"))
            .filter(|s| s.labels.get("provider") == Some("daraja"))
            .filter(|s| s.labels.get("market") == Some("KES"))
            .map(|s| value_of(&s.value))
            .sum();
        assert_eq!(counted, *expected, "transactions {status}");
    }
    // Routes are labelled by their template, never the raw path. (prometheus-parse skips samples whose label
    // values hold braces, so these are read from the text.)
    let accepted = format!(
        "mmapi_http_requests_total{{route=\"/v1.2/mm/transactions/type/{{transactionType}}\",method=\"POST\",status=\"202\"}} {}",
        ids.len()
    );
    assert!(text.lines().any(|l| l == accepted), "{accepted} missing");
    assert!(text.contains("route=\"/v1.2/mm/requeststates/{serverCorrelationId}\""));
    assert!(
        !ids.iter().any(|id| text.contains(id.as_str())),
        "a raw path leaked into a label"
    );
    let submits: f64 = scrape
        .samples
        .iter()
        .filter(|s| named(&s.metric, "mmapi_operator_calls"))
        .filter(|s| s.labels.get("operation") == Some("submit"))
        .map(|s| value_of(&s.value))
        .sum();
    assert!(submits >= ids.len() as f64, "operator submits: {submits}");
    for gauge in [
        "mmapi_callbacks_owed",
        "mmapi_pending_transactions",
        "mmapi_store_pool_connections",
        "mmapi_provider_circuit_state",
    ] {
        assert!(
            scrape.samples.iter().any(|s| s.metric == gauge),
            "{gauge} missing"
        );
    }
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "mmapi_operator_call_duration_seconds"
                || s.metric.starts_with("mmapi_operator_call_duration_seconds")),
        "operator latency histogram missing"
    );
}

#[tokio::test]
async fn metrics_need_an_operator_client() {
    let gw = TestGateway::start().await;
    let url = format!("http://{}/metrics", gw.gateway.address);
    let anonymous = reqwest::Client::new().get(&url).send().await.expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = anonymous.json().await.expect("a GSMA error object");
    assert!(body["errorCategory"].is_string(), "{body}");
    let (_, client) = gw.another_client("a plain client").await;
    let refused = client.get(&url).send().await.expect("sent");
    assert!(
        matches!(
            refused.status(),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED
        ),
        "{}",
        refused.status()
    );
}

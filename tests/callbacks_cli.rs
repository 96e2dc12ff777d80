//! The client-callback delivery log and redelivery from the CLI, end to end: a client endpoint that answers 400
//! makes the gateway give its callback up after `client_error_max_attempts`; `mmapi-gateway callbacks list`
//! shows it abandoned with the 400 and no body; once the endpoint accepts again, `callbacks redeliver <id>`
//! has the running gateway deliver it, and the list shows it delivered.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

/// Runs `mmapi-gateway callbacks <args> --data-dir <the gateway's>`.
fn cli(t: &TestGateway, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mmapi-gateway"))
        .arg("callbacks")
        .args(args)
        .arg("--data-dir")
        .arg(t.dir.path())
        .env("MMAPI_LOG", "warn")
        .output()
        .expect("the gateway binary runs")
}

/// `callbacks list` with `args`, parsed.
fn list(t: &TestGateway, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["list"];
    all.extend_from_slice(args);
    let output = cli(t, &all);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Polls `callbacks list --state <state>` until it holds one callback.
async fn wait_listed(t: &TestGateway, state: &str) -> Value {
    let started = Instant::now();
    loop {
        let listed = list(t, &["--state", state]);
        if let [one] = listed.as_slice() {
            return one.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no callback {state}: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn an_abandoned_callback_is_listed_and_redelivered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sandbox_config(dir.path()).await;
    // The CLI reads the same store: keep it on SQLite in the data directory.
    config.database_url = None;
    config.callbacks.client_error_max_attempts = 3;
    let t = TestGateway::start_with(config, dir).await;
    // 400 three times (given up), then 204 for whatever comes next: the endpoint is fixed.
    let receiver = CallbackReceiver::start(vec![400, 400, 400]).await;

    let cid = correlation_id();
    let (status, state) = t
        .merchantpay(
            PAYER,
            "100",
            &[("X-CorrelationID", &cid), ("X-Callback-URL", &receiver.url)],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let server_correlation_id = state["serverCorrelationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let abandoned = wait_listed(&t, "abandoned").await;
    assert_eq!(receiver.all().len(), 3, "three attempts, then given up");
    assert_eq!(
        abandoned["serverCorrelationId"],
        server_correlation_id.as_str()
    );
    assert_eq!(abandoned["url"], receiver.url.as_str());
    assert_eq!(abandoned["attempts"], 3);
    assert_eq!(abandoned["lastStatus"], 400);
    assert!(
        abandoned["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("400")),
        "{abandoned}"
    );
    assert!(abandoned["createdAt"].is_string(), "{abandoned}");
    assert!(abandoned["deliveredAt"].is_null(), "{abandoned}");
    assert!(
        abandoned.get("body").is_none() && abandoned.get("transactionStatus").is_none(),
        "the list carries no callback body: {abandoned}"
    );
    assert!(list(&t, &["--state", "delivered"]).is_empty());
    assert!(list(&t, &["--state", "pending"]).is_empty());
    // Given up means given up: no attempt while nobody asks.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.all().len(), 3);

    // An id the outbox does not hold is refused.
    let unknown = cli(&t, &["redeliver", "999999"]);
    assert!(!unknown.status.success(), "{unknown:?}");
    // Neither ids nor --all-abandoned: a usage error.
    assert!(!cli(&t, &["redeliver"]).status.success());

    let id = abandoned["id"].as_i64().expect("an id").to_string();
    let output = cli(&t, &["redeliver", id.as_str()]);
    assert!(output.status.success(), "{output:?}");

    // The running gateway delivers it.
    let got = receiver.wait_for(4, Duration::from_secs(10)).await;
    assert_eq!(got[3].body, got[0].body, "the same callback again");
    assert_eq!(
        got[3].headers["x-correlationid"].to_str().ok(),
        Some(cid.as_str())
    );
    assert_eq!(got[3].body["transactionStatus"], "completed");

    let delivered = wait_listed(&t, "delivered").await;
    assert_eq!(delivered["id"], abandoned["id"]);
    assert_eq!(delivered["attempts"], 1, "a fresh attempt budget");
    assert!(
        delivered["lastStatus"]
            .as_i64()
            .is_some_and(|s| (200..300).contains(&s)),
        "{delivered}"
    );
    assert!(delivered["lastError"].is_null(), "{delivered}");
    assert!(delivered["deliveredAt"].is_string(), "{delivered}");
    assert!(list(&t, &["--state", "abandoned"]).is_empty());
    assert_eq!(list(&t, &["--limit", "10"]).len(), 1);

    // Nothing abandoned left: --all-abandoned redelivers nothing, and nothing is sent again.
    let output = cli(&t, &["redeliver", "--all-abandoned"]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.all().len(), 4, "delivered once more, exactly");
}

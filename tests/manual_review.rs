//! A Daraja STK Push whose result callback never comes and whose STK Query keeps answering "being processed" is
//! not failed when its give-up time passes: it is marked for manual review, stays pending, is listed by
//! `GET /internal/review` and `mmapi-gateway review list`, and a person settles it (over HTTP, or with
//! `mmapi-gateway review resolve`), which sends the client's callback.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

/// The simulator's "lost callback" customer: no STK result is ever posted.
const LOST_CALLBACK_PAYER: &str = "254700000005";

async fn review_list(t: &TestGateway) -> Vec<Value> {
    let url = format!("http://{}/internal/review", t.gateway.address);
    let (status, body) = get_json(&t.http, &url).await;
    assert_eq!(status, StatusCode::OK);
    body.as_array().cloned().unwrap_or_default()
}

fn cli(t: &TestGateway, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mmapi-gateway"));
    command
        .args(["review"])
        .args(args)
        .arg("--data-dir")
        .arg(t.dir.path())
        .env("MMAPI_LOG", "warn");
    command.output().expect("the gateway binary runs")
}

#[tokio::test]
async fn unsettled_stk_push_goes_to_review_not_failed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sandbox_config(dir.path()).await;
    if config.database_url.is_some() {
        // The CLI half of this test reads the same store; keep it on SQLite in the data directory.
        config.database_url = None;
    }
    // The simulated customer would answer only after ten minutes: STK Query says "being processed" until then.
    config.simulators.callback_delay_ms = 600_000;
    config.simulators.stk_result_deadline_secs = 1;
    config.dispatch.review_after_secs = 3_600;
    config
        .dispatch
        .review_after_secs_per_provider
        .insert("daraja".into(), 3);
    config.dispatch.max_check_interval_secs = 1;
    let t = TestGateway::start_with(config, dir).await;
    let receiver = CallbackReceiver::start(vec![]).await;

    let mut accepted = Vec::new();
    for _ in 0..2 {
        let (status, state) = t
            .merchantpay(
                LOST_CALLBACK_PAYER,
                "10",
                &[
                    ("X-CorrelationID", &correlation_id()),
                    ("X-Callback-URL", &receiver.url),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{state}");
        accepted.push(state);
    }
    let references: Vec<String> = accepted
        .iter()
        .map(|s| s["objectReference"].as_str().unwrap_or_default().to_owned())
        .collect();

    // Both reach review after their 3 s give-up time, and stay pending.
    let started = Instant::now();
    let listed = loop {
        let listed = review_list(&t).await;
        if listed.len() == 2 {
            break listed;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not in review: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for item in &listed {
        assert!(references.contains(
            &item["transactionReference"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        ));
        assert_eq!(item["provider"], "daraja");
        assert_eq!(item["amount"], "10");
        assert_eq!(item["currency"], "KES");
        assert!(
            item["statusChecks"].as_i64().unwrap_or_default() >= 1,
            "{item}"
        );
    }
    for state in &accepted {
        let id = state["serverCorrelationId"].as_str().unwrap_or_default();
        let (status, now) = t.get(&format!("/requeststates/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(now["status"], "pending", "{now}");
        let (_, tx) = t
            .get(&format!(
                "/transactions/{}",
                state["objectReference"].as_str().unwrap_or_default()
            ))
            .await;
        assert_eq!(tx["transactionStatus"], "pending");
    }
    assert!(receiver.all().is_empty(), "no callback before review");

    // The CLI lists them too.
    let output = cli(&t, &["list"]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for reference in &references {
        assert!(stdout.contains(reference.as_str()), "{stdout}");
    }

    // A malformed decision is a GSMA validation error, and settles nothing.
    let bad = t
        .http
        .post(format!(
            "http://{}/internal/review/{}",
            t.gateway.address, references[0]
        ))
        .json(&json!({"status": "paid"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), 400);
    let error: Value = bad.json().await.expect("a JSON error");
    assert_eq!(error["errorCategory"], "validation", "{error}");
    assert_eq!(error["errorCode"], "formatError", "{error}");

    // One settled over HTTP as failed.
    let response = t
        .http
        .post(format!(
            "http://{}/internal/review/{}",
            t.gateway.address, references[0]
        ))
        .json(&json!({"status": "failed"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 204);
    let again = t
        .http
        .post(format!(
            "http://{}/internal/review/{}",
            t.gateway.address, references[0]
        ))
        .json(&json!({"status": "completed"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        again.status(),
        409,
        "a settled transaction is no longer in review"
    );

    // The other with the CLI, as completed.
    let output = cli(
        &t,
        &["resolve", references[1].as_str(), "--status", "completed"],
    );
    assert!(output.status.success(), "{output:?}");

    let first = t
        .wait_final(
            accepted[0]["serverCorrelationId"]
                .as_str()
                .unwrap_or_default(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(first["status"], "failed");
    let second = t
        .wait_final(
            accepted[1]["serverCorrelationId"]
                .as_str()
                .unwrap_or_default(),
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(second["status"], "completed");
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert!(
        got.iter().any(|r| r.body["errorCategory"].is_string()),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|r| r.body["transactionReference"] == references[1].as_str()
                && r.body["transactionStatus"] == "completed"),
        "{got:?}"
    );
    assert!(review_list(&t).await.is_empty());
}

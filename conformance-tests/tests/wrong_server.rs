//! The suite against a deliberately wrong server: it answers 200 instead of 202, drops `X-Date`, and spells an
//! error category in UpperCamelCase. The failing cases must be named, with the difference that fails them.

use std::net::SocketAddr;
use std::process::Command;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use mmapi_conformance::profile::Profile;
use mmapi_conformance::runner::{CaseResult, Outcome, RunConfig};
use mmapi_conformance::scenario::Scenario;
use serde_json::json;

fn json_response(status: StatusCode, body: serde_json::Value) -> impl IntoResponse {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// A server that gets three things wrong, and sends no `X-Date` at all.
async fn start_wrong_server() -> String {
    let app = Router::new()
        .route(
            "/mm/heartbeat",
            get(|| async { json_response(StatusCode::OK, json!({"serviceStatus": "available"})) }),
        )
        .route(
            "/mm/transactions/type/{kind}",
            post(|| async {
                // 200 where the spec says 202 for an asynchronous request.
                json_response(
                    StatusCode::OK,
                    json!({"serverCorrelationId": "0b3b9a36-4a3c-4d39-9f8e-111111111111",
                           "status": "pending", "notificationMethod": "polling"}),
                )
            }),
        )
        .route(
            "/mm/requeststates/{id}",
            get(|| async {
                // UpperCamelCase category: not in the spec's enum.
                json_response(
                    StatusCode::NOT_FOUND,
                    json!({"errorCategory": "Identification", "errorCode": "identifierError"}),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address: SocketAddr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/mm")
}

fn pick(ids: &[&str]) -> Vec<Scenario> {
    let all = Scenario::embedded().expect("scenarios parse");
    ids.iter()
        .map(|id| {
            all.iter()
                .find(|s| s.id == *id)
                .cloned()
                .unwrap_or_else(|| panic!("no scenario {id}"))
        })
        .collect()
}

fn result<'a>(results: &'a [CaseResult], id: &str) -> &'a CaseResult {
    results
        .iter()
        .find(|r| r.id == id)
        .expect("a result per scenario")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_names_the_failing_cases() {
    let base_url = start_wrong_server().await;
    let mut profile = Profile::load("sandbox-daraja").expect("profile");
    // A server without account statements: their scenarios must be skipped, not failed.
    profile
        .capabilities
        .retain(|c| c != "accounts.transactions");
    profile.timeouts.poll_secs = 2;
    let scenarios = pick(&[
        "heartbeat/available",
        "merchant-payments/polling-success",
        "request-states/not-found",
        "account-transactions/pagination",
    ]);
    let config = RunConfig {
        base_url,
        profile,
        auth: None,
        headers: vec![],
    };
    let results = mmapi_conformance::run_suite(
        config,
        &scenarios,
        "127.0.0.1:0".parse().unwrap(),
        None,
        |_| {},
    )
    .await
    .expect("the suite runs");

    let heartbeat = result(&results, "heartbeat/available");
    assert_eq!(heartbeat.outcome, Outcome::Failed);
    assert_eq!(
        heartbeat.detail(),
        Some("step 'heartbeat': the X-Date header is missing")
    );

    let payment = result(&results, "merchant-payments/polling-success");
    assert_eq!(payment.outcome, Outcome::Failed);
    let first = payment.detail().unwrap_or_default();
    assert!(
        first.starts_with("step 'request the payment': status 200, expected 202"),
        "{first}"
    );
    assert!(
        payment.failures.iter().any(|f| f.contains(
            "the spec declares no 200 response for POST /transactions/type/{transactionType}"
        )),
        "{:?}",
        payment.failures
    );

    let not_found = result(&results, "request-states/not-found");
    assert_eq!(not_found.outcome, Outcome::Failed);
    assert!(
        not_found
            .failures
            .iter()
            .any(|f| f.contains("/errorCategory") && f.contains("Identification")),
        "{:?}",
        not_found.failures
    );

    let skipped = result(&results, "account-transactions/pagination");
    assert_eq!(skipped.outcome, Outcome::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_fails_and_reports() {
    let base_url = start_wrong_server().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("junit.xml");
    // The sandbox profile, as a server without account statements: their scenarios must be skipped.
    let profile_path = dir.path().join("no-statements.yaml");
    let profile_text: String = include_str!("../profiles/sandbox-daraja.yaml")
        .lines()
        .filter(|l| !l.trim_start().starts_with("- accounts.transactions"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&profile_path, profile_text).expect("profile written");
    let profile_arg = profile_path.to_string_lossy().into_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mmapi-conformance"))
            .args(["run", "--base-url", &base_url, "--profile", &profile_arg])
            .args([
                "--scenarios",
                "heartbeat/*,request-states/not-found,account-transactions/*",
            ])
            .arg("--report")
            .arg(&report)
            .output()
            .map(|o| (o, std::fs::read_to_string(&report)))
    })
    .await
    .expect("join")
    .expect("the binary runs");
    let (output, junit) = output;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some("conformance: 0 passed, 2 failed, 2 skipped"),
        "{stdout}"
    );
    assert!(
        stdout.contains("use case account-transactions: 0 passed, 0 failed, 2 skipped"),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("FAIL")
            && l.contains("heartbeat/available")
            && l.contains("X-Date")),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\r'),
        "no progress indicator when stdout is not a terminal"
    );
    let junit = junit.expect("the JUnit report is written");
    assert!(
        junit.contains("<testsuites name=\"mmapi-conformance\" tests=\"4\" failures=\"2\""),
        "{junit}"
    );
    assert!(
        junit.contains("<testcase classname=\"heartbeat\" name=\"available\""),
        "{junit}"
    );
}

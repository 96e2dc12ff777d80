//! The whole suite against the real gateway in sandbox mode, in-process: every scenario the sandbox profile
//! does not skip must pass.

use std::net::SocketAddr;

use mmapi_conformance::profile::Profile;
use mmapi_conformance::runner::{Auth, Outcome, RunConfig};
use mmapi_conformance::scenario::Scenario;
use mmapi_gateway::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_sandbox_gateway_on_daraja() {
    every_scenario_passes("sandbox-daraja").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_sandbox_gateway_on_the_mpesa_openapi() {
    every_scenario_passes("sandbox-mpesa-openapi").await;
}

async fn every_scenario_passes(profile_name: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    config.simulators.callback_delay_ms = 100;
    let gateway = mmapi_gateway::app::start(config)
        .await
        .expect("the gateway starts");
    let base_url = format!("http://{}/v1.2/mm", gateway.address);
    // The sandbox's demo client, as a user of the sandbox would authenticate (README, "Authentication").
    let demo = gateway
        .sandbox_client
        .clone()
        .expect("sandbox mode creates a demo client");
    let auth = Auth::Basic {
        user: demo.consumer_key.clone(),
        password: demo.consumer_secret.expose().to_owned(),
    };

    let profile = Profile::load(profile_name).expect("profile");
    let scenarios = Scenario::embedded().expect("scenarios parse");
    let expected_skips = scenarios
        .iter()
        .filter(|s| !profile.missing(&s.requires).is_empty())
        .count();
    let config = RunConfig {
        base_url,
        profile,
        auth: Some(auth),
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
    gateway.abort();

    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .map(|r| {
            format!(
                "{}: {}\n    {}",
                r.id,
                r.failures.join("\n    "),
                r.log.join("\n    ")
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "failing scenarios:\n{}",
        failed.join("\n")
    );
    let skipped = results
        .iter()
        .filter(|r| r.outcome == Outcome::Skipped)
        .count();
    assert_eq!(skipped, expected_skips);
    let passed = results
        .iter()
        .filter(|r| r.outcome == Outcome::Passed)
        .count();
    assert!(passed >= 20, "{passed} passed");
}

//! The whole suite against the real gateway in sandbox mode, in-process: every scenario the sandbox profile
//! does not skip must pass.

use std::net::SocketAddr;

mod support;

use mmapi_conformance::runner::Auth;
use mmapi_gateway::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_sandbox_gateway_on_daraja() {
    every_scenario_passes("sandbox-daraja").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_sandbox_gateway_on_the_mpesa_openapi() {
    every_scenario_passes("sandbox-mpesa-openapi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_sandbox_gateway_on_the_mmapi_simulator() {
    every_scenario_passes("mmapi-simulator").await;
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

    support::assert_suite_passes(base_url, auth, profile_name).await;
    gateway.abort();
}

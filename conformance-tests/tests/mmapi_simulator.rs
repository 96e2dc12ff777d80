//! The whole suite against the open MMAPI reference simulator on its own (no gateway, no authentication), with
//! the `mmapi-simulator` profile: every scenario the profile does not skip must pass, so the simulator is a
//! conforming GSMA server by the same measure as the gateway.

mod support;

use mmapi_conformance::runner::Auth;
use mmapi_forward::simulator::{MmapiSimulator, SimulatorConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_mmapi_simulator() {
    let sim = MmapiSimulator::new(SimulatorConfig {
        processing_delay: std::time::Duration::from_millis(50),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}/v1.2/mm", listener.local_addr().expect("addr"));
    let router = axum::Router::new().nest("/v1.2/mm", sim.router());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    // The simulator asks for no credentials; the runner's Basic header is ignored.
    let auth = Auth::Basic {
        user: "anyone".into(),
        password: "anything".into(),
    };
    support::assert_suite_passes(base_url, auth, "mmapi-simulator").await;
    server.abort();
}

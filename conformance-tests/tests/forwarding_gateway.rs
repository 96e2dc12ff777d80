//! Issue 12, acceptance 4: gateway A, configured with the MMAPI backend (`providers/mmapi`) pointing at gateway
//! B in sandbox mode, passes the whole suite with B's profile: forwarding to a GSMA-speaking operator loses
//! nothing. Everything runs in-process on loopback; A authenticates to B with OAuth 2.0 client credentials
//! and receives B's callbacks on its `/callbacks/operator-b` route.

use std::net::SocketAddr;

mod support;

use mmapi_conformance::runner::Auth;
use mmapi_core::Currency;
use mmapi_forward::{AuthScheme, MmapiConfig};
use mmapi_gateway::auth::{NewClient, Role};
use mmapi_gateway::config::Config;

fn config_in(dir: &std::path::Path) -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.to_owned(),
        ..Config::default()
    };
    config.simulators.callback_delay_ms = 100;
    config.dispatch.tick_ms = 100;
    config.callbacks.initial_backoff_ms = 100;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_forwarding_to_a_sandbox_gateway_passes_the_suite() {
    // B: the operator, a gateway in sandbox mode (Daraja simulator behind it).
    let b_dir = tempfile::tempdir().expect("temp dir");
    let b = mmapi_gateway::app::start(config_in(b_dir.path()))
        .await
        .expect("gateway B starts");
    let b_client = b.sandbox_client.clone().expect("B's demo client");

    // A: no simulator of its own; KES goes to B through the MMAPI backend.
    let a_dir = tempfile::tempdir().expect("temp dir");
    let mut a_config = config_in(a_dir.path());
    a_config.sandbox = Some(false);
    a_config.callbacks.allow_loopback = Some(true);
    let mut operator = MmapiConfig::new(
        format!("http://{}/v1.2/mm", b.address),
        vec![Currency::parse("KES").expect("KES")],
    );
    operator.name = "operator-b".into();
    operator.auth.scheme = AuthScheme::Oauth2;
    operator.auth.consumer_key = Some(b_client.consumer_key.clone());
    operator.auth.consumer_secret = Some(b_client.consumer_secret.clone());
    operator.result_deadline_secs = Some(5);
    // What B's operator (M-Pesa Ratiba) offers; the profile's data expects a fortnightly mandate refused.
    operator.operations.mandate_frequencies = Some(
        [
            "weekly",
            "monthspecificdate",
            "specificdaymonthly",
            "twomonths",
            "threemonths",
            "sixmonths",
            "yearly",
        ]
        .iter()
        .map(|f| serde_json::from_value(serde_json::json!(f)).expect("a frequency"))
        .collect(),
    );
    a_config.providers.mmapi = vec![operator];
    let a = mmapi_gateway::app::start(a_config)
        .await
        .expect("gateway A starts");
    let a_client = a
        .clients
        .create(NewClient {
            role: Role::Operator,
            accounts: mmapi_gateway::auth::demo::sandbox_accounts(),
            ..NewClient::named("conformance")
        })
        .await
        .expect("a client of A");

    let auth = Auth::Basic {
        user: a_client.consumer_key.clone(),
        password: a_client.consumer_secret.expose().to_owned(),
    };
    support::assert_suite_passes(
        format!("http://{}/v1.2/mm", a.address),
        auth,
        "sandbox-daraja",
    )
    .await;
    a.abort();
    b.abort();
}

//! An M-Pesa OpenAPI payout left in doubt (the request timed out) is settled without a person, over real HTTP: the
//! gateway, the OpenAPI simulator and, between them, a proxy that loses what the test tells it to.
//!
//! - The request never reached M-Pesa: the status query does not know it, so the gateway sends it again under
//!   the same `input_ThirdPartyConversationID`, and M-Pesa pays it once.
//! - M-Pesa took it but its answer was lost, and its status query does not find it yet: the resend is refused
//!   as a duplicate (409 `INS-10`), nothing is paid twice, and the status query settles it once it finds it.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;
use common::TestGateway;
use mmapi_core::Secret;
use mmapi_mpesa_openapi::simulator::{
    OpenApiSimulator, SimulatorConfig, SANDBOX_API_KEY, SANDBOX_SERVICE_PROVIDER_CODE,
};
use mmapi_mpesa_openapi::transform::third_party_id;
use mmapi_mpesa_openapi::{MarketConfig, OpenApiConfig};
use reqwest::StatusCode;
use serde_json::json;

/// What the proxy does to payouts (`b2cPayment/`) and status queries.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Loss {
    /// Everything passes.
    Nothing,
    /// Payouts never reach M-Pesa: held until the gateway gives up on them.
    Requests,
    /// Payouts reach M-Pesa, the answers of those it takes are held until the gateway gives up (its refusals
    /// pass), and status queries ask for an unknown reference (M-Pesa answers its real "not found", `INS-23`).
    AnswersAndQueries,
}

struct Proxy {
    upstream: String,
    loss: Mutex<Loss>,
    http: reqwest::Client,
}

impl Proxy {
    fn loss(&self) -> Loss {
        *self.loss.lock().unwrap()
    }

    fn set(&self, loss: Loss) {
        *self.loss.lock().unwrap() = loss;
    }
}

/// Longer than the gateway waits for an answer (`request_timeout_ms`).
const HELD: Duration = Duration::from_secs(5);

async fn relay(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let loss = proxy.loss();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let payout = path.ends_with("/b2cPayment/");
    if payout && loss == Loss::Requests {
        tokio::time::sleep(HELD).await;
        return Response::builder().status(504).body(Body::empty()).unwrap();
    }
    let mut query = parts.uri.query().unwrap_or("").to_owned();
    if path.ends_with("/queryTransactionStatus/") && loss == Loss::AnswersAndQueries {
        query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("input_QueryReference", _)) => {
                    "input_QueryReference=notknownyet000000001".to_owned()
                }
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
    }
    let url = if query.is_empty() {
        format!("{}{path}", proxy.upstream)
    } else {
        format!("{}{path}?{query}", proxy.upstream)
    };
    let body = to_bytes(body, 1 << 20).await.unwrap();
    let mut forwarded = proxy.http.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = forwarded.send().await.unwrap();
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap();
    if payout && loss == Loss::AnswersAndQueries && status.is_success() {
        tokio::time::sleep(HELD).await;
    }
    let mut response = Response::builder().status(status.as_u16());
    if let Some(content_type) = content_type {
        response = response.header("content-type", content_type);
    }
    response.body(Body::from(bytes)).unwrap()
}

/// The simulator, the proxy in front of it, and a gateway whose M-Pesa OpenAPI (Tanzania) is behind the proxy.
async fn setup() -> (OpenApiSimulator, Arc<Proxy>, TestGateway) {
    let sim = OpenApiSimulator::start(SimulatorConfig::default())
        .await
        .unwrap();
    let upstream = common::serve_on_loopback(sim.router()).await;
    let proxy = Arc::new(Proxy {
        upstream,
        loss: Mutex::new(Loss::Nothing),
        http: reqwest::Client::new(),
    });
    let proxy_url = common::serve_on_loopback(
        axum::Router::new()
            .fallback(relay)
            .with_state(Arc::clone(&proxy)),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = common::sandbox_config(dir.path()).await;
    config.sandbox = Some(false);
    config.providers.mpesa_openapi = Some(OpenApiConfig {
        markets: vec![MarketConfig {
            market: "vodacomTZN".into(),
            base_url: proxy_url,
            environment: "sandbox".into(),
            api_key: Secret::new(SANDBOX_API_KEY),
            public_key: sim.public_key_base64(),
            service_provider_code: SANDBOX_SERVICE_PROVIDER_CODE.into(),
            origin: "*".into(),
            session_lifetime_secs: 3600,
            session_activation_delay_ms: 0,
            async_mode: false,
            request_timeout_ms: 1_000,
            result_deadline_secs: 1,
        }],
    });
    let gateway = TestGateway::start_with(config, dir).await;
    (sim, proxy, gateway)
}

/// Posts a payout of `amount` TZS to `msisdn`; returns its server correlation id and transaction reference.
async fn payout(gw: &TestGateway, msisdn: &str, amount: &str) -> (String, String) {
    let body = json!({"amount": amount, "currency": "TZS",
                      "debitParty": [{"key": "businessshortcode", "value": SANDBOX_SERVICE_PROVIDER_CODE}],
                      "creditParty": [{"key": "msisdn", "value": msisdn}]});
    let (status, state) = gw
        .post_raw(
            "/transactions/type/disbursement",
            body.to_string(),
            &[("X-CorrelationID", &common::correlation_id())],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    (
        state["serverCorrelationId"].as_str().unwrap().to_owned(),
        state["objectReference"].as_str().unwrap().to_owned(),
    )
}

/// Waits until the gateway has given up waiting for M-Pesa's answer: the transaction is in doubt.
async fn wait_in_doubt(gw: &TestGateway, reference: &str) {
    let started = Instant::now();
    loop {
        let row = gw
            .gateway
            .engine
            .store()
            .transaction(reference)
            .await
            .unwrap()
            .expect("the transaction is stored");
        if row.dispatch_state == "in_doubt" {
            assert_eq!(row.status, "pending");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{reference} never in doubt: {} {}",
            row.status,
            row.dispatch_state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The transaction's story as the dashboard shows it: each step's kind, and for a resend what the operator made
/// of it.
async fn story(gw: &TestGateway, reference: &str) -> Vec<String> {
    let events = gw
        .gateway
        .engine
        .store()
        .transaction_events(reference)
        .await
        .unwrap();
    events
        .iter()
        .map(|event| {
            if event.kind != "resent" {
                return event.kind.clone();
            }
            let detail: serde_json::Value =
                serde_json::from_str(event.detail.as_deref().unwrap_or("{}")).unwrap();
            let code = detail["providerCode"].as_str().unwrap_or("");
            format!("resent {} {code}", detail["answer"].as_str().unwrap_or(""))
                .trim_end()
                .to_owned()
        })
        .collect()
}

fn balance(sim: &OpenApiSimulator, msisdn: &str) -> f64 {
    sim.balance_of("vodacomTZN", msisdn)
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_lost_on_the_way_is_sent_again_and_paid_once() {
    let (sim, proxy, gw) = setup().await;
    let before = balance(&sim, "255754000444");
    proxy.set(Loss::Requests);
    let (id, reference) = payout(&gw, "+255754000444", "3100").await;
    wait_in_doubt(&gw, &reference).await;
    let key = third_party_id(&reference);
    assert_eq!(
        sim.submissions().get(&key),
        None,
        "the payout reached M-Pesa"
    );

    proxy.set(Loss::Nothing);
    let state = gw.wait_final(&id, Duration::from_secs(20)).await;
    assert_eq!(state["status"], "completed", "{state}");
    let (_, tx) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(tx["transactionStatus"], "completed", "{tx}");
    assert!(tx["transactionReceipt"].is_string(), "{tx}");
    assert_eq!(sim.submissions().get(&key), Some(&1));
    assert_eq!(balance(&sim, "255754000444") - before, 3100.0);
    assert_eq!(
        story(&gw, &reference).await,
        [
            "accepted",
            "dispatched",
            "in_doubt",
            "resent taken",
            "completed"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_whose_answer_was_lost_is_not_paid_twice() {
    let (sim, proxy, gw) = setup().await;
    let before = balance(&sim, "255754000555");
    proxy.set(Loss::AnswersAndQueries);
    let (id, reference) = payout(&gw, "+255754000555", "4200").await;
    wait_in_doubt(&gw, &reference).await;
    let key = third_party_id(&reference);
    assert_eq!(sim.submissions().get(&key), Some(&1), "M-Pesa took it");
    assert_eq!(balance(&sim, "255754000555") - before, 4200.0);

    // Its status query cannot find it, so the gateway sends it again: M-Pesa refuses the duplicate.
    let started = Instant::now();
    while sim.submissions().get(&key) != Some(&2) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never sent again: {:?}",
            sim.submissions().get(&key)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, state) = gw.get(&format!("/requeststates/{id}")).await;
    assert_eq!(
        state["status"], "pending",
        "a refused resend settles nothing: {state}"
    );

    // Once M-Pesa's status query finds it, it completes: paid once.
    proxy.set(Loss::Nothing);
    let state = gw.wait_final(&id, Duration::from_secs(30)).await;
    assert_eq!(state["status"], "completed", "{state}");
    assert_eq!(balance(&sim, "255754000555") - before, 4200.0);
    let sent = sim.submissions().get(&key).copied().unwrap_or(0);
    assert!(sent >= 2, "{sent}");
    let (_, tx) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(tx["transactionStatus"], "completed", "{tx}");
    let steps = story(&gw, &reference).await;
    assert!(
        steps.iter().any(|s| s == "resent refused INS-10"),
        "{steps:?}"
    );
    assert_eq!(
        steps.last().map(String::as_str),
        Some("completed"),
        "{steps:?}"
    );
}

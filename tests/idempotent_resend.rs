//! A payout left in doubt (the request timed out) is settled without a person, over real HTTP: the gateway, an
//! operator's simulator and, between them, a proxy that loses what the test tells it to.
//!
//! - The request never reached the operator: it is sent again under the same idempotency key (M-Pesa OpenAPI
//!   `input_ThirdPartyConversationID`, Daraja B2C `OriginatorConversationID`), and paid once.
//! - The operator took it but its answer was lost, and the status query does not find it yet: the resend is
//!   refused as a duplicate (OpenAPI 409 `INS-10`, Daraja `500.002.1001`), nothing is paid twice, and the status
//!   query settles it once it finds it. A payout refused as a duplicate is not sent a third time.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;
use common::TestGateway;
use mmapi_core::Secret;
use mmapi_daraja::simulator::{self as daraja_sim, DarajaSimulator};
use mmapi_mpesa_openapi::simulator::{
    OpenApiSimulator, SimulatorConfig, SANDBOX_API_KEY, SANDBOX_SERVICE_PROVIDER_CODE,
};
use mmapi_mpesa_openapi::transform::third_party_id;
use mmapi_mpesa_openapi::{MarketConfig, OpenApiConfig};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// What the proxy does to payouts and status queries.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Loss {
    /// Everything passes.
    Nothing,
    /// Payouts never reach the operator: held until the gateway gives up on them.
    Requests,
    /// Payouts reach the operator, the answers of those it takes are held until the gateway gives up (its
    /// refusals pass) and their asynchronous results are lost, and status queries ask for an unknown reference
    /// (the operator answers its real "not found").
    AnswersAndQueries,
}

/// The operator behind the proxy.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Operator {
    OpenApi,
    Daraja,
}

impl Operator {
    fn is_payout(self, path: &str) -> bool {
        match self {
            Operator::OpenApi => path.ends_with("/b2cPayment/"),
            Operator::Daraja => path == "/mpesa/b2c/v3/paymentrequest",
        }
    }
}

/// An identifier neither operator has seen.
const UNKNOWN: &str = "notknownyet000000001";

struct Proxy {
    operator: Operator,
    /// The operator's simulator.
    upstream: String,
    /// The gateway, for the operator's results (`/callbacks/…`), once it is up.
    gateway: Mutex<Option<String>>,
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

/// A status query rewritten to ask for a transaction the operator does not know.
fn ask_for_unknown(operator: Operator, query: &str, body: axum::body::Bytes) -> (String, Vec<u8>) {
    match operator {
        Operator::OpenApi => {
            let query = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("input_QueryReference", _)) => format!("input_QueryReference={UNKNOWN}"),
                    _ => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("&");
            (query, body.to_vec())
        }
        Operator::Daraja => {
            let mut request: Value = serde_json::from_slice(&body).unwrap();
            request["OriginalConversationID"] = json!(UNKNOWN);
            (query.to_owned(), request.to_string().into_bytes())
        }
    }
}

async fn relay(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let loss = proxy.loss();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let body = to_bytes(body, 1 << 20).await.unwrap();
    let to_gateway = path.starts_with("/callbacks/");
    if to_gateway && loss == Loss::AnswersAndQueries && path.contains("/result/b2c/") {
        // The payout's result is lost on its way (the operator is told it arrived).
        return Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#))
            .unwrap();
    }
    let payout = !to_gateway && proxy.operator.is_payout(&path);
    if payout && loss == Loss::Requests {
        tokio::time::sleep(HELD).await;
        return Response::builder().status(504).body(Body::empty()).unwrap();
    }
    let query = parts.uri.query().unwrap_or("").to_owned();
    let status_query =
        path.ends_with("/queryTransactionStatus/") || path == "/mpesa/transactionstatus/v1/query";
    let (query, body) = if status_query && loss == Loss::AnswersAndQueries {
        ask_for_unknown(proxy.operator, &query, body)
    } else {
        (query, body.to_vec())
    };
    let upstream = if to_gateway {
        proxy
            .gateway
            .lock()
            .unwrap()
            .clone()
            .expect("the gateway is up")
    } else {
        proxy.upstream.clone()
    };
    let url = if query.is_empty() {
        format!("{upstream}{path}")
    } else {
        format!("{upstream}{path}?{query}")
    };
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

/// A proxy in front of `upstream`; returns it and its URL.
async fn proxy_to(operator: Operator, upstream: String) -> (Arc<Proxy>, String) {
    let proxy = Arc::new(Proxy {
        operator,
        upstream,
        gateway: Mutex::new(None),
        loss: Mutex::new(Loss::Nothing),
        http: reqwest::Client::new(),
    });
    let url = common::serve_on_loopback(
        axum::Router::new()
            .fallback(relay)
            .with_state(Arc::clone(&proxy)),
    )
    .await;
    (proxy, url)
}

/// The simulator, the proxy in front of it, and a gateway whose M-Pesa OpenAPI (Tanzania) is behind the proxy.
async fn setup() -> (OpenApiSimulator, Arc<Proxy>, TestGateway) {
    let sim = OpenApiSimulator::start(SimulatorConfig::default())
        .await
        .unwrap();
    let upstream = common::serve_on_loopback(sim.router()).await;
    let (proxy, proxy_url) = proxy_to(Operator::OpenApi, upstream).await;

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

/// The Daraja simulator, the proxy in front of it (both ways: the gateway's public URL is the proxy too, so B2C
/// results can be lost), and a gateway whose Daraja is behind the proxy.
async fn setup_daraja() -> (DarajaSimulator, Arc<Proxy>, TestGateway) {
    let sim = DarajaSimulator::start(daraja_sim::SimulatorConfig {
        callback_delay: Duration::from_millis(100),
        ..daraja_sim::SimulatorConfig::default()
    })
    .await
    .unwrap();
    let upstream = common::serve_on_loopback(sim.router()).await;
    let (proxy, proxy_url) = proxy_to(Operator::Daraja, upstream).await;

    let dir = tempfile::tempdir().unwrap();
    let mut config = common::sandbox_config(dir.path()).await;
    config.sandbox = Some(false);
    config.public_url = Some(proxy_url.clone());
    config.providers.daraja = Some(
        serde_json::from_value(json!({
            "base_url": proxy_url,
            "consumer_key": daraja_sim::SANDBOX_CONSUMER_KEY,
            "consumer_secret": daraja_sim::SANDBOX_CONSUMER_SECRET,
            "initiator_name": daraja_sim::SANDBOX_INITIATOR_NAME,
            "initiator_password": daraja_sim::SANDBOX_INITIATOR_PASSWORD,
            "certificate": sim.certificate_pem(),
            "disbursement_shortcode": daraja_sim::SANDBOX_ORGANIZATION,
            "request_timeout_ms": 1_000,
            "result_deadline_secs": 1,
        }))
        .unwrap(),
    );
    let gateway = TestGateway::start_with(config, dir).await;
    *proxy.gateway.lock().unwrap() = Some(format!("http://{}", gateway.gateway.address));
    (sim, proxy, gateway)
}

/// Posts a payout of `amount` TZS to `msisdn`; returns its server correlation id and transaction reference.
async fn payout(gw: &TestGateway, msisdn: &str, amount: &str) -> (String, String) {
    post_payout(
        gw,
        json!({"amount": amount, "currency": "TZS",
               "debitParty": [{"key": "businessshortcode", "value": SANDBOX_SERVICE_PROVIDER_CODE}],
               "creditParty": [{"key": "msisdn", "value": msisdn}]}),
    )
    .await
}

/// Posts a payout of `amount` KES to `msisdn` through Daraja B2C.
async fn kes_payout(gw: &TestGateway, msisdn: &str, amount: &str) -> (String, String) {
    post_payout(
        gw,
        json!({"amount": amount, "currency": "KES",
               "debitParty": [{"key": "organisationid", "value": daraja_sim::SANDBOX_ORGANIZATION}],
               "creditParty": [{"key": "msisdn", "value": msisdn}]}),
    )
    .await
}

async fn post_payout(gw: &TestGateway, body: Value) -> (String, String) {
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
            let detail: Value =
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

/// Lets everything through again and waits for the payout to complete, with its operator receipt.
async fn completes_once_let_through(gw: &TestGateway, proxy: &Proxy, id: &str, reference: &str) {
    proxy.set(Loss::Nothing);
    let state = gw.wait_final(id, Duration::from_secs(30)).await;
    assert_eq!(state["status"], "completed", "{state}");
    let (_, tx) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(tx["transactionStatus"], "completed", "{tx}");
    assert!(tx["transactionReceipt"].is_string(), "{tx}");
}

/// Waits (up to 20 s) until the operator has refused a resend as a duplicate, then checks that the refusal settled
/// nothing and that the checks after it query the status without sending the payout a third time: the operator
/// said it holds the first.
async fn refused_and_still_pending(
    gw: &TestGateway,
    id: &str,
    reference: &str,
    refusals: impl Fn() -> u32,
) {
    let started = Instant::now();
    while refusals() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never sent again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, state) = gw.get(&format!("/requeststates/{id}")).await;
    assert_eq!(
        state["status"], "pending",
        "a refused resend settles nothing: {state}"
    );
    // Two more scheduled checks: the one that resent may not have counted itself yet.
    let checks = check_attempts(gw, reference).await;
    let started = Instant::now();
    while check_attempts(gw, reference).await < checks + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never checked again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refusals(), 1, "resent again after a duplicate refusal");
}

/// How many times the gateway has asked the operator about the transaction `reference`.
async fn check_attempts(gw: &TestGateway, reference: &str) -> i64 {
    gw.gateway
        .engine
        .store()
        .transaction(reference)
        .await
        .unwrap()
        .expect("the transaction is stored")
        .check_attempts
}

/// Asserts that the story shows the refused resend and ends completed.
fn refused_then_completed(steps: &[String], refusal: &str) {
    assert!(steps.iter().any(|s| s == refusal), "{steps:?}");
    assert_eq!(
        steps.last().map(String::as_str),
        Some("completed"),
        "{steps:?}"
    );
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

    completes_once_let_through(&gw, &proxy, &id, &reference).await;
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
    refused_and_still_pending(&gw, &id, &reference, || {
        sim.refused_repeats().get(&key).copied().unwrap_or(0)
    })
    .await;

    // Once M-Pesa's status query finds it, it completes: paid once.
    completes_once_let_through(&gw, &proxy, &id, &reference).await;
    assert_eq!(balance(&sim, "255754000555") - before, 4200.0);
    let sent = sim.submissions().get(&key).copied().unwrap_or(0);
    assert_eq!(sent, 2, "sent once, resent once: {sent}");
    refused_then_completed(&story(&gw, &reference).await, "resent refused INS-10");
}

fn kes_balance(sim: &DarajaSimulator, msisdn: &str) -> f64 {
    sim.balance_of(msisdn).unwrap().parse().unwrap()
}

/// The Daraja simulator's count for a transaction: its key is the `ResultURL`, which holds the reference.
fn count_of(counts: &std::collections::HashMap<String, u32>, reference: &str) -> Option<u32> {
    counts
        .iter()
        .find(|(key, _)| key.contains(reference))
        .map(|(_, n)| *n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daraja_payout_lost_on_the_way_is_sent_again_and_paid_once() {
    let (sim, proxy, gw) = setup_daraja().await;
    let msisdn = daraja_sim::SANDBOX_NOMINATED_NUMBER;
    let before = kes_balance(&sim, msisdn);
    proxy.set(Loss::Requests);
    let (id, reference) = kes_payout(&gw, msisdn, "3100").await;
    wait_in_doubt(&gw, &reference).await;
    assert_eq!(
        count_of(&sim.submissions(), &reference),
        None,
        "the payout reached M-Pesa"
    );

    completes_once_let_through(&gw, &proxy, &id, &reference).await;
    assert_eq!(count_of(&sim.submissions(), &reference), Some(1));
    assert!(sim.refused_repeats().is_empty());
    assert_eq!(kes_balance(&sim, msisdn) - before, 3100.0);
    // A resend while the proxy still held payouts got no answer; the one after it was taken.
    let steps: Vec<String> = story(&gw, &reference)
        .await
        .into_iter()
        .filter(|s| s != "resent none")
        .collect();
    assert_eq!(
        steps,
        [
            "accepted",
            "dispatched",
            "in_doubt",
            "resent taken",
            "acknowledged",
            "completed"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daraja_payout_whose_answer_was_lost_is_not_paid_twice() {
    let (sim, proxy, gw) = setup_daraja().await;
    let msisdn = daraja_sim::SANDBOX_NOMINATED_NUMBER;
    let before = kes_balance(&sim, msisdn);
    proxy.set(Loss::AnswersAndQueries);
    let (id, reference) = kes_payout(&gw, msisdn, "4200").await;
    wait_in_doubt(&gw, &reference).await;
    assert_eq!(
        count_of(&sim.submissions(), &reference),
        Some(1),
        "M-Pesa took it"
    );
    assert_eq!(kes_balance(&sim, msisdn) - before, 4200.0);

    // Its status query does not find it, so the gateway sends it again: M-Pesa refuses the duplicate.
    refused_and_still_pending(&gw, &id, &reference, || {
        count_of(&sim.refused_repeats(), &reference).unwrap_or(0)
    })
    .await;

    // Once the status query finds it, it completes: paid once.
    completes_once_let_through(&gw, &proxy, &id, &reference).await;
    assert_eq!(kes_balance(&sim, msisdn) - before, 4200.0);
    let sent = count_of(&sim.submissions(), &reference).unwrap_or(0);
    let refused = count_of(&sim.refused_repeats(), &reference).unwrap_or(0);
    assert_eq!(sent - refused, 1, "carried out once, sent {sent} times");
    refused_then_completed(&story(&gw, &reference).await, "resent refused 500.002.1001");
}

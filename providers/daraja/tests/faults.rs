//! Fault injection in the Daraja simulator, over real HTTP on 127.0.0.1: one test per fault kind, plus the
//! same decisions from the same seed, and the per-transaction submission counts.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State, http::StatusCode, routing::post, Router};
use mmapi_daraja::simulator::{
    DarajaSimulator, Faults, SimulatorConfig, SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET,
};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const GOLDEN_TIMESTAMP: &str = "20210628092408";
const GOLDEN_PASSWORD: &str = "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4";

struct Sim {
    sim: DarajaSimulator,
    base: String,
    http: reqwest::Client,
}

impl Sim {
    async fn start(faults: Faults, callback_delay_ms: u64) -> Self {
        let sim = DarajaSimulator::start(SimulatorConfig {
            callback_delay: Duration::from_millis(callback_delay_ms),
            faults,
            ..SimulatorConfig::default()
        })
        .await
        .expect("simulator starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let router = sim.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            sim,
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn token(&self) -> String {
        let resp = self
            .http
            .get(format!(
                "{}/oauth/v1/generate?grant_type=client_credentials",
                self.base
            ))
            .basic_auth(SANDBOX_CONSUMER_KEY, Some(SANDBOX_CONSUMER_SECRET))
            .send()
            .await
            .expect("oauth");
        assert_eq!(resp.status(), 200, "OAuth is never faulted");
        let body: Value = resp.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    async fn push(&self, token: &str, callback_url: &str) -> (StatusCode, Value) {
        let body = json!({
            "BusinessShortCode": 174379, "Password": GOLDEN_PASSWORD, "Timestamp": GOLDEN_TIMESTAMP,
            "TransactionType": "CustomerPayBillOnline", "Amount": "100",
            "PartyA": "254708374149", "PartyB": "174379", "PhoneNumber": "254708374149",
            "CallBackURL": callback_url, "AccountReference": "INV-1", "TransactionDesc": "Payment"
        });
        let resp = self
            .http
            .post(format!("{}/mpesa/stkpush/v1/processrequest", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("push");
        let status = StatusCode::from_u16(resp.status().as_u16()).expect("status");
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn query(&self, token: &str, checkout_request_id: &str) -> (StatusCode, Value) {
        let body = json!({
            "BusinessShortCode": "174379", "Password": GOLDEN_PASSWORD, "Timestamp": GOLDEN_TIMESTAMP,
            "CheckoutRequestID": checkout_request_id,
        });
        let resp = self
            .http
            .post(format!("{}/mpesa/stkpushquery/v1/query", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("query");
        let status = StatusCode::from_u16(resp.status().as_u16()).expect("status");
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/__simulator/submissions", self.base))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }
}

/// Records the STK callbacks it receives, with when they came.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(Instant, Value)>>>,
}

impl Receiver {
    async fn start() -> (Self, String) {
        let this = Self::default();
        let app = Router::new()
            .route("/cb/{reference}", post(receive))
            .with_state(this.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/cb", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (this, url)
    }

    fn all(&self) -> Vec<(Instant, Value)> {
        self.got.lock().expect("lock").clone()
    }
}

async fn receive(State(r): State<Receiver>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.got.lock().expect("lock").push((Instant::now(), value));
    StatusCode::OK
}

fn checkout_id(ack: &Value) -> String {
    ack["CheckoutRequestID"]
        .as_str()
        .expect("CheckoutRequestID")
        .to_owned()
}

#[tokio::test]
async fn server_errors_answer_daraja_5xx_and_process_nothing() {
    let sim = Sim::start(
        Faults {
            server_errors: 1.0,
            ..Faults::default()
        },
        50,
    )
    .await;
    let token = sim.token().await;
    let (receiver, url) = Receiver::start().await;
    let (status, body) = sim.push(&token, &format!("{url}/tx1")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["errorCode"], "500.003.02", "{body}");
    assert_eq!(
        body["errorMessage"],
        "Error Occurred: Spike Arrest Violation"
    );
    assert!(body["requestId"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(sim.sim.stk_push_count(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.all().is_empty());
    assert_eq!(sim.stats().await["submissions"], json!({}));
}

#[tokio::test]
async fn timeouts_process_the_call_but_answer_too_late() {
    let sim = Sim::start(
        Faults {
            timeouts: 1.0,
            timeout_ms: 1_500,
            ..Faults::default()
        },
        50,
    )
    .await;
    let token = sim.token().await;
    let (receiver, url) = Receiver::start().await;
    let started = Instant::now();
    let sent = sim
        .http
        .post(format!("{}/mpesa/stkpush/v1/processrequest", sim.base))
        .bearer_auth(&token)
        .timeout(Duration::from_millis(300))
        .json(&json!({
            "BusinessShortCode": 174379, "Password": GOLDEN_PASSWORD, "Timestamp": GOLDEN_TIMESTAMP,
            "TransactionType": "CustomerPayBillOnline", "Amount": "100",
            "PartyA": "254708374149", "PartyB": "174379", "PhoneNumber": "254708374149",
            "CallBackURL": format!("{url}/tx-timeout"), "AccountReference": "INV-1", "TransactionDesc": "P"
        }))
        .send()
        .await;
    assert!(
        sent.as_ref().is_err_and(|e| e.is_timeout()),
        "the client times out: {sent:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1_000));
    // It was processed all the same: counted, and its callback comes.
    assert_eq!(sim.sim.stk_push_count(), 1);
    let key = format!("{url}/tx-timeout");
    assert_eq!(sim.sim.submissions().get(&key), Some(&1));
    let deadline = Instant::now() + Duration::from_secs(3);
    while receiver.all().is_empty() {
        assert!(Instant::now() < deadline, "no callback");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(receiver.all()[0].1["Body"]["stkCallback"]["ResultCode"], 0);
}

#[tokio::test]
async fn dropped_callbacks_are_never_sent_but_query_tells() {
    let sim = Sim::start(
        Faults {
            drop_callbacks: 1.0,
            ..Faults::default()
        },
        50,
    )
    .await;
    let token = sim.token().await;
    let (receiver, url) = Receiver::start().await;
    let (status, ack) = sim.push(&token, &format!("{url}/tx-drop")).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(receiver.all().is_empty(), "a dropped callback was sent");
    let (status, answer) = sim.query(&token, &checkout_id(&ack)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["ResultCode"], "0");
}

#[tokio::test]
async fn duplicated_callbacks_come_twice() {
    let sim = Sim::start(
        Faults {
            duplicate_callbacks: 1.0,
            ..Faults::default()
        },
        50,
    )
    .await;
    let token = sim.token().await;
    let (receiver, url) = Receiver::start().await;
    let (status, ack) = sim.push(&token, &format!("{url}/tx-dup")).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    let deadline = Instant::now() + Duration::from_secs(3);
    while receiver.all().len() < 2 {
        assert!(Instant::now() < deadline, "got {:?}", receiver.all());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let all = receiver.all();
    assert_eq!(all[0].1, all[1].1, "the same callback twice");
    assert_eq!(
        all[0].1["Body"]["stkCallback"]["CheckoutRequestID"],
        checkout_id(&ack)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.all().len(), 2);
    // Sent once, whatever the callbacks did.
    assert_eq!(
        sim.sim.submissions().get(&format!("{url}/tx-dup")),
        Some(&1)
    );
}

#[tokio::test]
async fn delayed_callbacks_come_late() {
    let sim = Sim::start(
        Faults {
            delay_callbacks: 1.0,
            callback_delay_ms: 700,
            ..Faults::default()
        },
        50,
    )
    .await;
    let token = sim.token().await;
    let (receiver, url) = Receiver::start().await;
    let sent = Instant::now();
    let (status, ack) = sim.push(&token, &format!("{url}/tx-late")).await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    let deadline = Instant::now() + Duration::from_secs(3);
    while receiver.all().is_empty() {
        assert!(Instant::now() < deadline, "no callback");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let came = receiver.all()[0].0;
    assert!(
        came.duration_since(sent) >= Duration::from_millis(750),
        "came after {:?}",
        came.duration_since(sent)
    );
    assert_eq!(receiver.all().len(), 1);
}

/// The status of each of `n` STK Pushes sent one after another.
async fn statuses(seed: u64, n: usize) -> Vec<u16> {
    let sim = Sim::start(
        Faults {
            seed,
            server_errors: 0.5,
            ..Faults::default()
        },
        60_000,
    )
    .await;
    let token = sim.token().await;
    let mut out = Vec::new();
    for i in 0..n {
        let (status, _) = sim
            .push(&token, &format!("http://127.0.0.1:9/cb/seq-{i}"))
            .await;
        out.push(status.as_u16());
    }
    sim.sim.shutdown();
    out
}

#[tokio::test]
async fn the_same_seed_makes_the_same_decisions_over_http() {
    let a = statuses(11, 24).await;
    let b = statuses(11, 24).await;
    assert_eq!(a, b);
    assert!(a.contains(&200) && a.contains(&500), "{a:?}");
    let c = statuses(12, 24).await;
    assert_ne!(a, c, "another seed, other decisions");
}

#[tokio::test]
async fn submissions_are_counted_per_transaction() {
    let sim = Sim::start(Faults::default(), 60_000).await;
    let token = sim.token().await;
    for reference in ["a", "b", "a"] {
        let (status, body) = sim
            .push(&token, &format!("http://127.0.0.1:9/cb/{reference}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let stats = sim.stats().await;
    assert_eq!(
        stats["submissions"]["http://127.0.0.1:9/cb/a"], 2,
        "{stats}"
    );
    assert_eq!(
        stats["submissions"]["http://127.0.0.1:9/cb/b"], 1,
        "{stats}"
    );
    assert_eq!(stats["duplicates"], json!(["http://127.0.0.1:9/cb/a"]));
    sim.sim.shutdown();
}

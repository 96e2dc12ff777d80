//! The Daraja simulator over real HTTP on 127.0.0.1.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header::CONTENT_TYPE, HeaderMap, StatusCode, Uri},
    Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use mmapi_daraja::simulator::{
    DarajaSimulator, SimulatorConfig, SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET,
    SANDBOX_PASSKEY, SANDBOX_SHORTCODE,
};
use serde_json::{json, Value};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};

const GOLDEN_TIMESTAMP: &str = "20210628092408";
const GOLDEN_PASSWORD: &str = "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4";
const WAIT: Duration = Duration::from_secs(5);

struct Running {
    sim: DarajaSimulator,
    base: String,
    server: JoinHandle<()>,
    http: reqwest::Client,
}

impl Running {
    async fn start(config: SimulatorConfig) -> Self {
        let sim = DarajaSimulator::start(config)
            .await
            .expect("simulator starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let router = sim.router();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            sim,
            base,
            server,
            http: reqwest::Client::new(),
        }
    }

    fn stop(self) {
        self.sim.shutdown();
        self.server.abort();
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
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn push(&self, token: &str, body: &Value) -> (StatusCode, Value) {
        self.post("/mpesa/stkpush/v1/processrequest", Some(token), body)
            .await
    }

    async fn query(&self, token: &str, checkout_request_id: &str) -> (StatusCode, Value) {
        let body = json!({
            "BusinessShortCode": SANDBOX_SHORTCODE,
            "Password": GOLDEN_PASSWORD,
            "Timestamp": GOLDEN_TIMESTAMP,
            "CheckoutRequestID": checkout_request_id,
        });
        self.post("/mpesa/stkpushquery/v1/query", Some(token), &body)
            .await
    }
}

fn config(delay_ms: u64) -> SimulatorConfig {
    SimulatorConfig {
        callback_delay: Duration::from_millis(delay_ms),
        ..SimulatorConfig::default()
    }
}

fn push_body(phone: &str, callback_url: &str) -> Value {
    json!({
        "BusinessShortCode": 174379,
        "Password": GOLDEN_PASSWORD,
        "Timestamp": GOLDEN_TIMESTAMP,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": "100",
        "PartyA": phone,
        "PartyB": "174379",
        "PhoneNumber": phone,
        "CallBackURL": callback_url,
        "AccountReference": "INV-1",
        "TransactionDesc": "Payment"
    })
}

fn assert_envelope(body: &Value, code: &str, message: &str) {
    assert_eq!(body["errorCode"], code, "{body}");
    assert_eq!(body["errorMessage"], message, "{body}");
    assert!(
        body["requestId"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");
}

/// A merchant callback endpoint on loopback that records what it receives.
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<(Option<String>, Value)>,
    hits: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct ReceiverState {
    tx: mpsc::UnboundedSender<(Option<String>, Value)>,
    hits: Arc<AtomicUsize>,
    refuse_first: usize,
}

async fn receive(
    State(state): State<ReceiverState>,
    _uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = state.hits.fetch_add(1, Ordering::SeqCst);
    if n < state.refuse_first {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = state.tx.send((content_type, value));
    StatusCode::OK
}

impl Receiver {
    async fn start(refuse_first: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let hits = Arc::new(AtomicUsize::new(0));
        let state = ReceiverState {
            tx,
            hits: Arc::clone(&hits),
            refuse_first,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://{}/callbacks/stk",
            listener.local_addr().expect("addr")
        );
        let app = Router::new().fallback(receive).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, rx, hits }
    }

    async fn next(&mut self) -> (Option<String>, Value) {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("a callback arrives in time")
            .expect("receiver open")
    }

    async fn nothing_for(&mut self, d: Duration) {
        if let Ok(Some(cb)) = tokio::time::timeout(d, self.rx.recv()).await {
            panic!("unexpected callback {cb:?}");
        }
    }
}

/// Waits until the journal at `path` has a line containing `needle`.
async fn wait_for_line(path: &Path, needle: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|l| l.contains(needle)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "journal never got {needle}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn temp_journal(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    std::env::temp_dir().join(format!(
        "mmapi-daraja-sim-{name}-{}-{nanos}.jsonl",
        std::process::id()
    ))
}

#[tokio::test]
async fn oauth_good_and_bad() {
    let sim = Running::start(config(100)).await;
    let url = format!("{}/oauth/v1/generate", sim.base);

    let resp = sim
        .http
        .get(format!("{url}?grant_type=client_credentials"))
        .basic_auth(SANDBOX_CONSUMER_KEY, Some(SANDBOX_CONSUMER_SECRET))
        .send()
        .await
        .expect("oauth");
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    let body: Value = resp.json().await.expect("json");
    let token = body["access_token"].as_str().expect("string token");
    assert_eq!(token.len(), 28);
    assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(body["expires_in"], json!("3599"));

    // Wrong secret, absent auth, garbled auth.
    for auth in [
        Some(format!(
            "Basic {}",
            STANDARD.encode(format!("{SANDBOX_CONSUMER_KEY}:wrong"))
        )),
        None,
        Some("Basic %%%".to_owned()),
        Some("Bearer abc".to_owned()),
    ] {
        let mut req = sim.http.get(format!("{url}?grant_type=client_credentials"));
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        let resp = req.send().await.expect("oauth");
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.expect("json");
        assert_envelope(&body, "400.008.01", "Invalid Authentication passed");
    }

    for query in ["", "?grant_type=password", "?grant=client_credentials"] {
        let resp = sim
            .http
            .get(format!("{url}{query}"))
            .basic_auth(SANDBOX_CONSUMER_KEY, Some(SANDBOX_CONSUMER_SECRET))
            .send()
            .await
            .expect("oauth");
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.expect("json");
        assert_envelope(&body, "400.008.02", "Invalid grant type passed");
    }

    let resp = sim.http.post(&url).send().await.expect("post");
    assert_eq!(resp.status(), 405);
    let body: Value = resp.json().await.expect("json");
    assert_envelope(&body, "405.001", "POST Method Not Allowed");

    let resp = sim
        .http
        .get(format!("{}/mpesa/nothing/here", sim.base))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.expect("json");
    assert_envelope(&body, "404.001.01", "Resource not found");
    let parts: Vec<&str> = body["requestId"]
        .as_str()
        .unwrap_or("")
        .split('-')
        .collect();
    assert_eq!(parts.len(), 3, "{body}");

    sim.stop();
}

#[tokio::test]
async fn bearer_and_payload_checks() {
    let sim = Running::start(config(100)).await;
    let body = push_body("254708374149", "http://127.0.0.1:9/cb");

    let (status, resp) = sim
        .post("/mpesa/stkpush/v1/processrequest", None, &body)
        .await;
    assert_eq!(status, 404);
    assert_envelope(&resp, "404.001.04", "Invalid Authentication Header");

    let (status, resp) = sim.push("not-a-token", &body).await;
    assert_eq!(status, 404);
    assert_envelope(&resp, "404.001.03", "Invalid Access Token");

    let (status, resp) = sim.query("not-a-token", "ws_CO_x").await;
    assert_eq!(status, 404);
    assert_envelope(&resp, "404.001.03", "Invalid Access Token");

    let token = sim.token().await;
    let resp = sim
        .http
        .post(format!("{}/mpesa/stkpush/v1/processrequest", sim.base))
        .bearer_auth(&token)
        .header(CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 400);
    let resp: Value = resp.json().await.expect("json");
    assert_envelope(&resp, "400.002.05", "Invalid Request Payload");

    let resp = sim
        .http
        .get(format!("{}/mpesa/stkpush/v1/processrequest", sim.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 405);
    let resp: Value = resp.json().await.expect("json");
    assert_envelope(&resp, "405.001", "GET Method Not Allowed");

    assert_eq!(sim.sim.stk_push_count(), 0);
    sim.stop();
}

#[tokio::test]
async fn stk_password_golden_vector_and_check_order() {
    assert_eq!(
        STANDARD.encode(format!(
            "{SANDBOX_SHORTCODE}{SANDBOX_PASSKEY}{GOLDEN_TIMESTAMP}"
        )),
        GOLDEN_PASSWORD
    );
    let sim = Running::start(config(100)).await;
    let token = sim.token().await;
    let cb = "http://127.0.0.1:9/cb";

    let (status, resp) = sim.push(&token, &push_body("254708374149", cb)).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["ResponseCode"], json!("0"));
    assert_eq!(
        resp["ResponseDescription"],
        "Success. Request accepted for processing"
    );
    assert_eq!(
        resp["CustomerMessage"],
        "Success. Request accepted for processing"
    );
    let checkout = resp["CheckoutRequestID"].as_str().expect("id");
    assert!(checkout.starts_with("ws_CO_"), "{checkout}");
    assert_eq!(checkout.len(), 6 + 14 + 10);
    assert!(checkout[6..].bytes().all(|b| b.is_ascii_digit()));
    let merchant = resp["MerchantRequestID"].as_str().expect("id");
    assert_eq!(merchant.split('-').count(), 3, "{merchant}");
    assert_eq!(resp.as_object().map(|o| o.len()), Some(5));

    let with = |k: &str, v: Value| {
        let mut b = push_body("254708374149", cb);
        b[k] = v;
        b
    };
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            with("Password", json!("d3Jvbmc=")),
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "Wrong credentials",
        ),
        // Shortcode is checked before the password.
        (
            {
                let mut b = with("BusinessShortCode", json!("600000"));
                b["Password"] = json!("x");
                b
            },
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "Merchant does not exist",
        ),
        // Password before timestamp: a changed timestamp breaks the password.
        (
            with("Timestamp", json!("20210628092409")),
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "Wrong credentials",
        ),
        // A matching password over a bad timestamp, with a bad phone too.
        (
            {
                let ts = "2021-06-28T09";
                let mut b = with("Timestamp", json!(ts));
                b["Password"] =
                    json!(STANDARD.encode(format!("{SANDBOX_SHORTCODE}{SANDBOX_PASSKEY}{ts}")));
                b["PhoneNumber"] = json!("0712345678");
                b
            },
            StatusCode::INTERNAL_SERVER_ERROR,
            "500.001.1001",
            "Invalid Timestamp",
        ),
        // Phone before amount.
        (
            {
                let mut b = with("PhoneNumber", json!("254812345678"));
                b["Amount"] = json!(0);
                b
            },
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid PhoneNumber",
        ),
        (
            with("Amount", json!("100.5")),
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid Amount",
        ),
        (
            with("Amount", json!(250_001)),
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid Amount",
        ),
        (
            with("TransactionType", json!("BusinessPayment")),
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid TransactionType",
        ),
        (
            with("CallBackURL", json!("not a url")),
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid CallBackURL",
        ),
        (
            with("AccountReference", Value::Null),
            StatusCode::BAD_REQUEST,
            "400.002.02",
            "Bad Request - Invalid AccountReference",
        ),
    ];
    for (body, status, code, message) in cases {
        let (got_status, resp) = sim.push(&token, &body).await;
        assert_eq!(got_status, status, "{body} -> {resp}");
        assert_envelope(&resp, code, message);
    }

    // Numbers and strings are both accepted, as is the `CallbackURL` spelling.
    let mut b = push_body("254708374149", cb);
    b["Amount"] = json!(1.0);
    b["PhoneNumber"] = json!(254708374149u64);
    b["PartyA"] = json!(254708374149u64);
    b["PartyB"] = json!(174379);
    b["Timestamp"] = json!(20210628092408u64);
    let url = b.as_object_mut().and_then(|o| o.remove("CallBackURL"));
    b["CallbackURL"] = url.unwrap_or_default();
    let (status, resp) = sim.push(&token, &b).await;
    assert_eq!(status, 200, "{resp}");

    assert_eq!(sim.sim.stk_push_count(), 2);
    sim.stop();
}

#[tokio::test]
async fn success_callback_and_query() {
    let mut receiver = Receiver::start(0).await;
    let sim = Running::start(config(300)).await;
    let token = sim.token().await;

    let (status, ack) = sim
        .push(&token, &push_body("254708374149", &receiver.url))
        .await;
    assert_eq!(status, 200, "{ack}");
    let checkout = ack["CheckoutRequestID"].as_str().expect("id").to_owned();
    let merchant = ack["MerchantRequestID"].as_str().expect("id").to_owned();

    let (status, pending) = sim.query(&token, &checkout).await;
    assert_eq!(status, 500, "{pending}");
    assert_eq!(
        pending,
        json!({"requestId": checkout, "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"})
    );

    let (content_type, cb) = receiver.next().await;
    assert!(content_type.is_some_and(|c| c.starts_with("application/json")));
    let stk = &cb["Body"]["stkCallback"];
    assert_eq!(cb.as_object().map(|o| o.len()), Some(1));
    assert_eq!(cb["Body"].as_object().map(|o| o.len()), Some(1));
    assert_eq!(stk.as_object().map(|o| o.len()), Some(5), "{cb}");
    assert_eq!(stk["MerchantRequestID"], json!(merchant));
    assert_eq!(stk["CheckoutRequestID"], json!(checkout));
    assert_eq!(stk["ResultCode"], json!(0));
    assert_eq!(
        stk["ResultDesc"],
        json!("The service request is processed successfully.")
    );
    let items = stk["CallbackMetadata"]["Item"].as_array().expect("items");
    let names: Vec<&str> = items.iter().filter_map(|i| i["Name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "Amount",
            "MpesaReceiptNumber",
            "Balance",
            "TransactionDate",
            "PhoneNumber"
        ]
    );
    assert_eq!(items[0], json!({"Name": "Amount", "Value": 100}));
    let receipt = items[1]["Value"].as_str().expect("receipt string");
    assert_eq!(receipt.len(), 10);
    assert!(receipt
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    assert_eq!(items[2], json!({"Name": "Balance"}));
    let date = items[3]["Value"].as_u64().expect("TransactionDate number");
    let eat_now = chrono::Utc::now() + chrono::Duration::hours(3);
    let expected: u64 = eat_now
        .format("%Y%m%d%H%M%S")
        .to_string()
        .parse()
        .expect("digits");
    assert!(expected.abs_diff(date) < 100, "{date} vs {expected}"); // within a minute or so
    assert_eq!(
        items[4],
        json!({"Name": "PhoneNumber", "Value": 254708374149u64})
    );

    let (status, fin) = sim.query(&token, &checkout).await;
    assert_eq!(status, 200, "{fin}");
    assert_eq!(
        fin,
        json!({
            "ResponseCode": "0",
            "ResponseDescription": "The service request has been accepted successsfully",
            "MerchantRequestID": merchant,
            "CheckoutRequestID": checkout,
            "ResultCode": "0",
            "ResultDesc": "The service request is processed successfully."
        })
    );

    let (status, resp) = sim.query(&token, "ws_CO_000000000000000000000000").await;
    assert_eq!(status, 400);
    assert_envelope(
        &resp,
        "400.002.02",
        "Bad Request - Invalid CheckoutRequestID",
    );

    receiver.nothing_for(Duration::from_millis(200)).await;
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1);
    sim.stop();
}

#[tokio::test]
async fn cancelled_callback_has_no_metadata() {
    let mut receiver = Receiver::start(0).await;
    let sim = Running::start(config(80)).await;
    let token = sim.token().await;

    let (status, ack) = sim
        .push(&token, &push_body("254700000001", &receiver.url))
        .await;
    assert_eq!(status, 200, "{ack}");
    let checkout = ack["CheckoutRequestID"].as_str().expect("id").to_owned();
    let merchant = ack["MerchantRequestID"].as_str().expect("id").to_owned();

    let (_, cb) = receiver.next().await;
    assert_eq!(
        cb,
        json!({"Body": {"stkCallback": {
            "MerchantRequestID": merchant,
            "CheckoutRequestID": checkout,
            "ResultCode": 1032,
            "ResultDesc": "Request cancelled by user"
        }}})
    );

    let (status, fin) = sim.query(&token, &checkout).await;
    assert_eq!(status, 200);
    assert_eq!(fin["ResultCode"], json!("1032"));
    assert_eq!(fin["ResultDesc"], json!("Request cancelled by user"));

    // The other failure numbers.
    for (phone, code) in [
        ("254700000002", 1),
        ("254700000003", 1037),
        ("254700000004", 2001),
    ] {
        let (status, _) = sim.push(&token, &push_body(phone, &receiver.url)).await;
        assert_eq!(status, 200);
        let (_, cb) = receiver.next().await;
        assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], json!(code), "{cb}");
        assert!(cb["Body"]["stkCallback"].get("CallbackMetadata").is_none());
    }
    sim.stop();
}

#[tokio::test]
async fn lost_callback_still_answers_query() {
    let mut receiver = Receiver::start(0).await;
    let sim = Running::start(config(250)).await;
    let token = sim.token().await;
    let (status, ack) = sim
        .push(&token, &push_body("254700000005", &receiver.url))
        .await;
    assert_eq!(status, 200);
    let checkout = ack["CheckoutRequestID"].as_str().expect("id").to_owned();
    let (status, _) = sim.query(&token, &checkout).await;
    assert_eq!(status, 500);
    receiver.nothing_for(Duration::from_millis(400)).await;
    let (status, fin) = sim.query(&token, &checkout).await;
    assert_eq!(status, 200);
    assert_eq!(fin["ResultCode"], json!("1037"));
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 0);
    sim.stop();
}

#[tokio::test]
async fn callback_is_retried() {
    let mut receiver = Receiver::start(1).await;
    let sim = Running::start(config(20)).await;
    let token = sim.token().await;
    let (status, _) = sim
        .push(&token, &push_body("254708374149", &receiver.url))
        .await;
    assert_eq!(status, 200);
    let (_, cb) = receiver.next().await;
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], json!(0));
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 2);
    sim.stop();
}

#[tokio::test]
async fn expired_token_is_refused() {
    let sim = Running::start(SimulatorConfig {
        token_ttl: Duration::from_millis(500),
        ..config(50)
    })
    .await;
    let token = sim.token().await;
    let body = push_body("254708374149", "http://127.0.0.1:9/cb");
    let (status, _) = sim.push(&token, &body).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, resp) = sim.push(&token, &body).await;
    assert_eq!(status, 404);
    assert_envelope(&resp, "404.001.03", "Invalid Access Token");
    // A fresh token works again; several tokens can be valid at once.
    let a = sim.token().await;
    let b = sim.token().await;
    assert_ne!(a, b);
    assert_eq!(sim.push(&a, &body).await.0, 200);
    assert_eq!(sim.push(&b, &body).await.0, 200);
    sim.stop();
}

#[tokio::test]
async fn subscriber_lock_is_optional() {
    let body = push_body("254708374149", "http://127.0.0.1:9/cb");

    let sim = Running::start(SimulatorConfig {
        subscriber_lock: true,
        ..config(300)
    })
    .await;
    let token = sim.token().await;
    assert_eq!(sim.push(&token, &body).await.0, 200);
    let (status, resp) = sim.push(&token, &body).await;
    assert_eq!(status, 500);
    assert_envelope(
        &resp,
        "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
    );
    // Another subscriber is not locked.
    assert_eq!(
        sim.push(&token, &push_body("254711111111", "http://127.0.0.1:9/cb"))
            .await
            .0,
        200
    );
    sim.stop();

    let sim = Running::start(config(300)).await;
    let token = sim.token().await;
    assert_eq!(sim.push(&token, &body).await.0, 200);
    assert_eq!(sim.push(&token, &body).await.0, 200);
    assert_eq!(sim.sim.stk_push_count(), 2);
    sim.stop();
}

#[tokio::test]
async fn journal_replay_after_restart() {
    let path = temp_journal("replay");
    let mut receiver = Receiver::start(0).await;
    let journaled = |delay| SimulatorConfig {
        journal_path: Some(path.clone()),
        ..config(delay)
    };

    let first = Running::start(journaled(400)).await;
    let token = first.token().await;
    // A: delivered before the "crash".
    let (status, ack_a) = first
        .push(&token, &push_body("254700000001", &receiver.url))
        .await;
    assert_eq!(status, 200);
    let a = ack_a["CheckoutRequestID"].as_str().expect("id").to_owned();
    let (_, cb) = receiver.next().await;
    assert_eq!(cb["Body"]["stkCallback"]["CheckoutRequestID"], json!(a));
    wait_for_line(&path, &format!(r#""event":"callback_done","id":"{a}""#)).await;
    // B: accepted, then the simulator dies before its callback.
    let (status, ack_b) = first
        .push(&token, &push_body("254708374149", &receiver.url))
        .await;
    assert_eq!(status, 200);
    let b = ack_b["CheckoutRequestID"].as_str().expect("id").to_owned();
    let merchant_b = ack_b["MerchantRequestID"].as_str().expect("id").to_owned();
    first.stop();
    receiver.nothing_for(Duration::from_millis(200)).await;

    let second = Running::start(journaled(5_000)).await;
    let (_, cb) = receiver.next().await;
    let stk = &cb["Body"]["stkCallback"];
    assert_eq!(stk["CheckoutRequestID"], json!(b));
    assert_eq!(stk["MerchantRequestID"], json!(merchant_b));
    assert_eq!(stk["ResultCode"], json!(0));
    assert!(stk["CallbackMetadata"]["Item"].is_array());
    receiver.nothing_for(Duration::from_millis(200)).await; // A is not sent again

    let token = second.token().await;
    let (status, fin) = second.query(&token, &a).await;
    assert_eq!(status, 200, "{fin}");
    assert_eq!(fin["ResultCode"], json!("1032"));
    let (status, fin) = second.query(&token, &b).await;
    assert_eq!(status, 200, "{fin}");
    assert_eq!(fin["ResultCode"], json!("0"));
    assert_eq!(fin["MerchantRequestID"], json!(merchant_b));
    assert_eq!(second.sim.stk_push_count(), 0);
    second.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // A third start finds nothing owed.
    let third = Running::start(journaled(100)).await;
    receiver.nothing_for(Duration::from_millis(200)).await;
    third.stop();
    let _ = std::fs::remove_file(&path);
}

/// Throughput smoke test (journal on, callbacks on loopback). Run with
/// `cargo test --release -p mmapi-daraja --test simulator -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "throughput measurement"]
async fn perf_smoke() {
    let mut receiver = Receiver::start(0).await;
    let path = temp_journal("perf");
    let sim = Running::start(SimulatorConfig {
        journal_path: Some(path.clone()),
        ..config(200)
    })
    .await;
    let token = sim.token().await;
    let body = push_body("254708374149", &receiver.url);
    let n = 20_000usize;
    let t = std::time::Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let permit = Arc::clone(&sem).acquire_owned().await.expect("permit");
        let http = sim.http.clone();
        let url = format!("{}/mpesa/stkpush/v1/processrequest", sim.base);
        let token = token.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), 200);
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let el = t.elapsed();
    eprintln!("{n} pushes in {el:?}: {:.0}/s", n as f64 / el.as_secs_f64());
    for _ in 0..n {
        receiver.next().await;
    }
    eprintln!("all callbacks by {:?}", t.elapsed());
    sim.stop();
    let _ = std::fs::remove_file(&path);
}

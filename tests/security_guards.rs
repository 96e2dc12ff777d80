//! Outbound callbacks are safe (issue 7, point 4) and requests are checked for integrity and limits (point 5),
//! over real HTTP on 127.0.0.1: callback URLs to private, link-local and loopback destinations are refused
//! outside sandbox mode (IP literals at request time, names on their resolved addresses at delivery); callbacks
//! carry a signature that verifies with the README's recipe; `X-Content-Hash`, the body size limit and the
//! per-client rate limit answer GSMA errors.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::Router;
use common::*;
use hmac::{Hmac, Mac};
use mmapi_gateway::auth::NewClient;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A callback as received, with its raw body (the signature covers the exact bytes).
#[derive(Clone, Debug)]
struct Raw {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A listener on 127.0.0.1 that records the PUTs it receives and answers 204.
struct RawReceiver {
    url: String,
    port: u16,
    received: Arc<Mutex<Vec<Raw>>>,
}

impl RawReceiver {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/cb", put(record_raw))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url: format!("http://127.0.0.1:{port}/cb"),
            port,
            received,
        }
    }

    fn all(&self) -> Vec<Raw> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Raw> {
        let started = Instant::now();
        loop {
            let all = self.all();
            if all.len() >= n {
                return all;
            }
            assert!(
                started.elapsed() < within,
                "only {} of {n} callbacks",
                all.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn record_raw(
    State(received): State<Arc<Mutex<Vec<Raw>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    received.lock().unwrap().push(Raw {
        headers,
        body: body.to_vec(),
    });
    StatusCode::NO_CONTENT
}

/// The README's verification recipe, step by step, from the consumer secret: derive the signing key, recompute
/// the HMAC over `"<t>.<raw body>"`, compare in constant time, and check that `t` is within 5 minutes of now.
fn verify_signature(consumer_secret: &str, header: &str, body: &[u8]) -> Result<(), String> {
    type HmacSha256 = Hmac<Sha256>;
    let mut derive = HmacSha256::new_from_slice(consumer_secret.as_bytes()).unwrap();
    derive.update(b"mmapi-gateway callback signing v1");
    let key = derive.finalize().into_bytes();

    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1.push(value.to_owned()),
            _ => {}
        }
    }
    let t = t.ok_or("no t")?;
    let stamp: i64 = t.parse().map_err(|_| "t is not a number")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - stamp).abs() > 300 {
        return Err(format!("timestamp {stamp} outside the window (now {now})"));
    }
    let mut message = t.into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    let matches = v1.iter().any(|candidate| {
        let Ok(sent) = hex::decode(candidate) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(&key).unwrap();
        mac.update(&message);
        mac.verify_slice(&sent).is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err("no v1 signature matches".into())
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn callbacks_are_signed_with_the_clients_key() {
    let receiver = RawReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(dir.path()).await;
    config.simulators.c2b_notification_url = Some(receiver.url.clone());
    let gw = TestGateway::start_with(config, dir).await;
    let demo = gw.gateway.sandbox_client.clone().expect("sandbox client");

    // A merchant payment's outcome, to the caller's X-Callback-URL.
    let cid = correlation_id();
    let (status, state) = gw
        .merchantpay(
            PAYER,
            "10",
            &[
                ("X-CorrelationID", cid.as_str()),
                ("X-Callback-URL", receiver.url.as_str()),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let got = receiver.wait_for(1, Duration::from_secs(15)).await;
    let cb = &got[0];
    assert_eq!(header(&cb.headers, "x-correlationid"), cid);
    assert!(!header(&cb.headers, "x-date").is_empty());
    assert_eq!(
        header(&cb.headers, "x-content-hash"),
        hex::encode(Sha256::digest(&cb.body))
    );
    let signature = header(&cb.headers, "x-signature");
    assert!(signature.starts_with("t="), "{signature}");
    verify_signature(demo.consumer_secret.expose(), signature, &cb.body).unwrap();
    // Another secret, a changed body or a stale timestamp do not verify.
    assert!(verify_signature("another secret", signature, &cb.body).is_err());
    let mut changed = cb.body.clone();
    changed.push(b' ');
    assert!(verify_signature(demo.consumer_secret.expose(), signature, &changed).is_err());
    let v1 = signature.split_once(",v1=").unwrap().1;
    assert!(verify_signature(
        demo.consumer_secret.expose(),
        &format!("t=1000000000,v1={v1}"),
        &cb.body
    )
    .is_err());

    // A customer's payment into the till granted to the demo client: its notification is signed with the
    // demo client's key too.
    simulate_c2b(&gw, "acc-9", 42).await;
    let got = receiver.wait_for(2, Duration::from_secs(15)).await;
    let incoming = &got[1];
    let body: Value = serde_json::from_slice(&incoming.body).unwrap();
    assert_eq!(body["transactionStatus"], "completed", "{body}");
    verify_signature(
        demo.consumer_secret.expose(),
        header(&incoming.headers, "x-signature"),
        &incoming.body,
    )
    .unwrap();
}

/// A customer payment made from the phone, through the sandbox Daraja simulator.
async fn simulate_c2b(gw: &TestGateway, account: &str, amount: u32) {
    use base64::Engine as _;
    use mmapi_daraja::simulator;
    let sim = format!("http://{}", gw.gateway.sandbox_daraja.unwrap());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        simulator::SANDBOX_CONSUMER_KEY,
        simulator::SANDBOX_CONSUMER_SECRET
    ));
    let plain = reqwest::Client::new();
    let token: Value = plain
        .get(format!(
            "{sim}/oauth/v1/generate?grant_type=client_credentials"
        ))
        .header("Authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = plain
        .post(format!("{sim}/mpesa/c2b/v1/simulate"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(
            &json!({"ShortCode": 174379, "CommandID": "CustomerPayBillOnline", "Amount": amount,
                      "Msisdn": 254708374149u64, "BillRefNumber": account}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

fn assert_format_error(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert_eq!(body["errorCategory"], "validation", "{what}: {body}");
    assert_eq!(body["errorCode"], "formatError", "{what}: {body}");
}

/// Waits until the outbox has given up the callback of `server_correlation_id`, and returns its last error.
async fn abandoned_error(gw: &TestGateway, server_correlation_id: &str) -> (i64, String) {
    let started = Instant::now();
    loop {
        let log = gw
            .gateway
            .engine
            .store()
            .callback_log(None, 100)
            .await
            .unwrap();
        if let Some(row) = log
            .iter()
            .find(|r| r.server_correlation_id == server_correlation_id && r.state == "abandoned")
        {
            return (row.attempts, row.last_error.clone().unwrap_or_default());
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "callback of {server_correlation_id} not abandoned: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn private_and_loopback_destinations_are_refused_outside_sandbox_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(dir.path()).await;
    // The sandbox's simulators, with the callback policy of a production gateway.
    config.callbacks.allow_loopback = Some(false);
    config.callbacks.max_attempts = 3;
    let gw = TestGateway::start_with(config, dir).await;
    let receiver = RawReceiver::start().await;

    // IP literals: refused when the request arrives.
    for url in [
        "http://10.0.0.1/x".to_owned(),
        "https://10.0.0.1/x".to_owned(),
        "http://169.254.169.254/".to_owned(),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[::ffff:169.254.169.254]/".to_owned(),
        "https://100.64.0.1/".to_owned(),
        "https://[fd00::1]/".to_owned(),
        format!("https://127.0.0.1:{}/cb", receiver.port),
        format!("https://[::1]:{}/cb", receiver.port),
        // Plain http is for loopback in sandbox mode only.
        receiver.url.clone(),
        format!("http://localhost:{}/cb", receiver.port),
    ] {
        let (status, body) = gw
            .merchantpay(PAYER, "10", &[("X-Callback-URL", url.as_str())])
            .await;
        assert_format_error(status, &body, &url);
    }

    // A name that resolves to 127.0.0.1: accepted, then refused on delivery, on what it resolved to; given up
    // at once, with the reason in the delivery log, and nothing reaches the listener.
    let url = format!("https://localhost:{}/cb", receiver.port);
    let (status, state) = gw
        .merchantpay(PAYER, "10", &[("X-Callback-URL", url.as_str())])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let id = state["serverCorrelationId"].as_str().unwrap().to_owned();
    let (attempts, error) = abandoned_error(&gw, &id).await;
    assert_eq!(attempts, 1, "{error}");
    assert!(
        error.starts_with("destination refused: localhost resolves to")
            && error.contains("loopback"),
        "{error}"
    );
    assert!(receiver.all().is_empty());

    // A client whose registration lists the host may reach it: the delivery is attempted (and fails here,
    // since the listener speaks plain HTTP), not refused.
    let listed = gw
        .gateway
        .clients
        .create(NewClient {
            callback_hosts: vec!["localhost".into()],
            accounts: mmapi_gateway::auth::demo::sandbox_accounts(),
            ..NewClient::named("internal hooks")
        })
        .await
        .unwrap();
    let http = authenticated_http(&listed);
    let body = json!({
        "amount": "10", "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": PAYER}],
        "creditParty": [{"key": "storeid", "value": TILL}],
    });
    let response = http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("X-Callback-URL", url.as_str())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let state: Value = response.json().await.unwrap();
    let id = state["serverCorrelationId"].as_str().unwrap().to_owned();
    let (attempts, error) = abandoned_error(&gw, &id).await;
    assert_eq!(attempts, 3, "{error}");
    assert!(!error.contains("refused"), "{error}");
    // Its allowlist is its own: the other client still may not use that IP literal.
    let (status, body) = gw
        .merchantpay(
            PAYER,
            "10",
            &[("X-Callback-URL", "https://169.254.169.254/")],
        )
        .await;
    assert_format_error(status, &body, "metadata address");
}

#[tokio::test]
async fn x_content_hash_must_match_the_body() {
    let gw = TestGateway::start().await;
    let body = json!({
        "amount": "10", "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": PAYER}],
        "creditParty": [{"key": "storeid", "value": TILL}],
    })
    .to_string();
    let hash = hex::encode(Sha256::digest(body.as_bytes()));
    let path = "/transactions/type/merchantpay";

    let (status, state) = gw
        .post_raw(path, body.clone(), &[("X-Content-Hash", hash.as_str())])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let upper = hash.to_ascii_uppercase();
    let (status, state) = gw
        .post_raw(path, body.clone(), &[("X-Content-Hash", upper.as_str())])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");

    let other = hex::encode(Sha256::digest(b"something else"));
    for wrong in [other.as_str(), "abc", "not hex at all"] {
        let (status, error) = gw
            .post_raw(path, body.clone(), &[("X-Content-Hash", wrong)])
            .await;
        assert_format_error(status, &error, wrong);
    }
    // A GET has an empty body.
    let empty = hex::encode(Sha256::digest(b""));
    let read = |hash: String| {
        gw.http
            .get(gw.url("/requeststates/00000000-0000-0000-0000-000000000000"))
            .header("X-Content-Hash", hash)
            .send()
    };
    assert_eq!(read(empty).await.unwrap().status(), 404);
    let response = read(other.clone()).await.unwrap();
    assert_eq!(response.status(), 400);
}

/// Sends a raw HTTP/1.1 request and returns the status and the body of the answer.
async fn raw_request(
    address: std::net::SocketAddr,
    head: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut request = head.as_bytes().to_vec();
    request.extend_from_slice(body);
    // The server may answer and close before it read everything.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, head.to_ascii_lowercase(), rest.as_bytes().to_vec())
}

/// The JSON object in an answer body, chunked or not.
fn json_in(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    let start = text.find('{').expect("a JSON object");
    let end = text.rfind('}').expect("a JSON object");
    serde_json::from_str(&text[start..=end]).expect("JSON")
}

#[tokio::test]
async fn bodies_over_the_limit_get_a_gsma_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(dir.path()).await;
    config.limits.max_body_bytes = 2048;
    let gw = TestGateway::start_with(config, dir).await;
    let credentials = gw.gateway.sandbox_client.clone().unwrap();
    let auth = basic_auth(&credentials);
    let path = "/v1.2/mm/transactions/type/merchantpay";
    let big = format!(
        "{{\"amount\": \"10\", \"currency\": \"KES\", \"description\": \"{}\"}}",
        "x".repeat(6000)
    );

    // With Content-Length, through an ordinary client.
    let response = gw
        .http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.headers().contains_key("x-date"));
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["errorCategory"], "validation", "{error}");
    assert_eq!(error["errorCode"], "lengthError", "{error}");

    // Without Content-Length (chunked), with and without X-Content-Hash.
    let mut chunked = Vec::new();
    for piece in big.as_bytes().chunks(1000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let hash = hex::encode(Sha256::digest(big.as_bytes()));
    for extra in [String::new(), format!("X-Content-Hash: {hash}\r\n")] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n{extra}Connection: close\r\n\r\n",
            gw.gateway.address
        );
        let (status, head, body) = raw_request(gw.gateway.address, &head, &chunked).await;
        assert_eq!(status, 413, "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        let error = json_in(&body);
        assert_eq!(error["errorCode"], "lengthError", "{error}");
    }

    // A body within the limit is served as usual.
    let (status, state) = gw.merchantpay(PAYER, "10", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");

    // A bulk disbursement has a limit of its own ([limits] max_batch_body_bytes): 60 items pass, even chunked.
    let item = json!({"amount": "10", "currency": "KES",
                      "debitParty": [{"key": "organisationid", "value": "600000"}],
                      "creditParty": [{"key": "msisdn", "value": PAYER}]});
    let batch = json!({"batchTitle": "payroll", "batchStatus": "created",
                       "transactions": vec![item; 60]})
    .to_string();
    assert!(batch.len() > 4 * 2048);
    let mut chunked = Vec::new();
    for piece in batch.as_bytes().chunks(1000) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /v1.2/mm/batchtransactions HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        gw.gateway.address
    );
    let (status, head, body) = raw_request(gw.gateway.address, &head, &chunked).await;
    assert_eq!(status, 202, "{head} {}", String::from_utf8_lossy(&body));
    let state = json_in(&body);
    assert_eq!(state["status"], "pending", "{state}");
}

#[tokio::test]
async fn a_burst_over_the_rate_limit_gets_a_rate_limit_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(dir.path()).await;
    config.limits.default_rate_limit_per_sec = 2;
    let gw = TestGateway::start_with(config, dir).await;
    let (_, other) = gw.another_client("other").await;
    let unknown = gw.url("/requeststates/00000000-0000-0000-0000-000000000000");

    let mut limited = None;
    for _ in 0..10 {
        let response = gw.http.get(&unknown).send().await.unwrap();
        if response.status() == 400 {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), 404);
    }
    let response = limited.expect("the burst was limited");
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(response.headers().contains_key("x-date"));
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["errorCategory"], "businessRule", "{error}");
    assert_eq!(error["errorCode"], "rateLimitError", "{error}");

    // Another client is not affected, and the heartbeat is never limited.
    let response = other.get(&unknown).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let response = gw.http.get(gw.url("/heartbeat")).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // A client registered with a higher rate has it.
    let fast = gw
        .gateway
        .clients
        .create(NewClient {
            rate_limit_per_sec: Some(1_000),
            ..NewClient::named("fast")
        })
        .await
        .unwrap();
    let fast = authenticated_http(&fast);
    for _ in 0..10 {
        assert_eq!(fast.get(&unknown).send().await.unwrap().status(), 404);
    }
}

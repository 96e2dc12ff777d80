//! Helpers shared by the end-to-end tests: a gateway in sandbox mode on a loopback port with its own data
//! directory, an HTTP client, and a callback receiver.

#![allow(dead_code)]

pub mod dashboard;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::Router;
use mmapi_gateway::app::{self, Gateway};
use mmapi_gateway::auth::credentials::IssuedCredentials;
use mmapi_gateway::auth::{NewClient, Role};
use mmapi_gateway::config::Config;
use serde_json::{json, Value};

pub const PAYER: &str = "+254708374149";
pub const TILL: &str = "174379";

/// A gateway in sandbox mode with a fresh data directory.
pub struct TestGateway {
    pub gateway: Gateway,
    pub base: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// When `MMAPI_TEST_POSTGRES` names a PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432`), each
/// test gets a fresh database there and the gateway's store runs on PostgreSQL; otherwise on SQLite.
pub async fn test_database_url() -> Option<String> {
    use sqlx::{Connection, Executor};
    let server = std::env::var("MMAPI_TEST_POSTGRES").ok()?;
    let server = server.trim_end_matches('/');
    let name = format!("mmapi_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("MMAPI_TEST_POSTGRES is reachable");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("a fresh test database");
    Some(format!("{server}/{name}"))
}

pub async fn sandbox_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.to_owned(),
        database_url: test_database_url().await,
        ..Config::default()
    };
    config.simulators.callback_delay_ms = 100;
    config.simulators.stk_result_deadline_secs = 1;
    config.dispatch.tick_ms = 100;
    config.callbacks.initial_backoff_ms = 100;
    config
}

impl TestGateway {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = sandbox_config(dir.path()).await;
        Self::start_with(config, dir).await
    }

    /// Starts the gateway; its `http` client carries the credentials of the sandbox's demo client (an operator
    /// granted the sandbox accounts), or of such a client registered for the test outside sandbox mode.
    pub async fn start_with(config: Config, dir: tempfile::TempDir) -> Self {
        let gateway = app::start(config).await.expect("gateway starts");
        let base = format!("http://{}/v1.2/mm", gateway.address);
        let credentials = match &gateway.sandbox_client {
            Some(c) => c.clone(),
            None => gateway
                .clients
                .create(NewClient {
                    role: Role::Operator,
                    accounts: mmapi_gateway::auth::demo::sandbox_accounts(),
                    ..NewClient::named("test operator")
                })
                .await
                .expect("a test client"),
        };
        Self {
            gateway,
            base,
            http: authenticated_http(&credentials),
            dir,
        }
    }

    /// Registers another client and returns an HTTP client that carries its credentials.
    pub async fn another_client(&self, name: &str) -> (IssuedCredentials, reqwest::Client) {
        let credentials = self
            .gateway
            .clients
            .create(NewClient::named(name))
            .await
            .expect("another client");
        let http = authenticated_http(&credentials);
        (credentials, http)
    }

    /// Registers another client to which `accounts` (account keys) are granted.
    pub async fn client_with_accounts(
        &self,
        name: &str,
        accounts: &[&str],
    ) -> (IssuedCredentials, reqwest::Client) {
        let mut client = NewClient::named(name);
        client.accounts = accounts.iter().map(|a| (*a).to_owned()).collect();
        let credentials = self
            .gateway
            .clients
            .create(client)
            .await
            .expect("another client");
        let http = authenticated_http(&credentials);
        (credentials, http)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs a merchant payment; returns status and JSON body.
    pub async fn merchantpay(
        &self,
        payer: &str,
        amount: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let body = json!({
            "amount": amount,
            "currency": "KES",
            "debitParty": [{"key": "msisdn", "value": payer}],
            "creditParty": [{"key": "storeid", "value": TILL}],
        });
        self.post_raw("/transactions/type/merchantpay", body.to_string(), headers)
            .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: String,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.expect("request sent");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
        assert!(response.headers().contains_key("x-date"), "X-Date missing");
        let value = response.json().await.unwrap_or(Value::Null);
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        get_json(&self.http, &self.url(path)).await
    }

    /// Polls a request state until it is no longer pending.
    pub async fn wait_final(&self, server_correlation_id: &str, within: Duration) -> Value {
        wait_final(&self.http, &self.base, server_correlation_id, within).await
    }
}

pub async fn get_json(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = http.get(url).send().await.expect("request sent");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
    assert!(
        response.headers().contains_key("x-date"),
        "X-Date missing on {url}"
    );
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn wait_final(http: &reqwest::Client, base: &str, id: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (status, state) = get_json(http, &format!("{base}/requeststates/{id}")).await;
        if status == StatusCode::OK && state["status"] != "pending" {
            return state;
        }
        assert!(
            started.elapsed() < within,
            "request {id} still not final: {status} {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the request state `id` is final (`Some(state)`) or its transaction is in manual review (`None`,
/// read from `GET /internal/review` beside the GSMA mount `base`).
pub async fn wait_final_or_review(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    within: Duration,
) -> Option<Value> {
    let root = base.trim_end_matches("/v1.2/mm");
    let started = Instant::now();
    loop {
        let (status, state) = get_json(http, &format!("{base}/requeststates/{id}")).await;
        if status == StatusCode::OK && state["status"] != "pending" {
            return Some(state);
        }
        let (_, review) = get_json(http, &format!("{root}/internal/review")).await;
        let in_review = review
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item["serverCorrelationId"] == id));
        if in_review {
            return None;
        }
        assert!(
            started.elapsed() < within,
            "request {id} neither final nor in review: {status} {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One callback as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

/// A local listener that records the PUTs it receives. It answers the statuses in `script` in turn (204 once
/// the script is used up).
#[derive(Clone)]
pub struct CallbackReceiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl CallbackReceiver {
    pub async fn start(script: Vec<u16>) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = (received.clone(), Arc::new(Mutex::new(script)));
        let app = Router::new().route("/cb", put(record)).with_state(state);
        Self {
            url: format!("{}/cb", serve_on_loopback(app).await),
            received,
        }
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let all = self.all();
            if all.len() >= n {
                return all;
            }
            assert!(
                started.elapsed() < within,
                "only {} of {n} callbacks arrived",
                all.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<Vec<u16>>>);

async fn record(
    State((received, script)): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    received
        .lock()
        .expect("lock")
        .push(Received { headers, body });
    let mut script = script.lock().expect("lock");
    let code = if script.is_empty() {
        204
    } else {
        script.remove(0)
    };
    StatusCode::from_u16(code).unwrap_or(StatusCode::NO_CONTENT)
}

/// `Authorization: Basic` for a client's consumer key and secret.
/// Serves `app` on a fresh loopback port for the rest of the test; returns its base URL (`http://127.0.0.1:port`).
pub async fn serve_on_loopback(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

pub fn basic_auth(credentials: &IssuedCredentials) -> String {
    use base64::Engine as _;
    let pair = format!(
        "{}:{}",
        credentials.consumer_key,
        credentials.consumer_secret.expose()
    );
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// An HTTP client that sends a client's credentials with every request.
pub fn authenticated_http(credentials: &IssuedCredentials) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value =
        reqwest::header::HeaderValue::from_str(&basic_auth(credentials)).expect("header value");
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// The sandbox demo client's credentials, as a gateway binary started in sandbox mode on `data_dir` wrote them
/// (call after [`wait_up`]).
pub fn sandbox_credentials(data_dir: &std::path::Path) -> IssuedCredentials {
    let path = mmapi_gateway::auth::demo::credentials_path(data_dir);
    let text = std::fs::read_to_string(&path).expect("the sandbox client file");
    let value: Value = serde_json::from_str(&text).expect("sandbox client JSON");
    credentials_from_json(&value)
}

/// Credentials from the JSON `clients add` prints and the sandbox client file holds.
pub fn credentials_from_json(value: &Value) -> IssuedCredentials {
    let field = |name: &str| value[name].as_str().expect("a credential field").to_owned();
    IssuedCredentials {
        consumer_key: field("consumerKey"),
        consumer_secret: mmapi_core::Secret::new(field("consumerSecret")),
        api_key: mmapi_core::Secret::new(field("apiKey")),
    }
}

/// Registers an operator client with the gateway binary's `clients add` against a store, and returns its
/// credentials.
pub fn add_client_with_cli(
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    operator: bool,
) -> IssuedCredentials {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mmapi-gateway"));
    command.args(["clients", "--data-dir"]).arg(data_dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command.args(["add", "--name", "test client"]);
    if operator {
        command.arg("--operator");
    }
    let output = command
        .env("MMAPI_LOG", "warn")
        .output()
        .expect("clients add runs");
    assert!(
        output.status.success(),
        "clients add failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: Value = serde_json::from_slice(&output.stdout).expect("clients add prints JSON");
    credentials_from_json(&value)
}

pub fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A child process (a gateway binary) that is killed and reaped when dropped, even when a test panics.
pub struct ChildGuard(pub std::process::Child);

impl ChildGuard {
    /// Kills it with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free loopback port for a process the test starts (a gateway binary or a simulator) and may restart on
/// the same port.
///
/// The port is taken from outside the kernel's ephemeral range (`ip_local_port_range`), where every
/// `bind(…:0)` of the tests running beside this one lands: a port picked there and released for the child
/// could be handed to another test's listener before the child binds it (CI saw a gateway fail with "address
/// in use" while a callback receiver answered its heartbeat). Outside that range only this function hands
/// out ports, each at most once per test process, so the child, and its restart, find the port free.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let Some((low, high)) = outside_ephemeral_range() else {
        // The ephemeral range covers (nearly) every port: nothing better than the kernel's choice.
        return std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
    };
    let span = u32::from(high - low);
    // Different test processes (and runs) start at different offsets.
    let seed = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let offset = (seed + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = low + u16::try_from(offset).expect("offset within the span");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {low}..{high}");
}

/// The widest port range outside the kernel's ephemeral ports (and above the well-known ones), if there is
/// one of a useful size.
fn outside_ephemeral_range() -> Option<(u16, u16)> {
    let (first, last) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .unwrap_or((32768, 60999));
    let below = first.saturating_sub(10_000);
    let above = u16::MAX - last;
    if below.max(above) < 1_000 {
        None
    } else if below >= above {
        Some((10_000, first))
    } else {
        Some((last + 1, u16::MAX))
    }
}

/// Starts the gateway binary (`serve`) with `config` on `port` and `data_dir`.
pub fn spawn_gateway(
    config: &std::path::Path,
    port: u16,
    data_dir: &std::path::Path,
    database_url: Option<&str>,
) -> ChildGuard {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mmapi-gateway"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command
        .env("MMAPI_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map(ChildGuard)
        .expect("the gateway binary starts")
}

/// Waits until the gateway at `base` answers.
pub async fn wait_up(http: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while http.get(format!("{base}/heartbeat")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "gateway did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A customer pays the sandbox paybill 174379 from the phone (the Daraja simulator's C2B simulate API), with
/// `account` as the account number.
pub async fn simulate_c2b(gw: &TestGateway, account: &str, amount: u32) {
    use base64::Engine as _;
    use mmapi_daraja::simulator;
    let sim = format!(
        "http://{}",
        gw.gateway.sandbox_daraja.expect("sandbox simulator")
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        simulator::SANDBOX_CONSUMER_KEY,
        simulator::SANDBOX_CONSUMER_SECRET
    ));
    let token: Value = gw
        .http
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
    let response = gw
        .http
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

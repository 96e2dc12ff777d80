//! No secret leaks: the real gateway binary, with the most verbose logging (`MMAPI_LOG=trace`), runs against
//! standalone Daraja and M-Pesa OpenAPI simulators (`mmapi-gateway simulate …`) that accept only distinctive
//! credentials of this test. A full run over real HTTP — STK merchant payment, B2C disbursement, B2B transfer,
//! reversal, balance enquiry, OpenAPI TZS payment and disbursement, Ghana account-name query, and bad requests —
//! is made; then no configured secret (nor its obvious encodings), no access token the Daraja simulator issued
//! and no session id the OpenAPI simulator issued appears in anything the gateway or the simulators printed,
//! nor in any HTTP answer of the gateway.
//!
//! The secrets checked are listed in [`secrets`]; every GSMA request is made by [`Run::request`].

mod common;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use mmapi_gateway::auth::credentials::IssuedCredentials;
use serde_json::{json, Value};

/// The operator credentials configured for this run: distinctive, so that a match in the logs is a leak.
struct OperatorSecrets {
    daraja_consumer_key: &'static str,
    daraja_consumer_secret: &'static str,
    daraja_passkey: &'static str,
    daraja_initiator_password: &'static str,
    openapi_api_key_tzn: &'static str,
    openapi_api_key_gha: &'static str,
}

const OPERATOR: OperatorSecrets = OperatorSecrets {
    daraja_consumer_key: "LeakCanaryConsumerKey7Qw9Zt",
    daraja_consumer_secret: "LeakCanaryConsumerSecret4Xk8Vb",
    daraja_passkey: "leakcanarypasskey5d1e0c9b8a7f6e5d4c3b2a19f8e7d6c5",
    daraja_initiator_password: "LeakCanary!Init#Pw42",
    openapi_api_key_tzn: "leakcanaryapikeyTZN7a6b5c4d3e2f1",
    openapi_api_key_gha: "leakcanaryapikeyGHA1f2e3d4c5b6a7",
};

const SHORTCODE: &str = "174379";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Base64 of the longest prefix of `text` that encodes independently of what follows it (a multiple of three
/// bytes): what stays the same in every STK `Password` = base64(shortcode + passkey + timestamp).
fn b64_stable_prefix(text: &str) -> String {
    let n = text.len() / 3 * 3;
    b64(&text[..n])
}

/// Percent-encoding of every byte that is not unreserved in a URL.
fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// THE SECRETS THAT MUST APPEAR NOWHERE. Extend this list when a new kind of credential is added.
// ---------------------------------------------------------------------------------------------------------------
/// Every secret of the run, with its obvious encodings.
fn secrets(operator: &OperatorSecrets, client: &IssuedCredentials) -> Vec<String> {
    let mut plain = vec![
        // Operator credentials (the gateway's configuration).
        operator.daraja_consumer_key.to_owned(),
        operator.daraja_consumer_secret.to_owned(),
        operator.daraja_passkey.to_owned(),
        operator.daraja_initiator_password.to_owned(),
        operator.openapi_api_key_tzn.to_owned(),
        operator.openapi_api_key_gha.to_owned(),
        // The GSMA client's credentials (its consumer key is an identifier, not a secret).
        client.consumer_secret.expose().to_owned(),
        client.api_key.expose().to_owned(),
    ];
    let mut encoded = vec![
        // HTTP Basic of the Daraja app and of the client.
        b64(&format!(
            "{}:{}",
            operator.daraja_consumer_key, operator.daraja_consumer_secret
        )),
        b64(&format!(
            "{}:{}",
            client.consumer_key,
            client.consumer_secret.expose()
        )),
        // What every STK Password and STK Query Password begins with.
        b64_stable_prefix(&format!("{SHORTCODE}{}", operator.daraja_passkey)),
    ];
    encoded.push(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}:{}",
            operator.daraja_consumer_key, operator.daraja_consumer_secret
        )),
    );
    for secret in &plain {
        encoded.push(b64(secret));
        encoded.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
        encoded.push(url_encoded(secret));
        encoded.push(hex(secret));
    }
    plain.append(&mut encoded);
    plain.sort();
    plain.dedup();
    plain
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// A child process whose output goes to a file; killed when dropped.
struct Process {
    guard: ChildGuard,
    log: PathBuf,
}

fn spawn_logged(args: &[&str], envs: &[(&str, &str)], log: &Path) -> Process {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("a log file");
    let err = file.try_clone().expect("a second handle on the log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mmapi-gateway"));
    command
        .args(args)
        .env("MMAPI_LOG", "trace")
        .env("MMAPI_LOG_FORMAT", "text")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err));
    for (k, v) in envs {
        command.env(k, v);
    }
    let child = command.spawn().expect("the gateway binary starts");
    Process {
        guard: ChildGuard(child),
        log: log.to_owned(),
    }
}

impl Process {
    /// Asks the process to stop (SIGTERM, so the gateway logs its graceful stop) and waits a while for it.
    fn stop(&mut self) {
        let pid = self.guard.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.guard.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.guard.kill();
    }
}

async fn wait_for_file(path: &Path, within: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.trim().is_empty() {
                return text;
            }
        }
        assert!(
            started.elapsed() < within,
            "{} was not written in time",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_listening(http: &reqwest::Client, url: &str) {
    let started = Instant::now();
    while http.get(url).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{url} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The run: where the gateway is, who calls it, and every answer it gave.
struct Run {
    base: String,
    http: reqwest::Client,
    /// `Authorization` of every GSMA request.
    authorization: String,
    answers: Mutex<Vec<String>>,
}

impl Run {
    /// THE request builder of every GSMA call: a fresh X-CorrelationID and the client's credentials.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("X-CorrelationID", correlation_id())
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
    }

    /// Sends, records the answer's body, and returns its status and JSON.
    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        self.answers.lock().expect("lock").push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    /// Posts a transaction request and waits for its final state; returns the state and the transaction.
    async fn complete(&self, path: &str, body: Value) -> (Value, Value) {
        let (status, state) = self.post(path, &body).await;
        assert_eq!(status, 202, "{path}: {state}");
        let id = state["serverCorrelationId"].as_str().expect("an id");
        let started = Instant::now();
        let done = loop {
            let (status, state) = self.get(&format!("/requeststates/{id}")).await;
            if status == 200 && state["status"] != "pending" {
                break state;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{path} still pending: {state}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let reference = done["objectReference"]
            .as_str()
            .or(state["objectReference"].as_str())
            .expect("a reference")
            .to_owned();
        let (_, tx) = self.get(&format!("/transactions/{reference}")).await;
        (done, tx)
    }
}

fn read_log(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&raw);
    // Drop ANSI colour sequences, should any be there, so that they cannot split a value.
    let mut clean = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            clean.push(c);
        }
    }
    clean
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_leaks_no_secret() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let http = reqwest::Client::new();

    // The operators' simulators, each accepting only this run's credentials.
    let daraja_port = free_port();
    let daraja_cert = dir.path().join("daraja-cert.pem");
    let daraja_key = dir.path().join("daraja-key.pem");
    let mut daraja = spawn_logged(
        &[
            "simulate",
            "daraja",
            "--listen",
            &format!("127.0.0.1:{daraja_port}"),
            "--callback-delay-ms",
            "100",
            "--shortcode",
            SHORTCODE,
            "--rsa-key",
            daraja_key.to_str().expect("a path"),
            "--certificate-out",
            daraja_cert.to_str().expect("a path"),
            "--expose-issued-credentials",
        ],
        &[
            (
                "MMAPI_SIM_DARAJA_CONSUMER_KEY",
                OPERATOR.daraja_consumer_key,
            ),
            (
                "MMAPI_SIM_DARAJA_CONSUMER_SECRET",
                OPERATOR.daraja_consumer_secret,
            ),
            ("MMAPI_SIM_DARAJA_PASSKEY", OPERATOR.daraja_passkey),
            (
                "MMAPI_SIM_DARAJA_INITIATOR_PASSWORD",
                OPERATOR.daraja_initiator_password,
            ),
        ],
        &dir.path().join("daraja.log"),
    );
    // Two OpenAPI applications (Tanzania, Ghana), each with its own API key; they share one RSA key.
    let openapi_key = dir.path().join("openapi-key.pem");
    let openapi_public = dir.path().join("openapi-public.txt");
    let openapi_sim = |port: u16, api_key: &str, market: &str| {
        let mut args = vec![
            "simulate".to_owned(),
            "mpesa-openapi".to_owned(),
            "--listen".to_owned(),
            format!("127.0.0.1:{port}"),
            "--rsa-key".to_owned(),
            openapi_key.to_string_lossy().into_owned(),
            "--expose-issued-credentials".to_owned(),
        ];
        if market == "tzn" {
            args.push("--public-key-out".to_owned());
            args.push(openapi_public.to_string_lossy().into_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        spawn_logged(
            &args,
            &[("MMAPI_SIM_OPENAPI_API_KEY", api_key)],
            &dir.path().join(format!("openapi-{market}.log")),
        )
    };
    let (tzn_port, gha_port) = (free_port(), free_port());
    let mut tzn = openapi_sim(tzn_port, OPERATOR.openapi_api_key_tzn, "tzn");
    let public_key = wait_for_file(&openapi_public, Duration::from_secs(120)).await;
    let mut gha = openapi_sim(gha_port, OPERATOR.openapi_api_key_gha, "gha");
    wait_for_file(&daraja_cert, Duration::from_secs(60)).await;
    for port in [daraja_port, tzn_port, gha_port] {
        wait_listening(
            &http,
            &format!("http://127.0.0.1:{port}/__simulator/submissions"),
        )
        .await;
    }

    // The gateway, configured with them.
    let port = free_port();
    let data_dir = dir.path().join("data");
    let config = dir.path().join("gateway.toml");
    let market = |name: &str, sim_port: u16, api_key: &str| {
        format!(
            r#"
[[providers.mpesa_openapi.markets]]
market = "{name}"
base_url = "http://127.0.0.1:{sim_port}"
environment = "sandbox"
api_key = "{api_key}"
public_key = "{public_key}"
service_provider_code = "000000"
request_timeout_ms = 10000
result_deadline_secs = 5
"#,
            public_key = public_key.trim()
        )
    };
    std::fs::write(
        &config,
        format!(
            r#"public_url = "http://127.0.0.1:{port}"
[dispatch]
tick_ms = 200
[callbacks]
initial_backoff_ms = 100
[providers.daraja]
base_url = "http://127.0.0.1:{daraja_port}"
consumer_key = "{key}"
consumer_secret = "env:LEAK_TEST_DARAJA_SECRET"
shortcodes = [{{ shortcode = "{SHORTCODE}", passkey = "{passkey}" }}]
request_timeout_ms = 5000
stk_result_deadline_secs = 5
initiator_name = "testapi"
initiator_password = "{password}"
certificate = "{certificate}"
disbursement_shortcode = "600000"
result_deadline_secs = 5
{tzn}{gha}"#,
            key = OPERATOR.daraja_consumer_key,
            passkey = OPERATOR.daraja_passkey,
            password = OPERATOR.daraja_initiator_password,
            certificate = daraja_cert.display(),
            tzn = market("vodacomTZN", tzn_port, OPERATOR.openapi_api_key_tzn),
            gha = market("vodafoneGHA", gha_port, OPERATOR.openapi_api_key_gha),
        ),
    )
    .expect("the configuration");
    std::fs::create_dir_all(&data_dir).expect("the data directory");
    // The GSMA client that makes the run (registered before the start, so its secret is not in the logs).
    let client = add_client_with_cli(&data_dir, None, true);
    let mut gateway = spawn_logged(
        &[
            "serve",
            "--config",
            config.to_str().expect("a path"),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data_dir.to_str().expect("a path"),
        ],
        &[("LEAK_TEST_DARAJA_SECRET", OPERATOR.daraja_consumer_secret)],
        &dir.path().join("gateway.log"),
    );
    let base = format!("http://127.0.0.1:{port}/v1.2/mm");
    wait_up(&http, &base).await;
    let run = Run {
        base,
        http: http.clone(),
        authorization: basic_auth(&client),
        answers: Mutex::new(Vec::new()),
    };

    // Daraja: STK Push, B2C, B2B, reversal, balance.
    let (done, paid) = run
        .complete(
            "/transactions/type/merchantpay",
            json!({"amount": "300", "currency": "KES",
                   "debitParty": [{"key": "msisdn", "value": PAYER}],
                   "creditParty": [{"key": "storeid", "value": SHORTCODE}]}),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (done, _) = run
        .complete(
            "/transactions/type/disbursement",
            json!({"amount": "500", "currency": "KES",
                   "creditParty": [{"key": "msisdn", "value": PAYER}],
                   "debitParty": [{"key": "organisationid", "value": "600000"}]}),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (done, _) = run
        .complete(
            "/transactions/type/transfer",
            json!({"amount": "1000", "currency": "KES",
                   "debitParty": [{"key": "organisationid", "value": "600000"}],
                   "creditParty": [{"key": "businessshortcode", "value": SHORTCODE},
                                   {"key": "consumerno", "value": "INV-1"}]}),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let reference = paid["transactionReference"].as_str().expect("a reference");
    let (done, _) = run
        .complete(
            &format!("/transactions/{reference}/reversals"),
            json!({"type": "reversal"}),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (status, balance) = run.get("/accounts/organisationid/600000/balance").await;
    assert_eq!(status, 200, "{balance}");

    // M-Pesa OpenAPI: a TZS payment and disbursement, a Ghana account name.
    let (done, _) = run
        .complete(
            "/transactions/type/merchantpay",
            json!({"amount": "1000", "currency": "TZS",
                   "debitParty": [{"key": "msisdn", "value": "000000000001"}],
                   "creditParty": [{"key": "businessshortcode", "value": "000000"}]}),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (done, _) = run
        .complete(
            "/transactions/type/disbursement",
            json!({"amount": "5000", "currency": "TZS",
                   "debitParty": [{"key": "businessshortcode", "value": "000000"}],
                   "creditParty": [{"key": "msisdn", "value": "+255744553111"}]}),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (status, name) = run.get("/accounts/msisdn/000000000001/accountname").await;
    assert_eq!(status, 200, "{name}");

    // Bad requests: each answered with a GSMA error object.
    let bad: Vec<(u16, Value)> = vec![
        run.send(
            run.request(reqwest::Method::POST, "/transactions/type/merchantpay")
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await,
        run.post(
            "/transactions/type/merchantpay",
            &json!({"amount": "-1", "currency": "KES"}),
        )
        .await,
        run.post(
            "/transactions/type/disbursement",
            &json!({"amount": "5", "currency": "KES",
                    "creditParty": [{"key": "msisdn", "value": PAYER}],
                    "debitParty": [{"key": "organisationid", "value": "600000"}]}),
        )
        .await,
        run.get("/transactions/no-such-reference").await,
        run.get("/accounts/organisationid/999999/balance").await,
        run.get("/accounts/not-an-account-id/balance").await,
        // Without credentials, and with wrong ones.
        run.send(http.get(format!("{}/transactions/no-such-reference", run.base)))
            .await,
        run.send(
            http.get(format!("{}/transactions/no-such-reference", run.base))
                .basic_auth(
                    &client.consumer_key,
                    Some(format!("{}x", client.consumer_secret.expose())),
                ),
        )
        .await,
    ];
    for (status, error) in &bad {
        assert!((400..500).contains(status), "{status} {error}");
        assert!(error["errorCategory"].is_string(), "{status} {error}");
    }
    // The OpenAPI document.
    run.send(http.get(format!("http://127.0.0.1:{port}/openapi.json")))
        .await;

    // What the simulators issued.
    let mut issued = Vec::new();
    for (port, field) in [
        (daraja_port, "accessTokens"),
        (tzn_port, "sessionIds"),
        (gha_port, "sessionIds"),
    ] {
        let listed: Value = http
            .get(format!(
                "http://127.0.0.1:{port}/__simulator/issued-credentials"
            ))
            .send()
            .await
            .expect("the simulator answers")
            .json()
            .await
            .expect("JSON");
        let values: Vec<String> = listed[field]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            !values.is_empty(),
            "the simulator on {port} issued no {field}"
        );
        issued.extend(values);
    }

    gateway.stop();
    for sim in [&mut daraja, &mut tzn, &mut gha] {
        sim.stop();
    }

    let gateway_log = read_log(&gateway.log);
    assert!(
        gateway_log.contains("TRACE") && gateway_log.contains("DEBUG"),
        "the gateway did not log at trace level"
    );
    assert!(
        gateway_log.contains("stopped"),
        "the gateway's log is incomplete"
    );
    let mut outputs = vec![("gateway output", gateway_log)];
    for sim in [&daraja, &tzn, &gha] {
        outputs.push(("simulator output", read_log(&sim.log)));
    }
    let answers = run.answers.lock().expect("lock").join("\n");
    outputs.push(("an HTTP answer of the gateway", answers));

    let secrets = secrets(&OPERATOR, &client);
    let mut leaks = Vec::new();
    for (what, text) in &outputs {
        for secret in &secrets {
            if text.contains(secret.as_str()) {
                leaks.push(format!("a secret ({} chars) in {what}", secret.len()));
            }
        }
        for value in &issued {
            if text.contains(value.as_str()) {
                leaks.push(format!(
                    "an issued token or session id ({} chars) in {what}",
                    value.len()
                ));
            }
        }
    }
    if !leaks.is_empty() || std::env::var_os("MMAPI_TEST_KEEP_LOGS").is_some() {
        eprintln!("logs kept in {}", dir.keep().display());
    }
    assert!(leaks.is_empty(), "leaks:\n{}", leaks.join("\n"));
}

/// The checks above find what they look for: a planted secret is found.
#[test]
fn the_scan_finds_a_planted_secret() {
    let client = IssuedCredentials {
        consumer_key: "ck".into(),
        consumer_secret: mmapi_core::Secret::new("client-secret"),
        api_key: mmapi_core::Secret::new("client-api-key"),
    };
    let all = secrets(&OPERATOR, &client);
    let dir = tempfile::tempdir().expect("a temp dir");
    let log = dir.path().join("x.log");
    let header = format!(
        "authorization: Basic {}",
        b64(&format!(
            "{}:{}",
            OPERATOR.daraja_consumer_key, OPERATOR.daraja_consumer_secret
        ))
    );
    let mut file = File::create(&log).expect("a file");
    std::io::Write::write_all(
        &mut file,
        format!("\u{1b}[2mTRACE\u{1b}[0m {header}\n").as_bytes(),
    )
    .expect("written");
    let text = read_log(&log);
    assert!(all.iter().any(|s| text.contains(s.as_str())));
    let stk_password = b64(&format!(
        "{SHORTCODE}{}20250101120000",
        OPERATOR.daraja_passkey
    ));
    assert!(all.iter().any(|s| stk_password.contains(s.as_str())));
    assert!(all.contains(&url_encoded(OPERATOR.daraja_initiator_password)));
}

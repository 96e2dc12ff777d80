//! The Daraja simulator's organisation APIs over real HTTP on 127.0.0.1: SecurityCredential,
//! balances, B2C, B2B, Transaction Status, Account Balance, Reversal, C2B and journal replay.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{StatusCode, Uri},
    response::IntoResponse,
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use mmapi_daraja::simulator::{
    DarajaSimulator, SimulatorConfig, SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET,
    SANDBOX_INITIATOR_NAME, SANDBOX_INITIATOR_PASSWORD, SANDBOX_ORGANIZATION, SANDBOX_SHORTCODE,
};
use rsa::{
    pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding},
    rand_core::OsRng,
    Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey,
};
use serde_json::{json, Value};
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use x509_cert::{
    der::{DecodePem, Encode},
    Certificate,
};

const WAIT: Duration = Duration::from_secs(5);
const CUSTOMER: &str = "254708374149";
const GOLDEN_TIMESTAMP: &str = "20210628092408";
const GOLDEN_PASSWORD: &str = "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4";

/// One RSA key for the whole test binary (generating one per test would be slow).
fn key_pem() -> String {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        RsaPrivateKey::new(&mut OsRng, 2048)
            .expect("key")
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pem")
            .to_string()
    })
    .clone()
}

/// `base64(RSA_PKCS1v1_5(password))` with the certificate's public key, as an integrator does.
fn credential(certificate_pem: &str, password: &str) -> String {
    let cert = Certificate::from_pem(certificate_pem).expect("certificate parses");
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .expect("spki");
    let key = RsaPublicKey::from_public_key_der(&spki).expect("an RSA key");
    let ct = key
        .encrypt(&mut OsRng, Pkcs1v15Encrypt, password.as_bytes())
        .expect("encrypts");
    STANDARD.encode(ct)
}

fn config(delay_ms: u64) -> SimulatorConfig {
    SimulatorConfig {
        callback_delay: Duration::from_millis(delay_ms),
        rsa_private_key_pem: Some(key_pem()),
        ..SimulatorConfig::default()
    }
}

struct Running {
    sim: DarajaSimulator,
    base: String,
    server: JoinHandle<()>,
    http: reqwest::Client,
    token: String,
    credential: String,
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
        let http = reqwest::Client::new();
        let resp = http
            .get(format!(
                "{base}/oauth/v1/generate?grant_type=client_credentials"
            ))
            .basic_auth(SANDBOX_CONSUMER_KEY, Some(SANDBOX_CONSUMER_SECRET))
            .send()
            .await
            .expect("oauth");
        let body: Value = resp.json().await.expect("json");
        let token = body["access_token"].as_str().expect("token").to_owned();
        let cert = sim.certificate_pem();
        let credential = credential(&cert, SANDBOX_INITIATOR_PASSWORD);
        Self {
            sim,
            base,
            server,
            http,
            token,
            credential,
        }
    }

    fn stop(self) {
        self.sim.shutdown();
        self.server.abort();
    }

    async fn post_as(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = resp.status();
        (status, resp.json().await.expect("json body"))
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_as(path, &self.token, body).await
    }

    fn balance(&self, account: &str) -> String {
        self.sim.balance_of(account).expect("known account")
    }

    /// GETs one of the simulator's own `/__simulator/…` reports.
    async fn report(&self, name: &str) -> Value {
        let url = format!("{}/__simulator/{name}", self.base);
        let response = self.http.get(url).send().await.expect("report");
        response.json().await.expect("json")
    }

    fn b2c(&self, ocid: &str, party_b: &str, amount: u64, result_url: &str) -> Value {
        json!({
            "OriginatorConversationID": ocid,
            "InitiatorName": SANDBOX_INITIATOR_NAME,
            "SecurityCredential": self.credential,
            "CommandID": "BusinessPayment",
            "Amount": amount.to_string(),
            "PartyA": SANDBOX_SHORTCODE,
            "PartyB": party_b,
            "Remarks": "Payout",
            "QueueTimeOutURL": format!("{result_url}/timeout"),
            "ResultURL": result_url,
            "Occassion": "Test"
        })
    }

    fn status_query(&self, field: &str, value: &str, result_url: &str) -> Value {
        let mut body = json!({
            "Initiator": SANDBOX_INITIATOR_NAME,
            "SecurityCredential": self.credential,
            "CommandID": "TransactionStatusQuery",
            "PartyA": SANDBOX_SHORTCODE,
            "IdentifierType": "4",
            "ResultURL": result_url,
            "QueueTimeOutURL": format!("{result_url}/timeout"),
            "Remarks": "OK",
            "Occasion": "OK"
        });
        body[field] = json!(value);
        body
    }

    fn reversal(&self, receipt: &str, amount: u64, result_url: &str) -> Value {
        json!({
            "Initiator": SANDBOX_INITIATOR_NAME,
            "SecurityCredential": self.credential,
            "CommandID": "TransactionReversal",
            "TransactionID": receipt,
            "Amount": amount,
            "ReceiverParty": SANDBOX_SHORTCODE,
            "RecieverIdentifierType": "11",
            "ResultURL": result_url,
            "QueueTimeOutURL": format!("{result_url}/timeout"),
            "Remarks": "Payment reversal"
        })
    }

    fn balance_query(&self, party_a: &str, result_url: &str) -> Value {
        json!({
            "Initiator": SANDBOX_INITIATOR_NAME,
            "SecurityCredential": self.credential,
            "CommandID": "AccountBalance",
            "PartyA": party_a,
            "IdentifierType": "4",
            "Remarks": "ok",
            "QueueTimeOutURL": format!("{result_url}/timeout"),
            "ResultURL": result_url
        })
    }
}

/// A merchant endpoint on loopback: records every request and answers with the JSON set for
/// its path (default `{"ResultCode":0,"ResultDesc":"Accepted"}`).
struct Receiver {
    base: String,
    rx: mpsc::UnboundedReceiver<(String, String)>,
    answers: Arc<Mutex<HashMap<String, Value>>>,
}

#[derive(Clone)]
struct ReceiverState {
    tx: mpsc::UnboundedSender<(String, String)>,
    answers: Arc<Mutex<HashMap<String, Value>>>,
}

async fn receive(State(state): State<ReceiverState>, uri: Uri, body: Bytes) -> impl IntoResponse {
    let path = uri.path().to_owned();
    let _ = state
        .tx
        .send((path.clone(), String::from_utf8_lossy(&body).into_owned()));
    let answer = state
        .answers
        .lock()
        .expect("lock")
        .get(&path)
        .cloned()
        .unwrap_or_else(|| json!({"ResultCode": 0, "ResultDesc": "Accepted"}));
    Json(answer)
}

impl Receiver {
    async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let answers = Arc::new(Mutex::new(HashMap::new()));
        let state = ReceiverState {
            tx,
            answers: Arc::clone(&answers),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new().fallback(receive).with_state(state);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, rx, answers }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn answer(&self, path: &str, body: Value) {
        self.answers
            .lock()
            .expect("lock")
            .insert(path.to_owned(), body);
    }

    /// The next request: its path, raw body and parsed body.
    async fn next(&mut self) -> (String, String, Value) {
        let (path, raw) = tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("a callback arrives in time")
            .expect("receiver open");
        let value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        (path, raw, value)
    }

    async fn nothing_for(&mut self, d: Duration) {
        if let Ok(Some(cb)) = tokio::time::timeout(d, self.rx.recv()).await {
            panic!("unexpected callback {cb:?}");
        }
    }
}

fn temp_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    std::env::temp_dir().join(format!(
        "mmapi-daraja-org-{name}-{}-{nanos}",
        std::process::id()
    ))
}

fn assert_envelope(body: &Value, code: &str, message: &str) {
    assert_eq!(body["errorCode"], code, "{body}");
    assert_eq!(body["errorMessage"], message, "{body}");
    assert!(body["requestId"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");
}

/// `ResultParameters.ResultParameter` as a map (array or single object).
fn params(result: &Value) -> HashMap<String, Value> {
    let p = &result["Result"]["ResultParameters"]["ResultParameter"];
    let items = match p {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![p.clone()],
        _ => Vec::new(),
    };
    items
        .into_iter()
        .filter_map(|i| Some((i["Key"].as_str()?.to_owned(), i["Value"].clone())))
        .collect()
}

fn assert_ack(ack: &Value) {
    assert_eq!(ack["ResponseCode"], json!("0"), "{ack}");
    assert!(ack["ConversationID"]
        .as_str()
        .is_some_and(|c| c.starts_with("AG_") && c.len() == 32));
    assert!(ack["OriginatorConversationID"].is_string());
    assert_eq!(ack.as_object().map(|o| o.len()), Some(4), "{ack}");
}

#[tokio::test]
async fn certificate_works_with_openssl_and_persists() {
    // A simulator that generates its own key.
    let sim = DarajaSimulator::start(SimulatorConfig::default())
        .await
        .expect("starts");
    let cert = sim.certificate_pem();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\n"), "{cert}");
    let pem = sim.private_key_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let again = DarajaSimulator::start(SimulatorConfig {
        rsa_private_key_pem: Some(pem),
        ..SimulatorConfig::default()
    })
    .await
    .expect("starts with the saved key");
    assert_eq!(again.certificate_pem(), cert, "same key, same certificate");
    sim.shutdown();

    // An independent check: openssl reads the certificate, verifies its self-signature and
    // encrypts the password as integrators do; the simulator accepts that credential.
    let have_openssl = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_openssl {
        eprintln!("openssl not found: skipping the openssl half of this test");
        again.shutdown();
        return;
    }
    let dir = temp_path("openssl");
    std::fs::create_dir_all(&dir).expect("dir");
    let cert_path = dir.join("cert.pem");
    std::fs::write(&cert_path, &cert).expect("write");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let c = cert_path.to_str().expect("utf-8 path");
    let verify = run(&["verify", "-CAfile", c, c]);
    assert!(String::from_utf8_lossy(&verify).contains("OK"));
    let pubkey = run(&["x509", "-in", c, "-noout", "-pubkey"]);
    let pub_path = dir.join("pub.pem");
    std::fs::write(&pub_path, pubkey).expect("write");
    let secret_path = dir.join("secret.txt");
    std::fs::write(&secret_path, SANDBOX_INITIATOR_PASSWORD).expect("write");
    let ct = run(&[
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        pub_path.to_str().expect("utf-8 path"),
        "-pkeyopt",
        "rsa_padding_mode:pkcs1",
        "-in",
        secret_path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(ct.len(), 256);
    let _ = std::fs::remove_dir_all(&dir);

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = again.router();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let mut receiver = Receiver::start().await;
    let http = reqwest::Client::new();
    let token: Value = http
        .get(format!(
            "{base}/oauth/v1/generate?grant_type=client_credentials"
        ))
        .basic_auth(SANDBOX_CONSUMER_KEY, Some(SANDBOX_CONSUMER_SECRET))
        .send()
        .await
        .expect("oauth")
        .json()
        .await
        .expect("json");
    let body = json!({
        "OriginatorConversationID": "openssl-1", "InitiatorName": SANDBOX_INITIATOR_NAME,
        "SecurityCredential": STANDARD.encode(&ct), "CommandID": "SalaryPayment",
        "Amount": 10, "PartyA": SANDBOX_SHORTCODE, "PartyB": CUSTOMER, "Remarks": "ok",
        "QueueTimeOutURL": receiver.url("/q"), "ResultURL": receiver.url("/r")
    });
    let resp = http
        .post(format!("{base}/mpesa/b2c/v3/paymentrequest"))
        .bearer_auth(token["access_token"].as_str().expect("token"))
        .json(&body)
        .send()
        .await
        .expect("b2c");
    assert_eq!(resp.status(), 200);
    let (_, _, result) = receiver.next().await;
    assert_eq!(result["Result"]["ResultCode"], json!(0), "{result}");
    again.shutdown();
    server.abort();
}

#[tokio::test]
async fn b2c_pays_the_customer_from_the_utility_account() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(config(50)).await;
    assert_eq!(sim.balance(CUSTOMER), "100000.00");
    assert_eq!(sim.balance(SANDBOX_SHORTCODE), "1000000.00");
    assert_eq!(
        sim.balance(&format!("{SANDBOX_SHORTCODE}:working")),
        "500000.00"
    );

    let url = receiver.url("/b2c/result");
    let (status, ack) = sim
        .post(
            "/mpesa/b2c/v3/paymentrequest",
            &sim.b2c("600997_Test_1", CUSTOMER, 1500, &url),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_ack(&ack);
    assert_eq!(ack["OriginatorConversationID"], json!("600997_Test_1"));
    assert_eq!(
        ack["ResponseDescription"],
        json!("Accept the service request successfully.")
    );

    let (path, raw, result) = receiver.next().await;
    assert_eq!(path, "/b2c/result");
    let r = &result["Result"];
    assert_eq!(r["ResultType"], json!(0));
    assert_eq!(r["ResultCode"], json!(0));
    assert_eq!(
        r["ResultDesc"],
        json!("The service request is processed successfully.")
    );
    assert_eq!(r["OriginatorConversationID"], json!("600997_Test_1"));
    assert_eq!(r["ConversationID"], ack["ConversationID"]);
    let receipt = r["TransactionID"].as_str().expect("receipt").to_owned();
    assert_eq!(receipt.len(), 10);
    assert_eq!(
        r["ReferenceData"]["ReferenceItem"],
        json!({"Key": "QueueTimeoutURL", "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"})
    );
    let keys: Vec<&str> = r["ResultParameters"]["ResultParameter"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["Key"].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "TransactionAmount",
            "TransactionReceipt",
            "ReceiverPartyPublicName",
            "TransactionCompletedDateTime",
            "B2CUtilityAccountAvailableFunds",
            "B2CWorkingAccountAvailableFunds",
            "B2CRecipientIsRegisteredCustomer",
            "B2CChargesPaidAccountAvailableFunds"
        ]
    );
    let p = params(&result);
    assert_eq!(p["TransactionAmount"], json!(1500));
    assert_eq!(p["TransactionReceipt"], json!(receipt));
    assert_eq!(
        p["ReceiverPartyPublicName"],
        json!("254708374149 - John Doe")
    );
    let completed = p["TransactionCompletedDateTime"].as_str().expect("text");
    assert!(
        chrono::NaiveDateTime::parse_from_str(completed, "%d.%m.%Y %H:%M:%S").is_ok(),
        "{completed}"
    );
    assert_eq!(p["B2CRecipientIsRegisteredCustomer"], json!("Y"));
    // Numbers written with two decimals, as Daraja does.
    assert!(
        raw.contains(r#"{"Key":"B2CUtilityAccountAvailableFunds","Value":998500.00}"#),
        "{raw}"
    );
    assert!(raw.contains(r#"{"Key":"B2CWorkingAccountAvailableFunds","Value":500000.00}"#));

    assert_eq!(sim.balance(CUSTOMER), "101500.00");
    assert_eq!(sim.balance(SANDBOX_SHORTCODE), "998500.00");

    // v1: no OriginatorConversationID (Daraja makes one), `Occasion`, a numeric amount.
    let mut body = sim.b2c("ignored", "254711111111", 10, &url);
    let obj = body.as_object_mut().expect("object");
    obj.remove("OriginatorConversationID");
    obj.remove("Occassion");
    body["Occasion"] = json!("x");
    body["Amount"] = json!(10);
    let (status, ack) = sim.post("/mpesa/b2c/v1/paymentrequest", &body).await;
    assert_eq!(status, 200, "{ack}");
    assert_ack(&ack);
    let (_, _, result) = receiver.next().await;
    assert_eq!(result["Result"]["ResultCode"], json!(0));
    assert_eq!(
        result["Result"]["OriginatorConversationID"],
        ack["OriginatorConversationID"]
    );
    assert_eq!(sim.balance("254711111111"), "100010.00");
    assert_eq!(sim.sim.result_request_count(), 2);
    sim.stop();
}

#[tokio::test]
async fn b2c_wrong_password_fails_asynchronously_with_2001() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(config(50)).await;
    let url = receiver.url("/r");
    let mut body = sim.b2c("wrong-pw-1", CUSTOMER, 100, &url);
    body["SecurityCredential"] = json!(credential(&sim.sim.certificate_pem(), "not-it"));
    let (status, ack) = sim.post("/mpesa/b2c/v3/paymentrequest", &body).await;
    assert_eq!(
        status, 200,
        "a bad credential is not refused synchronously: {ack}"
    );
    let (_, _, result) = receiver.next().await;
    let r = &result["Result"];
    assert_eq!(r["ResultCode"], json!(2001));
    assert_eq!(
        r["ResultDesc"],
        json!("The initiator information is invalid.")
    );
    assert!(r.get("ResultParameters").is_none(), "{result}");
    assert!(r["ReferenceData"]["ReferenceItem"].is_object());
    // A wrong initiator name is the same failure; so is garbage.
    for (name, cred) in [
        ("someone", sim.credential.clone()),
        (SANDBOX_INITIATOR_NAME, "bm90IHJzYQ==".to_owned()),
    ] {
        let mut body = sim.b2c(&format!("wrong-{name}"), CUSTOMER, 100, &url);
        body["InitiatorName"] = json!(name);
        body["SecurityCredential"] = json!(cred);
        assert_eq!(sim.post("/mpesa/b2c/v3/paymentrequest", &body).await.0, 200);
        let (_, _, result) = receiver.next().await;
        assert_eq!(result["Result"]["ResultCode"], json!(2001));
    }
    assert_eq!(sim.balance(CUSTOMER), "100000.00");
    assert_eq!(sim.balance(SANDBOX_SHORTCODE), "1000000.00");
    sim.stop();
}

#[tokio::test]
async fn b2c_duplicate_originator_conversation_id_and_sync_errors() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(config(50)).await;
    let url = receiver.url("/r");
    let body = sim.b2c("dup-1", CUSTOMER, 100, &url);
    assert_eq!(sim.post("/mpesa/b2c/v3/paymentrequest", &body).await.0, 200);
    let (status, resp) = sim.post("/mpesa/b2c/v3/paymentrequest", &body).await;
    assert_eq!(status, 500);
    assert_envelope(&resp, "500.002.1001", "Duplicate OriginatorConversationID.");
    receiver.next().await;
    receiver.nothing_for(Duration::from_millis(150)).await;
    assert_eq!(sim.balance(CUSTOMER), "100100.00", "paid once");
    // Sent twice, carried out once: the repeat is counted as refused, so it is no duplicate.
    assert_eq!(sim.sim.submissions().get(&url), Some(&2));
    assert_eq!(sim.sim.refused_repeats().get(&url), Some(&1));
    let report = sim.report("submissions").await;
    assert_eq!(report["refusedRepeats"][&url], 1, "{report}");
    assert_eq!(report["duplicates"], json!([]), "{report}");

    let mut bad = sim.b2c("dup-2", "0708374149", 100, &url);
    let (status, resp) = sim.post("/mpesa/b2c/v3/paymentrequest", &bad).await;
    assert_eq!(status, 400);
    assert_envelope(&resp, "400.002.02", "Bad Request - Invalid PartyB");
    bad["PartyB"] = json!(CUSTOMER);
    bad["CommandID"] = json!("CustomerPayBillOnline");
    let (status, resp) = sim.post("/mpesa/b2c/v3/paymentrequest", &bad).await;
    assert_eq!(status, 400);
    assert_envelope(&resp, "400.002.02", "Bad Request - Invalid CommandID");
    sim.stop();
}

#[tokio::test]
async fn b2c_outcome_table_and_lost_result_settled_by_transaction_status() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(config(50)).await;
    let url = receiver.url("/r");
    for (party_b, amount, code) in [
        ("254700000006", 100, json!(2040)),
        ("254700000007", 100, json!("SFC_IC0003")),
        (CUSTOMER, 77_777, json!(1)),
        (CUSTOMER, 9, json!(2)),
        (CUSTOMER, 250_001, json!(3)),
        ("254700000002", 100, json!(0)),
    ] {
        let body = sim.b2c(&format!("t-{party_b}-{amount}"), party_b, amount, &url);
        assert_eq!(sim.post("/mpesa/b2c/v3/paymentrequest", &body).await.0, 200);
        let (_, _, result) = receiver.next().await;
        assert_eq!(
            result["Result"]["ResultCode"], code,
            "{party_b} {amount}: {result}"
        );
    }

    // The lost result: accepted, paid, never posted.
    let lost = sim.b2c("lost-1", "254700000005", 2000, &url);
    let (status, ack) = sim.post("/mpesa/b2c/v3/paymentrequest", &lost).await;
    assert_eq!(status, 200);
    receiver.nothing_for(Duration::from_millis(250)).await;
    assert_eq!(sim.balance("254700000005"), "102000.00");

    // Settled by Transaction Status, by the OriginatorConversationID…
    let status_url = receiver.url("/status");
    let (status, ack2) = sim
        .post(
            "/mpesa/transactionstatus/v1/query",
            &sim.status_query("OriginalConversationID", "lost-1", &status_url),
        )
        .await;
    assert_eq!(status, 200, "{ack2}");
    assert_ack(&ack2);
    let (path, _, result) = receiver.next().await;
    assert_eq!(path, "/status");
    let r = &result["Result"];
    assert_eq!(r["ResultCode"], json!(0), "{result}");
    assert_eq!(r["ResultType"], json!(0));
    assert_eq!(
        r["ReferenceData"]["ReferenceItem"],
        json!({"Key": "Occasion"})
    );
    assert!(r["TransactionID"]
        .as_str()
        .is_some_and(|t| t.ends_with("0000000")));
    let p = params(&result);
    assert_eq!(p["TransactionStatus"], json!("Completed"));
    assert_eq!(p["Amount"], json!("2000"));
    assert_eq!(p["OriginatorConversationID"], json!("lost-1"));
    assert_eq!(p["ConversationID"], ack["ConversationID"]);
    assert_eq!(p["DebitPartyName"], json!("174379 - Sandbox Org 174379"));
    assert_eq!(p["CreditPartyName"], json!("254700000005 - John Doe"));
    assert_eq!(p["DebitAccountType"], json!("Utility Account"));
    assert_eq!(
        p["ReasonType"],
        json!("Business Payment to Customer via API")
    );
    assert!(result["Result"]["ResultParameters"]["ResultParameter"]
        .as_array()
        .is_some_and(|a| a.contains(&json!({"Key": "TransactionReason"}))));
    let receipt = p["ReceiptNo"].as_str().expect("receipt").to_owned();

    // …by the receipt, by the ConversationID under the other field name…
    for (field, value) in [
        ("TransactionID", receipt.clone()),
        (
            "OriginatorConversationID",
            ack["ConversationID"].as_str().expect("id").to_owned(),
        ),
    ] {
        let (status, _) = sim
            .post(
                "/mpesa/transactionstatus/v1/query",
                &sim.status_query(field, &value, &status_url),
            )
            .await;
        assert_eq!(status, 200);
        let (_, _, result) = receiver.next().await;
        assert_eq!(params(&result)["ReceiptNo"], json!(receipt), "{field}");
    }
    // …a failed one is found as failed, an unknown one is SFC_IC0003.
    let (_, _) = sim
        .post(
            "/mpesa/transactionstatus/v1/query",
            &sim.status_query("OriginalConversationID", "t-254700000006-100", &status_url),
        )
        .await;
    let (_, _, result) = receiver.next().await;
    assert_eq!(params(&result)["TransactionStatus"], json!("Failed"));
    let (_, _) = sim
        .post(
            "/mpesa/transactionstatus/v1/query",
            &sim.status_query("TransactionID", "NEF61H8J60", &status_url),
        )
        .await;
    let (_, _, result) = receiver.next().await;
    assert_eq!(result["Result"]["ResultCode"], json!("SFC_IC0003"));
    assert!(result["Result"].get("ResultParameters").is_none());

    // Status checks: a bad token is 400.003.01 there; no identifier is an invalid TransactionID.
    let (status, resp) = sim
        .post_as(
            "/mpesa/transactionstatus/v1/query",
            "nope",
            &sim.status_query("TransactionID", &receipt, &status_url),
        )
        .await;
    assert_eq!(status, 400);
    assert_envelope(&resp, "400.003.01", "Invalid Access Token");
    let mut body = sim.status_query("TransactionID", "", &status_url);
    body.as_object_mut().map(|o| o.remove("TransactionID"));
    let (status, resp) = sim.post("/mpesa/transactionstatus/v1/query", &body).await;
    assert_eq!(status, 400);
    assert_envelope(&resp, "400.002.02", "Bad Request - Invalid TransactionID");
    sim.stop();
}

#[tokio::test]
async fn b2b_moves_money_between_shortcodes() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(config(50)).await;
    let url = receiver.url("/b2b");
    let body = |party_b: &str, amount: u64| {
        json!({
            "Initiator": SANDBOX_INITIATOR_NAME, "SecurityCredential": sim.credential,
            "CommandID": "BusinessPayBill", "SenderIdentifierType": "4",
            "RecieverIdentifierType": "4", "Amount": amount.to_string(),
            "PartyA": SANDBOX_SHORTCODE, "PartyB": party_b, "AccountReference": "353353",
            "Requester": "254700000000", "Remarks": "OK",
            "QueueTimeOutURL": format!("{url}/q"), "ResultURL": url
        })
    };
    let (status, ack) = sim
        .post(
            "/mpesa/b2b/v1/paymentrequest",
            &body(SANDBOX_ORGANIZATION, 190),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_ack(&ack);
    let (_, _, result) = receiver.next().await;
    let r = &result["Result"];
    assert_eq!(r["ResultType"], json!("0"), "{result}");
    assert_eq!(r["ResultCode"], json!("0"));
    assert_eq!(
        r["ReferenceData"]["ReferenceItem"],
        json!([
            {"Key": "BillReferenceNumber", "Value": "353353"},
            {"Key": "QueueTimeoutURL", "Value": "https://internalsandbox.safaricom.co.ke/mpesa/abresults/v1/submit"}
        ])
    );
    let p = params(&result);
    assert_eq!(p["Amount"], json!("190.00"));
    assert_eq!(p["Currency"], json!("KES"));
    assert_eq!(
        p["DebitPartyAffectedAccountBalance"],
        json!("Working Account|KES|499810.00|499810.00|0.00|0.00")
    );
    assert_eq!(
        p["DebitAccountBalance"],
        json!("{Amount={CurrencyCode=KES, MinimumAmount=49981000, BasicAmount=499810.00}}")
    );
    assert_eq!(
        p["ReceiverPartyPublicName"],
        json!("600000 - Sandbox Org 600000")
    );
    assert!(p["TransCompletedTime"]
        .as_str()
        .is_some_and(|t| t.len() == 14));
    assert_eq!(
        sim.balance(&format!("{SANDBOX_SHORTCODE}:working")),
        "499810.00"
    );
    assert_eq!(sim.balance("600000:working"), "500190.00");
    assert_eq!(
        sim.balance(SANDBOX_SHORTCODE),
        "1000000.00",
        "utility untouched"
    );

    // An unknown receiver, and more than the Working account holds.
    for (party_b, amount, code) in [
        ("999999", 10, json!("SFC_IC0003")),
        ("600000", 600_000, json!(1)),
    ] {
        let (status, _) = sim
            .post("/mpesa/b2b/v1/paymentrequest", &body(party_b, amount))
            .await;
        assert_eq!(status, 200);
        let (_, _, result) = receiver.next().await;
        let r = &result["Result"];
        assert_eq!(r["ResultCode"], code, "{result}");
        assert_eq!(r["ResultType"], json!(0));
        assert!(r["TransactionID"]
            .as_str()
            .is_some_and(|t| t.ends_with("0000000")));
        assert!(
            r["ResultParameters"]["ResultParameter"]["Value"].is_u64(),
            "{result}"
        );
        assert_eq!(
            r["ResultParameters"]["ResultParameter"]["Key"],
            json!("BOCompletedTime")
        );
        assert!(r["ReferenceData"]["ReferenceItem"].is_object());
    }
    assert_eq!(sim.balance("600000:working"), "500190.00");

    // The documented spelling of the receiver type is Daraja's typo.
    let mut typo_fixed = body(SANDBOX_ORGANIZATION, 10);
    let t = typo_fixed
        .as_object_mut()
        .and_then(|o| o.remove("RecieverIdentifierType"))
        .unwrap_or_default();
    typo_fixed["ReceiverIdentifierType"] = t;
    let (status, resp) = sim.post("/mpesa/b2b/v1/paymentrequest", &typo_fixed).await;
    assert_eq!(status, 400);
    assert_envelope(
        &resp,
        "400.002.02",
        "Bad Request - Invalid RecieverIdentifierType",
    );
    sim.stop();
}

#[tokio::test]
async fn reversal_moves_money_back_once() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(config(50)).await;
    let url = receiver.url("/r");
    sim.post(
        "/mpesa/b2c/v3/paymentrequest",
        &sim.b2c("rev-1", CUSTOMER, 3000, &url),
    )
    .await;
    let (_, _, result) = receiver.next().await;
    let receipt = result["Result"]["TransactionID"]
        .as_str()
        .expect("receipt")
        .to_owned();
    assert_eq!(sim.balance(CUSTOMER), "103000.00");

    let rev_url = receiver.url("/reversal");
    let (status, ack) = sim
        .post(
            "/mpesa/reversal/v1/request",
            &sim.reversal(&receipt, 3000, &rev_url),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_ack(&ack);
    let (path, raw, result) = receiver.next().await;
    assert_eq!(path, "/reversal");
    let r = &result["Result"];
    assert_eq!(r["ResultCode"], json!(0), "{result}");
    assert_eq!(
        r["ReferenceData"]["ReferenceItem"]["Value"],
        json!("https://internalsandbox.safaricom.co.ke/mpesa/reversalresults/v1/submit")
    );
    let p = params(&result);
    assert_eq!(p["OriginalTransactionID"], json!(receipt));
    assert_eq!(
        p["DebitAccountBalance"],
        json!("Utility Account|KES|1000000.00|1000000.00|0.00|0.00")
    );
    assert_eq!(
        p["CreditPartyPublicName"],
        json!("174379 - Sandbox Org 174379")
    );
    assert_eq!(p["DebitPartyPublicName"], json!("254708374149 - John Doe"));
    assert!(raw.contains(r#"{"Key":"Amount","Value":3000.00}"#), "{raw}");
    assert!(p["TransCompletedTime"].is_u64());
    assert_eq!(sim.balance(CUSTOMER), "100000.00");
    assert_eq!(sim.balance(SANDBOX_SHORTCODE), "1000000.00");

    // Again: already reversed. Unknown or mismatched: invalid original.
    for (txid, amount, code) in [
        (receipt.as_str(), 3000, "R000001"),
        ("PDU91HIVIT", 3000, "R000002"),
        (receipt.as_str(), 2999, "R000002"),
    ] {
        let (status, _) = sim
            .post(
                "/mpesa/reversal/v1/request",
                &sim.reversal(txid, amount, &rev_url),
            )
            .await;
        assert_eq!(status, 200);
        let (_, _, result) = receiver.next().await;
        assert_eq!(result["Result"]["ResultCode"], json!(code), "{result}");
        assert!(result["Result"]["TransactionID"]
            .as_str()
            .is_some_and(|t| t.ends_with("0000000")));
    }
    assert_eq!(sim.balance(CUSTOMER), "100000.00");

    let (status, resp) = sim
        .post_as(
            "/mpesa/reversal/v1/request",
            "nope",
            &sim.reversal(&receipt, 1, &rev_url),
        )
        .await;
    assert_eq!(status, 404);
    assert_envelope(&resp, "404.001.03", "Invalid Access Token");
    sim.stop();
}

/// `AccountBalance` → account name → available balance.
fn parse_account_balance(value: &str) -> HashMap<String, String> {
    value
        .split('&')
        .map(|account| {
            let fields: Vec<&str> = account.split('|').collect();
            assert_eq!(fields.len(), 6, "{account}");
            assert_eq!(fields[1], "KES");
            (fields[0].to_owned(), fields[3].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn account_balance_reflects_a_disbursement() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(config(50)).await;
    let url = receiver.url("/balance");
    let (status, ack) = sim
        .post(
            "/mpesa/accountbalance/v1/query",
            &sim.balance_query(SANDBOX_SHORTCODE, &url),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_ack(&ack);
    let (_, _, before) = receiver.next().await;
    let r = &before["Result"];
    assert_eq!(r["ResultType"], json!("0"));
    assert_eq!(r["ResultCode"], json!("0"));
    let p = params(&before);
    assert!(p["BOCompletedTime"].as_str().is_some_and(|t| t.len() == 14));
    let accounts = parse_account_balance(p["AccountBalance"].as_str().expect("string"));
    let names: Vec<&str> = p["AccountBalance"]
        .as_str()
        .unwrap_or("")
        .split('&')
        .filter_map(|a| a.split('|').next())
        .collect();
    assert_eq!(
        names,
        [
            "Working Account",
            "Float Account",
            "Utility Account",
            "Charges Paid Account",
            "Organization Settlement Account"
        ]
    );
    assert_eq!(accounts["Utility Account"], "1000000.00");
    assert_eq!(accounts["Working Account"], "500000.00");

    sim.post(
        "/mpesa/b2c/v3/paymentrequest",
        &sim.b2c("bal-1", CUSTOMER, 12_345, &url),
    )
    .await;
    receiver.next().await;
    sim.post(
        "/mpesa/accountbalance/v1/query",
        &sim.balance_query(SANDBOX_SHORTCODE, &url),
    )
    .await;
    let (_, _, after) = receiver.next().await;
    let accounts =
        parse_account_balance(params(&after)["AccountBalance"].as_str().expect("string"));
    assert_eq!(accounts["Utility Account"], "987655.00");
    assert_eq!(accounts["Utility Account"], sim.balance(SANDBOX_SHORTCODE));

    // Unknown shortcode: 21 asynchronously. Bad bearer: 401.002.01 with the token.
    sim.post(
        "/mpesa/accountbalance/v1/query",
        &sim.balance_query("123456", &url),
    )
    .await;
    let (_, _, result) = receiver.next().await;
    assert_eq!(result["Result"]["ResultCode"], json!(21), "{result}");
    let (status, resp) = sim
        .post_as(
            "/mpesa/accountbalance/v1/query",
            "expired-token",
            &sim.balance_query(SANDBOX_SHORTCODE, &url),
        )
        .await;
    assert_eq!(status, 401);
    assert_envelope(
        &resp,
        "401.002.01",
        "Error Occurred - Invalid Access Token - expired-token",
    );
    sim.stop();
}

fn register_body(receiver: &Receiver, response_type: &str) -> Value {
    json!({
        "ShortCode": SANDBOX_SHORTCODE,
        "ResponseType": response_type,
        "ConfirmationURL": receiver.url("/c2b/confirm"),
        "ValidationURL": receiver.url("/c2b/validate")
    })
}

fn simulate_body(msisdn: &str, amount: u64) -> Value {
    json!({
        "ShortCode": 174379, "CommandID": "CustomerPayBillOnline", "Amount": amount,
        "Msisdn": msisdn.parse::<u64>().unwrap_or_default(), "BillRefNumber": "INV-9"
    })
}

#[tokio::test]
async fn c2b_validation_then_confirmation() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(config(50)).await;
    let (status, ack) = sim
        .post(
            "/mpesa/c2b/v2/registerurl",
            &register_body(&receiver, "Completed"),
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["ResponseCode"], json!("0"));
    assert_eq!(ack["ResponseDescription"], json!("Success"));
    assert!(
        ack["OriginatorCoversationID"].is_string(),
        "Daraja's typo: {ack}"
    );
    assert_eq!(ack.as_object().map(|o| o.len()), Some(3));

    receiver.answer(
        "/c2b/validate",
        json!({"ResultCode": "0", "ResultDesc": "Accepted", "ThirdPartyTransID": "TP-42"}),
    );
    let (status, ack) = sim
        .post("/mpesa/c2b/v2/simulate", &simulate_body(CUSTOMER, 250))
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        ack["ResponseDescription"],
        json!("Accept the service request successfully.")
    );
    assert!(ack["OriginatorCoversationID"].is_string());

    let (path, _, validation) = receiver.next().await;
    assert_eq!(path, "/c2b/validate");
    let keys = [
        "TransactionType",
        "TransID",
        "TransTime",
        "TransAmount",
        "BusinessShortCode",
        "BillRefNumber",
        "InvoiceNumber",
        "OrgAccountBalance",
        "ThirdPartyTransID",
        "MSISDN",
        "FirstName",
        "MiddleName",
        "LastName",
    ];
    let object = validation.as_object().expect("object");
    assert_eq!(object.keys().count(), keys.len(), "{validation}");
    for key in keys {
        assert!(
            object.get(key).is_some_and(Value::is_string),
            "{key}: {validation}"
        );
    }
    assert_eq!(validation["TransactionType"], json!("Pay Bill"));
    assert_eq!(validation["TransAmount"], json!("250.00"));
    assert_eq!(validation["BusinessShortCode"], json!("174379"));
    assert_eq!(validation["BillRefNumber"], json!("INV-9"));
    assert_eq!(validation["OrgAccountBalance"], json!(""));
    assert_eq!(validation["MSISDN"], json!("25470****149"));
    assert_eq!(validation["FirstName"], json!("John"));
    assert!(validation["TransTime"]
        .as_str()
        .is_some_and(|t| t.len() == 14));

    let (path, _, confirmation) = receiver.next().await;
    assert_eq!(path, "/c2b/confirm");
    assert_eq!(confirmation["TransID"], validation["TransID"]);
    assert_eq!(confirmation["ThirdPartyTransID"], json!("TP-42"));
    assert_eq!(confirmation["OrgAccountBalance"], json!("1000250.00"));
    assert_eq!(sim.balance(SANDBOX_SHORTCODE), "1000250.00");
    assert_eq!(sim.balance(CUSTOMER), "99750.00");

    // The C2B receipt can be queried and reversed like any other.
    let trans_id = confirmation["TransID"]
        .as_str()
        .expect("TransID")
        .to_owned();
    let url = receiver.url("/r");
    sim.post(
        "/mpesa/reversal/v1/request",
        &sim.reversal(&trans_id, 250, &url),
    )
    .await;
    let (_, _, result) = receiver.next().await;
    assert_eq!(result["Result"]["ResultCode"], json!(0), "{result}");
    assert_eq!(sim.balance(CUSTOMER), "100000.00");

    // Bad token on C2B: 400.003.01; bad URL words; bad ResponseType.
    let (status, resp) = sim
        .post_as(
            "/mpesa/c2b/v2/registerurl",
            "nope",
            &register_body(&receiver, "Completed"),
        )
        .await;
    assert_eq!(status, 400);
    assert_envelope(&resp, "400.003.01", "Invalid Access Token");
    let mut body = register_body(&receiver, "completed");
    let (status, resp) = sim.post("/mpesa/c2b/v2/registerurl", &body).await;
    assert_eq!(status, 400);
    assert_envelope(&resp, "400.002.02", "Bad Request - Invalid ResponseType");
    body["ResponseType"] = json!("Completed");
    body["ConfirmationURL"] = json!("https://example.org/mpesa/confirm");
    let (status, resp) = sim.post("/mpesa/c2b/v2/registerurl", &body).await;
    assert_eq!(status, 400);
    assert_envelope(&resp, "400.002.02", "Bad Request - Invalid ConfirmationURL");
    sim.stop();
}

#[tokio::test]
async fn c2b_rejection_and_cancellation_stop_the_payment() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(SimulatorConfig {
        c2b_validation_timeout: Duration::from_millis(300),
        ..config(50)
    })
    .await;
    // v1 registration: callbacks carry a hashed MSISDN.
    sim.post(
        "/mpesa/c2b/v1/registerurl",
        &register_body(&receiver, "Completed"),
    )
    .await;
    receiver.answer(
        "/c2b/validate",
        json!({"ResultCode": "C2B00012", "ResultDesc": "Rejected"}),
    );
    let (status, _) = sim
        .post("/mpesa/c2b/v1/simulate", &simulate_body(CUSTOMER, 100))
        .await;
    assert_eq!(status, 200);
    let (path, _, validation) = receiver.next().await;
    assert_eq!(path, "/c2b/validate");
    let hashed = validation["MSISDN"].as_str().expect("MSISDN");
    assert_eq!(hashed.len(), 64, "{validation}");
    receiver.nothing_for(Duration::from_millis(300)).await;
    assert_eq!(sim.balance(CUSTOMER), "100000.00");
    assert_eq!(sim.balance(SANDBOX_SHORTCODE), "1000000.00");

    // Unreachable validation URL: ResponseType decides. Cancelled stops the payment…
    // A port held bound but not listening: connections to it are refused, and no other test can take it.
    let dead_socket = tokio::net::TcpSocket::new_v4().expect("socket");
    dead_socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let dead = format!(
        "http://{}/c2b/validate",
        dead_socket.local_addr().expect("addr")
    );
    let mut body = register_body(&receiver, "Cancelled");
    body["ValidationURL"] = json!(dead);
    sim.post("/mpesa/c2b/v2/registerurl", &body).await;
    sim.post("/mpesa/c2b/v2/simulate", &simulate_body(CUSTOMER, 100))
        .await;
    receiver.nothing_for(Duration::from_millis(600)).await;
    assert_eq!(sim.balance(CUSTOMER), "100000.00");
    // …Completed lets it through.
    body["ResponseType"] = json!("Completed");
    sim.post("/mpesa/c2b/v2/registerurl", &body).await;
    sim.post("/mpesa/c2b/v2/simulate", &simulate_body(CUSTOMER, 100))
        .await;
    let (path, _, confirmation) = receiver.next().await;
    assert_eq!(path, "/c2b/confirm");
    assert_eq!(confirmation["ThirdPartyTransID"], json!(""));
    assert_eq!(sim.balance(CUSTOMER), "99900.00");

    // A customer who cannot pay: nothing is sent.
    receiver.answer(
        "/c2b/validate",
        json!({"ResultCode": 0, "ResultDesc": "Accepted"}),
    );
    sim.post(
        "/mpesa/c2b/v2/simulate",
        &simulate_body("254700000002", 100),
    )
    .await;
    receiver.nothing_for(Duration::from_millis(300)).await;

    let (status, resp) = sim
        .post(
            "/mpesa/c2b/v2/simulate",
            &simulate_body("254812345678", 100),
        )
        .await;
    assert_eq!(status, 400);
    assert_envelope(&resp, "400.002.02", "Bad Request - Invalid Msisdn");
    sim.stop();
}

#[tokio::test]
async fn journal_replay_restores_balances_and_owed_results() {
    let path = temp_path("replay.jsonl");
    let mut receiver = Receiver::start().await;
    let journaled = |delay| SimulatorConfig {
        journal_path: Some(path.clone()),
        ..config(delay)
    };
    let url = receiver.url("/r");

    let first = Running::start(journaled(50)).await;
    // A B2C and a reversal of another one, delivered.
    first
        .post(
            "/mpesa/b2c/v3/paymentrequest",
            &first.b2c("j-1", CUSTOMER, 700, &url),
        )
        .await;
    receiver.next().await;
    first
        .post(
            "/mpesa/b2c/v3/paymentrequest",
            &first.b2c("j-2", CUSTOMER, 300, &url),
        )
        .await;
    let (_, _, result) = receiver.next().await;
    let receipt = result["Result"]["TransactionID"]
        .as_str()
        .expect("receipt")
        .to_owned();
    first
        .post(
            "/mpesa/reversal/v1/request",
            &first.reversal(&receipt, 300, &url),
        )
        .await;
    receiver.next().await;
    // A paid STK Push and a C2B payment.
    let stk = json!({
        "BusinessShortCode": 174379, "Password": GOLDEN_PASSWORD, "Timestamp": GOLDEN_TIMESTAMP,
        "TransactionType": "CustomerPayBillOnline", "Amount": "55", "PartyA": "254722000000",
        "PartyB": "174379", "PhoneNumber": "254722000000", "CallBackURL": receiver.url("/stk"),
        "AccountReference": "A", "TransactionDesc": "d"
    });
    assert_eq!(
        first.post("/mpesa/stkpush/v1/processrequest", &stk).await.0,
        200
    );
    receiver.next().await;
    first
        .post(
            "/mpesa/c2b/v2/registerurl",
            &register_body(&receiver, "Completed"),
        )
        .await;
    first
        .post("/mpesa/c2b/v2/simulate", &simulate_body("254733000000", 45))
        .await;
    receiver.next().await; // validation
    receiver.next().await; // confirmation
    tokio::time::sleep(Duration::from_millis(100)).await; // let CallbackDone be journaled

    let expected: Vec<(String, String)> = [
        CUSTOMER,
        "254722000000",
        "254733000000",
        SANDBOX_SHORTCODE,
        "174379:working",
    ]
    .iter()
    .map(|a| (a.to_string(), first.balance(a)))
    .collect();
    assert_eq!(first.balance(CUSTOMER), "100700.00");
    assert_eq!(first.balance(SANDBOX_SHORTCODE), "999400.00");
    // One more B2C whose result is still owed when the simulator stops.
    let mut slow = first.b2c("j-owed", "254711111111", 10, &url);
    slow["ResultURL"] = json!(receiver.url("/owed"));
    first.stop();
    let second = Running::start(journaled(5_000)).await;
    for (account, balance) in &expected {
        assert_eq!(&second.balance(account), balance, "{account}");
    }
    let (status, _) = second.post("/mpesa/b2c/v3/paymentrequest", &slow).await;
    assert_eq!(status, 200);
    // A repeat of a journaled OriginatorConversationID is still a duplicate.
    let (status, _) = second
        .post(
            "/mpesa/b2c/v3/paymentrequest",
            &second.b2c("j-1", CUSTOMER, 700, &url),
        )
        .await;
    assert_eq!(status, 500);
    second.stop();
    receiver.nothing_for(Duration::from_millis(200)).await;

    let third = Running::start(journaled(50)).await;
    assert_eq!(
        third.sim.refused_repeats().get(&url),
        Some(&1),
        "the refused repeat is read back from the journal"
    );
    let (path_hit, _, owed) = receiver.next().await;
    assert_eq!(
        path_hit, "/owed",
        "the owed result is sent after the restart"
    );
    assert_eq!(owed["Result"]["OriginatorConversationID"], json!("j-owed"));
    assert_eq!(third.balance("254711111111"), "100010.00");
    // The restored B2C is still known to Transaction Status and to Reversal (already reversed).
    third
        .post(
            "/mpesa/transactionstatus/v1/query",
            &third.status_query("OriginalConversationID", "j-1", &url),
        )
        .await;
    let (_, _, result) = receiver.next().await;
    assert_eq!(params(&result)["TransactionStatus"], json!("Completed"));
    third
        .post(
            "/mpesa/reversal/v1/request",
            &third.reversal(&receipt, 300, &url),
        )
        .await;
    let (_, _, result) = receiver.next().await;
    assert_eq!(result["Result"]["ResultCode"], json!("R000001"));
    receiver.nothing_for(Duration::from_millis(200)).await;
    third.stop();
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn customer_funds_can_be_enforced() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(SimulatorConfig {
        enforce_customer_funds: true,
        customer_opening_balance: 150.into(),
        ..config(50)
    })
    .await;
    let stk = json!({
        "BusinessShortCode": 174379, "Password": GOLDEN_PASSWORD, "Timestamp": GOLDEN_TIMESTAMP,
        "TransactionType": "CustomerBuyGoodsOnline", "Amount": 100, "PartyA": CUSTOMER,
        "PartyB": "174379", "PhoneNumber": CUSTOMER, "CallBackURL": receiver.url("/stk"),
        "AccountReference": "A", "TransactionDesc": "d"
    });
    for code in [0, 1] {
        assert_eq!(
            sim.post("/mpesa/stkpush/v1/processrequest", &stk).await.0,
            200
        );
        let (_, _, cb) = receiver.next().await;
        assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], json!(code), "{cb}");
    }
    assert_eq!(sim.balance(CUSTOMER), "50.00");
    assert_eq!(sim.balance(SANDBOX_SHORTCODE), "1000100.00");
    // A C2B payment beyond the balance is declined before the merchant hears of it.
    sim.post(
        "/mpesa/c2b/v2/registerurl",
        &register_body(&receiver, "Completed"),
    )
    .await;
    sim.post("/mpesa/c2b/v2/simulate", &simulate_body(CUSTOMER, 60))
        .await;
    receiver.nothing_for(Duration::from_millis(300)).await;
    // Money received by B2C can be spent.
    let url = receiver.url("/r");
    sim.post(
        "/mpesa/b2c/v3/paymentrequest",
        &sim.b2c("fund-1", CUSTOMER, 50, &url),
    )
    .await;
    receiver.next().await;
    assert_eq!(
        sim.post("/mpesa/stkpush/v1/processrequest", &stk).await.0,
        200
    );
    let (_, _, cb) = receiver.next().await;
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], json!(0), "{cb}");
    assert_eq!(sim.balance(CUSTOMER), "0.00");
    sim.stop();
}

#[tokio::test]
async fn customers_pay_without_end_by_default() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(SimulatorConfig {
        customer_opening_balance: 100.into(),
        ..config(20)
    })
    .await;
    let stk = json!({
        "BusinessShortCode": 174379, "Password": GOLDEN_PASSWORD, "Timestamp": GOLDEN_TIMESTAMP,
        "TransactionType": "CustomerPayBillOnline", "Amount": 100, "PartyA": CUSTOMER,
        "PartyB": "174379", "PhoneNumber": CUSTOMER, "CallBackURL": receiver.url("/stk"),
        "AccountReference": "A", "TransactionDesc": "d"
    });
    for _ in 0..3 {
        assert_eq!(
            sim.post("/mpesa/stkpush/v1/processrequest", &stk).await.0,
            200
        );
        let (_, _, cb) = receiver.next().await;
        assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], json!(0), "{cb}");
    }
    assert_eq!(sim.balance(CUSTOMER), "-200.00");
    // 254700000002 never has the funds.
    let mut broke = stk.clone();
    broke["PhoneNumber"] = json!("254700000002");
    sim.post("/mpesa/stkpush/v1/processrequest", &broke).await;
    let (_, _, cb) = receiver.next().await;
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], json!(1));
    assert_eq!(sim.balance("254700000002"), "100.00");
    sim.stop();
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let sim = Running::start(config(50)).await;
    let (status, resp) = sim.post("/mpesa/b2c/v2/paymentrequest", &json!({})).await;
    assert_eq!(status, 404);
    assert_envelope(&resp, "404.001.01", "Resource not found");
    let resp = sim
        .http
        .get(format!("{}/mpesa/accountbalance/v1/query", sim.base))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 405);
    let (status, resp) = sim
        .post_as("/mpesa/b2c/v3/paymentrequest", "nope", &json!({}))
        .await;
    assert_eq!(status, 404);
    assert_envelope(&resp, "404.001.03", "Invalid Access Token");
    let resp = sim
        .http
        .post(format!("{}/mpesa/b2b/v1/paymentrequest", sim.base))
        .bearer_auth(&sim.token)
        .body("{oops")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_envelope(&body, "400.002.05", "Invalid Request Payload");
    sim.stop();
}

fn invoice_body(external: &str, account: &str, amount: &str) -> Value {
    json!({
        "externalReference": external,
        "billedFullName": "John Doe",
        "billedPhoneNumber": "0708374149",
        "billedPeriod": "December 2026",
        "invoiceName": "Water",
        "dueDate": "2026-12-31 00:00:00.00",
        "accountReference": account,
        "amount": amount,
        "invoiceItems": [{"itemName": "Water", "amount": amount}]
    })
}

fn optin_body(receiver: &Receiver) -> Value {
    json!({"shortcode": SANDBOX_SHORTCODE, "email": "billing@example.com",
           "officialContact": "0708374149", "sendReminders": "1", "logo": "",
           "callbackurl": receiver.url("/billmanager/payment")})
}

#[tokio::test]
async fn bill_manager_pushes_payments_of_invoiced_accounts() {
    let mut receiver = Receiver::start().await;
    let sim = Running::start(config(50)).await;
    // Invoicing before opting in is refused.
    let (status, body) = sim
        .post(
            "/v1/billmanager-invoice/single-invoicing",
            &invoice_body("X-0", "INV-0", "100"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["rescode"], "400");

    let (status, body) = sim
        .post("/v1/billmanager-invoice/optin", &optin_body(&receiver))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rescode"], "200");
    assert_eq!(body["resmsg"], "Success");
    assert!(body["app_key"].as_str().is_some_and(|k| !k.is_empty()));

    let (status, body) = sim
        .post(
            "/v1/billmanager-invoice/single-invoicing",
            &invoice_body("X-1", "INV-1", "100"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Status_Message"], "Invoice sent successfully");
    // The same external reference again is refused; a bulk of two is taken whole.
    let (status, _) = sim
        .post(
            "/v1/billmanager-invoice/single-invoicing",
            &invoice_body("X-1", "INV-9", "100"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = sim
        .post(
            "/v1/billmanager-invoice/bulk-invoicing",
            &json!([
                invoice_body("X-2", "INV-2", "50"),
                invoice_body("X-3", "INV-3", "70")
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = sim
        .post(
            "/v1/billmanager-invoice/cancel-single-invoice",
            &json!({"externalReference": "X-2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The customer pays INV-1 from the phone: the biller is pushed the payment.
    let pay = |account: &str, amount: u64| {
        json!({"ShortCode": SANDBOX_SHORTCODE, "CommandID": "CustomerPayBillOnline", "Amount": amount,
               "Msisdn": CUSTOMER, "BillRefNumber": account})
    };
    let (status, _) = sim.post("/mpesa/c2b/v1/simulate", &pay("inv-1", 100)).await;
    assert_eq!(status, StatusCode::OK);
    let (path, _, push) = receiver.next().await;
    assert_eq!(path, "/billmanager/payment");
    assert_eq!(push["accountReference"], "inv-1");
    assert_eq!(push["shortCode"], SANDBOX_SHORTCODE);
    assert_eq!(push["paidAmount"], "100.00");
    assert_eq!(push["msisdn"], CUSTOMER);
    assert!(push["transactionId"]
        .as_str()
        .is_some_and(|t| t.len() == 10));
    assert!(push["dateCreated"].is_string());
    // A cancelled invoice and an account that was never invoiced are not pushed.
    sim.post("/mpesa/c2b/v1/simulate", &pay("INV-2", 10)).await;
    sim.post("/mpesa/c2b/v1/simulate", &pay("OTHER", 10)).await;
    receiver.nothing_for(Duration::from_millis(400)).await;
    // The biller acknowledges a payment.
    let (status, body) = sim
        .post(
            "/v1/billmanager-invoice/reconciliation",
            &json!({"paymentDate": "2026-12-02", "paidAmount": "100", "actualAmount": "100",
                    "TransactionId": push["transactionId"], "accountReference": "INV-1",
                    "invoiceName": "Water", "phoneNumber": "0708374149", "fullName": "John Doe",
                    "externalReference": "X-1", "Status": "Paid"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sim.stop();
}

/// Collects `n` requests, by path.
async fn collect(receiver: &mut Receiver, n: usize) -> HashMap<String, Vec<Value>> {
    let mut seen: HashMap<String, Vec<Value>> = HashMap::new();
    for _ in 0..n {
        let (path, _, body) = receiver.next().await;
        seen.entry(path).or_default().push(body);
    }
    seen
}

#[tokio::test]
async fn standing_orders_and_invoices_survive_a_restart_without_paying_twice() {
    let path = temp_path("ratiba-bills.jsonl");
    let mut receiver = Receiver::start().await;
    let journaled = || SimulatorConfig {
        journal_path: Some(path.clone()),
        ..config(50)
    };
    let today = (chrono::Utc::now() + chrono::Duration::hours(3)).date_naive();
    let standing_order = json!({
        "StandingOrderName": "Rent", "StartDate": today.format("%Y%m%d").to_string(),
        "EndDate": (today + chrono::Days::new(5)).format("%Y%m%d").to_string(),
        "BusinessShortCode": SANDBOX_SHORTCODE, "TransactionType": "Standing Order Customer Pay Bill",
        "ReceiverPartyIdentifierType": "4", "Amount": "10", "PartyA": CUSTOMER,
        "CallBackURL": receiver.url("/ratiba"), "AccountReference": "RENT", "TransactionDesc": "rent",
        "Frequency": "2"
    });

    let first = Running::start(journaled()).await;
    first
        .post(
            "/mpesa/c2b/v2/registerurl",
            &register_body(&receiver, "Completed"),
        )
        .await;
    let (status, ack) = first
        .post(
            "/standingorder/v1/createStandingOrderExternal",
            &standing_order,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    // The customer approves; the first payment (due today) is taken at once.
    let seen = collect(&mut receiver, 3).await;
    assert_eq!(seen["/ratiba"].len(), 1, "{seen:?}");
    assert_eq!(seen["/c2b/confirm"][0]["BillRefNumber"], "RENT");
    // One day later, the second.
    first.sim.advance_clock(Duration::from_secs(24 * 3600));
    let seen = collect(&mut receiver, 2).await;
    assert_eq!(seen["/c2b/confirm"].len(), 1, "{seen:?}");
    // Bill Manager: opted in, two invoices, one cancelled.
    first
        .post("/v1/billmanager-invoice/optin", &optin_body(&receiver))
        .await;
    let (status, _) = first
        .post(
            "/v1/billmanager-invoice/bulk-invoicing",
            &json!([
                invoice_body("X-1", "INV-1", "100"),
                invoice_body("X-2", "INV-2", "50")
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    first
        .post(
            "/v1/billmanager-invoice/cancel-single-invoice",
            &json!({"externalReference": "X-2"}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let customer = first.balance(CUSTOMER);
    assert_eq!(customer, "99980.00");
    first.stop();

    let second = Running::start(journaled()).await;
    // The clock is where it was, and no payment is taken again (the scheduler ticks every second).
    let clock = second.report("clock").await;
    assert_eq!(clock["offsetSeconds"], json!(24 * 3600), "{clock}");
    receiver.nothing_for(Duration::from_millis(1_500)).await;
    assert_eq!(second.balance(CUSTOMER), customer);
    // The standing order is still there: its name is taken, and the next day pays exactly once.
    let (status, body) = second
        .post(
            "/standingorder/v1/createStandingOrderExternal",
            &standing_order,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    second.sim.advance_clock(Duration::from_secs(24 * 3600));
    let seen = collect(&mut receiver, 2).await;
    assert_eq!(seen["/c2b/confirm"].len(), 1, "{seen:?}");
    receiver.nothing_for(Duration::from_millis(300)).await;
    assert_eq!(second.balance(CUSTOMER), "99970.00");
    // The invoices are still there: INV-1 is pushed when paid, the cancelled INV-2 is not, X-1 stays taken.
    let pay = |account: &str| {
        json!({"ShortCode": SANDBOX_SHORTCODE, "CommandID": "CustomerPayBillOnline", "Amount": 100,
               "Msisdn": CUSTOMER, "BillRefNumber": account})
    };
    second.post("/mpesa/c2b/v1/simulate", &pay("INV-1")).await;
    let seen = collect(&mut receiver, 3).await;
    assert_eq!(seen["/billmanager/payment"][0]["accountReference"], "INV-1");
    second.post("/mpesa/c2b/v1/simulate", &pay("INV-2")).await;
    let seen = collect(&mut receiver, 2).await;
    assert!(!seen.contains_key("/billmanager/payment"), "{seen:?}");
    let (status, _) = second
        .post(
            "/v1/billmanager-invoice/single-invoicing",
            &invoice_body("X-1", "INV-7", "100"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    second.stop();
    let _ = std::fs::remove_file(&path);
}

/// Pull Transactions: a shortcode registers once (`1000`, then `1001`), then lists the completed customer
/// payments into it between two dates (EAT), a page from `OffSetValue`; an unregistered shortcode is `400.001`.
#[tokio::test]
async fn pull_transactions_list_completed_c2b_payments() {
    let sim = Running::start(config(20)).await;
    let eat = chrono::FixedOffset::east_opt(3 * 3600).expect("EAT");
    let date = |offset_minutes: i64| {
        (chrono::Utc::now() + chrono::Duration::minutes(offset_minutes))
            .with_timezone(&eat)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let query = |offset: &str| {
        json!({"ShortCode": SANDBOX_SHORTCODE, "StartDate": date(-60), "EndDate": date(60),
               "OffSetValue": offset})
    };
    let (status, refused) = sim.post("/pulltransactions/v1/query", &query("0")).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errorCode"], "400.001", "{refused}");

    let register = json!({"ShortCode": SANDBOX_SHORTCODE, "RequestType": "Pull",
                          "NominatedNumber": CUSTOMER, "CallBackURL": "https://example.com/pull"});
    let (status, first) = sim.post("/pulltransactions/v1/register", &register).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["ResponseStatus"], "1000", "{first}");
    let (_, again) = sim.post("/pulltransactions/v1/register", &register).await;
    assert_eq!(again["ResponseStatus"], "1001", "{again}");

    // One after the other, each once completed: the list is oldest first, and two payments decided at the same
    // moment would have no order.
    let mut listed = Vec::new();
    for (count, amount) in [(1, 120), (2, 80)] {
        let (status, ack) = sim
            .post("/mpesa/c2b/v2/simulate", &simulate_body(CUSTOMER, amount))
            .await;
        assert_eq!(status, 200, "{ack}");
        for _ in 0..100 {
            let (status, answer) = sim.post("/pulltransactions/v1/query", &query("0")).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["ResponseCode"], "1000");
            listed = answer["Response"][0]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if listed.len() == count {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(listed.len(), count, "{listed:?}");
        // Completion times are in milliseconds: the next payment completes strictly later.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(listed[0]["amount"], "120.00");
    assert_eq!(listed[0]["billreference"], "INV-9");
    assert_eq!(listed[0]["transactiontype"], "c2b-pay-bill-debit");
    assert!(listed[0]["transactionId"].is_string());
    let (_, second_page) = sim.post("/pulltransactions/v1/query", &query("1")).await;
    assert_eq!(second_page["Response"][0].as_array().map(Vec::len), Some(1));
    assert_eq!(second_page["Response"][0][0]["amount"], "80.00");
    let (_, past_the_end) = sim.post("/pulltransactions/v1/query", &query("2")).await;
    assert_eq!(
        past_the_end["Response"][0].as_array().map(Vec::len),
        Some(0)
    );
    let (status, _) = sim
        .post(
            "/pulltransactions/v1/query",
            &json!({"ShortCode": SANDBOX_SHORTCODE, "StartDate": "yesterday", "EndDate": date(0)}),
        )
        .await;
    assert_eq!(status, 400);
    sim.stop();
}

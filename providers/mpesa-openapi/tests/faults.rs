//! Fault injection in the M-Pesa OpenAPI simulator, over real HTTP on 127.0.0.1: one test per fault kind, the
//! same decisions from the same seed, and the per-transaction submission counts.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use mmapi_mpesa_openapi::simulator::{
    Faults, OpenApiSimulator, SimulatorConfig, SANDBOX_API_KEY, SANDBOX_SERVICE_PROVIDER_CODE,
};
use rsa::{
    pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding},
    rand_core::OsRng,
    Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey,
};
use serde_json::{json, Value};

/// One key for every simulator of this test binary (generation takes a while).
fn sim_key_pem() -> String {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        RsaPrivateKey::new(&mut OsRng, 2048)
            .expect("key")
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pem")
            .to_string()
    })
    .clone()
}

fn encrypt(public_key_base64: &str, secret: &str) -> String {
    let der = STANDARD.decode(public_key_base64).expect("base64");
    let key = RsaPublicKey::from_public_key_der(&der).expect("der");
    STANDARD.encode(
        key.encrypt(&mut OsRng, Pkcs1v15Encrypt, secret.as_bytes())
            .expect("encrypt"),
    )
}

type Results = Arc<Mutex<Vec<(Instant, Value)>>>;

struct Sim {
    sim: OpenApiSimulator,
    base: String,
    http: reqwest::Client,
    public_key: String,
    results: Results,
}

/// A simulator with `faults` whose Tanzanian market answers asynchronously, to a local result listener.
async fn start(faults: Faults) -> Sim {
    let results: Results = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/results", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/results",
        axum::routing::post({
            let results = Arc::clone(&results);
            move |axum::Json(body): axum::Json<Value>| async move {
                let ack = json!({
                    "output_OriginalConversationID": body["input_OriginalConversationID"],
                    "output_ResponseCode": "0",
                    "output_ResponseDesc": "Successfully Accepted Result",
                    "output_ThirdPartyConversationID": body["input_ThirdPartyConversationID"],
                });
                results.lock().expect("lock").push((Instant::now(), body));
                axum::Json(ack)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sim = OpenApiSimulator::start(SimulatorConfig {
        rsa_private_key_pem: Some(sim_key_pem()),
        async_markets: vec!["vodacomTZN".into()],
        async_result_url: Some(url),
        result_delay: Duration::from_millis(50),
        faults,
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let public_key = sim.public_key_base64();
    Sim {
        sim,
        base,
        http: reqwest::Client::new(),
        public_key,
        results,
    }
}

impl Sim {
    fn url(&self, market: &str, api: &str) -> String {
        format!("{}/sandbox/ipg/v2/{market}/{api}", self.base)
    }

    /// A live session's bearer; `getSession/` is never faulted.
    async fn session(&self) -> String {
        let bearer = encrypt(&self.public_key, SANDBOX_API_KEY);
        let response = self
            .http
            .get(self.url("vodacomTZN", "getSession/"))
            .header("Origin", "*")
            .bearer_auth(bearer)
            .send()
            .await
            .expect("getSession");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        encrypt(
            &self.public_key,
            body["output_SessionID"].as_str().expect("session id"),
        )
    }

    fn c2b_request(&self, bearer: &str, market: &str, tpcid: &str) -> reqwest::RequestBuilder {
        let (country, currency, msisdn) = match market {
            "vodacomTZN" => ("TZN", "TZS", "000000000001"),
            _ => ("GHA", "GHS", "233244000111"),
        };
        self.http
            .post(self.url(market, "c2bPayment/singleStage/"))
            .bearer_auth(bearer)
            .header("Origin", "*")
            .json(&json!({
                "input_Amount": "10", "input_Country": country, "input_Currency": currency,
                "input_CustomerMSISDN": msisdn, "input_ServiceProviderCode": SANDBOX_SERVICE_PROVIDER_CODE,
                "input_ThirdPartyConversationID": tpcid, "input_TransactionReference": "T1234C",
                "input_PurchasedItemsDesc": "Shoes"
            }))
    }

    async fn c2b(&self, bearer: &str, market: &str, tpcid: &str) -> (u16, Value) {
        let response = self
            .c2b_request(bearer, market, tpcid)
            .send()
            .await
            .expect("c2b");
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    fn results(&self) -> Vec<(Instant, Value)> {
        self.results.lock().expect("lock").clone()
    }

    async fn wait_results(&self, n: usize, within: Duration) -> Vec<(Instant, Value)> {
        let deadline = Instant::now() + within;
        while self.results().len() < n {
            assert!(Instant::now() < deadline, "got {:?}", self.results());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.results()
    }
}

fn tpcid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[tokio::test]
async fn server_errors_answer_ins_16_and_process_nothing() {
    let sim = start(Faults {
        server_errors: 1.0,
        ..Faults::default()
    })
    .await;
    let bearer = sim.session().await;
    let (status, body) = sim.c2b(&bearer, "vodafoneGHA", &tpcid()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["output_ResponseCode"], "INS-16");
    assert_eq!(
        body["output_ResponseDesc"],
        "Unable to handle the request due to a temporary overloading"
    );
    assert_eq!(sim.sim.request_count(), 0);
    assert!(sim.sim.submissions().is_empty());
}

#[tokio::test]
async fn timeouts_process_the_call_but_answer_too_late() {
    let sim = start(Faults {
        timeouts: 1.0,
        timeout_ms: 1_500,
        ..Faults::default()
    })
    .await;
    let bearer = sim.session().await;
    let id = tpcid();
    let sent = sim
        .c2b_request(&bearer, "vodafoneGHA", &id)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(sent.as_ref().is_err_and(|e| e.is_timeout()), "{sent:?}");
    assert_eq!(sim.sim.request_count(), 1);
    assert_eq!(sim.sim.submissions().get(&id), Some(&1));
}

#[tokio::test]
async fn dropped_results_are_never_sent() {
    let sim = start(Faults {
        drop_callbacks: 1.0,
        ..Faults::default()
    })
    .await;
    let bearer = sim.session().await;
    let (status, body) = sim.c2b(&bearer, "vodacomTZN", &tpcid()).await;
    assert_eq!(status, 201, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sim.results().is_empty(), "{:?}", sim.results());
}

#[tokio::test]
async fn duplicated_results_come_twice() {
    let sim = start(Faults {
        duplicate_callbacks: 1.0,
        ..Faults::default()
    })
    .await;
    let bearer = sim.session().await;
    let id = tpcid();
    let (status, body) = sim.c2b(&bearer, "vodacomTZN", &id).await;
    assert_eq!(status, 201, "{body}");
    let results = sim.wait_results(2, Duration::from_secs(3)).await;
    assert_eq!(results[0].1, results[1].1);
    assert_eq!(results[0].1["input_ThirdPartyConversationID"], id.as_str());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sim.results().len(), 2);
    assert_eq!(sim.sim.submissions().get(&id), Some(&1));
}

#[tokio::test]
async fn delayed_results_come_late() {
    let sim = start(Faults {
        delay_callbacks: 1.0,
        callback_delay_ms: 700,
        ..Faults::default()
    })
    .await;
    let bearer = sim.session().await;
    let sent = Instant::now();
    let (status, body) = sim.c2b(&bearer, "vodacomTZN", &tpcid()).await;
    assert_eq!(status, 201, "{body}");
    let results = sim.wait_results(1, Duration::from_secs(3)).await;
    let after = results[0].0.duration_since(sent);
    assert!(after >= Duration::from_millis(750), "came after {after:?}");
}

async fn statuses(seed: u64, n: usize) -> Vec<u16> {
    let sim = start(Faults {
        seed,
        server_errors: 0.5,
        ..Faults::default()
    })
    .await;
    let bearer = sim.session().await;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(sim.c2b(&bearer, "vodafoneGHA", &tpcid()).await.0);
    }
    out
}

#[tokio::test]
async fn the_same_seed_makes_the_same_decisions_over_http() {
    let a = statuses(5, 24).await;
    assert_eq!(a, statuses(5, 24).await);
    assert!(a.contains(&201) && a.contains(&503), "{a:?}");
    assert_ne!(a, statuses(6, 24).await);
}

#[tokio::test]
async fn submissions_are_counted_per_third_party_conversation_id() {
    let sim = start(Faults::default()).await;
    let bearer = sim.session().await;
    let (a, b) = (tpcid(), tpcid());
    assert_eq!(sim.c2b(&bearer, "vodafoneGHA", &a).await.0, 201);
    assert_eq!(sim.c2b(&bearer, "vodafoneGHA", &b).await.0, 201);
    let (status, body) = sim.c2b(&bearer, "vodafoneGHA", &a).await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (409, Some("INS-10"))
    );
    let stats: Value = sim
        .http
        .get(format!("{}/__simulator/submissions", sim.base))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["submissions"][&a], 2, "{stats}");
    assert_eq!(stats["submissions"][&b], 1, "{stats}");
    // Sent twice, carried out once: the repeat was refused, so it is no duplicate.
    assert_eq!(stats["refusedRepeats"], json!({ &a: 1 }), "{stats}");
    assert_eq!(stats["duplicates"], json!([]));
    assert_eq!(sim.sim.refused_repeats().get(&a), Some(&1));
}

//! The OpenAPI simulator over real HTTP on loopback ports.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use mmapi_mpesa_openapi::simulator::{
    OpenApiSimulator, SimulatorConfig, SANDBOX_API_KEY, SANDBOX_SERVICE_PROVIDER_CODE,
};
use rsa::{
    pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding},
    rand_core::OsRng,
    Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey,
};
use serde_json::{json, Value};

/// One 4096-bit key for every simulator of this test binary (generation takes seconds).
fn sim_key_pem() -> String {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        RsaPrivateKey::new(&mut OsRng, 4096)
            .unwrap()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    })
    .clone()
}

fn encrypt(public_key_base64: &str, secret: &str) -> String {
    let der = STANDARD.decode(public_key_base64).unwrap();
    let key = RsaPublicKey::from_public_key_der(&der).unwrap();
    STANDARD.encode(
        key.encrypt(&mut OsRng, Pkcs1v15Encrypt, secret.as_bytes())
            .unwrap(),
    )
}

struct Sim {
    sim: OpenApiSimulator,
    base: String,
    http: reqwest::Client,
    public_key: String,
}

async fn start(config: SimulatorConfig) -> Sim {
    let sim = OpenApiSimulator::start(SimulatorConfig {
        rsa_private_key_pem: Some(sim_key_pem()),
        ..config
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let public_key = sim.public_key_base64();
    Sim {
        sim,
        base,
        http: reqwest::Client::new(),
        public_key,
    }
}

impl Sim {
    fn url(&self, market: &str, api: &str) -> String {
        format!("{}/sandbox/ipg/v2/{market}/{api}", self.base)
    }

    async fn get_session_with(&self, bearer: &str, origin: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .get(self.url("vodacomTZN", "getSession/"))
            .header("Content-Type", "application/json")
            .bearer_auth(bearer);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// A live session's bearer (the encrypted session id).
    async fn session(&self) -> String {
        let bearer = encrypt(&self.public_key, SANDBOX_API_KEY);
        let (status, body) = self.get_session_with(&bearer, Some("*")).await;
        assert_eq!(status, 200, "{body}");
        encrypt(&self.public_key, body["output_SessionID"].as_str().unwrap())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        bearer: &str,
        market: &str,
        api: &str,
        body: &Value,
    ) -> (u16, Value) {
        let response = self
            .http
            .request(method, self.url(market, api))
            .bearer_auth(bearer)
            .header("Origin", "*")
            .json(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn post(&self, bearer: &str, market: &str, api: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, bearer, market, api, body)
            .await
    }

    async fn query(
        &self,
        bearer: &str,
        market: &str,
        api: &str,
        params: &[(&str, &str)],
    ) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(market, api))
            .bearer_auth(bearer)
            .header("Origin", "*")
            .query(params)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }
}

fn tpcid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn c2b(msisdn: &str, amount: &str, tpcid: &str) -> Value {
    json!({
        "input_Amount": amount, "input_Country": "TZN", "input_Currency": "TZS",
        "input_CustomerMSISDN": msisdn, "input_ServiceProviderCode": SANDBOX_SERVICE_PROVIDER_CODE,
        "input_ThirdPartyConversationID": tpcid, "input_TransactionReference": "T1234C",
        "input_PurchasedItemsDesc": "Shoes"
    })
}

fn b2c(msisdn: &str, amount: &str, tpcid: &str) -> Value {
    json!({
        "input_Amount": amount, "input_Country": "TZN", "input_Currency": "TZS",
        "input_CustomerMSISDN": msisdn, "input_ServiceProviderCode": SANDBOX_SERVICE_PROVIDER_CODE,
        "input_ThirdPartyConversationID": tpcid, "input_TransactionReference": "T1234C",
        "input_PaymentItemsDesc": "Salary payment"
    })
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn session_bearer_is_684_chars_and_opens_a_session() {
    let sim = start(SimulatorConfig::default()).await;
    let bearer = encrypt(&sim.public_key, SANDBOX_API_KEY);
    assert_eq!(bearer.len(), 684);
    let (status, body) = sim.get_session_with(&bearer, Some("127.0.0.1")).await;
    assert_eq!(status, 200);
    assert_eq!(body["output_ResponseCode"], "INS-0");
    assert_eq!(
        body["output_ResponseDesc"],
        "Request processed successfully"
    );
    assert!(
        is_hex32(body["output_SessionID"].as_str().unwrap()),
        "{body}"
    );
}

#[tokio::test]
async fn session_refusals() {
    let sim = start(SimulatorConfig::default()).await;
    let good = encrypt(&sim.public_key, SANDBOX_API_KEY);
    // Missing Origin.
    let (status, body) = sim.get_session_with(&good, None).await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-989"))
    );
    // Encrypted with another key.
    let other = RsaPrivateKey::new(&mut OsRng, 2048)
        .unwrap()
        .to_public_key();
    let other_bearer = STANDARD.encode(
        other
            .encrypt(&mut OsRng, Pkcs1v15Encrypt, SANDBOX_API_KEY.as_bytes())
            .unwrap(),
    );
    let (status, body) = sim.get_session_with(&other_bearer, Some("*")).await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-989"))
    );
    // The wrong API key, and garbage.
    let wrong = encrypt(&sim.public_key, "6bc4157dbee34d409118e0978dc6dd17");
    let (status, body) = sim.get_session_with(&wrong, Some("*")).await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-989"))
    );
    let (status, _) = sim.get_session_with("not-base64!", Some("*")).await;
    assert_eq!(status, 400);
    // The API key itself (not a session) as the bearer of an API call.
    let (status, body) = sim
        .post(
            &good,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &c2b("000000000001", "10", &tpcid()),
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (401, Some("INS-2"))
    );
}

#[tokio::test]
async fn sessions_expire_and_activate_late() {
    let sim = start(SimulatorConfig {
        session_lifetime: Duration::from_millis(1200),
        session_activation_delay: Duration::from_millis(400),
        ..SimulatorConfig::default()
    })
    .await;
    let bearer = sim.session().await;
    let pay = |id: String| c2b("000000000001", "10", &id);
    let (status, body) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &pay(tpcid()),
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (401, Some("INS-2")),
        "not live yet"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &pay(tpcid()),
        )
        .await;
    assert_eq!(status, 201);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, body) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &pay(tpcid()),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["output_ResponseCode"], "INS-2");
    assert_eq!(body["output_ResponseDesc"], "Invalid API Key");
}

#[tokio::test]
async fn c2b_success_duplicate_and_scenarios() {
    let sim = start(SimulatorConfig::default()).await;
    let bearer = sim.session().await;
    let id = tpcid();
    let (status, body) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &c2b("255744553111", "100", &id),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["output_ResponseCode"], "INS-0");
    let txid = body["output_TransactionID"].as_str().unwrap();
    assert_eq!(txid.len(), 12);
    assert!(txid.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert!(is_hex32(body["output_ConversationID"].as_str().unwrap()));
    assert_eq!(body["output_ThirdPartyConversationID"], id.as_str());
    assert_eq!(
        sim.sim.balance_of("vodacomTZN", "255744553111").as_deref(),
        Some("999900.00")
    );
    assert_eq!(
        sim.sim.balance_of("TZN", "000000").as_deref(),
        Some("1000000100.00")
    );

    let (status, body) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &c2b("255744553111", "100", &id),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["output_ResponseCode"], "INS-10");
    assert_eq!(body["output_ResponseDesc"], "Duplicate Transaction");
    assert_eq!(body["output_TransactionID"], "N/A");
    assert_eq!(body["output_ThirdPartyConversationID"], id.as_str());

    for (msisdn, http, code) in [
        ("000000000001", 201, "INS-0"),
        ("000000000002", 408, "INS-9"),
        ("000000000004", 401, "INS-6"),
        ("000000000005", 400, "INS-1"),
        ("000000000007", 400, "INS-15"),
        ("000000000008", 422, "INS-2006"),
        ("000000000009", 503, "INS-16"),
    ] {
        let (status, body) = sim
            .post(
                &bearer,
                "vodacomTZN",
                "c2bPayment/singleStage/",
                &c2b(msisdn, "10", &tpcid()),
            )
            .await;
        assert_eq!(
            (status, body["output_ResponseCode"].as_str()),
            (http, Some(code)),
            "{msisdn}"
        );
    }
    // A real balance runs out too.
    let (status, body) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &c2b("255744553112", "2000000", &tpcid()),
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (422, Some("INS-2006"))
    );
    // The duplicate is not counted.
    assert_eq!(sim.sim.request_count(), 9);
}

#[tokio::test]
async fn validation_errors() {
    let sim = start(SimulatorConfig::default()).await;
    let bearer = sim.session().await;
    let api = "c2bPayment/singleStage/";
    let mut missing = c2b("255744553111", "10", &tpcid());
    missing
        .as_object_mut()
        .unwrap()
        .remove("input_TransactionReference");
    let cases = [
        (missing, "INS-20"),
        (c2b("255744553111", "ten", &tpcid()), "INS-15"),
        (c2b("233244553111", "10", &tpcid()), "INS-2051"),
        (json!({"input_Amount": 10}), "INS-21"),
    ];
    for (body, code) in cases {
        let (status, reply) = sim.post(&bearer, "vodacomTZN", api, &body).await;
        assert_eq!(
            (status, reply["output_ResponseCode"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    // The TZN body sent to Ghana: the country and currency belong to another market.
    let (status, reply) = sim
        .post(
            &bearer,
            "vodafoneGHA",
            api,
            &c2b("233244553111", "10", &tpcid()),
        )
        .await;
    assert_eq!(
        (status, reply["output_ResponseCode"].as_str()),
        (400, Some("INS-998"))
    );
    // Unknown market, wrong method, no trailing slash.
    let (status, reply) = sim
        .post(
            &bearer,
            "vodacomKEN",
            api,
            &c2b("255744553111", "10", &tpcid()),
        )
        .await;
    assert_eq!(
        (status, reply["output_ResponseCode"].as_str()),
        (400, Some("INS-998"))
    );
    let response = sim
        .http
        .get(sim.url("vodacomTZN", "b2cPayment/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let response = sim
        .http
        .post(sim.url("vodacomTZN", "b2cPayment"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(sim.sim.request_count(), 0);
}

#[tokio::test]
async fn b2c_b2b_reversal_and_status() {
    let sim = start(SimulatorConfig::default()).await;
    let bearer = sim.session().await;
    let (status, body) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "b2cPayment/",
            &b2c("255744553111", "500", &tpcid()),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        sim.sim.balance_of("vodacomTZN", "255744553111").as_deref(),
        Some("1000500.00")
    );
    assert_eq!(
        sim.sim.balance_of("vodacomTZN", "000000").as_deref(),
        Some("999999500.00")
    );

    let b2b = json!({
        "input_Amount": "250", "input_Country": "TZN", "input_Currency": "TZS",
        "input_PrimaryPartyCode": "000000", "input_ReceiverPartyCode": "000001",
        "input_ThirdPartyConversationID": tpcid(), "input_TransactionReference": "T12344C",
        "input_PurchasedItemsDesc": "Shoes"
    });
    let (status, body) = sim.post(&bearer, "vodacomTZN", "b2bPayment/", &b2b).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        sim.sim.balance_of("vodacomTZN", "000001").as_deref(),
        Some("1000000250.00")
    );

    // Pay, then reverse 40 of the 100.
    let pay_id = tpcid();
    let (_, body) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &c2b("255744553222", "100", &pay_id),
        )
        .await;
    let txid = body["output_TransactionID"].as_str().unwrap().to_owned();
    let reversal = |amount: Option<&str>, txid: &str| {
        let mut body = json!({
            "input_Country": "TZN", "input_ServiceProviderCode": "000000",
            "input_ThirdPartyConversationID": tpcid(), "input_TransactionID": txid
        });
        if let Some(amount) = amount {
            body["input_ReversalAmount"] = json!(amount);
        }
        body
    };
    let (status, body) = sim
        .send(
            reqwest::Method::PUT,
            &bearer,
            "vodacomTZN",
            "reversal/",
            &reversal(Some("40"), &txid),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["output_ResponseCode"], "INS-0");
    assert_ne!(body["output_TransactionID"].as_str(), Some(txid.as_str()));
    assert_eq!(
        sim.sim.balance_of("vodacomTZN", "255744553222").as_deref(),
        Some("999940.00")
    );
    // The rest, then nothing is left.
    let (status, _) = sim
        .send(
            reqwest::Method::PUT,
            &bearer,
            "vodacomTZN",
            "reversal/",
            &reversal(None, &txid),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        sim.sim.balance_of("vodacomTZN", "255744553222").as_deref(),
        Some("1000000.00")
    );
    let (status, body) = sim
        .send(
            reqwest::Method::PUT,
            &bearer,
            "vodacomTZN",
            "reversal/",
            &reversal(None, &txid),
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (401, Some("INS-6"))
    );
    let (status, body) = sim
        .send(
            reqwest::Method::PUT,
            &bearer,
            "vodacomTZN",
            "reversal/",
            &reversal(None, "NoSuchTxn1"),
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-18"))
    );
    // Reversal is PUT only.
    let response = sim
        .http
        .post(sim.url("vodacomTZN", "reversal/"))
        .bearer_auth(&bearer)
        .json(&reversal(None, &txid))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);

    // Status by ThirdPartyConversationID and by transaction id.
    for reference in [pay_id.as_str(), txid.as_str()] {
        let (status, body) = sim
            .query(
                &bearer,
                "vodacomTZN",
                "queryTransactionStatus/",
                &[
                    ("input_QueryReference", reference),
                    ("input_ServiceProviderCode", "000000"),
                    ("input_ThirdPartyConversationID", &tpcid()),
                    ("input_Country", "TZN"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["output_ResponseCode"], "INS-0");
        assert_eq!(body["output_ResponseTransactionStatus"], "Completed");
        assert_eq!(body["output_OriginalTransactionID"], txid.as_str());
        assert_eq!(body["output_Reversed"], "True");
    }
    let (status, body) = sim
        .query(
            &bearer,
            "vodacomTZN",
            "queryTransactionStatus/",
            &[
                ("input_QueryReference", "unknown0001"),
                ("input_ServiceProviderCode", "000000"),
                ("input_ThirdPartyConversationID", &tpcid()),
                ("input_Country", "TZN"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-23"))
    );
}

#[tokio::test]
async fn ghana_beneficiary_name() {
    let sim = start(SimulatorConfig::default()).await;
    let bearer = sim.session().await;
    let id = tpcid();
    let (status, body) = sim
        .query(
            &bearer,
            "vodafoneGHA",
            "queryBeneficiaryName/",
            &[
                ("input_CustomerMSISDN", "000000000001"),
                ("input_Country", "GHA"),
                ("input_ServiceProviderCode", "000000"),
                ("input_ThirdPartyConversationID", &id),
                ("input_KYCQueryType", "Name"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output_CustomerFirstName"], "Jiazhen");
    assert_eq!(body["output_CustomerLastName"], "Wuu");
    assert_eq!(body["output_ThirdPartyConversationID"], id.as_str());
    let (status, body) = sim
        .query(
            &bearer,
            "vodafoneGHA",
            "queryBeneficiaryName/",
            &[
                ("input_CustomerMSISDN", "233244553111"),
                ("input_Country", "GHA"),
                ("input_ServiceProviderCode", "000000"),
                ("input_ThirdPartyConversationID", &tpcid()),
                ("input_KycQueryType", "Address"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-32"))
    );
    let (status, body) = sim
        .query(
            &bearer,
            "vodacomTZN",
            "queryBeneficiaryName/",
            &[
                ("input_CustomerMSISDN", "255744553111"),
                ("input_Country", "TZN"),
                ("input_ServiceProviderCode", "000000"),
                ("input_ThirdPartyConversationID", &tpcid()),
                ("input_KycQueryType", "Name"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-997"))
    );
}

#[tokio::test]
async fn async_market_posts_the_result() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/results", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/results",
        axum::routing::post({
            let received = Arc::clone(&received);
            move |axum::Json(body): axum::Json<Value>| async move {
                let ack = json!({
                    "output_OriginalConversationID": body["input_OriginalConversationID"],
                    "output_ResponseCode": "0",
                    "output_ResponseDesc": "Successfully Accepted Result",
                    "output_ThirdPartyConversationID": body["input_ThirdPartyConversationID"],
                });
                received.lock().unwrap().push(body);
                axum::Json(ack)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sim = start(SimulatorConfig {
        async_markets: vec!["vodacomTZN".into()],
        async_result_url: Some(url),
        result_delay: Duration::from_millis(50),
        ..SimulatorConfig::default()
    })
    .await;
    let bearer = sim.session().await;
    let id = tpcid();
    let (status, body) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &c2b("000000000008", "10", &id),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["output_ResponseCode"], "INS-0");
    assert!(body.get("output_TransactionID").is_none(), "{body}");
    let conversation = body["output_ConversationID"].as_str().unwrap().to_owned();
    let ok_id = tpcid();
    let (status, _) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &c2b("000000000001", "10", &ok_id),
        )
        .await;
    assert_eq!(status, 201);
    for _ in 0..100 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let results = received.lock().unwrap().clone();
    assert_eq!(results.len(), 2, "{results:?}");
    let failed = results
        .iter()
        .find(|r| r["input_ThirdPartyConversationID"] == id.as_str())
        .unwrap();
    assert_eq!(
        failed["input_OriginalConversationID"],
        conversation.as_str()
    );
    assert_eq!(failed["input_ResultCode"], "INS-2006");
    assert_eq!(failed["input_TransactionID"], "N/A");
    let ok = results
        .iter()
        .find(|r| r["input_ThirdPartyConversationID"] == ok_id.as_str())
        .unwrap();
    assert_eq!(ok["input_ResultCode"], "INS-0");
    assert_eq!(ok["input_ResultDesc"], "Request processed successfully");
    assert_eq!(ok["input_TransactionID"].as_str().unwrap().len(), 12);
}

#[tokio::test]
async fn direct_debit_mandate_payment_query_cancel() {
    let sim = start(SimulatorConfig::default()).await;
    let bearer = sim.session().await;
    let market = "vodafoneGHA";
    let create = |frequency: &str, start: &str| {
        json!({
            "input_AgreedTC": "1", "input_Country": "GHA", "input_CustomerMSISDN": "233244000111",
            "input_EndRangeOfDays": if start.is_empty() { "" } else { "22" },
            "input_ExpiryDate": "20301126", "input_FirstPaymentDate": "20260324",
            "input_Frequency": frequency, "input_ServiceProviderCode": "000000",
            "input_StartRangeOfDays": start, "input_ThirdPartyConversationID": tpcid(),
            "input_ThirdPartyReference": "3333"
        })
    };
    // Ranges are not allowed for weekly mandates.
    let (status, body) = sim
        .post(&bearer, market, "directDebitCreation/", &create("03", "01"))
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-41")),
        "{body}"
    );
    let (status, body) = sim
        .post(&bearer, market, "directDebitCreation/", &create("11", ""))
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-40"))
    );
    let request = create("06", "01");
    let (status, body) = sim
        .post(&bearer, market, "directDebitCreation/", &request)
        .await;
    assert_eq!(status, 201, "{body}");
    let token = body["output_MsisdnToken"].as_str().unwrap().to_owned();
    let mandate = body["output_MandateID"].as_str().unwrap().to_owned();
    assert_eq!(
        body["output_TransactionReference"].as_str().unwrap().len(),
        32
    );
    let (status, body) = sim
        .post(&bearer, market, "directDebitCreation/", &request)
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (409, Some("INS-10"))
    );
    assert_eq!(body["output_TransactionReference"], "N/A");

    // Pay by token.
    let pay = json!({
        "input_Amount": "15", "input_Country": "GHA", "input_Currency": "GHS",
        "input_MsisdnToken": token, "input_ServiceProviderCode": "000000",
        "input_ThirdPartyConversationID": tpcid(), "input_ThirdPartyReference": "3333",
        "input_MandateID": mandate
    });
    let (status, body) = sim.post(&bearer, market, "directDebitPayment/", &pay).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["output_MsisdnToken"], token.as_str());
    assert_eq!(body["output_TransactionID"].as_str().unwrap().len(), 12);
    assert_eq!(
        sim.sim.balance_of("GHA", "233244000111").as_deref(),
        Some("999985.00")
    );
    // A token of another MSISDN.
    let mut mismatch = pay.clone();
    mismatch["input_CustomerMSISDN"] = json!("233244000999");
    mismatch["input_ThirdPartyConversationID"] = json!(tpcid());
    let (status, body) = sim
        .post(&bearer, market, "directDebitPayment/", &mismatch)
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-50"))
    );

    let (status, body) = sim
        .query(
            &bearer,
            market,
            "queryDirectDebit/",
            &[
                ("input_QueryBalanceAmount", "True"),
                ("input_BalanceAmount", "100"),
                ("input_Country", "GHA"),
                ("input_CustomerMSISDN", "233244000111"),
                ("input_ServiceProviderCode", "000000"),
                ("input_ThirdPartyConversationID", &tpcid()),
                ("input_ThirdPartyReference", "3333"),
                ("input_MandateID", &mandate),
                ("input_Currency", "GHS"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output_SufficientBalance"], "True");
    assert_eq!(body["output_MandateStatus"], "Active");
    assert_eq!(body["output_Frequency"], "06");
    assert_eq!(body["output_PaymentDayFrom"], "01");

    let cancel = json!({
        "input_MsisdnToken": token, "input_Country": "GHA", "input_ServiceProviderCode": "000000",
        "input_ThirdPartyReference": "3333", "input_ThirdPartyConversationID": tpcid(),
        "input_MandateID": mandate
    });
    let (status, body) = sim
        .send(
            reqwest::Method::PUT,
            &bearer,
            market,
            "directDebitCancel/",
            &cancel,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut again = cancel.clone();
    again["input_ThirdPartyConversationID"] = json!(tpcid());
    let (status, body) = sim
        .send(
            reqwest::Method::PUT,
            &bearer,
            market,
            "directDebitCancel/",
            &again,
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (401, Some("INS-6"))
    );
    assert_eq!(body["output_ResponseDesc"], "Mandate does not exist");
    let mut late = pay.clone();
    late["input_ThirdPartyConversationID"] = json!(tpcid());
    let (status, body) = sim
        .post(&bearer, market, "directDebitPayment/", &late)
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-58"))
    );
}

#[tokio::test]
async fn standalone_serve_answers() {
    let pem = sim_key_pem();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = SimulatorConfig {
        rsa_private_key_pem: Some(pem.clone()),
        ..SimulatorConfig::default()
    };
    tokio::spawn(mmapi_mpesa_openapi::simulator::serve(config, listener));
    // The same key gives the same public key.
    let twin = OpenApiSimulator::start(SimulatorConfig {
        rsa_private_key_pem: Some(pem),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let bearer = encrypt(&twin.public_key_base64(), SANDBOX_API_KEY);
    let response = reqwest::Client::new()
        .get(format!("{base}/openapi/ipg/v2/vodacomMOZ/getSession/"))
        .bearer_auth(bearer)
        .header("Origin", "developer.mpesa.vm.co.mz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "*",
        "as the recorded sandbox answers"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["output_ResponseCode"], "INS-0");
}

#[tokio::test]
async fn a_restarted_simulator_replays_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("sandbox").join("openapi.journal");
    let config = || SimulatorConfig {
        journal_path: Some(journal.clone()),
        ..SimulatorConfig::default()
    };
    let status_of = |sim: &Sim, bearer: String, reference: String| {
        let (http, url) = (
            sim.http.clone(),
            sim.url("vodacomTZN", "queryTransactionStatus/"),
        );
        async move {
            let response = http
                .get(url)
                .bearer_auth(bearer)
                .query(&[
                    ("input_QueryReference", reference.as_str()),
                    ("input_ServiceProviderCode", "000000"),
                    ("input_ThirdPartyConversationID", &tpcid()),
                    ("input_Country", "TZN"),
                ])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let (paid, refused) = (tpcid(), tpcid());
    let transaction_id = {
        let sim = start(config()).await;
        let bearer = sim.session().await;
        let (status, body) = sim
            .post(
                &bearer,
                "vodacomTZN",
                "c2bPayment/singleStage/",
                &c2b("255744553222", "100", &paid),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, _) = sim
            .post(
                &bearer,
                "vodacomTZN",
                "c2bPayment/singleStage/",
                &c2b("255744553222", "100", &paid),
            )
            .await;
        assert_eq!(status, 409);
        let (status, body) = sim
            .post(
                &bearer,
                "vodacomTZN",
                "c2bPayment/singleStage/",
                &c2b("000000000004", "7", &refused),
            )
            .await;
        assert_eq!(status, 401, "{body}");
        let (_, body) = status_of(&sim, bearer, paid.clone()).await;
        body["output_OriginalTransactionID"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // A kill mid-write leaves a torn last line.
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap();
        file.write_all(br#"{"event":"transaction","kind":"c2"#)
            .unwrap();
    }

    let sim = start(config()).await;
    let bearer = sim.session().await;
    let (status, body) = status_of(&sim, bearer.clone(), paid.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output_ResponseTransactionStatus"], "Completed");
    assert_eq!(
        body["output_OriginalTransactionID"],
        transaction_id.as_str()
    );
    let (status, body) = status_of(&sim, bearer.clone(), refused.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output_ResponseTransactionStatus"], "Cancelled");
    // Balances, duplicates and submission counts survive.
    assert_eq!(
        sim.sim.balance_of("vodacomTZN", "255744553222").as_deref(),
        Some("999900.00")
    );
    assert_eq!(
        sim.sim.balance_of("vodacomTZN", "000000").as_deref(),
        Some("1000000100.00")
    );
    let (status, _) = sim
        .post(
            &bearer,
            "vodacomTZN",
            "c2bPayment/singleStage/",
            &c2b("255744553222", "100", &paid),
        )
        .await;
    assert_eq!(status, 409);
    let counts = sim.sim.submissions();
    assert_eq!(counts.get(&paid), Some(&3));
    assert_eq!(counts.get(&refused), Some(&1));
    let ledger: Value = sim
        .http
        .get(format!("{}/__simulator/ledger", sim.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger["balances"]["vodacomTZN:000000"], "1000000100.00");
    assert_eq!(ledger["balances"]["vodacomTZN:255744553222"], "999900.00");
    assert_eq!(ledger["customerOpening"], "1000000.00");
    assert_eq!(
        (
            ledger["transactions"].as_u64(),
            ledger["completed"].as_u64()
        ),
        (Some(2), Some(1))
    );
}

#[tokio::test]
async fn mandates_survive_a_restart_of_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("openapi.journal");
    let config = || SimulatorConfig {
        journal_path: Some(journal.clone()),
        ..SimulatorConfig::default()
    };
    let market = "vodacomTZN";
    let creation = |tpcid: &str, reference: &str| {
        json!({
            "input_AgreedTC": "1", "input_Country": "TZN", "input_CustomerMSISDN": "255744553333",
            "input_FirstPaymentDate": "20261201", "input_Frequency": "08",
            "input_ServiceProviderCode": "000000", "input_ThirdPartyConversationID": tpcid,
            "input_ThirdPartyReference": reference
        })
    };
    let first_tpcid = tpcid();
    let (token, mandate_id, cancelled_id) = {
        let sim = start(config()).await;
        let bearer = sim.session().await;
        let (status, first) = sim
            .post(
                &bearer,
                market,
                "directDebitCreation/",
                &creation(&first_tpcid, "mandate42"),
            )
            .await;
        assert_eq!(status, 201, "{first}");
        // A second mandate, cancelled before the restart.
        let (status, second) = sim
            .post(
                &bearer,
                market,
                "directDebitCreation/",
                &creation(&tpcid(), "mandate43"),
            )
            .await;
        assert_eq!(status, 201, "{second}");
        let cancel = json!({
            "input_Country": "TZN", "input_CustomerMSISDN": "255744553333",
            "input_ServiceProviderCode": "000000", "input_ThirdPartyConversationID": tpcid(),
            "input_ThirdPartyReference": "mandate43", "input_MandateID": second["output_MandateID"]
        });
        let (status, body) = sim
            .send(
                reqwest::Method::PUT,
                &bearer,
                market,
                "directDebitCancel/",
                &cancel,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let text = |v: &Value, k: &str| v[k].as_str().unwrap().to_owned();
        (
            text(&first, "output_MsisdnToken"),
            text(&first, "output_MandateID"),
            text(&second, "output_MandateID"),
        )
    };

    let sim = start(config()).await;
    let bearer = sim.session().await;
    // The creation's ThirdPartyConversationID stays used.
    let (status, body) = sim
        .post(
            &bearer,
            market,
            "directDebitCreation/",
            &creation(&first_tpcid, "mandate44"),
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (409, Some("INS-10"))
    );
    // The mandate, its ID and its token are known: a payment by token goes through.
    let pay = json!({
        "input_Amount": "1500", "input_Country": "TZN", "input_Currency": "TZS",
        "input_MsisdnToken": token, "input_ServiceProviderCode": "000000",
        "input_ThirdPartyConversationID": tpcid(), "input_ThirdPartyReference": "mandate42",
        "input_MandateID": mandate_id
    });
    let (status, body) = sim.post(&bearer, market, "directDebitPayment/", &pay).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = sim
        .query(
            &bearer,
            market,
            "queryDirectDebit/",
            &[
                ("input_QueryBalanceAmount", "False"),
                ("input_Country", "TZN"),
                ("input_CustomerMSISDN", "255744553333"),
                ("input_ServiceProviderCode", "000000"),
                ("input_ThirdPartyConversationID", &tpcid()),
                ("input_ThirdPartyReference", "mandate42"),
                ("input_Currency", "TZS"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output_MandateID"], mandate_id.as_str());
    // The cancelled one stays cancelled, and new mandates get new IDs.
    let (status, body) = sim
        .query(
            &bearer,
            market,
            "queryDirectDebit/",
            &[
                ("input_QueryBalanceAmount", "False"),
                ("input_Country", "TZN"),
                ("input_CustomerMSISDN", "255744553333"),
                ("input_ServiceProviderCode", "000000"),
                ("input_ThirdPartyConversationID", &tpcid()),
                ("input_ThirdPartyReference", "mandate43"),
                ("input_Currency", "TZS"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["output_ResponseCode"].as_str()),
        (400, Some("INS-58")),
        "{body}"
    );
    let (status, body) = sim
        .post(
            &bearer,
            market,
            "directDebitCreation/",
            &creation(&tpcid(), "mandate45"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let new_id: u64 = body["output_MandateID"].as_str().unwrap().parse().unwrap();
    assert!(new_id > cancelled_id.parse::<u64>().unwrap(), "{new_id}");
}

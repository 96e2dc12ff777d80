//! The adapter against the simulator, over real HTTP on loopback ports.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use base64::{engine::general_purpose::STANDARD, Engine as _};
use mmapi_core::model::{Transaction, TransactionRequest, TransactionType};
use mmapi_core::provider::{
    DispatchContext, EventError, EventReceipt, EventSink, IncomingPayment, Outcome, Provider,
    ProviderError, ProviderEvent, Submitted,
};
use mmapi_core::{ErrorCode, Secret, Timestamp};
use mmapi_mpesa_openapi::simulator::{
    OpenApiSimulator, SimulatorConfig, SANDBOX_API_KEY, SANDBOX_SERVICE_PROVIDER_CODE,
};
use mmapi_mpesa_openapi::{MarketConfig, OpenApiConfig, OpenApiProvider};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::rand_core::OsRng;
use rsa::RsaPrivateKey;
use serde_json::json;

/// One key for every simulator of this test binary.
fn sim_key_pem() -> String {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        RsaPrivateKey::new(&mut OsRng, 2048)
            .unwrap()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .to_string()
    })
    .clone()
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

async fn simulator(config: SimulatorConfig) -> (OpenApiSimulator, String) {
    let sim = OpenApiSimulator::start(SimulatorConfig {
        rsa_private_key_pem: Some(sim_key_pem()),
        ..config
    })
    .await
    .unwrap();
    let base = serve(sim.router()).await;
    (sim, base)
}

fn market(base: &str, public_key: String) -> MarketConfig {
    MarketConfig {
        market: "vodacomTZN".into(),
        base_url: base.into(),
        environment: "sandbox".into(),
        api_key: Secret::new(SANDBOX_API_KEY),
        public_key,
        service_provider_code: SANDBOX_SERVICE_PROVIDER_CODE.into(),
        origin: "*".into(),
        session_lifetime_secs: 3600,
        session_activation_delay_ms: 0,
        async_mode: false,
        request_timeout_ms: 5_000,
        result_deadline_secs: 30,
    }
}

fn provider(market: MarketConfig) -> OpenApiProvider {
    OpenApiProvider::new(
        OpenApiConfig {
            markets: vec![market],
        },
        "http://127.0.0.1:1/callbacks/mpesa-openapi",
    )
    .unwrap()
}

fn tx(kind: TransactionType, body: serde_json::Value) -> Transaction {
    let request: TransactionRequest = serde_json::from_value(body).unwrap();
    Transaction::pending(
        uuid::Uuid::new_v4().simple().to_string(),
        kind,
        request,
        Timestamp::now(),
    )
}

fn merchantpay(payer: &str, amount: &str) -> Transaction {
    tx(
        TransactionType::Merchantpay,
        json!({"amount": amount, "currency": "TZS",
            "debitParty": [{"key": "msisdn", "value": payer}],
            "creditParty": [{"key": "organisationid", "value": SANDBOX_SERVICE_PROVIDER_CODE}],
            "descriptionText": "Shoes"}),
    )
}

fn completed(s: &Submitted) -> String {
    match &s.outcome {
        Outcome::Completed(c) => c.receipt.clone().expect("a receipt"),
        other => panic!("not completed: {other:?}"),
    }
}

#[tokio::test]
async fn a_tzs_merchant_payment_completes_synchronously() {
    let (sim, base) = simulator(SimulatorConfig::default()).await;
    let p = provider(market(&base, sim.public_key_base64()));
    let t = merchantpay("000000000001", "1500");
    let s = p.submit(&t, &DispatchContext::default()).await.unwrap();
    let receipt = completed(&s);
    assert_eq!(s.refs.reference.len(), 32, "the ConversationID");
    assert_eq!(s.refs.extra["TransactionID"], receipt);

    // A market number pays from its balance.
    let before = sim.balance_of("vodacomTZN", "255712345678").unwrap();
    let t2 = merchantpay("+255712345678", "1000");
    completed(&p.submit(&t2, &DispatchContext::default()).await.unwrap());
    let after = sim.balance_of("vodacomTZN", "255712345678").unwrap();
    let diff: f64 = before.parse::<f64>().unwrap() - after.parse::<f64>().unwrap();
    assert_eq!(diff, 1000.0);

    // The status query agrees.
    let outcome = p.status(&t, &s.refs).await.unwrap();
    assert!(matches!(outcome, Outcome::Completed(_)), "{outcome:?}");
}

#[tokio::test]
async fn insufficient_balance_fails_and_a_duplicate_is_refused() {
    let (sim, base) = simulator(SimulatorConfig::default()).await;
    let p = provider(market(&base, sim.public_key_base64()));
    let t = merchantpay("000000000008", "1500");
    let s = p.submit(&t, &DispatchContext::default()).await.unwrap();
    match s.outcome {
        Outcome::Failed(f) => {
            assert_eq!(f.error.error_code, ErrorCode::InsufficientFunds);
            assert_eq!(f.provider_code, "INS-2006");
        }
        other => panic!("{other:?}"),
    }
    let ok = merchantpay("000000000001", "10");
    completed(&p.submit(&ok, &DispatchContext::default()).await.unwrap());
    match p.submit(&ok, &DispatchContext::default()).await {
        Err(ProviderError::Rejected(f)) => {
            assert_eq!(f.error.error_code, ErrorCode::DuplicateRequest)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn disbursement_transfer_and_reversal_complete() {
    let (sim, base) = simulator(SimulatorConfig::default()).await;
    let p = provider(market(&base, sim.public_key_base64()));
    let before = sim.balance_of("vodacomTZN", "255754000111").unwrap();
    let d = tx(
        TransactionType::Disbursement,
        json!({"amount": "2500", "currency": "TZS",
            "creditParty": [{"key": "msisdn", "value": "0754000111"}]}),
    );
    completed(&p.submit(&d, &DispatchContext::default()).await.unwrap());
    let after = sim.balance_of("vodacomTZN", "255754000111").unwrap();
    assert_eq!(
        after.parse::<f64>().unwrap() - before.parse::<f64>().unwrap(),
        2500.0
    );

    let t = tx(
        TransactionType::Transfer,
        json!({"amount": "700", "currency": "TZS",
            "debitParty": [{"key": "organisationid", "value": SANDBOX_SERVICE_PROVIDER_CODE}],
            "creditParty": [{"key": "organisationid", "value": "000001"}]}),
    );
    completed(&p.submit(&t, &DispatchContext::default()).await.unwrap());

    let mut original = merchantpay("255712345670", "300");
    let s = p
        .submit(&original, &DispatchContext::default())
        .await
        .unwrap();
    original.transaction_receipt = Some(completed(&s));
    let reversal = tx(
        TransactionType::Reversal,
        json!({"amount": "300", "currency": "TZS"}),
    );
    let context = DispatchContext {
        original: Some((original, s.refs)),
        ..Default::default()
    };
    completed(&p.submit(&reversal, &context).await.unwrap());
}

/// A transaction left in doubt goes again under the same `input_ThirdPartyConversationID`: carried out when the
/// first request never arrived, refused as a duplicate (INS-10, nothing moves) when it did. A customer's USSD
/// prompt is never sent again.
#[tokio::test]
async fn a_resend_carries_out_a_lost_request_once_and_never_prompts_a_customer_again() {
    let (sim, base) = simulator(SimulatorConfig::default()).await;
    let p = provider(market(&base, sim.public_key_base64()));
    let payout = |msisdn: &str| {
        tx(
            TransactionType::Disbursement,
            json!({"amount": "1200", "currency": "TZS",
                "creditParty": [{"key": "msisdn", "value": msisdn}]}),
        )
    };
    let context = DispatchContext::default();

    // The first request never reached M-Pesa: the resend pays.
    let lost = payout("0754000222");
    let before = sim.balance_of("vodacomTZN", "255754000222").unwrap();
    completed(&p.resend(&lost, &context).await.unwrap());
    let after = sim.balance_of("vodacomTZN", "255754000222").unwrap();
    assert_eq!(
        after.parse::<f64>().unwrap() - before.parse::<f64>().unwrap(),
        1200.0
    );

    // It did: the resend is refused as a duplicate and nothing moves again.
    let taken = payout("0754000333");
    completed(&p.submit(&taken, &context).await.unwrap());
    let paid = sim.balance_of("vodacomTZN", "255754000333").unwrap();
    match p.resend(&taken, &context).await {
        Err(ProviderError::Rejected(f)) => {
            assert_eq!(f.provider_code, "INS-10");
            assert_eq!(f.error.error_code, ErrorCode::DuplicateRequest);
        }
        other => panic!("a resend of a request M-Pesa took: {other:?}"),
    }
    assert_eq!(sim.balance_of("vodacomTZN", "255754000333").unwrap(), paid);
    let key = mmapi_mpesa_openapi::transform::third_party_id(&taken.transaction_reference);
    assert_eq!(
        sim.submissions().get(&key),
        Some(&2),
        "the duplicate reached M-Pesa and was refused"
    );

    // A customer payment (a USSD prompt) is not resent.
    let prompt = merchantpay("000000000001", "10");
    assert!(matches!(
        p.resend(&prompt, &context).await,
        Err(ProviderError::Unsupported(_))
    ));
    let key = mmapi_mpesa_openapi::transform::third_party_id(&prompt.transaction_reference);
    assert_eq!(sim.submissions().get(&key), None);
}

#[tokio::test]
async fn an_expired_session_is_renewed_transparently() {
    let (sim, base) = simulator(SimulatorConfig {
        session_lifetime: Duration::from_millis(700),
        ..SimulatorConfig::default()
    })
    .await;
    // The adapter believes sessions last an hour: the simulator's 401 INS-2 makes it renew.
    let p = provider(market(&base, sim.public_key_base64()));
    completed(
        &p.submit(
            &merchantpay("000000000001", "10"),
            &DispatchContext::default(),
        )
        .await
        .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    completed(
        &p.submit(
            &merchantpay("000000000001", "10"),
            &DispatchContext::default(),
        )
        .await
        .unwrap(),
    );
    assert_eq!(sim.request_count(), 2);
}

#[tokio::test]
async fn a_bearer_for_another_key_is_a_configuration_error() {
    let (_sim, base) = simulator(SimulatorConfig::default()).await;
    let other = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
    let other = STANDARD.encode(
        other
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    );
    let p = provider(market(&base, other));
    match p
        .submit(
            &merchantpay("000000000001", "10"),
            &DispatchContext::default(),
        )
        .await
    {
        Err(ProviderError::Configuration(text)) => {
            assert!(!text.contains(SANDBOX_API_KEY), "no secret in errors")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_operator_is_unavailable() {
    // A port held bound but not listening: connections to it are refused, and no other test can take it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let base = format!("http://{}", socket.local_addr().unwrap());
    let (sim, _) = simulator(SimulatorConfig::default()).await;
    let p = provider(market(&base, sim.public_key_base64()));
    assert!(matches!(
        p.submit(
            &merchantpay("000000000001", "10"),
            &DispatchContext::default()
        )
        .await,
        Err(ProviderError::Unavailable(_))
    ));
}

/// Records the events it is handed.
#[derive(Default)]
struct Sink(Mutex<Vec<ProviderEvent>>);

#[async_trait]
impl EventSink for Sink {
    async fn deliver(
        &self,
        _provider: &str,
        event: ProviderEvent,
    ) -> Result<EventReceipt, EventError> {
        self.0.lock().unwrap().push(event);
        Ok(EventReceipt::Applied)
    }

    async fn incoming(
        &self,
        _provider: &str,
        _payment: IncomingPayment,
    ) -> Result<EventReceipt, EventError> {
        Ok(EventReceipt::Unknown)
    }
}

#[tokio::test]
async fn an_async_market_acknowledges_then_posts_the_result() {
    // The gateway's callback routes, mounted where the simulator posts results.
    let sink = Arc::new(Sink::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callbacks = format!("http://{}", listener.local_addr().unwrap());
    let (sim, base) = simulator(SimulatorConfig {
        async_markets: vec!["vodacomTZN".into()],
        async_result_url: Some(format!("{callbacks}/result")),
        result_delay: Duration::from_millis(50),
        ..SimulatorConfig::default()
    })
    .await;
    let p = provider(MarketConfig {
        async_mode: true,
        ..market(&base, sim.public_key_base64())
    });
    let router = p.callback_router(sink.clone()).unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let t = merchantpay("000000000001", "10");
    let s = p.submit(&t, &DispatchContext::default()).await.unwrap();
    assert_eq!(s.outcome, Outcome::Pending);
    let failing = merchantpay("000000000008", "10");
    let f = p
        .submit(&failing, &DispatchContext::default())
        .await
        .unwrap();

    let mut events = Vec::new();
    for _ in 0..100 {
        events = sink.0.lock().unwrap().clone();
        if events.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ok = events
        .iter()
        .find(|e| e.reference == s.refs.reference)
        .expect("the payment's result");
    assert!(matches!(ok.outcome, Outcome::Completed(_)), "{ok:?}");
    assert_eq!(
        ok.transaction_hint.as_deref(),
        Some(t.transaction_reference.as_str())
    );
    let bad = events
        .iter()
        .find(|e| e.reference == f.refs.reference)
        .expect("the failed payment's result");
    assert!(
        matches!(&bad.outcome, Outcome::Failed(x) if x.error.error_code == ErrorCode::InsufficientFunds),
        "{bad:?}"
    );
}

#[tokio::test]
async fn the_result_route_acknowledges_as_documented() {
    let sink = Arc::new(Sink::default());
    let p = provider(market("http://127.0.0.1:1", {
        let key = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        STANDARD.encode(key.to_public_key().to_public_key_der().unwrap().as_bytes())
    }));
    assert_eq!(
        p.async_result_url(),
        "http://127.0.0.1:1/callbacks/mpesa-openapi/result"
    );
    let base = serve(p.callback_router(sink.clone()).unwrap()).await;
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{base}/result/vodacomTZN"))
        .json(
            &json!({"input_OriginalConversationID": "fd1e9143d22544459f7c66e1860ef276",
            "input_TransactionID": "hv9ahxcg4ccv", "input_ResultCode": "INS-0",
            "input_ResultDesc": "Request processed successfully",
            "input_ThirdPartyConversationID": "1e9b774d1da34af78412a498cbc28f5e"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap(),
        json!({"output_OriginalConversationID": "fd1e9143d22544459f7c66e1860ef276",
            "output_ResponseCode": "0", "output_ResponseDesc": "Successfully Accepted Result",
            "output_ThirdPartyConversationID": "1e9b774d1da34af78412a498cbc28f5e"})
    );
    assert_eq!(sink.0.lock().unwrap().len(), 1);
    let garbage = http
        .post(format!("{base}/result"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(sink.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn two_markets_route_by_currency_and_ghana_tells_account_names() {
    let (sim, base) = simulator(SimulatorConfig::default()).await;
    let tzn = market(&base, sim.public_key_base64());
    let gha = MarketConfig {
        market: "vodafoneGHA".into(),
        ..tzn.clone()
    };
    let p = OpenApiProvider::new(
        OpenApiConfig {
            markets: vec![tzn, gha],
        },
        "http://127.0.0.1:1",
    )
    .unwrap();
    let currencies: Vec<_> = p
        .capabilities()
        .currencies
        .iter()
        .map(|c| c.code())
        .collect();
    assert_eq!(currencies, ["TZS", "GHS"]);
    let before = sim.balance_of("vodafoneGHA", "233241234567").unwrap();
    let t = tx(
        TransactionType::Merchantpay,
        json!({"amount": "12.50", "currency": "GHS",
            "debitParty": [{"key": "msisdn", "value": "+233241234567"}],
            "creditParty": [{"key": "organisationid", "value": SANDBOX_SERVICE_PROVIDER_CODE}]}),
    );
    completed(&p.submit(&t, &DispatchContext::default()).await.unwrap());
    let after = sim.balance_of("vodafoneGHA", "233241234567").unwrap();
    assert!((before.parse::<f64>().unwrap() - after.parse::<f64>().unwrap() - 12.5).abs() < 1e-9);

    let ghs = mmapi_core::Currency::parse("GHS").unwrap();
    let name = p.account_name(&ghs, "000000000001").await.unwrap();
    assert!(
        name.first_name.is_some() && name.full_name.is_some(),
        "{name:?}"
    );
    match p.account_name(&ghs, "000000000002").await {
        Err(ProviderError::Rejected(f)) => assert_eq!(f.provider_code, "INS-2051"),
        other => panic!("{other:?}"),
    }
    let tzs = mmapi_core::Currency::parse("TZS").unwrap();
    assert!(matches!(
        p.account_name(&tzs, "000000000001").await,
        Err(ProviderError::Unsupported(_))
    ));
}

/// What a hand-written operator double saw.
#[derive(Default)]
struct Seen {
    sessions: usize,
    bearers: Vec<String>,
    origins: Vec<String>,
    bodies: Vec<serde_json::Value>,
}

/// A minimal operator: counts sessions, records calls, answers C2B with 201 (or sleeps for `slow` msisdns).
async fn operator_double(private: RsaPrivateKey) -> (String, Arc<Mutex<Seen>>) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};
    type S = (Arc<Mutex<Seen>>, RsaPrivateKey);
    fn decrypt(private: &RsaPrivateKey, headers: &HeaderMap) -> String {
        let bearer = headers["authorization"].to_str().unwrap();
        let cipher = STANDARD
            .decode(bearer.strip_prefix("Bearer ").unwrap())
            .unwrap();
        String::from_utf8(private.decrypt(rsa::Pkcs1v15Encrypt, &cipher).unwrap()).unwrap()
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let router = axum::Router::new()
        .route(
            "/sandbox/ipg/v2/vodacomTZN/getSession/",
            get(
                |State((seen, private)): State<S>, headers: HeaderMap| async move {
                    assert_eq!(decrypt(&private, &headers), SANDBOX_API_KEY);
                    let mut seen = seen.lock().unwrap();
                    seen.sessions += 1;
                    axum::Json(json!({"output_ResponseCode": "INS-0",
                        "output_ResponseDesc": "Request processed successfully",
                        "output_SessionID": format!("session{}", seen.sessions)}))
                },
            ),
        )
        .route(
            "/sandbox/ipg/v2/vodacomTZN/c2bPayment/singleStage/",
            post(
                |State((seen, private)): State<S>,
                 headers: HeaderMap,
                 axum::Json(body): axum::Json<serde_json::Value>| async move {
                    if body["input_CustomerMSISDN"] == "255700000009" {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    {
                        let mut seen = seen.lock().unwrap();
                        seen.bearers.push(decrypt(&private, &headers));
                        seen.origins
                            .push(headers["origin"].to_str().unwrap().to_owned());
                        seen.bodies.push(body.clone());
                    }
                    (
                        StatusCode::CREATED,
                        axum::Json(json!({"output_ResponseCode": "INS-0",
                            "output_ResponseDesc": "Request processed successfully",
                            "output_TransactionID": "G27DEn1DLoQ3",
                            "output_ConversationID": "08536a5d65ea4f50866db06f577cc5c1",
                            "output_ThirdPartyConversationID": body["input_ThirdPartyConversationID"]})),
                    )
                },
            ),
        )
        .with_state((seen.clone(), private));
    (serve(router).await, seen)
}

#[tokio::test]
async fn the_wire_carries_encrypted_bearers_and_sessions_are_renewed_before_they_end() {
    let private = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
    let public = STANDARD.encode(
        private
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    );
    let (base, seen) = operator_double(private).await;
    let p = provider(MarketConfig {
        session_lifetime_secs: 1,
        origin: "gateway.example.com".into(),
        request_timeout_ms: 1000,
        ..market(&base, public)
    });
    completed(
        &p.submit(
            &merchantpay("0712345678", "10"),
            &DispatchContext::default(),
        )
        .await
        .unwrap(),
    );
    completed(
        &p.submit(
            &merchantpay("0712345678", "10"),
            &DispatchContext::default(),
        )
        .await
        .unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    completed(
        &p.submit(
            &merchantpay("0712345678", "10"),
            &DispatchContext::default(),
        )
        .await
        .unwrap(),
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.sessions, 2,
            "one session, then a new one before the first ended"
        );
        assert_eq!(seen.bearers, ["session1", "session1", "session2"]);
        assert!(seen.origins.iter().all(|o| o == "gateway.example.com"));
        let body = &seen.bodies[0];
        assert!(
            body.as_object().unwrap().values().all(|v| v.is_string()),
            "every value a string: {body}"
        );
        assert_eq!(body["input_CustomerMSISDN"], "255712345678");
        assert_eq!(body["input_Currency"], "TZS");
        assert_eq!(body["input_Country"], "TZN");
    }
    // No answer within the timeout after sending: the payment may have happened.
    assert!(matches!(
        p.submit(
            &merchantpay("0700000009", "10"),
            &DispatchContext::default()
        )
        .await,
        Err(ProviderError::InDoubt(_))
    ));
}

/// The first seed whose fault decisions time out the first API call and serve the next ten normally.
fn seed_losing_the_first_answer(faults: &mmapi_core::simulator_faults::Faults) -> u64 {
    use mmapi_core::simulator_faults::{CallFault, FaultInjector};
    (0..100_000u64)
        .find(|&seed| {
            let injector = FaultInjector::new(mmapi_core::simulator_faults::Faults {
                seed,
                ..faults.clone()
            });
            injector.on_call() == CallFault::Timeout
                && (0..10).all(|_| injector.on_call() == CallFault::None)
        })
        .expect("a seed")
}

#[tokio::test]
async fn a_mandate_is_created_queried_and_paid_under_even_when_its_answer_is_lost() {
    use mmapi_core::mandate::{debit_mandate_request, MandateContext, MandateOrder, MandateState};
    let faults = mmapi_core::simulator_faults::Faults {
        timeouts: 0.1,
        timeout_ms: 3_000,
        ..Default::default()
    };
    let (sim, base) = simulator(SimulatorConfig {
        faults: mmapi_core::simulator_faults::Faults {
            seed: seed_losing_the_first_answer(&faults),
            ..faults
        },
        ..SimulatorConfig::default()
    })
    .await;
    let mut config = market(&base, sim.public_key_base64());
    config.request_timeout_ms = 1_000;
    let p = provider(config);
    let request = debit_mandate_request(
        br#"{"currency":"TZS","startDate":"2026-12-01","frequencyType":"yearly","amountLimit":"9000",
             "payee":[{"key":"businessshortcode","value":"000000"}]}"#,
    )
    .unwrap();
    let payer = vec![mmapi_core::model::Party::new("msisdn", "+255744553444")];
    let reference = uuid::Uuid::new_v4().simple().to_string();
    p.check_mandate(&payer, &request).unwrap();
    // The creation's answer is lost (the simulator holds it past the timeout): the adapter finds the mandate by
    // queryDirectDebit instead.
    let refs = p
        .create_mandate(&MandateOrder {
            reference: &reference,
            payer: &payer,
            request: &request,
        })
        .await
        .unwrap();
    assert_eq!(refs.extra["CustomerMSISDN"], "255744553444");
    assert_eq!(refs.extra["market"], "vodacomTZN");
    let context = MandateContext {
        reference: reference.clone(),
        payer: payer.clone(),
        refs,
    };
    assert_eq!(
        p.query_mandate(&context).await.unwrap(),
        MandateState::Active
    );
    let payment = tx(
        TransactionType::Merchantpay,
        json!({"amount": "4000", "currency": "TZS",
               "debitParty": [{"key": "mandatereference", "value": reference}],
               "creditParty": [{"key": "businessshortcode", "value": "000000"}]}),
    );
    let submitted = p
        .submit(
            &payment,
            &DispatchContext {
                mandate: Some(context),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    completed(&submitted);
    assert_eq!(
        sim.balance_of("vodacomTZN", "255744553444").as_deref(),
        Some("996000.00")
    );
    // Without its mandate the payment is refused, not sent.
    match p.submit(&payment, &DispatchContext::default()).await {
        Err(ProviderError::Rejected(f)) => {
            assert_eq!(f.error.error_code, ErrorCode::NoMandateAuthority)
        }
        other => panic!("{other:?}"),
    }
    // A schedule M-Pesa lacks is refused before anything is sent.
    let fortnightly = debit_mandate_request(
        br#"{"currency":"TZS","startDate":"2026-12-01","frequencyType":"fortnight"}"#,
    )
    .unwrap();
    assert_eq!(
        p.check_mandate(&payer, &fortnightly)
            .unwrap_err()
            .error_code,
        ErrorCode::FormatError
    );
}

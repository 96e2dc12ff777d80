//! The MMAPI backend (`providers/mmapi`, issue 12 point 1) over real HTTP: gateway A forwards KES to gateway B,
//! a GSMA-speaking "operator" in sandbox mode. B's callbacks complete A's transactions on A's
//! `/callbacks/operator-b` route; an operator without callbacks is polled; B's errors reach A's client as B
//! gave them; a request sent twice (a restart mid-call) is taken once.

mod common;

use std::time::Duration;

use common::{TestGateway, PAYER, TILL};
use mmapi_core::model::{Transaction, TransactionRequest, TransactionType};
use mmapi_core::provider::{DispatchContext, Outcome, Provider};
use mmapi_core::{Currency, Timestamp};
use mmapi_forward::{correlation_id_for, AuthScheme, MmapiConfig, MmapiProvider};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// B's demo client as A's credentials at the operator.
fn operator_b(b: &TestGateway, callbacks: bool, scheme: AuthScheme) -> MmapiConfig {
    let credentials = b.gateway.sandbox_client.clone().expect("B's demo client");
    let mut operator = MmapiConfig::new(b.base.clone(), vec![Currency::parse("KES").expect("KES")]);
    operator.name = "operator-b".into();
    operator.callbacks = callbacks;
    operator.auth.scheme = scheme;
    operator.auth.consumer_key = Some(credentials.consumer_key.clone());
    operator.auth.consumer_secret = Some(credentials.consumer_secret.clone());
    operator.poll_interval_ms = 100;
    operator
}

/// Gateway A: no simulator, KES forwarded to `operator`.
async fn gateway_a(operator: MmapiConfig) -> TestGateway {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = common::sandbox_config(dir.path()).await;
    config.sandbox = Some(false);
    config.callbacks.allow_loopback = Some(true);
    config.providers.mmapi = vec![operator];
    TestGateway::start_with(config, dir).await
}

/// What B made of A's transaction `reference`: found through B's `/responses/{X-CorrelationID}`.
async fn at_b(b: &TestGateway, reference: &str) -> Value {
    let (status, link) = b
        .get(&format!("/responses/{}", correlation_id_for(reference)))
        .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let link = link["link"].as_str().expect("a link");
    let (status, transaction) = b.get(link).await;
    assert_eq!(status, StatusCode::OK, "{transaction}");
    transaction
}

async fn pay(a: &TestGateway, payer: &str) -> (Value, Value) {
    let (status, accepted) = a
        .merchantpay(
            payer,
            "120",
            &[("X-CorrelationID", &common::correlation_id())],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["serverCorrelationId"].as_str().expect("an id");
    let state = a.wait_final(id, Duration::from_secs(15)).await;
    (accepted, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_callbacks_complete_payments_and_its_errors_pass_through() {
    let b = TestGateway::start().await;
    let mut operator = operator_b(&b, true, AuthScheme::Oauth2);
    // Far beyond the test: only B's callback can complete the payment in time.
    operator.result_deadline_secs = Some(600);
    let a = gateway_a(operator).await;

    let (accepted, state) = pay(&a, PAYER).await;
    assert_eq!(state["status"], "completed", "{state}");
    let reference = accepted["objectReference"].as_str().expect("A's reference");
    let (_, ours) = a.get(&format!("/transactions/{reference}")).await;
    let theirs = at_b(&b, reference).await;
    assert_eq!(theirs["transactionStatus"], "completed");
    assert_ne!(theirs["transactionReference"], ours["transactionReference"]);
    assert!(ours["transactionReceipt"].is_string(), "{ours}");
    assert_eq!(ours["transactionReceipt"], theirs["transactionReceipt"]);
    assert_eq!(theirs["amount"], "120");
    assert_eq!(
        theirs["creditParty"],
        json!([{"key": "storeid", "value": TILL}])
    );

    // B's error reaches A's client unchanged.
    let (_, declined) = pay(&a, "254700000001").await;
    assert_eq!(declined["status"], "failed", "{declined}");
    assert_eq!(declined["error"]["errorCategory"], "authorisation");
    assert_eq!(declined["error"]["errorCode"], "requestDeclined");

    // Balances are B's.
    let path = "/accounts/organisationid/600000/balance";
    let (status, at_a) = a.get(path).await;
    assert_eq!(status, StatusCode::OK, "{at_a}");
    let (_, at_b_balance) = b.get(path).await;
    assert_eq!(at_a["currentBalance"], at_b_balance["currentBalance"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_without_callbacks_is_polled() {
    let b = TestGateway::start().await;
    let mut operator = operator_b(&b, false, AuthScheme::Basic);
    operator.result_deadline_secs = Some(1);
    let a = gateway_a(operator).await;
    let (accepted, state) = pay(&a, PAYER).await;
    assert_eq!(state["status"], "completed", "{state}");
    let reference = accepted["objectReference"].as_str().expect("A's reference");
    // B was asked in polling mode: it has no callback to send.
    let theirs = at_b(&b, reference).await;
    assert_eq!(theirs["transactionStatus"], "completed");
    let (_, insufficient) = pay(&a, "254700000002").await;
    assert_eq!(insufficient["status"], "failed");
    assert_eq!(insufficient["error"]["errorCode"], "insufficientFunds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_twice_is_taken_once_and_settled_by_status() {
    let b = TestGateway::start().await;
    let provider = MmapiProvider::new(
        operator_b(&b, false, AuthScheme::Basic),
        "http://127.0.0.1:9/callbacks/operator-b".into(),
    )
    .expect("a provider");
    let request: TransactionRequest = serde_json::from_value(json!({
        "amount": "75", "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": PAYER}],
        "creditParty": [{"key": "storeid", "value": TILL}]
    }))
    .expect("a request");
    let reference = uuid::Uuid::now_v7().simple().to_string();
    let transaction = Transaction::pending(
        reference.clone(),
        TransactionType::Merchantpay,
        request,
        Timestamp::now(),
    );
    let first = provider
        .submit(&transaction, &DispatchContext::default())
        .await
        .expect("B takes it");
    // The gateway stopped before it recorded the answer, and sends the request again after its restart.
    let again = provider
        .submit(&transaction, &DispatchContext::default())
        .await
        .expect("B refuses the repeat; the first is found");
    assert_eq!(first.refs.reference, again.refs.reference);
    assert_eq!(
        first.refs.extra.get("objectReference"),
        again.refs.extra.get("objectReference")
    );
    // The status is read from B until final.
    let mut outcome = Outcome::Pending;
    for _ in 0..100 {
        outcome = provider
            .status(&transaction, &again.refs)
            .await
            .expect("a status");
        if outcome != Outcome::Pending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Outcome::Completed(completion) = outcome else {
        panic!("completed: {outcome:?}");
    };
    let theirs = at_b(&b, &reference).await;
    assert_eq!(
        completion.receipt.as_deref(),
        theirs["transactionReceipt"].as_str()
    );
    // B holds one transaction for it, not two.
    let (_, listed) = b
        .get(&format!("/accounts/msisdn/{PAYER}/transactions?limit=50"))
        .await;
    let copies = listed
        .as_array()
        .map(|l| l.iter().filter(|t| t["amount"] == "75").count());
    assert_eq!(copies, Some(1), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_route_takes_only_what_it_should() {
    let b = TestGateway::start().await;
    let a = gateway_a(operator_b(&b, true, AuthScheme::Basic)).await;
    let http = reqwest::Client::new();
    let route = |reference: &str| {
        format!(
            "http://{}/callbacks/operator-b/transactions/{reference}",
            a.gateway.address
        )
    };
    let unknown = uuid::Uuid::now_v7().simple().to_string();
    let completed = json!({"transactionReference": "X1", "type": "merchantpay",
        "transactionStatus": "completed", "amount": "5", "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": PAYER}], "creditParty": [{"key": "storeid", "value": TILL}]});
    // An unknown reference is ignored (and the operator told to stop sending it).
    let response = http
        .put(route(&unknown))
        .json(&completed)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = a.get(&format!("/transactions/{unknown}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another X-CorrelationID than the one we sent, or a body that is no GSMA object, is refused.
    let response = http
        .put(route(&unknown))
        .header("X-CorrelationID", uuid::Uuid::new_v4().to_string())
        .json(&completed)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = http
        .put(route(&unknown))
        .body("{\"hello\": 1}")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// A forwarded request to an operator that offers no callback (B, asked in polling mode) still reaches a client
/// that gave an X-Callback-URL: when a result would be overdue, A asks B for the outcome (its request state, then
/// what `/responses` links to) and relays it, signed, under the client's X-CorrelationID; once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outcome_of_a_forwarded_request_is_relayed_from_an_operator_without_callbacks() {
    let b = TestGateway::start().await;
    let mut operator = operator_b(&b, false, AuthScheme::Basic);
    operator.identifier_types = vec!["walletid".into()];
    operator.result_deadline_secs = Some(1);
    let a = gateway_a(operator).await;
    let receiver = common::CallbackReceiver::start(Vec::new()).await;
    let correlation_id = common::correlation_id();
    let response = a
        .http
        .post(a.url("/accounts/walletid/2/authorisationcodes"))
        .header("X-CorrelationID", &correlation_id)
        .header("X-Callback-URL", &receiver.url)
        .json(&json!({"amount": "5", "currency": "USD", "codeLifetime": 600}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 202);
    let accepted: Value = response.json().await.expect("a request state");
    let id = accepted["serverCorrelationId"].as_str().expect("an id");
    let done = a.wait_final(id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "completed", "{done}");
    let code = done["objectReference"].as_str().expect("a code");

    let received = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        received[0].body["authorisationCode"], code,
        "{}",
        received[0].body
    );
    assert_eq!(
        received[0].headers["X-CorrelationID"].to_str().ok(),
        Some(correlation_id.as_str())
    );
    assert!(received[0].headers.contains_key("X-Signature"));
    // Relayed once: no further check sends it again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.all().len(), 1);
}

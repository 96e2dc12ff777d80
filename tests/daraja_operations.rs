//! End-to-end tests of the Daraja operations beyond STK Push, over real HTTP in sandbox mode: disbursements
//! (B2C, with the RSA SecurityCredential), business transfers (B2B), reversals and refunds, balance enquiries,
//! and a lost B2C result settled by the Transaction Status API.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use mmapi_gateway::config::Config;
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn balance(gw: &TestGateway, account: &str) -> Decimal {
    let sim = gw.gateway.simulator.as_ref().expect("sandbox simulator");
    sim.balance_of(account)
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no simulated balance for {account}"))
}

async fn complete(gw: &TestGateway, path: &str, body: Value) -> Value {
    let (status, state) = gw.post_raw(path, body.to_string(), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{path}: {state}");
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(10),
        )
        .await;
    let (_, tx) = gw
        .get(&format!(
            "/transactions/{}",
            state["objectReference"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        done["status"],
        tx["transactionStatus"]
            .as_str()
            .map(|s| if s == "reversed" { "completed" } else { s })
            .unwrap_or("")
    );
    json!({"state": done, "transaction": tx})
}

fn disbursement(to: &str, amount: &str) -> Value {
    json!({"amount": amount, "currency": "KES",
           "creditParty": [{"key": "msisdn", "value": to}],
           "debitParty": [{"key": "organisationid", "value": "600000"}]})
}

#[tokio::test]
async fn a_disbursement_moves_simulated_money_and_the_balance_shows_it() {
    let gw = TestGateway::start().await;
    let customer_before = balance(&gw, "254708374149");
    let (status, before) = gw.get("/accounts/organisationid/600000/balance").await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["currency"], "KES");
    let available_before: Decimal = before["availableBalance"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let done = complete(
        &gw,
        "/transactions/type/disbursement",
        disbursement("+254708374149", "500"),
    )
    .await;
    assert_eq!(done["state"]["status"], "completed", "{done}");
    assert!(done["transaction"]["transactionReceipt"].is_string());
    assert_eq!(
        balance(&gw, "254708374149") - customer_before,
        Decimal::from(500)
    );

    let (status, after) = gw.get("/accounts/organisationid@600000/balance").await;
    assert_eq!(status, StatusCode::OK, "{after}");
    let available_after: Decimal = after["availableBalance"].as_str().unwrap().parse().unwrap();
    assert_eq!(available_before - available_after, Decimal::from(500));

    let (status, e) = gw.get("/accounts/organisationid/999999/balance").await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("identifierError"))
    );
    let (status, e) = gw.get("/accounts/not-an-account-id/balance").await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError"))
    );
}

#[tokio::test]
async fn disbursement_failures_and_limits() {
    let gw = TestGateway::start().await;
    let unregistered = complete(
        &gw,
        "/transactions/type/disbursement",
        disbursement("254700000006", "100"),
    )
    .await;
    assert_eq!(unregistered["state"]["status"], "failed");
    assert_eq!(
        unregistered["state"]["error"]["errorCode"],
        "incorrectState"
    );
    let poor = complete(
        &gw,
        "/transactions/type/disbursement",
        disbursement("254708374149", "77777"),
    )
    .await;
    assert_eq!(poor["state"]["error"]["errorCode"], "insufficientFunds");
    let (status, e) = gw
        .post_raw(
            "/transactions/type/disbursement",
            disbursement("254708374149", "5").to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("lessThanTransactionMinValue"))
    );
    let mut salary = disbursement("254708374149", "100");
    salary["subType"] = json!("bonus");
    let (status, e) = gw
        .post_raw("/transactions/type/disbursement", salary.to_string(), &[])
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError"))
    );
}

#[tokio::test]
async fn a_lost_b2c_result_is_settled_by_transaction_status() {
    let gw = TestGateway::start().await;
    let done = complete(
        &gw,
        "/transactions/type/disbursement",
        disbursement("254700000005", "100"),
    )
    .await;
    assert_eq!(done["state"]["status"], "completed", "{done}");
}

#[tokio::test]
async fn business_transfers_and_person_to_person() {
    let gw = TestGateway::start().await;
    let b2b = json!({"amount": "1000", "currency": "KES",
                     "debitParty": [{"key": "organisationid", "value": "600000"}],
                     "creditParty": [{"key": "businessshortcode", "value": TILL}, {"key": "consumerno", "value": "INV-1"}]});
    let done = complete(&gw, "/transactions/type/transfer", b2b).await;
    assert_eq!(done["state"]["status"], "completed", "{done}");

    let p2p = json!({"amount": "1000", "currency": "KES",
                     "debitParty": [{"key": "msisdn", "value": PAYER}],
                     "creditParty": [{"key": "msisdn", "value": "+254711111111"}]});
    let (status, e) = gw
        .post_raw("/transactions/type/transfer", p2p.to_string(), &[])
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("transactionTypeError"))
    );
    assert!(e["errorDescription"]
        .as_str()
        .unwrap()
        .contains("individuals"));
}

#[tokio::test]
async fn reversal_and_refund_of_a_merchant_payment() {
    let gw = TestGateway::start().await;
    let (_, paid) = gw.merchantpay(PAYER, "300", &[]).await;
    let reference = paid["objectReference"].as_str().unwrap().to_owned();
    gw.wait_final(
        paid["serverCorrelationId"].as_str().unwrap(),
        Duration::from_secs(5),
    )
    .await;

    // A refund of part of it, through B2C to the payer.
    let refund =
        json!({"amount": "100", "currency": "KES", "originalTransactionReference": reference});
    let done = complete(&gw, "/transactions/type/adjustment", refund).await;
    assert_eq!(done["state"]["status"], "completed", "{done}");
    assert_eq!(
        done["transaction"]["originalTransactionReference"],
        reference.as_str()
    );
    assert_eq!(done["transaction"]["creditParty"][0]["value"], PAYER);

    // The reversal of the payment.
    let reversal = complete(
        &gw,
        &format!("/transactions/{reference}/reversals"),
        json!({"type": "reversal"}),
    )
    .await;
    assert_eq!(reversal["state"]["status"], "completed", "{reversal}");
    assert_eq!(reversal["transaction"]["type"], "reversal");
    assert_eq!(reversal["transaction"]["amount"], "300");
    let (_, original) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(original["transactionStatus"], "reversed");

    // It cannot be reversed twice, and unknown or unfinished originals are refused.
    let (status, e) = gw
        .post_raw(
            &format!("/transactions/{reference}/reversals"),
            json!({"type": "reversal"}).to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("incorrectState"))
    );
    let (status, e) = gw
        .post_raw(
            "/transactions/nope/reversals",
            json!({"type": "reversal"}).to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("identifierError"))
    );
    let (status, e) = gw
        .post_raw(
            &format!("/transactions/{reference}/reversals"),
            json!({}).to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("mandatoryValueNotSupplied"))
    );
    let (_, failed) = gw.merchantpay("254700000001", "10", &[]).await;
    gw.wait_final(
        failed["serverCorrelationId"].as_str().unwrap(),
        Duration::from_secs(5),
    )
    .await;
    let (status, e) = gw
        .post_raw(
            &format!(
                "/transactions/{}/reversals",
                failed["objectReference"].as_str().unwrap()
            ),
            json!({"type": "reversal"}).to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("incorrectState"))
    );
}

#[tokio::test]
async fn a_wrong_initiator_password_fails_the_disbursement_with_an_authorisation_error() {
    use mmapi_daraja::simulator::{self, DarajaSimulator, SimulatorConfig};
    let sim = DarajaSimulator::start(SimulatorConfig {
        callback_delay: Duration::from_millis(50),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"listen = "127.0.0.1:0"
[dispatch]
tick_ms = 100
[providers.daraja]
base_url = "http://{address}"
consumer_key = "{key}"
consumer_secret = "{secret}"
initiator_name = "{initiator}"
initiator_password = "not-the-password"
certificate = """{cert}"""
disbursement_shortcode = "{org}"
result_deadline_secs = 2
"#,
        key = simulator::SANDBOX_CONSUMER_KEY,
        secret = simulator::SANDBOX_CONSUMER_SECRET,
        initiator = simulator::SANDBOX_INITIATOR_NAME,
        cert = sim.certificate_pem(),
        org = simulator::SANDBOX_ORGANIZATION,
    );
    let path = dir.path().join("gw.toml");
    std::fs::write(&path, toml).unwrap();
    let mut config = Config::load(Some(&path), Default::default()).unwrap();
    config.data_dir = dir.path().to_owned();
    config.database_url = test_database_url().await;
    let gw = TestGateway::start_with(config, dir).await;
    let done = complete(
        &gw,
        "/transactions/type/disbursement",
        disbursement("254708374149", "500"),
    )
    .await;
    assert_eq!(done["state"]["status"], "failed", "{done}");
    assert_eq!(done["state"]["error"]["errorCategory"], "authorisation");
    assert_eq!(
        done["state"]["error"]["errorCode"],
        "requestingPartyAuthorisationError"
    );
}

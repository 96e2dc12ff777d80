//! The operators' callback routes, over HTTP: forged results (unknown `CheckoutRequestID`, `ConversationID` or
//! OpenAPI conversation, or a wrong one for a transaction of ours) are answered as the operator expects and
//! change nothing; payloads without a reference are refused; and a provider's source allowlist
//! (`[callback_sources]`) refuses other peers with 403 before anything is read.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use mmapi_gateway::callback_sources::CallbackSources;
use serde_json::{json, Value};

fn stk_success(checkout_request_id: &str) -> Value {
    json!({"Body": {"stkCallback": {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": checkout_request_id,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [
            {"Name": "Amount", "Value": 300},
            {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
            {"Name": "TransactionDate", "Value": 20191219102115u64},
            {"Name": "PhoneNumber", "Value": 254708374149u64}
        ]}
    }}})
}

fn b2c_success(originator: &str, conversation_id: &str) -> Value {
    json!({"Result": {
        "ResultType": 0,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": originator,
        "ConversationID": conversation_id,
        "TransactionID": "NLJ41HAY6Q",
        "ResultParameters": {"ResultParameter": [
            {"Key": "TransactionAmount", "Value": 500},
            {"Key": "TransactionReceipt", "Value": "NLJ41HAY6Q"}
        ]}
    }})
}

fn openapi_success(conversation_id: &str, third_party: &str) -> Value {
    json!({
        "input_OriginalConversationID": conversation_id,
        "input_TransactionID": "FORGED00001",
        "input_ResultCode": "INS-0",
        "input_ResultDesc": "Request processed successfully",
        "input_ThirdPartyConversationID": third_party
    })
}

/// POSTs `body` to the gateway's root `path`, as an operator would (no client credentials).
async fn post(gw: &TestGateway, path: &str, body: String) -> (StatusCode, Value) {
    let root = gw.base.trim_end_matches("/v1.2/mm");
    let response = reqwest::Client::new()
        .post(format!("{root}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the gateway answers");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn status_of(gw: &TestGateway, reference: &str) -> (StatusCode, Value) {
    gw.get(&format!("/transactions/{reference}")).await
}

/// Posts a transaction request and waits until the Daraja simulator took it and the gateway had time to record
/// its acknowledgement; returns the transaction reference.
async fn submitted(gw: &TestGateway, path: &str, body: Value) -> String {
    let (status, state) = gw.post_raw(path, body.to_string(), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let reference = state["objectReference"]
        .as_str()
        .expect("a reference")
        .to_owned();
    let sim = gw.gateway.simulator.as_ref().expect("sandbox simulator");
    let started = Instant::now();
    while !sim.submissions().keys().any(|k| k.contains(&reference)) {
        assert!(started.elapsed() < Duration::from_secs(10), "not submitted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    reference
}

#[tokio::test]
async fn forged_operator_results_change_nothing() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = sandbox_config(dir.path()).await;
    // The simulated customer and Daraja take a minute: our transactions stay pending during the test.
    config.simulators.callback_delay_ms = 60_000;
    config.simulators.stk_result_deadline_secs = 120;
    let gw = TestGateway::start_with(config, dir).await;

    let payment = submitted(
        &gw,
        "/transactions/type/merchantpay",
        json!({"amount": "300", "currency": "KES",
               "debitParty": [{"key": "msisdn", "value": PAYER}],
               "creditParty": [{"key": "storeid", "value": TILL}]}),
    )
    .await;
    let disbursement = submitted(
        &gw,
        "/transactions/type/disbursement",
        json!({"amount": "500", "currency": "KES",
               "creditParty": [{"key": "msisdn", "value": PAYER}],
               "debitParty": [{"key": "organisationid", "value": "600000"}]}),
    )
    .await;
    let accepted = json!({"ResultCode": 0, "ResultDesc": "Accepted"});

    // Unknown CheckoutRequestIDs, with and without one of our references in the URL: acknowledged (Daraja
    // would otherwise retry) and ignored.
    for path in [
        "/callbacks/daraja/stk".to_owned(),
        format!("/callbacks/daraja/stk/{payment}"),
    ] {
        let (status, answer) =
            post(&gw, &path, stk_success("ws_CO_forged_0000001").to_string()).await;
        assert_eq!((status, &answer), (StatusCode::OK, &accepted), "{path}");
    }
    // An unknown ConversationID, for our disbursement and for a reference we never issued.
    for reference in [disbursement.as_str(), "01forged0000000000000000000000ff"] {
        let (status, answer) = post(
            &gw,
            &format!("/callbacks/daraja/result/b2c/{reference}"),
            b2c_success(reference, "AG_20191219_forged000000000001").to_string(),
        )
        .await;
        assert_eq!((status, &answer), (StatusCode::OK, &accepted));
        let (status, answer) = post(
            &gw,
            &format!("/callbacks/daraja/timeout/b2c/{reference}"),
            b2c_success(reference, "AG_20191219_forged000000000002").to_string(),
        )
        .await;
        assert_eq!((status, &answer), (StatusCode::OK, &accepted));
    }
    // An unknown OpenAPI conversation, naming a reference we never issued: acknowledged the OpenAPI way.
    let (status, answer) = post(
        &gw,
        "/callbacks/mpesa-openapi/result",
        openapi_success(
            "d3502d8b5b5f4d3a8e1e0c0b0a090807",
            "01forged0000000000000000000000ee",
        )
        .to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["output_ResponseCode"], "0", "{answer}");
    assert_eq!(
        answer["output_OriginalConversationID"],
        "d3502d8b5b5f4d3a8e1e0c0b0a090807"
    );

    // Malformed payloads, and payloads without the operator's reference, are refused.
    let garbage = [
        ("/callbacks/daraja/stk", "{not json".to_owned()),
        ("/callbacks/daraja/stk", json!({"Body": {}}).to_string()),
        ("/callbacks/daraja/stk", stk_success(" ").to_string()),
        (
            "/callbacks/daraja/result/b2c/01forged0000000000000000000000ff",
            json!({"Result": {"ResultCode": 0, "ResultDesc": "ok"}}).to_string(),
        ),
    ];
    for (path, body) in &garbage {
        let (status, answer) = post(&gw, path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert_eq!(answer["ResultCode"], 1, "{answer}");
    }
    for body in [
        "[]".to_owned(),
        json!({"input_ResultCode": "INS-0"}).to_string(),
        json!({"input_OriginalConversationID": "abc"}).to_string(),
    ] {
        let (status, answer) = post(&gw, "/callbacks/mpesa-openapi/result", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["output_ResponseCode"].is_string(), "{answer}");
    }

    // Nothing changed: ours are still pending, the forged references do not exist.
    for reference in [&payment, &disbursement] {
        let (status, tx) = status_of(&gw, reference).await;
        assert_eq!(status, StatusCode::OK, "{tx}");
        assert_eq!(tx["transactionStatus"], "pending", "{tx}");
    }
    for reference in [
        "01forged0000000000000000000000ff",
        "01forged0000000000000000000000ee",
    ] {
        let (status, _) = status_of(&gw, reference).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_source_outside_the_allowlist_is_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.simulators.stk_result_deadline_secs = 120;
    let net = |s: &str| s.parse::<ipnet::IpNet>().expect("a network");
    config.callback_sources = CallbackSources::new([
        // Safaricom's, as an example: the loopback peer of this test is not in it.
        ("daraja".to_owned(), vec![net("196.201.214.200/32")]),
        ("mpesa_openapi".to_owned(), vec![net("127.0.0.0/8")]),
    ]);
    let gw = TestGateway::start_with(config, dir).await;

    for (path, body) in [
        ("/callbacks/daraja/stk", stk_success("ws_CO_1").to_string()),
        ("/callbacks/daraja/stk", "{not json".to_owned()),
        (
            "/callbacks/daraja/result/b2c/01forged0000000000000000000000ff",
            b2c_success("x", "AG_1").to_string(),
        ),
    ] {
        let (status, _) = post(&gw, path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    // The OpenAPI's list has the loopback network: its route reads the payload (and refuses this one).
    let (status, answer) = post(&gw, "/callbacks/mpesa-openapi/result", "{not json".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    // The sandbox Daraja simulator posts from the loopback address too: its result is refused and the payment
    // stays pending.
    let (status, state) = gw.merchantpay(PAYER, "300", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let reference = state["objectReference"].as_str().expect("a reference");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, tx) = status_of(&gw, reference).await;
    assert_eq!(tx["transactionStatus"], "pending", "{tx}");
}

/// Before Daraja's acknowledgement is recorded (here: the simulator takes the STK Push but answers only after
/// the test), a result is accepted for the transaction its callback URL names, but only at the URL the gateway
/// issued: the reference in it carries an HMAC tag that nobody without the Daraja consumer secret can make.
#[tokio::test]
async fn only_the_callback_url_the_gateway_issued_names_an_unacknowledged_transaction() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.simulators.callback_delay_ms = 60_000;
    config.simulators.stk_result_deadline_secs = 120;
    config.simulators.faults.timeouts = 1.0;
    config.simulators.faults.timeout_ms = 60_000;
    let gw = TestGateway::start_with(config, dir).await;
    let (status, state) = gw.merchantpay(PAYER, "300", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let payment = state["objectReference"]
        .as_str()
        .expect("a reference")
        .to_owned();
    let sim = gw.gateway.simulator.as_ref().expect("sandbox simulator");
    let started = Instant::now();
    while sim.submissions().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "not submitted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let tagger =
        mmapi_daraja::url_tag::UrlTagger::new(mmapi_daraja::simulator::SANDBOX_CONSUMER_SECRET);
    let forged_tag =
        mmapi_daraja::url_tag::UrlTagger::new("not the consumer secret").tagged(&payment);
    let accepted = json!({"ResultCode": 0, "ResultDesc": "Accepted"});
    for path in [
        format!("/callbacks/daraja/stk/{payment}"),
        format!("/callbacks/daraja/stk/{forged_tag}"),
        format!("/callbacks/daraja/stk/{payment}.00112233445566778899aabbccddeeff"),
    ] {
        let (status, answer) =
            post(&gw, &path, stk_success("ws_CO_forged_0000009").to_string()).await;
        assert_eq!((status, &answer), (StatusCode::OK, &accepted), "{path}");
        let (_, tx) = status_of(&gw, &payment).await;
        assert_eq!(tx["transactionStatus"], "pending", "{path}: {tx}");
    }

    // The URL the gateway gave Daraja settles it.
    let issued = format!("/callbacks/daraja/stk/{}", tagger.tagged(&payment));
    let (status, answer) = post(&gw, &issued, stk_success("ws_CO_real_0000009").to_string()).await;
    assert_eq!((status, &answer), (StatusCode::OK, &accepted));
    let (_, tx) = status_of(&gw, &payment).await;
    assert_eq!(tx["transactionStatus"], "completed", "{tx}");
}

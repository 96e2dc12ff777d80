//! End-to-end tests of merchant payments over real HTTP: the gateway in sandbox mode with the Daraja simulator
//! on loopback ports, the real SQLite store, and a real callback receiver.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn polling_merchant_payment_completes_with_the_same_amount() {
    let gw = TestGateway::start().await;
    let (status, state) = gw.merchantpay(PAYER, "100", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    assert_eq!(state["status"], "pending");
    assert_eq!(state["notificationMethod"], "polling");
    let id = state["serverCorrelationId"].as_str().unwrap().to_owned();
    assert_eq!(
        id,
        id.to_lowercase(),
        "serverCorrelationId must be lower-case"
    );
    assert!(
        state["objectReference"].is_string(),
        "objectReference present at once"
    );

    let final_state = gw.wait_final(&id, Duration::from_secs(5)).await;
    assert_eq!(final_state["status"], "completed", "{final_state}");
    let reference = final_state["objectReference"].as_str().unwrap();
    let (status, tx) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tx["transactionStatus"], "completed");
    assert_eq!(tx["amount"], "100");
    assert_eq!(tx["currency"], "KES");
    assert_eq!(tx["type"], "merchantpay");
    assert_eq!(tx["transactionReference"], reference);
    let receipt = tx["transactionReceipt"].as_str().unwrap();
    assert_eq!(receipt.len(), 10, "an M-Pesa receipt number: {receipt}");
}

#[tokio::test]
async fn callback_mode_puts_the_completed_transaction_once_with_the_correlation_id() {
    let gw = TestGateway::start().await;
    let receiver = CallbackReceiver::start(vec![]).await;
    let cid = correlation_id();
    let (status, state) = gw
        .merchantpay(
            PAYER,
            "100",
            &[("X-CorrelationID", &cid), ("X-Callback-URL", &receiver.url)],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(state["notificationMethod"], "callback");
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.all().len(), 1, "exactly one PUT");
    let cb = &got[0];
    assert_eq!(cb.headers["x-correlationid"], cid.as_str());
    assert!(cb.headers.contains_key("x-date"));
    assert_eq!(cb.body["transactionStatus"], "completed");
    assert_eq!(cb.body["amount"], "100");
    assert_eq!(cb.body["transactionReference"], state["objectReference"]);
}

#[tokio::test]
async fn a_failed_callback_delivery_is_retried_until_accepted() {
    let gw = TestGateway::start().await;
    let receiver = CallbackReceiver::start(vec![500, 503]).await;
    let (status, _) = gw
        .merchantpay(PAYER, "10", &[("X-Callback-URL", &receiver.url)])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = receiver.wait_for(3, Duration::from_secs(10)).await;
    assert!(got
        .iter()
        .all(|r| r.body["transactionStatus"] == "completed"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.all().len(), 3, "no delivery after the 2xx");
}

async fn failed_error(gw: &TestGateway, payer: &str) -> Value {
    let receiver = CallbackReceiver::start(vec![]).await;
    let (status, state) = gw
        .merchantpay(payer, "100", &[("X-Callback-URL", &receiver.url)])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let id = state["serverCorrelationId"].as_str().unwrap();
    let final_state = gw.wait_final(id, Duration::from_secs(5)).await;
    assert_eq!(final_state["status"], "failed", "{final_state}");
    let (_, tx) = gw
        .get(&format!(
            "/transactions/{}",
            state["objectReference"].as_str().unwrap()
        ))
        .await;
    assert_eq!(tx["transactionStatus"], "failed");
    let cb = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        cb[0].body, final_state["error"],
        "the callback carries the error object"
    );
    final_state["error"].clone()
}

#[tokio::test]
async fn cancelled_and_insufficient_funds_fail_with_gsma_errors() {
    let gw = TestGateway::start().await;
    let cancelled = failed_error(&gw, "254700000001").await;
    assert_eq!(cancelled["errorCategory"], "authorisation");
    assert_eq!(cancelled["errorCode"], "requestDeclined");
    let poor = failed_error(&gw, "0700000002").await;
    assert_eq!(poor["errorCategory"], "businessRule");
    assert_eq!(poor["errorCode"], "insufficientFunds");
    let unreachable = failed_error(&gw, "254700000003").await;
    assert_eq!(unreachable["errorCode"], "requestDeclined");
    let wrong_pin = failed_error(&gw, "254700000004").await;
    assert_eq!(wrong_pin["errorCode"], "requestDeclined");
    assert!(wrong_pin["errorParameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["key"] == "providerCode" && p["value"] == "2001"));
}

#[tokio::test]
async fn a_lost_operator_callback_is_settled_by_status_query() {
    let gw = TestGateway::start().await;
    let (status, state) = gw.merchantpay("254700000005", "100", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = state["serverCorrelationId"].as_str().unwrap();
    let final_state = gw.wait_final(id, Duration::from_secs(15)).await;
    assert_eq!(final_state["status"], "failed");
    assert_eq!(final_state["error"]["errorCode"], "requestDeclined");
}

#[tokio::test]
async fn a_repeated_correlation_id_is_a_duplicate_and_responses_links_the_first() {
    let gw = TestGateway::start().await;
    let cid = correlation_id();
    let (status, first) = gw
        .merchantpay(PAYER, "5", &[("X-CorrelationID", &cid)])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, second) = gw
        .merchantpay(PAYER, "5", &[("X-CorrelationID", &cid)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{second}");
    assert_eq!(second["errorCategory"], "businessRule");
    assert_eq!(second["errorCode"], "duplicateRequest");
    let link = format!(
        "/transactions/{}",
        first["objectReference"].as_str().unwrap()
    );
    let (status, response) = gw.get(&format!("/responses/{cid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(response, json!({ "link": link }));
    let (status, missing) = gw.get(&format!("/responses/{}", correlation_id())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["errorCode"], "identifierError");
    // The duplicate created nothing: the first is the only transaction and still reaches its end.
    gw.wait_final(
        first["serverCorrelationId"].as_str().unwrap(),
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test]
async fn bad_input_gets_gsma_errors_never_5xx() {
    let gw = TestGateway::start().await;
    let valid = json!({
        "amount": "100", "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": PAYER}],
        "creditParty": [{"key": "storeid", "value": TILL}],
    });
    let with = |k: &str, v: Value| {
        let mut b = valid.clone();
        b[k] = v;
        b.to_string()
    };
    let without = |k: &str| {
        let mut b = valid.clone();
        b.as_object_mut().unwrap().remove(k);
        b.to_string()
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (
            with("amount", json!("12.345.6")),
            "validation",
            "formatError",
        ),
        (with("amount", json!(100)), "validation", "formatError"),
        (with("amount", json!("-1")), "validation", "negativeValue"),
        (with("currency", json!("XXY")), "validation", "formatError"),
        (
            with("currency", json!("EUR")),
            "validation",
            "currencyNotSupported",
        ),
        ("this is not JSON".into(), "validation", "formatError"),
        ("[]".into(), "validation", "formatError"),
        (without("amount"), "validation", "mandatoryValueNotSupplied"),
        (
            without("currency"),
            "validation",
            "mandatoryValueNotSupplied",
        ),
        (with("amount", json!("100.50")), "validation", "formatError"),
        (
            with("amount", json!("300000")),
            "businessRule",
            "greaterThanTransactionMaxValue",
        ),
        (
            with(
                "debitParty",
                json!([{"key": "msisdn", "value": "+255712345678"}]),
            ),
            "validation",
            "formatError",
        ),
        (
            with(
                "creditParty",
                json!([{"key": "storeid", "value": "999999"}]),
            ),
            "businessRule",
            "genericError",
        ),
        (
            with("descriptionText", json!("x".repeat(161))),
            "validation",
            "lengthError",
        ),
    ];
    for (body, category, code) in cases {
        let (status, error) = gw
            .post_raw("/transactions/type/merchantpay", body.clone(), &[])
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {error}");
        assert_eq!(error["errorCategory"], category, "{body} -> {error}");
        assert_eq!(error["errorCode"], code, "{body} -> {error}");
        assert!(error["errorDescription"].is_string());
        assert!(error["errorDateTime"].is_string());
    }

    let (status, e) = gw
        .post_raw("/transactions/type/payday", valid.to_string(), &[])
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError"))
    );
    // No M-Pesa API this gateway drives carries an international transfer.
    let (status, e) = gw
        .post_raw("/transactions/type/inttransfer", valid.to_string(), &[])
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("transactionTypeError"))
    );
    let (status, e) = gw
        .post_raw(
            "/transactions/type/merchantpay",
            valid.to_string(),
            &[("X-CorrelationID", "not-a-uuid")],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError"))
    );
    let (status, e) = gw
        .post_raw(
            "/transactions/type/merchantpay",
            valid.to_string(),
            &[("X-Callback-URL", "nowhere")],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError"))
    );
    let response = gw
        .http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("content-type", "text/plain")
        .body(valid.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let (status, e) = gw
        .get(&format!("/requeststates/{}", correlation_id()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        (e["errorCategory"].as_str(), e["errorCode"].as_str()),
        (Some("identification"), Some("identifierError"))
    );
    let (status, e) = gw.get("/requeststates/not-a-uuid").await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError"))
    );
    let (status, e) = gw.get("/transactions/no-such-reference").await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("identifierError"))
    );
    let (status, e) = gw.get("/no/such/path").await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("identifierError"))
    );
    let big = format!(
        "{{\"amount\":\"1\",\"currency\":\"KES\",\"descriptionText\":\"{}\"}}",
        "x".repeat(400_000)
    );
    let (status, e) = gw
        .post_raw("/transactions/type/merchantpay", big, &[])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert_eq!(e["errorCategory"], "validation");
}

#[tokio::test]
async fn gsma_sdk_path_heartbeat_and_headers() {
    let gw = TestGateway::start().await;
    let sdk_base = format!(
        "http://{}/simulator/v1.2/passthrough/mm",
        gw.gateway.address
    );
    let response = gw
        .http
        .get(format!("{sdk_base}/heartbeat"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let x_date = response.headers()["x-date"].to_str().unwrap().to_owned();
    assert!(
        chrono::DateTime::parse_from_rfc3339(&x_date).is_ok(),
        "{x_date}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"serviceStatus": "available"}));

    let response = gw
        .http
        .post(format!("{sdk_base}/transactions/type/merchantpay"))
        .header("content-type", "application/json")
        .body(json!({"amount":"1","currency":"KES","debitParty":[{"key":"msisdn","value":PAYER}],"creditParty":[{"key":"storeid","value":TILL}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let state: Value = response.json().await.unwrap();
    let done = wait_final(
        &gw.http,
        &sdk_base,
        state["serverCorrelationId"].as_str().unwrap(),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(done["status"], "completed");

    let response = gw
        .http
        .get(format!("http://{}/openapi.json", gw.gateway.address))
        .send()
        .await
        .unwrap();
    let doc: Value = response.json().await.unwrap();
    assert!(doc["paths"]["/transactions/type/{transactionType}"]["post"].is_object());
}

#[tokio::test]
async fn paybill_and_billpay_go_through_stk_push_too() {
    let gw = TestGateway::start().await;
    let body = json!({
        "amount": "250", "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": "0708374149"}],
        "creditParty": [{"key": "businessshortcode", "value": TILL}, {"key": "consumerno", "value": "ACC-42"}],
    });
    for kind in ["merchantpay", "billpay"] {
        let (status, state) = gw
            .post_raw(&format!("/transactions/type/{kind}"), body.to_string(), &[])
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{state}");
        let done = gw
            .wait_final(
                state["serverCorrelationId"].as_str().unwrap(),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(done["status"], "completed");
    }
}

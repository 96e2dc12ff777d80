//! Debit mandates (GSMA recurring payments) on the M-Pesa OpenAPI, over real HTTP in sandbox mode: created
//! (`directDebitCreation/`), read back (`queryDirectDebit/`), paid under (`directDebitPayment/`), kept across a
//! restart; a KES mandate and bad input get GSMA errors. And a Tanzanian payment whose answer was lost is settled
//! by `queryTransactionStatus/`, submitted exactly once.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use mmapi_core::simulator_faults::{CallFault, FaultInjector, Faults};
use serde_json::{json, Value};

const TZ_PAYER: &str = "+255744553111";

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn mandate_body(currency: &str) -> Value {
    json!({
        "payee": [{"key": "businessshortcode", "value": "000000"}],
        "amountLimit": "50000",
        "currency": currency,
        "startDate": today().to_string(),
        "endDate": (today() + chrono::Days::new(365)).to_string(),
        "frequencyType": "weekly",
        "numberOfPayments": 10,
        "customData": [{"key": "plan", "value": "gold"}]
    })
}

fn mandate_payment(reference: &str, amount: &str) -> Value {
    json!({"amount": amount, "currency": "TZS",
           "debitParty": [{"key": "mandatereference", "value": reference}],
           "creditParty": [{"key": "businessshortcode", "value": "000000"}]})
}

/// Only the properties of the GSMA `responseDebitMandate`.
fn assert_gsma_mandate(m: &Value) {
    let allowed = [
        "mandateReference",
        "payee",
        "mandateStatus",
        "startDate",
        "amountLimit",
        "currency",
        "endDate",
        "frequencyType",
        "numberOfPayments",
        "requestingOrganisation",
        "creationDate",
        "modificationDate",
        "requestDate",
        "customData",
    ];
    for key in m.as_object().expect("an object").keys() {
        assert!(allowed.contains(&key.as_str()), "unexpected {key} in {m}");
    }
}

async fn pay(gw: &TestGateway, body: Value) -> (Value, Value) {
    let (status, state) = gw
        .post_raw("/transactions/type/merchantpay", body.to_string(), &[])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    let (_, tx) = gw
        .get(&format!(
            "/transactions/{}",
            state["objectReference"].as_str().unwrap()
        ))
        .await;
    (done, tx)
}

#[tokio::test]
async fn a_tanzanian_mandate_is_created_read_paid_under_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = sandbox_config(dir.path()).await;
    // The restarted gateway opens the same store (on PostgreSQL, the same database).
    let database_url = config.database_url.clone();
    let gw = TestGateway::start_with(config, dir).await;
    let receiver = CallbackReceiver::start(vec![]).await;
    let correlation = correlation_id();
    let (status, state) = gw
        .post_raw(
            &format!("/accounts/msisdn/{TZ_PAYER}/debitmandates"),
            mandate_body("TZS").to_string(),
            &[
                ("X-CorrelationID", &correlation),
                ("X-Callback-URL", &receiver.url),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    assert_eq!(state["status"], "pending");
    assert_eq!(state["notificationMethod"], "callback");
    let reference = state["objectReference"].as_str().unwrap().to_owned();
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["objectReference"], reference.as_str());

    // The callback: a PUT of the debit mandate, with the client's correlation id.
    let callbacks = receiver.wait_for(1, Duration::from_secs(20)).await;
    let mandate = &callbacks[0].body;
    assert_eq!(mandate["mandateReference"], reference.as_str(), "{mandate}");
    assert_eq!(mandate["mandateStatus"], "active");
    assert_eq!(mandate["amountLimit"], "50000");
    assert_eq!(mandate["currency"], "TZS");
    assert_eq!(mandate["frequencyType"], "weekly");
    assert_eq!(mandate["startDate"], today().to_string());
    assert_gsma_mandate(mandate);
    assert_eq!(
        callbacks[0].headers["x-correlationid"].to_str().unwrap(),
        correlation
    );

    // Read back, by identifier and by account id.
    let path = format!("/accounts/msisdn/{TZ_PAYER}/debitmandates/{reference}");
    let (status, read) = gw.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["mandateStatus"], "active");
    assert_eq!(read["mandateReference"], reference.as_str());
    assert_gsma_mandate(&read);
    let (status, by_id) = gw
        .get(&format!(
            "/accounts/msisdn@{TZ_PAYER}/debitmandates/{reference}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{by_id}");
    // Another payer's account, another client and an unknown reference: 404.
    let (status, e) = gw
        .get(&format!(
            "/accounts/msisdn/+255744553999/debitmandates/{reference}"
        ))
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("identifierError"))
    );
    let (_, other) = gw.another_client("another business").await;
    let (status, e) = get_json(&other, &gw.url(&path)).await;
    assert_eq!(
        (status, e["errorCategory"].as_str()),
        (StatusCode::NOT_FOUND, Some("identification")),
        "{e}"
    );
    let (status, _) = gw
        .get(&format!(
            "/accounts/msisdn/{TZ_PAYER}/debitmandates/0123456789abcdef"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A payment under the mandate: directDebitPayment, no PIN prompt; the transaction names the mandate.
    let sim = gw.gateway.openapi_simulator.clone().unwrap();
    let before = sim.balance_of("vodacomTZN", "255744553111").unwrap();
    let (done, tx) = pay(&gw, mandate_payment(&reference, "1500")).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(tx["transactionStatus"], "completed");
    assert_eq!(tx["debitParty"][0]["key"], "mandatereference");
    assert_eq!(tx["debitParty"][0]["value"], reference.as_str());
    assert!(tx["transactionReceipt"].is_string(), "{tx}");
    assert_eq!(before, "1000000.00");
    assert_eq!(
        sim.balance_of("vodacomTZN", "255744553111").as_deref(),
        Some("998500.00")
    );
    // Above the mandate's limit, or in another currency: not covered by it.
    let (status, e) = gw
        .post_raw(
            "/transactions/type/merchantpay",
            mandate_payment(&reference, "60000").to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("noMandateAuthority")),
        "{e}"
    );
    let mut ghs = mandate_payment(&reference, "10");
    ghs["currency"] = json!("GHS");
    let (status, e) = gw
        .post_raw("/transactions/type/merchantpay", ghs.to_string(), &[])
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("noMandateAuthority")),
        "{e}"
    );
    // /responses finds what the creation's correlation id created.
    let (status, link) = gw.get(&format!("/responses/{correlation}")).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_eq!(
        link["link"],
        format!("/accounts/msisdn/{TZ_PAYER}/debitmandates/{reference}")
    );
    // The same correlation id again is a duplicate.
    let (status, e) = gw
        .post_raw(
            &format!("/accounts/msisdn/{TZ_PAYER}/debitmandates"),
            mandate_body("TZS").to_string(),
            &[("X-CorrelationID", &correlation)],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("duplicateRequest"))
    );

    // A restart of the gateway (and of its sandbox simulator, from its journal): the mandate is still active at
    // both, and a payment under it still goes through.
    let TestGateway { gateway, dir, .. } = gw;
    gateway.run_until(async {}).await.unwrap();
    let mut config = sandbox_config(dir.path()).await;
    config.database_url = database_url;
    let gw = TestGateway::start_with(config, dir).await;
    let (status, read) = gw.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["mandateStatus"], "active", "{read}");
    let (done, tx) = pay(&gw, mandate_payment(&reference, "2500")).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(tx["debitParty"][0]["value"], reference.as_str());
    let sim = gw.gateway.openapi_simulator.clone().unwrap();
    assert_eq!(
        sim.balance_of("vodacomTZN", "255744553111").as_deref(),
        Some("996000.00")
    );
}

#[tokio::test]
async fn mandates_by_polling_declined_kes_and_bad_input_get_gsma_errors() {
    let gw = TestGateway::start().await;
    // Polling, by account id, with a test MSISDN.
    let (status, state) = gw
        .post_raw(
            "/accounts/msisdn@000000000001/debitmandates",
            json!({"currency": "TZS", "startDate": today().to_string(), "numberOfPayments": 1})
                .to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    assert_eq!(state["notificationMethod"], "polling");
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let reference = done["objectReference"].as_str().unwrap();
    let (status, read) = gw
        .get(&format!(
            "/accounts/msisdn/000000000001/debitmandates/{reference}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["mandateStatus"], "active");

    // The customer does not approve it (000000000004: failed, incorrect PIN): the request fails.
    let (status, state) = gw
        .post_raw(
            "/accounts/msisdn/000000000004/debitmandates",
            mandate_body("TZS").to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(done["status"], "failed", "{done}");
    assert!(done["error"]["errorCategory"].is_string(), "{done}");
    let failed = state["objectReference"].as_str().unwrap();
    let (status, _) = gw
        .get(&format!(
            "/accounts/msisdn/000000000004/debitmandates/{failed}"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nor can anything be paid under a mandate that does not exist.
    let (status, e) = gw
        .post_raw(
            "/transactions/type/merchantpay",
            mandate_payment(failed, "100").to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");

    // KES routes to Daraja (an M-Pesa Ratiba standing order), which pays only a merchant account of its own: the
    // Tanzanian service provider is refused, naming the field.
    // Ratiba's dates are Nairobi's (UTC+3), a day ahead of UTC from 21:00 UTC: start tomorrow by UTC, which is
    // never before Nairobi's today.
    let mut ratiba_body = mandate_body("KES");
    ratiba_body["startDate"] = json!((today() + chrono::Days::new(1)).to_string());
    let (status, e) = gw
        .post_raw(
            &format!("/accounts/msisdn/{PAYER}/debitmandates"),
            ratiba_body.to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["errorCategory"], "businessRule", "{e}");
    assert_eq!(e["errorParameters"][0]["value"], "payee", "{e}");

    // Bad input: GSMA validation errors, never a 5xx.
    let start = today().to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        ("not JSON", "startDate=today".into(), "formatError"),
        ("empty", String::new(), "mandatoryValueNotSupplied"),
        (
            "no startDate",
            json!({"currency": "TZS"}).to_string(),
            "mandatoryValueNotSupplied",
        ),
        (
            "no currency",
            json!({"startDate": start}).to_string(),
            "mandatoryValueNotSupplied",
        ),
        (
            "bad date",
            json!({"currency": "TZS", "startDate": "01/12/2026"}).to_string(),
            "formatError",
        ),
        (
            "end before start",
            json!({"currency": "TZS", "startDate": start, "endDate": "2000-01-01"}).to_string(),
            "formatError",
        ),
        (
            "unknown frequency",
            json!({"currency": "TZS", "startDate": start, "frequencyType": "daily"}).to_string(),
            "formatError",
        ),
        (
            "frequency M-Pesa lacks",
            json!({"currency": "TZS", "startDate": start, "frequencyType": "fortnight"})
                .to_string(),
            "formatError",
        ),
        (
            "bad amount",
            json!({"currency": "TZS", "startDate": start, "amountLimit": "12.345.6"}).to_string(),
            "formatError",
        ),
        (
            "negative amount",
            json!({"currency": "TZS", "startDate": start, "amountLimit": "-5"}).to_string(),
            "negativeValue",
        ),
        (
            "decimals in TZS",
            json!({"currency": "TZS", "startDate": start, "amountLimit": "10.5"}).to_string(),
            "formatError",
        ),
        (
            "negative count",
            json!({"currency": "TZS", "startDate": start, "numberOfPayments": -1}).to_string(),
            "negativeValue",
        ),
        (
            "unknown currency",
            json!({"currency": "XXY", "startDate": start}).to_string(),
            "formatError",
        ),
        (
            "currency no operator moves",
            json!({"currency": "EUR", "startDate": start}).to_string(),
            "currencyNotSupported",
        ),
        (
            "empty payee",
            json!({"currency": "TZS", "startDate": start, "payee": []}).to_string(),
            "lengthError",
        ),
    ];
    for (what, body, code) in cases {
        let (status, e) = gw
            .post_raw(
                &format!("/accounts/msisdn/{TZ_PAYER}/debitmandates"),
                body,
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {e}");
        assert_eq!(e["errorCode"], code, "{what}: {e}");
    }
    // A Kenyan number cannot hold a Tanzanian mandate; a malformed account id is a format error.
    let (status, e) = gw
        .post_raw(
            &format!("/accounts/msisdn/{PAYER}/debitmandates"),
            mandate_body("TZS").to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError")),
        "{e}"
    );
    let (status, e) = gw
        .post_raw(
            "/accounts/nonsense/debitmandates",
            mandate_body("TZS").to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError")),
        "{e}"
    );
}

/// The first seed whose fault decisions time out the first API call and serve the next ten normally.
fn seed_losing_the_first_answer(faults: &Faults) -> u64 {
    (0..100_000u64)
        .find(|&seed| {
            let injector = FaultInjector::new(Faults {
                seed,
                ..faults.clone()
            });
            injector.on_call() == CallFault::Timeout
                && (0..10).all(|_| injector.on_call() == CallFault::None)
        })
        .expect("a seed")
}

#[tokio::test]
async fn a_status_query_settles_a_tanzanian_payment_whose_answer_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(dir.path()).await;
    // The simulator takes the payment but answers after the gateway's 15 s timeout; later calls are served.
    let faults = Faults {
        timeouts: 0.1,
        timeout_ms: 20_000,
        ..Faults::default()
    };
    config.simulators.faults = Faults {
        seed: seed_losing_the_first_answer(&faults),
        ..faults
    };
    let gw = TestGateway::start_with(config, dir).await;
    let (status, state) = gw
        .post_raw(
            "/transactions/type/merchantpay",
            json!({"amount": "1000", "currency": "TZS",
                   "debitParty": [{"key": "msisdn", "value": "000000000001"}],
                   "creditParty": [{"key": "businessshortcode", "value": "000000"}]})
            .to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let reference = state["objectReference"].as_str().unwrap().to_owned();
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, tx) = gw.get(&format!("/transactions/{reference}")).await;
    assert_eq!(tx["transactionStatus"], "completed", "{tx}");
    assert!(tx["transactionReceipt"].is_string(), "{tx}");

    // Exactly one submission reached the simulator: the status query settled it, nothing was sent again.
    let simulator = gw.gateway.sandbox_openapi.unwrap();
    let (status, counts) = get_json_plain(
        &gw.http,
        &format!("http://{simulator}/__simulator/submissions"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counts["submissions"][reference.as_str()], 1, "{counts}");
    assert_eq!(counts["duplicates"], json!([]), "{counts}");
}

/// A GET of the simulator's own (non-GSMA) routes, which carry no `X-Date`.
async fn get_json_plain(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let response = http.get(url).send().await.expect("request sent");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn patch_mandate(http: &reqwest::Client, url: String, body: &str) -> (StatusCode, String) {
    let response = http
        .patch(url)
        .header("content-type", "application/json")
        .header("X-CorrelationID", correlation_id())
        .body(body.to_owned())
        .send()
        .await
        .expect("PATCH");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_cancelled_mandate_takes_no_more_payments() {
    let gw = TestGateway::start().await;
    let (status, state) = gw
        .post_raw(
            &format!("/accounts/msisdn/{TZ_PAYER}/debitmandates"),
            mandate_body("TZS").to_string(),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let reference = state["objectReference"].as_str().unwrap().to_owned();
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (paid, _) = pay(&gw, mandate_payment(&reference, "1000")).await;
    assert_eq!(paid["status"], "completed", "{paid}");

    let path = format!("/accounts/msisdn/{TZ_PAYER}/debitmandates/{reference}");
    let cancel = r#"[{"op":"replace","path":"/mandateStatus","value":"inactive"}]"#;
    // Malformed patches, another client's and another payer's mandate change nothing.
    for (body, expected) in [
        (
            r#"[{"op":"replace","path":"/mandateStatus","value":"active"}]"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"[{"op":"replace","path":"/amountLimit","value":"1"}]"#,
            StatusCode::BAD_REQUEST,
        ),
        (r#"{"mandateStatus":"inactive"}"#, StatusCode::BAD_REQUEST),
    ] {
        let (status, e) = patch_mandate(&gw.http, gw.url(&path), body).await;
        assert_eq!(status, expected, "{body}: {e}");
        assert!(e.contains("\"errorCategory\":\"validation\""), "{e}");
    }
    let (_, other) = gw.another_client("another business").await;
    let (status, _) = patch_mandate(&other, gw.url(&path), cancel).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = patch_mandate(
        &gw.http,
        gw.url(&format!(
            "/accounts/msisdn/+255744553222/debitmandates/{reference}"
        )),
        cancel,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, read) = gw.get(&path).await;
    assert_eq!(
        (status, read["mandateStatus"].as_str()),
        (StatusCode::OK, Some("active"))
    );

    // The cancellation, by account id: the operator no longer has it active, and it takes no payment.
    let (status, body) = patch_mandate(
        &gw.http,
        gw.url(&format!(
            "/accounts/msisdn@{TZ_PAYER}/debitmandates/{reference}"
        )),
        cancel,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, read) = gw.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["mandateStatus"], "inactive", "{read}");
    let (status, e) = gw
        .post_raw(
            "/transactions/type/merchantpay",
            mandate_payment(&reference, "1000").to_string(),
            &[],
        )
        .await;
    assert_eq!(
        (status, e["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("noMandateAuthority")),
        "{e}"
    );
    // Cancelling again changes nothing.
    let (status, _) = patch_mandate(&gw.http, gw.url(&path), cancel).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

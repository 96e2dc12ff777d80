//! Recurring payments on M-Pesa Kenya (issue 9, point 3): a debit mandate becomes an M-Pesa Ratiba standing
//! order, active once the simulated customer approves it; each payment Ratiba takes on a due date of the
//! simulator's clock arrives as a completed merchant payment that names the mandate, is among the payer's
//! transactions and is pushed to the client.

mod common;

use std::time::Duration;

use chrono::{Days, Utc};
use common::*;
use serde_json::{json, Value};

const ACCOUNT: &str = "/accounts/msisdn/+254708374149";

/// Tomorrow in Nairobi, where Ratiba's dates are.
fn tomorrow() -> String {
    let nairobi = chrono::FixedOffset::east_opt(3 * 3600).expect("UTC+3");
    let today = Utc::now().with_timezone(&nairobi).date_naive();
    (today + Days::new(1)).to_string()
}

fn weekly_mandate(start: &str) -> Value {
    json!({"payee": [{"key": "businessshortcode", "value": "174379"}], "amountLimit": "150", "currency": "KES",
           "startDate": start, "numberOfPayments": 4, "frequencyType": "weekly"})
}

async fn post_mandate(
    gw: &TestGateway,
    account: &str,
    body: &Value,
    callback: Option<&str>,
) -> (u16, Value) {
    let mut request = gw
        .http
        .post(gw.url(&format!("{account}/debitmandates")))
        .header("X-CorrelationID", correlation_id())
        .json(body);
    if let Some(url) = callback {
        request = request.header("X-Callback-URL", url);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn advance_simulator_clock(gw: &TestGateway, seconds: i64) {
    let sim = gw.gateway.sandbox_daraja.expect("the Daraja simulator");
    let answer = gw
        .http
        .post(format!("http://{sim}/__simulator/clock"))
        .json(&json!({"advanceSeconds": seconds}))
        .send()
        .await
        .expect("sent");
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
}

/// The payments taken under `mandate`, as the payer's account lists them.
async fn payments_under(gw: &TestGateway, mandate: &str) -> Vec<Value> {
    let (status, body) = gw.get(&format!("{ACCOUNT}/transactions?limit=50")).await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .expect("a list")
        .iter()
        .filter(|t| {
            t["debitParty"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["value"] == mandate))
        })
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_ratiba_mandate_pays_on_its_due_dates_and_each_payment_reaches_the_client() {
    let gw = TestGateway::start().await;
    let receiver = CallbackReceiver::start(vec![]).await;
    let (status, state) = post_mandate(
        &gw,
        ACCOUNT,
        &weekly_mandate(&tomorrow()),
        Some(&receiver.url),
    )
    .await;
    assert_eq!(status, 202, "{state}");
    let mandate = state["objectReference"]
        .as_str()
        .expect("objectReference")
        .to_owned();

    // The customer approves it on the phone: the mandate is PUT to the client, active.
    let callbacks = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(callbacks[0].body["mandateReference"], mandate.as_str());
    assert_eq!(
        callbacks[0].body["mandateStatus"], "active",
        "{}",
        callbacks[0].body
    );
    let (status, read) = gw.get(&format!("{ACCOUNT}/debitmandates/{mandate}")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["mandateStatus"], "active");
    assert_eq!(read["frequencyType"], "weekly");

    // Nothing is due before the start date.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(payments_under(&gw, &mandate).await.is_empty());
    assert_eq!(receiver.all().len(), 1);

    // Past the first due date Ratiba takes the payment: a completed merchant payment naming the mandate.
    advance_simulator_clock(&gw, 24 * 3600 + 60).await;
    let callbacks = receiver.wait_for(2, Duration::from_secs(20)).await;
    let paid = &callbacks[1].body;
    assert_eq!(paid["transactionStatus"], "completed", "{paid}");
    assert_eq!(paid["type"], "merchantpay", "{paid}");
    assert_eq!(paid["currency"], "KES");
    assert!(paid["amount"]
        .as_str()
        .is_some_and(|a| a.trim_end_matches('0').trim_end_matches('.') == "150"));
    let debit = paid["debitParty"].as_array().expect("debitParty");
    assert!(
        debit
            .iter()
            .any(|p| p["key"] == "mandatereference" && p["value"] == mandate.as_str()),
        "{paid}"
    );
    assert!(debit.iter().any(|p| p["key"] == "msisdn"), "{paid}");
    assert!(paid["transactionReceipt"].is_string(), "{paid}");
    let listed = payments_under(&gw, &mandate).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0]["transactionReference"],
        paid["transactionReference"]
    );

    // A week on, the second; each due date is paid once however the clock moves.
    advance_simulator_clock(&gw, 7 * 24 * 3600).await;
    receiver.wait_for(3, Duration::from_secs(20)).await;
    advance_simulator_clock(&gw, 60).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(payments_under(&gw, &mandate).await.len(), 2);
    assert_eq!(receiver.all().len(), 3);

    // Ratiba takes the payments itself: none can be requested under the standing order.
    let payment = json!({"amount": "150", "currency": "KES",
        "debitParty": [{"key": "mandatereference", "value": mandate}],
        "creditParty": [{"key": "businessshortcode", "value": "174379"}]});
    let (status, refused) = gw
        .post_raw(
            "/transactions/type/merchantpay",
            payment.to_string(),
            &[("X-CorrelationID", &correlation_id())],
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errorCode"], "transactionTypeError", "{refused}");
}

#[tokio::test]
async fn what_ratiba_cannot_express_is_refused_and_a_declined_order_creates_no_mandate() {
    let gw = TestGateway::start().await;
    let mut fortnightly = weekly_mandate(&tomorrow());
    fortnightly["frequencyType"] = json!("fortnight");
    let (status, error) = post_mandate(&gw, ACCOUNT, &fortnightly, None).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorCategory"], "validation");
    assert_eq!(error["errorCode"], "formatError");
    assert!(
        error["errorParameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["value"] == "frequencyType")),
        "{error}"
    );

    let mut unlimited = weekly_mandate(&tomorrow());
    unlimited
        .as_object_mut()
        .expect("object")
        .remove("amountLimit");
    unlimited["currency"] = json!("KES");
    let (status, error) = post_mandate(&gw, ACCOUNT, &unlimited, None).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorCode"], "mandatoryValueNotSupplied", "{error}");

    // 254700000001 declines on the phone: the request fails with the mapped error and no mandate exists.
    let declining = "/accounts/msisdn/+254700000001";
    let (status, state) = post_mandate(&gw, declining, &weekly_mandate(&tomorrow()), None).await;
    assert_eq!(status, 202, "{state}");
    let id = state["serverCorrelationId"].as_str().expect("id");
    let final_state = gw.wait_final(id, Duration::from_secs(20)).await;
    assert_eq!(final_state["status"], "failed", "{final_state}");
    assert!(
        final_state["error"]["errorCode"].is_string(),
        "{final_state}"
    );
    let mandate = state["objectReference"].as_str().expect("reference");
    let (status, _) = gw
        .get(&format!("{declining}/debitmandates/{mandate}"))
        .await;
    assert_eq!(status, 404);
}

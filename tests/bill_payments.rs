//! Bill payments (issue 9, point 2): a biller issues bills through the extension endpoint; the customer's bills
//! list with their status; a payment by API (STK Push to the paybill with the bill's account reference) and a
//! payment from the phone (C2B) both update the bill; the bill's rules refuse over- and under-payment; the biller
//! is notified once per payment.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// An amount without trailing zeros (Daraja's C2B confirmation says "600.00").
fn amount(v: &Value) -> String {
    let text = v.as_str().unwrap_or("");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text.to_owned()
    }
}

async fn issue(gw: &TestGateway, notify: &str, bill: Value) -> (u16, Value) {
    let response = gw
        .http
        .post(gw.url("/billers/bills"))
        .header("X-Callback-URL", notify)
        .json(&bill)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn pay(gw: &TestGateway, path: &str, amount: &str) -> (u16, Value) {
    let response = gw
        .http
        .post(gw.url(path))
        .header("X-CorrelationID", correlation_id())
        .json(&json!({"amountPaid": amount, "currency": "KES"}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn the_bill(gw: &TestGateway, reference: &str) -> Value {
    let (status, bills) = gw.get(&format!("/accounts/msisdn/{PAYER}/bills")).await;
    assert_eq!(status, 200, "{bills}");
    bills
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["billReference"] == reference)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn wait_bill_status(gw: &TestGateway, reference: &str, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let bill = the_bill(gw, reference).await;
        if bill["billStatus"] == status {
            return bill;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the bill never became {status}: {bill}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn meta<'a>(bill: &'a Value, key: &str) -> &'a Value {
    bill["metadata"]
        .as_array()
        .and_then(|m| m.iter().find(|kv| kv["key"] == key))
        .map(|kv| &kv["value"])
        .unwrap_or(&Value::Null)
}

async fn wait_invoice_status(gw: &TestGateway, reference: &str, status: &str) {
    let started = Instant::now();
    loop {
        let (_, bills) = gw.get("/accounts/msisdn/000000000001/bills").await;
        let mut all = bills.as_array().cloned().unwrap_or_default();
        all.push(the_bill(gw, reference).await);
        if let Some(bill) = all.iter().find(|b| b["billReference"] == reference) {
            if meta(bill, "invoiceStatus") == status {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the bill's invoice never became {status}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_bill_is_paid_in_part_by_api_and_the_rest_from_the_phone() {
    let biller = CallbackReceiver::start(vec![503]).await;
    let gw = TestGateway::start().await;
    let (status, bill) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "174379", "accountReference": "INV-1001",
               "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": "1000", "currency": "KES",
               "dueDate": "2026-12-31", "billDescription": "December water", "overPaymentNotAllowed": true}),
    )
    .await;
    assert_eq!(status, 201, "{bill}");
    let reference = bill["billReference"].as_str().unwrap().to_owned();

    // Listed as unpaid, and sent to the customer through Bill Manager.
    wait_invoice_status(&gw, &reference, "sent").await;
    let listed = the_bill(&gw, &reference).await;
    assert_eq!(listed["billStatus"], "unpaid", "{listed}");
    assert_eq!(listed["amountDue"], "1000");
    assert_eq!(listed["dueDate"], "2026-12-31");
    assert_eq!(listed["currency"], "KES");

    // A partial payment by API: an STK Push to the paybill with the bill's account reference.
    let pay_path = format!("/accounts/msisdn/{PAYER}/bills/{reference}/payments");
    let (status, state) = pay(&gw, &pay_path, "400").await;
    assert_eq!(status, 202, "{state}");
    let final_state = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(final_state["status"], "completed", "{final_state}");
    let (_, transaction) = gw
        .get(&format!(
            "/transactions/{}",
            final_state["objectReference"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        transaction["transactionStatus"], "completed",
        "{transaction}"
    );
    assert_eq!(transaction["type"], "billpay");
    assert!(transaction["creditParty"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "consumerno", "value": "INV-1001"})));
    let partial = wait_bill_status(&gw, &reference, "partialpaid").await;
    assert_eq!(partial["amountDue"], "600");

    // Over-paying a bill that forbids it.
    let (status, error) = pay(&gw, &pay_path, "700").await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorCategory"], "businessRule");
    assert_eq!(error["errorCode"], "overPaymentNotAllowed");

    // The customer pays the rest from the phone (C2B to the paybill, the account number typed differently).
    simulate_c2b(&gw, "inv-1001", 600).await;
    let paid = wait_bill_status(&gw, &reference, "paid").await;
    assert_eq!(paid["amountDue"], "0");

    // Both payments are listed.
    let (status, payments) = gw.get(&format!("/bills/{reference}/payments")).await;
    assert_eq!(status, 200, "{payments}");
    let payments = payments.as_array().unwrap().clone();
    assert_eq!(payments.len(), 2, "{payments:?}");
    assert_eq!(payments[0]["amountPaid"], "400");
    assert_eq!(payments[0]["billPaymentStatus"], "completed");
    assert_eq!(amount(&payments[1]["amountPaid"]), "600");

    // The biller hears of each payment once (the first delivery failed with 503 and was retried).
    let received = biller.wait_for(3, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = if biller.all().len() > received.len() {
        biller.all()
    } else {
        received
    };
    assert_eq!(
        received.len(),
        3,
        "a refused delivery, retried, and two payments"
    );
    // The first delivery was refused (503): what was delivered is one notification per payment.
    let delivered: Vec<&Value> = received[1..].iter().map(|r| &r.body).collect();
    let mut by_transaction: Vec<&str> = delivered
        .iter()
        .map(|b| {
            b["requestingOrganisationTransactionReference"]
                .as_str()
                .unwrap_or("")
        })
        .collect();
    by_transaction.sort_unstable();
    by_transaction.dedup();
    assert_eq!(by_transaction.len(), 2, "{delivered:?}");
    let mut amounts: Vec<String> = delivered.iter().map(|b| amount(&b["amountPaid"])).collect();
    amounts.sort_unstable();
    assert_eq!(amounts, ["400", "600"]);
    for body in &delivered {
        let meta = body["metadata"].as_array().unwrap();
        assert!(meta.contains(&json!({"key": "billReference", "value": reference})));
    }
    assert!(
        delivered.contains(&&received[0].body),
        "the refused notification is delivered again"
    );
    assert!(
        received[0].headers.contains_key("x-signature"),
        "signed like client callbacks"
    );
}

#[tokio::test]
async fn bill_rules_and_errors() {
    let biller = CallbackReceiver::start(vec![]).await;
    let gw = TestGateway::start().await;
    let (status, bill) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "174379", "customer": [{"key": "msisdn", "value": PAYER}],
               "amountDue": "250.50", "currency": "KES", "underPaymentNotAllowed": true}),
    )
    .await;
    assert_eq!(status, 201, "{bill}");
    let reference = bill["billReference"].as_str().unwrap().to_owned();
    assert!(reference.len() <= 12, "{reference}");

    // Partial payment refused.
    let (status, error) = pay(&gw, &format!("/bills/{reference}/payments"), "100").await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorCode"], "underPaymentNotAllowed");

    // A bill's minimum payment.
    let (status, bill) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "174379", "accountReference": "MIN-1",
               "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": "500", "currency": "KES",
               "minimumAmountDue": "200"}),
    )
    .await;
    assert_eq!(status, 201, "{bill}");
    assert_eq!(bill["minimumAmountDue"], "200");
    let (status, error) = pay(
        &gw,
        &format!(
            "/bills/{}/payments",
            bill["billReference"].as_str().unwrap()
        ),
        "150",
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorCode"], "underPaymentNotAllowed");

    // A payment under way counts: a second one for the whole amount would over-pay a bill that forbids it.
    let (status, bill) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "174379", "accountReference": "ONCE-1",
               "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": "80", "currency": "KES",
               "overPaymentNotAllowed": true}),
    )
    .await;
    assert_eq!(status, 201, "{bill}");
    let once = format!(
        "/bills/{}/payments",
        bill["billReference"].as_str().unwrap()
    );
    let (status, first) = pay(&gw, &once, "80").await;
    assert_eq!(status, 202, "{first}");
    let (status, second) = pay(&gw, &once, "80").await;
    assert_eq!(status, 400, "{second}");
    assert_eq!(second["errorCode"], "overPaymentNotAllowed");

    // Another customer's path does not find it; an unknown bill is 404.
    let (status, error) = pay(
        &gw,
        &format!("/accounts/msisdn/+254700000009/bills/{reference}/payments"),
        "250.50",
    )
    .await;
    assert_eq!(status, 404, "{error}");
    assert_eq!(error["errorCategory"], "identification");
    let (status, _) = gw.get("/bills/NOPE/payments").await;
    assert_eq!(status, 404);

    // The same account reference twice is refused; a malformed bill too.
    let (status, error) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "174379", "accountReference": reference,
               "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": "1", "currency": "KES"}),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorCode"], "duplicateRequest");
    let (status, error) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "174379", "customer": [{"key": "msisdn", "value": PAYER}],
               "amountDue": "1.5x", "currency": "KES"}),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorCategory"], "validation");

    // Bills are issued for the bill companies (in sandbox mode the sandbox paybill).
    let (status, companies) = gw.get("/billcompanies").await;
    assert_eq!(status, 200, "{companies}");
    assert_eq!(companies[0]["serviceProvider"], "174379");
    assert!(companies[0]["companyName"].is_string());
    let (status, of_account) = gw
        .get(&format!("/accounts/msisdn/{PAYER}/billcompanies"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(of_account, companies);
    let (status, company) = gw.get("/billcompanies/174379").await;
    assert_eq!(status, 200, "{company}");
    let (status, error) = gw.get("/billcompanies/999999").await;
    assert_eq!(status, 404, "{error}");
    let (status, error) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "600000", "customer": [{"key": "msisdn", "value": PAYER}],
               "amountDue": "1", "currency": "KES"}),
    )
    .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorParameters"][0]["value"], "serviceProvider");

    // Bulk issue, all or none.
    let response = gw
        .http
        .post(gw.url("/billers/bills/bulk"))
        .json(&json!({"bills": [
            {"serviceProvider": "174379", "accountReference": "B-1", "customer": [{"key": "msisdn", "value": PAYER}],
             "amountDue": "10", "currency": "KES"},
            {"serviceProvider": "174379", "accountReference": "B-2", "customer": [{"key": "msisdn", "value": PAYER}],
             "amountDue": "20", "currency": "KES"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (status, bills) = gw.get(&format!("/accounts/msisdn@{PAYER}/bills")).await;
    assert_eq!(status, 200, "{bills}");
    assert_eq!(bills.as_array().unwrap().len(), 5);

    // Another client does not see them.
    let (_, other) = gw.another_client("someone else").await;
    let response = other
        .get(gw.url(&format!("/accounts/msisdn/{PAYER}/bills")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
}

#[tokio::test]
async fn a_tanzanian_bill_is_paid_through_the_openapi() {
    let biller = CallbackReceiver::start(vec![]).await;
    let gw = TestGateway::start().await;
    let (status, bill) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "000000", "accountReference": "TZ-77",
               "customer": [{"key": "msisdn", "value": "000000000001"}], "amountDue": "1000", "currency": "TZS"}),
    )
    .await;
    assert_eq!(status, 201, "{bill}");
    let reference = bill["billReference"].as_str().unwrap().to_owned();
    // M-Pesa OpenAPI has no invoicing: the bill is paid by its reference all the same.
    wait_invoice_status(&gw, &reference, "none").await;
    let (status, state) = pay(&gw, &format!("/bills/{reference}/payments"), "1000").await;
    assert_eq!(status, 400, "the currency is TZS: {state}");
    let response = gw
        .http
        .post(gw.url(&format!("/bills/{reference}/payments")))
        .json(&json!({"amountPaid": "1000", "currency": "TZS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let state: Value = response.json().await.unwrap();
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, payments) = gw.get(&format!("/bills/{reference}/payments")).await;
    assert_eq!(payments.as_array().map(Vec::len), Some(1), "{payments}");
    let (_, bills) = gw.get("/accounts/msisdn/000000000001/bills").await;
    assert_eq!(bills[0]["billStatus"], "paid", "{bills}");
    let notes = biller.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(notes[0].body["currency"], "TZS");
}

#[tokio::test]
async fn a_bill_manager_payment_push_pays_the_bill_once() {
    let biller = CallbackReceiver::start(vec![]).await;
    let gw = TestGateway::start().await;
    let (status, bill) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "174379", "accountReference": "BM-1", "customerName": "John Doe",
               "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": "500", "currency": "KES"}),
    )
    .await;
    assert_eq!(status, 201, "{bill}");
    let reference = bill["billReference"].as_str().unwrap().to_owned();
    // What Bill Manager pushes to the URL the gateway opted in with, twice (it retries).
    let root = gw.base.trim_end_matches("/v1.2/mm").to_owned();
    let push = json!({"transactionId": "RJB53MYR1N", "paidAmount": "500", "msisdn": "254708374149",
                      "dateCreated": "2026-12-02", "accountReference": "bm-1", "shortCode": "174379"});
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .post(format!(
                "{root}/callbacks/daraja/billmanager/174379/payment"
            ))
            .json(&push)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["rescode"], "200");
    }
    let paid = wait_bill_status(&gw, &reference, "paid").await;
    assert_eq!(paid["amountDue"], "0");
    let (_, payments) = gw.get(&format!("/bills/{reference}/payments")).await;
    assert_eq!(payments.as_array().map(Vec::len), Some(1), "{payments}");
    assert_eq!(payments[0]["serviceProviderPaymentReference"], "RJB53MYR1N");
    let notes = biller.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(biller.all().len(), 1, "{notes:?}");
}

/// A bill the gateway answered 201 for is on disk: the gateway killed with SIGKILL right after and started again
/// still lists it, and a payment still updates it.
#[tokio::test]
async fn an_issued_bill_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "[simulators]\ncallback_delay_ms = 100\nstk_result_deadline_secs = 1\n[dispatch]\ntick_ms = 100\n",
    )
    .unwrap();
    let data_dir = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/v1.2/mm");
    let database_url = test_database_url().await;
    let mut first = spawn_gateway(&config, port, &data_dir, database_url.as_deref());
    wait_up(&reqwest::Client::new(), &base).await;
    let http = authenticated_http(&sandbox_credentials(&data_dir));
    let response = http
        .post(format!("{base}/billers/bills"))
        .json(&json!({"serviceProvider": "174379", "accountReference": "KILL-1",
                      "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": "300", "currency": "KES"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let bill: Value = response.json().await.unwrap();
    let reference = bill["billReference"].as_str().unwrap().to_owned();
    first.kill();

    let mut second = spawn_gateway(&config, port, &data_dir, database_url.as_deref());
    wait_up(&reqwest::Client::new(), &base).await;
    let bills_url = format!("{base}/accounts/msisdn/{PAYER}/bills");
    let (status, bills) = get_json(&http, &bills_url).await;
    assert_eq!(status, 200, "{bills}");
    assert_eq!(bills[0]["billReference"], reference.as_str());
    assert_eq!(bills[0]["billStatus"], "unpaid");
    let response = http
        .post(format!("{base}/bills/{reference}/payments"))
        .json(&json!({"amountPaid": "100", "currency": "KES"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let state: Value = response.json().await.unwrap();
    let done = wait_final(
        &http,
        &base,
        state["serverCorrelationId"].as_str().unwrap(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    let (_, bills) = get_json(&http, &bills_url).await;
    assert_eq!(bills[0]["billStatus"], "partialpaid", "{bills}");
    assert_eq!(bills[0]["amountDue"], "200");
    second.kill();
}

/// A payment from the phone that would over-pay a bill that forbids it is refused at C2B validation (the customer
/// keeps the money); the right amount goes through.
#[tokio::test]
async fn an_over_payment_from_the_phone_is_refused_at_validation() {
    let biller = CallbackReceiver::start(vec![]).await;
    let gw = TestGateway::start().await;
    let (status, bill) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "174379", "accountReference": "EXACT-1",
               "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": "100", "currency": "KES",
               "overPaymentNotAllowed": true}),
    )
    .await;
    assert_eq!(status, 201, "{bill}");
    let reference = bill["billReference"].as_str().unwrap().to_owned();
    simulate_c2b(&gw, "EXACT-1", 150).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, payments) = gw.get(&format!("/bills/{reference}/payments")).await;
    assert_eq!(payments, json!([]), "the over-payment was refused");
    assert_eq!(the_bill(&gw, &reference).await["billStatus"], "unpaid");
    simulate_c2b(&gw, "EXACT-1", 100).await;
    wait_bill_status(&gw, &reference, "paid").await;
    assert_eq!(biller.wait_for(1, Duration::from_secs(10)).await.len(), 1);
}

/// A biller cancels a bill not yet paid: it is no longer listed nor payable; a paid bill cannot be cancelled.
#[tokio::test]
async fn a_bill_is_cancelled_until_it_is_paid() {
    let biller = CallbackReceiver::start(vec![]).await;
    let gw = TestGateway::start().await;
    let mut references = Vec::new();
    for account in ["CANCEL-1", "PAID-1"] {
        let (status, bill) = issue(
            &gw,
            &biller.url,
            json!({"serviceProvider": "174379", "accountReference": account,
                   "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": "50", "currency": "KES"}),
        )
        .await;
        assert_eq!(status, 201, "{bill}");
        references.push(bill["billReference"].as_str().unwrap().to_owned());
    }
    wait_invoice_status(&gw, &references[0], "sent").await;
    let delete = |reference: &str| {
        gw.http
            .delete(gw.url(&format!("/billers/bills/{reference}")))
            .send()
    };
    assert_eq!(delete(&references[0]).await.unwrap().status(), 204);
    assert!(
        the_bill(&gw, &references[0]).await.is_null(),
        "no longer listed"
    );
    let (status, error) = pay(&gw, &format!("/bills/{}/payments", references[0]), "50").await;
    assert_eq!(status, 404, "{error}");
    assert_eq!(delete(&references[0]).await.unwrap().status(), 404);

    simulate_c2b(&gw, "PAID-1", 50).await;
    wait_bill_status(&gw, &references[1], "paid").await;
    let response = delete(&references[1]).await.unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["errorCategory"], "businessRule", "{error}");
}

#[tokio::test]
async fn payments_of_one_bill_arriving_together_cannot_over_pay_it() {
    let gw = TestGateway::start().await;
    let biller = CallbackReceiver::start(vec![]).await;
    let (status, bill) = issue(
        &gw,
        &biller.url,
        json!({"serviceProvider": "174379", "accountReference": "RACE-1",
               "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": "100", "currency": "KES",
               "overPaymentNotAllowed": true}),
    )
    .await;
    assert_eq!(status, 201, "{bill}");
    let path = format!(
        "/bills/{}/payments",
        bill["billReference"].as_str().expect("billReference")
    );
    // Thirty-two payments of 60 at once: each would fit alone, but only one fits the 100 due.
    // A bearer token, so that the requests are not spaced out by the (slow on purpose) secret check.
    let token: Value = gw
        .http
        .post(format!(
            "http://{}/v1/oauth/accesstoken",
            gw.gateway.address
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("a token");
    let bearer = format!("Bearer {}", token["access_token"].as_str().expect("token"));
    let mut payments = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (http, url, bearer) = (reqwest::Client::new(), gw.url(&path), bearer.clone());
        payments.spawn(async move {
            let response = http
                .post(url)
                .header("authorization", bearer)
                .header("X-CorrelationID", correlation_id())
                .json(&json!({"amountPaid": "60", "currency": "KES"}))
                .send()
                .await
                .expect("sent");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        });
    }
    let answers = payments.join_all().await;
    let accepted = answers.iter().filter(|(status, _)| *status == 202).count();
    assert_eq!(accepted, 1, "{answers:?}");
    for (status, error) in answers.iter().filter(|(status, _)| *status != 202) {
        assert_eq!(*status, 400, "{error}");
        assert_eq!(error["errorCode"], "overPaymentNotAllowed", "{error}");
    }
}

/// A payment without a bill reference (`POST …/bills/payments`) pays the customer's oldest open bill (the
/// earliest due date first) under that bill's rules; `GET …/bills/payments` lists the payments of all the
/// customer's bills; a customer who owes nothing gets 404.
#[tokio::test]
async fn a_payment_without_a_bill_reference_pays_the_oldest_open_bill() {
    let biller = CallbackReceiver::start(vec![]).await;
    let gw = TestGateway::start().await;
    let mut references = Vec::new();
    for (account, due, amount) in [
        ("LATER-1", "2027-03-31", "300"),
        ("SOONER-1", "2027-01-31", "100"),
    ] {
        let (status, bill) = issue(
            &gw,
            &biller.url,
            json!({"serviceProvider": "174379", "accountReference": account,
                   "customer": [{"key": "msisdn", "value": PAYER}], "amountDue": amount, "currency": "KES",
                   "dueDate": due, "overPaymentNotAllowed": true}),
        )
        .await;
        assert_eq!(status, 201, "{bill}");
        references.push(bill["billReference"].as_str().unwrap().to_owned());
    }
    let (later, sooner) = (&references[0], &references[1]);
    let on_account = format!("/accounts/msisdn/{PAYER}/bills/payments");

    // The bill due sooner is paid first, and its rules apply: more than it asks is refused.
    let (status, error) = pay(&gw, &on_account, "150").await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["errorCode"], "overPaymentNotAllowed", "{error}");
    let (status, state) = pay(&gw, &on_account, "100").await;
    assert_eq!(status, 202, "{state}");
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().unwrap(),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    wait_bill_status(&gw, sooner, "paid").await;
    assert_eq!(the_bill(&gw, later).await["billStatus"], "unpaid");

    // Then the later one, by the account id form of the path.
    let (status, state) = pay(
        &gw,
        &format!("/accounts/msisdn@{PAYER}/bills/payments"),
        "300",
    )
    .await;
    assert_eq!(status, 202, "{state}");
    wait_bill_status(&gw, later, "paid").await;

    // Both payments, oldest first, each naming its bill.
    let (status, payments) = gw.get(&on_account).await;
    assert_eq!(status, 200, "{payments}");
    let bills: Vec<&Value> = payments
        .as_array()
        .unwrap()
        .iter()
        .map(|p| meta(p, "billReference"))
        .collect();
    assert_eq!(bills, [&json!(sooner), &json!(later)], "{payments}");
    assert_eq!(amount(&payments[0]["amountPaid"]), "100");

    // Nothing is owed now.
    let (status, error) = pay(&gw, &on_account, "1").await;
    assert_eq!(status, 404, "{error}");
    assert_eq!(error["errorCode"], "identifierError", "{error}");
}

//! Sandbox mode's GSMA-speaking operator, the MMAPI reference simulator, through the gateway (issue 12,
//! acceptance 2 as far as the gateway carries it today): with `walletid` parties in USD, RWF and GBP, payments
//! and transfers move the simulator's balances, a debit mandate is created and a payment taken under it (one
//! above its limit refused), an account's name and balance are read, and a maker/checker batch completes;
//! authorisation codes, links and accounts are forwarded to it.

mod common;

use std::time::Duration;

use common::TestGateway;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn wallet(id: &str) -> Value {
    json!([{"key": "walletid", "value": id}])
}

async fn post(gw: &TestGateway, path: &str, body: Value) -> Value {
    let response = gw
        .http
        .post(gw.url(path))
        .header("X-CorrelationID", common::correlation_id())
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(status, 202, "{path}: {body}");
    body
}

async fn pay(gw: &TestGateway, transaction_type: &str, body: Value) -> Value {
    let state = post(gw, &format!("/transactions/type/{transaction_type}"), body).await;
    let id = state["serverCorrelationId"].as_str().expect("an id");
    gw.wait_final(id, Duration::from_secs(15)).await
}

async fn balance(gw: &TestGateway, wallet: &str) -> String {
    let (status, balance) = gw
        .get(&format!("/accounts/walletid/{wallet}/balance"))
        .await;
    assert_eq!(status, StatusCode::OK, "{balance}");
    balance["currentBalance"]
        .as_str()
        .expect("a balance")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walletid_payments_mandates_and_batches_reach_the_mmapi_simulator() {
    let gw = TestGateway::start().await;
    let payment = |from: &str, to: &str, amount: &str, currency: &str| json!({"amount": amount, "currency": currency, "debitParty": wallet(from), "creditParty": wallet(to)});

    // USD, RWF and GBP move between the simulator's wallets.
    let paid = pay(&gw, "merchantpay", payment("1", "1000", "25", "USD")).await;
    assert_eq!(paid["status"], "completed", "{paid}");
    assert_eq!(balance(&gw, "1").await, "99975");
    assert_eq!(balance(&gw, "1000").await, "25");
    let reference = paid["objectReference"].as_str().expect("a reference");
    let (_, transaction) = gw.get(&format!("/transactions/{reference}")).await;
    assert!(transaction["transactionReceipt"]
        .as_str()
        .is_some_and(|r| r.starts_with("SIM")));
    assert_eq!(
        pay(&gw, "transfer", payment("4", "3", "1000", "RWF")).await["status"],
        "completed"
    );
    assert_eq!(balance(&gw, "3").await, "10001000");
    let poor = pay(&gw, "transfer", payment("7", "2", "6", "USD")).await;
    assert_eq!(poor["status"], "failed");
    assert_eq!(poor["error"]["errorCode"], "insufficientFunds", "{poor}");
    // A USD payment from an M-Pesa number still goes to the M-Pesa OpenAPI (DRC), not to the simulator.
    let drc = pay(
        &gw,
        "merchantpay",
        json!({"amount": "5", "currency": "USD", "debitParty": [{"key": "msisdn", "value": "+243810000001"}],
               "creditParty": [{"key": "businessshortcode", "value": "000000"}]}),
    )
    .await;
    assert_eq!(drc["status"], "completed", "{drc}");
    assert_eq!(balance(&gw, "1000").await, "25");
    let (_, name) = gw.get("/accounts/walletid/1/accountname").await;
    assert_eq!(name["name"]["lastName"], "Adams", "{name}");

    // A GBP debit mandate on wallet 5 for wallet 6, and payments under it.
    let today = chrono::Utc::now().date_naive();
    let state = post(
        &gw,
        "/accounts/walletid/5/debitmandates",
        json!({"payee": wallet("6"), "amountLimit": "100", "currency": "GBP", "startDate": today.to_string(),
               "frequencyType": "weekly"}),
    )
    .await;
    let id = state["serverCorrelationId"].as_str().expect("an id");
    let created = gw.wait_final(id, Duration::from_secs(15)).await;
    assert_eq!(created["status"], "completed", "{created}");
    let mandate = created["objectReference"]
        .as_str()
        .expect("a mandate")
        .to_owned();
    let under = json!([{"key": "mandatereference", "value": mandate}]);
    let taken = pay(
        &gw,
        "merchantpay",
        json!({"amount": "60", "currency": "GBP", "debitParty": under, "creditParty": wallet("6")}),
    )
    .await;
    assert_eq!(taken["status"], "completed", "{taken}");
    assert_eq!(balance(&gw, "5").await, "79940");
    // Above the mandate's limit: refused before it is accepted.
    let response = gw
        .http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("X-CorrelationID", common::correlation_id())
        .json(&json!({"amount": "150", "currency": "GBP", "debitParty": under, "creditParty": wallet("6")}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
    let refused: Value = response.json().await.expect("an error object");
    assert_eq!(refused["errorCode"], "noMandateAuthority", "{refused}");
    assert_eq!(balance(&gw, "5").await, "79940");

    // A maker/checker batch of USD disbursements from wallet 2.
    let disbursement = |to: &str, amount: &str| {
        json!({"type": "disbursement", "amount": amount, "currency": "USD",
               "debitParty": wallet("2"), "creditParty": wallet(to)})
    };
    let state = post(
        &gw,
        "/batchtransactions",
        json!({"batchStatus": "created", "batchTitle": "grants",
               "transactions": [disbursement("1", "10"), disbursement("1000", "15")]}),
    )
    .await;
    let batch_id = state["objectReference"]
        .as_str()
        .expect("a batch")
        .to_owned();
    let response = gw
        .http
        .patch(gw.url(&format!("/batchtransactions/{batch_id}")))
        .header("X-CorrelationID", common::correlation_id())
        .json(&json!([{"op": "replace", "path": "/batchStatus", "value": "approved"}]))
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_success(), "{}", response.status());
    let mut batch = Value::Null;
    for _ in 0..300 {
        batch = gw.get(&format!("/batchtransactions/{batch_id}")).await.1;
        if batch["batchStatus"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(batch["batchStatus"], "completed", "{batch}");
    assert_eq!(batch["completedCount"], 2, "{batch}");
    assert_eq!(balance(&gw, "2").await, "49975");
    assert_eq!(balance(&gw, "1000").await, "40");
}

/// What the gateway does not model itself is forwarded to the simulator: the request state is read through
/// the gateway, the objects at the account's paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_links_and_accounts_are_forwarded_to_the_mmapi_simulator() {
    let gw = TestGateway::start().await;
    // An authorisation code, redeemed once by a merchant payment.
    let code = made(
        &gw,
        post(
            &gw,
            "/accounts/walletid/1/authorisationcodes",
            json!({"amount": "25", "currency": "USD", "codeLifetime": 600}),
        )
        .await,
    )
    .await;
    let (status, view) = gw
        .get(&format!("/accounts/walletid/1/authorisationcodes/{code}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["codeState"], "active");
    let redeem = json!({"amount": "25", "currency": "USD", "debitParty": wallet("1"),
                        "creditParty": wallet("1000"), "oneTimeCode": code});
    assert_eq!(
        pay(&gw, "merchantpay", redeem.clone()).await["status"],
        "completed"
    );
    assert_eq!(balance(&gw, "1000").await, "25");
    let again = pay(&gw, "merchantpay", redeem).await;
    assert_eq!(again["error"]["errorCode"], "requestDeclined", "{again}");
    let short = made(
        &gw,
        post(
            &gw,
            "/accounts/walletid/1/authorisationcodes",
            json!({"amount": "5", "currency": "USD", "codeLifetime": 1}),
        )
        .await,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let expired = pay(
        &gw,
        "merchantpay",
        json!({"amount": "5", "currency": "USD", "debitParty": wallet("1"),
               "creditParty": wallet("1000"), "oneTimeCode": short}),
    )
    .await;
    assert_eq!(
        expired["error"]["errorCode"], "requestDeclined",
        "{expired}"
    );

    // A push-only link: a transfer in through its linkref, a pull refused.
    let link = made(
        &gw,
        post(
            &gw,
            "/accounts/walletid/3/links",
            json!({"sourceAccountIdentifiers": wallet("4"), "mode": "push", "status": "active"}),
        )
        .await,
    )
    .await;
    let linkref = json!([{"key": "linkref", "value": link}]);
    let pushed = pay(
        &gw,
        "transfer",
        json!({"amount": "1000", "currency": "RWF", "debitParty": wallet("4"), "creditParty": linkref}),
    )
    .await;
    assert_eq!(pushed["status"], "completed", "{pushed}");
    assert_eq!(balance(&gw, "3").await, "10001000");
    let pulled = pay(
        &gw,
        "transfer",
        json!({"amount": "1000", "currency": "RWF", "debitParty": linkref, "creditParty": wallet("4")}),
    )
    .await;
    assert_eq!(pulled["error"]["errorCode"], "linkViolation", "{pulled}");

    // A quotation from the simulator, and an international transfer citing it; an expired quote refused.
    let quote = |lifetime: &str| {
        json!({"debitParty": wallet("1"), "creditParty": wallet("3"), "requestAmount": "100",
               "requestCurrency": "USD", "customData": [{"key": "quoteLifetimeSeconds", "value": lifetime}]})
    };
    let quotation = made(&gw, post(&gw, "/quotations", quote("600")).await).await;
    let (status, priced) = gw.get(&format!("/quotations/{quotation}")).await;
    assert_eq!(status, StatusCode::OK, "{priced}");
    assert_eq!(priced["quotes"][0]["receivingAmount"], "130000", "{priced}");
    let transfer = |reference: &str, quote_id: &Value| {
        json!({"amount": "100", "currency": "USD", "debitParty": wallet("1"), "creditParty": wallet("3"),
               "internationalTransferInformation": {"originCountry": "GB", "quotationReference": reference,
                                                    "quoteId": quote_id},
               "senderKyc": {"nationality": "GB",
                             "idDocument": [{"idType": "passport", "idNumber": "123456789"}]}})
    };
    let sent = pay(
        &gw,
        "inttransfer",
        transfer(&quotation, &priced["quotes"][0]["quoteId"]),
    )
    .await;
    assert_eq!(sent["status"], "completed", "{sent}");
    assert_eq!(balance(&gw, "3").await, "10131000");
    let short = made(&gw, post(&gw, "/quotations", quote("1")).await).await;
    let (_, priced) = gw.get(&format!("/quotations/{short}")).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let late = pay(
        &gw,
        "inttransfer",
        transfer(&short, &priced["quotes"][0]["quoteId"]),
    )
    .await;
    assert_eq!(late["error"]["errorCode"], "quoteHasExpired", "{late}");

    // An account opened, its KYC updated, its name read.
    made(
        &gw,
        post(
            &gw,
            "/accounts/individual",
            json!({"accountIdentifiers": [{"key": "walletid", "value": "88"}],
                   "identity": [{"identityKyc": {"subjectName": {"firstName": "Ivy", "lastName": "Ito"}},
                                 "accountRelationship": "accountholder"}],
                   "customData": [{"key": "currency", "value": "GBP"}]}),
        )
        .await,
    )
    .await;
    let response = gw
        .http
        .patch(gw.url("/accounts/walletid/88/identities/1"))
        .header("X-CorrelationID", common::correlation_id())
        .json(&json!([{"op": "replace", "path": "/identityKyc/subjectName/lastName", "value": "Ivory"}]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 204);
    let (_, name) = gw.get("/accounts/walletid/88/accountname").await;
    assert_eq!(name["name"]["lastName"], "Ivory", "{name}");
    let (_, status) = gw.get("/accounts/walletid/88/status").await;
    assert_eq!(status["accountStatus"], "available", "{status}");
    let (_, status) = gw.get("/accounts/walletid/8/status").await;
    assert_eq!(status["accountStatus"], "unavailable", "{status}");
    let (status, account) = gw.get("/accounts/walletid/88").await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["currency"], "GBP");
    // Only an operator client opens accounts; another client does not see the operator's accounts.
    let (_, other) = gw.another_client("a merchant").await;
    let response = other
        .post(gw.url("/accounts/individual"))
        .header("X-CorrelationID", common::correlation_id())
        .json(
            &json!({"accountIdentifiers": [{"key": "walletid", "value": "89"}],
                      "identity": [{"identityKyc": {}, "accountRelationship": "accountholder"}]}),
        )
        .send()
        .await
        .expect("sent");
    let refused: Value = response.json().await.expect("an error object");
    assert_eq!(
        refused["errorCode"], "requestingPartyAuthorisationError",
        "{refused}"
    );
    let (status, _) = common::get_json(&other, &gw.url("/accounts/walletid/88")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Where no GSMA-speaking operator holds the account, these stay "not offered".
    let (status, refused) = gw.get("/accounts/msisdn/+254708374149/links/L1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["errorParameters"][1]["value"], "noAccountLinks");
}

/// Waits for a forwarded request (its state read through the gateway) to complete: the reference it made.
async fn made(gw: &TestGateway, state: Value) -> String {
    let id = state["serverCorrelationId"].as_str().expect("an id");
    let done = gw.wait_final(id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "completed", "{done}");
    done["objectReference"]
        .as_str()
        .expect("a reference")
        .to_owned()
}

/// A bill of the sandbox's simulator biller (paybill 888888, USD), issued to a walletid customer and paid
/// through the gateway: the money reaches the biller's wallet and the bill reads paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bill_of_the_simulator_biller_is_paid_through_the_gateway() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .post(gw.url("/billers/bills"))
        .json(
            &json!({"serviceProvider": "888888", "accountReference": "WATER-7",
                      "customer": wallet("1"), "amountDue": "40", "currency": "USD"}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 201);
    let bill: Value = response.json().await.expect("a bill");
    let reference = bill["billReference"]
        .as_str()
        .expect("a reference")
        .to_owned();
    let state = post(
        &gw,
        &format!("/accounts/walletid/1/bills/{reference}/payments"),
        json!({"amountPaid": "40", "currency": "USD"}),
    )
    .await;
    let id = state["serverCorrelationId"].as_str().expect("an id");
    let paid = gw.wait_final(id, Duration::from_secs(15)).await;
    assert_eq!(paid["status"], "completed", "{paid}");
    assert_eq!(balance(&gw, "999").await, "40");
    assert_eq!(balance(&gw, "1").await, "99960");
    let (status, bills) = gw.get("/accounts/walletid/1/bills").await;
    assert_eq!(status, StatusCode::OK, "{bills}");
    let ours = bills
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|b| b["billReference"] == reference.as_str())
        })
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(ours["billStatus"], "paid", "{bills}");
}

/// Sends `body` to `path` with `correlation_id` as `http`'s client: the status and the body.
async fn post_as(
    http: &reqwest::Client,
    url: &str,
    correlation_id: &str,
    body: &Value,
) -> (u16, Value) {
    let response = http
        .post(url)
        .header("X-CorrelationID", correlation_id)
        .json(body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A request forwarded to the GSMA-speaking operator is its sender's: a repeat of its X-CorrelationID is a
/// duplicate that `/responses` resolves, another client may use the same X-CorrelationID for its own request
/// (the operator never sees the clients' ids), another client cannot read its request state or the quotation it
/// made, and a request the operator refused outright leaves the X-CorrelationID free for the corrected one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_requests_belong_to_their_client_and_are_idempotent() {
    let gw = TestGateway::start().await;
    let codes = gw.url("/accounts/walletid/2/authorisationcodes");
    let code = json!({"amount": "5", "currency": "USD", "codeLifetime": 600});
    let shared_id = common::correlation_id();

    let (status, first) = post_as(&gw.http, &codes, &shared_id, &code).await;
    assert_eq!(status, 202, "{first}");
    let first_code = made(&gw, first.clone()).await;
    let (status, repeat) = post_as(&gw.http, &codes, &shared_id, &code).await;
    assert_eq!(
        (status, repeat["errorCode"].as_str()),
        (400, Some("duplicateRequest")),
        "{repeat}"
    );
    let (status, link) = gw.get(&format!("/responses/{shared_id}")).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert!(
        link["link"]
            .as_str()
            .is_some_and(|l| l.ends_with(&first_code)),
        "{link}"
    );

    // Another client, granted wallet 2, with the same X-CorrelationID: its own request, a code of its own.
    let (_, other) = gw.client_with_accounts("a merchant", &["2"]).await;
    let (status, second) = post_as(&other, &codes, &shared_id, &code).await;
    assert_eq!(status, 202, "{second}");
    let second_id = second["serverCorrelationId"].as_str().expect("an id");
    let done = common::wait_final(&other, &gw.base, second_id, Duration::from_secs(15)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_ne!(done["objectReference"].as_str(), Some(first_code.as_str()));
    // Neither reads the other's request state.
    let first_id = first["serverCorrelationId"].as_str().expect("an id");
    let (status, _) =
        common::get_json(&other, &gw.url(&format!("/requeststates/{first_id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = gw.get(&format!("/requeststates/{second_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A quotation the operator made for the demo client is not another client's to read.
    let quotation = made(
        &gw,
        post(
            &gw,
            "/quotations",
            json!({"debitParty": wallet("1"), "creditParty": wallet("3"), "requestAmount": "10",
                   "requestCurrency": "USD"}),
        )
        .await,
    )
    .await;
    let (status, _) = gw.get(&format!("/quotations/{quotation}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = common::get_json(&other, &gw.url(&format!("/quotations/{quotation}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Refused by the operator (no amount): the X-CorrelationID is free for the corrected request.
    let fresh_id = common::correlation_id();
    let (status, refused) = post_as(
        &gw.http,
        &codes,
        &fresh_id,
        &json!({"currency": "USD", "codeLifetime": 600, "amount": "-1"}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let (status, accepted) = post_as(&gw.http, &codes, &fresh_id, &code).await;
    assert_eq!(status, 202, "{accepted}");

    // The operator calls the client back itself, so its X-Callback-URL is checked like any other first.
    let response = gw
        .http
        .post(&codes)
        .header("X-CorrelationID", common::correlation_id())
        .header("X-Callback-URL", "http://10.1.2.3/callbacks")
        .json(&code)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
    let refused: Value = response.json().await.expect("an error object");
    assert_eq!(refused["errorCode"], "formatError", "{refused}");
}

/// A forwarded request's callback comes through the gateway: the operator is given the gateway's relay route,
/// never the client's URL, and the client gets the operator's object under its own X-CorrelationID, signed with
/// its key and redelivered after a refusal. A callback for an unknown request is ignored, and one that names
/// another X-CorrelationID than the route's is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_callbacks_are_relayed_signed_and_redelivered() {
    let gw = TestGateway::start().await;
    // The first delivery is refused: the gateway must send it again.
    let receiver = common::CallbackReceiver::start(vec![500]).await;
    let correlation_id = common::correlation_id();
    let response = gw
        .http
        .post(gw.url("/accounts/walletid/2/authorisationcodes"))
        .header("X-CorrelationID", &correlation_id)
        .header("X-Callback-URL", &receiver.url)
        .json(&json!({"amount": "5", "currency": "USD", "codeLifetime": 600}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 202);
    let state: Value = response.json().await.expect("a request state");
    let operator_state = state["serverCorrelationId"]
        .as_str()
        .expect("serverCorrelationId")
        .to_owned();
    let code = made(&gw, state).await;

    let received = receiver.wait_for(2, Duration::from_secs(30)).await;
    for callback in &received[..2] {
        assert_eq!(
            callback.headers["X-CorrelationID"].to_str().ok(),
            Some(correlation_id.as_str())
        );
        assert!(
            callback
                .headers
                .get("X-Signature")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|s| s.starts_with("t=") && s.contains(",v1=")),
            "unsigned: {:?}",
            callback.headers
        );
        assert_eq!(
            callback.body["authorisationCode"].as_str(),
            Some(code.as_str()),
            "{}",
            callback.body
        );
    }
    assert_eq!(received[0].body, received[1].body);

    // The relay route: an unknown id is ignored, a mismatched X-CorrelationID refused.
    let route = |id: &str| {
        format!(
            "http://{}/callbacks/mmapi-simulator/forwarded/{id}",
            gw.gateway.address
        )
    };
    let unknown = common::correlation_id();
    let answer = gw
        .http
        .put(route(&unknown))
        .header("X-CorrelationID", &unknown)
        .json(&json!({"authorisationCode": "forged"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(answer.status().as_u16(), 204);
    let answer = gw
        .http
        .put(route(&unknown))
        .header("X-CorrelationID", common::correlation_id())
        .json(&json!({"authorisationCode": "forged"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(answer.status().as_u16(), 400);
    // The operator's callback again (as an operator does when it missed our answer): taken, not sent again.
    let sent_to_operator = gw
        .gateway
        .engine
        .store()
        .forwarded_by_operator_state(&operator_state)
        .await
        .expect("store readable")
        .expect("the forwarded request")
        .operator_correlation_id;
    let answer = gw
        .http
        .put(route(&sent_to_operator))
        .header("X-CorrelationID", &sent_to_operator)
        .json(&received[0].body)
        .send()
        .await
        .expect("sent");
    assert_eq!(answer.status().as_u16(), 204);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.all().len(), 2, "nothing more reached the client");
}

/// A walletid account's statement is its operator's: a payment made at the MMAPI simulator directly, never
/// through the gateway, is in the statement the gateway gives a client the account is granted to, with the
/// operator's record counts. A client the account is not granted to sees only its own transactions (none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_account_statement_is_read_from_the_operator() {
    let gw = TestGateway::start().await;
    let simulator = gw
        .gateway
        .mmapi_listener
        .as_ref()
        .expect("the MMAPI simulator")
        .address();
    let direct = reqwest::Client::new()
        .post(format!(
            "http://{simulator}/v1.2/mm/transactions/type/transfer"
        ))
        .header("X-CorrelationID", common::correlation_id())
        .json(&json!({"amount": "7", "currency": "GBP", "debitParty": wallet("5"), "creditParty": wallet("6")}))
        .send()
        .await
        .expect("sent");
    assert_eq!(direct.status().as_u16(), 202);
    let started = std::time::Instant::now();
    let (response, entries) = loop {
        let response = gw
            .http
            .get(gw.url("/accounts/walletid/5/statemententries?limit=1"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 200);
        let headers = response.headers().clone();
        let entries: Value = response.json().await.expect("a list");
        if entries.as_array().is_some_and(|e| !e.is_empty()) {
            break (headers, entries);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no entry: {entries}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(entries[0]["amount"], "7", "{entries}");
    assert_eq!(
        response["X-Records-Available-Count"].to_str().ok(),
        Some("1")
    );
    assert_eq!(
        response["X-Records-Returned-Count"].to_str().ok(),
        Some("1")
    );
    let (status, transactions) = gw.get("/accounts/walletid/5/transactions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(transactions[0]["amount"], "7", "{transactions}");

    let (_, other) = gw.another_client("a stranger").await;
    let (status, own) =
        common::get_json(&other, &gw.url("/accounts/walletid/5/statemententries")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        own,
        json!([]),
        "another client's statement holds only its own transactions"
    );
}

/// The bills a walletid customer's operator presents are reached through the gateway when the gateway holds none
/// of the client's own for that customer: listed, paid by reference under their rules (an under-payment of a
/// bill paid in full only fails as the operator says), paid without a reference (the oldest open one), and their
/// payments listed; the payment's callback is relayed. A client the account is not granted to reaches none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_bills_of_a_customer_are_paid_through_the_gateway() {
    let gw = TestGateway::start().await;
    let (status, bills) = gw.get("/accounts/walletid/2/bills").await;
    assert_eq!(status, StatusCode::OK, "{bills}");
    let references: Vec<&str> = bills
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|b| b["billReference"].as_str())
        .collect();
    assert!(references.contains(&"POWER-2001"), "{bills}");
    assert!(references.contains(&"RATES-2002"), "{bills}");

    let state = post(
        &gw,
        "/accounts/walletid/2/bills/POWER-2001/payments",
        json!({"amountPaid": "40", "currency": "USD"}),
    )
    .await;
    let id = state["serverCorrelationId"].as_str().expect("an id");
    let under = gw.wait_final(id, Duration::from_secs(15)).await;
    assert_eq!(under["status"], "failed", "{under}");
    assert_eq!(
        under["error"]["errorCode"], "underPaymentNotAllowed",
        "{under}"
    );

    let receiver = common::CallbackReceiver::start(Vec::new()).await;
    let response = gw
        .http
        .post(gw.url("/accounts/walletid/2/bills/POWER-2001/payments"))
        .header("X-CorrelationID", common::correlation_id())
        .header("X-Callback-URL", &receiver.url)
        .json(&json!({"amountPaid": "100", "currency": "USD"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 202);
    let callback = receiver.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(
        callback[0].body["amountPaid"], "100",
        "{}",
        callback[0].body
    );
    assert!(callback[0].headers.contains_key("X-Signature"));
    assert_eq!(balance(&gw, "2").await, "49900");

    // Without a reference: the oldest open bill, RATES-2002 now that POWER-2001 is paid.
    made(
        &gw,
        post(
            &gw,
            "/accounts/walletid/2/bills/payments",
            json!({"amountPaid": "50", "currency": "USD"}),
        )
        .await,
    )
    .await;
    assert_eq!(balance(&gw, "2").await, "49850");
    let (status, payments) = gw
        .get("/accounts/walletid/2/bills/POWER-2001/payments")
        .await;
    assert_eq!(status, StatusCode::OK, "{payments}");
    assert_eq!(payments.as_array().map(Vec::len), Some(1), "{payments}");
    let (status, payments) = gw.get("/accounts/walletid/2/bills/payments").await;
    assert_eq!(status, StatusCode::OK, "{payments}");
    assert_eq!(payments.as_array().map(Vec::len), Some(2), "{payments}");

    let (_, stranger) = gw.another_client("a stranger").await;
    let (status, none) = common::get_json(&stranger, &gw.url("/accounts/walletid/2/bills")).await;
    assert_eq!((status, none), (StatusCode::OK, json!([])));
    let (status, refused) = post_as(
        &stranger,
        &gw.url("/accounts/walletid/2/bills/RATES-2002/payments"),
        &common::correlation_id(),
        &json!({"amountPaid": "50", "currency": "USD"}),
    )
    .await;
    assert_eq!(status, 404, "{refused}");
}

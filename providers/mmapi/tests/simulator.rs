//! The MMAPI reference simulator over real HTTP on 127.0.0.1, with `walletid` parties in USD, RWF and GBP:
//! authorisation codes issued and redeemed (and refused once used, expired or cancelled), links with their
//! mode enforced, debit mandates enforced, a quotation cited by an international transfer (and refused once
//! expired, or for a refused nationality), an account created and its KYC updated, limits, reversals,
//! callbacks and idempotency.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use axum::Router;
use mmapi_forward::simulator::{MmapiSimulator, SimulatorConfig};
use serde_json::{json, Value};

/// Callbacks received: the X-CorrelationID and the body of each.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A client's callback listener at `/cb`, recording what it receives into `received`.
fn callback_receiver(received: &Received) -> Router {
    Router::new()
        .route(
            "/cb",
            put(
                |State(seen): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    let id = headers
                        .get("X-CorrelationID")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    seen.lock().expect("lock").push((id, body));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(Arc::clone(received))
}

struct Sim {
    sim: MmapiSimulator,
    base: String,
    http: reqwest::Client,
}

impl Sim {
    async fn start() -> Self {
        Self::serve(MmapiSimulator::new(SimulatorConfig {
            processing_delay: Duration::from_millis(20),
        }))
        .await
    }

    async fn serve(sim: MmapiSimulator) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}/v1.2/mm", listener.local_addr().expect("addr"));
        let router = Router::new().nest("/v1.2/mm", sim.router());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            sim,
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-CorrelationID", uuid::Uuid::new_v4().to_string());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sent");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn patch(&self, path: &str, body: Value) -> StatusCode {
        self.send(reqwest::Method::PATCH, path, Some(body)).await.0
    }

    /// POSTs an asynchronous request and polls it until final: the final request state.
    async fn run(&self, path: &str, body: Value) -> Value {
        let (status, state) = self.send(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path}: {state}");
        let id = state["serverCorrelationId"]
            .as_str()
            .expect("an id")
            .to_owned();
        for _ in 0..200 {
            let (_, state) = self.get(&format!("/requeststates/{id}")).await;
            if state["status"] != "pending" {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{path} still pending");
    }

    async fn pay(&self, transaction_type: &str, body: Value) -> Value {
        self.run(&format!("/transactions/type/{transaction_type}"), body)
            .await
    }

    fn balance(&self, wallet: &str) -> String {
        self.sim.balance_of("walletid", wallet).expect("a wallet")
    }
}

fn wallet(id: &str) -> Value {
    json!([{"key": "walletid", "value": id}])
}

fn payment(from: Value, to: Value, amount: &str, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency, "debitParty": from, "creditParty": to})
}

fn assert_failed(state: &Value, code: &str) {
    assert_eq!(state["status"], "failed", "{state}");
    assert_eq!(state["error"]["errorCode"], code, "{state}");
}

#[tokio::test]
async fn authorisation_codes_are_redeemed_once_and_refused_expired_or_cancelled() {
    let sim = Sim::start().await;
    let state = sim
        .run(
            "/accounts/walletid/1/authorisationcodes",
            json!({"amount": "25", "currency": "USD", "amountType": "exact", "codeLifetime": 600}),
        )
        .await;
    assert_eq!(state["status"], "completed", "{state}");
    let code = state["objectReference"]
        .as_str()
        .expect("the code")
        .to_owned();
    let (status, view) = sim
        .get(&format!("/accounts/walletid/1/authorisationcodes/{code}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["codeState"], "active");
    assert_eq!(view["amount"], "25");

    let mut pay = payment(wallet("1"), wallet("1000"), "25", "USD");
    pay["oneTimeCode"] = json!(code);
    assert_eq!(
        sim.pay("merchantpay", pay.clone()).await["status"],
        "completed"
    );
    assert_eq!(sim.balance("1"), "99975");
    assert_eq!(sim.balance("1000"), "25");
    let (_, view) = sim
        .get(&format!("/accounts/walletid/1/authorisationcodes/{code}"))
        .await;
    assert_eq!(view["codeState"], "expired", "a used code is spent");
    assert_failed(&sim.pay("merchantpay", pay).await, "requestDeclined");

    // Another amount than an exact code's, a code past its lifetime, a cancelled code.
    let state = sim
        .run(
            "/accounts/walletid/1/authorisationcodes",
            json!({"amount": "30", "currency": "USD", "amountType": "maximum", "codeLifetime": 1}),
        )
        .await;
    let short = state["objectReference"]
        .as_str()
        .expect("a code")
        .to_owned();
    let mut over = payment(wallet("1"), wallet("1000"), "31", "USD");
    over["oneTimeCode"] = json!(short);
    assert_failed(&sim.pay("merchantpay", over).await, "requestDeclined");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut late = payment(wallet("1"), wallet("1000"), "20", "USD");
    late["oneTimeCode"] = json!(short);
    let state = sim.pay("merchantpay", late).await;
    assert_failed(&state, "requestDeclined");
    assert!(state["error"]["errorDescription"]
        .as_str()
        .is_some_and(|d| d.contains("expired")));
    let (_, expired) = sim
        .get("/accounts/walletid/1/authorisationcodes?codeState=expired")
        .await;
    assert_eq!(expired.as_array().map(Vec::len), Some(2), "{expired}");

    let state = sim
        .run(
            "/accounts/walletid/1/authorisationcodes",
            json!({"amount": "5", "currency": "USD"}),
        )
        .await;
    let cancelled = state["objectReference"]
        .as_str()
        .expect("a code")
        .to_owned();
    let path = format!("/accounts/walletid/1/authorisationcodes/{cancelled}");
    let cancel = json!([{"op": "replace", "path": "/codeState", "value": "cancelled"}]);
    assert_eq!(
        sim.patch(&path, cancel.clone()).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(sim.patch(&path, cancel).await, StatusCode::BAD_REQUEST);
    let mut pay = payment(wallet("1"), wallet("1000"), "5", "USD");
    pay["oneTimeCode"] = json!(cancelled);
    assert_failed(&sim.pay("merchantpay", pay).await, "requestDeclined");
    assert_eq!(sim.balance("1"), "99975", "no refused payment moved money");
}

#[tokio::test]
async fn links_carry_transfers_their_mode_allows() {
    let sim = Sim::start().await;
    let state = sim
        .run(
            "/accounts/walletid/3/links",
            json!({"sourceAccountIdentifiers": wallet("4"), "mode": "push", "status": "active"}),
        )
        .await;
    assert_eq!(state["status"], "completed", "{state}");
    let link = state["objectReference"]
        .as_str()
        .expect("a linkref")
        .to_owned();
    let (_, view) = sim.get(&format!("/accounts/walletid/3/links/{link}")).await;
    assert_eq!(view["mode"], "push");
    let linkref = json!([{"key": "linkref", "value": link}]);

    let push = sim
        .pay(
            "transfer",
            payment(wallet("4"), linkref.clone(), "1000", "RWF"),
        )
        .await;
    assert_eq!(push["status"], "completed", "{push}");
    assert_eq!(sim.balance("3"), "10001000");
    let pull = sim
        .pay(
            "transfer",
            payment(linkref.clone(), wallet("4"), "1000", "RWF"),
        )
        .await;
    assert_failed(&pull, "linkViolation");
    // Only the source account may use it; an inactive link carries nothing.
    assert_failed(
        &sim.pay(
            "transfer",
            payment(wallet("2"), linkref.clone(), "10", "USD"),
        )
        .await,
        "linkViolation",
    );
    let path = format!("/accounts/walletid/3/links/{link}");
    let off = json!([{"op": "replace", "path": "/status", "value": "inactive"}]);
    assert_eq!(sim.patch(&path, off).await, StatusCode::NO_CONTENT);
    assert_failed(
        &sim.pay("transfer", payment(wallet("4"), linkref, "1000", "RWF"))
            .await,
        "linkViolation",
    );
    assert_eq!(sim.balance("3"), "10001000");
}

#[tokio::test]
async fn debit_mandates_cover_only_what_they_allow() {
    let sim = Sim::start().await;
    let today = chrono::Utc::now().date_naive();
    let state = sim
        .run(
            "/accounts/walletid/5/debitmandates",
            json!({"payee": wallet("6"), "amountLimit": "100", "currency": "GBP",
                   "startDate": today.to_string(), "endDate": (today + chrono::Days::new(30)).to_string(),
                   "frequencyType": "weekly", "numberOfPayments": 2}),
        )
        .await;
    assert_eq!(state["status"], "completed", "{state}");
    let mandate = state["objectReference"]
        .as_str()
        .expect("a mandate")
        .to_owned();
    let under = json!([{"key": "mandatereference", "value": mandate}]);
    let ok = sim
        .pay(
            "merchantpay",
            payment(under.clone(), wallet("6"), "50", "GBP"),
        )
        .await;
    assert_eq!(ok["status"], "completed", "{ok}");
    assert_eq!(sim.balance("5"), "79950");
    assert_failed(
        &sim.pay(
            "merchantpay",
            payment(under.clone(), wallet("6"), "150", "GBP"),
        )
        .await,
        "noMandateAuthority",
    );
    assert_failed(
        &sim.pay(
            "merchantpay",
            payment(under.clone(), wallet("2"), "10", "USD"),
        )
        .await,
        "noMandateAuthority",
    );
    assert_eq!(
        sim.pay(
            "merchantpay",
            payment(under.clone(), wallet("6"), "10", "GBP")
        )
        .await["status"],
        "completed"
    );
    assert_failed(
        &sim.pay("merchantpay", payment(under, wallet("6"), "10", "GBP"))
            .await,
        "noMandateAuthority",
    );
    let (_, view) = sim
        .get(&format!("/accounts/walletid/5/debitmandates/{mandate}"))
        .await;
    assert_eq!(view["mandateStatus"], "active");
}

#[tokio::test]
async fn a_quotation_prices_an_international_transfer_until_it_expires() {
    let sim = Sim::start().await;
    let quote = |lifetime: &str| {
        json!({"debitParty": wallet("1"), "creditParty": wallet("3"), "requestAmount": "100",
               "requestCurrency": "USD", "customData": [{"key": "quoteLifetimeSeconds", "value": lifetime}]})
    };
    let state = sim.run("/quotations", quote("600")).await;
    let reference = state["objectReference"]
        .as_str()
        .expect("a quotation")
        .to_owned();
    let (_, quotation) = sim.get(&format!("/quotations/{reference}")).await;
    let q = &quotation["quotes"][0];
    assert_eq!(q["sendingAmount"], "100");
    assert_eq!(q["receivingAmount"], "130000");
    assert_eq!(q["receivingCurrency"], "RWF");
    assert_eq!(q["fxRate"], "1300");
    assert_eq!(q["fees"][0]["feeAmount"], "1");
    let transfer = |reference: &str, quote_id: &Value, nationality: &str| {
        json!({"amount": "100", "currency": "USD", "debitParty": wallet("1"), "creditParty": wallet("3"),
               "internationalTransferInformation": {"originCountry": "GB", "quotationReference": reference,
                                                    "quoteId": quote_id},
               "senderKyc": {"nationality": nationality,
                             "idDocument": [{"idType": "passport", "idNumber": "123456789"}]}})
    };
    let refused = sim
        .pay("inttransfer", transfer(&reference, &q["quoteId"], "KP"))
        .await;
    assert_failed(&refused, "nationalityNotPermitted");
    let done = sim
        .pay("inttransfer", transfer(&reference, &q["quoteId"], "GB"))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(sim.balance("1"), "99900");
    assert_eq!(sim.balance("3"), "10130000");

    let state = sim.run("/quotations", quote("1")).await;
    let short = state["objectReference"]
        .as_str()
        .expect("a quotation")
        .to_owned();
    let (_, quotation) = sim.get(&format!("/quotations/{short}")).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let late = sim
        .pay(
            "inttransfer",
            transfer(&short, &quotation["quotes"][0]["quoteId"], "GB"),
        )
        .await;
    assert_failed(&late, "quoteHasExpired");
}

#[tokio::test]
async fn an_account_is_created_and_its_kyc_updated() {
    let sim = Sim::start().await;
    let state = sim
        .run(
            "/accounts/individual",
            json!({"accountIdentifiers": [{"key": "msisdn", "value": "+447700900123"}, {"key": "walletid", "value": "77"}],
                   "identity": [{"identityKyc": {"subjectName": {"firstName": "Ivy", "lastName": "Ito"}, "nationality": "GB"},
                                 "accountRelationship": "accountholder"}],
                   "customData": [{"key": "currency", "value": "GBP"}, {"key": "openingBalance", "value": "10"}]}),
        )
        .await;
    assert_eq!(state["status"], "completed", "{state}");
    let (_, name) = sim.get("/accounts/walletid/77/accountname").await;
    assert_eq!(name["name"]["lastName"], "Ito");
    let (_, status) = sim.get("/accounts/msisdn/+447700900123/status").await;
    assert_eq!(status["accountStatus"], "available");
    let (_, balance) = sim.get("/accounts/walletid/77/balance").await;
    assert_eq!(balance["currency"], "GBP");
    assert_eq!(balance["currentBalance"], "10");
    let rename =
        json!([{"op": "replace", "path": "/identityKyc/subjectName/lastName", "value": "Ivory"}]);
    assert_eq!(
        sim.patch("/accounts/walletid/77/identities/1", rename)
            .await,
        StatusCode::NO_CONTENT
    );
    let (_, name) = sim.get("/accounts/walletid/77/accountname").await;
    assert_eq!(name["name"]["lastName"], "Ivory");
    // Its record: made unavailable, it can no longer pay.
    let off = json!([{"op": "replace", "path": "/accountStatus", "value": "unavailable"},
                     {"op": "replace", "path": "/subStatus", "value": "suspended"}]);
    assert_eq!(
        sim.patch("/accounts/walletid/77", off).await,
        StatusCode::NO_CONTENT
    );
    let (_, status) = sim.get("/accounts/walletid/77/status").await;
    assert_eq!(
        status,
        json!({"accountStatus": "unavailable", "subStatus": "suspended"})
    );
    assert_failed(
        &sim.pay("transfer", payment(wallet("77"), wallet("6"), "1", "GBP"))
            .await,
        "incorrectState",
    );
    let on = json!([{"op": "replace", "path": "/accountStatus", "value": "available"}]);
    assert_eq!(
        sim.patch("/accounts/walletid/77", on).await,
        StatusCode::NO_CONTENT
    );
    // The same identifiers again are refused; an unknown account is not found.
    let (status, error) = sim
        .send(
            reqwest::Method::POST,
            "/accounts/individual",
            Some(
                json!({"accountIdentifiers": [{"key": "walletid", "value": "77"}],
                        "identity": [{"identityKyc": {}, "accountRelationship": "accountholder"}]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _) = sim.get("/accounts/walletid/404/balance").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The new wallet pays like any other.
    let paid = sim
        .pay("transfer", payment(wallet("77"), wallet("6"), "4", "GBP"))
        .await;
    assert_eq!(paid["status"], "completed", "{paid}");
    assert_eq!(sim.balance("77"), "6");
}

#[tokio::test]
async fn limits_reversals_callbacks_and_idempotency() {
    let sim = Sim::start().await;
    assert_failed(
        &sim.pay("transfer", payment(wallet("7"), wallet("2"), "6", "USD"))
            .await,
        "insufficientFunds",
    );
    assert_failed(
        &sim.pay("transfer", payment(wallet("8"), wallet("2"), "6", "USD"))
            .await,
        "incorrectState",
    );
    assert_failed(
        &sim.pay(
            "transfer",
            payment(wallet("1"), wallet("2"), "1000001", "USD"),
        )
        .await,
        "greaterThanTransactionMaxValue",
    );
    assert_failed(
        &sim.pay("transfer", payment(wallet("1"), wallet("3"), "10", "USD"))
            .await,
        "currencyNotSupported",
    );

    // Wallet 10's daily limits: 100 in at most 3 payments.
    let from_ten = |amount: &str| payment(wallet("10"), wallet("1000"), amount, "USD");
    assert_eq!(
        sim.pay("merchantpay", from_ten("60")).await["status"],
        "completed"
    );
    assert_failed(
        &sim.pay("merchantpay", from_ten("50")).await,
        "dailyValueLimitExceeded",
    );
    assert_eq!(
        sim.pay("merchantpay", from_ten("30")).await["status"],
        "completed"
    );
    assert_eq!(
        sim.pay("merchantpay", from_ten("10")).await["status"],
        "completed"
    );
    assert_failed(
        &sim.pay("merchantpay", from_ten("1")).await,
        "dailyVolumeLimitExceeded",
    );
    assert_eq!(sim.balance("10"), "9900");

    // A completed payment reversed: the money goes back and the original reads reversed.
    let paid = sim
        .pay(
            "merchantpay",
            payment(wallet("2"), wallet("1000"), "40", "USD"),
        )
        .await;
    let original = paid["objectReference"]
        .as_str()
        .expect("a reference")
        .to_owned();
    assert_eq!(sim.balance("2"), "49960");
    let reversed = sim
        .run(
            &format!("/transactions/{original}/reversals"),
            json!({"type": "reversal"}),
        )
        .await;
    assert_eq!(reversed["status"], "completed", "{reversed}");
    assert_eq!(sim.balance("2"), "50000");
    let (_, view) = sim.get(&format!("/transactions/{original}")).await;
    assert_eq!(view["transactionStatus"], "reversed");
    // The account's statement: newest first, paged, with the record counts; one entry by reference.
    let response = sim
        .http
        .get(format!(
            "{}/accounts/walletid/2/statemententries?limit=1",
            sim.base
        ))
        .send()
        .await
        .expect("sent");
    let count = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(count("X-Records-Available-Count").as_deref(), Some("2"));
    assert_eq!(count("X-Records-Returned-Count").as_deref(), Some("1"));
    let entries: Value = response.json().await.expect("json");
    assert_eq!(entries[0]["type"], "reversal", "{entries}");
    let (status, entry) = sim.get(&format!("/statemententries/{original}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entry["amount"], "40");
    let (status, beyond) = sim.get("/accounts/walletid/2/transactions?offset=9").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(beyond["errorCode"], "invalidOffset");

    // Callback mode: the final transaction is PUT with the client's X-CorrelationID.
    let received: Received = Arc::default();
    let receiver = callback_receiver(&received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let callback = format!("http://{}/cb", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });
    let correlation = uuid::Uuid::new_v4().to_string();
    let post = |body: Value| {
        sim.http
            .post(format!("{}/transactions/type/merchantpay", sim.base))
            .header("X-CorrelationID", &correlation)
            .header("X-Callback-URL", &callback)
            .json(&body)
            .send()
    };
    let body = payment(wallet("2"), wallet("1000"), "3", "USD");
    let first = post(body.clone()).await.expect("sent");
    assert_eq!(first.status().as_u16(), 202);
    let state: Value = first.json().await.expect("json");
    assert_eq!(state["notificationMethod"], "callback");
    for _ in 0..200 {
        if !received.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let calls = received.lock().expect("lock").clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, correlation);
    assert_eq!(calls[0].1["transactionStatus"], "completed");
    assert_eq!(calls[0].1["transactionReference"], state["objectReference"]);
    // The same X-CorrelationID again is a duplicate; /responses finds the first.
    let again = post(body).await.expect("sent");
    assert_eq!(again.status().as_u16(), 400);
    let error: Value = again.json().await.expect("json");
    assert_eq!(error["errorCode"], "duplicateRequest");
    let (status, link) = sim.get(&format!("/responses/{correlation}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        link["link"],
        format!(
            "/transactions/{}",
            state["objectReference"].as_str().unwrap_or_default()
        )
    );
    assert_eq!(sim.balance("2"), "49997", "paid once");
}

#[tokio::test]
async fn a_maker_checker_batch_waits_for_approval_then_pays_each_item() {
    let sim = Sim::start().await;
    let item = |from: &str, to: &str, amount: &str| {
        json!({"type": "disbursement", "amount": amount, "currency": "USD",
               "debitParty": wallet(from), "creditParty": wallet(to)})
    };
    let state = sim
        .run(
            "/batchtransactions",
            json!({"batchTitle": "grants", "batchStatus": "created",
                   "transactions": [item("2", "1", "10"), item("2", "1000", "15"),
                                    item("2", "1", "ten"), item("7", "1", "100")]}),
        )
        .await;
    assert_eq!(state["status"], "completed", "{state}");
    let id = state["objectReference"]
        .as_str()
        .expect("a batch")
        .to_owned();
    let (_, batch) = sim.get(&format!("/batchtransactions/{id}")).await;
    assert_eq!(batch["batchStatus"], "created", "{batch}");
    assert_eq!(batch["parsingSuccessCount"], 3);
    assert_eq!(batch["rejectionCount"], 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.balance("2"), "50000", "nothing is paid before approval");

    let approve = json!([{"op": "replace", "path": "/batchStatus", "value": "approved"}]);
    let path = format!("/batchtransactions/{id}");
    assert_eq!(
        sim.patch(&path, approve.clone()).await,
        StatusCode::NO_CONTENT
    );
    let mut batch = Value::Null;
    for _ in 0..200 {
        batch = sim.get(&path).await.1;
        if batch["batchStatus"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(batch["batchStatus"], "completed", "{batch}");
    assert_eq!(batch["completedCount"], 2);
    assert_eq!(batch["rejectionCount"], 2);
    assert!(batch["approvalDate"].is_string() && batch["completionDate"].is_string());
    assert_eq!(sim.balance("2"), "49975");
    assert_eq!(sim.balance("1000"), "15");
    let (_, completions) = sim.get(&format!("{path}/completions")).await;
    assert_eq!(completions.as_array().map(Vec::len), Some(2));
    assert!(completions[0]["link"]
        .as_str()
        .is_some_and(|l| l.starts_with("/transactions/")));
    let (_, rejections) = sim.get(&format!("{path}/rejections")).await;
    let reasons: Vec<&str> = rejections
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["rejectionReason"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(reasons.len(), 2, "{rejections}");
    assert!(reasons.iter().any(|r| r.contains("funds")), "{reasons:?}");
    assert_eq!(sim.patch(&path, approve).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bills_are_paid_by_their_rules() {
    let sim = Sim::start().await;
    let (_, companies) = sim.get("/billcompanies").await;
    assert_eq!(companies[0]["serviceProvider"], "888888");
    let (status, _) = sim.get("/billcompanies/888888").await;
    assert_eq!(status, StatusCode::OK);
    let (_, bills) = sim.get("/accounts/walletid/2/bills").await;
    assert_eq!(bills.as_array().map(Vec::len), Some(2), "{bills}");

    let payment = |amount: &str| json!({"amountPaid": amount, "currency": "USD"});
    // Part of a bill that takes part payments, then the rest by the bill's own path.
    let part = sim
        .run(
            "/accounts/walletid/1/bills/WATER-1001/payments",
            payment("20"),
        )
        .await;
    assert_eq!(part["status"], "completed", "{part}");
    let (_, bills) = sim.get("/accounts/walletid/1/bills").await;
    assert_eq!(bills[0]["billStatus"], "partialpaid");
    assert_eq!(bills[0]["amountDue"], "40");
    assert_eq!(
        sim.run("/bills/WATER-1001/payments", payment("40")).await["status"],
        "completed"
    );
    let (_, bills) = sim.get("/accounts/walletid/1/bills").await;
    assert_eq!(bills[0]["billStatus"], "paid");
    assert_eq!(sim.balance("999"), "60");
    assert_eq!(sim.balance("1"), "99940");
    let (_, paid) = sim.get("/bills/WATER-1001/payments").await;
    assert_eq!(paid.as_array().map(Vec::len), Some(2));
    assert_failed(
        &sim.run("/bills/WATER-1001/payments", payment("1")).await,
        "incorrectState",
    );

    // A bill paid in full only; one with a minimum.
    let path = "/accounts/walletid/2/bills/POWER-2001/payments";
    assert_failed(
        &sim.run(path, payment("99")).await,
        "underPaymentNotAllowed",
    );
    assert_failed(
        &sim.run(path, payment("101")).await,
        "overPaymentNotAllowed",
    );
    assert_eq!(sim.run(path, payment("100")).await["status"], "completed");
    let rates = "/accounts/walletid/2/bills/RATES-2002/payments";
    assert_failed(
        &sim.run(rates, payment("49")).await,
        "underPaymentNotAllowed",
    );
    assert_eq!(sim.run(rates, payment("50")).await["status"], "completed");
    // Another account's bill is not found.
    let (status, _) = sim
        .send(
            reqwest::Method::POST,
            "/accounts/walletid/1/bills/POWER-2001/payments",
            Some(payment("100")),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sim.balance("2"), "49850");
}

#[tokio::test]
async fn a_payment_without_a_bill_reference_settles_the_oldest_open_bill() {
    let sim = Sim::start().await;
    let payment = |amount: &str| json!({"amountPaid": amount, "currency": "USD"});
    let on_account = "/accounts/walletid/2/bills/payments";
    // Wallet 2 owes POWER-2001 (100, in full only) and RATES-2002 (500, at least 50 a payment).
    let full = sim.run(on_account, payment("100")).await;
    assert_eq!(full["status"], "completed", "{full}");
    let (_, bills) = sim.get("/accounts/walletid/2/bills").await;
    assert_eq!(bills[0]["billReference"], "POWER-2001");
    assert_eq!(bills[0]["billStatus"], "paid", "{bills}");
    assert_eq!(bills[1]["billStatus"], "unpaid", "{bills}");
    // The next goes to the rates, under their minimum.
    assert_failed(
        &sim.run(on_account, payment("10")).await,
        "underPaymentNotAllowed",
    );
    assert_eq!(
        sim.run(on_account, payment("60")).await["status"],
        "completed"
    );
    let (_, bills) = sim.get("/accounts/walletid/2/bills").await;
    assert_eq!(bills[1]["amountDue"], "440", "{bills}");
    assert_eq!(sim.balance("2"), "49840");
    // Each payment names its bill.
    let (status, paid) = sim.get(on_account).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let named: Vec<&str> = paid
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|p| p["supplementaryBillReferenceDetails"][0]["paymentReferenceValue"].as_str())
        .collect();
    assert_eq!(named, ["POWER-2001", "RATES-2002"], "{paid}");
    // An account that owes nothing has nothing to pay.
    assert_eq!(
        sim.run("/accounts/walletid/1/bills/payments", payment("60"))
            .await["status"],
        "completed"
    );
    let (status, refused) = sim
        .send(
            reqwest::Method::POST,
            "/accounts/walletid/1/bills/payments",
            Some(payment("1")),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    assert_eq!(refused["errorCode"], "identifierError");

    // The deprecated PATCH of a request state is refused as such; an unknown one is not found.
    let (status, state) = sim
        .send(reqwest::Method::POST, on_account, Some(payment("50")))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = state["serverCorrelationId"].as_str().expect("an id");
    let update = json!([{"op": "replace", "path": "/status", "value": "completed"}]);
    let (status, refused) = sim
        .send(
            reqwest::Method::PATCH,
            &format!("/requeststates/{id}"),
            Some(update.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["errorParameters"][1]["value"], "deprecated");
    let unknown = format!("/requeststates/{}", uuid::Uuid::new_v4());
    let (status, _) = sim
        .send(reqwest::Method::PATCH, &unknown, Some(update))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A simulator kept in a file, stopped outright (its runtime dropped, as a killed process would be) with a
/// transfer accepted but not yet processed, then opened again: the balances, the completed payment and the
/// authorisation code are still there, the interrupted transfer failed (moving nothing, its transaction failed
/// too) and its client was called back with why, and new requests go on.
#[test]
fn a_restarted_simulator_keeps_its_state_and_settles_what_it_left_pending() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("mmapi-simulator.json");
    // The client's callback listener outlives the first simulator.
    let callbacks = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    callbacks.set_nonblocking(true).expect("non-blocking");
    let callback_url = format!("http://{}/cb", callbacks.local_addr().expect("addr"));

    let first = tokio::runtime::Runtime::new().expect("a runtime");
    let (payment, code, interrupted) = first.block_on(async {
        let simulator = MmapiSimulator::open(
            SimulatorConfig {
                processing_delay: Duration::from_millis(300),
            },
            path.clone(),
        )
        .expect("a fresh state");
        let sim = Sim::serve(simulator.clone()).await;
        let paid = sim
            .pay(
                "merchantpay",
                payment(wallet("1"), wallet("1000"), "25", "USD"),
            )
            .await;
        assert_eq!(paid["status"], "completed", "{paid}");
        let code = sim
            .run(
                "/accounts/walletid/2/authorisationcodes",
                json!({"amount": "5", "currency": "USD", "codeLifetime": 600}),
            )
            .await;
        let response = sim
            .http
            .post(format!("{}/transactions/type/transfer", sim.base))
            .header("X-CorrelationID", uuid::Uuid::new_v4().to_string())
            .header("X-Callback-URL", &callback_url)
            .json(&payment(wallet("2"), wallet("1"), "7", "USD"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 202);
        let pending: Value = response.json().await.expect("a request state");
        simulator.save().await.expect("saved");
        (
            paid["objectReference"]
                .as_str()
                .expect("a reference")
                .to_owned(),
            code["objectReference"].as_str().expect("a code").to_owned(),
            pending,
        )
    });
    // Killed before the transfer's processing ran.
    drop(first);

    let second = tokio::runtime::Runtime::new().expect("a runtime");
    second.block_on(async {
        let received: Received = Arc::default();
        let receiver = callback_receiver(&received);
        let listener = tokio::net::TcpListener::from_std(callbacks).expect("listener");
        tokio::spawn(async move {
            let _ = axum::serve(listener, receiver).await;
        });
        let simulator = MmapiSimulator::open(
            SimulatorConfig {
                processing_delay: Duration::from_millis(20),
            },
            path.clone(),
        )
        .expect("the saved state");
        let sim = Sim::serve(simulator).await;
        assert_eq!(sim.balance("1"), "99975");
        assert_eq!(sim.balance("1000"), "25");
        assert_eq!(sim.balance("2"), "50000");
        let (status, paid) = sim.get(&format!("/transactions/{payment}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(paid["transactionStatus"], "completed", "{paid}");
        let (status, kept) = sim
            .get(&format!("/accounts/walletid/2/authorisationcodes/{code}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{kept}");

        let id = interrupted["serverCorrelationId"].as_str().expect("an id");
        let (_, state) = sim.get(&format!("/requeststates/{id}")).await;
        assert_eq!(state["status"], "failed", "{state}");
        assert_eq!(state["error"]["errorCategory"], "internal", "{state}");
        let reference = state["objectReference"].as_str().expect("a reference");
        let (_, transfer) = sim.get(&format!("/transactions/{reference}")).await;
        assert_eq!(transfer["transactionStatus"], "failed", "{transfer}");
        let started = std::time::Instant::now();
        while received.lock().expect("lock").is_empty() {
            assert!(started.elapsed() < Duration::from_secs(10), "no callback");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            received.lock().expect("lock")[0].1["errorCategory"],
            "internal"
        );

        // It goes on: the code is redeemed, and the money moves.
        let redeemed = sim
            .pay(
                "merchantpay",
                json!({"amount": "5", "currency": "USD", "debitParty": wallet("2"),
                       "creditParty": wallet("1000"), "oneTimeCode": code}),
            )
            .await;
        assert_eq!(redeemed["status"], "completed", "{redeemed}");
        assert_eq!(sim.balance("2"), "49995");
    });
}

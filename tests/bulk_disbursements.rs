//! Bulk disbursements (`/batchtransactions`) over real HTTP in sandbox mode.
//!
//! - Maker/checker, isolation, rejections with their reasons, pagination headers, `scheduledStartDate`, and the
//!   batch callback, on an in-process gateway.
//! - A KES and TZS batch with 2 % invalid items, posted `created`: nothing is paid until it is approved; then the
//!   gateway binary is killed with SIGKILL twice mid-batch, and still every valid item completes once, the
//!   invalid ones are listed with their reasons, the simulators' customer balances move by exactly the
//!   completed sum, and the batch callback arrives. Its items per second are printed (`--nocapture`). 400 items
//!   unless `MMAPI_BULK_ITEMS` says otherwise.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use mmapi_gateway::auth::NewClient;
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn items() -> usize {
    std::env::var("MMAPI_BULK_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n >= 50)
        .unwrap_or(400)
}

fn kes_item(msisdn: &str, amount: &str) -> Value {
    json!({"amount": amount, "currency": "KES", "type": "disbursement",
           "debitParty": [{"key": "organisationid", "value": "600000"}],
           "creditParty": [{"key": "msisdn", "value": msisdn}]})
}

fn tzs_item(msisdn: &str, amount: &str) -> Value {
    json!({"amount": amount, "currency": "TZS",
           "debitParty": [{"key": "businessshortcode", "value": "000000"}],
           "creditParty": [{"key": "msisdn", "value": msisdn}]})
}

/// The `n`-th kind of invalid item.
fn invalid_item(n: usize) -> Value {
    match n % 4 {
        0 => json!({"amount": "15", "currency": "KES",
                    "debitParty": [{"key": "organisationid", "value": "600000"}]}),
        1 => json!({"amount": "-5", "currency": "KES",
                    "creditParty": [{"key": "msisdn", "value": "+254711000001"}]}),
        2 => json!({"amount": "15", "currency": "XAF",
                    "creditParty": [{"key": "msisdn", "value": "+254711000001"}]}),
        _ => json!({"amount": "15", "currency": "KES", "type": "merchantpay",
                    "creditParty": [{"key": "msisdn", "value": "+254711000001"}]}),
    }
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.expect("request sent");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
    let headers = response.headers().clone();
    assert!(headers.contains_key("x-date"), "X-Date missing on {url}");
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

fn approve_patch() -> Value {
    json!([{"op": "replace", "path": "/batchStatus", "value": "approved"}])
}

fn count_header(headers: &reqwest::header::HeaderMap, name: &str) -> i64 {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

async fn wait_batch(
    http: &reqwest::Client,
    url: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        if let Ok(response) = http.get(url).send().await {
            if response.status() == 200 {
                if let Ok(batch) = response.json::<Value>().await {
                    if done(&batch) {
                        return batch;
                    }
                    assert!(
                        started.elapsed() < within,
                        "batch not there in {within:?}: {batch}"
                    );
                }
            }
        }
        assert!(
            started.elapsed() < within,
            "batch unreadable for {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn maker_checker_isolation_rejections_schedule_and_callback() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sandbox_config(dir.path()).await;
    config.batches.tick_ms = 100;
    config.batches.rate_per_sec = 50;
    config
        .batches
        .approvers
        .insert("maker-co".into(), vec!["checker-co".into()]);
    let gw = TestGateway::start_with(config, dir).await;
    let client = |id: &str| NewClient {
        client_id: Some(id.into()),
        ..NewClient::named(id)
    };
    let maker = authenticated_http(&gw.gateway.clients.create(client("maker-co")).await.unwrap());
    let checker = authenticated_http(
        &gw.gateway
            .clients
            .create(client("checker-co"))
            .await
            .unwrap(),
    );
    let (_, outsider) = gw.another_client("outsider").await;
    let receiver = CallbackReceiver::start(vec![]).await;
    let cid = correlation_id();

    let body = json!({
        "batchTitle": "March payroll", "batchdescription": "Staff salaries", "batchStatus": "created",
        "transactions": [kes_item("+254711000101", "100"), invalid_item(0),
                         kes_item("+254711000102", "200"), tzs_item("+255744000103", "3000")],
    });
    let (status, _, state) = send(
        &maker,
        reqwest::Method::POST,
        &gw.url("/batchtransactions"),
        Some(body),
        &[("X-CorrelationID", &cid), ("X-Callback-URL", &receiver.url)],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    assert_eq!(state["status"], "pending");
    assert_eq!(state["notificationMethod"], "callback");
    let batch_id = state["objectReference"].as_str().unwrap().to_owned();
    let url = gw.url(&format!("/batchtransactions/{batch_id}"));

    let (status, _, batch) = send(&maker, reqwest::Method::GET, &url, None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    assert_eq!(batch["batchStatus"], "created");
    assert_eq!(batch["batchTitle"], "March payroll");
    assert_eq!(batch["batchdescription"], "Staff salaries");
    assert_eq!(batch["parsingSuccessCount"], 3);
    assert_eq!(batch["rejectionCount"], 1);
    assert_eq!(batch["completedCount"], 0);
    assert_eq!(batch["processingFlag"], false);

    // Another client's batch does not exist for it.
    let (status, _, error) = send(&outsider, reqwest::Method::GET, &url, None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    assert_eq!(error["errorCategory"], "identification");
    assert_eq!(error["errorCode"], "identifierError");
    let (status, _, _) = send(
        &outsider,
        reqwest::Method::PATCH,
        &url,
        Some(approve_patch()),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Rejections are there at once, with their reason and the GSMA headers.
    let (status, headers, rejections) = send(
        &maker,
        reqwest::Method::GET,
        &format!("{url}/rejections"),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rejections}");
    assert_eq!(count_header(&headers, "x-records-available-count"), 1);
    assert_eq!(count_header(&headers, "x-records-returned-count"), 1);
    assert!(rejections[0]["rejectionReason"]
        .as_str()
        .is_some_and(|r| r.contains("creditParty")));
    assert!(rejections[0]["rejectionDate"].is_string());

    // Not paid while it waits for approval; the maker may not approve it itself.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, _, batch) = send(&maker, reqwest::Method::GET, &url, None, &[]).await;
    assert_eq!(batch["batchStatus"], "created");
    assert_eq!(batch["completedCount"], 0);
    let (status, _, error) = send(
        &maker,
        reqwest::Method::PATCH,
        &url,
        Some(approve_patch()),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
    assert_eq!(error["errorCode"], "requestingPartyAuthorisationError");
    let (status, _, error) = send(
        &checker,
        reqwest::Method::PATCH,
        &url,
        Some(json!([{"op": "replace", "path": "/batchTitle", "value": "x"}])),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _, _) = send(
        &checker,
        reqwest::Method::PATCH,
        &url,
        Some(approve_patch()),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, error) = send(
        &checker,
        reqwest::Method::PATCH,
        &url,
        Some(approve_patch()),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["errorCode"], "incorrectState");

    let batch = wait_batch(&maker, &url, Duration::from_secs(60), |b| {
        b["batchStatus"] == "completed"
    })
    .await;
    assert_eq!(batch["completedCount"], 3, "{batch}");
    assert_eq!(batch["rejectionCount"], 1);
    assert!(batch["approvalDate"].is_string());
    assert!(batch["completionDate"].is_string());
    assert_eq!(batch["processingFlag"], false);

    let (status, headers, completions) = send(
        &checker,
        reqwest::Method::GET,
        &format!("{url}/completions?limit=2"),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{completions}");
    assert_eq!(count_header(&headers, "x-records-available-count"), 3);
    assert_eq!(count_header(&headers, "x-records-returned-count"), 2);
    let reference = completions[0]["transactionReference"].as_str().unwrap();
    assert_eq!(completions[0]["link"], format!("/transactions/{reference}"));
    let (status, tx) = get_json(&maker, &gw.url(&format!("/transactions/{reference}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tx["transactionStatus"], "completed");
    assert_eq!(tx["type"], "disbursement");

    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].body["batchId"], batch_id.as_str());
    assert_eq!(got[0].body["batchStatus"], "completed");
    assert_eq!(got[0].body["completedCount"], 3);
    assert_eq!(
        got[0].headers["x-correlationid"].to_str().unwrap(),
        cid.as_str()
    );
    let (status, state) = get_json(
        &maker,
        &gw.url(&format!(
            "/requeststates/{}",
            state["serverCorrelationId"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["status"], "completed");

    // A repeat of the correlation id is a duplicate; a batch with no transactions is refused whole.
    let (status, _, error) = send(
        &maker,
        reqwest::Method::POST,
        &gw.url("/batchtransactions"),
        Some(json!({"transactions": [kes_item("+254711000104", "10")]})),
        &[("X-CorrelationID", &cid)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["errorCode"], "duplicateRequest");
    let (status, _, error) = send(
        &maker,
        reqwest::Method::POST,
        &gw.url("/batchtransactions"),
        Some(json!({"transactions": []})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["errorCategory"], "validation");

    // scheduledStartDate is honoured: a batch approved at once waits for it.
    let start = chrono::Utc::now() + chrono::Duration::seconds(3);
    let (status, _, state) = send(
        &outsider,
        reqwest::Method::POST,
        &gw.url("/batchtransactions"),
        Some(json!({"scheduledStartDate": start.to_rfc3339(),
                    "transactions": [kes_item("+254711000105", "50")]})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let url = gw.url(&format!(
        "/batchtransactions/{}",
        state["objectReference"].as_str().unwrap()
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, _, batch) = send(&outsider, reqwest::Method::GET, &url, None, &[]).await;
    assert_eq!(batch["batchStatus"], "approved", "{batch}");
    assert_eq!(batch["completedCount"], 0);
    let batch = wait_batch(&outsider, &url, Duration::from_secs(60), |b| {
        b["batchStatus"] == "completed"
    })
    .await;
    assert_eq!(batch["completedCount"], 1);
    assert!(chrono::Utc::now() >= start);
}

/// Balances of the sandbox simulators' customers: `(KES, TZS)` by MSISDN (without `+`).
async fn ledgers(http: &reqwest::Client, root: &str) -> (Value, Value) {
    let (_, daraja) = get_json(http, &format!("{root}/sandbox/daraja/__simulator/ledger")).await;
    let (_, openapi) = get_json(
        http,
        &format!("{root}/sandbox/mpesa-openapi/__simulator/ledger"),
    )
    .await;
    (daraja, openapi)
}

fn balance(ledger: &Value, key: &str) -> Decimal {
    ledger["balances"][key]
        .as_str()
        .or(ledger["customerOpening"].as_str())
        .and_then(|b| b.parse().ok())
        .expect("a balance")
}

/// Every key the simulators counted a submission under (each holds the gateway's transaction reference).
/// How many submissions the simulators refused as repeats of one they had taken (sent again, carried out once).
async fn refused_repeats(http: &reqwest::Client, root: &str) -> u64 {
    let mut all = 0;
    for sim in ["daraja", "mpesa-openapi"] {
        let (_, seen) = get_json(
            http,
            &format!("{root}/sandbox/{sim}/__simulator/submissions"),
        )
        .await;
        if let Some(map) = seen["refusedRepeats"].as_object() {
            all += map.values().filter_map(Value::as_u64).sum::<u64>();
        }
    }
    all
}

async fn duplicates(http: &reqwest::Client, root: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for sim in ["daraja", "mpesa-openapi"] {
        let (_, seen) = get_json(
            http,
            &format!("{root}/sandbox/{sim}/__simulator/submissions"),
        )
        .await;
        all.extend(seen["duplicates"].as_array().cloned().unwrap_or_default());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kes_and_tzs_batch_survives_two_sigkills_and_pays_each_item_once() {
    let n = items();
    let dir = tempfile::tempdir().unwrap();
    // MMAPI_BULK_KEEP keeps the gateway's data for a look after the run.
    let dir = if std::env::var("MMAPI_BULK_KEEP").is_ok() {
        let kept = dir.keep();
        eprintln!("data kept in {}", kept.display());
        kept
    } else {
        dir.path().to_owned()
    };
    let config = dir.join("gateway.toml");
    // Per operator; `MMAPI_BULK_RATE` raises it to find what the gateway itself can do.
    let rate: u32 = std::env::var("MMAPI_BULK_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    std::fs::write(
        &config,
        format!(
            "[simulators]\ncallback_delay_ms = 100\n\
             [dispatch]\ntick_ms = 100\nclaim_lease_ms = 5000\nreview_after_secs = 15\n\
             [callbacks]\ninitial_backoff_ms = 200\ntimeout_ms = 2000\n\
             [batches]\ntick_ms = 100\nrate_per_sec = {rate}\nconcurrency = 16\n\
             [limits]\nmax_body_bytes = 67108864\n"
        ),
    )
    .unwrap();
    let data_dir = dir.join("data");
    let port = free_port();
    let root = format!("http://127.0.0.1:{port}");
    let base = format!("{root}/v1.2/mm");
    let database_url = test_database_url().await;
    let receiver = CallbackReceiver::start(vec![]).await;

    let mut gateway = spawn_gateway(&config, port, &data_dir, database_url.as_deref());
    wait_up(&reqwest::Client::new(), &base).await;
    let http = authenticated_http(&sandbox_credentials(&data_dir));

    // Half KES, half TZS, every 50th item invalid (2 %).
    let mut transactions = Vec::with_capacity(n);
    let mut expected: BTreeMap<String, (Decimal, bool)> = BTreeMap::new();
    let mut invalid = 0;
    for i in 0..n {
        if i % 50 == 49 {
            transactions.push(invalid_item(invalid));
            invalid += 1;
            continue;
        }
        let amount = Decimal::from(10 + (i % 40) as i64);
        if i % 2 == 0 {
            let msisdn = format!("2547110{i:05}");
            transactions.push(kes_item(&format!("+{msisdn}"), &amount.to_string()));
            expected.insert(msisdn, (amount, true));
        } else {
            let msisdn = format!("255744{i:06}");
            transactions.push(tzs_item(&format!("+{msisdn}"), &amount.to_string()));
            expected.insert(msisdn, (amount, false));
        }
    }
    let (kes_before, tzs_before) = ledgers(&http, &root).await;
    let cid = correlation_id();
    let (status, _, state) = send(
        &http,
        reqwest::Method::POST,
        &format!("{base}/batchtransactions"),
        Some(json!({"batchStatus": "created", "batchTitle": "benefits", "transactions": transactions})),
        &[("X-CorrelationID", &cid), ("X-Callback-URL", &receiver.url)],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let batch_id = state["objectReference"].as_str().unwrap().to_owned();
    let url = format!("{base}/batchtransactions/{batch_id}");

    // Not paid until approved.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (_, _, batch) = send(&http, reqwest::Method::GET, &url, None, &[]).await;
    assert_eq!(batch["batchStatus"], "created", "{batch}");
    assert_eq!(batch["parsingSuccessCount"], (n - invalid) as i64);
    assert_eq!(batch["rejectionCount"], invalid as i64);
    let (kes_now, tzs_now) = ledgers(&http, &root).await;
    assert_eq!(
        kes_now["balances"], kes_before["balances"],
        "paid before approval"
    );
    assert_eq!(
        tzs_now["balances"], tzs_before["balances"],
        "paid before approval"
    );

    let (status, _, _) = send(
        &http,
        reqwest::Method::PATCH,
        &url,
        Some(approve_patch()),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let approved = Instant::now();

    // Killed twice mid-batch, started again each time on the same data.
    let valid = (n - invalid) as i64;
    let kes_items = expected.values().filter(|(_, kes)| *kes).count();
    let mut sustained = 0.0;
    for fraction in [3, 6] {
        let threshold = valid * fraction / 10;
        wait_batch(&http, &url, Duration::from_secs(120), |b| {
            b["completedCount"].as_i64().unwrap_or(0) >= threshold
        })
        .await;
        if fraction == 3 {
            sustained = threshold as f64 / approved.elapsed().as_secs_f64();
        }
        gateway.kill();
        gateway = spawn_gateway(&config, port, &data_dir, database_url.as_deref());
        wait_up(&reqwest::Client::new(), &base).await;
    }
    // An item being sent at a kill whose request never reached the operator (the sandbox simulators die with
    // the gateway) is sent again under its idempotency key (M-Pesa OpenAPI ThirdPartyConversationID, Daraja B2C
    // OriginatorConversationID): paid once if the operator never had it, refused as a duplicate if it had. None
    // is left for a person.
    let started = Instant::now();
    let batch = loop {
        let (_, _, batch) = send(&http, reqwest::Method::GET, &url, None, &[]).await;
        if batch["batchStatus"] == "completed" {
            break batch;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "batch not completed: {batch}"
        );
        let (_, review) = get_json(&http, &format!("{root}/internal/review")).await;
        assert_eq!(
            review,
            json!([]),
            "an item in doubt is sent again under its key, not left for review"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let elapsed = approved.elapsed();
    assert_eq!(batch["completedCount"], valid, "{batch}");
    assert_eq!(batch["rejectionCount"], invalid as i64);
    assert!(batch["completionDate"].is_string());

    // The invalid items, with their reasons.
    let (status, headers, rejections) = send(
        &http,
        reqwest::Method::GET,
        &format!("{url}/rejections?limit=1000"),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count_header(&headers, "x-records-available-count"),
        invalid as i64
    );
    for rejection in rejections.as_array().unwrap() {
        assert!(
            rejection["rejectionReason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{rejection}"
        );
        assert!(rejection["transactionReference"].is_null(), "{rejection}");
        assert!(rejection["creditParty"].is_array(), "{rejection}");
    }

    // Every completion once, and nothing paid twice.
    let mut references = HashSet::new();
    let mut offset = 0;
    loop {
        let (status, headers, page) = send(
            &http,
            reqwest::Method::GET,
            &format!("{url}/completions?limit=1000&offset={offset}"),
            None,
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(count_header(&headers, "x-records-available-count"), valid);
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        offset += page.len();
        for completion in page {
            assert!(references.insert(completion["transactionReference"].to_string()));
        }
    }
    assert_eq!(references.len() as i64, valid);
    assert_eq!(duplicates(&http, &root).await, Vec::<Value>::new());

    // The simulators' customers received exactly the completed sum, each its own amount once.
    let (kes_after, tzs_after) = ledgers(&http, &root).await;
    let mut kes_sum = Decimal::ZERO;
    let mut tzs_sum = Decimal::ZERO;
    for (msisdn, (amount, kes)) in &expected {
        let (before, after) = if *kes {
            (&kes_before, &kes_after)
        } else {
            (&tzs_before, &tzs_after)
        };
        let key = if *kes {
            msisdn.clone()
        } else {
            format!("vodacomTZN:{msisdn}")
        };
        assert_eq!(
            balance(after, &key) - balance(before, &key),
            *amount,
            "{key} received its amount once"
        );
        if *kes {
            kes_sum += amount;
        } else {
            tzs_sum += amount;
        }
    }
    let customers_moved = |before: &Value, after: &Value| -> Decimal {
        let map = after["balances"].as_object().unwrap();
        map.iter()
            .filter(|(k, _)| {
                let account = k.rsplit(':').next().unwrap_or(k);
                account.len() == 12 && (account.starts_with("254") || account.starts_with("255"))
            })
            .map(|(k, _)| balance(after, k) - balance(before, k))
            .sum()
    };
    assert_eq!(customers_moved(&kes_before, &kes_after), kes_sum);
    assert_eq!(customers_moved(&tzs_before, &tzs_after), tzs_sum);

    // The batch callback.
    let got = receiver.wait_for(1, Duration::from_secs(30)).await;
    let callback = got
        .iter()
        .find(|r| r.body["batchId"] == batch_id.as_str())
        .expect("the batch callback");
    assert_eq!(callback.body["batchStatus"], "completed");
    assert_eq!(callback.body["completedCount"], valid);

    eprintln!(
        "bulk disbursements: {n} items ({valid} valid: {kes_items} KES, {} TZS; {invalid} rejected when \
         posted): {sustained:.0} items/s completed from approval to the first kill; with two SIGKILLs and \
         restarts the batch completed {:.1} s after approval. KES {kes_sum} and TZS {tzs_sum} paid, none twice; \
         items in doubt after a kill were sent again under their key, {} of those refused as repeats of one \
         the operator had.",
        valid as usize - kes_items,
        elapsed.as_secs_f64(),
        refused_repeats(&http, &root).await,
    );
    gateway.kill();
}

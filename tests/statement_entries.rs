//! Statement entries (issue 9, point 6): `GET /accounts/{…}/statemententries` in both path forms and
//! `GET /statemententries/{transactionReference}`, from the store, with the transaction list's filters,
//! pagination, headers and isolation.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

/// The properties of a GSMA `responseStatementEntries`.
const ENTRY_FIELDS: [&str; 12] = [
    "transactionReference",
    "creditParty",
    "debitParty",
    "transactionStatus",
    "amount",
    "currency",
    "descriptionText",
    "transactionReceipt",
    "creationDate",
    "modificationDate",
    "requestDate",
    "customData",
];

fn assert_entry(entry: &Value) {
    let object = entry.as_object().expect("an object");
    for key in object.keys() {
        assert!(ENTRY_FIELDS.contains(&key.as_str()), "{key} in {entry}");
    }
    for required in [
        "transactionReference",
        "creditParty",
        "debitParty",
        "transactionStatus",
        "amount",
        "currency",
    ] {
        assert!(
            object.contains_key(required),
            "{required} missing from {entry}"
        );
    }
}

/// GETs a list: status, the two record-count headers and the body.
async fn list(http: &reqwest::Client, url: &str) -> (StatusCode, Option<(i64, i64)>, Value) {
    let response = http.get(url).send().await.expect("request sent");
    let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let counts = header("x-records-available-count").zip(header("x-records-returned-count"));
    (status, counts, response.json().await.unwrap_or(Value::Null))
}

async fn pay(gw: &TestGateway, amount: &str) -> String {
    let (status, state) = gw.merchantpay(PAYER, amount, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    let done = gw
        .wait_final(
            state["serverCorrelationId"].as_str().expect("id"),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    done["objectReference"]
        .as_str()
        .expect("reference")
        .to_owned()
}

#[tokio::test]
async fn statement_entries_are_the_accounts_transactions() {
    let gw = TestGateway::start().await;
    let mut references = Vec::new();
    for amount in ["11", "12", "13"] {
        references.push(pay(&gw, amount).await);
    }

    // Both path forms, newest first, paginated.
    for path in [
        format!("/accounts/storeid/{TILL}/statemententries"),
        format!("/accounts/storeid@{TILL}/statemententries"),
    ] {
        let (status, counts, entries) = list(&gw.http, &gw.url(&format!("{path}?limit=2"))).await;
        assert_eq!(status, StatusCode::OK, "{entries}");
        assert_eq!(counts, Some((3, 2)), "{path}");
        let entries = entries.as_array().expect("an array");
        assert_eq!(entries.len(), 2);
        entries.iter().for_each(assert_entry);
        assert_eq!(entries[0]["transactionReference"], references[2].as_str());
        assert_eq!(entries[0]["amount"], "13");
        assert_eq!(entries[1]["transactionReference"], references[1].as_str());

        let (_, counts, entries) =
            list(&gw.http, &gw.url(&format!("{path}?limit=2&offset=2"))).await;
        assert_eq!(counts, Some((3, 1)));
        assert_eq!(entries[0]["transactionReference"], references[0].as_str());
        // The page just past the end is empty; beyond it is a mistake.
        let (status, counts, _) = list(&gw.http, &gw.url(&format!("{path}?offset=3"))).await;
        assert_eq!((status, counts), (StatusCode::OK, Some((3, 0))));
        let (status, _, error) = list(&gw.http, &gw.url(&format!("{path}?offset=4"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["errorCode"], "invalidOffset", "{error}");
    }

    // The payer's side lists them too; the same entries as the transaction list.
    let (_, counts, entries) = list(
        &gw.http,
        &gw.url("/accounts/msisdn/+254708374149/statemententries"),
    )
    .await;
    assert_eq!(counts, Some((3, 3)));
    let (_, _, transactions) = list(
        &gw.http,
        &gw.url("/accounts/msisdn/+254708374149/transactions"),
    )
    .await;
    for (entry, transaction) in entries
        .as_array()
        .expect("array")
        .iter()
        .zip(transactions.as_array().expect("array"))
    {
        assert_eq!(
            entry["transactionReference"],
            transaction["transactionReference"]
        );
        assert_eq!(entry["transactionStatus"], transaction["transactionStatus"]);
        assert_eq!(
            entry["transactionReceipt"],
            transaction["transactionReceipt"]
        );
    }

    // Date filters.
    let (_, counts, _) = list(
        &gw.http,
        &gw.url(&format!(
            "/accounts/storeid/{TILL}/statemententries?fromDateTime=2999-01-01T00:00:00Z"
        )),
    )
    .await;
    assert_eq!(counts, Some((0, 0)));
    let (_, counts, _) = list(
        &gw.http,
        &gw.url(&format!(
            "/accounts/storeid/{TILL}/statemententries?toDateTime=2000-01-01T00:00:00Z"
        )),
    )
    .await;
    assert_eq!(counts, Some((0, 0)));
    let (_, counts, _) = list(
        &gw.http,
        &gw.url(&format!(
            "/accounts/storeid/{TILL}/statemententries?fromDateTime=2000-01-01T00:00:00Z&toDateTime=2999-01-01T00:00:00Z"
        )),
    )
    .await;
    assert_eq!(counts, Some((3, 3)));
    let (status, _, error) = list(
        &gw.http,
        &gw.url(&format!(
            "/accounts/storeid/{TILL}/statemententries?fromDateTime=yesterday"
        )),
    )
    .await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("formatError"))
    );

    // One entry.
    let (status, entry) = gw
        .get(&format!("/statemententries/{}", references[0]))
        .await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    assert_entry(&entry);
    assert_eq!(entry["amount"], "11");
    assert_eq!(entry["transactionStatus"], "completed");
    let (status, error) = gw.get("/statemententries/nosuchreference").await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("identifierError"))
    );
}

#[tokio::test]
async fn a_client_sees_only_its_own_statement_entries() {
    let gw = TestGateway::start().await;
    let reference = pay(&gw, "14").await;
    let (_, other) = gw.another_client("another business").await;

    let (status, error) =
        get_json(&other, &gw.url(&format!("/statemententries/{reference}"))).await;
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (StatusCode::NOT_FOUND, Some("identifierError")),
        "{error}"
    );
    let (status, counts, entries) = list(
        &other,
        &gw.url(&format!("/accounts/storeid/{TILL}/statemententries")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    assert_eq!(counts, Some((0, 0)));

    // Its own payment it sees, in the list and alone.
    let (status, state) = {
        let body = serde_json::json!({"amount": "16", "currency": "KES",
            "debitParty": [{"key": "msisdn", "value": PAYER}],
            "creditParty": [{"key": "storeid", "value": TILL}]});
        let response = other
            .post(gw.url("/transactions/type/merchantpay"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("sent");
        (
            response.status(),
            response.json::<Value>().await.expect("json"),
        )
    };
    assert_eq!(status, 202, "{state}");
    let own = state["objectReference"].as_str().expect("reference");
    let (status, entry) = get_json(&other, &gw.url(&format!("/statemententries/{own}"))).await;
    assert_eq!(status, StatusCode::OK, "{entry}");
    let (_, counts, _) = list(
        &other,
        &gw.url(&format!("/accounts/storeid/{TILL}/statemententries")),
    )
    .await;
    assert_eq!(counts, Some((1, 1)));
    // The operator client may read any single entry.
    let (status, _) = gw.get(&format!("/statemententries/{own}")).await;
    assert_eq!(status, StatusCode::OK);
}

/// Paging through a statement while payments keep arriving: with `toDateTime` fixed when the walk starts, the
/// pages hold every earlier entry exactly once, whatever is inserted meanwhile.
#[tokio::test]
async fn pages_are_stable_under_concurrent_inserts() {
    let gw = TestGateway::start().await;
    let mut before = Vec::new();
    for amount in ["21", "22", "23", "24", "25", "26", "27"] {
        before.push(pay(&gw, amount).await);
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let snapshot = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(5)).await;

    // Payments arriving while the statement is read.
    let inserting = {
        let http = gw.http.clone();
        let url = gw.url("/transactions/type/merchantpay");
        tokio::spawn(async move {
            for _ in 0..15 {
                let body = serde_json::json!({"amount": "1", "currency": "KES",
                    "debitParty": [{"key": "msisdn", "value": PAYER}],
                    "creditParty": [{"key": "storeid", "value": TILL}]});
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(response.status(), 202);
            }
        })
    };
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let url = gw.url(&format!(
            "/accounts/storeid/{TILL}/statemententries?limit=2&offset={offset}&toDateTime={}",
            snapshot.replace('+', "%2B")
        ));
        let (status, counts, page) = list(&gw.http, &url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            counts.map(|c| c.0),
            Some(7),
            "the snapshot's size does not move"
        );
        let page = page.as_array().expect("array").clone();
        if page.is_empty() {
            break;
        }
        offset += page.len();
        seen.extend(
            page.into_iter()
                .map(|e| e["transactionReference"].as_str().expect("ref").to_owned()),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    inserting.await.expect("inserts");
    before.reverse();
    assert_eq!(seen, before, "every earlier entry once, newest first");
}

//! Client authentication and isolation over real HTTP: the credentials GSMA SDKs send (HTTP Basic, OAuth 2.0
//! client-credentials bearer tokens, X-API-Key), 401 for everything but the heartbeat and the token endpoint, and
//! one client never seeing another's transactions, request states or `/responses` entries.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode as Status;
use serde_json::{json, Value};

fn payment_body() -> String {
    json!({
        "amount": "10",
        "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": PAYER}],
        "creditParty": [{"key": "storeid", "value": TILL}],
    })
    .to_string()
}

async fn pay(http: &reqwest::Client, gw: &TestGateway, correlation_id: &str) -> (u16, Value) {
    let response = http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("content-type", "application/json")
        .header("X-CorrelationID", correlation_id)
        .body(payment_body())
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn assert_unauthenticated(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["errorCategory"], "authorisation", "{what}: {body}");
    assert_eq!(
        body["errorCode"], "clientAuthorisationError",
        "{what}: {body}"
    );
    assert!(body["errorDateTime"].is_string(), "{what}: {body}");
}

#[tokio::test]
async fn without_credentials_only_the_heartbeat_and_the_token_endpoint_answer() {
    let gw = TestGateway::start().await;
    let anonymous = reqwest::Client::new();
    let root = format!("http://{}", gw.gateway.address);
    let id = "b6a0b3a8-4e7b-4d5e-9c3f-2f1a0e4d8c71";
    let endpoints: Vec<(&str, String)> = vec![
        ("POST", "/transactions/type/merchantpay".into()),
        ("GET", "/transactions/0123456789abcdef".into()),
        ("POST", "/transactions/0123456789abcdef/reversals".into()),
        ("GET", format!("/requeststates/{id}")),
        ("GET", format!("/responses/{id}")),
        ("GET", "/accounts/organisationid/600000/balance".into()),
        ("GET", "/accounts/organisationid@600000/balance".into()),
        ("GET", "/accounts/msisdn/254708374149/transactions".into()),
        ("GET", "/accounts/msisdn@254708374149/transactions".into()),
        ("GET", "/accounts/msisdn/233000000001/accountname".into()),
    ];
    for mount in [
        "/v1.2/mm",
        "/simulator/v1.2/passthrough/mm",
        "/2/oauth/simulator/v1.2/mm",
    ] {
        for (method, path) in &endpoints {
            let url = format!("{root}{mount}{path}");
            let request = match *method {
                "POST" => anonymous
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(payment_body()),
                _ => anonymous.get(&url),
            };
            let response = request.send().await.expect("sent");
            let status = response.status().as_u16();
            assert!(
                response.headers().contains_key("www-authenticate"),
                "{method} {url}"
            );
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_unauthenticated(status, &body, &format!("{method} {url}"));
        }
        let heartbeat = anonymous
            .get(format!("{root}{mount}/heartbeat"))
            .send()
            .await
            .expect("sent");
        assert_eq!(heartbeat.status(), Status::OK, "{mount}/heartbeat");
    }
    for path in ["/internal/stats", "/internal/review"] {
        let response = anonymous
            .get(format!("{root}{path}"))
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_unauthenticated(status, &body, path);
    }

    // Wrong, malformed and unknown credentials read the same.
    let sandbox = gw.gateway.sandbox_client.clone().expect("sandbox client");
    let mut wrong = sandbox.clone();
    wrong.consumer_secret = mmapi_core::Secret::new("not the secret");
    let mut unknown = sandbox.clone();
    unknown.consumer_key = "ck_nobody".into();
    for (what, header) in [
        ("wrong secret", basic_auth(&wrong)),
        ("unknown key", basic_auth(&unknown)),
        ("not base64", "Basic %%%".to_owned()),
        ("unknown scheme", "Digest abc".to_owned()),
        ("unknown token", "Bearer abcdef".to_owned()),
    ] {
        let (status, body) = get_with(&anonymous, &gw, header.as_str(), None).await;
        assert_unauthenticated(status, &body, what);
        let text = body.to_string();
        assert!(
            !text.contains("secret") && !text.contains("ck_"),
            "{what}: {text}"
        );
    }
    // The right credentials work, and so does the API key alone or beside them; a key of another client
    // beside them does not.
    let (status, _) = get_with(&anonymous, &gw, &basic_auth(&sandbox), None).await;
    assert_eq!(status, 200);
    let response = anonymous
        .get(gw.url("/accounts/organisationid/600000/balance"))
        .header("X-API-Key", sandbox.api_key.expose())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), Status::OK);
    let (other, _) = gw.another_client("other").await;
    let (status, body) = get_with(
        &anonymous,
        &gw,
        &basic_auth(&sandbox),
        Some(other.api_key.expose()),
    )
    .await;
    assert_unauthenticated(status, &body, "another client's API key");
}

/// GETs the sandbox organisation's balance with an Authorization header and, optionally, an X-API-Key.
async fn get_with(
    http: &reqwest::Client,
    gw: &TestGateway,
    authorization: &str,
    api_key: Option<&str>,
) -> (u16, Value) {
    let mut request = http
        .get(gw.url("/accounts/organisationid/600000/balance"))
        .header("authorization", authorization);
    if let Some(key) = api_key {
        request = request.header("X-API-Key", key);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_access_token_works_until_it_expires() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.auth.token_lifetime_secs = 2;
    let gw = TestGateway::start_with(config, dir).await;
    let client = gw.gateway.sandbox_client.clone().expect("sandbox client");
    let anonymous = reqwest::Client::new();
    let token_url = format!("http://{}/v1/oauth/accesstoken", gw.gateway.address);

    // Not a client-credentials request, and wrong credentials.
    let response = anonymous
        .post(&token_url)
        .header("authorization", basic_auth(&client))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), Status::BAD_REQUEST);
    let mut wrong = client.clone();
    wrong.consumer_secret = mmapi_core::Secret::new("nope");
    let response = anonymous
        .post(&token_url)
        .header("authorization", basic_auth(&wrong))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), Status::UNAUTHORIZED);

    let response = anonymous
        .post(&token_url)
        .header("authorization", basic_auth(&client))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), Status::OK);
    let token: Value = response.json().await.expect("token JSON");
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 2);
    let bearer = format!("Bearer {}", token["access_token"].as_str().expect("token"));

    // The token works on every mount, the GSMA sandbox's OAuth one included.
    let (status, _) = get_with(&anonymous, &gw, &bearer, None).await;
    assert_eq!(status, 200);
    let response = anonymous
        .post(format!(
            "http://{}/2/oauth/simulator/v1.2/mm/transactions/type/merchantpay",
            gw.gateway.address
        ))
        .header("authorization", &bearer)
        .header("X-API-Key", client.api_key.expose())
        .header("content-type", "application/json")
        .body(payment_body())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), Status::ACCEPTED);

    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let (status, body) = get_with(&anonymous, &gw, &bearer, None).await;
    assert_unauthenticated(status, &body, "an expired token");
}

/// A busy client's credentials are verified (argon2) once when the remembered verification runs out, not once
/// by every request in flight then, and again ahead of time while requests keep coming: meanwhile every request
/// is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_clients_secret_is_verified_once_per_period() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.auth.cache_secs = 4;
    let gw = TestGateway::start_with(config, dir).await;
    let client = gw.gateway.sandbox_client.clone().expect("sandbox client");
    let basic = basic_auth(&client);
    let http = reqwest::Client::new();
    let url = gw.url("/accounts/organisationid/600000/balance");
    let burst = || async {
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let request = http.get(&url).header("authorization", &basic).send();
            requests.spawn(async move { request.await.map(|r| r.status().as_u16()) });
        }
        let statuses = requests.join_all().await;
        assert!(
            statuses.iter().all(|s| matches!(s, Ok(200))),
            "{statuses:?}"
        );
    };
    let checks = || gw.gateway.clients.secret_checks();

    let (status, _) = get_with(&http, &gw, &basic, None).await;
    assert_eq!(status, 200);
    let before = checks();
    // Run out: the 32 requests wait for one verification.
    tokio::time::sleep(Duration::from_millis(4_300)).await;
    burst().await;
    assert_eq!(checks() - before, 1, "verified once for the burst");
    // In its last second: one request checks it again, the others are answered meanwhile.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    burst().await;
    assert_eq!(checks() - before, 2, "checked again once, ahead of time");
    burst().await;
    assert_eq!(checks() - before, 2, "and remembered again");
}

#[tokio::test]
async fn clients_never_see_each_other() {
    let gw = TestGateway::start().await;
    let (_, b) = gw.another_client("client B").await;

    // The same X-CorrelationID from two clients creates two transactions.
    let cid = correlation_id();
    let (status, a_state) = pay(&gw.http, &gw, &cid).await;
    assert_eq!(status, 202, "{a_state}");
    let (status, b_state) = pay(&b, &gw, &cid).await;
    assert_eq!(status, 202, "{b_state}");
    assert_ne!(
        a_state["serverCorrelationId"],
        b_state["serverCorrelationId"]
    );
    // And each client's repeat is its own duplicate.
    let (status, repeat) = pay(&b, &gw, &cid).await;
    assert_eq!(status, 400, "{repeat}");
    assert_eq!(repeat["errorCode"], "duplicateRequest");

    let a_final = gw
        .wait_final(
            a_state["serverCorrelationId"].as_str().expect("id"),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(a_final["status"], "completed", "{a_final}");
    let a_reference = a_final["objectReference"].as_str().expect("reference");
    let a_state_id = a_state["serverCorrelationId"].as_str().expect("id");

    // Client A sees its own; client B gets 404 identification/identifierError for each of them.
    for path in [
        format!("/transactions/{a_reference}"),
        format!("/requeststates/{a_state_id}"),
    ] {
        let (status, _) = get_json(&gw.http, &gw.url(&path)).await;
        assert_eq!(status.as_u16(), 200, "A reads {path}");
        let (status, body) = get_json(&b, &gw.url(&path)).await;
        assert_eq!(status.as_u16(), 404, "B reads {path}: {body}");
        assert_eq!(body["errorCategory"], "identification", "{body}");
        assert_eq!(body["errorCode"], "identifierError", "{body}");
    }
    // `/responses` finds each client's own transaction for the shared correlation id.
    let (status, a_link) = get_json(&gw.http, &gw.url(&format!("/responses/{cid}"))).await;
    assert_eq!(status.as_u16(), 200);
    let (status, b_link) = get_json(&b, &gw.url(&format!("/responses/{cid}"))).await;
    assert_eq!(status.as_u16(), 200);
    assert_ne!(a_link["link"], b_link["link"]);
    let (status, _) = get_json(&b, &gw.url(&format!("/responses/{}", correlation_id()))).await;
    assert_eq!(status.as_u16(), 404);

    // B may not reverse A's transaction, nor read an account's statement with A's payments in it, nor the
    // balance of an account that is not granted to it.
    let response = b
        .post(gw.url(&format!("/transactions/{a_reference}/reversals")))
        .header("content-type", "application/json")
        .body(json!({"type": "reversal"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), Status::NOT_FOUND);
    let (status, b_list) = get_json(&b, &gw.url("/accounts/storeid/174379/transactions")).await;
    assert_eq!(status.as_u16(), 200);
    let references: Vec<&str> = b_list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["transactionReference"].as_str())
        .collect();
    assert!(!references.contains(&a_reference), "{b_list}");
    let (status, body) = get_json(&b, &gw.url("/accounts/organisationid/600000/balance")).await;
    assert_eq!(status.as_u16(), 404, "{body}");

    // The operator routes are for operators only.
    let (status, body) =
        get_json(&b, &format!("http://{}/internal/stats", gw.gateway.address)).await;
    assert_eq!(status.as_u16(), 401, "{body}");
    assert_eq!(body["errorCode"], "requestingPartyAuthorisationError");
    let (status, _) = get_json(
        &gw.http,
        &format!("http://{}/internal/stats", gw.gateway.address),
    )
    .await;
    assert_eq!(status.as_u16(), 200);
}

#[tokio::test]
async fn a_client_limited_to_a_provider_cannot_route_elsewhere() {
    let gw = TestGateway::start().await;
    let credentials = gw
        .gateway
        .clients
        .create(mmapi_gateway::auth::NewClient {
            allowed_providers: Some(vec!["mpesa-openapi".into()]),
            ..mmapi_gateway::auth::NewClient::named("Tanzania only")
        })
        .await
        .expect("client");
    let http = authenticated_http(&credentials);
    let (status, body) = pay(&http, &gw, &correlation_id()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["errorCode"], "requestingPartyAuthorisationError");
}

#[tokio::test]
async fn rotating_and_disabling_a_client() {
    let gw = TestGateway::start().await;
    let (old, http) = gw.another_client("rotating").await;
    let (status, _) = get_json(&http, &gw.url(&format!("/responses/{}", correlation_id()))).await;
    assert_eq!(status.as_u16(), 404, "authenticated, nothing found");

    let new = gw
        .gateway
        .clients
        .rotate(&old.consumer_key)
        .await
        .expect("rotated")
        .expect("the client exists");
    assert_eq!(new.consumer_key, old.consumer_key);
    let anonymous = reqwest::Client::new();
    let (status, body) = get_with(&anonymous, &gw, &basic_auth(&old), None).await;
    assert_unauthenticated(status, &body, "old credentials after rotation");
    let http = authenticated_http(&new);
    let (status, _) = get_json(&http, &gw.url(&format!("/responses/{}", correlation_id()))).await;
    assert_eq!(status.as_u16(), 404, "new credentials work");

    assert!(gw
        .gateway
        .clients
        .set_disabled(&new.consumer_key, true)
        .await
        .expect("disabled"));
    let (status, body) =
        get_json(&http, &gw.url(&format!("/responses/{}", correlation_id()))).await;
    assert_unauthenticated(status.as_u16(), &body, "a disabled client");
}

#[tokio::test]
async fn the_clients_command_adds_lists_rotates_and_disables() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = test_database_url().await;
    let data_dir = dir.path();
    let added = add_client_with_cli(data_dir, database_url.as_deref(), false);
    assert!(added.consumer_key.starts_with("ck_"));

    let run = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mmapi-gateway"));
        command.args(["clients", "--data-dir"]).arg(data_dir);
        if let Some(url) = &database_url {
            command.args(["--database-url", url]);
        }
        command
            .args(args)
            .env("MMAPI_LOG", "warn")
            .output()
            .expect("runs")
    };
    let listed = run(&["list"]);
    assert!(listed.status.success());
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    let row: Value = serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
    assert_eq!(row["clientId"], added.consumer_key.as_str());
    assert_eq!(row["disabled"], false);
    assert!(!text.contains(added.consumer_secret.expose()), "{text}");
    assert!(!text.contains(added.api_key.expose()), "{text}");

    let rotated = run(&["rotate", &added.consumer_key]);
    assert!(rotated.status.success());
    let rotated: Value = serde_json::from_slice(&rotated.stdout).expect("JSON");
    assert_eq!(rotated["consumerKey"], added.consumer_key.as_str());
    assert_ne!(rotated["consumerSecret"], added.consumer_secret.expose());

    assert!(run(&["disable", &added.consumer_key]).status.success());
    let listed = run(&["list"]);
    let row: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(row["disabled"], true);
    let missing = run(&["disable", "ck_nobody"]);
    assert!(!missing.status.success());
}

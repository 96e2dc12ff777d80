//! Helpers for the dashboard's tests: signing in (the session cookie), reading pages with it, and payments
//! with mixed outcomes made by a given client.

use std::collections::HashMap;
use std::time::Duration;

use mmapi_gateway::auth::credentials::IssuedCredentials;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{wait_final, TestGateway, TILL};

/// Payers whose outcomes the sandbox's Daraja simulator chooses: success, cancelled by the customer (1032),
/// insufficient funds (1).
pub const MIXED_PAYERS: [&str; 5] = [
    "+254708374149",
    "254700000001",
    "+254708374149",
    "0700000002",
    "+254708374149",
];

/// An HTTP client that does not follow redirects, so that a test sees them.
pub fn browserless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

/// The dashboard's URL for `path` (e.g. `/reports`).
pub fn url(gw: &TestGateway, path: &str) -> String {
    format!("http://{}/dashboard{path}", gw.gateway.address)
}

/// Signs in with a client's consumer key and secret; returns the `Cookie` header value of the session.
pub async fn sign_in(gw: &TestGateway, credentials: &IssuedCredentials) -> String {
    let response = browserless()
        .post(url(gw, "/signin"))
        .form(&[
            ("consumer_key", credentials.consumer_key.as_str()),
            ("consumer_secret", credentials.consumer_secret.expose()),
        ])
        .send()
        .await
        .expect("sign-in sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in");
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age="] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    set_cookie.split(';').next().expect("name=value").to_owned()
}

/// GETs a dashboard page with a session cookie; returns its status and text.
pub async fn get(gw: &TestGateway, cookie: &str, path: &str) -> (StatusCode, String) {
    let response = browserless()
        .get(url(gw, path))
        .header("cookie", cookie)
        .header("accept", "text/html")
        .send()
        .await
        .expect("page fetched");
    let status = response.status();
    (status, response.text().await.expect("page text"))
}

/// The value of `attribute` on the element with `id` in `html` (a small, exact reader for the dashboard's own
/// markup).
pub fn attribute_of(html: &str, id: &str, attribute: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let key = format!("{attribute}=\"");
    let from = tag.find(&key)? + key.len();
    let to = from + tag[from..].find('"')?;
    Some(tag[from..to].to_owned())
}

/// The session's CSRF token, as the page's forms carry it.
pub fn csrf_of(html: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    let at = html.find(key).expect("a form with a CSRF token") + key.len();
    let end = html[at..].find('"').expect("the token's end");
    html[at..at + end].to_owned()
}

/// A merchant payment made by the client behind `http`; returns the server correlation id.
pub async fn pay(gw: &TestGateway, http: &reqwest::Client, payer: &str, amount: &str) -> String {
    let body = json!({
        "amount": amount,
        "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": payer}],
        "creditParty": [{"key": "storeid", "value": TILL}],
    });
    let response = http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("X-CorrelationID", uuid::Uuid::new_v4().to_string())
        .json(&body)
        .send()
        .await
        .expect("payment sent");
    let status = response.status();
    let state: Value = response.json().await.expect("a request state");
    assert_eq!(status, StatusCode::ACCEPTED, "{state}");
    state["serverCorrelationId"]
        .as_str()
        .expect("serverCorrelationId")
        .to_owned()
}

/// A payment as the API reports it once final.
#[derive(Clone, Debug)]
pub struct Payment {
    pub reference: String,
    /// `transactionStatus` of `GET /transactions/{reference}`.
    pub status: String,
    /// The GSMA `errorCode` of the request state, when it failed.
    pub error_code: Option<String>,
}

/// `n` payments with mixed outcomes by the client behind `http`, waited for, as the API reports them, and
/// the count per status.
pub async fn mixed_payments(
    gw: &TestGateway,
    http: &reqwest::Client,
    n: usize,
) -> (Vec<Payment>, HashMap<String, usize>) {
    let mut ids = Vec::new();
    for i in 0..n {
        let payer = MIXED_PAYERS[i % MIXED_PAYERS.len()];
        ids.push(pay(gw, http, payer, &format!("{}", 10 + i % 7)).await);
    }
    let mut references = Vec::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        let state = wait_final(http, &gw.base, id, Duration::from_secs(60)).await;
        let reference = state["objectReference"]
            .as_str()
            .expect("objectReference")
            .to_owned();
        let transaction: Value = http
            .get(gw.url(&format!("/transactions/{reference}")))
            .send()
            .await
            .expect("transaction fetched")
            .json()
            .await
            .expect("a transaction");
        let status = transaction["transactionStatus"]
            .as_str()
            .expect("transactionStatus")
            .to_owned();
        *counts.entry(status.clone()).or_default() += 1;
        references.push(Payment {
            reference,
            status,
            error_code: state["error"]["errorCode"].as_str().map(str::to_owned),
        });
    }
    (references, counts)
}

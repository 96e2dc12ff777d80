//! The dashboard over real HTTP (no browser): sign-in and refusal, client isolation in the page, the CSV and a
//! transaction's story, the story of a failed payment, and the CSRF and role checks of the operator's actions.

mod common;

use std::time::Duration;

use common::dashboard::{attribute_of, browserless, csrf_of, get, mixed_payments, sign_in, url};
use common::{wait_final, CallbackReceiver, TestGateway};
use reqwest::StatusCode;

#[tokio::test]
async fn without_a_session_the_dashboard_is_refused() {
    let gw = TestGateway::start().await;
    let http = browserless();
    for path in [
        "",
        "/reports",
        "/reports.csv",
        "/operations",
        "/transactions/x",
    ] {
        let api = http.get(url(&gw, path)).send().await.expect("sent");
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED, "{path}");
        let browser = http
            .get(url(&gw, path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("sent");
        assert_eq!(browser.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(
            browser.headers()["location"].to_str().ok(),
            Some("/dashboard/signin")
        );
        let forged = http
            .get(url(&gw, path))
            .header("cookie", "mmapi_session=forged")
            .send()
            .await
            .expect("sent");
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // Basic credentials are not a session.
    let basic = gw
        .http
        .get(url(&gw, "/reports"))
        .send()
        .await
        .expect("sent");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let (credentials, _) = gw.another_client("wrong secret").await;
    let wrong = http
        .post(url(&gw, "/signin"))
        .form(&[
            ("consumer_key", credentials.consumer_key.as_str()),
            ("consumer_secret", "not the secret"),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    let page = wrong.text().await.expect("text");
    assert!(page.contains("id=\"signin-error\""));
    assert!(!page.contains("not the secret"));

    // A session ends at sign-out: the cookie no longer opens anything.
    let cookie = sign_in(&gw, &credentials).await;
    let (status, page) = get(&gw, &cookie, "/reports").await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&page);
    let out = http
        .post(url(&gw, "/signout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = http
        .get(url(&gw, "/reports"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("sent");
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_sees_only_its_own_transactions() {
    let gw = TestGateway::start().await;
    let (a_credentials, a_http) = gw.another_client("client A").await;
    let (b_credentials, b_http) = gw.another_client("client B").await;
    let (a_refs, a_counts) = mixed_payments(&gw, &a_http, 10).await;
    let (b_refs, _) = mixed_payments(&gw, &b_http, 2).await;
    let a = sign_in(&gw, &a_credentials).await;
    let b = sign_in(&gw, &b_credentials).await;

    let (status, a_page) = get(&gw, &a, "/reports?per=200").await;
    assert_eq!(status, StatusCode::OK);
    for reference in a_refs.iter().map(|p| &p.reference) {
        assert!(
            a_page.contains(reference.as_str()),
            "A's page lacks {reference}"
        );
    }
    for (status, expected) in &a_counts {
        let shown = attribute_of(&a_page, &format!("total-{status}"), "data-count");
        assert_eq!(shown, Some(expected.to_string()), "{status}");
    }
    let (_, b_page) = get(&gw, &b, "/reports?per=200").await;
    for reference in a_refs.iter().map(|p| &p.reference) {
        assert!(
            !b_page.contains(reference.as_str()),
            "B sees A's {reference}"
        );
    }
    assert!(b_page.contains(b_refs[0].reference.as_str()));
    // A client cannot widen its filter to another client.
    let (_, widened) = get(
        &gw,
        &b,
        &format!("/reports?per=200&client={}", a_credentials.consumer_key),
    )
    .await;
    assert!(!widened.contains(a_refs[0].reference.as_str()));

    let (status, b_csv) = get(&gw, &b, "/reports.csv").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b_csv.lines().count(), 1 + b_refs.len(), "{b_csv}");
    for reference in a_refs.iter().map(|p| &p.reference) {
        assert!(!b_csv.contains(reference.as_str()));
    }
    let (_, a_csv) = get(&gw, &a, "/reports.csv").await;
    assert_eq!(a_csv.lines().count(), 1 + a_refs.len());
    assert!(a_csv.starts_with("transactionReference,"));

    // Another client's story is not found, exactly like a reference that does not exist.
    let (status, _) = get(&gw, &b, &format!("/transactions/{}", a_refs[0].reference)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&gw, &b, "/transactions/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&gw, &a, &format!("/transactions/{}", a_refs[0].reference)).await;
    assert_eq!(status, StatusCode::OK);

    // Clients have no operations page; an operator sees every client, and can filter by one.
    let (status, _) = get(&gw, &a, "/operations").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let operator = sign_in(
        &gw,
        gw.gateway.sandbox_client.as_ref().expect("demo client"),
    )
    .await;
    let (_, all) = get(&gw, &operator, "/reports?per=200").await;
    assert!(
        all.contains(a_refs[0].reference.as_str()) && all.contains(b_refs[0].reference.as_str())
    );
    let (_, only_a) = get(
        &gw,
        &operator,
        &format!("/reports?per=200&client={}", a_credentials.consumer_key),
    )
    .await;
    assert!(
        only_a.contains(a_refs[0].reference.as_str())
            && !only_a.contains(b_refs[0].reference.as_str())
    );
    let (status, _) = get(&gw, &operator, "/operations").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_failed_payments_story_shows_the_gsma_error_and_the_operators_code() {
    let gw = TestGateway::start().await;
    let (credentials, http) = gw.another_client("story client").await;
    let receiver = CallbackReceiver::start(vec![503]).await;
    // 254700000001: the customer cancels the STK Push (Daraja result code 1032).
    let response = http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("X-CorrelationID", uuid::Uuid::new_v4().to_string())
        .header("X-Callback-URL", &receiver.url)
        .json(&serde_json::json!({
            "amount": "25",
            "currency": "KES",
            "debitParty": [{"key": "msisdn", "value": "254700000001"}],
            "creditParty": [{"key": "storeid", "value": common::TILL}],
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let state: serde_json::Value = response.json().await.expect("request state");
    let id = state["serverCorrelationId"].as_str().expect("id");
    let done = wait_final(&http, &gw.base, id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "failed");
    let api_error = &done["error"];
    let reference = done["objectReference"].as_str().expect("reference");
    // The first callback attempt gets 503, the second 204.
    receiver.wait_for(2, Duration::from_secs(20)).await;

    let cookie = sign_in(&gw, &credentials).await;
    let path = format!("/transactions/{reference}");
    let page = wait_for_page(&gw, &cookie, &path, "data-status=\"204\"").await;
    assert_eq!(
        attribute_of(&page, "gsma-error", "data-code").as_deref(),
        api_error["errorCode"].as_str()
    );
    assert_eq!(
        attribute_of(&page, "gsma-error", "data-category").as_deref(),
        api_error["errorCategory"].as_str()
    );
    assert_eq!(
        attribute_of(&page, "operator-result-code", "data-code").as_deref(),
        Some("1032")
    );
    assert_eq!(
        attribute_of(&page, "story-status", "class").as_deref(),
        Some("status-failed")
    );
    assert!(attribute_of(&page, "operator-reference", "id").is_some());
    let kinds: Vec<&str> = page
        .split("data-kind=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    for step in [
        "accepted",
        "dispatched",
        "acknowledged",
        "failed",
        "callback",
    ] {
        assert!(kinds.contains(&step), "{step} missing from {kinds:?}");
    }
    assert!(
        kinds.iter().position(|k| *k == "accepted") < kinds.iter().position(|k| *k == "failed")
    );
    assert!(page.contains("data-status=\"503\""), "the 503 attempt");
    assert!(!page.contains(credentials.consumer_secret.expose()));
}

/// A page once it holds `needle` (the steps after the result are written as they happen).
async fn wait_for_page(gw: &TestGateway, cookie: &str, path: &str, needle: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let (status, page) = get(gw, cookie, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        if page.contains(needle) {
            return page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{needle} never appeared on {path}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn operator_actions_need_the_role_and_the_sessions_csrf_token() {
    let gw = TestGateway::start().await;
    let (credentials, http) = gw.another_client("callback client").await;
    let receiver = CallbackReceiver::start(vec![]).await;
    let response = http
        .post(gw.url("/transactions/type/merchantpay"))
        .header("X-CorrelationID", uuid::Uuid::new_v4().to_string())
        .header("X-Callback-URL", &receiver.url)
        .json(&serde_json::json!({
            "amount": "5", "currency": "KES",
            "debitParty": [{"key": "msisdn", "value": common::PAYER}],
            "creditParty": [{"key": "storeid", "value": common::TILL}],
        }))
        .send()
        .await
        .expect("sent");
    let state: serde_json::Value = response.json().await.expect("request state");
    let id = state["serverCorrelationId"].as_str().expect("id");
    let done = wait_final(&http, &gw.base, id, Duration::from_secs(30)).await;
    let reference = done["objectReference"].as_str().expect("reference");
    receiver.wait_for(1, Duration::from_secs(20)).await;

    let operator_credentials = gw.gateway.sandbox_client.clone().expect("demo client");
    let operator = sign_in(&gw, &operator_credentials).await;
    let page = wait_for_page(
        &gw,
        &operator,
        &format!("/transactions/{reference}"),
        "callbacks/",
    )
    .await;
    let action = page
        .split("action=\"/dashboard/callbacks/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a redeliver form")
        .to_owned();
    let csrf = csrf_of(&page);
    let post = |cookie: String, token: String| {
        let action = action.clone();
        let gw_url = url(&gw, &format!("/callbacks/{action}"));
        async move {
            browserless()
                .post(gw_url)
                .header("cookie", cookie)
                .form(&[
                    ("csrf", token.as_str()),
                    ("back", "https://elsewhere.example/"),
                ])
                .send()
                .await
                .expect("sent")
        }
    };
    assert_eq!(
        post(operator.clone(), "wrong".into()).await.status(),
        StatusCode::FORBIDDEN
    );
    let client = sign_in(&gw, &credentials).await;
    assert_eq!(
        post(client, csrf.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    let done = post(operator.clone(), csrf).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers()["location"].to_str().ok(),
        Some("/dashboard/operations"),
        "never back to another site"
    );
    receiver.wait_for(2, Duration::from_secs(20)).await;
}

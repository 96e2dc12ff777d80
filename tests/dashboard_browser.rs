//! The dashboard in a real browser: headless Chromium driven through chromedriver (WebDriver, fantoccini).
//! Signs in, makes 100 sandbox payments with mixed outcomes through the API, finds them in the table and the
//! chart with the counts per status the API reports, opens a failed one's story (the mapped GSMA error and the
//! operator's result code), exports CSV with the session, checks that client B sees none of client A's
//! transactions, and that nothing is shown without a session. A screenshot of each page goes to
//! `docs/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without chromedriver the test
//! fails when `CI` is set, and is skipped with a message otherwise.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::dashboard::{browserless, mixed_payments, url, Payment};
use common::{ChildGuard, TestGateway};
use fantoccini::{Client, ClientBuilder, Locator};
use mmapi_gateway::auth::credentials::IssuedCredentials;
use reqwest::StatusCode;

const CHROMIUM: &str = "/usr/bin/chromium";

/// How long any one wait in the browser may take.
const WAIT: Duration = Duration::from_secs(30);

/// How long the whole browser session may take.
const WHOLE_TEST: Duration = Duration::from_secs(300);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
}

/// chromedriver on a free loopback port, killed when dropped.
async fn start_chromedriver(binary: &Path) -> (ChildGuard, u16) {
    let port = common::free_port();
    let child = std::process::Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(ChildGuard)
        .expect("chromedriver starts");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(started.elapsed() < WAIT, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, port)
}

async fn browser(port: u16, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1800",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connecting = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await;
    connecting.expect("a Chromium session through chromedriver")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser() {
    let Some(driver) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is missing: install Debian's chromium and chromium-driver (.ci/run does)"
        );
        println!("SKIPPED the_dashboard_in_a_browser: no chromedriver (apt-get install chromium chromium-driver)");
        return;
    };
    assert!(Path::new(CHROMIUM).is_file(), "{CHROMIUM} is missing");
    let gw = TestGateway::start().await;
    let (a, a_http) = gw.another_client("Client A").await;
    let (b, b_http) = gw.another_client("Client B").await;
    let (a_payments, a_counts) = mixed_payments(&gw, &a_http, 100).await;
    assert!(a_counts.len() >= 2, "mixed outcomes: {a_counts:?}");
    let (b_payments, _) = mixed_payments(&gw, &b_http, 5).await;

    let (_driver, port) = start_chromedriver(&driver).await;
    let profile = tempfile::tempdir().expect("a browser profile directory");
    let client = browser(port, profile.path()).await;
    let outcome = tokio::time::timeout(
        WHOLE_TEST,
        drive(
            &client,
            &gw,
            (&a, &a_payments, &a_counts),
            (&b, &b_payments),
        ),
    )
    .await;
    // The browser is closed whatever happened, then the outcome is judged.
    let _ = client.close().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("browser test failed: {e}"),
        Err(_) => panic!("browser test took longer than {WHOLE_TEST:?}"),
    }

    // Without a session nothing is shown.
    let refused = browserless().get(url(&gw, "")).send().await.expect("sent");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

async fn drive(
    client: &Client,
    gw: &TestGateway,
    (a, a_payments, a_counts): (&IssuedCredentials, &[Payment], &HashMap<String, usize>),
    (b, b_payments): (&IssuedCredentials, &[Payment]),
) -> Result<()> {
    // Without a session the browser lands on the sign-in page.
    client.goto(&url(gw, "/reports")).await?;
    wait_for(client, "signin").await?;
    ensure(
        client.current_url().await?.path() == "/dashboard/signin",
        "not sent to the sign-in page",
    )?;
    screenshot(client, "signin.png").await?;

    sign_in(client, a).await?;
    client.goto(&url(gw, "/reports?per=200")).await?;
    wait_for(client, "totals").await?;
    for (status, expected) in a_counts {
        let total = client
            .find(Locator::Id(&format!("total-{status}")))
            .await?
            .attr("data-count")
            .await?;
        ensure(
            total.as_deref() == Some(expected.to_string().as_str()),
            &format!("total of {status}: {total:?}, the API says {expected}"),
        )?;
        let mut charted = 0usize;
        for bar in client
            .find_all(Locator::Css(&format!(
                "#chart-count rect[data-status=\"{status}\"]"
            )))
            .await?
        {
            charted += bar
                .attr("data-count")
                .await?
                .and_then(|c| c.parse::<usize>().ok())
                .unwrap_or(0);
        }
        ensure(
            charted == *expected,
            &format!("chart of {status}: {charted}, the API says {expected}"),
        )?;
    }
    let rows = client
        .find_all(Locator::Css("#transactions tbody tr"))
        .await?;
    let mut listed = HashMap::new();
    for row in rows {
        if let (Some(reference), Some(status)) = (
            row.attr("data-reference").await?,
            row.attr("data-status").await?,
        ) {
            listed.insert(reference, status);
        }
    }
    for payment in a_payments {
        ensure(
            listed.get(&payment.reference) == Some(&payment.status),
            &format!(
                "{} is not in the table as {}",
                payment.reference, payment.status
            ),
        )?;
    }
    ensure(
        !b_payments.iter().any(|p| listed.contains_key(&p.reference)),
        "client A sees client B's transactions",
    )?;
    client.goto(&url(gw, "/reports")).await?;
    wait_for(client, "chart-count").await?;
    screenshot(client, "reports.png").await?;

    // A failed payment's story: the mapped GSMA error and the operator's own result code.
    let failed = a_payments
        .iter()
        .find(|p| p.status == "failed")
        .ok_or("no failed payment")?;
    client
        .goto(&url(gw, &format!("/transactions/{}", failed.reference)))
        .await?;
    let error = wait_for(client, "gsma-error").await?;
    ensure(
        error.attr("data-code").await? == failed.error_code,
        "the story's GSMA error is not the API's",
    )?;
    let code = client
        .find(Locator::Id("operator-result-code"))
        .await?
        .attr("data-code")
        .await?
        .unwrap_or_default();
    ensure(
        ["1032", "1"].contains(&code.as_str()),
        &format!("operator result code {code:?}"),
    )?;
    screenshot(client, "story.png").await?;

    // The CSV of the same filter, fetched with the browser's session cookie.
    let a_csv = csv_with_session(client, gw).await?;
    ensure(
        a_csv.lines().count() == 1 + a_payments.len(),
        "A's CSV has every one of A's payments",
    )?;
    ensure(
        a_payments.iter().all(|p| a_csv.contains(&p.reference)),
        "a payment is missing from A's CSV",
    )?;

    // Client B sees none of client A's, in the page or the CSV.
    sign_out(client).await?;
    sign_in(client, b).await?;
    client.goto(&url(gw, "/reports?per=500")).await?;
    wait_for(client, "transactions").await?;
    let page = client.source().await?;
    ensure(
        !a_payments.iter().any(|p| page.contains(&p.reference)),
        "client B's page shows client A's transactions",
    )?;
    ensure(
        b_payments.iter().all(|p| page.contains(&p.reference)),
        "client B's page lacks its own transactions",
    )?;
    let b_csv = csv_with_session(client, gw).await?;
    ensure(
        !a_payments.iter().any(|p| b_csv.contains(&p.reference)),
        "client B's CSV holds client A's transactions",
    )?;
    ensure(
        b_csv.lines().count() == 1 + b_payments.len(),
        "client B's CSV",
    )?;

    // The operator's page.
    sign_out(client).await?;
    let operator = gw.gateway.sandbox_client.as_ref().ok_or("no demo client")?;
    sign_in(client, operator).await?;
    client.goto(&url(gw, "/operations")).await?;
    wait_for(client, "breakers").await?;
    screenshot(client, "operations.png").await?;
    sign_out(client).await?;
    client.goto(&url(gw, "/operations")).await?;
    wait_for(client, "signin").await?;
    Ok(())
}

async fn sign_in(client: &Client, credentials: &IssuedCredentials) -> Result<()> {
    let base = client.current_url().await?;
    client
        .goto(base.join("/dashboard/signin")?.as_str())
        .await?;
    let form = wait_for(client, "signin").await?;
    form.find(Locator::Css("input[name=consumer_key]"))
        .await?
        .send_keys(&credentials.consumer_key)
        .await?;
    form.find(Locator::Css("input[name=consumer_secret]"))
        .await?
        .send_keys(credentials.consumer_secret.expose())
        .await?;
    form.find(Locator::Id("signin-submit"))
        .await?
        .click()
        .await?;
    let who = wait_for(client, "signed-in-as").await?;
    ensure(
        who.text().await? == credentials.consumer_key,
        "signed in as someone else",
    )
}

async fn sign_out(client: &Client) -> Result<()> {
    client
        .find(Locator::Css("form.signout button"))
        .await?
        .click()
        .await?;
    wait_for(client, "signin").await?;
    Ok(())
}

/// `/dashboard/reports.csv` of the signed-in browser's session, over reqwest with its cookie.
async fn csv_with_session(client: &Client, gw: &TestGateway) -> Result<String> {
    let cookie = client.get_named_cookie("mmapi_session").await?;
    let response = browserless()
        .get(url(gw, "/reports.csv"))
        .header("cookie", format!("mmapi_session={}", cookie.value()))
        .send()
        .await?;
    ensure(response.status() == StatusCode::OK, "the CSV export")?;
    Ok(response.text().await?)
}

async fn screenshot(client: &Client, name: &str) -> Result<()> {
    let png = client.screenshot().await?;
    let dir = screenshots_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), png)?;
    Ok(())
}

/// The element with `id`, once the page has it (at most [`WAIT`]).
async fn wait_for(client: &Client, id: &str) -> Result<fantoccini::elements::Element> {
    Ok(client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id(id))
        .await?)
}

fn ensure(condition: bool, what: &str) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(what.into())
    }
}

//! Chaos: the real gateway binary in sandbox mode, with the simulators dropping, doubling and delaying operator
//! results and answering some calls with a 5xx or not in time, is killed with SIGKILL and restarted on the same
//! data directory several times while payments (KES through Daraja, TZS through the M-Pesa OpenAPI) and
//! disbursements (KES through Daraja B2C) pour in. At the end every accepted transaction is final or waiting
//! for manual review, no transaction was submitted twice to a simulator, and every final transaction's client
//! callback arrived at least once.
//!
//! `MMAPI_CHAOS_TRANSACTIONS` (default 200) and `MMAPI_CHAOS_KILLS` (default 3) set its size; see the README's
//! "Reliability" section for the long form. Loopback only; bounded in count and time.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

/// Clients sending at once.
const SENDERS: usize = 16;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One accepted transaction.
#[derive(Clone, Debug)]
struct Accepted {
    correlation_id: String,
    server_correlation_id: String,
    reference: String,
    kind: &'static str,
}

/// The `i`-th request: two KES payments, a TZS payment and a KES disbursement in every four.
fn request(i: usize) -> (&'static str, &'static str, Value) {
    match i % 4 {
        0 | 1 => (
            "kes-merchantpay",
            "/transactions/type/merchantpay",
            json!({"amount": format!("{}", 1 + i % 50), "currency": "KES",
                   "debitParty": [{"key": "msisdn", "value": PAYER}],
                   "creditParty": [{"key": "storeid", "value": TILL}]}),
        ),
        2 => (
            "tzs-merchantpay",
            "/transactions/type/merchantpay",
            json!({"amount": format!("{}", 100 + i % 50), "currency": "TZS",
                   "debitParty": [{"key": "msisdn", "value": "000000000001"}],
                   "creditParty": [{"key": "businessshortcode", "value": "000000"}]}),
        ),
        _ => (
            "kes-disbursement",
            "/transactions/type/disbursement",
            json!({"amount": format!("{}", 10 + i % 50), "currency": "KES",
                   "creditParty": [{"key": "msisdn", "value": PAYER}],
                   "debitParty": [{"key": "organisationid", "value": "600000"}]}),
        ),
    }
}

/// Sends requests until `target` are accepted; requests refused while the gateway is down (or by its breaker)
/// are simply not counted.
async fn sender(
    http: reqwest::Client,
    base: String,
    callback_url: String,
    target: usize,
    next: Arc<AtomicUsize>,
    accepted: Arc<Mutex<Vec<Accepted>>>,
    refused: Arc<AtomicUsize>,
) {
    loop {
        if accepted.lock().expect("lock").len() >= target {
            return;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (kind, path, body) = request(i);
        let correlation_id = correlation_id();
        let sent = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .header("X-Callback-URL", &callback_url)
            .header("X-CorrelationID", &correlation_id)
            .body(body.to_string())
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::ACCEPTED => {
                let state: Value = response.json().await.unwrap_or(Value::Null);
                let (Some(id), Some(reference)) = (
                    state["serverCorrelationId"].as_str(),
                    state["objectReference"].as_str(),
                ) else {
                    panic!("a 202 without its request state: {state}");
                };
                accepted.lock().expect("lock").push(Accepted {
                    correlation_id,
                    server_correlation_id: id.to_owned(),
                    reference: reference.to_owned(),
                    kind,
                });
            }
            Ok(response) => {
                let status = response.status();
                assert!(
                    status == StatusCode::SERVICE_UNAVAILABLE,
                    "unexpected answer {status}: {:?}",
                    response.text().await
                );
                refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => {
                refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// `{"submissions": {key: count}, "duplicates": [...]}` of a sandbox simulator.
async fn submissions(
    http: &reqwest::Client,
    gateway: &str,
    simulator: &str,
) -> (usize, Vec<Value>) {
    let (status, body) = get_json(
        http,
        &format!("{gateway}/sandbox/{simulator}/__simulator/submissions"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{simulator} submissions: {body}");
    let count = body["submissions"].as_object().map_or(0, |m| m.len());
    let duplicates = body["duplicates"].as_array().cloned().unwrap_or_default();
    (count, duplicates)
}

#[tokio::test]
async fn chaos_nothing_lost_nothing_sent_twice() {
    let transactions = env_number("MMAPI_CHAOS_TRANSACTIONS", 200).max(1);
    let kills = env_number("MMAPI_CHAOS_KILLS", 3);
    let seed = env_number("MMAPI_CHAOS_SEED", 20_261_125);
    let run_started = Instant::now();

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[simulators]\ncallback_delay_ms = 300\nstk_result_deadline_secs = 1\nstk_unacknowledged_expiry_secs = 5\n\
             [simulators.faults]\nseed = {seed}\ndrop_callbacks = 0.1\nduplicate_callbacks = 0.1\n\
             delay_callbacks = 0.05\ncallback_delay_ms = 1500\nserver_errors = 0.05\ntimeouts = 0.005\n\
             [dispatch]\ntick_ms = 100\nmax_check_interval_secs = 2\nreview_after_secs = 30\nclaim_lease_ms = 20000\n\
             [callbacks]\ninitial_backoff_ms = 200\nmax_backoff_ms = 2000\n\
             [breaker]\nfailure_threshold = 50\n"
        ),
    )
    .expect("config written");
    let data_dir = dir.path().join("data");
    let port = free_port();
    let root = format!("http://127.0.0.1:{port}");
    let base = format!("{root}/v1.2/mm");
    let http = reqwest::Client::new();
    let receiver = CallbackReceiver::start(vec![]).await;
    let database_url = test_database_url().await;

    let mut gateway = spawn_gateway(&config, port, &data_dir, database_url.as_deref());
    wait_up(&http, &base).await;

    let accepted: Arc<Mutex<Vec<Accepted>>> = Arc::default();
    let refused = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            tokio::spawn(sender(
                http.clone(),
                base.clone(),
                receiver.url.clone(),
                transactions,
                next.clone(),
                accepted.clone(),
                refused.clone(),
            ))
        })
        .collect();

    // SIGKILL and restart at evenly spaced points of the run, while the senders keep going.
    let mut restarts = Vec::new();
    for k in 0..kills {
        let threshold = transactions * (k + 1) / (kills + 1);
        let waited = Instant::now();
        while accepted.lock().expect("lock").len() < threshold {
            assert!(
                waited.elapsed() < Duration::from_secs(600),
                "the senders stalled before kill {k}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        gateway.kill();
        let down = Instant::now();
        gateway = spawn_gateway(&config, port, &data_dir, database_url.as_deref());
        wait_up(&http, &base).await;
        restarts.push(down.elapsed());
    }
    for s in senders {
        s.await.expect("sender");
    }
    let accepted = accepted.lock().expect("lock").clone();
    let sending_done = run_started.elapsed();

    // Every accepted transaction reaches a final state or manual review.
    let mut open: HashMap<String, Accepted> = accepted
        .iter()
        .map(|a| (a.server_correlation_id.clone(), a.clone()))
        .collect();
    let mut finals: HashMap<String, String> = HashMap::new();
    let mut in_review: HashSet<String> = HashSet::new();
    let mut review_kinds: HashMap<String, usize> = HashMap::new();
    let settle_limit = Duration::from_secs(300 + transactions as u64 / 10);
    let settling = Instant::now();
    while !open.is_empty() {
        let (_, listed) = get_json(&http, &format!("{root}/internal/review")).await;
        let listed = listed.as_array().cloned().unwrap_or_default();
        let review: HashMap<String, String> = listed
            .iter()
            .filter_map(|i| {
                let reference = i["transactionReference"].as_str()?.to_owned();
                let why = format!(
                    "{} {}",
                    i["provider"].as_str().unwrap_or_default(),
                    if i["inDoubt"] == true {
                        "in doubt"
                    } else {
                        "acknowledged"
                    }
                );
                Some((reference, why))
            })
            .collect();
        let ids: Vec<String> = open.keys().cloned().collect();
        for id in ids {
            let (status, state) = get_json(&http, &format!("{base}/requeststates/{id}")).await;
            assert_eq!(status, StatusCode::OK, "request state {id}: {state}");
            let a = &open[&id];
            if state["status"] != "pending" {
                finals.insert(
                    a.correlation_id.clone(),
                    state["status"].as_str().unwrap_or_default().to_owned(),
                );
                open.remove(&id);
            } else if let Some(why) = review.get(&a.reference) {
                in_review.insert(a.reference.clone());
                *review_kinds.entry(why.clone()).or_insert(0) += 1;
                open.remove(&id);
            }
        }
        if open.is_empty() {
            break;
        }
        assert!(
            settling.elapsed() < settle_limit,
            "{} accepted transactions neither final nor in review, e.g. {:?}",
            open.len(),
            open.values().next()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let settled_after = run_started.elapsed();

    // Every final transaction's callback arrived at least once (matched by the client's X-CorrelationID).
    let delivery = Instant::now();
    let (callbacks, delivered) = loop {
        let received = receiver.all();
        let delivered: HashSet<String> = received
            .iter()
            .filter_map(|r| r.headers.get("x-correlationid"))
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let missing = finals.keys().filter(|c| !delivered.contains(*c)).count();
        if missing == 0 {
            break (received.len(), delivered);
        }
        assert!(
            delivery.elapsed() < Duration::from_secs(120),
            "{missing} final transactions' callbacks never arrived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let known: HashSet<&str> = accepted.iter().map(|a| a.correlation_id.as_str()).collect();
    let unrequested = delivered
        .iter()
        .filter(|c| !known.contains(c.as_str()))
        .count();

    // Nothing was submitted twice to either simulator (their counts survive the restarts).
    let (daraja_keys, daraja_duplicates) = submissions(&http, &root, "daraja").await;
    let (openapi_keys, openapi_duplicates) = submissions(&http, &root, "mpesa-openapi").await;

    let count = |status: &str| finals.values().filter(|s| s.as_str() == status).count();
    let by_kind = |kind: &str| accepted.iter().filter(|a| a.kind == kind).count();
    println!("chaos run (seed {seed}):");
    println!(
        "  accepted {} (KES payments {}, TZS payments {}, KES disbursements {}); refused while down or tripped {}",
        accepted.len(),
        by_kind("kes-merchantpay"),
        by_kind("tzs-merchantpay"),
        by_kind("kes-disbursement"),
        refused.load(Ordering::Relaxed)
    );
    println!("  SIGKILL restarts {kills}, each back up in {:?}", restarts);
    println!(
        "  final: completed {}, failed {}; manual review {}; lost {}",
        count("completed"),
        count("failed"),
        in_review.len(),
        accepted.len() - finals.len() - in_review.len()
    );
    println!("  manual review by provider and dispatch: {review_kinds:?}");
    println!(
        "  simulator submissions: Daraja {daraja_keys} transactions, {} twice; OpenAPI {openapi_keys} transactions, {} twice",
        daraja_duplicates.len(),
        openapi_duplicates.len()
    );
    println!(
        "  client callbacks: {callbacks} received, {} final transactions notified, 0 missing ({unrequested} for requests whose 202 the kill swallowed)",
        finals.len()
    );
    println!(
        "  sending took {sending_done:?}; all settled after {settled_after:?}; total {:?}",
        run_started.elapsed()
    );

    assert!(
        daraja_duplicates.is_empty(),
        "sent twice to Daraja: {daraja_duplicates:?}"
    );
    assert!(
        openapi_duplicates.is_empty(),
        "sent twice to the OpenAPI: {openapi_duplicates:?}"
    );
    assert_eq!(finals.len() + in_review.len(), accepted.len());
    gateway.kill();
}

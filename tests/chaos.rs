//! Chaos: the real gateway binary in sandbox mode, with the simulators dropping, doubling and delaying operator
//! results and answering some calls with a 5xx or not in time, is killed with SIGKILL and restarted on the same
//! data directory several times while payments (KES through Daraja, TZS through the M-Pesa OpenAPI) and
//! disbursements (KES through Daraja B2C) pour in. At the end every accepted transaction is final or waiting
//! for manual review, no transaction was submitted twice to a simulator, every final transaction's client
//! callback arrived at least once, and the money both simulators moved adds up with what the gateway reports:
//! completed KES payments credited the till and debited the payer, completed disbursements debited the paying
//! organisation and credited the payer, completed TZS payments credited the OpenAPI service provider and debited
//! its customer, failed ones moved nothing, and those still pending (in manual review) moved their amount or
//! nothing. Both simulators journal their transactions in the sandbox data directory, so their balances survive
//! the kills.
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

/// Of a sandbox simulator's `{"submissions": {key: count}, "refusedRepeats": {key: count}, "duplicates": [...]}`:
/// how many transactions it was sent, how many repeats it refused under their idempotency key, and the
/// transactions it carried out more than once.
async fn submissions(
    http: &reqwest::Client,
    gateway: &str,
    simulator: &str,
) -> (usize, u64, Vec<Value>) {
    let (status, body) = get_json(
        http,
        &format!("{gateway}/sandbox/{simulator}/__simulator/submissions"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{simulator} submissions: {body}");
    let count = body["submissions"].as_object().map_or(0, |m| m.len());
    let refused = body["refusedRepeats"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
    let duplicates = body["duplicates"].as_array().cloned().unwrap_or_default();
    (count, refused, duplicates)
}

/// The shortcode whose Utility account B2C disbursements are paid from.
const DISBURSER: &str = "600000";

/// `"1234.56"` (or `"17"`) as cents.
fn cents(amount: &str) -> i64 {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let fraction = format!("{fraction:0<2}");
    let whole: i64 = whole.parse().expect("an amount");
    let fraction: i64 = fraction[..2].parse().expect("an amount");
    whole * 100 + if whole < 0 { -fraction } else { fraction }
}

/// The Daraja simulator's balances, in cents, by account (`254708374149`, `174379:utility`, …).
async fn daraja_balances(http: &reqwest::Client, gateway: &str) -> HashMap<String, i64> {
    let (status, body) = get_json(
        http,
        &format!("{gateway}/sandbox/daraja/__simulator/ledger"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "Daraja ledger: {body}");
    let mut balances: HashMap<String, i64> = body["balances"]
        .as_object()
        .expect("balances")
        .iter()
        .map(|(k, v)| (k.clone(), cents(v.as_str().expect("an amount"))))
        .collect();
    // A customer not seen yet holds the opening balance.
    let payer = PAYER.trim_start_matches('+').to_owned();
    let opening = cents(body["customerOpening"].as_str().expect("an amount"));
    balances.entry(payer).or_insert(opening);
    balances
}

/// The OpenAPI service provider (shortcode) TZS payments are made to, and the paying test customer.
const TZS_MERCHANT: &str = "000000";
const TZS_PAYER: &str = "000000000001";

/// The OpenAPI simulator's Vodacom Tanzania balances, in cents, of [`TZS_MERCHANT`] and [`TZS_PAYER`] (keyed
/// by them), opening balances for accounts not touched yet.
async fn openapi_balances(http: &reqwest::Client, gateway: &str) -> HashMap<String, i64> {
    let (status, body) = get_json(
        http,
        &format!("{gateway}/sandbox/mpesa-openapi/__simulator/ledger"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "OpenAPI ledger: {body}");
    let balance = |account: &str, opening: &str| {
        let listed = &body["balances"][format!("vodacomTZN:{account}")];
        cents(
            listed
                .as_str()
                .or(body[opening].as_str())
                .expect("an amount"),
        )
    };
    HashMap::from([
        (
            TZS_MERCHANT.to_owned(),
            balance(TZS_MERCHANT, "organizationOpening"),
        ),
        (TZS_PAYER.to_owned(), balance(TZS_PAYER, "customerOpening")),
    ])
}

/// What the gateway reports about an account's transactions of one type and currency: the cents of those completed,
/// failed and still pending (in review), and how many of each.
#[derive(Debug, Default)]
struct Reported {
    completed: i64,
    failed: i64,
    pending: i64,
    counts: [usize; 3],
}

/// Reads every page of `GET /accounts/{kind}/{id}/transactions` and sums the transactions of `tx_type` in
/// `currency`.
async fn reported(
    http: &reqwest::Client,
    base: &str,
    kind: &str,
    id: &str,
    tx_type: &str,
    currency: &str,
) -> Reported {
    let mut out = Reported::default();
    let mut offset = 0;
    loop {
        let (status, page) = get_json(
            http,
            &format!("{base}/accounts/{kind}/{id}/transactions?limit=1000&offset={offset}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{kind} {id} transactions: {page}");
        let page = page.as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        offset += page.len();
        for t in page
            .iter()
            .filter(|t| t["type"] == tx_type && t["currency"] == currency)
        {
            let amount = cents(t["amount"].as_str().expect("an amount"));
            let (sum, i) = match t["transactionStatus"].as_str() {
                Some("completed") => (&mut out.completed, 0),
                Some("failed") => (&mut out.failed, 1),
                Some("pending") => (&mut out.pending, 2),
                other => panic!("unexpected status {other:?}: {t}"),
            };
            *sum += amount;
            out.counts[i] += 1;
        }
    }
}

/// Shillings with two decimals.
fn kes(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
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
    let http = authenticated_http(&sandbox_credentials(&data_dir));
    let opening = daraja_balances(&http, &root).await;
    let tzs_opening = openapi_balances(&http, &root).await;

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

    // Nothing was carried out twice by either simulator (their counts survive the restarts); a transaction in
    // doubt may have been sent again under its idempotency key, and refused if the operator had it.
    let (daraja_keys, daraja_refused, daraja_duplicates) =
        submissions(&http, &root, "daraja").await;
    let (openapi_keys, openapi_refused, openapi_duplicates) =
        submissions(&http, &root, "mpesa-openapi").await;

    // The money moved. The gateway's account lists cover every accepted transaction, also those whose 202 a
    // kill swallowed. Read before the ledger: whatever the gateway calls completed has moved by then, and what
    // completes meanwhile is still pending here, which the bounds below allow for.
    let payer = PAYER.trim_start_matches('+');
    let payments = reported(&http, &base, "storeid", TILL, "merchantpay", "KES").await;
    let disbursements = reported(
        &http,
        &base,
        "organisationid",
        DISBURSER,
        "disbursement",
        "KES",
    )
    .await;
    let tzs_payments = reported(
        &http,
        &base,
        "businessshortcode",
        TZS_MERCHANT,
        "merchantpay",
        "TZS",
    )
    .await;
    let closing = daraja_balances(&http, &root).await;
    let tzs_closing = openapi_balances(&http, &root).await;
    let tzs_in = tzs_closing[TZS_MERCHANT] - tzs_opening[TZS_MERCHANT];
    let tzs_payer_moved = tzs_closing[TZS_PAYER] - tzs_opening[TZS_PAYER];
    let moved = |account: &str| {
        closing.get(account).copied().unwrap_or_default()
            - opening.get(account).copied().unwrap_or_default()
    };
    let till_in = moved(&format!("{TILL}:utility"));
    let disbursed = -moved(&format!("{DISBURSER}:utility"));
    let payer_moved = moved(payer);

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
        "  simulator submissions: Daraja {daraja_keys} transactions, {} carried out twice, {daraja_refused} repeats refused; \
         OpenAPI {openapi_keys} transactions, {} carried out twice, {openapi_refused} repeats refused",
        daraja_duplicates.len(),
        openapi_duplicates.len()
    );
    println!(
        "  client callbacks: {callbacks} received, {} final transactions notified, 0 missing ({unrequested} for requests whose 202 the kill swallowed)",
        finals.len()
    );
    println!(
        "  Daraja money: KES payments completed {} ({}), failed {} ({}), in review {} ({}); till credited {}",
        kes(payments.completed),
        payments.counts[0],
        kes(payments.failed),
        payments.counts[1],
        kes(payments.pending),
        payments.counts[2],
        kes(till_in)
    );
    println!(
        "  Daraja money: disbursements completed {} ({}), failed {} ({}), in review {} ({}); {DISBURSER} debited {}; payer moved {}",
        kes(disbursements.completed),
        disbursements.counts[0],
        kes(disbursements.failed),
        disbursements.counts[1],
        kes(disbursements.pending),
        disbursements.counts[2],
        kes(disbursed),
        kes(payer_moved)
    );
    println!(
        "  OpenAPI money: TZS payments completed {} ({}), failed {} ({}), in review {} ({}); {TZS_MERCHANT} credited {}; payer moved {}",
        kes(tzs_payments.completed),
        tzs_payments.counts[0],
        kes(tzs_payments.failed),
        tzs_payments.counts[1],
        kes(tzs_payments.pending),
        tzs_payments.counts[2],
        kes(tzs_in),
        kes(tzs_payer_moved)
    );
    println!(
        "  sending took {sending_done:?}; all settled after {settled_after:?}; total {:?}",
        run_started.elapsed()
    );

    assert!(
        daraja_duplicates.is_empty(),
        "carried out twice by Daraja: {daraja_duplicates:?}"
    );
    assert!(
        openapi_duplicates.is_empty(),
        "carried out twice by the OpenAPI: {openapi_duplicates:?}"
    );
    assert_eq!(finals.len() + in_review.len(), accepted.len());

    // Completed ones moved their amount, failed ones nothing (a failure is never a guess: one the gateway cannot
    // settle goes to review); pending ones (in review) moved theirs or nothing.
    let uncertain = |r: &Reported| r.pending;
    assert!(
        payments.completed <= till_in && till_in <= payments.completed + uncertain(&payments),
        "the till was credited {} for payments completed {} (in review {})",
        kes(till_in),
        kes(payments.completed),
        kes(uncertain(&payments))
    );
    assert!(
        disbursements.completed <= disbursed
            && disbursed <= disbursements.completed + uncertain(&disbursements),
        "{DISBURSER} was debited {} for disbursements completed {} (in review {})",
        kes(disbursed),
        kes(disbursements.completed),
        kes(uncertain(&disbursements))
    );
    // The payer paid exactly what the till received and received exactly what was disbursed.
    assert_eq!(
        payer_moved,
        disbursed - till_in,
        "the payer's balance moved {} for {} paid and {} received",
        kes(payer_moved),
        kes(till_in),
        kes(disbursed)
    );
    if uncertain(&payments) == 0 && uncertain(&disbursements) == 0 {
        assert_eq!(till_in, payments.completed);
        assert_eq!(disbursed, disbursements.completed);
    }
    // The same for the TZS payments through the OpenAPI simulator: its service provider received at least the
    // completed ones and at most those plus the uncertain ones, and exactly what the customer paid.
    assert!(
        tzs_payments.completed <= tzs_in
            && tzs_in <= tzs_payments.completed + uncertain(&tzs_payments),
        "{TZS_MERCHANT} was credited {} for TZS payments completed {} (in review {})",
        kes(tzs_in),
        kes(tzs_payments.completed),
        kes(uncertain(&tzs_payments))
    );
    assert_eq!(
        tzs_payer_moved,
        -tzs_in,
        "the TZS payer's balance moved {} for {} received",
        kes(tzs_payer_moved),
        kes(tzs_in)
    );
    gateway.kill();
}

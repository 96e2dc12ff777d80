//! An open reference simulator of the GSMA Mobile Money API 1.2: a server with real behaviour, not canned
//! answers. Wallets in any ISO 4217 currency, named by every GSMA identifier type, whose balances move with
//! each transaction and whose limits produce the GSMA limit errors; authorisation codes redeemed by a payment's
//! `oneTimeCode`; account links whose mode is enforced; debit mandates enforced on the payments taken under
//! them; quotations with FX rates and fees, and international transfers with the KYC rules; accounts created
//! with KYC and identities. Every asynchronous operation answers `202` with a request state, then calls back
//! (`X-Callback-URL`) or waits to be polled, as a GSMA server must.
//!
//! Run it alone with `mmapi-gateway simulate mmapi --listen ADDR`; the README has its test data table.

mod accounts;
mod batches;
mod bills;
mod consents;
mod ledger;
mod quotations;
mod requests;
mod state;
mod transactions;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use mmapi_core::GsmaError;
use serde_json::{json, Value};

pub use ledger::UTILITY_SHORTCODE;
pub use state::{StateError, SAVE_INTERVAL};

/// The currencies the simulator's accounts can hold and its quotations convert between.
pub const CURRENCIES: [&str; 8] = ["USD", "GBP", "EUR", "RWF", "KES", "TZS", "GHS", "ZAR"];

/// How the simulator behaves.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// How long an asynchronous request stays `pending` before it completes or fails.
    pub processing_delay: Duration,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            processing_delay: Duration::from_millis(200),
        }
    }
}

/// Everything the simulator holds.
pub(crate) struct Sim {
    pub config: SimulatorConfig,
    pub ledger: Mutex<ledger::Ledger>,
    pub requests: Mutex<requests::Requests>,
    pub transactions: Mutex<transactions::Transactions>,
    pub consents: Mutex<consents::Consents>,
    pub quotations: Mutex<quotations::Quotations>,
    pub batches: Mutex<batches::Batches>,
    pub bills: Mutex<bills::Bills>,
    pub http: reqwest::Client,
    /// Held by whatever changes the state (a request that may, a request's processing, a batch item) and by a
    /// save, so that a saved state is consistent.
    pub gate: tokio::sync::Mutex<()>,
    /// Whether the state changed since it was last saved.
    pub dirty: AtomicBool,
}

impl Sim {
    /// Notes that the state changed (it is saved within [`SAVE_INTERVAL`]).
    pub(crate) fn touched(&self) {
        self.dirty.store(true, Ordering::SeqCst);
    }
}

/// Locks a part of the state; a panic elsewhere never makes it unusable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The MMAPI reference simulator.
#[derive(Clone)]
pub struct MmapiSimulator {
    sim: Arc<Sim>,
    /// Where its state is kept, if anywhere.
    state_file: Option<PathBuf>,
}

impl MmapiSimulator {
    /// A simulator holding the seeded test accounts, in memory only.
    pub fn new(config: SimulatorConfig) -> Self {
        Self {
            sim: Arc::new(Self::sim(config, None)),
            state_file: None,
        }
    }

    /// A simulator whose state is kept in `state_file`: the state saved there if there is one (what it left
    /// half done settled, see [`state`]), else the seeded test accounts; saved there after each change. Must be
    /// called within a Tokio runtime.
    pub fn open(config: SimulatorConfig, state_file: PathBuf) -> Result<Self, StateError> {
        let saved = state::load(&state_file)?;
        let restored = saved.is_some();
        let sim = Arc::new(Self::sim(config, saved));
        if restored {
            requests::settle_interrupted(&sim);
            for id in batches::unfinished(&lock(&sim.batches)) {
                batches::spawn_processing(&sim, id);
            }
        }
        state::spawn_saver(&sim, state_file.clone());
        Ok(Self {
            sim,
            state_file: Some(state_file),
        })
    }

    fn sim(config: SimulatorConfig, saved: Option<state::Saved>) -> Sim {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let saved = saved.map(|s| {
            (
                s.ledger,
                s.requests,
                s.transactions,
                s.consents,
                s.quotations,
                s.batches,
                s.bills,
            )
        });
        let (ledger, requests, transactions, consents, quotations, batches, bills) = saved
            .unwrap_or_else(|| {
                (
                    ledger::Ledger::seeded(),
                    requests::Requests::default(),
                    transactions::Transactions::default(),
                    consents::Consents::default(),
                    quotations::Quotations::default(),
                    batches::Batches::default(),
                    bills::Bills::default(),
                )
            });
        Sim {
            config,
            ledger: Mutex::new(ledger),
            requests: Mutex::new(requests),
            transactions: Mutex::new(transactions),
            consents: Mutex::new(consents),
            quotations: Mutex::new(quotations),
            batches: Mutex::new(batches),
            bills: Mutex::new(bills),
            http,
            gate: tokio::sync::Mutex::new(()),
            dirty: AtomicBool::new(false),
        }
    }

    /// Writes the state to its file now (a graceful stop); nothing to do for a simulator kept in memory.
    pub async fn save(&self) -> Result<(), StateError> {
        match &self.state_file {
            Some(path) => state::save(&self.sim, path).await,
            None => Ok(()),
        }
    }

    /// The API, to be served at the MMAPI root (e.g. nested under `/v1.2/mm`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/heartbeat", get(heartbeat))
            .route("/transactions", post(transactions::create_untyped))
            .route("/transactions/type/{type}", post(transactions::create))
            .route(
                "/transactions/{reference}",
                get(transactions::read).patch(transactions::patch),
            )
            .route(
                "/transactions/{reference}/reversals",
                post(transactions::reverse),
            )
            .route("/statemententries/{reference}", get(transactions::read))
            .route("/batchtransactions", post(batches::create))
            .route(
                "/batchtransactions/{id}",
                get(batches::read).patch(batches::approve),
            )
            .route("/batchtransactions/{id}/{which}", get(batches::results))
            .route("/billcompanies", get(|| async { bills::companies() }))
            .route("/billcompanies/{sp}", get(bills::company_by_id))
            .route(
                "/bills/{reference}/payments",
                get(bills::payments_by_bill).post(bills::pay_by_bill),
            )
            .route("/quotations", post(quotations::create))
            .route("/quotations/{reference}", get(quotations::read))
            .route(
                "/requeststates/{id}",
                get(requests::request_state).patch(requests::patch_request_state),
            )
            .route("/responses/{id}", get(requests::response))
            .route("/accounts", any(accounts::dispatch_root))
            .route("/accounts/{*rest}", any(accounts::dispatch))
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&self.sim),
                gated,
            ))
            .layer(axum::middleware::from_fn(json_only))
            .layer(axum::middleware::map_response(with_date))
            .with_state(Arc::clone(&self.sim))
    }

    /// The balance of the account one identifier names, as a decimal string.
    pub fn balance_of(&self, key: &str, value: &str) -> Option<String> {
        lock(&self.sim.ledger)
            .find(key, value)
            .map(|a| a.balance.to_string())
    }
}

/// A request body must be JSON (`Content-Type: application/json`, or a `+json` type): else
/// `400 validation/formatError`.
async fn json_only(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let has_body = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|l| l != "0");
    let json = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|t| t == "application/json" || t.ends_with("+json"));
    if has_body && !json {
        return SimError(GsmaError::format(
            "Content-Type",
            "The request body must be application/json",
        ))
        .into_response();
    }
    next.run(request).await
}

/// A request that may change the state (any but `GET` and `HEAD`) is handled under the mutation gate, and marks
/// the state changed.
async fn gated(
    axum::extract::State(sim): axum::extract::State<Arc<Sim>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let method = request.method();
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        return next.run(request).await;
    }
    let _mutating = sim.gate.lock().await;
    let response = next.run(request).await;
    sim.touched();
    response
}

/// Every answer carries `X-Date`, as a GSMA server's must.
async fn with_date(mut response: Response) -> Response {
    if let Ok(date) = axum::http::HeaderValue::from_str(&mmapi_core::Timestamp::now().to_string()) {
        response.headers_mut().insert("X-Date", date);
    }
    response
}

async fn heartbeat() -> Json<Value> {
    Json(json!({"serviceStatus": "available"}))
}

async fn not_found() -> SimError {
    SimError(GsmaError::not_found("No such resource"))
}

/// A GSMA error answered with the status the spec gives its category.
pub(crate) struct SimError(pub GsmaError);

impl From<GsmaError> for SimError {
    fn from(e: GsmaError) -> Self {
        Self(e)
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(self.0)).into_response()
    }
}

/// A JSON answer with a status.
pub(crate) fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// The request headers an asynchronous request carries.
pub(crate) struct AsyncHeaders {
    /// `X-CorrelationID`, lower-cased.
    pub correlation_id: Option<String>,
    /// `X-Callback-URL`.
    pub callback_url: Option<String>,
}

impl AsyncHeaders {
    pub(crate) fn read(headers: &HeaderMap) -> Result<Self, GsmaError> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let correlation_id = match text("X-CorrelationID") {
            Some(id) if uuid::Uuid::try_parse(&id).is_ok() => Some(id.to_ascii_lowercase()),
            Some(id) => {
                return Err(GsmaError::format(
                    "X-CorrelationID",
                    format!("X-CorrelationID '{id}' is not a UUID"),
                ))
            }
            None => None,
        };
        let callback_url = match text("X-Callback-URL") {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url),
            Some(_) => {
                return Err(GsmaError::format(
                    "X-Callback-URL",
                    "X-Callback-URL is not an http(s) URL",
                ))
            }
            None => None,
        };
        Ok(Self {
            correlation_id,
            callback_url,
        })
    }
}

/// Parses a JSON body.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, GsmaError> {
    serde_json::from_slice(body)
        .map_err(|e| GsmaError::format("body", format!("The request body is not valid JSON: {e}")))
}

/// A new reference: 32 lower-case hex digits.
pub(crate) fn new_reference() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// One page of a list, newest first: `offset` (default 0) and `limit` (default 50, at most 200), with the
/// GSMA record-count headers. An offset beyond the list is `validation/invalidOffset`.
pub(crate) fn page(
    list: Vec<Value>,
    query: &HashMap<String, String>,
) -> Result<Response, GsmaError> {
    let number = |key: &str, default: usize| match query.get(key) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| GsmaError::format(key, format!("{key} must be a whole number"))),
    };
    let offset = number("offset", 0)?;
    let limit = number("limit", 50)?.clamp(1, 200);
    if offset > 0 && offset >= list.len() {
        return Err(GsmaError::new(
            mmapi_core::ErrorCategory::Validation,
            mmapi_core::ErrorCode::InvalidOffset,
            "The offset is beyond the records",
        ));
    }
    let available = list.len();
    let items: Vec<Value> = list.into_iter().skip(offset).take(limit).collect();
    let mut response = answer(StatusCode::OK, json!(items));
    let headers = response.headers_mut();
    for (name, count) in [
        ("X-Records-Available-Count", available),
        ("X-Records-Returned-Count", items.len()),
    ] {
        if let Ok(value) = axum::http::HeaderValue::from_str(&count.to_string()) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}

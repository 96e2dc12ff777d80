//! A wire-accurate simulator of the Vodafone/Vodacom M-Pesa OpenAPI (openapi.m-pesa.com).
//!
//! It serves the operator's API at the root of its own listener, as the operator's host does:
//! `/{sandbox|openapi}/ipg/v2/{market}/{api}/` (with the trailing slash) for the markets
//! `vodacomTZN` (TZN/TZS), `vodafoneGHA` (GHA/GHS), `vodacomLES` (LES/LSL), `vodacomDRC`
//! (DRC/USD) and `vodacomMOZ` (MOZ/MZN):
//!
//! | API | Method | Success |
//! |---|---|---|
//! | `getSession/` | GET | 200 `INS-0` with `output_SessionID` |
//! | `c2bPayment/singleStage/` | POST | 201 `INS-0` |
//! | `b2cPayment/` | POST | 201 `INS-0` |
//! | `b2bPayment/` | POST | 201 `INS-0` |
//! | `reversal/` | PUT | 201 `INS-0` |
//! | `queryTransactionStatus/` | GET (query string) | 200 `INS-0` |
//! | `queryBeneficiaryName/` (Ghana only) | GET (query string) | 200 `INS-0` |
//! | `directDebitCreation/` | POST | 201 `INS-0` with `output_MsisdnToken`, `output_MandateID` |
//! | `directDebitPayment/` | POST | 201 `INS-0` |
//! | `queryDirectDebit/` | GET (query string) | 200 `INS-0` with the mandate |
//! | `directDebitCancel/` | PUT | 201 `INS-0` |
//!
//! **Authentication.** `getSession/` needs an `Origin` header and `Authorization: Bearer
//! base64(RSA_PKCS1v1_5(api key))` encrypted with [`OpenApiSimulator::public_key_base64`];
//! anything else is `400 INS-989 Session Creation Failed`. It issues a 32-hex session id that is
//! live after [`SimulatorConfig::session_activation_delay`] and expires after
//! [`SimulatorConfig::session_lifetime`]. Every other API needs the session id encrypted the
//! same way as its bearer; an unknown, expired or not-yet-live session is `401 INS-2 Invalid
//! API Key`.
//!
//! **Requests.** All `input_*` values are strings. A missing field is `INS-20`, an invalid one
//! `INS-21` or its specific code (`INS-15` amount, `INS-13` shortcode, `INS-17` reference,
//! `INS-28` ThirdPartyConversationID, `INS-30`/`INS-31` descriptions, `INS-2051` MSISDN,
//! `INS-998` country of another market, `INS-26` currency of another market). A repeated
//! `input_ThirdPartyConversationID` on a money-moving or mandate API is `409 INS-10` with
//! `output_TransactionID: "N/A"` (`output_TransactionReference: "N/A"` for mandates); queries
//! may repeat one. Errors keep the `output_*` shape. Only `getSession/` requires `Origin`.
//!
//! **Outcomes by customer MSISDN** (C2B payer, B2C payee), as in the portal's sandbox:
//!
//! | MSISDN | Outcome | HTTP |
//! |---|---|---|
//! | `000000000001` | success, `INS-0` | 201 |
//! | `000000000002` | request timeout, `INS-9` | 408 |
//! | `000000000003` | USSD push timeout, `INS-9` | 408 |
//! | `000000000004` | failed (incorrect PIN), `INS-6` | 401 |
//! | `000000000005` | internal error, `INS-1` | 400 |
//! | `000000000006` | failed (incorrect PIN), `INS-6` | 401 |
//! | `000000000007` | invalid amount, `INS-15` | 400 |
//! | `000000000008` | insufficient balance, `INS-2006` | 422 |
//! | `000000000009` | service not available, `INS-16` | 503 |
//! | a market number (`255…`, `233…`, `266…`, `243…`, `258…`) | success while the payer's balance allows, else `INS-2006` | 201 / 422 |
//!
//! A direct debit payment applies the payer's row too; a mandate creation applies the rows of
//! `INS-9`, `INS-6`, `INS-1` and `INS-16` (the customer approves it on the phone). The beneficiary
//! name of `000000000001` is `Jiazhen Wuu` (the portal's sample); the other test numbers are
//! `INS-2051`, and market numbers get a fixed Ghanaian name.
//!
//! **Reversals** take the original `input_TransactionID` (`INS-18` if unknown, `INS-35` if it
//! belongs to the other service provider) and an optional `input_ReversalAmount` (default: what
//! is left); more than is left is `INS-15`, nothing left `INS-6`. **Status queries** find a
//! transaction by its TransactionID, ThirdPartyConversationID or ConversationID (`INS-23` if
//! none) and report `Completed`, `Pending` (asynchronous, not yet settled), `Expired`
//! (`INS-9`), `Cancelled` (`INS-6`) or `Failed`, and `output_Reversed` `True` once any amount
//! was reversed.
//!
//! Market numbers are the dialling code followed by 9 digits (8 for Lesotho). Every account
//! opens at [`SimulatorConfig::customer_opening_balance`] (customers) or 1,000,000,000
//! (shortcodes); see [`OpenApiSimulator::balance_of`]. The service providers are
//! [`SimulatorConfig::service_provider_code`] and `000001`; any well-formed shortcode can
//! receive a B2B payment.
//!
//! **Asynchronous markets** ([`SimulatorConfig::async_markets`]): every API answers with an
//! acknowledgement (`INS-0` with `output_ConversationID` and `output_ThirdPartyConversationID`,
//! no `output_TransactionID`) and POSTs the result (`input_OriginalConversationID`,
//! `input_TransactionID`, `input_ResultCode`, `input_ResultDesc`,
//! `input_ThirdPartyConversationID`, plus the API's extras) to
//! [`SimulatorConfig::async_result_url`] after [`SimulatorConfig::result_delay`], expecting the
//! `output_*` acknowledgement. Validation, authentication and duplicate errors stay synchronous.
//! `queryDirectDebit/` posts `input_ResponseCode`/`input_ResponseDesc` instead, as documented;
//! `directDebitCancel/` always answers synchronously.
//!
//! **Durability** ([`SimulatorConfig::journal_path`]): every money-moving request is appended to a
//! journal of JSON lines (and written to the OS) before it is answered; a simulator started on the
//! same journal replays it, so it answers `queryTransactionStatus/` for those transactions, has the
//! same balances and submission counts, and settles (and posts the results of) asynchronous ones
//! still pending. Direct debit mandates (creations and cancellations) are journaled too, so a
//! restarted simulator still knows them, their tokens and their IDs. A torn last line (a kill
//! mid-write) is ignored. Sessions stay in memory.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{http::StatusCode, Router};
use mmapi_core::simulator_submissions::SubmissionCounts;
use rust_decimal::Decimal;

mod callback;
mod crypto;
mod dd;
mod faults;
mod journal;
mod ledger;
mod markets;
mod payments;
mod queries;
mod session;
mod wire;

pub use faults::{Faults, InvalidFaults};
pub use journal::JournalError;

/// The API key of the simulator's default (sandbox) application: 32 characters, as the
/// portal's.
pub const SANDBOX_API_KEY: &str = "mmapisandboxkey0000000000000000x";
/// The sandbox service provider code (shortcode), as in the portal's samples.
pub const SANDBOX_SERVICE_PROVIDER_CODE: &str = "000000";

/// Configuration of an [`OpenApiSimulator`].
#[derive(Clone)]
pub struct SimulatorConfig {
    /// The application's API key (what `getSession/`'s bearer must decrypt to).
    pub api_key: String,
    /// The application's service provider code (shortcode).
    pub service_provider_code: String,
    /// How long a session id is valid. Default one hour.
    pub session_lifetime: Duration,
    /// How long after `getSession/` a session id becomes live (the portal says up to 30 s).
    /// Default zero.
    pub session_activation_delay: Duration,
    /// The RSA private key (PKCS#8 or PKCS#1 PEM). `None` generates a 4096-bit key when first
    /// needed; save [`OpenApiSimulator::private_key_pem`] and pass it here to keep the same
    /// public key.
    pub rsa_private_key_pem: Option<String>,
    /// URL contexts (e.g. `"vodacomTZN"`) answering asynchronously. Default none.
    pub async_markets: Vec<String>,
    /// Where asynchronous results are POSTed (the portal's "Response URL").
    pub async_result_url: Option<String>,
    /// Delay before an asynchronous result. Default 200 ms.
    pub result_delay: Duration,
    /// Opening balance of every customer, in the market's currency. Default 1,000,000.
    pub customer_opening_balance: Decimal,
    /// Faults to inject. Default none.
    pub faults: Faults,
    /// Journal every money-moving request to this file (JSON lines) and replay it at start, so
    /// that transactions, balances and submission counts ([`OpenApiSimulator::submissions`])
    /// survive a restart. Default none (in memory).
    pub journal_path: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("api_key", &"<redacted>")
            .field("service_provider_code", &self.service_provider_code)
            .field("session_lifetime", &self.session_lifetime)
            .field("session_activation_delay", &self.session_activation_delay)
            .field(
                "rsa_private_key_pem",
                &self.rsa_private_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("async_markets", &self.async_markets)
            .field("async_result_url", &self.async_result_url)
            .field("result_delay", &self.result_delay)
            .field("customer_opening_balance", &self.customer_opening_balance)
            .field("faults", &self.faults)
            .field("journal_path", &self.journal_path)
            .finish()
    }
}

impl Default for SimulatorConfig {
    /// The sandbox: [`SANDBOX_API_KEY`], [`SANDBOX_SERVICE_PROVIDER_CODE`], a generated key,
    /// one-hour sessions live at once, every market synchronous.
    fn default() -> Self {
        Self {
            api_key: SANDBOX_API_KEY.to_owned(),
            service_provider_code: SANDBOX_SERVICE_PROVIDER_CODE.to_owned(),
            session_lifetime: Duration::from_secs(3600),
            session_activation_delay: Duration::ZERO,
            rsa_private_key_pem: None,
            async_markets: Vec::new(),
            async_result_url: None,
            result_delay: Duration::from_millis(200),
            customer_opening_balance: Decimal::from(1_000_000),
            faults: Faults::default(),
            journal_path: None,
        }
    }
}

/// Why the simulator could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// The configuration is unusable.
    #[error("invalid M-Pesa OpenAPI simulator configuration: {0}")]
    Config(String),
    /// The HTTP client for asynchronous results could not be built.
    #[error("cannot build the M-Pesa OpenAPI simulator's result client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The standalone server failed.
    #[error("M-Pesa OpenAPI simulator server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The journal could not be opened, read or repaired.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// A session issued by `getSession/`.
struct Session {
    live_at: Instant,
    expires_at: Instant,
}

/// State shared by all handlers and result tasks.
pub(crate) struct SimState {
    api_key: String,
    /// Service provider codes of this application.
    service_providers: Vec<String>,
    session_lifetime: Duration,
    session_activation_delay: Duration,
    keys: crypto::Keys,
    sessions: Mutex<HashMap<String, Session>>,
    async_markets: Vec<String>,
    async_result_url: Option<String>,
    result_delay: Duration,
    ledger: Mutex<ledger::Ledger>,
    accepted: AtomicU64,
    http: reqwest::Client,
    faults: faults::FaultInjector,
    /// How many times each transaction was submitted, and how many of those were repeats refused with `INS-10`,
    /// by `input_ThirdPartyConversationID`.
    submissions: SubmissionCounts,
    /// Where accepted and repeated submissions are recorded.
    journal: journal::Journal,
}

impl SimState {
    fn new(config: &SimulatorConfig) -> Result<Self, SimulatorError> {
        if config.api_key.is_empty() {
            return Err(SimulatorError::Config("api_key must be non-empty".into()));
        }
        if !wire::is_code(&config.service_provider_code) {
            return Err(SimulatorError::Config(
                "service_provider_code must be 4 to 12 letters or digits".into(),
            ));
        }
        for market in &config.async_markets {
            if markets::Market::by_context(market).is_none() {
                return Err(SimulatorError::Config(format!(
                    "async market {market:?} is not one of vodacomTZN, vodafoneGHA, vodacomLES, vodacomDRC, vodacomMOZ"
                )));
            }
        }
        if !config.async_markets.is_empty() && config.async_result_url.is_none() {
            return Err(SimulatorError::Config(
                "async_markets need an async_result_url".into(),
            ));
        }
        config
            .faults
            .validate()
            .map_err(|e| SimulatorError::Config(e.to_string()))?;
        if config.customer_opening_balance.is_sign_negative() {
            return Err(SimulatorError::Config(
                "customer_opening_balance must not be negative".into(),
            ));
        }
        let mut service_providers = vec![config.service_provider_code.clone()];
        if config.service_provider_code != "000001" {
            service_providers.push("000001".to_owned());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(SimulatorError::HttpClient)?;
        Ok(Self {
            api_key: config.api_key.clone(),
            service_providers,
            session_lifetime: config.session_lifetime,
            session_activation_delay: config.session_activation_delay,
            keys: crypto::Keys::new(config.rsa_private_key_pem.as_deref())?,
            sessions: Mutex::new(HashMap::new()),
            async_markets: config.async_markets.clone(),
            async_result_url: config.async_result_url.clone(),
            result_delay: config.result_delay,
            ledger: Mutex::new(ledger::Ledger::new(config.customer_opening_balance)),
            accepted: AtomicU64::new(0),
            http,
            faults: faults::FaultInjector::new(config.faults.clone()),
            submissions: SubmissionCounts::default(),
            journal: journal::Journal::disabled(),
        })
    }

    /// Applies one journal event read back at start.
    fn replay(&self, event: &journal::Event) {
        match event {
            journal::Event::Transaction(record) => self
                .submissions
                .submitted(&record.third_party_conversation_id),
            journal::Event::Repeat {
                third_party_conversation_id,
            } => {
                self.submissions.submitted(third_party_conversation_id);
                self.submissions.refused_repeat(third_party_conversation_id);
            }
            journal::Event::Settled(_)
            | journal::Event::Mandate(_)
            | journal::Event::MandateCancelled { .. } => {}
        }
        self.ledger().replay(event);
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, ledger::Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_async(&self, market: &markets::Market) -> bool {
        self.async_markets.iter().any(|m| m == market.context)
    }

    fn is_service_provider(&self, code: &str) -> bool {
        self.service_providers.iter().any(|c| c == code)
    }
}

/// What handlers hold.
pub(crate) type Shared = Arc<SimState>;

/// A running M-Pesa OpenAPI simulator. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct OpenApiSimulator {
    state: Shared,
}

impl std::fmt::Debug for OpenApiSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApiSimulator")
            .field("request_count", &self.request_count())
            .finish_non_exhaustive()
    }
}

impl OpenApiSimulator {
    /// Starts a simulator after validating `config` and replaying its journal, if any, then
    /// schedules the settlement of asynchronous transactions still pending in it. The key, if
    /// none was configured, is generated when first needed.
    pub async fn start(config: SimulatorConfig) -> Result<Self, SimulatorError> {
        let mut state = SimState::new(&config)?;
        if let Some(path) = config.journal_path.clone() {
            let opened = tokio::task::spawn_blocking({
                let path = path.clone();
                move || journal::Journal::open(&path)
            })
            .await
            .map_err(|e| JournalError::Io {
                path,
                source: std::io::Error::other(e),
            })?;
            let (journal, events) = opened?;
            for event in &events {
                state.replay(event);
            }
            state.journal = journal;
            if !events.is_empty() {
                tracing::info!(
                    events = events.len(),
                    "M-Pesa OpenAPI simulator restored its journal"
                );
            }
        }
        let state = Arc::new(state);
        let pending = state.ledger().pending_indexes();
        for index in pending {
            payments::settle_later(&state, index);
        }
        Ok(Self { state })
    }

    /// All of the simulator's routes, at root paths as on the operator's host. Unknown paths
    /// answer 404, wrong methods 405.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(session::routes())
            .merge(payments::routes())
            .merge(queries::routes())
            .merge(dd::routes())
            .route("/__simulator/submissions", axum::routing::get(submissions))
            .route("/__simulator/ledger", axum::routing::get(ledger_view))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&self.state),
                faults::inject,
            ))
            .with_state(Arc::clone(&self.state))
    }

    /// How many times each transaction was submitted to this simulator (C2B, B2C, B2B, reversal, direct debit
    /// payment), keyed by `input_ThirdPartyConversationID`, the gateway's transaction reference. A repeat
    /// refused with INS-10 counts (see [`OpenApiSimulator::refused_repeats`]); a 5xx injected by
    /// [`Faults::server_errors`] does not (nothing was processed). A count above 1 means the transaction was
    /// sent more than once; above 1 plus its refused repeats, that it was carried out more than once.
    pub fn submissions(&self) -> HashMap<String, u32> {
        self.state.submissions.submissions()
    }

    /// How many submissions of each transaction (keyed as in [`OpenApiSimulator::submissions`]) were repeats
    /// refused with INS-10 as duplicates of one already taken: sent again, carried out once.
    pub fn refused_repeats(&self) -> HashMap<String, u32> {
        self.state.submissions.refused_repeats()
    }

    /// The session ids this instance has issued and not yet pruned: for tests that check that the ids appear in
    /// no log or answer. Not served over HTTP unless the embedding program chooses to.
    pub fn issued_session_ids(&self) -> Vec<String> {
        let sessions = self
            .state
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        sessions.keys().cloned().collect()
    }

    /// The public key as the portal gives it: base64 of the X.509 SubjectPublicKeyInfo DER.
    /// Generates the key first if none was configured (blocking, seconds for 4096 bits).
    pub fn public_key_base64(&self) -> String {
        self.state.keys.public_key_base64()
    }

    /// The private key (PKCS#8 PEM), for [`SimulatorConfig::rsa_private_key_pem`] next time.
    /// Generates it first if needed (blocking).
    pub fn private_key_pem(&self) -> String {
        self.state.keys.private_key_pem()
    }

    /// A simulated balance with two decimals (`"1000000.00"`). `market` is a URL context
    /// (`vodacomTZN`) or a country (`TZN`); `msisdn` is a customer of that market or a
    /// shortcode. `None` for an unknown market or a malformed account.
    pub fn balance_of(&self, market: &str, msisdn: &str) -> Option<String> {
        let market = markets::Market::lookup(market)?;
        if !market.accepts_msisdn(msisdn) && !wire::is_code(msisdn) {
            return None;
        }
        let balance = self.state.ledger().balance(market, msisdn);
        Some(balance.round_dp(2).to_string()).map(|s| two_decimals(&s))
    }

    /// Number of money-moving requests (C2B, B2C, B2B, reversal, direct debit payment)
    /// accepted: authenticated, valid and not duplicates, whatever their outcome.
    pub fn request_count(&self) -> u64 {
        self.state.accepted.load(Ordering::Relaxed)
    }
}

/// `"12"` → `"12.00"`, `"12.5"` → `"12.50"`.
fn two_decimals(s: &str) -> String {
    match s.split_once('.') {
        None => format!("{s}.00"),
        Some((i, f)) => format!("{i}.{f:0<2}"),
    }
}

/// `GET /__simulator/submissions` (not part of the OpenAPI): `{"submissions": {key: count}, "refusedRepeats":
/// {key: count}, "duplicates": [keys carried out more than once]}`; see [`OpenApiSimulator::submissions`] and
/// [`OpenApiSimulator::refused_repeats`].
async fn submissions(
    axum::extract::State(state): axum::extract::State<Shared>,
) -> axum::Json<serde_json::Value> {
    axum::Json(state.submissions.report())
}

/// `GET /__simulator/ledger` (not part of the OpenAPI, read-only): every balance touched so far
/// with two decimals, keyed `<market context>:<MSISDN or shortcode>` (`vodacomTZN:000000`), and
/// how many transactions were recorded and completed. `customerOpening` and
/// `organizationOpening` are the balances of accounts not listed yet. Balances are rebuilt from
/// the journal at start, so they survive a restart.
async fn ledger_view(
    axum::extract::State(state): axum::extract::State<Shared>,
) -> axum::Json<serde_json::Value> {
    let amount = |d: Decimal| two_decimals(&d.round_dp(2).to_string());
    let ledger = state.ledger();
    let balances: serde_json::Map<String, serde_json::Value> = ledger
        .balances()
        .into_iter()
        .map(|(account, balance)| (account, amount(balance).into()))
        .collect();
    let (transactions, completed) = ledger.counts();
    axum::Json(serde_json::json!({
        "balances": balances,
        "customerOpening": amount(ledger.customer_opening()),
        "organizationOpening": amount(Decimal::from(ledger::ORGANIZATION_OPENING_BALANCE)),
        "transactions": transactions,
        "completed": completed,
    }))
}

/// Runs a standalone simulator on `listener` until the server fails.
pub async fn serve(
    config: SimulatorConfig,
    listener: tokio::net::TcpListener,
) -> Result<(), SimulatorError> {
    let sim = OpenApiSimulator::start(config).await?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "M-Pesa OpenAPI simulator listening");
    }
    axum::serve(listener, sim.router())
        .await
        .map_err(SimulatorError::Serve)
}

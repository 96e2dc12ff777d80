//! A wire-accurate simulator of Safaricom Daraja (M-Pesa Kenya).
//!
//! It serves the operator's API at the root of its own listener, exactly as
//! `sandbox.safaricom.co.ke` does, with Daraja's status codes, error envelopes, string-typed
//! fields and asynchronous callbacks:
//!
//! - `GET  /oauth/v1/generate?grant_type=client_credentials` (Basic auth) → access tokens;
//! - `POST /mpesa/stkpush/v1/processrequest` → STK Push, then a result callback to
//!   `CallBackURL` after [`SimulatorConfig::callback_delay`];
//! - `POST /mpesa/stkpushquery/v1/query` → STK Query (pending until the session resolves);
//! - `POST /mpesa/b2c/v3/paymentrequest` (and v1) → B2C, result to `ResultURL`;
//! - `POST /mpesa/b2b/v1/paymentrequest` → B2B (`BusinessPayBill`, `BusinessBuyGoods`,
//!   `BusinessPayToBulk`);
//! - `POST /mpesa/transactionstatus/v1/query` → Transaction Status;
//! - `POST /mpesa/accountbalance/v1/query` → Account Balance;
//! - `POST /mpesa/reversal/v1/request` → Reversal;
//! - `POST /mpesa/c2b/v{1,2}/registerurl` and `/simulate` → C2B, with validation and
//!   confirmation requests to the registered URLs;
//! - `POST /standingorder/v1/createStandingOrderExternal` → M-Pesa Ratiba standing orders, the customer's
//!   answer to `CallBackURL`, and a C2B payment on each due date of the simulated clock
//!   (`POST /__simulator/clock`; see [`DarajaSimulator::advance_clock`]).
//!
//! Money moves between simulated accounts (organisation Utility and Working accounts,
//! customers' balances), so results reflect balances; see [`DarajaSimulator::balance_of`]. The
//! initiator APIs authenticate with a `SecurityCredential` encrypted with the certificate from
//! [`DarajaSimulator::certificate_pem`].
//!
//! Outcomes are chosen by test MSISDNs, amounts and balances: see [`outcomes`]. The simulator
//! shares no parsing code with the adapter (`crate::wire`), so a misspelt field cannot hide on
//! both sides. Each API lives in its own module (`oauth`, `stk`, `b2c`, …) that contributes
//! routes.
//!
//! Faults can be injected, deterministically from a seed: see [`Faults`]. The simulator counts how often each
//! transaction was submitted to it ([`DarajaSimulator::submissions`], also `GET /__simulator/submissions`) and
//! how many of those were repeats it refused under their `OriginatorConversationID`
//! ([`DarajaSimulator::refused_repeats`]), so a test can show that nothing was carried out twice.

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use axum::Router;
use mmapi_core::simulator_submissions::SubmissionCounts;
use rust_decimal::{prelude::ToPrimitive, Decimal};
use tokio::sync::watch;

mod b2b;
mod b2c;
mod balance;
mod bill_manager;
mod c2b;
mod callback;
mod crypto;
mod faults;
mod ids;
mod journal;
mod ledger;
mod oauth;
pub mod outcomes;
mod pull;
mod ratiba;
mod results;
mod reversal;
mod status;
mod stk;
mod wire;

pub use faults::{Faults, InvalidFaults};
use journal::{Journal, JournalEvent};

/// Consumer key of the simulator's default (sandbox) app.
pub const SANDBOX_CONSUMER_KEY: &str = "mmapi-sandbox-key";
/// Consumer secret of the simulator's default (sandbox) app.
pub const SANDBOX_CONSUMER_SECRET: &str = "mmapi-sandbox-secret";
/// Daraja's public sandbox STK shortcode.
pub const SANDBOX_SHORTCODE: &str = "174379";
/// Daraja's public sandbox STK passkey (for [`SANDBOX_SHORTCODE`]).
pub const SANDBOX_PASSKEY: &str =
    "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
/// The sandbox initiator (API operator) name.
pub const SANDBOX_INITIATOR_NAME: &str = "testapi";
/// The sandbox initiator password (encrypted into `SecurityCredential`).
pub const SANDBOX_INITIATOR_PASSWORD: &str = "Safaricom999!*!";
/// A second sandbox organisation (a B2B receiver), as in Daraja's samples.
pub const SANDBOX_ORGANIZATION: &str = "600000";
/// The nominated MSISDN the sandbox registers its shortcodes for Pull Transactions with.
pub const SANDBOX_NOMINATED_NUMBER: &str = "254708374149";

/// A shortcode (paybill or store number) the simulator knows, with its STK passkey.
#[derive(Clone, PartialEq, Eq)]
pub struct SimShortcode {
    /// The `BusinessShortCode`, digits only.
    pub shortcode: String,
    /// The Lipa Na M-Pesa Online passkey used in the STK `Password`.
    pub passkey: String,
}

/// Configuration of a [`DarajaSimulator`].
#[derive(Clone)]
pub struct SimulatorConfig {
    /// The app's consumer key (OAuth Basic user).
    pub consumer_key: String,
    /// The app's consumer secret (OAuth Basic password).
    pub consumer_secret: String,
    /// Known shortcodes; an STK Push to any other is `Merchant does not exist`.
    pub shortcodes: Vec<SimShortcode>,
    /// How long the simulated customer takes to answer the prompt: STK Query answers pending
    /// and the result callback waits for this long. Default 500 ms.
    pub callback_delay: Duration,
    /// Lifetime of access tokens (enforced). `expires_in` is sent as a string of this minus one
    /// second, i.e. `"3599"` for the default 3600 s.
    pub token_ttl: Duration,
    /// Where to keep durable state (JSON lines). `None` keeps everything in memory only.
    pub journal_path: Option<PathBuf>,
    /// Refuse an STK Push to an MSISDN that already has a pending session (`500.001.1001
    /// Unable to lock subscriber…`), as Daraja does. Default `false`, so benchmarks can push
    /// many times to one test number.
    pub subscriber_lock: bool,
    /// The initiator (API operator) name of B2C, B2B, status, balance and reversal requests.
    /// Default [`SANDBOX_INITIATOR_NAME`].
    pub initiator_name: String,
    /// The initiator password that `SecurityCredential` must decrypt to. Default
    /// [`SANDBOX_INITIATOR_PASSWORD`].
    pub initiator_password: String,
    /// The RSA private key (PKCS#8 or PKCS#1 PEM) of the simulator's certificate. `None`
    /// generates a 2048-bit key when first needed; save
    /// [`DarajaSimulator::private_key_pem`] and pass it here to keep the same certificate.
    pub rsa_private_key_pem: Option<String>,
    /// Organisation shortcodes besides those of [`SimulatorConfig::shortcodes`] (which are
    /// organisations too): B2C/B2B/balance parties without an STK passkey. Default: just
    /// [`SANDBOX_ORGANIZATION`].
    pub organizations: Vec<String>,
    /// Opening balance (KES) of every customer. Default 100,000.00.
    pub customer_opening_balance: Decimal,
    /// Refuse customer payments (STK Push, C2B) beyond the customer's balance with
    /// `1 The balance is insufficient for the transaction.` Default `false`: customers always
    /// have the funds and their balance may go below zero, so a sandbox customer can pay any
    /// number of times (benchmarks do); `254700000002` is insufficient either way.
    pub enforce_customer_funds: bool,
    /// Opening balance (KES) of every organisation's Utility account. Default 1,000,000.00.
    pub utility_opening_balance: Decimal,
    /// Opening balance (KES) of every organisation's Working account. Default 500,000.00.
    pub working_opening_balance: Decimal,
    /// Send C2B validation requests to the registered `ValidationURL` ("external validation",
    /// which Safaricom enables on request). Default `true`.
    pub c2b_external_validation: bool,
    /// How long a C2B validation answer is awaited before `ResponseType` applies. Default 8 s.
    pub c2b_validation_timeout: Duration,
    /// Faults to inject. Default none.
    pub faults: Faults,
}

impl std::fmt::Debug for SimShortcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimShortcode")
            .field("shortcode", &self.shortcode)
            .field("passkey", &"<redacted>")
            .finish()
    }
}

impl std::fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"<redacted>")
            .field("shortcodes", &self.shortcodes)
            .field("callback_delay", &self.callback_delay)
            .field("token_ttl", &self.token_ttl)
            .field("journal_path", &self.journal_path)
            .field("subscriber_lock", &self.subscriber_lock)
            .field("initiator_name", &self.initiator_name)
            .field("initiator_password", &"<redacted>")
            .field(
                "rsa_private_key_pem",
                &self.rsa_private_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .field("organizations", &self.organizations)
            .field("customer_opening_balance", &self.customer_opening_balance)
            .field("enforce_customer_funds", &self.enforce_customer_funds)
            .field("utility_opening_balance", &self.utility_opening_balance)
            .field("working_opening_balance", &self.working_opening_balance)
            .field("c2b_external_validation", &self.c2b_external_validation)
            .field("c2b_validation_timeout", &self.c2b_validation_timeout)
            .field("faults", &self.faults)
            .finish()
    }
}

impl Default for SimulatorConfig {
    /// The sandbox: [`SANDBOX_CONSUMER_KEY`]/[`SANDBOX_CONSUMER_SECRET`], shortcode
    /// [`SANDBOX_SHORTCODE`] with [`SANDBOX_PASSKEY`], organisation [`SANDBOX_ORGANIZATION`],
    /// initiator [`SANDBOX_INITIATOR_NAME`]/[`SANDBOX_INITIATOR_PASSWORD`] with a generated
    /// key, 500 ms callbacks, one-hour tokens, memory only, no subscriber lock, C2B validation
    /// on.
    fn default() -> Self {
        Self {
            consumer_key: SANDBOX_CONSUMER_KEY.to_owned(),
            consumer_secret: SANDBOX_CONSUMER_SECRET.to_owned(),
            shortcodes: vec![SimShortcode {
                shortcode: SANDBOX_SHORTCODE.to_owned(),
                passkey: SANDBOX_PASSKEY.to_owned(),
            }],
            callback_delay: Duration::from_millis(500),
            token_ttl: Duration::from_secs(3600),
            journal_path: None,
            subscriber_lock: false,
            initiator_name: SANDBOX_INITIATOR_NAME.to_owned(),
            initiator_password: SANDBOX_INITIATOR_PASSWORD.to_owned(),
            rsa_private_key_pem: None,
            organizations: vec![SANDBOX_ORGANIZATION.to_owned()],
            customer_opening_balance: Decimal::from(100_000),
            enforce_customer_funds: false,
            utility_opening_balance: Decimal::from(1_000_000),
            working_opening_balance: Decimal::from(500_000),
            c2b_external_validation: true,
            c2b_validation_timeout: Duration::from_secs(8),
            faults: Faults::default(),
        }
    }
}

/// A non-negative amount of KES in cents.
fn opening_cents(name: &str, kes: Decimal) -> Result<i64, SimulatorError> {
    (kes * Decimal::ONE_HUNDRED)
        .round()
        .to_i64()
        .filter(|c| *c >= 0 && !kes.is_sign_negative())
        .ok_or_else(|| SimulatorError::Config(format!("{name} must be a non-negative amount")))
}

/// Why the simulator could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// The configuration is unusable.
    #[error("invalid Daraja simulator configuration: {0}")]
    Config(String),
    /// The journal could not be opened, read or repaired.
    #[error("Daraja simulator journal {}: {source}", path.display())]
    JournalIo {
        /// The journal file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The journal holds a damaged line that is not its last one.
    #[error("Daraja simulator journal {} is damaged at line {line}: {message}", path.display())]
    JournalCorrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The HTTP client for callbacks could not be built.
    #[error("cannot build the Daraja simulator's callback client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The standalone server failed.
    #[error("Daraja simulator server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// State shared by all handlers and callback tasks.
pub(crate) struct SimState {
    consumer_key: String,
    consumer_secret: String,
    /// Shortcode → passkey.
    shortcodes: HashMap<String, String>,
    callback_delay: Duration,
    tokens: oauth::TokenStore,
    stk: stk::StkStore,
    merchant_ids: ids::MerchantIds,
    ledger: ledger::Ledger,
    initiator: Arc<crypto::Initiator>,
    results: results::ResultStore,
    c2b: c2b::C2bStore,
    pull: pull::PullRegistrations,
    bill_manager: bill_manager::BillManagerStore,
    ratiba: ratiba::RatibaStore,
    c2b_validation: bool,
    c2b_validation_timeout: Duration,
    journal: Journal,
    callbacks: callback::CallbackSender,
    shutdown: watch::Sender<bool>,
    faults: faults::FaultInjector,
    /// How many times each transaction was submitted, and how many of those were repeats refused as duplicates
    /// (`500.002.1001`), by its `CallBackURL`/`ResultURL`.
    submissions: SubmissionCounts,
}

impl SimState {
    fn new(config: &SimulatorConfig) -> Result<Self, SimulatorError> {
        if config.consumer_key.is_empty() || config.consumer_key.contains(':') {
            return Err(SimulatorError::Config(
                "consumer_key must be non-empty and must not contain ':'".into(),
            ));
        }
        if config.consumer_secret.is_empty() {
            return Err(SimulatorError::Config(
                "consumer_secret must be non-empty".into(),
            ));
        }
        config
            .faults
            .validate()
            .map_err(|e| SimulatorError::Config(e.to_string()))?;
        let mut shortcodes = HashMap::new();
        for sc in &config.shortcodes {
            if sc.shortcode.is_empty() || !sc.shortcode.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SimulatorError::Config(format!(
                    "shortcode {:?} must be digits",
                    sc.shortcode
                )));
            }
            if sc.passkey.is_empty() {
                return Err(SimulatorError::Config(format!(
                    "shortcode {} has an empty passkey",
                    sc.shortcode
                )));
            }
            if shortcodes
                .insert(sc.shortcode.clone(), sc.passkey.clone())
                .is_some()
            {
                return Err(SimulatorError::Config(format!(
                    "shortcode {} is configured twice",
                    sc.shortcode
                )));
            }
        }
        let mut orgs: Vec<&str> = shortcodes.keys().map(String::as_str).collect();
        for org in &config.organizations {
            if org.is_empty() || !org.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SimulatorError::Config(format!(
                    "organisation {org:?} must be digits"
                )));
            }
            orgs.push(org);
        }
        let openings = ledger::Openings {
            customer: opening_cents("customer_opening_balance", config.customer_opening_balance)?,
            utility: opening_cents("utility_opening_balance", config.utility_opening_balance)?,
            working: opening_cents("working_opening_balance", config.working_opening_balance)?,
            enforce_customer_funds: config.enforce_customer_funds,
        };
        let ledger = ledger::Ledger::new(orgs, openings);
        let initiator = crypto::Initiator::new(
            &config.initiator_name,
            &config.initiator_password,
            config.rsa_private_key_pem.as_deref(),
        )?;
        Ok(Self {
            ledger,
            initiator: Arc::new(initiator),
            results: results::ResultStore::new(),
            c2b: c2b::C2bStore::new(),
            pull: pull::PullRegistrations::default(),
            bill_manager: bill_manager::BillManagerStore::default(),
            ratiba: ratiba::RatibaStore::default(),
            c2b_validation: config.c2b_external_validation,
            c2b_validation_timeout: config.c2b_validation_timeout,
            consumer_key: config.consumer_key.clone(),
            consumer_secret: config.consumer_secret.clone(),
            shortcodes,
            callback_delay: config.callback_delay,
            tokens: oauth::TokenStore::new(config.token_ttl),
            stk: stk::StkStore::new(config.subscriber_lock),
            merchant_ids: ids::MerchantIds::new(),
            journal: Journal::disabled(),
            callbacks: callback::CallbackSender::new()?,
            shutdown: watch::Sender::new(false),
            faults: faults::FaultInjector::new(config.faults.clone()),
            submissions: SubmissionCounts::default(),
        })
    }

    fn shutdown(&self) {
        self.shutdown.send_replace(true);
        self.journal.close();
    }

    /// The callback delay in milliseconds.
    fn callback_delay_ms(&self) -> i64 {
        i64::try_from(self.callback_delay.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Applies one journal event read back at start.
    fn replay(&self, event: JournalEvent, now_ms: i64) {
        match event {
            JournalEvent::StkCreated(record) => {
                self.submissions.submitted(&record.callback_url);
                self.stk.restore(record, now_ms, &self.ledger);
            }
            JournalEvent::CallbackDone { id, .. } => {
                let _ = self.stk.mark_callback_done(&id)
                    || self.results.mark_done(&id)
                    || self.c2b.mark_done(&id);
            }
            JournalEvent::ResultCreated(record) => {
                if results::is_transaction(&record.api) {
                    self.submissions.submitted(&record.result_url);
                }
                if let Some(txn) = record.txn.clone() {
                    self.ledger.lock().apply(txn);
                }
                self.results.insert(&record);
            }
            JournalEvent::RepeatRefused { result_url } => {
                self.submissions.submitted(&result_url);
                self.submissions.refused_repeat(&result_url);
            }
            JournalEvent::C2bRegistered(registration) => self.c2b.register(registration),
            JournalEvent::C2bCreated(record) => {
                self.ledger.lock().mark_issued(&record.trans_id);
                self.c2b.insert(record);
            }
            JournalEvent::C2bSettled(settlement) => {
                if self.c2b.settle(&settlement) {
                    if let Some(txn) = settlement.txn {
                        self.ledger.lock().apply(txn);
                    }
                }
            }
            JournalEvent::RatibaCreated(order) => self.ratiba.restore(order),
            JournalEvent::RatibaAnswered {
                party_a,
                name,
                approved,
            } => self.ratiba.restore_answer(party_a, &name, approved),
            JournalEvent::RatibaPaid {
                party_a,
                name,
                paid,
            } => self.ratiba.restore_paid(party_a, &name, paid),
            JournalEvent::ClockMoved { offset_ms } => self.ratiba.restore_clock(offset_ms),
            JournalEvent::BillOptedIn {
                shortcode,
                callback_url,
                current,
            } => self
                .bill_manager
                .restore_optin(shortcode, callback_url, current),
            JournalEvent::BillsInvoiced {
                shortcode,
                invoices,
            } => self.bill_manager.restore_invoices(&shortcode, invoices),
            JournalEvent::BillsCancelled { references } => {
                self.bill_manager.restore_cancelled(&references)
            }
        }
    }
}

/// Shuts the simulator down when the last handle and router are gone.
struct ShutdownGuard(Arc<SimState>);

impl Drop for ShutdownGuard {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// What handlers hold: the state, plus a share of the shutdown guard.
#[derive(Clone)]
pub(crate) struct Shared {
    state: Arc<SimState>,
    _guard: Arc<ShutdownGuard>,
}

impl std::ops::Deref for Shared {
    type Target = SimState;

    fn deref(&self) -> &SimState {
        &self.state
    }
}

/// A running Daraja simulator. Cheap to clone; all clones share one state.
///
/// Callbacks are delivered as long as a handle or a router from [`DarajaSimulator::router`]
/// is alive, or until [`DarajaSimulator::shutdown`].
#[derive(Clone)]
pub struct DarajaSimulator {
    shared: Shared,
}

impl std::fmt::Debug for DarajaSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DarajaSimulator")
            .field("stk_push_count", &self.stk_push_count())
            .finish_non_exhaustive()
    }
}

impl DarajaSimulator {
    /// Starts a simulator: validates `config`, replays the journal (if any) and schedules the
    /// callbacks it still owes (at once for sessions whose time has passed).
    pub async fn start(config: SimulatorConfig) -> Result<Self, SimulatorError> {
        let mut state = SimState::new(&config)?;
        if let Some(path) = config.journal_path.clone() {
            let (journal, events) = tokio::task::spawn_blocking({
                let path = path.clone();
                move || Journal::open(&path)
            })
            .await
            .map_err(|e| SimulatorError::JournalIo {
                path,
                source: std::io::Error::other(e),
            })??;
            state.journal = journal;
            let now = ids::now_ms();
            let restored = events.len();
            for event in events {
                state.replay(event, now);
            }
            if restored > 0 {
                tracing::info!(events = restored, "Daraja simulator restored its journal");
            }
        }
        let state = Arc::new(state);
        for (id, resolve_at_ms) in state.stk.owed_callbacks() {
            stk::schedule_callback(&state, id, resolve_at_ms);
        }
        for (id, resolve_at_ms) in state.results.owed() {
            results::schedule(&state, id, resolve_at_ms);
        }
        for (id, _) in state.c2b.unsettled() {
            c2b::spawn_payment(&state, id);
        }
        for id in state.c2b.owed_confirmations() {
            c2b::schedule_confirmation(&state, id);
        }
        ratiba::resume(&state);
        ratiba::spawn_scheduler(&state);
        let guard = Arc::new(ShutdownGuard(Arc::clone(&state)));
        Ok(Self {
            shared: Shared {
                state,
                _guard: guard,
            },
        })
    }

    /// All of the simulator's routes, at root paths as on the operator's host. Unknown paths
    /// answer `404.001.01`, wrong methods `405.001`.
    pub fn router(&self) -> Router {
        Router::new()
            .merge(oauth::routes())
            .merge(stk::routes())
            .merge(b2c::routes())
            .merge(b2b::routes())
            .merge(status::routes())
            .merge(balance::routes())
            .merge(reversal::routes())
            .merge(c2b::routes())
            .merge(pull::routes())
            .merge(bill_manager::routes())
            .merge(ratiba::routes())
            .route("/__simulator/submissions", axum::routing::get(submissions))
            .route("/__simulator/ledger", axum::routing::get(ledger_view))
            .fallback(wire::not_found)
            .layer(axum::middleware::from_fn_with_state(
                self.shared.clone(),
                faults::inject,
            ))
            .with_state(self.shared.clone())
    }

    /// How many times each transaction was submitted to this simulator (STK Push, B2C, B2B, Reversal), keyed
    /// by its `CallBackURL` or `ResultURL`: the gateway puts its transaction reference there, so each
    /// transaction has one key. Submissions read back from the journal count, and so does a B2C repeat refused
    /// under its `OriginatorConversationID` (see [`DarajaSimulator::refused_repeats`]); a 5xx injected by
    /// [`Faults::server_errors`] does not (nothing was processed). A count above 1 means the transaction was
    /// sent more than once; above 1 plus its refused repeats, that it was carried out more than once.
    pub fn submissions(&self) -> HashMap<String, u32> {
        self.shared.submissions.submissions()
    }

    /// How many submissions of each transaction (keyed as in [`DarajaSimulator::submissions`]) were repeats
    /// refused as duplicates of one already taken (B2C v3, `500.002.1001`): sent again, carried out once.
    pub fn refused_repeats(&self) -> HashMap<String, u32> {
        self.shared.submissions.refused_repeats()
    }

    /// Number of STK Pushes this instance has accepted (sessions restored from the journal
    /// are not counted).
    pub fn stk_push_count(&self) -> u64 {
        self.shared.stk.pushes()
    }

    /// Number of B2C, B2B, Transaction Status, Account Balance and Reversal requests this
    /// instance has accepted (not counting those restored from the journal).
    pub fn result_request_count(&self) -> u64 {
        self.shared.results.accepted()
    }

    /// The access tokens this instance has issued (expired ones may be missing): for tests that check that the
    /// tokens appear in no log or answer. Not served over HTTP unless the embedding program chooses to.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.shared.tokens.issued()
    }

    /// The X.509 certificate (PEM) whose public key encrypts `SecurityCredential`: what the
    /// gateway's operator configures as the Daraja certificate. Generates the key first if
    /// none was configured (blocking, up to a second or so).
    pub fn certificate_pem(&self) -> String {
        self.shared.initiator.certificate_pem()
    }

    /// The RSA private key (PKCS#8 PEM) behind [`DarajaSimulator::certificate_pem`], for
    /// [`SimulatorConfig::rsa_private_key_pem`] next time. Generates it first if needed
    /// (blocking).
    pub fn private_key_pem(&self) -> String {
        self.shared.initiator.private_key_pem()
    }

    /// A simulated balance in KES with two decimals (`"1000000.00"`): `account` is a customer
    /// MSISDN (`2547…`), an organisation shortcode (its Utility account), or
    /// `<shortcode>:utility` / `<shortcode>:working`. `None` for anything else.
    pub fn balance_of(&self, account: &str) -> Option<String> {
        let accounts = self.shared.ledger.lock();
        let party = if account.contains(':') || ledger::is_msisdn(account) {
            account.parse().ok()?
        } else if accounts.is_org(account) {
            ledger::Party::Org(account.into(), ledger::OrgAccount::Utility)
        } else {
            return None;
        };
        accounts.balance(&party).map(ledger::kes)
    }

    /// Moves the simulated clock forward by `by` and takes the M-Pesa Ratiba payments that fell due (also
    /// `POST /__simulator/clock` with `{"advanceSeconds": n}`). Only standing orders read this clock.
    pub fn advance_clock(&self, by: Duration) {
        ratiba::move_clock(
            &self.shared.state,
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4),
        );
    }

    /// Stops delivering callbacks and writing the journal. Owed callbacks stay owed in the
    /// journal, so a simulator started on it later sends them.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }
}

/// `GET /__simulator/submissions` (not part of Daraja): `{"submissions": {key: count}, "refusedRepeats": {key:
/// count}, "duplicates": [keys carried out more than once]}`; see [`DarajaSimulator::submissions`] and
/// [`DarajaSimulator::refused_repeats`].
async fn submissions(
    axum::extract::State(sim): axum::extract::State<Shared>,
) -> axum::Json<serde_json::Value> {
    axum::Json(sim.submissions.report())
}

/// `GET /__simulator/ledger` (not part of Daraja, read-only): every simulated balance in KES with two decimals,
/// keyed as in the journal (`254708374149`, `174379:utility`, `174379:working`), and how many transactions were
/// recorded and completed; `customerOpening` is the balance of a customer not listed yet. Balances are rebuilt
/// from the journal at start, so they survive a restart.
async fn ledger_view(
    axum::extract::State(sim): axum::extract::State<Shared>,
) -> axum::Json<serde_json::Value> {
    let accounts = sim.ledger.lock();
    let balances: serde_json::Map<String, serde_json::Value> = accounts
        .balances()
        .into_iter()
        .map(|(party, cents)| (party.to_string(), ledger::kes(cents).into()))
        .collect();
    let (transactions, completed) = accounts.counts();
    axum::Json(serde_json::json!({
        "balances": balances,
        "customerOpening": ledger::kes(accounts.customer_opening()),
        "transactions": transactions,
        "completed": completed,
    }))
}

/// Runs a standalone simulator on `listener` until the server fails.
pub async fn serve(
    config: SimulatorConfig,
    listener: tokio::net::TcpListener,
) -> Result<(), SimulatorError> {
    let sim = DarajaSimulator::start(config).await?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "Daraja simulator listening");
    }
    let result = axum::serve(listener, sim.router()).await;
    sim.shutdown();
    result.map_err(SimulatorError::Serve)
}

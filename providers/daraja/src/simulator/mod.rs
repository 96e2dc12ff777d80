//! A wire-accurate simulator of Safaricom Daraja (M-Pesa Kenya).
//!
//! It serves the operator's API at the root of its own listener, exactly as
//! `sandbox.safaricom.co.ke` does, with Daraja's status codes, error envelopes, string-typed
//! fields and asynchronous callbacks:
//!
//! - `GET  /oauth/v1/generate?grant_type=client_credentials` (Basic auth) → access tokens;
//! - `POST /mpesa/stkpush/v1/processrequest` → STK Push, then a result callback to
//!   `CallBackURL` after [`SimulatorConfig::callback_delay`];
//! - `POST /mpesa/stkpushquery/v1/query` → STK Query (pending until the session resolves).
//!
//! Outcomes are chosen by the customer's MSISDN: see [`outcomes`]. The simulator shares no
//! parsing code with the adapter (`crate::wire`), so a misspelt field cannot hide on both
//! sides. Each API lives in its own module (`oauth`, `stk`, …) that contributes routes.

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use axum::Router;
use tokio::sync::watch;

mod callback;
mod ids;
mod journal;
mod oauth;
pub mod outcomes;
mod stk;
mod wire;

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
            .finish()
    }
}

impl Default for SimulatorConfig {
    /// The sandbox: [`SANDBOX_CONSUMER_KEY`]/[`SANDBOX_CONSUMER_SECRET`], shortcode
    /// [`SANDBOX_SHORTCODE`] with [`SANDBOX_PASSKEY`], 500 ms callbacks, one-hour tokens,
    /// memory only, no subscriber lock.
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
        }
    }
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
    journal: Journal,
    callbacks: callback::CallbackSender,
    shutdown: watch::Sender<bool>,
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
        Ok(Self {
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
        })
    }

    fn shutdown(&self) {
        self.shutdown.send_replace(true);
        self.journal.close();
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
            let mut restored = 0usize;
            for event in events {
                match event {
                    JournalEvent::StkCreated(record) => {
                        state.stk.restore(record, now);
                        restored += 1;
                    }
                    JournalEvent::CallbackDone { id, .. } => {
                        state.stk.mark_callback_done(&id);
                    }
                }
            }
            if restored > 0 {
                tracing::info!(sessions = restored, "Daraja simulator restored its journal");
            }
        }
        let state = Arc::new(state);
        for (id, resolve_at_ms) in state.stk.owed_callbacks() {
            stk::schedule_callback(&state, id, resolve_at_ms);
        }
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
            .fallback(wire::not_found)
            .with_state(self.shared.clone())
    }

    /// Number of STK Pushes this instance has accepted (sessions restored from the journal
    /// are not counted).
    pub fn stk_push_count(&self) -> u64 {
        self.shared.stk.pushes()
    }

    /// Stops delivering callbacks and writing the journal. Owed callbacks stay owed in the
    /// journal, so a simulator started on it later sends them.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }
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

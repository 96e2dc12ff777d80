//! The `mmapi-gateway` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mmapi_core::simulator_faults::Faults;
use mmapi_gateway::config::{Config, Overrides};
use mmapi_gateway::telemetry::{self, Telemetry, TelemetrySettings};

/// The gateway makes many small, short-lived allocations per request; under load glibc's allocator spent about
/// a tenth of the gateway's CPU on them, mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mmapi-gateway",
    version,
    about = "The GSMA Mobile Money API in front of M-Pesa operators"
)]
struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "MMAPI_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the GSMA API. With no configuration: sandbox mode on 127.0.0.1:8080 with simulated operators.
    Serve {
        /// A TOML configuration file.
        #[arg(long, env = "MMAPI_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on (default 127.0.0.1:8080; env MMAPI_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Directory of the embedded database (default ./mmapi-data; env MMAPI_DATA_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// PostgreSQL URL of a shared store, e.g. postgres://postgres@127.0.0.1/mmapi (env MMAPI_DATABASE_URL;
        /// default: SQLite in the data directory).
        #[arg(long)]
        database_url: Option<String>,
        /// URL at which operators reach this gateway's callback routes (env MMAPI_PUBLIC_URL).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Print the gateway's OpenAPI document.
    Openapi,
    /// Run an operator simulator on its own.
    Simulate {
        #[command(subcommand)]
        operator: Simulator,
    },
    /// Transactions whose operator result never came, left to a person (manual review).
    Review {
        #[command(subcommand)]
        action: ReviewAction,
    },
    /// The client-callback delivery log, and redelivery.
    Callbacks {
        #[command(subcommand)]
        action: CallbacksAction,
    },
    /// The API clients: add, list, rotate, disable, enable.
    Clients {
        #[command(subcommand)]
        action: mmapi_gateway::auth::cli::ClientsAction,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the store is: the same options as `serve`.
#[derive(clap::Args)]
struct StoreArgs {
    /// A TOML configuration file.
    #[arg(long, env = "MMAPI_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the embedded database (default ./mmapi-data; env MMAPI_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL of a shared store (env MMAPI_DATABASE_URL).
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum ReviewAction {
    /// List the transactions waiting for review (JSON, one per line).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Settle a transaction in review; the client's callback is sent.
    Resolve {
        /// The transaction reference.
        reference: String,
        /// What became of it.
        #[arg(long, value_enum)]
        status: ReviewStatus,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum CallbacksAction {
    /// List client callbacks with their delivery log, newest first (JSON, one per line).
    List {
        /// Only those in this state.
        #[arg(long, value_enum)]
        state: Option<CallbackState>,
        /// At most this many.
        #[arg(
            long,
            default_value_t = mmapi_gateway::callbacks::DEFAULT_LIST_LIMIT,
            value_parser = clap::value_parser!(i64).range(1..)
        )]
        limit: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Deliver callbacks again: a running gateway sends them at once.
    Redeliver {
        /// Outbox ids (the `id` of `callbacks list`).
        #[arg(
            required_unless_present = "all_abandoned",
            conflicts_with = "all_abandoned"
        )]
        ids: Vec<i64>,
        /// Every callback given up on.
        #[arg(long)]
        all_abandoned: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum CallbackState {
    Pending,
    Delivered,
    Abandoned,
}

impl CallbackState {
    fn as_str(self) -> &'static str {
        match self {
            CallbackState::Pending => "pending",
            CallbackState::Delivered => "delivered",
            CallbackState::Abandoned => "abandoned",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ReviewStatus {
    Completed,
    Failed,
}

/// Faults a standalone simulator injects.
#[derive(clap::Args)]
struct FaultArgs {
    /// A TOML file of faults (the keys of `[simulators.faults]`); the flags below override it.
    #[arg(long)]
    faults: Option<PathBuf>,
    /// Seed of the fault decisions.
    #[arg(long)]
    faults_seed: Option<u64>,
    /// Fraction of asynchronous results never sent.
    #[arg(long)]
    drop_callbacks: Option<f64>,
    /// Fraction of asynchronous results sent twice.
    #[arg(long)]
    duplicate_callbacks: Option<f64>,
    /// Fraction of API calls answered with a 5xx.
    #[arg(long)]
    server_errors: Option<f64>,
    /// Fraction of API calls answered only after the timeout hold.
    #[arg(long)]
    timeouts: Option<f64>,
}

impl FaultArgs {
    /// The faults, read and validated.
    fn load(&self) -> Result<Faults, String> {
        let mut faults = match &self.faults {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("invalid {}: {e}", path.display()))?
            }
            None => Faults::default(),
        };
        if let Some(seed) = self.faults_seed {
            faults.seed = seed;
        }
        for (target, value) in [
            (&mut faults.drop_callbacks, self.drop_callbacks),
            (&mut faults.duplicate_callbacks, self.duplicate_callbacks),
            (&mut faults.server_errors, self.server_errors),
            (&mut faults.timeouts, self.timeouts),
        ] {
            if let Some(v) = value {
                *target = v;
            }
        }
        faults.validate().map_err(|e| e.to_string())?;
        Ok(faults)
    }
}

#[derive(Subcommand)]
enum Simulator {
    /// The Safaricom Daraja simulator (OAuth, STK Push, STK Query, result callbacks).
    Daraja {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        /// How long the simulated customer takes to answer a prompt, in milliseconds.
        #[arg(long, default_value_t = 500)]
        callback_delay_ms: u64,
        /// Keep simulated state in this file, so it survives a restart.
        #[arg(long)]
        journal: Option<PathBuf>,
        #[command(flatten)]
        faults: FaultArgs,
        #[command(flatten)]
        credentials: mmapi_gateway::simulate::DarajaArgs,
    },
    /// The Vodafone/Vodacom M-Pesa OpenAPI simulator (the sandbox API key and service provider code unless
    /// others are given).
    MpesaOpenapi {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: SocketAddr,
        #[command(flatten)]
        faults: FaultArgs,
        #[command(flatten)]
        credentials: mmapi_gateway::simulate::OpenApiArgs,
    },
    /// The open GSMA MMAPI 1.2 reference simulator (wallets, transactions, authorisation codes, links, debit
    /// mandates, quotations, accounts), at /v1.2/mm.
    Mmapi {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8083")]
        listen: SocketAddr,
        /// How long an asynchronous request stays pending, in milliseconds.
        #[arg(long, default_value_t = 200)]
        processing_delay_ms: u64,
        /// Keep the simulator's state in this file (read at start, written after each change and at Ctrl-C),
        /// so that a restart goes on where it stopped. Default: in memory, from the test data at each start.
        #[arg(long)]
        state: Option<PathBuf>,
    },
}

/// Installs logging (and the span export `telemetry` asks for); exits if it cannot.
fn init_logging(format: LogFormat, telemetry: &TelemetrySettings) -> Result<Telemetry, ExitCode> {
    let format = match format {
        LogFormat::Text => telemetry::LogFormat::Text,
        LogFormat::Json => telemetry::LogFormat::Json,
    };
    telemetry::init(format, telemetry).map_err(|e| {
        eprintln!("mmapi-gateway: {e}");
        ExitCode::FAILURE
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` reads its configuration first: it may ask for the span export.
    let _telemetry = match &cli.command {
        Command::Serve { .. } => None,
        _ => match init_logging(cli.log_format, &TelemetrySettings::default()) {
            Ok(t) => Some(t),
            Err(code) => return code,
        },
    };
    match cli.command {
        Command::Openapi => {
            print!("{}", mmapi_gateway::api::docs::json());
            ExitCode::SUCCESS
        }
        Command::Serve {
            config,
            listen,
            data_dir,
            database_url,
            public_url,
        } => {
            let overrides = Overrides {
                listen,
                data_dir,
                database_url,
                public_url,
            };
            let config = match Config::load(config.as_deref(), overrides) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("mmapi-gateway: {e}");
                    return ExitCode::from(2);
                }
            };
            let mut telemetry = match init_logging(cli.log_format, &config.telemetry) {
                Ok(t) => t,
                Err(code) => return code,
            };
            let gateway = match mmapi_gateway::app::start(config).await {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("mmapi-gateway: cannot start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let code = match gateway.run_until(stop_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mmapi-gateway: {e}");
                    ExitCode::FAILURE
                }
            };
            // Sends the spans still buffered (a blocking call: off the runtime's threads).
            let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
            code
        }
        Command::Simulate { operator } => simulate(operator).await,
        Command::Review { action } => review(action).await,
        Command::Callbacks { action } => callbacks(action).await,
        Command::Clients { action, store } => clients(action, &store).await,
    }
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stopping on Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stop signal received");
}

/// `mmapi-gateway simulate daraja|mpesa-openapi|mmapi`.
async fn simulate(operator: Simulator) -> ExitCode {
    let (listen, faults) = match &operator {
        Simulator::Daraja { listen, faults, .. }
        | Simulator::MpesaOpenapi { listen, faults, .. } => (*listen, faults.load()),
        Simulator::Mmapi { listen, .. } => (*listen, Ok(Default::default())),
    };
    let faults = match faults {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mmapi-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mmapi-gateway: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = match operator {
        Simulator::Daraja {
            callback_delay_ms,
            journal,
            credentials,
            ..
        } => {
            let config = mmapi_daraja::simulator::SimulatorConfig {
                callback_delay: Duration::from_millis(callback_delay_ms),
                journal_path: journal,
                faults,
                ..Default::default()
            };
            mmapi_gateway::simulate::daraja(credentials, config, listener).await
        }
        Simulator::MpesaOpenapi { credentials, .. } => {
            mmapi_gateway::simulate::openapi(credentials, faults, listener).await
        }
        Simulator::Mmapi {
            processing_delay_ms,
            state,
            ..
        } => {
            let config = mmapi_forward::simulator::SimulatorConfig {
                processing_delay: Duration::from_millis(processing_delay_ms),
            };
            mmapi_gateway::simulate::mmapi(config, state, listener, stop_signal()).await
        }
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mmapi-gateway: simulator: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `mmapi-gateway clients …`.
async fn clients(
    action: mmapi_gateway::auth::cli::ClientsAction,
    store_args: &StoreArgs,
) -> ExitCode {
    let config = match store_config(store_args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match open_store(&config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let registry = mmapi_gateway::auth::ClientRegistry::new(store.clone(), config.auth.clone());
    let result = mmapi_gateway::auth::cli::run(&registry, action).await;
    if let Err(e) = store.flush().await {
        eprintln!("mmapi-gateway: {e}");
        return ExitCode::FAILURE;
    }
    match result {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mmapi-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration the store options name.
fn store_config(store_args: &StoreArgs) -> Result<Config, ExitCode> {
    let overrides = Overrides {
        data_dir: store_args.data_dir.clone(),
        database_url: store_args.database_url.clone(),
        ..Overrides::default()
    };
    Config::load(store_args.config.as_deref(), overrides).map_err(|e| {
        eprintln!("mmapi-gateway: {e}");
        ExitCode::from(2)
    })
}

/// Opens the store of `config`.
async fn open_store(config: &Config) -> Result<mmapi_gateway::store::Store, ExitCode> {
    mmapi_gateway::store::Store::open(
        config.database_url.as_deref(),
        &config.data_dir,
        &config.store,
    )
    .await
    .map_err(|e| {
        eprintln!("mmapi-gateway: {e}");
        ExitCode::FAILURE
    })
}

/// Prints `items` as JSON, one per line.
fn print_lines<T: serde::Serialize>(items: &[T]) {
    for item in items {
        match serde_json::to_string(item) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("mmapi-gateway: {e}"),
        }
    }
}

/// `mmapi-gateway review list|resolve`.
async fn review(action: ReviewAction) -> ExitCode {
    let store_args = match &action {
        ReviewAction::List { store } | ReviewAction::Resolve { store, .. } => store,
    };
    let config = match store_config(store_args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match action {
        ReviewAction::List { .. } => {
            let store = match open_store(&config).await {
                Ok(s) => s,
                Err(code) => return code,
            };
            match mmapi_gateway::review::list(&store).await {
                Ok(items) => {
                    print_lines(&items);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mmapi-gateway: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        ReviewAction::Resolve {
            reference, status, ..
        } => {
            let resolution = match status {
                ReviewStatus::Completed => mmapi_gateway::review::Resolution::Completed,
                ReviewStatus::Failed => mmapi_gateway::review::Resolution::Failed,
            };
            match mmapi_gateway::review::resolve_offline(&config, &reference, resolution).await {
                Ok(()) => {
                    println!(
                        "{reference} settled as {}",
                        match status {
                            ReviewStatus::Completed => "completed",
                            ReviewStatus::Failed => "failed",
                        }
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mmapi-gateway: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `mmapi-gateway callbacks list|redeliver`.
async fn callbacks(action: CallbacksAction) -> ExitCode {
    let store_args = match &action {
        CallbacksAction::List { store, .. } | CallbacksAction::Redeliver { store, .. } => store,
    };
    let config = match store_config(store_args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let store = match open_store(&config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let done = match action {
        CallbacksAction::List { state, limit, .. } => {
            mmapi_gateway::callbacks::list(&store, state.map(CallbackState::as_str), limit)
                .await
                .map(|items| print_lines(&items))
                .map_err(|e| e.to_string())
        }
        CallbacksAction::Redeliver {
            ids, all_abandoned, ..
        } => {
            let redelivered = if all_abandoned {
                mmapi_gateway::callbacks::redeliver_abandoned(&store).await
            } else {
                mmapi_gateway::callbacks::redeliver(&store, &ids)
                    .await
                    .map(|()| ids)
            };
            redelivered
                .map(|ids| {
                    for id in ids {
                        println!("{id} queued for redelivery");
                    }
                })
                .map_err(|e| e.to_string())
        }
    };
    // Let the writer commit before the process ends.
    let flushed = store.flush().await.map_err(|e| e.to_string());
    match done.and(flushed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mmapi-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The `mmapi-gateway` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use mmapi_gateway::config::{Config, Overrides};

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
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MMAPI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
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
            let gateway = match mmapi_gateway::app::start(config).await {
                Ok(g) => g,
                Err(e) => {
                    eprintln!("mmapi-gateway: cannot start: {e}");
                    return ExitCode::FAILURE;
                }
            };
            tokio::select! {
                result = gateway.wait() => match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => { eprintln!("mmapi-gateway: {e}"); ExitCode::FAILURE }
                },
                _ = tokio::signal::ctrl_c() => {
                    tracing::info!("interrupted; stopping");
                    ExitCode::SUCCESS
                }
            }
        }
        Command::Simulate {
            operator:
                Simulator::Daraja {
                    listen,
                    callback_delay_ms,
                    journal,
                },
        } => {
            let config = mmapi_daraja::simulator::SimulatorConfig {
                callback_delay: Duration::from_millis(callback_delay_ms),
                journal_path: journal,
                ..Default::default()
            };
            let listener = match tokio::net::TcpListener::bind(listen).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("mmapi-gateway: cannot listen on {listen}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            tracing::info!(%listen, "Daraja simulator listening");
            match mmapi_daraja::simulator::serve(config, listener).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mmapi-gateway: simulator: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

//! `mmapi-bench`: the gateway's benchmark (issue 10, "Fast, and scaling out").
//!
//! `mmapi-bench run` starts everything on loopback and measures, in one run: the *ceiling* (a bare axum server
//! answering each POST with a 202), *accept* (merchant payments, polling mode), *end to end* (accept → STK Push to
//! the Daraja simulator → its result callback → completed → the client's callback), and *reads*. Each is run
//! open-loop at a fixed offered rate (latency from each request's due time, so that stalls cannot hide) and
//! closed-loop (the most it does). The gateway and the ceiling server are child processes, measured through
//! `/proc` apart from the load generator. See the README's "Performance" section.

mod ceiling;
mod child;
mod gateway;
mod load;
mod machine;
mod meter;
mod prefill;
mod procstat;
mod receiver;
mod report;
mod run;
mod scenario;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mmapi-bench",
    version,
    about = "Benchmark of the mmapi gateway, on loopback"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the benchmark and print the figures.
    Run(run::RunArgs),
    /// Serve the ceiling: a bare axum server answering every request with a 202 and a small JSON body.
    Ceiling {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ceiling { listen } => ceiling::serve(listen),
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(run::run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mmapi-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `mmapi-bench run`: sets everything up on loopback, runs the chosen scenarios in order and reports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use crate::child::{free_port, ChildProc};
use crate::gateway::{self, Gateway, GatewayOptions};
use crate::machine::Machine;
use crate::meter::Target;
use crate::prefill;
use crate::procstat::MachineCpu;
use crate::report::{NotAvailable, Phase, Report, Settings};
use crate::scenario::{self, workloads::IdCollector, Options};

/// The scenarios, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// A bare axum server answering each POST with a 202.
    Ceiling,
    /// POST merchantpay, polling mode.
    Accept,
    /// Accept → STK Push → result → completed → client callback.
    E2e,
    /// GET /transactions/{ref} and GET /requeststates/{id}.
    Reads,
}

/// `mmapi-bench run` options.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Open-loop offered rate, requests per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of each phase (open loop, then closed loop, per scenario).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// HTTP connections of the load generator: the most requests in flight.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Scenarios to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "ceiling,accept,e2e,reads"
    )]
    pub scenario: Vec<Scenario>,
    /// Pre-fill the store with this many completed payments before measuring (needs a fresh --data-dir, or one
    /// pre-filled with the same number before, which is reused).
    #[arg(long, default_value_t = 0)]
    pub prefill: u64,
    /// The gateway's data directory (default: a fresh temporary one).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Run the gateway's store on this PostgreSQL database (`postgres://…`) instead of SQLite in the data
    /// directory. The database should be empty: the benchmark does not clear it.
    #[arg(long)]
    pub database_url: Option<String>,
    /// A TOML file of gateway settings laid over the benchmark's configuration (e.g. `[dispatch] nice = 0`).
    #[arg(long)]
    pub gateway_config: Option<PathBuf>,
    /// The gateway binary (default: `mmapi-gateway` beside this program, built first when run by cargo).
    #[arg(long)]
    pub gateway: Option<PathBuf>,
    /// Do not have cargo build the gateway first.
    #[arg(long)]
    pub no_build: bool,
    /// Run the Daraja simulator inside the gateway (sandbox mode) instead of as a separate process.
    #[arg(long)]
    pub embedded_simulator: bool,
    /// Write all figures to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where the gateway exposes its group-commit counters (JSON with `commits` and `operations`).
    #[arg(long, default_value = "/internal/stats")]
    pub stats_path: String,
    /// `MMAPI_LOG` for the gateway (default: the gateway's own default, info).
    #[arg(long)]
    pub gateway_log: Option<String>,
    /// Keep the temporary directory (configuration, logs, data) after the run.
    #[arg(long)]
    pub keep: bool,
    /// A quick sanity run: 1 s phases at 100 req/s on 4 connections (overrides --rate, --duration, --connections).
    #[arg(long)]
    pub smoke: bool,
}

impl RunArgs {
    fn options(&self, prefilled: u64) -> Options {
        let (rate, duration, connections) = if self.smoke {
            (100.0, 1.0, 4)
        } else {
            (self.rate, self.duration, self.connections)
        };
        Options {
            rate,
            duration: Duration::from_secs_f64(duration),
            connections,
            max_lag: Duration::from_secs(2),
            settle_timeout: Duration::from_secs(if self.smoke { 15 } else { 60 }),
            callback_timeout: Duration::from_secs(30),
            stats_path: self.stats_path.clone(),
            prefilled,
        }
    }

    fn wants(&self, s: Scenario) -> bool {
        self.scenario.contains(&s)
    }
}

/// Runs the benchmark and prints the report.
pub async fn run(args: RunArgs) -> Result<()> {
    if args.rate <= 0.0 || args.duration <= 0.0 || args.connections == 0 {
        bail!("--rate, --duration and --connections must be positive");
    }
    let work = tempfile::Builder::new().prefix("mmapi-bench-").tempdir()?;
    let result = run_in(&args, work.path()).await;
    if args.keep || result.is_err() {
        let kept = work.keep();
        eprintln!("configuration, logs and data kept in {}", kept.display());
    }
    result
}

async fn run_in(args: &RunArgs, work: &Path) -> Result<()> {
    let machine = Machine::describe();
    let background_busy_pct = background_load().await;
    if background_busy_pct > 20.0 {
        eprintln!(
            "warning: the machine is {background_busy_pct:.0}% busy before the benchmark starts; \
             the figures will be lower than on an idle machine"
        );
    }
    let needs_gateway = args.scenario.iter().any(|s| *s != Scenario::Ceiling);
    let binary = if needs_gateway || args.prefill > 0 {
        Some(gateway::locate_binary(
            args.gateway.as_deref(),
            args.no_build,
        )?)
    } else {
        None
    };
    let data_dir = args.data_dir.clone().unwrap_or_else(|| work.join("data"));
    let gateway_options = binary.as_ref().map(|binary| GatewayOptions {
        binary: binary.clone(),
        data_dir: data_dir.clone(),
        run_dir: work.to_owned(),
        embedded_simulator: args.embedded_simulator,
        log_filter: args.gateway_log.clone(),
        database_url: args.database_url.clone(),
        extra_config: args.gateway_config.clone(),
    });
    if args.prefill > 0 {
        if args.database_url.is_some() {
            bail!("--prefill writes SQLite files; it cannot be combined with --database-url");
        }
        let opts = gateway_options
            .as_ref()
            .context("the gateway is needed to pre-fill")?;
        ensure_prefilled(opts, args.prefill)?;
    }
    let opts = args.options(args.prefill);
    let mut phases: Vec<Phase> = Vec::new();
    let mut not_available = Vec::new();
    if args.wants(Scenario::Ceiling) {
        eprintln!("ceiling…");
        phases.extend(run_ceiling(&opts, work).await?);
    }
    if let Some(gateway_options) = gateway_options.as_ref().filter(|_| needs_gateway) {
        let (gateway_phases, missing) = run_gateway_scenarios(args, &opts, gateway_options).await?;
        phases.extend(gateway_phases);
        not_available = missing;
    }
    let mut report = Report {
        machine,
        settings: Settings {
            offered_rate_per_s: opts.rate,
            duration_s: opts.duration.as_secs_f64(),
            connections: opts.connections,
            store: if args.database_url.is_some() {
                "postgresql"
            } else {
                "sqlite"
            },
            prefilled_transactions: args.prefill,
            simulator: if args.embedded_simulator {
                "in-process (sandbox mode)"
            } else {
                "separate process"
            },
            gateway_binary: binary.map(|b| b.display().to_string()),
            background_busy_pct,
        },
        phases,
        accept_to_ceiling: Default::default(),
        not_available,
    };
    report.compute_ratios();
    println!("{}", report.table());
    if let Some(path) = &args.json {
        report.write_json(path)?;
        eprintln!("figures written to {}", path.display());
    }
    Ok(())
}

/// How busy the machine is before anything starts (other work skews every figure), in percent.
async fn background_load() -> f64 {
    let before = MachineCpu::sample();
    tokio::time::sleep(Duration::from_secs(1)).await;
    MachineCpu::sample().busy_percent_since(&before)
}

/// Starts the ceiling server (this program, `ceiling` subcommand) and measures it.
async fn run_ceiling(opts: &Options, work: &Path) -> Result<Vec<Phase>> {
    let addr = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["ceiling", "--listen", &addr.to_string()]);
    let mut server = ChildProc::spawn("ceiling server", command, &work.join("ceiling.log"))?;
    server.wait_listening(addr, Duration::from_secs(10))?;
    let target = Target {
        addr,
        // The same header as the gateway's requests carry, so that both are driven alike; the ceiling server
        // does not read it.
        authorization: Some(crate::gateway::ceiling_authorization()),
        server: server.pid(),
        simulator: None,
    };
    let phases = scenario::ceiling(opts, &target).await;
    server.stop(Duration::from_secs(5))?;
    phases
}

/// Payments made to warm the gateway up before anything is measured.
const WARM_UP_PAYMENTS: usize = 1_000;

/// Starts the gateway once, warms it up, and runs accept, end to end and reads on it, in that order. Returns the
/// phases, and the reads the gateway does not serve.
async fn run_gateway_scenarios(
    args: &RunArgs,
    opts: &Options,
    gateway_options: &GatewayOptions,
) -> Result<(Vec<Phase>, Vec<NotAvailable>)> {
    let mut gateway = Gateway::start(gateway_options)?;
    let target = Target {
        addr: gateway.addr,
        authorization: Some(gateway.authorization.clone()),
        server: gateway.pid(),
        simulator: gateway.simulator_pid(),
    };
    let collector = Arc::new(IdCollector::new(200_000));
    // Warm up (connection pools, the operator's OAuth token, the page cache), unmeasured; the payments it makes
    // are read later.
    scenario::seed(
        &target,
        &collector,
        WARM_UP_PAYMENTS,
        Duration::from_secs(5),
    )
    .await?;
    crate::meter::settle(&target, opts.settle_timeout).await;
    let mut phases = Vec::new();
    let mut not_available = Vec::new();
    if args.wants(Scenario::Accept) {
        eprintln!("accept…");
        phases.extend(scenario::accept(opts, &target, &collector).await?);
        gateway.check_alive()?;
    }
    if args.wants(Scenario::E2e) {
        eprintln!("end to end…");
        phases.extend(scenario::end_to_end(opts, &target, &collector).await?);
        gateway.check_alive()?;
    }
    if args.wants(Scenario::Reads) {
        eprintln!("reads…");
        let (read_phases, missing) = scenario::reads(opts, &target, &collector).await?;
        phases.extend(read_phases);
        not_available.extend(missing);
        gateway.check_alive()?;
    }
    gateway.stop()?;
    Ok((phases, not_available))
}

/// Makes `data_dir` hold exactly `n` pre-filled payments: reuses an earlier fill of the same size; otherwise has
/// the gateway create (or migrate) its schema, stops it, and bulk-inserts, which [`prefill::fill`] refuses to do
/// into a store that already holds transactions.
fn ensure_prefilled(opts: &GatewayOptions, n: u64) -> Result<()> {
    if prefill::is_prefilled(&opts.data_dir, n) {
        eprintln!(
            "prefill: {} already holds {n} pre-filled payments; reusing it",
            opts.data_dir.display()
        );
        return Ok(());
    }
    eprintln!("prefill: creating the schema with the gateway…");
    Gateway::start(opts)?.stop()?;
    eprintln!("prefill: inserting {n} payments…");
    prefill::fill(&opts.data_dir, n)
}

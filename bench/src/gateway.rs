//! The system under test: the `mmapi-gateway` binary as a child process, with the Daraja simulator either as a
//! second child process (the default, so that the simulated operator's CPU is not counted as the gateway's) or
//! in-process (sandbox mode).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use hyper::header::HeaderValue;
use serde::Serialize;

use crate::child::{free_port, ChildProc};

/// The sandbox credentials the simulator knows (`README.md`, "The Daraja simulator").
const CONSUMER_KEY: &str = "mmapi-sandbox-key";
const CONSUMER_SECRET: &str = "mmapi-sandbox-secret";
const SHORTCODE: &str = "174379";
const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

/// How long a child may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the gateway may take to be ready: it migrates its store first, which can take minutes on a store
/// pre-filled with millions of transactions.
const GATEWAY_READY_TIMEOUT: Duration = Duration::from_secs(600);

/// How the gateway is run.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// The `mmapi-gateway` binary.
    pub binary: PathBuf,
    /// Its data directory (the SQLite store).
    pub data_dir: PathBuf,
    /// Where configuration and logs go.
    pub run_dir: PathBuf,
    /// Run the Daraja simulator inside the gateway (sandbox mode) instead of as its own process.
    pub embedded_simulator: bool,
    /// `MMAPI_LOG` for the gateway, if set.
    pub log_filter: Option<String>,
    /// A PostgreSQL URL for the store (default: SQLite in `data_dir`).
    pub database_url: Option<String>,
    /// A TOML file of gateway settings laid over the benchmark's own (`--gateway-config`).
    pub extra_config: Option<PathBuf>,
}

/// The client the benchmark calls the gateway as (an operator, so that it may read `/internal/stats`); the
/// pre-filled transactions are its.
pub const BENCH_CLIENT_ID: &str = "mmapi-bench";

/// An `Authorization` header shaped like the benchmark client's, for the ceiling server (which ignores it).
pub fn ceiling_authorization() -> HeaderValue {
    HeaderValue::from_static(
        "Basic bW1hcGktYmVuY2g6MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OQ==",
    )
}

/// A running gateway (and its simulator, when that is a separate process).
pub struct Gateway {
    /// Where the GSMA API listens.
    pub addr: SocketAddr,
    /// `Authorization: Basic` of the benchmark client.
    pub authorization: HeaderValue,
    process: ChildProc,
    simulator: Option<ChildProc>,
}

impl Gateway {
    /// Starts the simulator (unless embedded) and the gateway, and waits until both listen.
    pub fn start(opts: &GatewayOptions) -> Result<Self> {
        std::fs::create_dir_all(&opts.run_dir)?;
        let addr = free_port()?;
        let (simulator, simulator_addr) = if opts.embedded_simulator {
            (None, None)
        } else {
            let sim_addr = free_port()?;
            let mut command = Command::new(&opts.binary);
            command.args([
                "simulate",
                "daraja",
                "--listen",
                &sim_addr.to_string(),
                "--callback-delay-ms",
                "0",
            ]);
            let mut sim = ChildProc::spawn(
                "Daraja simulator",
                command,
                &opts.run_dir.join("simulator.log"),
            )?;
            sim.wait_listening(sim_addr, START_TIMEOUT)?;
            (Some(sim), Some(sim_addr))
        };
        let config_path = opts.run_dir.join("gateway.toml");
        let mut config = config_toml(addr, &opts.data_dir, simulator_addr)?;
        if let Some(url) = &opts.database_url {
            config = format!(
                "database_url = {}\n{config}",
                toml::Value::String(url.clone())
            );
        }
        if let Some(extra) = &opts.extra_config {
            config = overlay(&config, extra)?;
        }
        std::fs::write(&config_path, config)
            .with_context(|| format!("cannot write {}", config_path.display()))?;
        let authorization = bench_client(&opts.binary, &config_path)?;
        let mut command = Command::new(&opts.binary);
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(&opts.data_dir)
            // The environment must not override the benchmark's configuration.
            .env_remove("MMAPI_CONFIG")
            .env_remove("MMAPI_LISTEN")
            .env_remove("MMAPI_DATA_DIR")
            .env_remove("MMAPI_DATABASE_URL")
            .env_remove("MMAPI_DATABASE_URL")
            .env_remove("MMAPI_PUBLIC_URL");
        match &opts.log_filter {
            Some(filter) => command.env("MMAPI_LOG", filter),
            None => command.env_remove("MMAPI_LOG"),
        };
        let mut process = ChildProc::spawn("gateway", command, &opts.run_dir.join("gateway.log"))?;
        process.wait_http_ok(addr, "/v1.2/mm/heartbeat", GATEWAY_READY_TIMEOUT)?;
        Ok(Self {
            addr,
            authorization,
            process,
            simulator,
        })
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The separate simulator's process id (`None` when it runs inside the gateway).
    pub fn simulator_pid(&self) -> Option<u32> {
        self.simulator.as_ref().map(ChildProc::pid)
    }

    /// Fails if the gateway or its simulator died.
    pub fn check_alive(&mut self) -> Result<()> {
        self.process.check_alive()?;
        if let Some(sim) = self.simulator.as_mut() {
            sim.check_alive()?;
        }
        Ok(())
    }

    /// Stops the gateway gracefully (so its store is closed cleanly), then the simulator.
    pub fn stop(self) -> Result<()> {
        self.process.stop(Duration::from_secs(10))?;
        if let Some(sim) = self.simulator {
            sim.stop(Duration::from_secs(5))?;
        }
        Ok(())
    }
}

/// Gives the benchmark client fresh credentials (registering it the first time) with the gateway's `clients`
/// command on the store of `config`, and returns its `Authorization` header.
fn bench_client(binary: &Path, config: &Path) -> Result<HeaderValue> {
    let clients = |args: &[&str]| {
        Command::new(binary)
            .arg("clients")
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("MMAPI_DATA_DIR")
            .env_remove("MMAPI_DATABASE_URL")
            .output()
            .with_context(|| format!("cannot run {} clients", binary.display()))
    };
    let mut output = clients(&["rotate", BENCH_CLIENT_ID])?;
    if !output.status.success() {
        output = clients(&[
            "add",
            "--client-id",
            BENCH_CLIENT_ID,
            "--name",
            "benchmark client",
            "--operator",
        ])?;
    }
    if !output.status.success() {
        bail!(
            "cannot register the benchmark client: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let issued: serde_json::Value = serde_json::from_slice(&output.stdout)
        .context("the clients command did not print JSON credentials")?;
    let field = |name: &str| {
        issued[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {name} in the client's credentials"))
    };
    let pair = format!("{}:{}", field("consumerKey")?, field("consumerSecret")?);
    let mut value = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))?;
    value.set_sensitive(true);
    Ok(value)
}

#[derive(Serialize)]
struct ConfigFile {
    listen: String,
    data_dir: PathBuf,
    sandbox: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    simulators: Option<SimulatorsSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    providers: Option<ProvidersSection>,
    callbacks: CallbacksSection,
}

/// The benchmark's callback receiver listens on 127.0.0.1 over plain http, which only loopback mode allows.
#[derive(Serialize)]
struct CallbacksSection {
    allow_loopback: bool,
}

#[derive(Serialize)]
struct SimulatorsSection {
    callback_delay_ms: u64,
    stk_result_deadline_secs: u64,
}

#[derive(Serialize)]
struct ProvidersSection {
    daraja: DarajaSection,
}

#[derive(Serialize)]
struct DarajaSection {
    base_url: String,
    consumer_key: &'static str,
    consumer_secret: &'static str,
    stk_result_deadline_secs: u64,
    stk_unacknowledged_expiry_secs: u64,
    shortcodes: Vec<ShortcodeEntry>,
}

#[derive(Serialize)]
struct ShortcodeEntry {
    shortcode: &'static str,
    passkey: &'static str,
}

/// The gateway's TOML configuration: the simulated customer answers at once (`callback_delay_ms = 0`), and a
/// lost result is asked for by STK Query after 5 s.
pub fn config_toml(
    listen: SocketAddr,
    data_dir: &Path,
    simulator: Option<SocketAddr>,
) -> Result<String> {
    let config = match simulator {
        None => ConfigFile {
            listen: listen.to_string(),
            data_dir: data_dir.to_owned(),
            sandbox: true,
            simulators: Some(SimulatorsSection {
                callback_delay_ms: 0,
                stk_result_deadline_secs: 5,
            }),
            providers: None,
            callbacks: CallbacksSection {
                allow_loopback: true,
            },
        },
        Some(sim) => ConfigFile {
            listen: listen.to_string(),
            data_dir: data_dir.to_owned(),
            sandbox: false,
            simulators: None,
            providers: Some(ProvidersSection {
                daraja: DarajaSection {
                    base_url: format!("http://{sim}"),
                    consumer_key: CONSUMER_KEY,
                    consumer_secret: CONSUMER_SECRET,
                    stk_result_deadline_secs: 5,
                    stk_unacknowledged_expiry_secs: 15,
                    shortcodes: vec![ShortcodeEntry {
                        shortcode: SHORTCODE,
                        passkey: PASSKEY,
                    }],
                },
            }),
            callbacks: CallbacksSection {
                allow_loopback: true,
            },
        },
    };
    Ok(toml::to_string(&config)?)
}

/// Lays the tables of the TOML file `extra` over the configuration `base`: a key of `extra` replaces the same
/// key of `base`, and a table is merged key by key.
fn overlay(base: &str, extra: &Path) -> Result<String> {
    fn merge(into: &mut toml::Table, from: toml::Table) {
        for (key, value) in from {
            match (into.get_mut(&key), value) {
                (Some(toml::Value::Table(mine)), toml::Value::Table(theirs)) => merge(mine, theirs),
                (_, value) => {
                    into.insert(key, value);
                }
            }
        }
    }
    let text = std::fs::read_to_string(extra)
        .with_context(|| format!("cannot read {}", extra.display()))?;
    let from: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", extra.display()))?;
    let mut into: toml::Table = toml::from_str(base)?;
    merge(&mut into, from);
    Ok(toml::to_string(&into)?)
}

/// Finds the gateway binary: `explicit`, or `mmapi-gateway` beside this program (the same `target/<profile>`).
/// Unless `no_build`, and when run by cargo (`CARGO` is set), it first has cargo build it with the same profile,
/// so that the figures are never those of a stale binary.
pub fn locate_binary(explicit: Option<&Path>, no_build: bool) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("--gateway {}: no such file", path.display());
        }
        return Ok(path.to_owned());
    }
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let dir = exe.parent().context("this program has no directory")?;
    let binary = dir.join("mmapi-gateway");
    if !no_build {
        if let Some(cargo) = std::env::var_os("CARGO") {
            build_with_cargo(Path::new(&cargo), dir, &binary)?;
        }
    }
    if !binary.is_file() {
        bail!(
            "{} does not exist: build it first (`cargo build --release -p mmapi-gateway`) or pass --gateway PATH",
            binary.display()
        );
    }
    Ok(binary)
}

fn build_with_cargo(cargo: &Path, profile_dir: &Path, binary: &Path) -> Result<()> {
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--quiet",
        "-p",
        "mmapi-gateway",
        "--bin",
        "mmapi-gateway",
    ]);
    match profile {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    eprintln!("building the gateway ({profile}) with cargo…");
    let status = command.status().context("cannot run cargo")?;
    if !status.success() {
        if binary.is_file() {
            eprintln!(
                "warning: cargo could not build the gateway; measuring the existing {}",
                binary.display()
            );
        } else {
            bail!("cargo could not build the gateway");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_simulator_config() {
        let text = config_toml(
            "127.0.0.1:1000".parse().unwrap(),
            Path::new("/tmp/x"),
            Some("127.0.0.1:2000".parse().unwrap()),
        )
        .unwrap();
        assert!(text.contains("sandbox = false"), "{text}");
        assert!(
            text.contains("base_url = \"http://127.0.0.1:2000\""),
            "{text}"
        );
        assert!(text.contains("[[providers.daraja.shortcodes]]"), "{text}");
    }

    #[test]
    fn embedded_simulator_config() {
        let text =
            config_toml("127.0.0.1:1000".parse().unwrap(), Path::new("/tmp/x"), None).unwrap();
        assert!(text.contains("callback_delay_ms = 0"), "{text}");
        assert!(!text.contains("providers"), "{text}");
    }
}

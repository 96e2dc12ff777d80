//! The command line: `run` (the suite against a server), `list` (the scenarios) and `generate-schemas` (the
//! JSON Schemas from the GSMA YAML).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::report::{summary, Counts, Table};
use crate::runner::{Auth, RunConfig};
use crate::scenario::Scenario;
use crate::schemagen::Generated;
use crate::{glob, junit, profile::Profile, Progress};

/// A GSMA Mobile Money API 1.2 conformance suite and runner.
#[derive(Debug, Parser)]
#[command(name = "mmapi-conformance", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the suite against a server and report case by case.
    Run(RunArgs),
    /// List the scenarios and whether a profile would run or skip them.
    List(ListArgs),
    /// Generate the JSON Schemas from the GSMA MMAPI 1.2 OpenAPI YAML.
    GenerateSchemas(GenerateArgs),
}

#[derive(Debug, Args)]
struct Selection {
    /// Only scenarios whose id (`use-case/name`) matches; `*` and `?` wildcards, comma-separated or repeated.
    #[arg(long = "scenarios", value_name = "GLOB")]
    scenarios: Vec<String>,
    /// Read scenarios from this folder (`<dir>/<use-case>/<name>.yaml`) instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    scenario_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The API base URL, e.g. http://127.0.0.1:8080/v1.2/mm.
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// A profile file, or the name of an embedded profile (sandbox-daraja).
    #[arg(long, value_name = "FILE")]
    profile: String,
    #[command(flatten)]
    selection: Selection,
    /// Credentials: basic:USER:PASS or bearer:TOKEN.
    #[arg(long, value_name = "SCHEME:CREDENTIALS", value_parser = parse_auth)]
    auth: Option<Auth>,
    /// An extra header for every request, K:V (repeatable).
    #[arg(long = "header", value_name = "K:V", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Where the callback listener listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    callback_listen: SocketAddr,
    /// The host put in callback URLs (one the server can reach); the listening IP by default.
    #[arg(long, value_name = "HOST")]
    callback_host: Option<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Mark the scenarios this profile (file or embedded name) would skip.
    #[arg(long, value_name = "FILE")]
    profile: Option<String>,
    #[command(flatten)]
    selection: Selection,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    /// The GSMA YAML (mobile-money-api-specification-1.2.0-master_0.yaml).
    #[arg(long, value_name = "PATH")]
    spec: PathBuf,
    /// The schema folder to write.
    #[arg(long, value_name = "DIR", default_value = "conformance-tests/schemas")]
    out: PathBuf,
    /// Write nothing; fail if the folder differs from what would be generated.
    #[arg(long)]
    check: bool,
}

fn parse_auth(text: &str) -> Result<Auth, String> {
    if let Some(rest) = text.strip_prefix("basic:") {
        let (user, password) = rest
            .split_once(':')
            .ok_or("basic auth is basic:USER:PASS")?;
        Ok(Auth::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    } else if let Some(token) = text.strip_prefix("bearer:") {
        if token.is_empty() {
            return Err("bearer auth is bearer:TOKEN".into());
        }
        Ok(Auth::Bearer(token.to_owned()))
    } else {
        Err("use basic:USER:PASS or bearer:TOKEN".into())
    }
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    let (k, v) = text.split_once(':').ok_or("a header is K:V")?;
    let k = k.trim();
    if k.is_empty() {
        return Err("a header needs a name".into());
    }
    Ok((k.to_owned(), v.trim().to_owned()))
}

/// Parses the command line and runs it; the exit status is 0 on success, 1 when a case (or the schema check)
/// fails, and 2 when the command could not run.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::List(args) => list(args),
        Command::GenerateSchemas(args) => generate(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mmapi-conformance: {message}");
            ExitCode::from(2)
        }
    }
}

fn select(selection: &Selection) -> Result<Vec<Scenario>, String> {
    let all = match &selection.scenario_dir {
        Some(dir) => Scenario::from_dir(dir),
        None => Scenario::embedded(),
    }
    .map_err(|e| e.to_string())?;
    let patterns = selection.scenarios.join(",");
    let chosen: Vec<Scenario> = all
        .into_iter()
        .filter(|s| patterns.is_empty() || glob::matches_any(&patterns, &s.id))
        .collect();
    if chosen.is_empty() {
        return Err(format!("no scenario matches '{patterns}'"));
    }
    Ok(chosen)
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    let profile = Profile::load(&args.profile).map_err(|e| e.to_string())?;
    let scenarios = select(&args.selection)?;
    let catalogue = crate::catalogue::Catalogue::embedded().map_err(|e| e.to_string())?;
    let spec = catalogue.spec().clone();
    let config = RunConfig {
        base_url: args.base_url.clone(),
        profile,
        auth: args.auth,
        headers: args.headers,
    };
    let tty = std::io::stdout().is_terminal();
    let table = Table::new(scenarios.iter().map(|s| s.id.as_str()));
    println!(
        "mmapi-conformance: {} scenarios against {} with profile {} (schemas from {} {})",
        scenarios.len(),
        args.base_url,
        config.profile.name,
        spec.file,
        spec.version.as_deref().unwrap_or("")
    );
    println!("{}", table.header());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let results = runtime
        .block_on(crate::run_suite(
            config,
            &scenarios,
            args.callback_listen,
            args.callback_host.as_deref(),
            |progress| {
                let mut out = std::io::stdout().lock();
                match progress {
                    Progress::Started {
                        index,
                        total,
                        scenario,
                    } if tty => {
                        let _ = write!(out, "\r\x1b[2K[{}/{total}] {} …", index + 1, scenario.id);
                    }
                    Progress::Started { .. } => {}
                    Progress::Finished(result) => {
                        if tty {
                            let _ = write!(out, "\r\x1b[2K");
                        }
                        let _ = writeln!(out, "{}", table.row(result));
                    }
                }
                let _ = out.flush();
            },
        ))
        .map_err(|e| e.to_string())?;
    if let Some(path) = &args.report {
        std::fs::write(path, junit::render(&results))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!();
    for line in summary(&results) {
        println!("{line}");
    }
    Ok(if Counts::of(&results).failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list(args: ListArgs) -> Result<ExitCode, String> {
    let profile = args
        .profile
        .as_deref()
        .map(Profile::load)
        .transpose()
        .map_err(|e| e.to_string())?;
    for s in select(&args.selection)? {
        let missing = profile
            .as_ref()
            .map(|p| p.missing(&s.requires))
            .unwrap_or_default();
        let mark = if missing.is_empty() {
            String::new()
        } else {
            format!("  [skipped: requires {}]", missing.join(", "))
        };
        println!("{:<48} {}{mark}", s.id, s.title);
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(args: GenerateArgs) -> Result<ExitCode, String> {
    let generated = Generated::from_spec_file(&args.spec).map_err(|e| e.to_string())?;
    if args.check {
        let differences = generated
            .differences(&args.out)
            .map_err(|e| e.to_string())?;
        if differences.is_empty() {
            println!(
                "{}: up to date ({} files)",
                args.out.display(),
                generated.files.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        for d in &differences {
            println!("{d}");
        }
        println!(
            "{}: {} differences; regenerate with `mmapi-conformance generate-schemas --spec {} --out {}`",
            args.out.display(),
            differences.len(),
            args.spec.display(),
            args.out.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let changed = generated.write(&args.out).map_err(|e| e.to_string())?;
    println!(
        "{}: {} files generated, {changed} written or removed",
        args.out.display(),
        generated.files.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_and_header_arguments() {
        assert!(
            matches!(parse_auth("basic:u:p:q"), Ok(Auth::Basic { user, password }) if user == "u" && password == "p:q")
        );
        assert!(matches!(parse_auth("bearer:t"), Ok(Auth::Bearer(t)) if t == "t"));
        assert!(parse_auth("basic:nopass").is_err());
        assert!(parse_auth("digest:x").is_err());
        assert_eq!(
            parse_header("X-API-Key: abc").unwrap(),
            ("X-API-Key".into(), "abc".into())
        );
        assert!(parse_header("nocolon").is_err());
    }

    #[test]
    fn the_command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "mmapi-conformance",
            "run",
            "--base-url",
            "http://127.0.0.1:8080/v1.2/mm",
            "--profile",
            "sandbox-daraja",
            "--scenarios",
            "heartbeat/*",
            "--header",
            "X-API-Key:k",
            "--auth",
            "bearer:t",
            "--report",
            "j.xml",
        ])
        .unwrap();
        assert!(matches!(cli.command, Command::Run(_)));
    }
}

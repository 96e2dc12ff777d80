//! Measuring a phase from outside the measured processes: CPU time and peak memory through `/proc`, the
//! machine's CPU use, and the gateway's commit counter where it exposes one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, StatusCode};
use serde::Serialize;

use crate::load::conn::Conn;
use crate::procstat::{self, MachineCpu, OthersCpu, ProcSample};

/// The processes a phase is measured on.
#[derive(Clone, Debug)]
pub struct Target {
    /// Where the server under test listens.
    pub addr: SocketAddr,
    /// The `Authorization` header every request carries (the gateway's benchmark client).
    pub authorization: Option<HeaderValue>,
    /// The server under test (the gateway, or the ceiling server).
    pub server: u32,
    /// The Daraja simulator, when it is a process of its own.
    pub simulator: Option<u32>,
}

impl Target {
    /// The measured processes and this one.
    fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.server, std::process::id()];
        pids.extend(self.simulator);
        pids
    }
}

/// What a phase cost.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Usage {
    /// Wall time measured, in seconds.
    pub wall_s: f64,
    /// CPU time of the server under test, in seconds.
    pub server_cpu_s: f64,
    /// CPU time of the separate Daraja simulator, in seconds.
    pub simulator_cpu_s: f64,
    /// CPU time of this load generator (and callback receiver), in seconds.
    pub bench_cpu_s: f64,
    /// Share of the whole machine's CPU that was busy, in percent.
    pub machine_busy_pct: f64,
    /// The share of the machine's CPU used by processes other than the server, the simulator and this benchmark
    /// (other work on the machine skews the figures), in percent.
    pub other_load_pct: f64,
    /// Programs other processes started during the phase (a build or test run beside the benchmark).
    pub other_processes_started: u64,
    /// The server's peak resident memory during the phase, in MiB.
    pub server_peak_rss_mib: f64,
    /// Whether that peak is the phase's own (false: the process's lifetime peak).
    pub peak_is_per_phase: bool,
}

/// The group-commit writer's counters, as the gateway exposes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// Database transactions committed.
    pub commits: u64,
    /// Changes applied.
    pub operations: u64,
}

/// A phase being measured.
pub struct Meter {
    target: Target,
    started: Instant,
    server: ProcSample,
    simulator: ProcSample,
    bench: ProcSample,
    machine: MachineCpu,
    others: OthersCpu,
    peak_reset: bool,
}

fn sample(pid: Option<u32>) -> ProcSample {
    pid.and_then(|p| procstat::sample(p).ok())
        .unwrap_or_default()
}

impl Meter {
    /// Starts measuring (and resets the server's peak RSS, where the kernel allows).
    pub fn start(target: &Target) -> Self {
        let peak_reset = procstat::reset_peak_rss(target.server);
        Self {
            target: target.clone(),
            started: Instant::now(),
            server: sample(Some(target.server)),
            simulator: sample(target.simulator),
            bench: procstat::sample_self().unwrap_or_default(),
            machine: MachineCpu::sample(),
            others: OthersCpu::sample(&target.pids()),
            peak_reset,
        }
    }

    /// What the phase cost so far.
    pub fn finish(&self) -> Usage {
        let server = sample(Some(self.target.server));
        let simulator = sample(self.target.simulator);
        let bench = procstat::sample_self().unwrap_or_default();
        let wall_s = self.started.elapsed().as_secs_f64();
        let server_cpu_s = server.cpu_secs - self.server.cpu_secs;
        let simulator_cpu_s = simulator.cpu_secs - self.simulator.cpu_secs;
        let bench_cpu_s = bench.cpu_secs - self.bench.cpu_secs;
        let machine_busy_pct = MachineCpu::sample().busy_percent_since(&self.machine);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let others = OthersCpu::sample(&self.target.pids());
        Usage {
            wall_s,
            server_cpu_s,
            simulator_cpu_s,
            bench_cpu_s,
            machine_busy_pct,
            other_load_pct: 100.0 * others.cpu_secs_since(&self.others)
                / (wall_s * cores).max(1e-9),
            other_processes_started: others.forks_since(&self.others),
            server_peak_rss_mib: server.peak_rss_kib as f64 / 1024.0,
            peak_is_per_phase: self.peak_reset,
        }
    }
}

/// Waits until the server (and simulator) are idle, i.e. the work a phase left behind (dispatch, results,
/// callbacks) is done: two successive 200 ms intervals with less than 2% of a core used. Gives up after
/// `timeout`; returns how long it waited.
pub async fn settle(target: &Target, timeout: Duration) -> Duration {
    const INTERVAL: Duration = Duration::from_millis(200);
    const QUIET_CPU_S: f64 = 0.004;
    let started = Instant::now();
    let busy = || sample(Some(target.server)).cpu_secs + sample(target.simulator).cpu_secs;
    let mut last = busy();
    let mut quiet = 0;
    while started.elapsed() < timeout && quiet < 2 {
        tokio::time::sleep(INTERVAL).await;
        let now = busy();
        if now - last < QUIET_CPU_S {
            quiet += 1;
        } else {
            quiet = 0;
        }
        last = now;
    }
    started.elapsed()
}

/// Reads the gateway's group-commit counters from `GET {path}`, expecting JSON with `commits` and `operations`
/// (at the top level or under `store`). `None` when the gateway has no such endpoint.
pub async fn store_stats(target: &Target, path: &str) -> Option<StoreStats> {
    let mut conn = Conn::open(target.addr).await.ok()?;
    let mut request = Request::get(path).header(HOST, target.addr.to_string());
    if let Some(authorization) = &target.authorization {
        request = request.header(hyper::header::AUTHORIZATION, authorization.clone());
    }
    let request = request.body(Full::new(Bytes::new())).ok()?;
    let (status, body) = conn.send(request).await.ok()?;
    if status != StatusCode::OK {
        return None;
    }
    parse_store_stats(&body)
}

fn parse_store_stats(body: &[u8]) -> Option<StoreStats> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let section = json.get("store").unwrap_or(&json);
    Some(StoreStats {
        commits: section.get("commits")?.as_u64()?,
        operations: section.get("operations")?.as_u64()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_stats_shapes() {
        let nested = br#"{"store":{"commits":10,"operations":40}}"#;
        let flat = br#"{"commits":1,"operations":2,"other":true}"#;
        assert_eq!(
            parse_store_stats(nested),
            Some(StoreStats {
                commits: 10,
                operations: 40
            })
        );
        assert_eq!(parse_store_stats(flat).map(|s| s.operations), Some(2));
        assert_eq!(parse_store_stats(b"{\"errorCategory\":\"x\"}"), None);
    }
}

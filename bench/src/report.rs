//! The figures: one [`Phase`] per scenario and pacing, printed as a table and written as JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::load::stats::LatencySummary;
use crate::load::{LoadResult, Pace};
use crate::machine::Machine;
use crate::meter::{StoreStats, Usage};

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub phases: Vec<Phase>,
    /// Accept throughput over the ceiling's, for the same pacing.
    pub accept_to_ceiling: Ratios,
    /// Measurements that cannot be taken yet, and why.
    pub not_available: Vec<NotAvailable>,
}

/// How the run was set up.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub offered_rate_per_s: f64,
    pub duration_s: f64,
    pub connections: usize,
    pub store: &'static str,
    /// Completed payments in the store before the run.
    pub prefilled_transactions: u64,
    /// `separate process` or `in-process (sandbox mode)`.
    pub simulator: &'static str,
    pub gateway_binary: Option<String>,
    /// How busy the machine was in the second before the run, in percent (other work skews the figures).
    pub background_busy_pct: f64,
}

/// A measurement that cannot be taken yet.
#[derive(Clone, Debug, Serialize)]
pub struct NotAvailable {
    pub scenario: &'static str,
    pub reason: String,
}

/// Accept over ceiling.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Ratios {
    pub open_loop: Option<f64>,
    pub closed_loop: Option<f64>,
}

/// One scenario at one pacing.
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub scenario: &'static str,
    /// `open` or `closed`.
    pub mode: &'static str,
    pub offered_rate_per_s: Option<f64>,
    pub connections: usize,
    /// Successes per second: answers (ceiling, accept, reads) or delivered callbacks (end to end).
    pub throughput_per_s: f64,
    /// What `latency` measures.
    pub latency_of: &'static str,
    pub latency: LatencySummary,
    /// End to end: the latency of the `202` answers themselves.
    pub http_latency: Option<LatencySummary>,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub errors: u64,
    /// Open loop: requests not sent because the generator fell too far behind (offered rate above capacity).
    pub dropped: u64,
    /// Open loop: requests sent over 1 ms after their due time because every connection was busy.
    pub late: u64,
    /// Open loop: how late the generator itself started requests, 99th percentile.
    pub start_lag_p99_ms: f64,
    /// End to end: accepted payments whose callback never came.
    pub missing_callbacks: Option<u64>,
    /// End to end: callbacks that were not a completed transaction.
    pub not_completed: Option<u64>,
    /// End to end: second callbacks for a payment, and callbacks for no payment of this run.
    pub stray_callbacks: Option<u64>,
    /// Seconds from the first due time to the last success.
    pub elapsed_s: f64,
    /// Seconds waited afterwards for the server to finish the work the phase left (dispatch, results).
    pub settle_s: f64,
    pub usage: Usage,
    /// Server CPU seconds per 1,000 successes (measured over the phase and its settling).
    pub cpu_s_per_1k: f64,
    /// Database commits per transaction accepted (`None`: the gateway does not expose its commit counter).
    pub commits_per_tx: Option<f64>,
    /// Changes per commit (the group-commit batch size).
    pub changes_per_commit: Option<f64>,
}

impl Phase {
    /// Figures from a load phase; `throughput_per_s` and latency as the load generator saw them.
    pub fn from_load(
        scenario: &'static str,
        result: &LoadResult,
        usage: Usage,
        settle_s: f64,
    ) -> Self {
        let (mode, offered) = match result.plan.pace {
            Pace::Open { rate } => ("open", Some(rate)),
            Pace::Closed => ("closed", None),
        };
        Self {
            scenario,
            mode,
            offered_rate_per_s: offered,
            connections: result.plan.connections,
            throughput_per_s: result.throughput(),
            latency_of: if offered.is_some() {
                "answer, from the due time"
            } else {
                "answer, from the send time"
            },
            latency: LatencySummary::of(&result.latency),
            http_latency: None,
            sent: result.sent,
            ok: result.ok,
            failed: result.failed,
            errors: result.errors,
            dropped: result.dropped(),
            late: result.late,
            start_lag_p99_ms: result.start_lag.value_at_quantile(0.99) as f64 / 1000.0,
            missing_callbacks: None,
            not_completed: None,
            stray_callbacks: None,
            elapsed_s: result.elapsed.as_secs_f64(),
            settle_s,
            usage,
            cpu_s_per_1k: per_1k(usage.server_cpu_s, result.ok),
            commits_per_tx: None,
            changes_per_commit: None,
        }
    }

    /// Adds the commit counters read before and after the phase, for `transactions` accepted payments.
    pub fn with_commits(
        mut self,
        before: Option<StoreStats>,
        after: Option<StoreStats>,
        transactions: u64,
    ) -> Self {
        if let (Some(b), Some(a)) = (before, after) {
            let commits = a.commits.saturating_sub(b.commits);
            let changes = a.operations.saturating_sub(b.operations);
            if transactions > 0 {
                self.commits_per_tx = Some(commits as f64 / transactions as f64);
            }
            if commits > 0 {
                self.changes_per_commit = Some(changes as f64 / commits as f64);
            }
        }
        self
    }
}

/// CPU seconds per 1,000 of `count`.
pub fn per_1k(cpu_s: f64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        cpu_s * 1000.0 / count as f64
    }
}

impl Report {
    /// Computes the accept-to-ceiling ratios from the phases.
    pub fn compute_ratios(&mut self) {
        let find = |scenario: &str, mode: &str| {
            self.phases
                .iter()
                .find(|p| p.scenario == scenario && p.mode == mode)
                .map(|p| p.throughput_per_s)
        };
        let ratio = |mode: &str| match (find("accept", mode), find("ceiling", mode)) {
            (Some(a), Some(c)) if c > 0.0 => Some(a / c),
            _ => None,
        };
        self.accept_to_ceiling = Ratios {
            open_loop: ratio("open"),
            closed_loop: ratio("closed"),
        };
    }

    /// Writes the report as JSON.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// The report as a readable table.
    pub fn table(&self) -> String {
        let m = &self.machine;
        let s = &self.settings;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "machine: {} cores, {}, {} MiB, Linux {}; benchmark built {}",
            m.cores, m.cpu_model, m.memory_mib, m.kernel, m.bench_profile
        );
        let _ = writeln!(
            out,
            "gateway: {}; store {} with {} payments pre-filled; Daraja simulator: {}",
            s.gateway_binary.as_deref().unwrap_or("not run"),
            s.store,
            s.prefilled_transactions,
            s.simulator
        );
        let _ = writeln!(
            out,
            "load: open loop at {} req/s and closed loop, {} s each, {} connections; machine {:.0}% busy before \
             the run\n",
            s.offered_rate_per_s, s.duration_s, s.connections, s.background_busy_pct
        );
        let _ = writeln!(
            out,
            "{:<11} {:<6} {:>9} {:>9} {:>7} {:>7} {:>8} {:>8} {:>9} {:>8} {:>7} {:>7}  notes",
            "scenario",
            "mode",
            "offered/s",
            "done/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "CPU s/1k",
            "RSS MiB",
            "busy %",
            "cmt/tx"
        );
        for p in &self.phases {
            let _ = writeln!(
                out,
                "{:<11} {:<6} {:>9} {:>9.0} {:>7.2} {:>7.2} {:>8.2} {:>8.2} {:>9.3} {:>8.1} {:>7.0} {:>7}  {}",
                p.scenario,
                p.mode,
                p.offered_rate_per_s
                    .map(|r| format!("{r:.0}"))
                    .unwrap_or_else(|| "max".into()),
                p.throughput_per_s,
                p.latency.p50_ms,
                p.latency.p99_ms,
                p.latency.p999_ms,
                p.latency.max_ms,
                p.cpu_s_per_1k,
                p.usage.server_peak_rss_mib,
                p.usage.machine_busy_pct,
                p.commits_per_tx
                    .map(|c| format!("{c:.3}"))
                    .unwrap_or_else(|| "n/a".into()),
                notes(p)
            );
        }
        for na in &self.not_available {
            let _ = writeln!(out, "{:<11} not available: {}", na.scenario, na.reason);
        }
        let ratio = |r: Option<f64>| {
            r.map(|v| format!("{:.0}%", v * 100.0))
                .unwrap_or_else(|| "n/a".into())
        };
        let _ = writeln!(
            out,
            "\naccept / ceiling throughput: open loop {}, closed loop {}",
            ratio(self.accept_to_ceiling.open_loop),
            ratio(self.accept_to_ceiling.closed_loop)
        );
        out
    }
}

/// The anomalies and extra figures of a phase, for the table's last column.
fn notes(p: &Phase) -> String {
    let mut notes = Vec::new();
    if p.sent > 0 {
        notes.push(format!("n={}", p.ok));
    }
    for (label, value) in [
        ("failed", p.failed),
        ("errors", p.errors),
        ("dropped", p.dropped),
        ("late", p.late),
    ] {
        if value > 0 {
            notes.push(format!("{label}={value}"));
        }
    }
    if let Some(missing) = p.missing_callbacks {
        notes.push(format!("missing callbacks={missing}"));
    }
    if let Some(n) = p.not_completed.filter(|n| *n > 0) {
        notes.push(format!("not completed={n}"));
    }
    if let Some(n) = p.stray_callbacks.filter(|n| *n > 0) {
        notes.push(format!("stray callbacks={n}"));
    }
    if let Some(h) = &p.http_latency {
        notes.push(format!("202 p99={:.2}ms", h.p99_ms));
    }
    if p.usage.simulator_cpu_s > 0.0 {
        notes.push(format!("sim CPU={:.2}s", p.usage.simulator_cpu_s));
    }
    notes.push(format!("bench CPU={:.2}s", p.usage.bench_cpu_s));
    if p.usage.other_load_pct >= 3.0 || p.usage.other_processes_started > 0 {
        notes.push(format!(
            "OTHER LOAD={:.0}% ({} programs started)",
            p.usage.other_load_pct, p.usage.other_processes_started
        ));
    }
    if p.settle_s >= 0.5 {
        notes.push(format!("settle={:.1}s", p.settle_s));
    }
    if let Some(c) = p.changes_per_commit {
        notes.push(format!("changes/commit={c:.1}"));
    }
    notes.join(" ")
}

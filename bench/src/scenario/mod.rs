//! The scenarios. Each runs an open-loop phase at the offered rate, then a closed-loop phase, and measures the
//! server under test from outside while the work each phase caused (dispatch, operator results) drains.

pub mod workloads;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hyper::header::HeaderValue;

use crate::load::{self, Pace, Plan, Workload};
use crate::meter::{self, Meter, Target};
use crate::receiver::Receiver;
use crate::report::{per_1k, NotAvailable, Phase};
use workloads::{CallbackMode, IdCollector, Payments, ReadKind, Reads};

/// How every scenario is paced and measured.
#[derive(Clone, Debug)]
pub struct Options {
    /// Open-loop offered rate, requests per second.
    pub rate: f64,
    /// Length of each phase.
    pub duration: Duration,
    /// Connections (and so the most requests in flight).
    pub connections: usize,
    /// Open loop: stop sending when this far behind schedule.
    pub max_lag: Duration,
    /// The longest wait for the server to go idle after a phase.
    pub settle_timeout: Duration,
    /// The longest wait for the callbacks of an end-to-end phase.
    pub callback_timeout: Duration,
    /// Where the gateway exposes its group-commit counters.
    pub stats_path: String,
    /// Payments pre-filled into the store (the reads pick among them too).
    pub prefilled: u64,
}

impl Options {
    fn plan(&self, pace: Pace) -> Plan {
        Plan {
            pace,
            duration: self.duration,
            connections: self.connections,
            max_lag: self.max_lag,
        }
    }

    fn paces(&self) -> [Pace; 2] {
        [Pace::Open { rate: self.rate }, Pace::Closed]
    }
}

/// Runs `workload` for one phase and measures it, settling afterwards.
async fn measure<W: Workload>(
    scenario: &'static str,
    opts: &Options,
    target: &Target,
    workload: Arc<W>,
    pace: Pace,
) -> Result<Phase> {
    let before = meter::store_stats(target, &opts.stats_path).await;
    let meter = Meter::start(target);
    let result = load::run(target.addr, workload, opts.plan(pace)).await?;
    let settled = meter::settle(target, opts.settle_timeout).await;
    let usage = meter.finish();
    let after = meter::store_stats(target, &opts.stats_path).await;
    let phase = Phase::from_load(scenario, &result, usage, settled.as_secs_f64());
    Ok(phase.with_commits(before, after, result.ok))
}

/// The ceiling: the bare server, driven exactly like the gateway's accept.
pub async fn ceiling(opts: &Options, target: &Target) -> Result<Vec<Phase>> {
    let mut phases = Vec::new();
    for pace in opts.paces() {
        let workload = Arc::new(Payments::new(target));
        let mut phase = measure("ceiling", opts, target, workload, pace).await?;
        phase.commits_per_tx = None;
        phases.push(phase);
    }
    Ok(phases)
}

/// Accept: merchant payments in polling mode; each `202` comes after its commit. The CPU figure covers each
/// payment's whole life (accept, STK Push, result, finalisation), as the phase settles before it is read.
pub async fn accept(
    opts: &Options,
    target: &Target,
    collector: &Arc<IdCollector>,
) -> Result<Vec<Phase>> {
    let mut phases = Vec::new();
    for pace in opts.paces() {
        let workload = Arc::new(Payments::new(target).collecting(collector.clone()));
        phases.push(measure("accept", opts, target, workload, pace).await?);
    }
    Ok(phases)
}

/// End to end: accept → STK Push → the simulator's result callback → completed → the client's callback `PUT`
/// to a local receiver. Open loop: completed/s is callbacks received over the time until the last one came,
/// latency from each payment's due time to its callback. Closed loop: each connection waits for its payment's
/// callback before sending the next.
pub async fn end_to_end(
    opts: &Options,
    target: &Target,
    collector: &Arc<IdCollector>,
) -> Result<Vec<Phase>> {
    let receiver = Receiver::start().await?;
    let url = HeaderValue::from_str(&receiver.url())?;
    let mut phases = Vec::new();
    for pace in opts.paces() {
        let wait = matches!(pace, Pace::Closed).then_some(opts.callback_timeout);
        let workload = Arc::new(
            Payments::new(target)
                .with_callbacks(CallbackMode {
                    url: url.clone(),
                    callbacks: receiver.callbacks.clone(),
                    wait,
                })
                .collecting(collector.clone()),
        );
        let before = meter::store_stats(target, &opts.stats_path).await;
        let meter = Meter::start(target);
        let result = load::run(target.addr, workload, opts.plan(pace)).await?;
        receiver.callbacks.wait_all(opts.callback_timeout).await;
        let settled = meter::settle(target, opts.settle_timeout).await;
        let usage = meter.finish();
        let after = meter::store_stats(target, &opts.stats_path).await;
        let tally = receiver.callbacks.take();
        let mut phase = Phase::from_load("e2e", &result, usage, settled.as_secs_f64())
            .with_commits(before, after, tally.expected);
        if let Pace::Open { .. } = pace {
            let elapsed = tally
                .last_arrival
                .map(|t| t.saturating_duration_since(result.started))
                .unwrap_or_default();
            phase.throughput_per_s = load::per_second(tally.delivered, elapsed);
            phase.elapsed_s = elapsed.as_secs_f64();
            phase.http_latency = Some(phase.latency);
            phase.latency = load::stats::LatencySummary::of(&tally.latency);
            phase.latency_of = "callback received, from the due time";
            phase.cpu_s_per_1k = per_1k(usage.server_cpu_s, tally.delivered);
        } else {
            phase.latency_of = "callback received, from the send time";
        }
        phase.missing_callbacks = Some(tally.missing());
        phase.not_completed = Some(tally.not_completed);
        phase.stray_callbacks = Some(tally.duplicates + tally.unexpected);
        phases.push(phase);
    }
    Ok(phases)
}

/// Reads: `GET /transactions/{ref}` and `GET /requeststates/{id}` of payments stored before (accepted in this run,
/// or pre-filled), chosen at random; and the newest page of the payer's account transactions, where the gateway
/// serves it. Returns the phases, and the reads that could not be measured.
pub async fn reads(
    opts: &Options,
    target: &Target,
    collector: &IdCollector,
) -> Result<(Vec<Phase>, Vec<NotAvailable>)> {
    let accepted = Arc::new(collector.snapshot());
    let mut phases = Vec::new();
    for (name, kind) in [
        ("read-tx", ReadKind::Transaction),
        ("read-state", ReadKind::RequestState),
    ] {
        phases.extend(read_phases(opts, target, name, kind, &accepted).await?);
    }
    // Last, as a page that is too slow to measure keeps the gateway busy after the probe gives up on it.
    let mut not_available = Vec::new();
    match account_page_probe(target).await {
        Ok(()) => {
            // It can be slow enough to need fewer requests in flight.
            let opts = Options {
                connections: opts.connections.min(ACCOUNT_PAGE_CONNECTIONS),
                ..opts.clone()
            };
            let kind = ReadKind::AccountTransactions;
            phases.extend(read_phases(&opts, target, "read-acct", kind, &accepted).await?);
        }
        Err(reason) => not_available.push(NotAvailable {
            scenario: "read-acct",
            reason,
        }),
    }
    Ok((phases, not_available))
}

/// One read, open loop then closed loop.
async fn read_phases(
    opts: &Options,
    target: &Target,
    name: &'static str,
    kind: ReadKind,
    accepted: &Arc<Vec<workloads::AcceptedIds>>,
) -> Result<Vec<Phase>> {
    let mut phases = Vec::new();
    for pace in opts.paces() {
        let workload = Arc::new(Reads::new(target, kind, accepted.clone(), opts.prefilled));
        let mut phase = measure(name, opts, target, workload, pace).await?;
        phase.commits_per_tx = None;
        phase.changes_per_commit = None;
        phases.push(phase);
    }
    Ok(phases)
}

/// The most account-page requests in flight.
const ACCOUNT_PAGE_CONNECTIONS: usize = 8;

/// Asks for the account page once: measured only if that is answered 200 (it may not exist, or be too slow).
async fn account_page_probe(target: &Target) -> Result<(), String> {
    let path = format!("{}{}", workloads::API, workloads::ACCOUNT_PAGE);
    let mut conn = crate::load::conn::Conn::open(target.addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut request =
        hyper::Request::get(&path).header(hyper::header::HOST, target.addr.to_string());
    if let Some(authorization) = &target.authorization {
        request = request.header(hyper::header::AUTHORIZATION, authorization.clone());
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    match conn.send(request).await {
        Ok((status, _)) if status == hyper::StatusCode::OK => Ok(()),
        Ok((hyper::StatusCode::NOT_FOUND, _)) => {
            Err(format!("the gateway does not serve GET {path} (404)"))
        }
        Ok((status, _)) => Err(format!("GET {path} answered {status}")),
        Err(e) => Err(format!(
            "GET {path} got no answer after {:.0} s ({e}): too slow to measure",
            started.elapsed().as_secs_f64()
        )),
    }
}

/// Accepts payments, unmeasured, until `collector` holds `count` ids (for at most about `limit`): a warm-up,
/// which also leaves the reads something to read when the accept scenario does not run.
pub async fn seed(
    target: &Target,
    collector: &Arc<IdCollector>,
    count: usize,
    limit: Duration,
) -> Result<()> {
    let started = std::time::Instant::now();
    while collector.len() < count && started.elapsed() < limit {
        let workload = Arc::new(Payments::new(target).collecting(collector.clone()));
        let plan = Plan {
            pace: Pace::Closed,
            duration: Duration::from_millis(500),
            connections: 8,
            max_lag: Duration::from_secs(1),
        };
        load::run(target.addr, workload, plan).await?;
    }
    Ok(())
}

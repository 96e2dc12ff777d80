//! The load generator: a fixed number of connections, each driven by one task, paced either open-loop (request
//! `i` is due at `t0 + i / rate`, whatever happened to the others) or closed-loop (each connection sends its next
//! request as soon as the previous one is answered).
//!
//! Open-loop latency is measured from the time each request was *due*, not from when it could be sent, so a
//! stall of the server shows up in full in the percentiles (no coordinated omission). A [`pacer::Pacer`] releases
//! the requests as they fall due, and the first free connection takes each: when every connection is busy, the
//! request waits and is counted as `late`; when the generator falls more than [`Plan::max_lag`] behind, it stops
//! sending and the requests it did not send are counted as `dropped`.

pub mod conn;
pub mod pacer;
pub mod stats;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::StatusCode;

use conn::{Conn, Req};
use stats::new_histogram;

/// A request is `late` when it could start only this long after it was due (every connection was busy).
const LATE_AFTER: Duration = Duration::from_millis(1);

/// What a benchmark sends, and how it judges the answers.
pub trait Workload: Send + Sync + 'static {
    /// What [`Workload::request`] hands to [`Workload::done`] about one request.
    type Ticket: Send;

    /// Builds request number `seq`, due at `due`.
    fn request(&self, seq: u64, due: Instant) -> (Req, Self::Ticket);

    /// Judges the answer to a request: true if it succeeded. The connection sends nothing else until the
    /// returned future completes, so a workload may wait here for more than the HTTP answer (a callback).
    fn done(
        &self,
        ticket: Self::Ticket,
        status: StatusCode,
        body: Bytes,
    ) -> impl Future<Output = bool> + Send;
}

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// A fixed offered rate, in requests per second.
    Open { rate: f64 },
    /// Back to back on every connection.
    Closed,
}

/// One measured phase.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub pace: Pace,
    /// How long requests are started for.
    pub duration: Duration,
    /// Connections, and so the most requests in flight.
    pub connections: usize,
    /// Open loop: stop sending when this far behind schedule (the offered rate is beyond capacity).
    pub max_lag: Duration,
}

/// What one phase measured.
pub struct LoadResult {
    pub plan: Plan,
    /// Requests the open-loop schedule held for the duration (0 for closed loop).
    pub planned: u64,
    pub sent: u64,
    /// Answers the workload judged successful.
    pub ok: u64,
    /// Answers it judged unsuccessful.
    pub failed: u64,
    /// Requests that got no HTTP answer.
    pub errors: u64,
    /// Requests sent more than [`LATE_AFTER`] after their due time.
    pub late: u64,
    /// The first due time.
    pub started: Instant,
    /// From the first due time to the last answer.
    pub elapsed: Duration,
    /// Latency of successful requests, in microseconds (from the due time in open loop).
    pub latency: Histogram<u64>,
    /// How long after its due time each request was sent, in microseconds (open loop).
    pub start_lag: Histogram<u64>,
}

impl LoadResult {
    /// Open-loop requests that were never sent because the generator fell too far behind.
    pub fn dropped(&self) -> u64 {
        self.planned.saturating_sub(self.sent)
    }

    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        per_second(self.ok, self.elapsed)
    }
}

/// `count` per second over `elapsed`.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// Where the connections take their next request from.
enum Schedule {
    /// Open loop: as the pacer releases them.
    Paced(pacer::Pacer),
    /// Closed loop: at once, until `end`.
    BackToBack { end: Instant, next: AtomicU64 },
}

impl Schedule {
    /// The next request's number and due time; `None` when the phase is over.
    async fn next(&self) -> Option<(u64, Instant)> {
        match self {
            Schedule::Paced(pacer) => {
                let seq = pacer.next().await?;
                Some((seq, pacer.due(seq)))
            }
            Schedule::BackToBack { end, next } => {
                let now = Instant::now();
                (now < *end).then(|| (next.fetch_add(1, Ordering::Relaxed), now))
            }
        }
    }
}

struct Shared<W> {
    workload: Arc<W>,
    plan: Plan,
    schedule: Schedule,
}

#[derive(Default)]
struct WorkerTally {
    sent: u64,
    ok: u64,
    failed: u64,
    errors: u64,
    late: u64,
    last_done: Option<Instant>,
}

/// Runs one phase against `addr`: opens the connections first, then paces requests for `plan.duration`.
pub async fn run<W: Workload>(
    addr: SocketAddr,
    workload: Arc<W>,
    plan: Plan,
) -> Result<LoadResult> {
    let connections = plan.connections.max(1);
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::open(addr).await?);
    }
    // Start a little later, so that every task is waiting when the first request is due.
    let t0 = Instant::now() + Duration::from_millis(20);
    let planned = match plan.pace {
        Pace::Open { rate } => (rate * plan.duration.as_secs_f64()).ceil() as u64,
        Pace::Closed => 0,
    };
    let schedule = match plan.pace {
        Pace::Open { rate } => Schedule::Paced(pacer::Pacer::new(t0, rate, planned)),
        Pace::Closed => Schedule::BackToBack {
            end: t0 + plan.duration,
            next: AtomicU64::new(0),
        },
    };
    let shared = Arc::new(Shared {
        workload,
        plan,
        schedule,
    });
    let pacing = {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || {
            if let Schedule::Paced(pacer) = &shared.schedule {
                pacer.release_all(connections);
            }
        })
    };
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|conn| tokio::spawn(worker(shared.clone(), conn, t0)))
        .collect();
    let mut latency = new_histogram();
    let mut start_lag = new_histogram();
    let mut total = WorkerTally::default();
    for task in tasks {
        let (tally, lat, lag) = task.await?;
        latency.add(&lat)?;
        start_lag.add(&lag)?;
        total.sent += tally.sent;
        total.ok += tally.ok;
        total.failed += tally.failed;
        total.errors += tally.errors;
        total.late += tally.late;
        total.last_done = total.last_done.max(tally.last_done);
    }
    pacing.await?;
    Ok(LoadResult {
        plan,
        planned,
        sent: total.sent,
        ok: total.ok,
        failed: total.failed,
        errors: total.errors,
        late: total.late,
        started: t0,
        elapsed: total
            .last_done
            .map(|t| t.saturating_duration_since(t0))
            .unwrap_or_default(),
        latency,
        start_lag,
    })
}

async fn worker<W: Workload>(
    shared: Arc<Shared<W>>,
    mut conn: Conn,
    t0: Instant,
) -> (WorkerTally, Histogram<u64>, Histogram<u64>) {
    let mut tally = WorkerTally::default();
    let mut latency = new_histogram();
    let mut start_lag = new_histogram();
    let open = matches!(shared.plan.pace, Pace::Open { .. });
    tokio::time::sleep_until(t0.into()).await;
    while let Some((seq, due)) = shared.schedule.next().await {
        let started = Instant::now();
        let lag = started.saturating_duration_since(due);
        if open {
            if lag > shared.plan.max_lag {
                if let Schedule::Paced(pacer) = &shared.schedule {
                    pacer.abort();
                }
                break;
            }
            if lag > LATE_AFTER {
                tally.late += 1;
            }
            start_lag.saturating_record(micros(lag));
        }
        let (request, ticket) = shared.workload.request(seq, due);
        tally.sent += 1;
        match conn.send(request).await {
            Ok((status, body)) => {
                if shared.workload.done(ticket, status, body).await {
                    tally.ok += 1;
                    let finished = Instant::now();
                    latency.saturating_record(micros(finished.saturating_duration_since(due)));
                    tally.last_done = Some(finished);
                } else {
                    tally.failed += 1;
                }
            }
            Err(_) => {
                tally.errors += 1;
                // A refused or broken connection: do not spin on it.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    (tally, latency, start_lag)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

//! The open-loop schedule: a thread of its own releases one permit per request at the moment it falls due
//! (`t0 + seq / rate`), and the connections take them in order. An OS thread sleeping in `nanosleep` keeps to the
//! schedule within tens of microseconds, where the async runtime's timer wheel would add up to a millisecond.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// The longest the pacing thread sleeps before it looks whether the phase was aborted.
const MAX_SLEEP: Duration = Duration::from_millis(50);

/// A fixed-rate schedule of `planned` requests starting at `t0`.
pub struct Pacer {
    t0: Instant,
    rate: f64,
    planned: u64,
    permits: Semaphore,
    next: AtomicU64,
    aborted: AtomicBool,
}

impl Pacer {
    /// A schedule of `planned` requests at `rate` per second from `t0`.
    pub fn new(t0: Instant, rate: f64, planned: u64) -> Self {
        Self {
            t0,
            rate,
            planned,
            permits: Semaphore::new(0),
            next: AtomicU64::new(0),
            aborted: AtomicBool::new(false),
        }
    }

    /// When request `seq` is due.
    pub fn due(&self, seq: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(seq as f64 / self.rate)
    }

    /// Releases each request as it falls due, then wakes `waiters` tasks so that they see the end. Blocks: run it
    /// on a thread of its own.
    pub fn release_all(&self, waiters: usize) {
        let mut released = 0u64;
        while released < self.planned && !self.aborted.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= self.t0 {
                let elapsed = now.duration_since(self.t0).as_secs_f64();
                let due = ((elapsed * self.rate).floor() as u64 + 1).min(self.planned);
                if due > released {
                    self.permits.add_permits((due - released) as usize);
                    released = due;
                }
            }
            if released < self.planned {
                let wait = self.due(released).saturating_duration_since(Instant::now());
                std::thread::sleep(wait.min(MAX_SLEEP));
            }
        }
        self.permits.add_permits(waiters);
    }

    /// Waits for the next due request and returns its number; `None` when the schedule is over or aborted.
    pub async fn next(&self) -> Option<u64> {
        self.permits.acquire().await.ok()?.forget();
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        (seq < self.planned && !self.aborted.load(Ordering::Relaxed)).then_some(seq)
    }

    /// Stops the schedule (the generator fell too far behind).
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn releases_every_request_on_time_then_ends() {
        let t0 = Instant::now() + Duration::from_millis(5);
        let pacer = Arc::new(Pacer::new(t0, 1000.0, 50));
        let thread = {
            let p = pacer.clone();
            std::thread::spawn(move || p.release_all(1))
        };
        let mut seen = Vec::new();
        while let Some(seq) = pacer.next().await {
            assert!(Instant::now() >= pacer.due(seq));
            seen.push(seq);
        }
        thread.join().unwrap();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert!(Instant::now() >= pacer.due(49));
    }

    #[tokio::test]
    async fn abort_ends_the_schedule() {
        let pacer = Arc::new(Pacer::new(Instant::now(), 10.0, 1_000_000));
        let thread = {
            let p = pacer.clone();
            std::thread::spawn(move || p.release_all(1))
        };
        assert_eq!(pacer.next().await, Some(0));
        pacer.abort();
        assert_eq!(pacer.next().await, None);
        thread.join().unwrap();
    }
}

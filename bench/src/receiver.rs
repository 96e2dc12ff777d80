//! The client's side of end-to-end payments: a local axum server that takes the gateway's callback `PUT`s, matches
//! each to its payment by `X-CorrelationID`, and records when it arrived.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use hdrhistogram::Histogram;
use tokio::sync::oneshot;

use crate::load::stats::new_histogram;

/// Payments expected back, and what came.
#[derive(Default)]
pub struct Callbacks {
    pending: Mutex<HashMap<String, Expected>>,
    /// Expected payments whose callback came.
    delivered: AtomicU64,
    /// Callbacks with anything but a completed transaction (a failed transaction's error object).
    not_completed: AtomicU64,
    /// A second callback for the same payment.
    duplicates: AtomicU64,
    /// Callbacks for no payment this run expects.
    unexpected: AtomicU64,
}

struct Expected {
    due: Instant,
    arrived: Option<Instant>,
    notify: Option<oneshot::Sender<()>>,
}

/// What the callbacks of one phase came to.
pub struct CallbackTally {
    /// Payments expected (those the gateway accepted).
    pub expected: u64,
    /// Expected payments whose callback came.
    pub delivered: u64,
    /// Delivered callbacks that were not a completed transaction.
    pub not_completed: u64,
    pub duplicates: u64,
    pub unexpected: u64,
    /// From each payment's due time to its callback, in microseconds.
    pub latency: Histogram<u64>,
    /// When the last callback came.
    pub last_arrival: Option<Instant>,
}

impl CallbackTally {
    /// Accepted payments whose callback never came.
    pub fn missing(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }
}

impl Callbacks {
    /// Expects a callback for `correlation_id`; `notify` is told when it comes.
    pub fn expect(
        &self,
        correlation_id: String,
        due: Instant,
        notify: Option<oneshot::Sender<()>>,
    ) {
        let entry = Expected {
            due,
            arrived: None,
            notify,
        };
        self.lock().insert(correlation_id, entry);
    }

    /// Forgets a payment the gateway did not accept (no callback will come).
    pub fn forget(&self, correlation_id: &str) {
        self.lock().remove(correlation_id);
    }

    /// Records a callback.
    fn arrived(&self, correlation_id: Option<&str>, completed: bool) {
        let now = Instant::now();
        let mut pending = self.lock();
        let Some(entry) = correlation_id.and_then(|id| pending.get_mut(id)) else {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if entry.arrived.is_some() {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        entry.arrived = Some(now);
        if let Some(notify) = entry.notify.take() {
            let _ = notify.send(());
        }
        drop(pending);
        self.delivered.fetch_add(1, Ordering::Relaxed);
        if !completed {
            self.not_completed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Expected payments whose callback has come.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Payments expected so far.
    pub fn expected(&self) -> u64 {
        self.lock().len() as u64
    }

    /// Waits until every expected callback came, for at most `timeout`.
    pub async fn wait_all(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && self.delivered() < self.expected() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Tallies the phase and starts afresh.
    pub fn take(&self) -> CallbackTally {
        let entries = std::mem::take(&mut *self.lock());
        self.delivered.store(0, Ordering::Relaxed);
        let mut latency = new_histogram();
        let mut delivered = 0;
        let mut last_arrival = None;
        for e in entries.values() {
            if let Some(at) = e.arrived {
                delivered += 1;
                let us = u64::try_from(at.saturating_duration_since(e.due).as_micros())
                    .unwrap_or(u64::MAX);
                latency.saturating_record(us.max(1));
                last_arrival = last_arrival.max(Some(at));
            }
        }
        CallbackTally {
            expected: entries.len() as u64,
            delivered,
            not_completed: self.not_completed.swap(0, Ordering::Relaxed),
            duplicates: self.duplicates.swap(0, Ordering::Relaxed),
            unexpected: self.unexpected.swap(0, Ordering::Relaxed),
            latency,
            last_arrival,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Expected>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running receiver.
pub struct Receiver {
    /// Where it listens; callbacks go to `http://{addr}/callback`.
    pub addr: SocketAddr,
    pub callbacks: Arc<Callbacks>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver on a free loopback port.
    pub async fn start() -> Result<Self> {
        let callbacks = Arc::new(Callbacks::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .fallback(receive)
            .with_state(callbacks.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            callbacks,
            server,
        })
    }

    /// The callback URL to give the gateway.
    pub fn url(&self) -> String {
        format!("http://{}/callback", self.addr)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(callbacks): State<Arc<Callbacks>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let correlation_id = headers.get("x-correlationid").and_then(|v| v.to_str().ok());
    callbacks.arrived(correlation_id, is_completed(&body));
    StatusCode::NO_CONTENT
}

/// Whether a callback body is a completed transaction.
fn is_completed(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"transactionStatus\":\"completed\"";
    body.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_correlation_id() {
        let c = Callbacks::default();
        let due = Instant::now();
        c.expect("a".into(), due, None);
        c.expect("b".into(), due, None);
        c.arrived(Some("a"), true);
        c.arrived(Some("a"), true);
        c.arrived(Some("zzz"), true);
        c.arrived(None, false);
        assert_eq!(c.delivered(), 1);
        let t = c.take();
        assert_eq!((t.expected, t.delivered, t.missing()), (2, 1, 1));
        assert_eq!((t.not_completed, t.duplicates, t.unexpected), (0, 1, 2));
        assert_eq!(c.expected(), 0);
    }

    #[test]
    fn completed_bodies() {
        assert!(is_completed(
            br#"{"transactionStatus":"completed","amount":"1"}"#
        ));
        assert!(!is_completed(br#"{"errorCategory":"businessRule"}"#));
    }
}

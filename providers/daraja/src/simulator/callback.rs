//! Delivery of asynchronous result callbacks to the merchant's URL.
//!
//! One pooled HTTP client, a bound on concurrent deliveries, and up to [`ATTEMPTS`] attempts
//! per callback (retrying on connection errors and non-2xx answers).

use std::{sync::Arc, time::Duration};

use axum::{body::Bytes, http::header::CONTENT_TYPE};
use tokio::sync::{watch, Semaphore};

use super::{ids, journal::JournalEvent, SimState, SimulatorError};

/// Attempts per callback.
pub(crate) const ATTEMPTS: usize = 3;
/// Pause before the second and third attempt.
const BACKOFF: [Duration; ATTEMPTS - 1] = [Duration::from_millis(500), Duration::from_millis(1000)];
/// Callbacks in flight at once.
const MAX_IN_FLIGHT: usize = 256;

/// Sends callbacks; shared by every API of the simulator.
pub(crate) struct CallbackSender {
    client: reqwest::Client,
    permits: Semaphore,
}

impl CallbackSender {
    pub(crate) fn new() -> Result<Self, SimulatorError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .user_agent("mmapi-daraja-simulator")
            .build()
            .map_err(SimulatorError::HttpClient)?;
        Ok(Self {
            client,
            permits: Semaphore::new(MAX_IN_FLIGHT),
        })
    }

    /// POSTs `body` (JSON) to `url`, retrying. Returns whether a 2xx answer came back, or
    /// `None` if the simulator shut down first.
    pub(crate) async fn deliver(
        &self,
        url: &str,
        body: impl Into<Bytes>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<bool> {
        // Reference-counted: each attempt clones cheaply.
        let body: Bytes = body.into();
        for attempt in 1..=ATTEMPTS {
            let send = async {
                let _permit = self.permits.acquire().await.ok()?;
                let result = self
                    .client
                    .post(url)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                Some(result)
            };
            let result = tokio::select! {
                result = send => result,
                () = cancelled(shutdown) => return None,
            };
            match result {
                Some(Ok(resp)) if resp.status().is_success() => {
                    tracing::debug!(url, attempt, "Daraja simulator callback delivered");
                    return Some(true);
                }
                Some(Ok(resp)) => {
                    tracing::info!(url, attempt, status = %resp.status(), "Daraja simulator callback refused");
                }
                Some(Err(e)) => {
                    tracing::info!(url, attempt, error = %e, "Daraja simulator callback failed");
                }
                None => return None,
            }
            if let Some(pause) = BACKOFF.get(attempt - 1) {
                tokio::select! {
                    () = tokio::time::sleep(*pause) => {}
                    () = cancelled(shutdown) => return None,
                }
            }
        }
        tracing::warn!(url, "Daraja simulator gave up on a callback");
        Some(false)
    }

    /// POSTs `body` (JSON) to `url` once and returns the answer's body if it is 2xx within
    /// `timeout`; `None` otherwise (including on shutdown). For C2B validation.
    pub(crate) async fn exchange(
        &self,
        url: &str,
        body: Vec<u8>,
        timeout: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Bytes> {
        let send = async {
            let _permit = self.permits.acquire().await.ok()?;
            let resp = self
                .client
                .post(url)
                .header(CONTENT_TYPE, "application/json")
                .timeout(timeout)
                .body(body)
                .send()
                .await
                .ok()?;
            if !resp.status().is_success() {
                tracing::info!(url, status = %resp.status(), "Daraja simulator validation refused");
                return None;
            }
            resp.bytes().await.ok()
        };
        tokio::select! {
            answer = send => answer,
            () = cancelled(shutdown) => None,
        }
    }
}

/// Delivers a callback once it is due (immediately if it already is), unless the simulator
/// shuts down first: `fetch` gives its URL and body (`None`: nothing to send), `mark` records
/// it as done (`false`: already recorded), after which `CallbackDone` is journaled. A `result`
/// callback is subject to the configured faults: dropped (recorded as not delivered), delayed or
/// sent twice.
pub(crate) fn schedule_delivery(
    sim: &Arc<SimState>,
    id: String,
    due_at_ms: i64,
    result: bool,
    fetch: fn(&SimState, &str) -> Option<(String, Bytes)>,
    mark: fn(&SimState, &str) -> bool,
) {
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let mut shutdown = sim.shutdown.subscribe();
        let wait = u64::try_from(due_at_ms - ids::now_ms()).unwrap_or(0);
        if !sleep_or_shutdown(Duration::from_millis(wait), &mut shutdown).await {
            return;
        }
        let fault = if result {
            sim.faults.on_callback()
        } else {
            super::faults::CallbackFault::NONE
        };
        if !fault.delay.is_zero() && !sleep_or_shutdown(fault.delay, &mut shutdown).await {
            return;
        }
        let Some((url, body)) = fetch(&sim, &id) else {
            return;
        };
        let delivered = if fault.drop {
            tracing::debug!(id, "Daraja simulator: injected a lost callback");
            false
        } else {
            let Some(delivered) = sim
                .callbacks
                .deliver(&url, body.clone(), &mut shutdown)
                .await
            else {
                return;
            };
            if fault.duplicate {
                tracing::debug!(id, "Daraja simulator: injected a duplicate callback");
                let _ = sim.callbacks.deliver(&url, body, &mut shutdown).await;
            }
            delivered
        };
        if mark(&sim, &id) {
            sim.journal
                .append(&JournalEvent::CallbackDone { id, delivered });
        }
    });
}

/// Resolves once the simulator shuts down.
pub(crate) async fn cancelled(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stopped| *stopped).await.is_err() {
        // The sender is gone: the simulator no longer exists.
    }
}

/// Sleeps for `delay` unless the simulator shuts down first (then `false`).
pub(crate) async fn sleep_or_shutdown(
    delay: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    if delay.is_zero() {
        return !*shutdown.borrow();
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => !*shutdown.borrow(),
        () = cancelled(shutdown) => false,
    }
}

//! Client callbacks: the durable outbox, delivered by PUT to each request's `X-Callback-URL` with the client's
//! `X-CorrelationID`, retried with exponential back-off and jitter until a 2xx or the attempts run out.
//!
//! A 2xx ends delivery. A 4xx other than 408 and 429 says the client refuses this callback, so it is given up
//! after [`CallbackSettings::client_error_max_attempts`]; 408, 429, 5xx and network errors are retried up to
//! [`CallbackSettings::max_attempts`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mmapi_core::Timestamp;
use rand::Rng;
use tokio::sync::{mpsc, Semaphore};

use crate::config::CallbackSettings;
use crate::store::{Change, NewCallback, OutboxRow, Store};

/// Hands callbacks to the delivery task. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    now: mpsc::UnboundedSender<OutboxRow>,
}

impl Notifier {
    /// Delivers a callback that was just committed to the outbox, without waiting for the next outbox scan.
    pub fn deliver_now(&self, id: i64, server_correlation_id: String, cb: NewCallback) {
        let _ = self.now.send(OutboxRow {
            id,
            server_correlation_id,
            url: cb.url,
            correlation_id: cb.correlation_id,
            body: cb.body,
            attempts: 0,
        });
    }
}

struct Deliverer {
    store: Store,
    http: reqwest::Client,
    settings: CallbackSettings,
    in_flight: Mutex<HashSet<i64>>,
    permits: Arc<Semaphore>,
}

/// Starts the delivery task: it delivers what [`Notifier::deliver_now`] hands it, and scans the outbox for
/// callbacks that are due (retries, and those owed from before a restart).
/// `lease_ms` is how long a scan holds the callbacks it claims before another instance may take them.
pub fn spawn(
    store: Store,
    settings: CallbackSettings,
    lease_ms: i64,
) -> Result<Notifier, reqwest::Error> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()?;
    let (tx, mut rx) = mpsc::unbounded_channel::<OutboxRow>();
    let deliverer = Arc::new(Deliverer {
        store,
        http,
        permits: Arc::new(Semaphore::new(settings.concurrency)),
        settings,
        in_flight: Mutex::new(HashSet::new()),
    });
    tokio::spawn(async move {
        let mut scan = tokio::time::interval(Duration::from_millis(500));
        scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                row = rx.recv() => match row {
                    Some(row) => start(&deliverer, row).await,
                    None => break,
                },
                _ = scan.tick() => {
                    let now = Timestamp::now().millis();
                    match deliverer.store.claim_due_callbacks(now, lease_ms, 500).await {
                        Ok(rows) => for row in rows { start(&deliverer, row).await },
                        Err(e) => tracing::warn!(error = %e, "could not scan the callback outbox"),
                    }
                }
            }
        }
    });
    Ok(Notifier { now: tx })
}

async fn start(d: &Arc<Deliverer>, row: OutboxRow) {
    let claimed = d
        .in_flight
        .lock()
        .map(|mut s| s.insert(row.id))
        .unwrap_or(false);
    if !claimed {
        return;
    }
    let Ok(permit) = d.permits.clone().acquire_owned().await else {
        return;
    };
    let d = d.clone();
    tokio::spawn(async move {
        deliver(&d, &row).await;
        if let Ok(mut s) = d.in_flight.lock() {
            s.remove(&row.id);
        }
        drop(permit);
    });
}

async fn deliver(d: &Deliverer, row: &OutboxRow) {
    let mut request = d
        .http
        .put(&row.url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .header("X-Date", Timestamp::now().to_string())
        .body(row.body.clone());
    if let Some(cid) = &row.correlation_id {
        request = request.header("X-CorrelationID", cid);
    }
    let now = Timestamp::now().millis();
    let change = match request.send().await {
        Ok(response) if response.status().is_success() => Change::CallbackDelivered {
            id: row.id,
            status: response.status().as_u16(),
            now_ms: now,
        },
        Ok(response) => failure(
            d,
            row,
            Some(response.status().as_u16()),
            format!("HTTP {}", response.status()),
            now,
        ),
        Err(e) => failure(d, row, None, short_error(&e), now),
    };
    if let Change::CallbackFailed { give_up: true, .. } = &change {
        tracing::warn!(id = row.id, server_correlation_id = %row.server_correlation_id, "client callback abandoned after its last attempt");
    }
    if let Err(e) = d.store.apply(change).await {
        tracing::error!(id = row.id, error = %e, "could not record a callback attempt");
    }
}

fn failure(d: &Deliverer, row: &OutboxRow, status: Option<u16>, error: String, now: i64) -> Change {
    let attempts = row.attempts + 1;
    let budget = attempt_budget(&d.settings, status);
    let give_up = attempts >= i64::from(budget);
    let base = d
        .settings
        .initial_backoff_ms
        .saturating_mul(1u64 << attempts.clamp(0, 20) as u32 >> 1)
        .min(d.settings.max_backoff_ms);
    let jitter = rand::rng().random_range(0..=base / 4 + 1);
    tracing::info!(id = row.id, attempts, ?status, error = %error, "client callback attempt failed");
    Change::CallbackFailed {
        id: row.id,
        status,
        error,
        next_attempt_at: now + i64::try_from(base + jitter).unwrap_or(i64::MAX / 2),
        give_up,
    }
}

/// Whether an answer's status says the client refuses the callback for good: a 4xx other than 408 (timeout)
/// and 429 (too many requests).
fn is_permanent_refusal(status: Option<u16>) -> bool {
    matches!(status, Some(s) if (400..500).contains(&s) && s != 408 && s != 429)
}

/// How many attempts a callback gets, given the status of its latest answer.
fn attempt_budget(settings: &CallbackSettings, status: Option<u16>) -> u32 {
    if is_permanent_refusal(status) {
        settings
            .client_error_max_attempts
            .clamp(1, settings.max_attempts.max(1))
    } else {
        settings.max_attempts
    }
}

fn short_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_answers_end_delivery_early() {
        let settings = CallbackSettings {
            max_attempts: 12,
            client_error_max_attempts: 3,
            ..CallbackSettings::default()
        };
        for status in [400, 401, 403, 404, 410, 422] {
            assert_eq!(attempt_budget(&settings, Some(status)), 3, "{status}");
        }
        for status in [Some(408), Some(429), Some(500), Some(503), None] {
            assert_eq!(attempt_budget(&settings, status), 12, "{status:?}");
        }
        let few = CallbackSettings {
            max_attempts: 2,
            ..settings
        };
        assert_eq!(attempt_budget(&few, Some(400)), 2);
    }
}

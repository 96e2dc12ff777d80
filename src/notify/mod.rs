//! Client callbacks: the durable outbox, delivered by PUT to each request's `X-Callback-URL` with the client's
//! `X-CorrelationID`, retried with exponential back-off and jitter until a 2xx or the attempts run out.
//!
//! A 2xx ends delivery. A 4xx other than 408 and 429 says the client refuses this callback, so it is given up
//! after [`CallbackSettings::client_error_max_attempts`]; 408, 429, 5xx and network errors are retried up to
//! [`CallbackSettings::max_attempts`]. A destination the [`policy`] refuses (e.g. a name that now resolves to a
//! private address) is given up at once, with the reason in the outbox's `last_error`.
//!
//! Each delivery carries `X-Date`, `X-Content-Hash` (SHA-256 hex of the body) and, when the callback belongs to
//! a client, [`SIGNATURE_HEADER`]: `t=<unix seconds>,v1=<hex HMAC-SHA256(signing key, "<t>.<body>")>`, where the
//! signing key is the client's (see [`crate::auth::credentials::signing_key`]).

pub mod policy;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mmapi_core::Timestamp;
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, Semaphore};

use crate::config::CallbackSettings;
use crate::store::{Change, NewCallback, OutboxRow, Store};
use policy::{Allowlist, CallbackPolicy, GuardedResolver, Refusal};
use tracing::Instrument;

/// The header that carries a callback's signature.
pub const SIGNATURE_HEADER: &str = "X-Signature";

/// How long a client's signing key and callback hosts are remembered (a rotated key is used within this).
const CLIENT_CACHE_TTL: Duration = Duration::from_secs(30);

/// How many clients are remembered at most; the memory is emptied when it is full.
const CLIENT_CACHE_CAPACITY: usize = 10_000;

/// The value of [`SIGNATURE_HEADER`] for `body` sent at `timestamp` (unix seconds), under the client's signing
/// key (the bytes of the hex-decoded stored key): `t=<timestamp>,v1=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`.
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let stamp = timestamp.to_string();
    let mut message = Vec::with_capacity(stamp.len() + 1 + body.len());
    message.extend_from_slice(stamp.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    let mac = crate::auth::credentials::hmac_sha256(key, &message);
    format!("t={stamp},v1={}", hex::encode(mac))
}

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
            client_id: cb.client_id,
            request_id: cb.request_id,
        });
    }
}

/// How a client's callbacks are sent: signed with its key, through an HTTP client whose resolver applies the
/// gateway's policy plus the client's own allowed hosts.
#[derive(Clone)]
struct Sender {
    /// The signing key's bytes; `None`: unsigned (no client owns the callback).
    signing_key: Option<Arc<Vec<u8>>>,
    /// The client's own allowed hosts, as stored, and parsed.
    hosts: Option<String>,
    allowed: Arc<Allowlist>,
    http: reqwest::Client,
}

struct Deliverer {
    store: Store,
    settings: CallbackSettings,
    policy: Arc<CallbackPolicy>,
    /// For callbacks of no client, and of clients without hosts of their own.
    shared: Sender,
    senders: Mutex<HashMap<String, (Sender, Instant)>>,
    in_flight: Mutex<HashSet<i64>>,
    permits: Arc<Semaphore>,
}

/// The HTTP client callbacks go through: no redirects, no proxy (the checked address is the one connected to),
/// and a resolver that refuses names resolving to addresses `policy` (and `allowed`) do not allow.
fn http_client(
    settings: &CallbackSettings,
    policy: &Arc<CallbackPolicy>,
    allowed: &Arc<Allowlist>,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(settings.timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(64)
        .dns_resolver(Arc::new(GuardedResolver {
            policy: policy.clone(),
            client: allowed.clone(),
        }))
        .build()
}

/// Starts the delivery task: it delivers what [`Notifier::deliver_now`] hands it, and scans the outbox for
/// callbacks that are due (retries, and those owed from before a restart).
/// `lease_ms` is how long a scan holds the callbacks it claims before another instance may take them.
pub fn spawn(
    store: Store,
    settings: CallbackSettings,
    policy: Arc<CallbackPolicy>,
    lease_ms: i64,
) -> Result<Notifier, reqwest::Error> {
    let allowed = Arc::new(Allowlist::default());
    let shared = Sender {
        signing_key: None,
        hosts: None,
        http: http_client(&settings, &policy, &allowed)?,
        allowed,
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<OutboxRow>();
    let deliverer = Arc::new(Deliverer {
        store,
        shared,
        policy,
        permits: Arc::new(Semaphore::new(settings.concurrency)),
        settings,
        senders: Mutex::new(HashMap::new()),
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
    // Every log line of the delivery names the request that caused it.
    let span = tracing::info_span!(
        "callback",
        request_id = row.request_id.as_deref().unwrap_or(""),
        outbox_id = row.id
    );
    tokio::spawn(async move {
        deliver(&d, &row).instrument(span).await;
        if let Ok(mut s) = d.in_flight.lock() {
            s.remove(&row.id);
        }
        drop(permit);
    });
}

impl Deliverer {
    /// How the callbacks of `client_id` are sent: its key (remembered for [`CLIENT_CACHE_TTL`]) and hosts.
    async fn sender_for(&self, client_id: Option<&str>) -> Result<Sender, String> {
        let Some(client_id) = client_id.filter(|c| *c != crate::auth::UNCLAIMED) else {
            return Ok(self.shared.clone());
        };
        let previous = self
            .senders
            .lock()
            .ok()
            .and_then(|m| m.get(client_id).cloned());
        if let Some((sender, until)) = &previous {
            if Instant::now() < *until {
                return Ok(sender.clone());
            }
        }
        let row = match self.store.client(client_id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                tracing::debug!(
                    client = client_id,
                    "a callback of an unknown client goes unsigned"
                );
                return Ok(self.shared.clone());
            }
            Err(e) => {
                tracing::warn!(client = client_id, error = %e, "could not read a client's signing key");
                return Err("could not read the client's signing key".into());
            }
        };
        let key = hex::decode(row.signing_key.trim()).map_err(|_| {
            tracing::warn!(
                client = client_id,
                "the client's stored signing key is malformed"
            );
            "the client's stored signing key is malformed".to_owned()
        })?;
        let hosts = row.callback_hosts.filter(|h| !h.trim().is_empty());
        let (allowed, http) = match previous {
            Some((p, _)) if p.hosts == hosts => (p.allowed, p.http),
            _ => match &hosts {
                None => (self.shared.allowed.clone(), self.shared.http.clone()),
                Some(list) => {
                    let entries: Vec<&str> =
                        list.split(',').filter(|e| !e.trim().is_empty()).collect();
                    let allowed = Arc::new(Allowlist::parse_lenient(&entries));
                    let http = http_client(&self.settings, &self.policy, &allowed)
                        .map_err(|_| "could not build the callback HTTP client".to_owned())?;
                    (allowed, http)
                }
            },
        };
        let sender = Sender {
            signing_key: Some(Arc::new(key)),
            hosts,
            allowed,
            http,
        };
        if let Ok(mut senders) = self.senders.lock() {
            if senders.len() >= CLIENT_CACHE_CAPACITY {
                senders.clear();
            }
            senders.insert(
                client_id.to_owned(),
                (sender.clone(), Instant::now() + CLIENT_CACHE_TTL),
            );
        }
        Ok(sender)
    }
}

async fn deliver(d: &Deliverer, row: &OutboxRow) {
    let now = Timestamp::now().millis();
    let sender = match d.sender_for(row.client_id.as_deref()).await {
        Ok(sender) => sender,
        Err(why) => return record(d, row, failure(d, row, None, why, now)).await,
    };
    let checked = reqwest::Url::parse(&row.url)
        .map_err(|_| Refusal("the URL does not parse".into()))
        .and_then(|url| d.policy.check_url(&url, &sender.allowed).map(|()| url));
    let url = match checked {
        Ok(url) => url,
        Err(refusal) => return record(d, row, refused(row, &refusal, now)).await,
    };
    let sent_at = Timestamp::now();
    let mut request = sender
        .http
        .put(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .header("X-Date", sent_at.to_string())
        .header(
            "X-Content-Hash",
            hex::encode(Sha256::digest(row.body.as_bytes())),
        );
    if let Some(key) = &sender.signing_key {
        request = request.header(
            SIGNATURE_HEADER,
            signature(key, sent_at.millis().div_euclid(1000), row.body.as_bytes()),
        );
    }
    if let Some(cid) = &row.correlation_id {
        request = request.header("X-CorrelationID", cid);
    }
    if let Some(request_id) = &row.request_id {
        request = request.header("X-Request-ID", request_id);
    }
    let request = request.body(row.body.clone());
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
        Err(e) => match policy::refusal_in(&e) {
            Some(refusal) => refused(row, &refusal, now),
            None => failure(d, row, None, short_error(&e), now),
        },
    };
    record(d, row, change).await;
}

/// Records a delivery attempt.
async fn record(d: &Deliverer, row: &OutboxRow, change: Change) {
    crate::metrics::metrics().callback_attempt(match &change {
        Change::CallbackDelivered { .. } => "delivered",
        Change::CallbackFailed { give_up: true, .. } => "abandoned",
        _ => "failed",
    });
    if let Change::CallbackFailed { give_up: true, .. } = &change {
        tracing::warn!(id = row.id, server_correlation_id = %row.server_correlation_id, "client callback abandoned after its last attempt");
    }
    if let Err(e) = d.store.apply(change).await {
        tracing::error!(id = row.id, error = %e, "could not record a callback attempt");
    }
}

/// A destination the policy refuses: given up at once, the reason kept in the outbox.
fn refused(row: &OutboxRow, refusal: &Refusal, now: i64) -> Change {
    tracing::warn!(id = row.id, reason = %refusal, "client callback refused: its destination is not allowed");
    Change::CallbackFailed {
        id: row.id,
        status: None,
        error: format!("destination refused: {refusal}"),
        next_attempt_at: now,
        give_up: true,
        now_ms: now,
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
        now_ms: now,
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
    fn signatures_match_the_documented_recipe() {
        // Computed with Python's hmac and hashlib, as in the README's recipe.
        let key = crate::auth::credentials::signing_key("test-secret");
        assert_eq!(
            key,
            "7cc9c3eccf761cefc853762b7869f99112dadfc3715e62a23af71d742b82f5a0"
        );
        let key = hex::decode(key).unwrap();
        assert_eq!(
            signature(&key, 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=fda9049bf36070f9d9533dbd894ebabf16fb9331d4955215e0f6e36f2f71a952"
        );
    }

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

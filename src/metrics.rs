//! Prometheus metrics, served at `GET /metrics` (operator clients only) in the OpenMetrics text format.
//!
//! Counters and histograms live in one process-wide registry ([`metrics`]) and are recorded where things happen:
//! HTTP requests by the [`crate::observe`] layer, final transactions by the engine, operator calls by the
//! dispatcher and the reconciler, callback attempts by the deliverer. Recording is a hash lookup and an atomic
//! add; nothing is read from the store on a request's path. Gauges of work still owed (outbox depth,
//! reconciliation backlog, manual review), the store's read pool and the circuit breakers are read when `/metrics`
//! is scraped.
//!
//! The registry is process-wide: several gateways started in one process (as tests do) share it.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::breaker::BreakerState;
use crate::engine::Engine;

/// The content type of the OpenMetrics text exposition, which Prometheus scrapes natively.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransactionLabels {
    provider: String,
    /// The market: the currency (each market moves one, e.g. KES for Daraja, TZS for M-Pesa Tanzania).
    market: String,
    #[prometheus(flatten)]
    kind: KindStatus,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindStatus {
    r#type: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperatorLabels {
    provider: String,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperatorLatencyLabels {
    provider: String,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    breaker: String,
    state: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    transactions: Family<TransactionLabels, Counter>,
    operator_calls: Family<OperatorLabels, Counter>,
    operator_duration: Histograms<OperatorLatencyLabels>,
    callback_attempts: Family<OutcomeLabels, Counter>,
    pulled_payments: Family<ProviderLabels, Counter>,
    callbacks_owed: Gauge,
    callbacks_abandoned: Gauge,
    pending_transactions: Family<StateLabels, Gauge>,
    pool_connections: Gauge,
    pool_idle: Gauge,
    writer_commits: Gauge,
    writer_operations: Gauge,
    breakers: Family<BreakerLabels, Gauge>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("mmapi");
        let m = Metrics {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            transactions: Family::default(),
            operator_calls: Family::default(),
            operator_duration: Family::new_with_constructor(latency_histogram),
            callback_attempts: Family::default(),
            pulled_payments: Family::default(),
            callbacks_owed: Gauge::default(),
            callbacks_abandoned: Gauge::default(),
            pending_transactions: Family::default(),
            pool_connections: Gauge::default(),
            pool_idle: Gauge::default(),
            writer_commits: Gauge::default(),
            writer_operations: Gauge::default(),
            breakers: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by matched route, method and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by matched route and method",
            m.http_duration.clone(),
        );
        registry.register(
            "transactions",
            "Transactions made final, by provider, type and final status (completed or failed)",
            m.transactions.clone(),
        );
        registry.register(
            "operator_calls",
            "Calls to an operator, by provider, operation (submit, status) and outcome",
            m.operator_calls.clone(),
        );
        registry.register(
            "operator_call_duration_seconds",
            "Time an operator call took, by provider and operation",
            m.operator_duration.clone(),
        );
        registry.register(
            "callback_attempts",
            "Client callback delivery attempts, by outcome (delivered, failed, refused, abandoned)",
            m.callback_attempts.clone(),
        );
        registry.register(
            "pulled_payments",
            "Incoming payments filled in from an operator's list (Pull Transactions) because their notification never came",
            m.pulled_payments.clone(),
        );
        registry.register(
            "callbacks_owed",
            "Client callbacks not yet delivered (outbox depth)",
            m.callbacks_owed.clone(),
        );
        registry.register(
            "callbacks_abandoned",
            "Client callbacks given up on after their last attempt",
            m.callbacks_abandoned.clone(),
        );
        registry.register(
            "pending_transactions",
            "Transactions not yet final, by dispatch state (acknowledged and in_doubt await a result or a \
             status check; review awaits a person)",
            m.pending_transactions.clone(),
        );
        registry.register(
            "store_pool_connections",
            "Open connections of the store's read pool",
            m.pool_connections.clone(),
        );
        registry.register(
            "store_pool_idle_connections",
            "Idle connections of the store's read pool",
            m.pool_idle.clone(),
        );
        registry.register(
            "store_writer_commits",
            "Commits made by the store's group-commit writer since start",
            m.writer_commits.clone(),
        );
        registry.register(
            "store_writer_operations",
            "Operations committed by the store's group-commit writer since start",
            m.writer_operations.clone(),
        );
        registry.register(
            "provider_circuit_state",
            "1 for each circuit breaker's current state (closed, open, half_open)",
            m.breakers.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records an answered HTTP request. `route` is the matched route template, never the raw path.
    pub fn http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
                method: method.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records a transaction made final in `market` (its currency; `status` is `completed` or `failed`).
    pub fn transaction_final(
        &self,
        provider: &str,
        market: &str,
        transaction_type: &str,
        status: &'static str,
    ) {
        self.transactions
            .get_or_create(&TransactionLabels {
                provider: provider.to_owned(),
                market: market.to_owned(),
                kind: KindStatus {
                    r#type: transaction_type.to_owned(),
                    status,
                },
            })
            .inc();
    }

    /// Records an operator call: `operation` is `submit` or `status`; `outcome` e.g. `ok`, `rejected`,
    /// `unavailable`, `in_doubt`.
    pub fn operator_call(
        &self,
        provider: &str,
        operation: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.operator_calls
            .get_or_create(&OperatorLabels {
                provider: provider.to_owned(),
                operation,
                outcome,
            })
            .inc();
        self.operator_duration
            .get_or_create(&OperatorLatencyLabels {
                provider: provider.to_owned(),
                operation,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records a client callback attempt: `delivered`, `failed`, `refused` or `abandoned`.
    pub fn callback_attempt(&self, outcome: &'static str) {
        self.callback_attempts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts incoming payments filled in from `provider`'s list.
    pub fn pulled_payments(&self, provider: &str, count: usize) {
        self.pulled_payments
            .get_or_create(&ProviderLabels {
                provider: provider.to_owned(),
            })
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
    }

    /// Reads the gauges (store backlog, pool, writer, breakers) and renders every metric.
    pub async fn render(&self, engine: &Engine) -> Result<String, crate::store::StoreError> {
        let store = engine.store();
        let backlog = store.backlog().await?;
        self.callbacks_owed.set(backlog.callbacks_owed);
        self.callbacks_abandoned.set(backlog.callbacks_abandoned);
        for state in ["queued", "sending", "acknowledged", "in_doubt", "review"] {
            let count = backlog
                .pending_by_dispatch_state
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, c)| *c);
            self.pending_transactions
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(count);
        }
        let pool = store.pool_usage();
        self.pool_connections.set(i64::from(pool.size));
        self.pool_idle.set(i64::from(pool.idle));
        let writer = store.writer_stats();
        self.writer_commits
            .set(i64::try_from(writer.commits).unwrap_or(i64::MAX));
        self.writer_operations
            .set(i64::try_from(writer.operations).unwrap_or(i64::MAX));
        for (label, breaker) in engine.router().breakers() {
            let current = breaker.state();
            for (state, name) in [
                (BreakerState::Closed, "closed"),
                (BreakerState::Open, "open"),
                (BreakerState::HalfOpen, "half_open"),
            ] {
                self.breakers
                    .get_or_create(&BreakerLabels {
                        breaker: label.to_owned(),
                        state: name,
                    })
                    .set(i64::from(current == state));
            }
        }
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry).map_err(|e| {
            crate::store::StoreError::Corrupt(format!("cannot encode metrics: {e}"))
        })?;
        Ok(text)
    }
}

/// `GET /metrics`.
pub async fn serve(State(engine): State<Arc<Engine>>) -> Response {
    match metrics().render(&engine).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not read the metrics' gauges");
            crate::api::error::ApiError::from(e).into_response()
        }
    }
}

/// The outcome label of an operator call's result.
pub fn outcome_of<T>(result: &Result<T, mmapi_core::provider::ProviderError>) -> &'static str {
    use mmapi_core::provider::ProviderError as E;
    match result {
        Ok(_) => "ok",
        Err(E::Rejected(_)) => "rejected",
        Err(E::Unsupported(_)) => "unsupported",
        Err(E::Configuration(_)) => "configuration",
        Err(E::Unavailable(_)) => "unavailable",
        Err(E::InDoubt(_)) => "in_doubt",
    }
}

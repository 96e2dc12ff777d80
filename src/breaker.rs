//! Circuit breakers per provider and market: after a run of failed operator calls a breaker opens, and new GSMA
//! requests it guards are refused at once with `503 serviceUnavailable` instead of being accepted for an operator
//! that cannot take them. After a cool-down it lets one request through as a probe; a successful operator call
//! closes it again.
//!
//! A failure is an operator call that ended [`ProviderError::Unavailable`] (connection refused, 5xx, rate limit)
//! or [`ProviderError::InDoubt`] (no answer in time, an unreadable answer). Any other answer, including a
//! refusal, shows the operator is up. [`GuardedProvider`] wraps a provider and feeds its calls to its breakers
//! (one per currency, which for the M-Pesa OpenAPI is one per market), so dispatches, status queries and
//! balance enquiries all count, wherever they are made from.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mmapi_core::model::{AccountName, Balance, Transaction, TransactionType};
use mmapi_core::provider::{
    AccountRef, Capabilities, CheckRequest, DispatchContext, EventSink, ForwardAnswer,
    ForwardRequest, Outcome, Provider, ProviderError, ProviderRefs, Submitted,
};
use mmapi_core::GsmaError;
use serde::Deserialize;

/// Thresholds of the circuit breakers (`[breaker]` in the configuration).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Consecutive failed operator calls that open a provider's breaker.
    pub failure_threshold: u32,
    /// How long an open breaker refuses new requests before it lets one through as a probe, in milliseconds.
    pub cool_down_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down_ms: 2_000,
        }
    }
}

/// Where a breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Requests are refused until the cool-down ends.
    Open,
    /// One probe is out; other requests are refused until it settles.
    HalfOpen,
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { since: Instant },
    HalfOpen { probe_at: Instant },
}

/// Whether a new request may go to the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The breaker is closed.
    Allowed,
    /// The breaker was open for its cool-down: this request is the probe.
    Probe,
    /// The breaker is open (or a probe is out): refuse the request.
    Refused,
}

/// One provider's breaker. Thread-safe; cheap to query.
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cool_down(&self) -> Duration {
        Duration::from_millis(self.settings.cool_down_ms)
    }

    /// Decides whether a new request may go through now.
    pub fn admit(&self) -> Admission {
        self.admit_at(Instant::now())
    }

    /// [`Breaker::admit`] at a given instant.
    pub fn admit_at(&self, now: Instant) -> Admission {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Admission::Allowed,
            Inner::Open { since } if now.saturating_duration_since(since) >= self.cool_down() => {
                *inner = Inner::HalfOpen { probe_at: now };
                Admission::Probe
            }
            Inner::Open { .. } => Admission::Refused,
            // A probe whose call never reported back (e.g. it was never dispatched) does not hold the breaker
            // forever: after another cool-down, a new probe goes.
            Inner::HalfOpen { probe_at }
                if now.saturating_duration_since(probe_at) >= self.cool_down() =>
            {
                *inner = Inner::HalfOpen { probe_at: now };
                Admission::Probe
            }
            Inner::HalfOpen { .. } => Admission::Refused,
        }
    }

    /// Records an operator call that showed the operator up: the breaker closes.
    pub fn record_success(&self) {
        let mut inner = self.lock();
        if !matches!(*inner, Inner::Closed { failures: 0 }) {
            if !matches!(*inner, Inner::Closed { .. }) {
                tracing::info!("operator reachable again; circuit breaker closed");
            }
            *inner = Inner::Closed { failures: 0 };
        }
    }

    /// Records a failed operator call.
    pub fn record_failure(&self) {
        self.record_failure_at(Instant::now());
    }

    /// [`Breaker::record_failure`] at a given instant.
    pub fn record_failure_at(&self, now: Instant) {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.settings.failure_threshold.max(1) {
                    tracing::warn!(failures, "operator failing; circuit breaker open");
                    *inner = Inner::Open { since: now };
                } else {
                    *inner = Inner::Closed { failures };
                }
            }
            Inner::HalfOpen { .. } => {
                tracing::warn!("probe failed; circuit breaker open again");
                *inner = Inner::Open { since: now };
            }
            // Calls made before it opened may still be ending; they do not extend the cool-down.
            Inner::Open { .. } => {}
        }
    }

    /// Records the result of an operator call.
    pub fn record<T>(&self, result: &Result<T, ProviderError>) {
        match result {
            Err(ProviderError::Unavailable(_) | ProviderError::InDoubt(_)) => self.record_failure(),
            Err(ProviderError::Unsupported(_)) => {}
            _ => self.record_success(),
        }
    }

    /// Where the breaker stands.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether new requests are being refused (open, or half-open with its probe out).
    pub fn is_tripped(&self) -> bool {
        self.state() != BreakerState::Closed
    }
}

/// The GSMA error of a request refused because its operator's breaker is open: `503 serviceUnavailable`.
pub fn refused(provider: &str) -> GsmaError {
    GsmaError::unavailable(
        "The operator is unavailable; the request was not accepted. Try again later",
    )
    .with_param("provider", provider)
}

/// One breaker of a [`GuardedProvider`]: the currency it guards and its label.
struct Guard {
    /// The currency code whose requests it guards (`""`: every request of a single-currency provider).
    currency: &'static str,
    /// `daraja`, or `mpesa-openapi:TZS` for one market of a provider serving several.
    label: String,
    breaker: Arc<Breaker>,
}

/// A provider whose operator calls feed circuit breakers: one per currency it serves, so that for the M-Pesa
/// OpenAPI, where each currency is one market (TZS Tanzania, GHS Ghana, …), each market has its own breaker.
/// A call that carries a transaction counts for that transaction's currency; one that carries none (a balance
/// or name enquiry, start-up work) counts only for a provider with a single breaker.
pub struct GuardedProvider {
    inner: Arc<dyn Provider>,
    guards: Vec<Guard>,
}

impl GuardedProvider {
    /// Wraps `inner` with new closed breakers.
    pub fn new(inner: Arc<dyn Provider>, settings: BreakerSettings) -> Self {
        let mut currencies: Vec<&'static str> = inner
            .capabilities()
            .currencies
            .iter()
            .map(|c| c.code())
            .collect();
        currencies.sort_unstable();
        currencies.dedup();
        let name = inner.name().to_owned();
        let guards = if currencies.len() <= 1 || !inner.breaker_per_currency() {
            vec![Guard {
                currency: "",
                label: name,
                breaker: Arc::new(Breaker::new(settings)),
            }]
        } else {
            currencies
                .into_iter()
                .map(|currency| Guard {
                    currency,
                    label: format!("{name}:{currency}"),
                    breaker: Arc::new(Breaker::new(settings.clone())),
                })
                .collect()
        };
        Self { inner, guards }
    }

    /// Every breaker, with its label (`daraja`, `mpesa-openapi:TZS`, …).
    pub fn breakers(&self) -> impl Iterator<Item = (&str, &Arc<Breaker>)> {
        self.guards.iter().map(|g| (g.label.as_str(), &g.breaker))
    }

    /// The breaker that guards requests in `currency` (a three-letter code).
    pub fn breaker_for(&self, currency: &str) -> Option<&Arc<Breaker>> {
        match self.guards.as_slice() {
            [only] => Some(&only.breaker),
            guards => guards
                .iter()
                .find(|g| g.currency == currency)
                .map(|g| &g.breaker),
        }
    }

    /// The breaker of calls that carry no currency: the only one, if there is only one.
    fn sole_breaker(&self) -> Option<&Arc<Breaker>> {
        match self.guards.as_slice() {
            [only] => Some(&only.breaker),
            _ => None,
        }
    }

    fn record_for<T>(&self, currency: &str, result: &Result<T, ProviderError>) {
        if let Some(b) = self.breaker_for(currency) {
            b.record(result);
        }
    }

    /// Refuses a call without a currency while the sole breaker refuses new requests.
    fn admit_uncurrencied(&self) -> Result<(), ProviderError> {
        match self.sole_breaker() {
            Some(b) if b.admit() == Admission::Refused => Err(ProviderError::Unavailable(
                "the operator's circuit breaker is open".into(),
            )),
            _ => Ok(()),
        }
    }

    fn record_uncurrencied<T>(&self, result: &Result<T, ProviderError>) {
        if let Some(b) = self.sole_breaker() {
            b.record(result);
        }
    }
}

#[async_trait]
impl Provider for GuardedProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn check(&self, request: &CheckRequest<'_>) -> Result<(), GsmaError> {
        self.inner.check(request)
    }

    fn check_mandate(
        &self,
        payer: &[mmapi_core::model::Party],
        request: &mmapi_core::mandate::DebitMandateRequest,
    ) -> Result<(), GsmaError> {
        self.inner.check_mandate(payer, request)
    }

    async fn create_mandate(
        &self,
        order: &mmapi_core::mandate::MandateOrder<'_>,
    ) -> Result<ProviderRefs, ProviderError> {
        let result = self.inner.create_mandate(order).await;
        match order.request.currency {
            Some(currency) => self.record_for(currency.code(), &result),
            None => self.record_uncurrencied(&result),
        }
        result
    }

    async fn resume_mandate(
        &self,
        order: &mmapi_core::mandate::MandateOrder<'_>,
    ) -> Result<ProviderRefs, ProviderError> {
        let result = self.inner.resume_mandate(order).await;
        match order.request.currency {
            Some(currency) => self.record_for(currency.code(), &result),
            None => self.record_uncurrencied(&result),
        }
        result
    }

    async fn query_mandate(
        &self,
        mandate: &mmapi_core::mandate::MandateContext,
    ) -> Result<mmapi_core::mandate::MandateState, ProviderError> {
        self.admit_uncurrencied()?;
        let result = self.inner.query_mandate(mandate).await;
        self.record_uncurrencied(&result);
        result
    }

    async fn cancel_mandate(
        &self,
        mandate: &mmapi_core::mandate::MandateContext,
    ) -> Result<(), ProviderError> {
        self.admit_uncurrencied()?;
        let result = self.inner.cancel_mandate(mandate).await;
        self.record_uncurrencied(&result);
        result
    }

    async fn submit(
        &self,
        transaction: &Transaction,
        context: &DispatchContext,
    ) -> Result<Submitted, ProviderError> {
        let result = self.inner.submit(transaction, context).await;
        self.record_for(transaction.currency.code(), &result);
        result
    }

    async fn resend(
        &self,
        transaction: &Transaction,
        context: &DispatchContext,
    ) -> Result<Submitted, ProviderError> {
        let result = self.inner.resend(transaction, context).await;
        self.record_for(transaction.currency.code(), &result);
        result
    }

    async fn status(
        &self,
        transaction: &Transaction,
        refs: &ProviderRefs,
    ) -> Result<Outcome, ProviderError> {
        let result = self.inner.status(transaction, refs).await;
        self.record_for(transaction.currency.code(), &result);
        result
    }

    async fn account_name(&self, account: AccountRef<'_>) -> Result<AccountName, ProviderError> {
        self.admit_uncurrencied()?;
        let result = self.inner.account_name(account).await;
        self.record_uncurrencied(&result);
        result
    }

    fn breaker_per_currency(&self) -> bool {
        self.inner.breaker_per_currency()
    }

    async fn forward(&self, request: &ForwardRequest<'_>) -> Result<ForwardAnswer, ProviderError> {
        self.admit_uncurrencied()?;
        let result = self.inner.forward(request).await;
        self.record_uncurrencied(&result);
        result
    }

    async fn pull_incoming(
        &self,
        from: mmapi_core::Timestamp,
        to: mmapi_core::Timestamp,
    ) -> Result<Vec<mmapi_core::provider::IncomingPayment>, ProviderError> {
        let result = self.inner.pull_incoming(from, to).await;
        self.record_uncurrencied(&result);
        result
    }

    async fn start(&self) -> Result<(), ProviderError> {
        let result = self.inner.start().await;
        self.record_uncurrencied(&result);
        result
    }

    async fn send_invoices(
        &self,
        invoices: &[mmapi_core::provider::Invoice],
    ) -> Result<(), ProviderError> {
        self.admit_uncurrencied()?;
        let result = self.inner.send_invoices(invoices).await;
        self.record_uncurrencied(&result);
        result
    }

    async fn cancel_invoices(&self, external_references: &[String]) -> Result<(), ProviderError> {
        self.admit_uncurrencied()?;
        let result = self.inner.cancel_invoices(external_references).await;
        self.record_uncurrencied(&result);
        result
    }

    async fn balance(&self, account: AccountRef<'_>) -> Result<Balance, ProviderError> {
        self.admit_uncurrencied()?;
        let result = self.inner.balance(account).await;
        self.record_uncurrencied(&result);
        result
    }

    fn result_deadline(&self, transaction_type: TransactionType) -> Duration {
        self.inner.result_deadline(transaction_type)
    }

    fn unacknowledged_expiry(&self, transaction_type: TransactionType) -> Option<Duration> {
        self.inner.unacknowledged_expiry(transaction_type)
    }

    fn callback_router(&self, sink: Arc<dyn EventSink>) -> Option<axum::Router> {
        self.inner.callback_router(sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, cool_down_ms: u64) -> Breaker {
        Breaker::new(BreakerSettings {
            failure_threshold: threshold,
            cool_down_ms,
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker(3, 1_000);
        let t = Instant::now();
        b.record_failure_at(t);
        b.record_failure_at(t);
        b.record_success();
        b.record_failure_at(t);
        b.record_failure_at(t);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit_at(t), Admission::Allowed);
        b.record_failure_at(t);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.admit_at(t + Duration::from_millis(999)),
            Admission::Refused
        );
    }

    #[test]
    fn half_opens_after_the_cool_down_with_one_probe() {
        let b = breaker(1, 1_000);
        let t = Instant::now();
        b.record_failure_at(t);
        let later = t + Duration::from_millis(1_000);
        assert_eq!(b.admit_at(later), Admission::Probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.admit_at(later), Admission::Refused);
        // The probe fails: open again, for a whole new cool-down.
        b.record_failure_at(later);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.admit_at(later + Duration::from_millis(500)),
            Admission::Refused
        );
        assert_eq!(
            b.admit_at(later + Duration::from_millis(1_000)),
            Admission::Probe
        );
        // The probe succeeds: closed.
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit_at(later), Admission::Allowed);
    }

    #[test]
    fn a_lost_probe_is_replaced_after_a_cool_down() {
        let b = breaker(1, 100);
        let t = Instant::now();
        b.record_failure_at(t);
        assert_eq!(b.admit_at(t + Duration::from_millis(100)), Admission::Probe);
        assert_eq!(
            b.admit_at(t + Duration::from_millis(150)),
            Admission::Refused
        );
        assert_eq!(b.admit_at(t + Duration::from_millis(200)), Admission::Probe);
    }

    #[test]
    fn failures_while_open_do_not_extend_it() {
        let b = breaker(1, 100);
        let t = Instant::now();
        b.record_failure_at(t);
        b.record_failure_at(t + Duration::from_millis(90));
        assert_eq!(b.admit_at(t + Duration::from_millis(100)), Admission::Probe);
    }

    #[test]
    fn which_results_count() {
        let b = breaker(1, 60_000);
        b.record::<()>(&Err(ProviderError::Unsupported("x".into())));
        b.record::<()>(&Err(ProviderError::Configuration("x".into())));
        assert_eq!(b.state(), BreakerState::Closed);
        b.record::<()>(&Err(ProviderError::InDoubt("timeout".into())));
        assert_eq!(b.state(), BreakerState::Open);
        b.record::<()>(&Ok(()));
        assert_eq!(b.state(), BreakerState::Closed);
        b.record::<()>(&Err(ProviderError::Unavailable("refused".into())));
        assert_eq!(b.state(), BreakerState::Open);
    }

    /// A provider that only names itself and its currencies.
    struct Named(&'static [&'static str]);

    #[async_trait]
    impl Provider for Named {
        fn name(&self) -> &str {
            "p"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                transaction_types: Vec::new(),
                currencies: self
                    .0
                    .iter()
                    .filter_map(|c| mmapi_core::currency::Currency::parse(c).ok())
                    .collect(),
                ..Capabilities::default()
            }
        }
        fn check(&self, _: &CheckRequest<'_>) -> Result<(), GsmaError> {
            Ok(())
        }
        async fn submit(
            &self,
            _: &Transaction,
            _: &DispatchContext,
        ) -> Result<Submitted, ProviderError> {
            Err(ProviderError::Unsupported("test".into()))
        }
        async fn status(
            &self,
            _: &Transaction,
            _: &ProviderRefs,
        ) -> Result<Outcome, ProviderError> {
            Err(ProviderError::Unsupported("test".into()))
        }
        fn result_deadline(&self, _: TransactionType) -> Duration {
            Duration::from_secs(1)
        }
        fn unacknowledged_expiry(&self, _: TransactionType) -> Option<Duration> {
            None
        }
        fn callback_router(&self, _: Arc<dyn EventSink>) -> Option<axum::Router> {
            None
        }
    }

    #[test]
    fn one_breaker_per_currency_of_a_multi_market_provider() {
        let g = GuardedProvider::new(Arc::new(Named(&["TZS", "GHS"])), BreakerSettings::default());
        let labels: Vec<&str> = g.breakers().map(|(l, _)| l).collect();
        assert_eq!(labels, ["p:GHS", "p:TZS"]);
        let (Some(tzs), Some(ghs)) = (g.breaker_for("TZS"), g.breaker_for("GHS")) else {
            panic!("a breaker per currency");
        };
        assert!(!Arc::ptr_eq(tzs, ghs));
        assert!(g.breaker_for("KES").is_none());
        assert!(g.sole_breaker().is_none());

        let single = GuardedProvider::new(Arc::new(Named(&["KES"])), BreakerSettings::default());
        let labels: Vec<&str> = single.breakers().map(|(l, _)| l).collect();
        assert_eq!(labels, ["p"]);
        assert!(single.breaker_for("KES").is_some());
        assert!(single.sole_breaker().is_some());
    }

    #[test]
    fn the_refusal_is_a_503() {
        let e = refused("daraja");
        assert_eq!(e.http_status(), 503);
    }
}

//! Filling in incoming payments whose notification never came: every `pull_interval_secs`, each operator that
//! lists its incoming payments (Daraja's Pull Transactions) is asked for those since the last pull, and each is
//! recorded as its notification would have recorded it. One already recorded (by its operator reference, e.g.
//! the M-Pesa receipt) changes nothing, so pulls may overlap and several instances may pull at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mmapi_core::provider::{EventReceipt, EventSink, ProviderError};
use mmapi_core::Timestamp;

use crate::engine::Engine;

/// How far back the first pull after a start reaches (Daraja lists the last 48 hours).
const FIRST_LOOKBACK: chrono::Duration = chrono::Duration::hours(48);
/// How far before the previous pull's end the next one starts, for payments recorded late at the operator.
const OVERLAP: chrono::Duration = chrono::Duration::minutes(10);
/// How long after a start the first pull comes at most (the providers' start-up is given 10 s).
const FIRST_PULL_AFTER: Duration = Duration::from_secs(15);

/// Starts the periodic pull (none when `pull_interval_secs` is 0).
pub(super) fn spawn(engine: Arc<Engine>) {
    let every = engine.settings.pull_interval_secs;
    if every == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut pulled_until: HashMap<String, Timestamp> = HashMap::new();
        // Not at once: the providers' start-up (which registers the shortcodes for pulling) runs first.
        let every = Duration::from_secs(every);
        let first = tokio::time::Instant::now() + every.min(FIRST_PULL_AFTER);
        let mut tick = tokio::time::interval_at(first, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            pull_once(&engine, &mut pulled_until).await;
        }
    });
}

/// One pull from every operator that lists incoming payments.
async fn pull_once(engine: &Engine, pulled_until: &mut HashMap<String, Timestamp>) {
    let now = Timestamp::now();
    for provider in engine.router().providers() {
        let name = provider.name();
        let from = match pulled_until.get(name) {
            Some(until) => Timestamp(until.0 - OVERLAP),
            None => Timestamp(now.0 - FIRST_LOOKBACK),
        };
        let payments = match provider.pull_incoming(from, now).await {
            Ok(payments) => payments,
            Err(ProviderError::Unsupported(_)) => continue,
            Err(e) => {
                tracing::warn!(provider = name, error = %e, "pulling incoming payments failed");
                continue;
            }
        };
        let (mut filled, mut failed) = (0usize, false);
        for payment in payments {
            let receipt = payment.provider_reference.clone();
            match engine.incoming(name, payment).await {
                Ok(EventReceipt::Applied) => {
                    filled += 1;
                    tracing::info!(
                        provider = name,
                        receipt,
                        "an incoming payment whose notification never came was filled in"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    failed = true;
                    tracing::warn!(provider = name, receipt, error = %e, "could not record a pulled payment");
                }
            }
        }
        if !failed {
            pulled_until.insert(name.to_owned(), now);
        }
        if filled > 0 {
            crate::metrics::metrics().pulled_payments(name, filled);
        }
    }
}

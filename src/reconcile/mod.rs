//! Settling transactions whose operator result has not come: a periodic pass over due work sends what was never
//! sent (after a restart, or when the dispatch queue was full) and asks the operator about the rest, with
//! back-off, until each is final or its give-up time has passed, when it is marked for manual review (see
//! [`crate::review`]) instead of being failed. Nothing is ever sent twice: sending is claimed in the store first.
//! Incoming payments whose notification never came are filled in from the operators' lists ([`pull`]).

use std::sync::Arc;
use std::time::Duration;

use mmapi_core::model::Transaction;
use mmapi_core::provider::{Outcome, ProviderRefs};

use crate::engine::dispatch::{dispatch, finish, mark_in_doubt, millis, resend, transaction_of};
use crate::engine::{now_ms, Engine};
use crate::store::{Change, TransactionRow};

mod pull;

/// The most account-count deltas folded per pass (PostgreSQL; see `Store::fold_account_counts`): well above
/// what a pass's worth of payments at peak leaves.
const ACCOUNT_COUNT_FOLD: i64 = 50_000;

/// Starts the periodic reconciliation pass.
pub fn spawn(engine: Arc<Engine>) {
    pull::spawn(Arc::clone(&engine));
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval(Duration::from_millis(engine.settings.tick_ms.max(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = reconcile_due(&engine).await {
                tracing::warn!(error = %e, "reconciliation pass failed");
            }
            if let Err(e) = engine.resume_stale_mandates().await {
                tracing::warn!(error = %e, "resuming interrupted mandate creations failed");
            }
            if let Err(e) = engine.resume_stale_invoices().await {
                tracing::warn!(error = %e, "resuming interrupted invoices failed");
            }
            if let Err(e) = engine.relay_due_outcomes().await {
                tracing::warn!(error = %e, "asking operators for the outcomes of forwarded requests failed");
            }
            if let Err(e) = engine.store().fold_account_counts(ACCOUNT_COUNT_FOLD).await {
                tracing::warn!(error = %e, "folding the accounts' transaction counts failed");
            }
        }
    });
}

/// One pass over the transactions that are due: unsent ones are sent, the others are checked.
async fn reconcile_due(engine: &Arc<Engine>) -> Result<(), crate::store::StoreError> {
    let due = engine
        .store()
        .claim_due_transactions(now_ms(), engine.lease_ms(), 500)
        .await?;
    for row in due {
        if !engine.claim(&row.transaction_reference) {
            continue;
        }
        let Ok(permit) = engine.permits.clone().acquire_owned().await else {
            break;
        };
        let e = engine.clone();
        tokio::spawn(async move {
            match row.dispatch_state.as_str() {
                "queued" => dispatch(&e, &row).await,
                "sending" => mark_in_doubt(&e, &row, "its dispatch never finished").await,
                _ => check_status(&e, &row).await,
            }
            e.release(&row.transaction_reference);
            drop(permit);
        });
    }
    Ok(())
}

/// Asks the operator what became of a transaction whose result is overdue.
async fn check_status(engine: &Engine, row: &TransactionRow) {
    let Some(provider) = engine.router().by_name(&row.provider).cloned() else {
        return;
    };
    let Some(transaction) = transaction_of(row) else {
        return;
    };
    let refs: ProviderRefs = row
        .provider_refs
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    let deadline = provider.result_deadline(transaction.transaction_type);
    let started = std::time::Instant::now();
    let answer = provider.status(&transaction, &refs).await;
    crate::metrics::metrics().operator_call(
        &row.provider,
        "status",
        crate::metrics::outcome_of(&answer),
        started.elapsed(),
    );
    if let Ok(outcome) = &answer {
        if *outcome != Outcome::Pending {
            finish(engine, row, outcome, None).await;
            return;
        }
    }
    // Not known to the operator, or no answer: a request it never acknowledged goes again under its idempotency
    // key, where the operator has one (it refuses a repeat of one it took).
    if unacknowledged(row) && resend(engine, provider.as_ref(), row, &transaction).await {
        return;
    }
    match answer {
        Ok(_) => {}
        Err(e) => {
            if unacknowledged_expired(provider.as_ref(), row, &transaction) {
                // The operator may have taken it and its result been lost: only a person can tell.
                tracing::warn!(reference = %row.transaction_reference, provider = %row.provider, "no acknowledgement and no operator result by the expiry, and no way to ask; marked for manual review");
                mark_for_review(engine, row).await;
                return;
            }
            tracing::info!(reference = %row.transaction_reference, error = %e, "status query gave no answer; will ask again");
        }
    }
    let now = now_ms();
    if review_due(engine, row, &transaction, now) {
        tracing::warn!(reference = %row.transaction_reference, provider = %row.provider, "no operator result by the give-up time; marked for manual review");
        mark_for_review(engine, row).await;
        return;
    }
    let change = Change::CheckLater {
        transaction_reference: row.transaction_reference.clone(),
        next_check_at: now + millis(engine.check_backoff(deadline, row.check_attempts)),
        now_ms: now,
    };
    if let Err(e) = engine.store().apply(change).await {
        tracing::error!(reference = %row.transaction_reference, error = %e, "could not schedule a status check");
    }
}

/// Leaves an unsettled transaction to a person: it stays pending, and is no longer queried.
async fn mark_for_review(engine: &Engine, row: &TransactionRow) {
    let change = Change::Review {
        transaction_reference: row.transaction_reference.clone(),
        now_ms: now_ms(),
    };
    match engine.store().apply(change).await {
        // No longer awaited in memory; a late operator result is found in the store.
        Ok(_) => engine.awaiting.remove(&row.transaction_reference),
        Err(e) => {
            tracing::error!(reference = %row.transaction_reference, error = %e, "could not mark a transaction for review")
        }
    }
}

/// Whether an unsettled transaction has passed its provider's give-up time, counted from its creation.
fn review_due(engine: &Engine, row: &TransactionRow, transaction: &Transaction, now: i64) -> bool {
    let Some(since) = transaction
        .creation_date
        .map(|d| d.millis())
        .or(row.in_doubt_since)
    else {
        return false;
    };
    now >= since.saturating_add(millis(engine.settings.review_after(&row.provider)))
}

/// Whether an in-doubt transaction with no operator reference (so no status query can find it) has passed its
/// provider's expiry with no result. The operator most likely never took it, but its result may also have been
/// lost (a customer who paid): it is not failed on that guess but left for review.
fn unacknowledged_expired(
    provider: &dyn mmapi_core::provider::Provider,
    row: &TransactionRow,
    transaction: &Transaction,
) -> bool {
    if !unacknowledged(row) {
        return false;
    }
    let Some(expiry) = provider.unacknowledged_expiry(transaction.transaction_type) else {
        return false;
    };
    let Some(since) = row.in_doubt_since else {
        return false;
    };
    now_ms() >= since + millis(expiry)
}

/// Whether a transaction may have been sent but the operator never acknowledged it (no operator reference).
fn unacknowledged(row: &TransactionRow) -> bool {
    row.provider_reference.is_none() && row.dispatch_state == "in_doubt"
}

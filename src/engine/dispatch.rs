//! Sending accepted transactions to their operator, and settling those whose result has not come.

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::Transaction;
use mmapi_core::provider::{
    DispatchContext, Failure, Outcome, ProviderError, ProviderRefs, Submitted,
};
use mmapi_core::GsmaError;
use tokio::sync::mpsc;

use super::{now_ms, DispatchJob, Engine};
use crate::store::{Change, TransactionRow};

/// Starts the dispatcher: it sends each transaction queued by [`Engine::accept_transaction`] at once. It and
/// the operator calls it starts run on `runtime` (see [`super::background`]), or on the caller's runtime.
pub fn spawn_dispatcher(
    engine: Arc<Engine>,
    mut queue: mpsc::Receiver<DispatchJob>,
    runtime: Option<&tokio::runtime::Handle>,
) {
    let e = engine;
    let dispatcher = async move {
        while let Some(job) = queue.recv().await {
            let Ok(permit) = e.permits.clone().acquire_owned().await else {
                break;
            };
            let e = e.clone();
            tokio::spawn(async move {
                if e.claim(&job.row.transaction_reference) {
                    // Boxed, so that the task stays small: a dispatch's future is kilobytes, and tokio moves a
                    // task's future several times between spawning and finishing it (a tenth of the gateway's
                    // instructions per payment went to those copies).
                    Box::pin(dispatch_parsed(&e, &job.row, Some(job.transaction))).await;
                    e.release(&job.row.transaction_reference);
                }
                drop(permit);
            });
        }
    };
    match runtime {
        Some(runtime) => drop(runtime.spawn(dispatcher)),
        None => drop(tokio::spawn(dispatcher)),
    }
}

pub(crate) fn transaction_of(row: &TransactionRow) -> Option<Transaction> {
    match serde_json::from_str(&row.body) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(reference = %row.transaction_reference, error = %e, "stored transaction is unreadable");
            None
        }
    }
}

/// Sends one transaction. The claim (`queued` → `sending`) is committed first, so a transaction is sent by one
/// dispatcher at most, and a stop during the call leaves it `in_doubt`, to be settled by status query.
pub(crate) async fn dispatch(engine: &Engine, row: &TransactionRow) {
    dispatch_parsed(engine, row, None).await
}

/// [`dispatch`], given the row's transaction if it is at hand.
async fn dispatch_parsed(engine: &Engine, row: &TransactionRow, transaction: Option<Transaction>) {
    // The operator call is logged with the request that created the transaction.
    let span = tracing::info_span!(
        "dispatch",
        request_id = row.request_id.as_deref().unwrap_or(""),
        reference = %row.transaction_reference,
        provider = %row.provider,
    );
    dispatch_row(engine, row, transaction)
        .instrument(span)
        .await
}

async fn dispatch_row(engine: &Engine, row: &TransactionRow, transaction: Option<Transaction>) {
    let reference = &row.transaction_reference;
    let Some(provider) = engine.router.by_name(&row.provider).cloned() else {
        tracing::error!(reference, provider = %row.provider, "transaction routed to a provider that is no longer configured");
        return;
    };
    let Some(transaction) = transaction.or_else(|| transaction_of(row)) else {
        return;
    };
    match engine
        .store
        .apply(Change::Sending {
            transaction_reference: reference.clone(),
            now_ms: now_ms(),
            claimed_until: now_ms() + engine.lease_ms(),
        })
        .await
    {
        Ok(1) => engine.awaiting.insert(row),
        Ok(_) => return, // already sent or final
        Err(e) => {
            tracing::warn!(reference, error = %e, "could not claim a transaction for dispatch; will retry");
            return;
        }
    }
    let deadline = provider.result_deadline(transaction.transaction_type);
    let context = match dispatch_context(engine, &transaction).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(reference, error = %e, "could not load the original of a reversal; will retry");
            return;
        }
    };
    let started = std::time::Instant::now();
    let result = provider.submit(&transaction, &context).await;
    crate::metrics::metrics().operator_call(
        &row.provider,
        "submit",
        crate::metrics::outcome_of(&result),
        started.elapsed(),
    );
    let now = now_ms();
    let outcome = match result {
        Ok(submitted) => {
            record_submitted(engine, row, &submitted, deadline).await;
            return;
        }
        Err(ProviderError::Rejected(failure)) => Outcome::Failed(failure),
        Err(ProviderError::Unsupported(text)) => failed(GsmaError::transaction_type(text)),
        Err(ProviderError::Configuration(text)) => {
            tracing::error!(reference, provider = %row.provider, reason = %text, "operator refused the gateway's configuration");
            failed(GsmaError::new(
                ErrorCategory::Internal,
                ErrorCode::GenericError,
                "The gateway's connection to the operator is misconfigured; the transaction was not processed",
            ))
        }
        Err(ProviderError::Unavailable(text)) => {
            let attempts = row.dispatch_attempts + 1;
            if attempts >= i64::from(engine.settings.max_attempts) {
                tracing::warn!(reference, attempts, reason = %text, "operator unreachable; giving up");
                failed(GsmaError::unavailable(
                    "The operator could not be reached; the transaction was not processed",
                ))
            } else {
                tracing::info!(reference, attempts, reason = %text, "operator unreachable; will retry");
                let wait = Duration::from_secs(2u64.saturating_pow(attempts as u32))
                    .min(Duration::from_secs(60));
                let change = Change::RetryDispatch {
                    transaction_reference: reference.clone(),
                    next_check_at: now + millis(wait),
                    now_ms: now,
                };
                if let Err(e) = engine.store.apply(change).await {
                    tracing::error!(reference, error = %e, "could not schedule a dispatch retry");
                }
                return;
            }
        }
        Err(ProviderError::InDoubt(text)) => {
            mark_in_doubt(engine, row, &text).await;
            return;
        }
    };
    finish(engine, row, &outcome, None).await;
}

/// Records the operator's answer to a request it took: its references, to await the result with (or ask
/// about it after `deadline`), or the outcome when it answered synchronously.
async fn record_submitted(
    engine: &Engine,
    row: &TransactionRow,
    submitted: &Submitted,
    deadline: Duration,
) {
    let reference = &row.transaction_reference;
    if submitted.outcome != Outcome::Pending {
        finish(engine, row, &submitted.outcome, Some(&submitted.refs)).await;
        return;
    }
    let now = now_ms();
    let refs_json = serde_json::to_string(&submitted.refs).unwrap_or_default();
    let change = Change::Acknowledged {
        transaction_reference: reference.clone(),
        provider_reference: submitted.refs.reference.clone(),
        provider_refs: refs_json.clone(),
        next_check_at: now + millis(deadline),
        now_ms: now,
    };
    match engine.store.apply(change).await {
        Ok(_) => engine
            .awaiting
            .acknowledged(reference, &submitted.refs.reference, &refs_json),
        Err(e) => {
            tracing::error!(reference, error = %e, "could not record the operator's acknowledgement")
        }
    }
}

/// Sends an in-doubt transaction that the operator never acknowledged again, under its idempotency key (see
/// [`mmapi_core::provider::Provider::resend`]). Returns whether that settled where it stands: the operator took
/// it now (acknowledged, or answered with its outcome). Anything else leaves it in doubt, for the caller to
/// ask about later: a refusal may be the operator's duplicate of a first request it did carry out.
pub(crate) async fn resend(
    engine: &Engine,
    provider: &dyn mmapi_core::provider::Provider,
    row: &TransactionRow,
    transaction: &Transaction,
) -> bool {
    let reference = &row.transaction_reference;
    match refused_as_duplicate(engine, reference).await {
        Ok(false) => {}
        Ok(true) => {
            // The operator has said it holds the first: another repeat would only be refused again.
            tracing::debug!(reference, provider = %row.provider, "not resent: the operator already refused a repeat as a duplicate");
            return false;
        }
        Err(e) => {
            tracing::warn!(reference, error = %e, "could not read the transaction's story before resending it");
            return false;
        }
    }
    let context = match dispatch_context(engine, transaction).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(reference, error = %e, "could not load the original of a reversal to resend it");
            return false;
        }
    };
    // Awaited before the call, as a first send is: an asynchronous result may come before the answer.
    engine.awaiting.insert(row);
    let started = std::time::Instant::now();
    let result = provider.resend(transaction, &context).await;
    if !matches!(result, Err(ProviderError::Unsupported(_))) {
        crate::metrics::metrics().operator_call(
            &row.provider,
            "resend",
            crate::metrics::outcome_of(&result),
            started.elapsed(),
        );
    }
    let answer = match &result {
        Err(ProviderError::Unsupported(_)) => return false,
        Ok(_) => serde_json::json!({"answer": "taken"}),
        Err(ProviderError::Rejected(failure)) => {
            let duplicate = failure.error.error_code == ErrorCode::DuplicateRequest;
            tracing::info!(reference, provider = %row.provider, code = %failure.provider_code, duplicate, "the operator refused the resend of an in-doubt transaction (a duplicate if it has the first); still in doubt");
            serde_json::json!({"answer": "refused", "providerCode": failure.provider_code, "duplicate": duplicate})
        }
        Err(e) => {
            tracing::info!(reference, provider = %row.provider, error = %e, "resend of an in-doubt transaction gave no answer; still in doubt");
            serde_json::json!({"answer": "none"})
        }
    };
    let step = Change::Resent {
        transaction_reference: reference.clone(),
        answer: answer.to_string(),
        now_ms: now_ms(),
    };
    if let Err(e) = engine.store.apply(step).await {
        tracing::warn!(reference, error = %e, "could not record a resend in the transaction's story");
    }
    let Ok(submitted) = result else {
        return false;
    };
    tracing::info!(reference, provider = %row.provider, "in-doubt transaction sent again under its idempotency key; the operator took it");
    let deadline = provider.result_deadline(transaction.transaction_type);
    record_submitted(engine, row, &submitted, deadline).await;
    true
}

/// Whether an earlier resend of the transaction `reference` was refused as a duplicate: the operator then holds the
/// first request, and its result is awaited or queried, not sent for again.
async fn refused_as_duplicate(
    engine: &Engine,
    reference: &str,
) -> Result<bool, crate::store::StoreError> {
    let story = engine.store.transaction_events(reference).await?;
    Ok(story.iter().any(|step| {
        step.kind == "resent"
            && step
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                .is_some_and(|d| d["duplicate"] == serde_json::Value::Bool(true))
    }))
}

/// What a provider needs besides the transaction: for a reversal, the original with its operator references.
async fn dispatch_context(
    engine: &Engine,
    transaction: &Transaction,
) -> Result<DispatchContext, crate::store::StoreError> {
    if let Some(mandate) = engine.mandate_context(transaction).await? {
        return Ok(DispatchContext {
            mandate: Some(mandate),
            ..DispatchContext::default()
        });
    }
    if transaction.transaction_type != mmapi_core::model::TransactionType::Reversal {
        return Ok(DispatchContext::default());
    }
    let Some(original_reference) = &transaction.original_transaction_reference else {
        return Ok(DispatchContext::default());
    };
    let Some(row) = engine.store.transaction(original_reference).await? else {
        return Ok(DispatchContext::default());
    };
    let original: Transaction = serde_json::from_str(&row.body)
        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
    let refs: ProviderRefs = row
        .provider_refs
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    Ok(DispatchContext {
        original: Some((original, refs)),
        ..DispatchContext::default()
    })
}

pub(crate) fn failed(error: GsmaError) -> Outcome {
    Outcome::Failed(Failure {
        error,
        provider_code: String::new(),
        provider_description: String::new(),
    })
}

pub(crate) async fn mark_in_doubt(engine: &Engine, row: &TransactionRow, why: &str) {
    let deadline = engine
        .router
        .by_name(&row.provider)
        .map(|p| {
            p.result_deadline(
                row.transaction_type
                    .parse()
                    .unwrap_or(mmapi_core::model::TransactionType::Merchantpay),
            )
        })
        .unwrap_or(Duration::from_secs(60));
    tracing::warn!(reference = %row.transaction_reference, reason = why, "operator outcome in doubt; will settle by status query");
    let now = now_ms();
    let change = Change::InDoubt {
        transaction_reference: row.transaction_reference.clone(),
        next_check_at: now + millis(deadline),
        now_ms: now,
    };
    if let Err(e) = engine.store.apply(change).await {
        tracing::error!(reference = %row.transaction_reference, error = %e, "could not record an in-doubt dispatch");
    }
}

pub(crate) async fn finish(
    engine: &Engine,
    row: &TransactionRow,
    outcome: &Outcome,
    refs: Option<&ProviderRefs>,
) {
    if let Err(e) = engine.finalise(row, outcome, refs).await {
        tracing::error!(reference = %row.transaction_reference, error = %e, "could not record a final outcome; will settle by status query");
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

//! Transactions this instance sent and whose operator result it awaits, kept in memory so that the result's
//! callback finds its transaction without a database read. The store stays the truth: every change is still
//! guarded there (`status = 'pending'`), so a stale entry can only cost a no-op, and a miss (after a restart, on
//! another instance, or past the capacity) falls back to the store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::TransactionRow;

/// The most entries kept; beyond it new transactions are looked up in the store.
const CAPACITY: usize = 200_000;

/// When full, entries older than this are dropped (their results, if any, are found in the store). An entry
/// can outlive its transaction only when another instance made it final.
const STALE_AFTER: Duration = Duration::from_secs(600);

/// Awaited transactions by reference, and by the operator's reference once it is known.
#[derive(Default)]
pub(crate) struct Awaiting {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rows: HashMap<String, (TransactionRow, Instant)>,
    /// (provider, operator reference) → our reference.
    by_operator: HashMap<(String, String), String>,
}

impl Awaiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that matters: every entry is
        // only a hint.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers a transaction about to be sent.
    pub(crate) fn insert(&self, row: &TransactionRow) {
        let mut inner = self.lock();
        if inner.rows.len() >= CAPACITY {
            let now = Instant::now();
            inner
                .rows
                .retain(|_, (_, since)| now.duration_since(*since) < STALE_AFTER);
            let Inner { rows, by_operator } = &mut *inner;
            by_operator.retain(|_, reference| rows.contains_key(reference));
        }
        if inner.rows.len() < CAPACITY {
            inner.rows.insert(
                row.transaction_reference.clone(),
                (row.clone(), Instant::now()),
            );
        }
    }

    /// Records the operator's references of an awaited transaction.
    pub(crate) fn acknowledged(&self, reference: &str, operator_reference: &str, refs_json: &str) {
        let mut inner = self.lock();
        let Some((row, _)) = inner.rows.get_mut(reference) else {
            return;
        };
        row.provider_reference = Some(operator_reference.to_owned());
        row.provider_refs = Some(refs_json.to_owned());
        row.dispatch_state = "acknowledged".into();
        let key = (row.provider.clone(), operator_reference.to_owned());
        inner.by_operator.insert(key, reference.to_owned());
    }

    /// The awaited transaction with this reference.
    pub(crate) fn get(&self, reference: &str) -> Option<TransactionRow> {
        self.lock().rows.get(reference).map(|(row, _)| row.clone())
    }

    /// The awaited transaction the operator knows by `operator_reference`.
    pub(crate) fn by_operator(
        &self,
        provider: &str,
        operator_reference: &str,
    ) -> Option<TransactionRow> {
        let inner = self.lock();
        let reference = inner
            .by_operator
            .get(&(provider.to_owned(), operator_reference.to_owned()))?;
        inner.rows.get(reference).map(|(row, _)| row.clone())
    }

    /// Forgets a transaction that is final (or no longer this instance's to await).
    pub(crate) fn remove(&self, reference: &str) {
        let mut inner = self.lock();
        if let Some((row, _)) = inner.rows.remove(reference) {
            if let Some(operator_reference) = row.provider_reference {
                inner
                    .by_operator
                    .remove(&(row.provider, operator_reference));
            }
        }
    }

    /// How many transactions are awaited.
    pub(crate) fn len(&self) -> usize {
        self.lock().rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(reference: &str) -> TransactionRow {
        TransactionRow {
            transaction_reference: reference.into(),
            server_correlation_id: "rs".into(),
            client_id: "c".into(),
            transaction_type: "merchantpay".into(),
            status: "pending".into(),
            provider: "daraja".into(),
            dispatch_state: "queued".into(),
            dispatch_attempts: 0,
            provider_reference: None,
            provider_refs: None,
            check_attempts: 0,
            in_doubt_since: None,
            body: "{}".into(),
            callback_url: None,
            client_correlation_id: None,
            request_id: None,
        }
    }

    #[test]
    fn a_transaction_is_found_by_either_reference_until_removed() {
        let awaiting = Awaiting::default();
        awaiting.insert(&row("t1"));
        assert!(awaiting.by_operator("daraja", "ws_1").is_none());
        awaiting.acknowledged("t1", "ws_1", "{\"reference\":\"ws_1\"}");
        let found = awaiting
            .by_operator("daraja", "ws_1")
            .map(|r| r.transaction_reference);
        assert_eq!(found.as_deref(), Some("t1"));
        assert!(awaiting.by_operator("mpesa-openapi", "ws_1").is_none());
        assert_eq!(
            awaiting
                .get("t1")
                .and_then(|r| r.provider_reference)
                .as_deref(),
            Some("ws_1")
        );
        awaiting.remove("t1");
        assert!(awaiting.get("t1").is_none());
        assert!(awaiting.by_operator("daraja", "ws_1").is_none());
        assert_eq!(awaiting.len(), 0);
    }

    #[test]
    fn an_acknowledgement_of_an_unknown_transaction_is_ignored() {
        let awaiting = Awaiting::default();
        awaiting.acknowledged("t9", "ws_9", "{}");
        assert!(awaiting.by_operator("daraja", "ws_9").is_none());
    }
}

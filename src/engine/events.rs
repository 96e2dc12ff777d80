//! Results that operators post to the providers' callback routes.

use async_trait::async_trait;
use mmapi_core::provider::{
    EventError, EventReceipt, EventSink, IncomingPayment, Outcome, ProviderEvent, ProviderRefs,
};

use super::Engine;

#[async_trait]
impl EventSink for Engine {
    async fn deliver(
        &self,
        provider: &str,
        event: ProviderEvent,
    ) -> Result<EventReceipt, EventError> {
        let store_error = |e: crate::store::StoreError| EventError(e.to_string());
        let mut learnt = None;
        let known = match self.awaiting.by_operator(provider, &event.reference) {
            Some(row) => Some(row),
            None => self
                .store
                .transaction_by_provider_reference(provider, &event.reference)
                .await
                .map_err(store_error)?,
        };
        let row = match known {
            Some(row) => row,
            None => {
                // The result may come before the acknowledgement is recorded, or after a stop mid-dispatch left
                // the reference unknown: accept it for our transaction named in the callback URL, but only if
                // that transaction has no operator reference yet.
                let Some(hint) = event.transaction_hint.as_deref() else {
                    tracing::warn!(provider, reference = %event.reference, "ignored a result for an unknown operator reference");
                    return Ok(EventReceipt::Unknown);
                };
                let hinted = match self.awaiting.get(hint) {
                    Some(row) => Some(row),
                    None => self.store.transaction(hint).await.map_err(store_error)?,
                };
                match hinted {
                    // The acknowledgement may have been committed since the first look-up.
                    Some(row)
                        if row.provider == provider
                            && row
                                .provider_reference
                                .as_deref()
                                .is_none_or(|r| r == event.reference) =>
                    {
                        learnt = Some(ProviderRefs {
                            reference: event.reference.clone(),
                            ..Default::default()
                        });
                        row
                    }
                    _ => {
                        tracing::warn!(provider, reference = %event.reference, "ignored a result that matches no transaction");
                        return Ok(EventReceipt::Unknown);
                    }
                }
            }
        };
        if row.status != "pending" {
            return Ok(EventReceipt::AlreadyFinal);
        }
        if event.outcome == Outcome::Pending {
            return Ok(EventReceipt::NotFinal);
        }
        let changed = self
            .finalise(&row, &event.outcome, learnt.as_ref())
            .await
            .map_err(store_error)?;
        Ok(if changed {
            EventReceipt::Applied
        } else {
            EventReceipt::AlreadyFinal
        })
    }

    async fn incoming(
        &self,
        provider: &str,
        payment: IncomingPayment,
    ) -> Result<EventReceipt, EventError> {
        let recorded = self
            .record_incoming(provider, payment)
            .await
            .map_err(|e| EventError(e.to_string()))?;
        Ok(if recorded {
            EventReceipt::Applied
        } else {
            EventReceipt::AlreadyFinal
        })
    }
}

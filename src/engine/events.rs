//! Results that operators post to the providers' callback routes.

use async_trait::async_trait;
use mmapi_core::provider::{
    EventError, EventReceipt, EventSink, IncomingPayment, Outcome, ProviderEvent, ProviderRefs,
};

use super::Engine;
use crate::store::{StoreError, TransactionRow};

impl Engine {
    /// The transaction an operator result is for, with the operator reference learnt from it when the
    /// acknowledgement had not named it yet. Looks in memory first (this instance awaits most results it gets),
    /// then in the store.
    async fn transaction_for_result(
        &self,
        provider: &str,
        event: &ProviderEvent,
    ) -> Result<Option<(TransactionRow, Option<ProviderRefs>)>, StoreError> {
        if let Some(row) = self.awaiting.by_operator(provider, &event.reference) {
            return Ok(Some((row, None)));
        }
        // The result may come before the acknowledgement is recorded, or after a stop mid-dispatch left the
        // reference unknown: accept it for our transaction named in the callback URL, but only if that
        // transaction has no other operator reference.
        let hinted = |row: TransactionRow| {
            let fits = row.provider == provider
                && row
                    .provider_reference
                    .as_deref()
                    .is_none_or(|r| r == event.reference);
            let learnt = ProviderRefs {
                reference: event.reference.clone(),
                ..Default::default()
            };
            fits.then_some((row, Some(learnt)))
        };
        let hint = event.transaction_hint.as_deref();
        if let Some(row) = hint.and_then(|hint| self.awaiting.get(hint)) {
            if let Some(found) = hinted(row) {
                return Ok(Some(found));
            }
        }
        if let Some(row) = self
            .store
            .transaction_by_provider_reference(provider, &event.reference)
            .await?
        {
            return Ok(Some((row, None)));
        }
        let Some(hint) = hint else {
            return Ok(None);
        };
        // The acknowledgement may have been committed since the first look-up.
        Ok(self.store.transaction(hint).await?.and_then(hinted))
    }
}

#[async_trait]
impl EventSink for Engine {
    async fn deliver(
        &self,
        provider: &str,
        event: ProviderEvent,
    ) -> Result<EventReceipt, EventError> {
        let store_error = |e: crate::store::StoreError| EventError(e.to_string());
        let Some((row, learnt)) = self
            .transaction_for_result(provider, &event)
            .await
            .map_err(store_error)?
        else {
            // `?`: the reference comes from an unauthenticated request; quoted, it cannot forge log lines.
            tracing::warn!(provider, reference = ?event.reference, "ignored a result that matches no transaction");
            return Ok(EventReceipt::Unknown);
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

    async fn relay_forwarded(
        &self,
        provider: &str,
        operator_correlation_id: &str,
        body: serde_json::Value,
    ) -> Result<EventReceipt, EventError> {
        self.relay_forwarded_callback(provider, operator_correlation_id, body)
            .await
    }

    async fn validate_incoming(
        &self,
        provider: &str,
        payment: &IncomingPayment,
    ) -> Result<(), String> {
        let _ = provider;
        match self.check_incoming_bill_payment(payment).await {
            Ok(verdict) => verdict,
            Err(e) => {
                // The payment is not refused for the gateway's own trouble: it is applied when confirmed.
                tracing::warn!(error = %e, "could not check a payment against its bill");
                Ok(())
            }
        }
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

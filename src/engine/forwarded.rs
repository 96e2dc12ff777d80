//! Callbacks of requests forwarded to a GSMA-speaking operator ([`crate::api::forward`]): the operator calls
//! the gateway, and the gateway relays the outcome to the client through its outbox, signed with the client's
//! key and redelivered until the client takes it, like the callbacks of its own requests.

use mmapi_core::provider::{EventError, EventReceipt};

use super::{now_ms, Engine};
use crate::store::{Change, ForwardRelay, NewCallback, StoreError};

/// The text at the first of `keys` the JSON object has.
pub(crate) fn text_at(body: &serde_json::Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| body.get(*key).and_then(|v| v.as_str()))
        .map(str::to_owned)
}

/// The reference of what an operator's answer (or callback) says was created.
pub(crate) fn object_reference_in(body: &serde_json::Value) -> Option<String> {
    text_at(
        body,
        &[
            "objectReference",
            "quotationReference",
            "authorisationCode",
            "linkReference",
            "mandateReference",
            "transactionReference",
            "batchId",
        ],
    )
}

impl Engine {
    /// Queues `body`, the operator's callback for the request forwarded under `operator_correlation_id`, for the
    /// client that sent it. Unknown when `provider` did not get that request or its client asked for no callback.
    pub(super) async fn relay_forwarded_callback(
        &self,
        provider: &str,
        operator_correlation_id: &str,
        body: serde_json::Value,
    ) -> Result<EventReceipt, EventError> {
        let store_error = |e: StoreError| EventError(e.to_string());
        let forwarded = self
            .store
            .forwarded(operator_correlation_id)
            .await
            .map_err(store_error)?;
        let Some(forwarded) = forwarded.filter(|row| row.operator == provider) else {
            tracing::warn!(
                provider,
                "ignored a callback that matches no forwarded request"
            );
            return Ok(EventReceipt::Unknown);
        };
        let state = self
            .store
            .request_state(operator_correlation_id)
            .await
            .map_err(store_error)?;
        let Some((state, url)) = state.and_then(|s| s.callback_url.clone().map(|url| (s, url)))
        else {
            return Ok(EventReceipt::Unknown);
        };
        let now = now_ms();
        let relay = ForwardRelay {
            operator_correlation_id: forwarded.operator_correlation_id,
            object_reference: object_reference_in(&body),
            callback: NewCallback {
                // Due at once: the notifier's next round delivers it.
                claimed_until: now,
                url,
                correlation_id: state.client_correlation_id,
                body: body.to_string(),
                client_id: Some(state.client_id),
                request_id: None,
            },
            now_ms: now,
        };
        self.store
            .apply(Change::RelayForwarded(relay))
            .await
            .map_err(store_error)?;
        Ok(EventReceipt::Applied)
    }
}

//! Callbacks of requests forwarded to a GSMA-speaking operator ([`crate::api::forward`]): the operator calls
//! the gateway, and the gateway relays the outcome to the client through its outbox, signed with the client's
//! key and redelivered until the client takes it, like the callbacks of its own requests. When the callback has
//! not come by the time a result of the operator's would be overdue (it offers none, or it was lost), the gateway
//! asks the operator for the outcome and relays that.

use mmapi_core::model::TransactionType;
use mmapi_core::provider::{EventError, EventReceipt, ForwardRequest, Provider};

use super::{now_ms, Engine};
use crate::store::{Change, DueRelay, ForwardRelay, NewCallback, StoreError};

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
        let queued = self
            .relay(
                forwarded.operator_correlation_id,
                url,
                state.client_id,
                state.client_correlation_id,
                body,
            )
            .await
            .map_err(store_error)?;
        Ok(if queued {
            EventReceipt::Applied
        } else {
            tracing::info!(
                provider,
                "a forwarded request's outcome was relayed already; not sent again"
            );
            EventReceipt::AlreadyFinal
        })
    }

    /// Queues the outcome `body` of a forwarded request for its client, and notes it relayed; false when an
    /// outcome was relayed already (nothing is queued then).
    async fn relay(
        &self,
        operator_correlation_id: String,
        url: String,
        client_id: String,
        client_correlation_id: Option<String>,
        body: serde_json::Value,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let relay = ForwardRelay {
            operator_correlation_id,
            object_reference: object_reference_in(&body),
            callback: NewCallback {
                // Due at once: the notifier's next round delivers it.
                claimed_until: now,
                url,
                correlation_id: client_correlation_id,
                body: body.to_string(),
                client_id: Some(client_id),
                request_id: None,
            },
            now_ms: now,
        };
        Ok(self.store.apply(Change::RelayForwarded(relay)).await? > 0)
    }

    /// Asks the operators for the outcomes of forwarded requests whose callback has not come when it was due
    /// (an operator that offers none, or a lost one), and relays each final one to its client. A check is taken
    /// in the store first, so that of several instances one asks; an outcome still unknown is asked again later,
    /// less often as the request ages (at most hourly).
    pub async fn relay_due_outcomes(&self) -> Result<(), StoreError> {
        let now = now_ms();
        for due in self
            .store
            .forwarded_relays_due(now, RELAYS_PER_PASS)
            .await?
        {
            let Some(operator) = self.router().by_name(&due.operator) else {
                continue;
            };
            let deadline = operator.result_deadline(TransactionType::Merchantpay);
            let age = now.saturating_sub(due.created_at);
            let again_in = i64::try_from(deadline.as_millis())
                .unwrap_or(MAX_RECHECK_MS)
                .max(age / 10)
                .clamp(MIN_RECHECK_MS, MAX_RECHECK_MS);
            let taken = self
                .store
                .apply(Change::PostponeRelay {
                    operator_correlation_id: due.operator_correlation_id.clone(),
                    seen_check_at: due.next_check_at,
                    next_check_at: now + again_in,
                })
                .await?;
            if taken == 0 {
                continue;
            }
            if let Some(body) = outcome_at(operator.as_ref(), &due).await {
                tracing::info!(
                    provider = %due.operator,
                    "outcome of a forwarded request asked of the operator, relayed to its client"
                );
                self.relay(
                    due.operator_correlation_id,
                    due.callback_url,
                    due.client_id,
                    due.client_correlation_id,
                    body,
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// The most due relays one pass asks about.
const RELAYS_PER_PASS: i64 = 100;
/// Bounds of the wait before an outcome still unknown is asked again.
const MIN_RECHECK_MS: i64 = 500;
const MAX_RECHECK_MS: i64 = 3_600_000;

/// The final outcome of a forwarded request as its callback would have carried it: the error object of a failed
/// request, or what a completed one made (found through the operator's `/responses/{X-CorrelationID}`). `None`
/// while it is pending or the operator does not answer.
async fn outcome_at(operator: &dyn Provider, due: &DueRelay) -> Option<serde_json::Value> {
    let state_id = due.operator_server_correlation_id.as_deref()?;
    let state = read_at_operator(operator, &format!("/requeststates/{state_id}")).await?;
    match state.get("status").and_then(|s| s.as_str())? {
        "failed" => state.get("error").cloned().filter(|e| e.is_object()),
        "completed" => {
            let response = read_at_operator(
                operator,
                &format!("/responses/{}", due.operator_correlation_id),
            )
            .await?;
            let link = response.get("link").and_then(|l| l.as_str())?;
            read_at_operator(operator, link).await
        }
        _ => None,
    }
}

/// `GET path` (below the operator's API root, a query allowed) from the operator: its `200` body.
pub(crate) async fn read_at_operator(
    operator: &dyn Provider,
    path: &str,
) -> Option<serde_json::Value> {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let request = ForwardRequest {
        method: "GET",
        path,
        query,
        correlation_id: None,
        callback_url: None,
        body: None,
    };
    match operator.forward(&request).await {
        Ok(answer) if answer.status == 200 => Some(answer.body),
        _ => None,
    }
}

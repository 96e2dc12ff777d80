//! A client's cancellation of its transaction before the gateway sent it to the operator
//! (`PATCH /transactions/{transactionReference}`).

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{Transaction, TransactionStatus};
use mmapi_core::{GsmaError, Timestamp};

use super::{Engine, EngineError};
use crate::store::{Cancellation, Change, NewCallback, StoreError};

/// The error object a cancelled transaction's request state (and callback) carries.
pub fn cancelled_error() -> GsmaError {
    GsmaError::new(
        ErrorCategory::BusinessRule,
        ErrorCode::GenericError,
        "The client cancelled the transaction before it was sent to the operator",
    )
}

fn incorrect_state(reference: &str, why: &str) -> EngineError {
    EngineError::Rejected(
        GsmaError::new(
            ErrorCategory::BusinessRule,
            ErrorCode::IncorrectState,
            format!("Transaction {reference} cannot be cancelled: {why}"),
        )
        .with_param("transactionReference", reference),
    )
}

impl Engine {
    /// Cancels a transaction of `client_id` that has not been sent to the operator: it becomes `failed`, its
    /// request state carries [`cancelled_error`], and the client's callback (if it asked for one) is queued.
    /// Another client's or an unknown transaction is not found; one already sent or final is in the wrong
    /// state (`businessRule/incorrectState`). The store applies the change only if the transaction is still
    /// unclaimed when the change commits, so a dispatch racing the cancellation wins or loses as a whole.
    pub async fn cancel_transaction(
        &self,
        client_id: &str,
        reference: &str,
    ) -> Result<(), EngineError> {
        let row = match self.store.transaction(reference).await? {
            Some(row) if row.client_id == client_id => row,
            _ => {
                return Err(EngineError::Rejected(
                    GsmaError::not_found(format!("There is no transaction {reference}"))
                        .with_param("transactionReference", reference),
                ))
            }
        };
        if row.status != "pending" {
            return Err(incorrect_state(reference, &format!("it is {}", row.status)));
        }
        if row.dispatch_state != "queued" {
            return Err(incorrect_state(
                reference,
                "it has already been sent to the operator",
            ));
        }
        let mut transaction: Transaction = serde_json::from_str(&row.body)
            .map_err(|e| StoreError::Corrupt(format!("transaction {reference}: {e}")))?;
        let now = Timestamp::now();
        transaction.transaction_status = TransactionStatus::Failed;
        transaction.modification_date = Some(now);
        let body = serde_json::to_string(&transaction)
            .map_err(|e| StoreError::Corrupt(format!("cannot serialise a transaction: {e}")))?;
        let error = serde_json::to_string(&cancelled_error())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // Due at once: the notifier's next round delivers it.
        let callback = row.callback_url.as_ref().map(|url| NewCallback {
            claimed_until: now.millis(),
            url: url.clone(),
            correlation_id: row.client_correlation_id.clone(),
            body: error.clone(),
            client_id: Some(row.client_id.clone()),
            request_id: row.request_id.clone(),
        });
        let changed = self
            .store
            .apply(Change::Cancel(Cancellation {
                transaction_reference: row.transaction_reference.clone(),
                client_id: client_id.to_owned(),
                server_correlation_id: row.server_correlation_id.clone(),
                body,
                error,
                callback,
                now_ms: now.millis(),
            }))
            .await?;
        if changed == 0 {
            return Err(incorrect_state(
                reference,
                "it has already been sent to the operator",
            ));
        }
        crate::metrics::metrics().transaction_final(
            &row.provider,
            transaction.currency.code(),
            &row.transaction_type,
            "failed",
        );
        tracing::info!(reference, "transaction cancelled by its client");
        Ok(())
    }
}

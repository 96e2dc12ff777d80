//! Quotations: a transaction priced by the tariff of the operator it routes to ([`crate::fees`]), stored so
//! that a transaction citing it (`internationalTransferInformation.quotationReference`) is held to it.

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{Fee, TransactionRequest, TransactionType};
use mmapi_core::quotation::{Quotation, QuotationRequest, Quote};
use mmapi_core::{GsmaError, Timestamp};
use uuid::Uuid;

use super::{link_for, Engine, EngineError};
use crate::store::{Change, NewQuotation, NewRequestState, StoreError};

/// The object type of a quotation's request state (`/responses` links to `/quotations/{ref}`).
const OBJECT_TYPE: &str = "quotation";

/// A quotation as a client asked for it.
#[derive(Debug)]
pub struct NewQuotationRequest {
    pub client_id: String,
    /// The providers the client may use; all when `None`.
    pub allowed_providers: Option<Vec<String>>,
    pub correlation_id: Option<String>,
    pub request: QuotationRequest,
}

impl Engine {
    /// Prices the transaction the request describes with the tariff of the operator it routes to, and stores
    /// the quotation (committed before this returns).
    pub async fn create_quotation(
        &self,
        new: NewQuotationRequest,
    ) -> Result<Quotation, EngineError> {
        let transaction_type = new.request.quoted_type();
        let as_transaction = new.request.as_transaction_request();
        let provider = self
            .router
            .route(transaction_type, &as_transaction)
            .map_err(EngineError::Rejected)?;
        if let Some(allowed) = &new.allowed_providers {
            if !allowed.iter().any(|p| p == provider.name()) {
                return Err(EngineError::Rejected(GsmaError::new(
                    ErrorCategory::Authorisation,
                    ErrorCode::RequestingPartyAuthorisationError,
                    "This client is not permitted to use the operator this quotation routes to",
                )));
            }
        }
        let now = Timestamp::now();
        let lifetime_ms = i64::try_from(self.quotation_settings.lifetime_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX / 2);
        let expires_at = now.millis().saturating_add(lifetime_ms);
        let fees = self.quotation_settings.fee(
            provider.name(),
            as_transaction.currency.code(),
            transaction_type,
            &as_transaction.amount,
        );
        let reference = Uuid::now_v7().simple().to_string();
        let quote = Quote {
            quote_id: format!("{reference}-1"),
            // Fees are the sender's on top: the recipient receives the whole amount.
            receiving_amount: as_transaction.amount.clone(),
            receiving_currency: as_transaction.currency,
            sending_amount: as_transaction.amount.clone(),
            sending_currency: as_transaction.currency,
            delivery_method: new.request.chosen_delivery_method,
            fees: fees.map(|fee| vec![fee]),
            fx_rate: None,
            quote_expiry_time: Some(Timestamp::from_millis(expires_at)),
            receiving_service_provider: Some(provider.name().to_owned()),
        };
        let quotation = Quotation::completed(reference.clone(), new.request, vec![quote], now);
        let body = serde_json::to_string(&quotation)
            .map_err(|e| StoreError::Corrupt(format!("a quotation: {e}")))?;
        let stored = self
            .store
            .apply(Change::PutQuotation {
                request_state: NewRequestState {
                    server_correlation_id: Uuid::now_v7().to_string(),
                    client_id: new.client_id.clone(),
                    client_correlation_id: new.correlation_id.clone(),
                    object_type: OBJECT_TYPE,
                    object_reference: reference.clone(),
                    notification_method: "polling",
                    callback_url: None,
                    now_ms: now.millis(),
                    request_id: crate::observe::current_request_id(),
                },
                quotation: NewQuotation {
                    quotation_reference: reference,
                    provider: provider.name().to_owned(),
                    expires_at,
                    body,
                },
            })
            .await?;
        if stored == 0 {
            let link = match &new.correlation_id {
                Some(id) => self
                    .store
                    .request_state_by_correlation(&new.client_id, id)
                    .await?
                    .and_then(|row| row.object_reference.map(|r| link_for(&row.object_type, &r))),
                None => None,
            };
            return Err(EngineError::Duplicate { link });
        }
        Ok(quotation)
    }

    /// The client's quotation; another client's reads as not found.
    pub async fn quotation(
        &self,
        client_id: &str,
        reference: &str,
    ) -> Result<Quotation, EngineError> {
        let row = self
            .store
            .quotation(reference)
            .await?
            .filter(|row| row.client_id == client_id)
            .ok_or_else(|| {
                EngineError::Rejected(
                    GsmaError::not_found(format!("There is no quotation {reference}"))
                        .with_param("quotationReference", reference),
                )
            })?;
        serde_json::from_str(&row.body)
            .map_err(|e| EngineError::Store(StoreError::Corrupt(format!("quotation body: {e}"))))
    }

    /// The fees of a new transaction: those of the quote it cites (which must be the client's, for the same
    /// transaction, and not expired: else `quoteHasExpired`), else the tariff's, else none. Fees the client
    /// states itself are kept.
    pub(crate) async fn fees_for(
        &self,
        client_id: &str,
        provider: &str,
        transaction_type: TransactionType,
        request: &TransactionRequest,
    ) -> Result<Option<Vec<Fee>>, EngineError> {
        let operator_quotes = self
            .router
            .by_name(provider)
            .is_some_and(|p| p.capabilities().quotations);
        if operator_quotes {
            // The quote is the operator's: it checks it, and its fees are in it.
            return Ok(request.fees.clone());
        }
        let cited = request
            .international_transfer_information
            .as_ref()
            .and_then(|i| {
                i.quotation_reference
                    .as_deref()
                    .map(|r| (r, i.quote_id.as_deref()))
            });
        if let Some((reference, quote_id)) = cited {
            return self
                .quoted_fees(client_id, reference, quote_id, transaction_type, request)
                .await
                .map(|fees| request.fees.clone().or(fees));
        }
        if request.fees.is_some() {
            return Ok(request.fees.clone());
        }
        Ok(self
            .quotation_settings
            .fee(
                provider,
                request.currency.code(),
                transaction_type,
                &request.amount,
            )
            .map(|fee| vec![fee]))
    }

    async fn quoted_fees(
        &self,
        client_id: &str,
        reference: &str,
        quote_id: Option<&str>,
        transaction_type: TransactionType,
        request: &TransactionRequest,
    ) -> Result<Option<Vec<Fee>>, EngineError> {
        let field = "internationalTransferInformation.quotationReference";
        let row = self
            .store
            .quotation(reference)
            .await?
            .filter(|row| row.client_id == client_id)
            .ok_or_else(|| {
                EngineError::Rejected(
                    GsmaError::not_found(format!("There is no quotation {reference}"))
                        .with_param("field", field),
                )
            })?;
        if row.expires_at < Timestamp::now().millis() {
            return Err(EngineError::Rejected(
                GsmaError::new(
                    ErrorCategory::BusinessRule,
                    ErrorCode::QuoteHasExpired,
                    format!("Quotation {reference} expired; ask for a new one"),
                )
                .with_param("field", field),
            ));
        }
        let quotation: Quotation = serde_json::from_str(&row.body)
            .map_err(|e| EngineError::Store(StoreError::Corrupt(format!("quotation body: {e}"))))?;
        let quote = match quote_id {
            Some(id) => quotation.quotes.iter().find(|q| q.quote_id == id),
            None => quotation.quotes.first(),
        }
        .ok_or_else(|| {
            EngineError::Rejected(GsmaError::format(
                "internationalTransferInformation.quoteId",
                format!("Quotation {reference} has no such quote"),
            ))
        })?;
        let same = quotation.transaction_type == transaction_type
            && quote.sending_currency == request.currency
            && quote.sending_amount.value() == request.amount.value();
        if !same {
            return Err(EngineError::Rejected(
                GsmaError::new(
                    ErrorCategory::BusinessRule,
                    ErrorCode::GenericError,
                    format!(
                        "Quotation {reference} is for a {} of {} {}, not this transaction",
                        quotation.transaction_type, quote.sending_amount, quote.sending_currency
                    ),
                )
                .with_param("field", field),
            ));
        }
        Ok(quote.fees.clone())
    }
}

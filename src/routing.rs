//! Which provider serves a request.

use std::collections::HashMap;
use std::sync::Arc;

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{TransactionRequest, TransactionType};
use mmapi_core::provider::{CheckRequest, Provider};
use mmapi_core::GsmaError;

/// The configured providers and the rules that choose among them.
#[derive(Clone, Default)]
pub struct Router {
    by_name: HashMap<String, Arc<dyn Provider>>,
    by_currency: HashMap<&'static str, Arc<dyn Provider>>,
}

impl Router {
    /// Adds a provider; it serves the currencies its capabilities list (the first provider added wins a tie).
    pub fn add(&mut self, provider: Arc<dyn Provider>) {
        for currency in provider.capabilities().currencies {
            self.by_currency
                .entry(currency.code())
                .or_insert_with(|| provider.clone());
        }
        self.by_name.insert(provider.name().to_owned(), provider);
    }

    /// A provider by its name (as stored with each transaction).
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.by_name.get(name)
    }

    /// Every provider.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.by_name.values()
    }

    /// Chooses the provider for a transaction and checks it can carry it.
    pub fn route(
        &self,
        transaction_type: TransactionType,
        request: &TransactionRequest,
    ) -> Result<Arc<dyn Provider>, GsmaError> {
        let provider = self
            .by_currency
            .get(request.currency.code())
            .ok_or_else(|| {
                GsmaError::new(
                    ErrorCategory::Validation,
                    ErrorCode::CurrencyNotSupported,
                    format!("No operator behind this gateway moves {}", request.currency),
                )
                .with_param("field", "currency")
            })?;
        if !provider.capabilities().supports(transaction_type) {
            return Err(GsmaError::transaction_type(format!(
                "The operator for {} cannot carry {} transactions",
                request.currency, transaction_type
            )));
        }
        provider.check(&CheckRequest {
            transaction_type,
            request,
            original: None,
        })?;
        Ok(provider.clone())
    }
}

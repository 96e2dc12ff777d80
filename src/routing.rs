//! Which provider serves a request.

use std::collections::HashMap;
use std::sync::Arc;

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::ServiceStatus;
use mmapi_core::model::{Party, TransactionRequest, TransactionType};
use mmapi_core::provider::{CheckRequest, Provider};
use mmapi_core::GsmaError;

use crate::breaker::{self, Admission, Breaker, BreakerSettings, GuardedProvider};

/// The configured providers and the rules that choose among them. Each provider sits behind circuit breakers
/// ([`crate::breaker`]): one, or one per market for the M-Pesa OpenAPI.
#[derive(Clone, Default)]
pub struct Router {
    by_name: HashMap<String, Arc<dyn Provider>>,
    by_currency: HashMap<&'static str, Arc<dyn Provider>>,
    /// Providers chosen by the identifier type of a party (`Capabilities::identifier_types`), in the order added.
    by_identifier: Vec<Arc<dyn Provider>>,
    guarded: HashMap<String, Arc<GuardedProvider>>,
    breaker_settings: BreakerSettings,
}

impl Router {
    /// An empty router whose providers get breakers with `settings`.
    pub fn new(breaker_settings: BreakerSettings) -> Self {
        Self {
            breaker_settings,
            ..Self::default()
        }
    }

    /// Adds a provider behind new circuit breakers (one per currency, i.e. per OpenAPI market); it serves the
    /// currencies its capabilities list (the first provider added wins a tie), or, when its capabilities name
    /// identifier types, the requests that name an account by one of them.
    pub fn add(&mut self, provider: Arc<dyn Provider>) {
        let guarded = Arc::new(GuardedProvider::new(
            provider,
            self.breaker_settings.clone(),
        ));
        self.guarded
            .insert(guarded.name().to_owned(), guarded.clone());
        let provider: Arc<dyn Provider> = guarded;
        let capabilities = provider.capabilities();
        if capabilities.identifier_types.is_empty() {
            for currency in capabilities.currencies {
                self.by_currency
                    .entry(currency.code())
                    .or_insert_with(|| provider.clone());
            }
        } else {
            self.by_identifier.push(provider.clone());
        }
        self.by_name.insert(provider.name().to_owned(), provider);
    }

    /// A provider by its name (as stored with each transaction).
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.by_name.get(name)
    }

    /// Every circuit breaker, with its label (`daraja`, `mpesa-openapi:TZS`, …).
    pub fn breakers(&self) -> impl Iterator<Item = (&str, &Arc<Breaker>)> {
        self.guarded.values().flat_map(|g| g.breakers())
    }

    /// The service status `GET /heartbeat` reports: `unavailable` when every breaker is open, `degraded` when
    /// some are, `available` otherwise.
    pub fn service_status(&self) -> ServiceStatus {
        let total = self.breakers().count();
        let tripped = self.breakers().filter(|(_, b)| b.is_tripped()).count();
        service_status(tripped, total)
    }

    /// The labels of the breakers that are open (or half-open), sorted: `daraja`, `mpesa-openapi:TZS`, ….
    pub fn unavailable_providers(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .breakers()
            .filter(|(_, b)| b.is_tripped())
            .map(|(label, _)| label.to_owned())
            .collect();
        names.sort();
        names
    }

    /// Every market: its currency (ISO 4217) and the provider that serves it, sorted by currency.
    pub fn markets(&self) -> Vec<(String, Arc<dyn Provider>)> {
        let mut markets: Vec<(String, Arc<dyn Provider>)> = self
            .by_currency
            .iter()
            .map(|(currency, provider)| ((*currency).to_owned(), provider.clone()))
            .collect();
        markets.sort_by(|a, b| a.0.cmp(&b.0));
        markets
    }

    /// The markets of providers chosen by identifier type: each currency of each, with the provider and its
    /// identifier types, in the order the providers were added.
    pub fn identifier_markets(&self) -> Vec<(String, Arc<dyn Provider>, Vec<String>)> {
        self.by_identifier
            .iter()
            .flat_map(|provider| {
                let capabilities = provider.capabilities();
                let types = capabilities.identifier_types.clone();
                capabilities
                    .currencies
                    .into_iter()
                    .map(move |c| (c.code().to_owned(), provider.clone(), types.clone()))
            })
            .collect()
    }

    /// Every provider.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.by_name.values()
    }

    /// The provider for `currency` and an account named by `parties`: one chosen by their identifier type,
    /// else the currency's.
    pub fn for_parties(&self, currency: &str, parties: &[Party]) -> Option<&Arc<dyn Provider>> {
        self.by_identifier
            .iter()
            .find(|p| {
                let capabilities = p.capabilities();
                capabilities.chosen_by(parties)
                    && capabilities.currencies.iter().any(|c| c.code() == currency)
            })
            .or_else(|| self.by_currency.get(currency))
    }

    /// The providers that may know the account `identifiers` name: those chosen by its identifier types, when
    /// there are any; else every provider not chosen by identifier type.
    pub fn for_account(&self, identifiers: &[Party]) -> Vec<Arc<dyn Provider>> {
        let chosen: Vec<Arc<dyn Provider>> = self
            .by_identifier
            .iter()
            .filter(|p| p.capabilities().chosen_by(identifiers))
            .cloned()
            .collect();
        if !chosen.is_empty() {
            return chosen;
        }
        let mut rest: Vec<Arc<dyn Provider>> = self
            .by_name
            .values()
            .filter(|p| p.capabilities().identifier_types.is_empty())
            .cloned()
            .collect();
        rest.sort_by(|a, b| a.name().cmp(b.name()));
        rest
    }

    /// Chooses the provider for a transaction and checks it can carry it.
    pub fn route(
        &self,
        transaction_type: TransactionType,
        request: &TransactionRequest,
    ) -> Result<Arc<dyn Provider>, GsmaError> {
        let parties = request.parties();
        let provider = self
            .for_parties(request.currency.code(), &parties)
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
        let breaker = self
            .guarded
            .get(provider.name())
            .and_then(|g| g.breaker_for(request.currency.code()));
        if let Some(breaker) = breaker {
            if breaker.admit() == Admission::Refused {
                return Err(breaker::refused(provider.name()));
            }
        }
        Ok(provider.clone())
    }
}

/// `unavailable` when all `total` providers are `tripped`, `degraded` when some are.
fn service_status(tripped: usize, total: usize) -> ServiceStatus {
    match tripped {
        0 => ServiceStatus::Available,
        n if n >= total => ServiceStatus::Unavailable,
        _ => ServiceStatus::Degraded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_status_from_breakers() {
        assert_eq!(service_status(0, 2), ServiceStatus::Available);
        assert_eq!(service_status(1, 2), ServiceStatus::Degraded);
        assert_eq!(service_status(2, 2), ServiceStatus::Unavailable);
        assert_eq!(service_status(0, 0), ServiceStatus::Available);
    }
}

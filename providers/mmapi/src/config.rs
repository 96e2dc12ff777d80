//! Configuration of one operator that speaks the GSMA Mobile Money API itself (`[[providers.mmapi]]`).

use std::time::Duration;

use mmapi_core::mandate::FrequencyType;
use mmapi_core::model::TransactionType;
use mmapi_core::{Currency, Secret};
use serde::Deserialize;

/// One GSMA-speaking operator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmapiConfig {
    /// The provider's name, stored with each transaction; the operator's callbacks come to
    /// `/callbacks/{name}`. Default `mmapi`.
    #[serde(default = "default_name")]
    pub name: String,
    /// The root of the operator's API, e.g. `https://api.operator.example/v1.2/mm` (its `/heartbeat`,
    /// `/transactions/…` and `/accounts/…` are below it).
    pub base_url: String,
    /// The currencies its accounts hold: transactions in them are routed to it.
    pub currencies: Vec<Currency>,
    /// Account identifier types that choose this operator (e.g. `["walletid"]`): when set, only requests that
    /// name an account by one of them come to it, before the currency's own provider. Default: none, the
    /// operator serves its currencies.
    #[serde(default)]
    pub identifier_types: Vec<String>,
    /// Whether the operator's own quotations are used (`POST /quotations` naming its accounts is forwarded, and
    /// a transaction cites them as they are). Default false: the gateway quotes with its own tariffs.
    #[serde(default)]
    pub quotations: bool,
    /// The transaction types it serves (default: all but `adjustment`).
    #[serde(default = "default_transaction_types")]
    pub transaction_types: Vec<TransactionType>,
    /// The other operations it serves.
    #[serde(default)]
    pub operations: Operations,
    /// How the gateway authenticates to it.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Whether it calls back (`X-Callback-URL` is sent with each transaction) or is polled through its
    /// `/requeststates` (false: for operators that offer no callback). Default true.
    #[serde(default = "yes")]
    pub callbacks: bool,
    /// How long a call may take before its answer counts as unknown (default 30 s).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How often a pending request state is polled while the gateway waits on it (mandates; default 500 ms).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// How long to wait for a transaction's callback before asking the operator (default 60 s; with
    /// `callbacks = false`, 2 s).
    #[serde(default)]
    pub result_deadline_secs: Option<u64>,
    /// How long to wait for a debit mandate's creation to leave `pending` (default 60 s).
    #[serde(default = "default_mandate_timeout_secs")]
    pub mandate_timeout_secs: u64,
}

/// Operations besides transactions, each on by default (off: the gateway answers that the operator offers
/// none, and the capability table says so).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Operations {
    /// `GET /accounts/{…}/balance`.
    pub balance: bool,
    /// `GET /accounts/{…}/accountname`.
    pub account_name: bool,
    /// `GET /accounts/{…}/transactions` and `…/statemententries`: an account's statement is the operator's
    /// (with an operator chosen by identifier type), not the gateway's records of what went through it.
    pub statements: bool,
    /// `…/bills`, `…/bills/payments` and `…/bills/{billReference}/payments` of the operator's customers: the
    /// bills the operator presents, where the gateway holds none of the client's own.
    pub bills: bool,
    /// `POST/GET/PATCH /accounts/{…}/debitmandates`, and payments under them.
    pub debit_mandates: bool,
    /// The mandate `frequencyType`s the operator takes, when it takes only some: others are refused before
    /// the mandate is accepted (400 validation/formatError on `frequencyType`). Default: all.
    pub mandate_frequencies: Option<Vec<FrequencyType>>,
}

impl Default for Operations {
    fn default() -> Self {
        Self {
            balance: true,
            account_name: true,
            statements: true,
            bills: true,
            debit_mandates: true,
            mandate_frequencies: None,
        }
    }
}

/// How the gateway authenticates to the operator, as GSMA SDKs do.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// `none`, `basic` (consumer key and secret on each call) or `oauth2` (client credentials exchanged at
    /// `token_url` for a bearer token).
    #[serde(default)]
    pub scheme: AuthScheme,
    #[serde(default)]
    pub consumer_key: Option<String>,
    #[serde(default)]
    pub consumer_secret: Option<Secret>,
    /// Sent as `X-API-Key` on every call when set (alone, or beside the scheme).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// The OAuth 2.0 token endpoint (default: `/v1/oauth/accesstoken` on the host of `base_url`).
    #[serde(default)]
    pub token_url: Option<String>,
}

/// The authentication scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthScheme {
    #[default]
    None,
    Basic,
    Oauth2,
}

impl MmapiConfig {
    /// A configuration with the defaults, for `base_url` and `currencies`.
    pub fn new(base_url: impl Into<String>, currencies: Vec<Currency>) -> Self {
        Self {
            name: default_name(),
            base_url: base_url.into(),
            currencies,
            identifier_types: Vec::new(),
            quotations: false,
            transaction_types: default_transaction_types(),
            operations: Operations::default(),
            auth: AuthConfig::default(),
            callbacks: true,
            request_timeout_ms: default_request_timeout_ms(),
            poll_interval_ms: default_poll_interval_ms(),
            result_deadline_secs: None,
            mandate_timeout_secs: default_mandate_timeout_secs(),
        }
    }

    /// How long a call may take.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(1))
    }

    /// How often a pending request state is polled.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    /// How long to wait for a result before asking the operator.
    pub fn result_deadline(&self) -> Duration {
        let default = if self.callbacks { 60 } else { 2 };
        Duration::from_secs(self.result_deadline_secs.unwrap_or(default))
    }

    /// Checks what can be checked before the first call.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(format!(
                "name '{}' must be letters, digits, '-' and '_'",
                self.name
            ));
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err("base_url must be an http(s) URL".into());
        }
        if self.currencies.is_empty() {
            return Err("currencies must name at least one currency".into());
        }
        let auth = &self.auth;
        if auth.scheme != AuthScheme::None
            && (auth.consumer_key.as_deref().unwrap_or("").is_empty()
                || auth.consumer_secret.as_ref().is_none_or(Secret::is_empty))
        {
            return Err("auth: basic and oauth2 need consumer_key and consumer_secret".into());
        }
        Ok(())
    }
}

fn default_name() -> String {
    "mmapi".into()
}

fn default_transaction_types() -> Vec<TransactionType> {
    TransactionType::ALL
        .into_iter()
        .filter(|t| *t != TransactionType::Adjustment)
        .collect()
}

fn yes() -> bool {
    true
}

fn default_request_timeout_ms() -> u64 {
    30_000
}

fn default_poll_interval_ms() -> u64 {
    500
}

fn default_mandate_timeout_secs() -> u64 {
    60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_toml_section_and_checks_it() {
        let config: MmapiConfig = toml::from_str(
            r#"
            name = "acme"
            base_url = "https://api.acme.example/v1.2/mm"
            currencies = ["RWF", "USD"]
            transaction_types = ["merchantpay", "disbursement"]
            callbacks = false
            operations = { balance = false, mandate_frequencies = ["weekly", "yearly"] }
            [auth]
            scheme = "oauth2"
            consumer_key = "key"
            consumer_secret = "secret"
            api_key = "api"
            "#,
        )
        .expect("parses");
        assert_eq!(config.currencies.len(), 2);
        assert!(!config.operations.balance);
        assert!(config.operations.debit_mandates);
        assert_eq!(
            config.operations.mandate_frequencies,
            Some(vec![FrequencyType::Weekly, FrequencyType::Yearly])
        );
        assert_eq!(config.auth.scheme, AuthScheme::Oauth2);
        assert_eq!(config.result_deadline(), Duration::from_secs(2));
        assert!(config.validate().is_ok());
        assert!(!format!("{config:?}").contains("secret\""));

        let mut bad = config.clone();
        bad.auth.consumer_secret = None;
        assert!(bad.validate().is_err());
        let mut bad = config.clone();
        bad.name = "a b".into();
        assert!(bad.validate().is_err());
        let mut bad = config;
        bad.base_url = "ftp://x".into();
        assert!(bad.validate().is_err());
        assert!(toml::from_str::<MmapiConfig>(
            "base_url = \"http://x\"\ncurrencies = []\nbogus = 1"
        )
        .is_err());
    }
}

//! Configuration of the M-Pesa OpenAPI adapter: one entry per market (country) the gateway serves.

use std::time::Duration;

use mmapi_core::{Currency, Secret};
use serde::Deserialize;

/// The OpenAPI markets: URL context, `input_Country`, currency, dialling code and national number length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Market {
    /// The URL context, e.g. `vodacomTZN`.
    pub context: &'static str,
    /// `input_Country`, e.g. `TZN`.
    pub country: &'static str,
    /// `input_Currency`, e.g. `TZS`.
    pub currency: &'static str,
    /// The international dialling code, e.g. `255`.
    pub dialling_code: &'static str,
    /// Digits of a national mobile number without its leading 0.
    pub national_digits: usize,
    /// Decimal places the market accepts in `input_Amount`.
    pub decimals: u32,
}

/// Every market of the OpenAPI (§B.1).
pub const MARKETS: [Market; 5] = [
    Market {
        context: "vodacomTZN",
        country: "TZN",
        currency: "TZS",
        dialling_code: "255",
        national_digits: 9,
        decimals: 0,
    },
    Market {
        context: "vodafoneGHA",
        country: "GHA",
        currency: "GHS",
        dialling_code: "233",
        national_digits: 9,
        decimals: 2,
    },
    Market {
        context: "vodacomLES",
        country: "LES",
        currency: "LSL",
        dialling_code: "266",
        national_digits: 8,
        decimals: 2,
    },
    Market {
        context: "vodacomDRC",
        country: "DRC",
        currency: "USD",
        dialling_code: "243",
        national_digits: 9,
        decimals: 2,
    },
    Market {
        context: "vodacomMOZ",
        country: "MOZ",
        currency: "MZN",
        dialling_code: "258",
        national_digits: 9,
        decimals: 2,
    },
];

impl Market {
    /// The market of a URL context (`vodacomTZN`), case-insensitively.
    pub fn by_context(context: &str) -> Option<Market> {
        MARKETS
            .into_iter()
            .find(|m| m.context.eq_ignore_ascii_case(context))
    }

    /// The market's currency.
    pub fn currency(&self) -> Option<Currency> {
        Currency::parse(self.currency).ok()
    }
}

/// How the adapter reaches the OpenAPI: the markets it serves.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiConfig {
    /// One entry per market; at most one per currency.
    #[serde(default)]
    pub markets: Vec<MarketConfig>,
}

/// One market's application at the OpenAPI portal.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    /// The market's URL context: `vodacomTZN`, `vodafoneGHA`, `vodacomLES`, `vodacomDRC` or `vodacomMOZ`.
    pub market: String,
    /// The host, e.g. `https://openapi.m-pesa.com:443`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// `sandbox` or `openapi` (production): the first path segment.
    #[serde(default = "default_environment")]
    pub environment: String,
    /// The application's API key; it is only ever sent RSA-encrypted.
    pub api_key: Secret,
    /// The OpenAPI public key: base64 of an X.509 SubjectPublicKeyInfo DER (PEM armour is tolerated).
    pub public_key: String,
    /// The organisation shortcode (`input_ServiceProviderCode`, and the debited party of B2B).
    pub service_provider_code: String,
    /// The `Origin` header, which must match the application's trusted sources.
    #[serde(default = "default_origin")]
    pub origin: String,
    /// The application's configured session lifetime, in seconds; the session is renewed before it ends.
    #[serde(default = "default_session_lifetime_secs")]
    pub session_lifetime_secs: u64,
    /// How long a new session takes to become live ("up to 30 seconds" in production), in milliseconds: the
    /// first call on a new session waits this long. Default 0.
    #[serde(default)]
    pub session_activation_delay_ms: u64,
    /// Whether the application has an asynchronous response URL: every answer is then an acknowledgement and
    /// the result is posted to the gateway's callback route.
    #[serde(default)]
    pub async_mode: bool,
    /// Timeout of one HTTP call, in milliseconds. A synchronous C2B call waits for the customer's PIN.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How long to wait for a result before asking `queryTransactionStatus`, in seconds.
    #[serde(default = "default_result_deadline_secs")]
    pub result_deadline_secs: u64,
}

fn default_base_url() -> String {
    "https://openapi.m-pesa.com:443".into()
}

fn default_environment() -> String {
    "openapi".into()
}

fn default_origin() -> String {
    "*".into()
}

fn default_session_lifetime_secs() -> u64 {
    3600
}

fn default_request_timeout_ms() -> u64 {
    120_000
}

fn default_result_deadline_secs() -> u64 {
    180
}

impl MarketConfig {
    /// The market this entry names, if it is one of the OpenAPI's.
    pub fn market(&self) -> Option<Market> {
        Market::by_context(&self.market)
    }

    /// Timeout of one HTTP call.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The API root, `{base_url}/{environment}/ipg/v2/{market}/`.
    pub fn api_root(&self) -> String {
        format!(
            "{}/{}/ipg/v2/{}/",
            self.base_url.trim_end_matches('/'),
            self.environment,
            self.market().map_or(self.market.as_str(), |m| m.context)
        )
    }

    /// Whether this is the sandbox environment (which accepts the portal's test MSISDNs).
    pub fn is_sandbox(&self) -> bool {
        self.environment == "sandbox"
    }
}

//! Who is calling: the client registry, the credentials GSMA SDKs send (HTTP Basic with the consumer key and
//! secret, an OAuth 2.0 bearer token from `POST /v1/oauth/accesstoken`, `X-API-Key`), and the middleware that
//! turns them into a [`Caller`] or a 401.

pub mod cli;
pub mod credentials;
pub mod demo;
pub mod middleware;
pub mod registry;
pub mod token;

use mmapi_core::GsmaError;
use serde::Deserialize;

pub use registry::{ClientRegistry, NewClient};

/// The owner of payments the operator reports into an account granted to no client.
pub const UNCLAIMED: &str = "unclaimed";

/// What a client may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A business using the GSMA API: sees only its own data.
    Client,
    /// The people running the gateway: also the `/internal` routes (review, statistics).
    Operator,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Operator => "operator",
        }
    }

    /// From the stored name; anything unknown is a plain client.
    pub fn from_stored(text: &str) -> Self {
        if text == "operator" {
            Role::Operator
        } else {
            Role::Client
        }
    }
}

/// An authenticated client, put in each request's extensions by the middleware.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The consumer key: the owner of everything the request creates.
    pub client_id: String,
    pub role: Role,
    /// The providers the client may use; all when `None`.
    pub allowed_providers: Option<Vec<String>>,
    /// Private hosts or networks the client's callbacks may reach.
    pub callback_hosts: Vec<String>,
    /// Account keys granted to the client (see [`crate::store::account_key`]).
    pub accounts: Vec<String>,
    /// Requests a second; the gateway's default when `None`.
    pub rate_limit_per_sec: Option<u32>,
}

impl Caller {
    /// Whether the client may send transactions through `provider`.
    pub fn may_use(&self, provider: &str) -> bool {
        self.allowed_providers
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|p| p == provider))
    }

    /// Whether the client may see an account's balance: one granted to it, or any for an operator.
    pub fn may_see_account(&self, identifier: &str) -> bool {
        self.role == Role::Operator || {
            let key = crate::store::account_key(identifier);
            self.accounts.contains(&key)
        }
    }
}

/// Why a request was not authenticated. Every variant reads the same to the caller (no detail that helps an
/// attacker); the log tells them apart.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials were sent.
    #[error("no credentials")]
    Missing,
    /// The credentials are malformed, unknown or wrong, or they disagree with each other.
    #[error("invalid credentials")]
    Invalid,
    /// The client is disabled.
    #[error("client disabled")]
    Disabled,
    /// The client may not do this (e.g. an `/internal` route without the operator role).
    #[error("not permitted")]
    Forbidden,
    /// A chosen client id is malformed or taken.
    #[error(
        "client id '{0}' is malformed (3 to 64 letters, digits, '_', '-', '.') or already taken"
    )]
    BadClientId(String),
    /// The registry could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A secret could not be hashed.
    #[error("hashing failed: {0}")]
    Hash(String),
}

impl AuthError {
    /// The GSMA error the client sees.
    pub fn to_gsma(&self) -> GsmaError {
        match self {
            AuthError::Store(_) | AuthError::Hash(_) | AuthError::BadClientId(_) => {
                GsmaError::internal()
            }
            AuthError::Forbidden => GsmaError::new(
                mmapi_core::error::ErrorCategory::Authorisation,
                mmapi_core::error::ErrorCode::RequestingPartyAuthorisationError,
                "The client is not permitted to do this",
            ),
            AuthError::Missing | AuthError::Invalid | AuthError::Disabled => GsmaError::new(
                mmapi_core::error::ErrorCategory::Authorisation,
                mmapi_core::error::ErrorCode::ClientAuthorisationError,
                "The client could not be authenticated",
            ),
        }
    }
}

/// Authentication settings (`[auth]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// How long an OAuth access token lasts, in seconds.
    pub token_lifetime_secs: u64,
    /// Require `X-API-Key` beside Basic or Bearer credentials (the GSMA sandbox's development level). Off by
    /// default: any one of the three suffices, and when several are sent they must name the same client.
    pub require_api_key: bool,
    /// How long a verified credential is remembered, in seconds (a rotation or a disabling made by another
    /// process takes at most this long to reach a running instance).
    pub cache_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            token_lifetime_secs: 3_600,
            require_api_key: false,
            cache_secs: 30,
        }
    }
}

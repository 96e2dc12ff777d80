//! The gateway's configuration: one typed structure, read from an optional TOML file, then overridden by
//! `MMAPI_*` environment variables and command-line flags, and validated before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mmapi_core::Secret;
use mmapi_daraja::DarajaConfig;
use serde::Deserialize;

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {}", without_quoted_line(source))]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Everything the gateway needs to run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address of the GSMA API listener.
    pub listen: SocketAddr,
    /// Where the embedded database (`mmapi.db`) and sandbox state live.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://user@host/db`): the store then lives there, and several gateway instances
    /// may share it. Without it the store is SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// The store's writer (`[store]`).
    pub store: crate::store::StoreSettings,
    /// The URL at which operators reach this gateway's callback routes (defaults to `http://<listen>`).
    pub public_url: Option<String>,
    /// Sandbox mode: run the operator simulators in-process and route to them. On when no provider is configured.
    pub sandbox: Option<bool>,
    pub simulators: SandboxSettings,
    pub dispatch: DispatchSettings,
    pub callbacks: CallbackSettings,
    /// The circuit breaker in front of each provider.
    pub breaker: crate::breaker::BreakerSettings,
    /// Client authentication (`[auth]`).
    pub auth: crate::auth::AuthSettings,
    pub providers: ProvidersConfig,
    /// Serve HTTPS from a certificate and key (`[tls]`); plain HTTP without it.
    pub tls: Option<crate::tls::TlsSettings>,
    /// Allowed source networks of the operators' callback routes, per provider (`[callback_sources]`).
    pub callback_sources: crate::callback_sources::CallbackSources,
    /// Request size and rate limits (`[limits]`).
    pub limits: LimitSettings,
    /// Quote lifetime and the operators' fee tables (`[quotations]`).
    pub quotations: crate::fees::QuotationSettings,
    /// Bulk disbursements: per-provider rate and concurrency, maker/checker approvers (`[batches]`).
    pub batches: crate::engine::batches::BatchSettings,
    /// Bill companies (`[bills]`).
    pub bills: crate::bills::BillSettings,
    /// Span export to an OpenTelemetry collector (`[telemetry]`).
    pub telemetry: crate::telemetry::TelemetrySettings,
}

/// Operator backends.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    /// Safaricom Daraja (M-Pesa Kenya).
    pub daraja: Option<DarajaConfig>,
    /// The Vodafone/Vodacom M-Pesa OpenAPI (Tanzania, Ghana, Lesotho, DRC, Mozambique).
    pub mpesa_openapi: Option<mmapi_mpesa_openapi::OpenApiConfig>,
    /// Operators that speak the GSMA Mobile Money API themselves (`[[providers.mmapi]]`), each by name.
    #[serde(default)]
    pub mmapi: Vec<mmapi_forward::MmapiConfig>,
}

impl ProvidersConfig {
    /// Whether any provider is configured.
    pub fn any(&self) -> bool {
        self.daraja.is_some() || self.mpesa_openapi.is_some() || !self.mmapi.is_empty()
    }
}

/// The in-process simulators of sandbox mode.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSettings {
    /// Address of the Daraja simulator's own listener (port 0: any free port).
    pub daraja_listen: SocketAddr,
    /// Address of the M-Pesa OpenAPI simulator's own listener (port 0: any free port).
    pub openapi_listen: SocketAddr,
    /// Address of the MMAPI reference simulator's own listener (port 0: any free port).
    pub mmapi_listen: SocketAddr,
    /// How long the simulated customer takes to answer an STK prompt, in milliseconds.
    pub callback_delay_ms: u64,
    /// How long to wait for an STK result before asking STK Query, in seconds.
    pub stk_result_deadline_secs: u64,
    /// How long an STK Push interrupted before its acknowledgement waits for a result before it goes to manual
    /// review, in seconds.
    pub stk_unacknowledged_expiry_secs: u64,
    /// Where the sandbox shortcodes' incoming (C2B) payments are pushed.
    pub c2b_notification_url: Option<String>,
    /// When set, C2B payments to the sandbox shortcodes with another account number are refused (C2B00012).
    pub c2b_account_references: Option<Vec<String>>,
    /// Faults both simulators inject (`[simulators.faults]`, or `MMAPI_SIMULATORS_FAULTS_*`); none by default.
    pub faults: SimulatorFaults,
}

/// The faults of the sandbox simulators: the settings both simulators share.
pub type SimulatorFaults = mmapi_core::simulator_faults::Faults;

/// Sending transactions to operators.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchSettings {
    /// Operator calls in flight at once.
    pub concurrency: usize,
    /// Attempts to reach an unreachable operator before the transaction fails.
    pub max_attempts: u32,
    /// How often the reconciler looks for due work, in milliseconds.
    pub tick_ms: u64,
    /// The longest wait between two status checks of a transaction, in seconds.
    pub max_check_interval_secs: u64,
    /// How long an instance holds work it claimed (a dispatch, a status check, a callback delivery) before
    /// another instance may take it over, in milliseconds. Longer than any operator call or delivery takes.
    pub claim_lease_ms: u64,
    /// How long after its creation a transaction whose result never came, and whose status queries have not
    /// settled it, is left to a person: it is marked for manual review (never failed) and no longer queried.
    /// In seconds; default one day.
    pub review_after_secs: u64,
    /// [`DispatchSettings::review_after_secs`] per provider (`daraja`, `mpesa-openapi`), where it differs.
    pub review_after_secs_per_provider: std::collections::BTreeMap<String, u64>,
    /// How often incoming payments are pulled from the operators that list them (Daraja Pull Transactions, for
    /// shortcodes with `pull_nominated_number`), filling in those whose notification never came. In seconds;
    /// 0 turns it off. The first pull after a start reaches 48 hours back, each later one to ten minutes before
    /// the previous one's end.
    pub pull_interval_secs: u64,
    /// Threads of the runtime that sends accepted transactions to their operators, apart from the one that
    /// answers requests. 0 (the default) sends them from the request runtime, at its priority: on a saturated
    /// machine niced operator calls stay in flight longer, so a crash finds more of them in doubt (README,
    /// "Performance").
    pub threads: usize,
    /// The CPU priority of those threads as a Unix nice value (0–19; Linux only): with 10, a burst of requests
    /// is answered first and the operator calls use what CPU is left, the accepted transactions waiting, on
    /// disk, in the queue. 0 gives both the same share.
    pub nice: i32,
}

impl DispatchSettings {
    /// When a transaction of `provider` still unsettled is marked for manual review, after its creation.
    pub fn review_after(&self, provider: &str) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.review_after_secs_per_provider
                .get(provider)
                .copied()
                .unwrap_or(self.review_after_secs),
        )
    }
}

/// Delivering callbacks to clients.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackSettings {
    /// Attempts before a callback is abandoned.
    pub max_attempts: u32,
    /// Attempts before a callback the client refuses with a 4xx (other than 408 and 429) is abandoned; at
    /// most `max_attempts`.
    pub client_error_max_attempts: u32,
    /// Wait before the first retry, in milliseconds; doubled each time.
    pub initial_backoff_ms: u64,
    /// The longest wait between attempts, in milliseconds.
    pub max_backoff_ms: u64,
    /// Timeout of one delivery, in milliseconds.
    pub timeout_ms: u64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Hosts and networks that callbacks may reach although they are private, loopback or link-local: CIDR
    /// networks (`10.1.2.0/24`), addresses, host names (`hooks.internal`, which may then resolve to any
    /// address) or `*.domain`. Each client may add its own (`callback_hosts`).
    pub allowed_private_hosts: Vec<String>,
    /// Whether callbacks may go to loopback addresses (and over plain http to a loopback host). Default: in
    /// sandbox mode only.
    pub allow_loopback: Option<bool>,
}

/// Limits on what clients send (`[limits]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// The largest request body accepted, in bytes; larger ones are answered 413 with a GSMA error.
    pub max_body_bytes: usize,
    /// The largest body of `POST /batchtransactions` (a bulk disbursement of many items; about 200 bytes an item).
    pub max_batch_body_bytes: usize,
    /// Requests a second a client may make on the GSMA routes when its registration sets no rate; 0: no limit.
    /// The default is above what one instance serves, so that only registered rates limit in practice.
    pub default_rate_limit_per_sec: u32,
    /// How many requests a client may make at once beyond its steady rate; default one second's worth.
    pub rate_limit_burst: Option<u32>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: crate::app::MAX_BODY_BYTES,
            max_batch_body_bytes: crate::app::MAX_BATCH_BODY_BYTES,
            default_rate_limit_per_sec: 50_000,
            rate_limit_burst: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./mmapi-data"),
            database_url: None,
            store: crate::store::StoreSettings::default(),
            public_url: None,
            sandbox: None,
            simulators: SandboxSettings::default(),
            dispatch: DispatchSettings::default(),
            callbacks: CallbackSettings::default(),
            breaker: crate::breaker::BreakerSettings::default(),
            auth: crate::auth::AuthSettings::default(),
            providers: ProvidersConfig::default(),
            tls: None,
            callback_sources: crate::callback_sources::CallbackSources::default(),
            limits: LimitSettings::default(),
            quotations: crate::fees::QuotationSettings::default(),
            batches: crate::engine::batches::BatchSettings::default(),
            bills: crate::bills::BillSettings::default(),
            telemetry: crate::telemetry::TelemetrySettings::default(),
        }
    }
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            daraja_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            openapi_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            mmapi_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            callback_delay_ms: 500,
            stk_result_deadline_secs: 5,
            stk_unacknowledged_expiry_secs: 15,
            c2b_notification_url: None,
            c2b_account_references: None,
            faults: SimulatorFaults::default(),
        }
    }
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            concurrency: 512,
            max_attempts: 5,
            tick_ms: 500,
            max_check_interval_secs: 600,
            claim_lease_ms: 60_000,
            review_after_secs: 86_400,
            review_after_secs_per_provider: std::collections::BTreeMap::new(),
            pull_interval_secs: 300,
            threads: 0,
            nice: 10,
        }
    }
}

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            client_error_max_attempts: 3,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 600_000,
            timeout_ms: 10_000,
            concurrency: 256,
            allowed_private_hosts: Vec::new(),
            allow_loopback: None,
        }
    }
}

/// Command-line and environment overrides (`None` = keep the file's value).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
}

impl Config {
    /// Reads the file (if any), applies environment variables and overrides, resolves `env:NAME` secrets and
    /// validates the result.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source,
                })?
            }
            None => Config::default(),
        };
        config.apply_env()?;
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(dir) = overrides.data_dir {
            config.data_dir = dir;
        }
        if let Some(url) = overrides.database_url {
            config.database_url = Some(url);
        }
        if let Some(url) = overrides.public_url {
            config.public_url = Some(url);
        }
        config.resolve_secrets()?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self) -> Result<(), ConfigError> {
        if let Ok(v) = std::env::var("MMAPI_LISTEN") {
            self.listen = v.parse().map_err(|_| {
                ConfigError::Invalid(format!(
                    "MMAPI_LISTEN '{v}' is not an address such as 127.0.0.1:8080"
                ))
            })?;
        }
        if let Ok(v) = std::env::var("MMAPI_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Ok(v) = std::env::var("MMAPI_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Ok(v) = std::env::var("MMAPI_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        self.simulators.faults.apply_env()?;
        if let Some(daraja) = self.providers.daraja.as_mut() {
            if let Ok(v) = std::env::var("MMAPI_DARAJA_CONSUMER_KEY") {
                daraja.consumer_key = Secret::new(v);
            }
            if let Ok(v) = std::env::var("MMAPI_DARAJA_CONSUMER_SECRET") {
                daraja.consumer_secret = Secret::new(v);
            }
        }
        Ok(())
    }

    /// Replaces secrets written as `env:NAME` by that environment variable's value.
    fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        if let Some(openapi) = self.providers.mpesa_openapi.as_mut() {
            for m in &mut openapi.markets {
                let field = format!("providers.mpesa_openapi.markets[{}].api_key", m.market);
                resolve(&mut m.api_key, &field)?;
            }
        }
        if let Some(daraja) = self.providers.daraja.as_mut() {
            resolve(&mut daraja.consumer_key, "providers.daraja.consumer_key")?;
            resolve(
                &mut daraja.consumer_secret,
                "providers.daraja.consumer_secret",
            )?;
            for s in &mut daraja.shortcodes {
                let field = format!("providers.daraja.shortcodes[{}].passkey", s.shortcode);
                resolve(&mut s.passkey, &field)?;
            }
        }
        for operator in &mut self.providers.mmapi {
            let auth = &mut operator.auth;
            for (secret, what) in [
                (auth.consumer_secret.as_mut(), "consumer_secret"),
                (auth.api_key.as_mut(), "api_key"),
            ] {
                if let Some(secret) = secret {
                    let field = format!("providers.mmapi[{}].auth.{what}", operator.name);
                    resolve(secret, &field)?;
                }
            }
        }
        Ok(())
    }

    /// Each GSMA-speaking operator: a valid section, a name of its own (it names its callback route), and calls
    /// that end before a dispatch claim does.
    fn validate_mmapi_operators(&self, lease_ms: u64) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for operator in &self.providers.mmapi {
            let name = &operator.name;
            operator
                .validate()
                .map_err(|e| ConfigError::Invalid(format!("providers.mmapi[{name}]: {e}")))?;
            let taken = [mmapi_daraja::NAME, mmapi_mpesa_openapi::NAME].contains(&name.as_str());
            if taken || !names.insert(name.clone()) {
                return Err(ConfigError::Invalid(format!(
                    "providers.mmapi: the name '{name}' is already taken; give each operator its own"
                )));
            }
            if operator.request_timeout_ms >= lease_ms {
                return Err(ConfigError::Invalid(format!(
                    "providers.mmapi[{name}].request_timeout_ms must be shorter than dispatch.claim_lease_ms ({lease_ms})"
                )));
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.telemetry.validate().map_err(ConfigError::Invalid)?;
        self.simulators
            .faults
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("simulators.{e}")))?;
        if self.is_sandbox() && self.providers.any() {
            return Err(ConfigError::Invalid(
                "sandbox = true cannot be combined with configured providers".into(),
            ));
        }
        if !self.is_sandbox() && !self.providers.any() {
            return Err(ConfigError::Invalid(
                "sandbox = false needs at least one provider under [providers]".into(),
            ));
        }
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
            {
                return Err(ConfigError::Invalid(
                    "database_url must be a postgres:// (or sqlite:) URL".into(),
                ));
            }
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "public_url '{url}' is not an http(s) URL"
                )));
            }
        }
        self.quotations.validate().map_err(ConfigError::Invalid)?;
        if self.dispatch.concurrency == 0 || self.callbacks.concurrency == 0 {
            return Err(ConfigError::Invalid(
                "concurrency settings must be at least 1".into(),
            ));
        }
        if !(0..=19).contains(&self.dispatch.nice) {
            return Err(ConfigError::Invalid(format!(
                "[dispatch] nice must be 0 to 19, not {}",
                self.dispatch.nice
            )));
        }
        let lease = self.dispatch.claim_lease_ms;
        if self.callbacks.timeout_ms >= lease {
            return Err(ConfigError::Invalid(format!(
                "callbacks.timeout_ms ({}) must be shorter than dispatch.claim_lease_ms ({lease})",
                self.callbacks.timeout_ms
            )));
        }
        if let Some(d) = &self.providers.daraja {
            if d.request_timeout_ms >= lease {
                return Err(ConfigError::Invalid(format!(
                    "providers.daraja.request_timeout_ms ({}) must be shorter than dispatch.claim_lease_ms ({lease})",
                    d.request_timeout_ms
                )));
            }
        }
        self.validate_mmapi_operators(lease)?;
        let operators: Vec<&str> = self
            .providers
            .mmapi
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        self.callback_sources
            .validate(&operators)
            .map_err(ConfigError::Invalid)?;
        crate::notify::policy::CallbackPolicy::new(&self.callbacks, self.is_sandbox())
            .map_err(ConfigError::Invalid)?;
        if self.limits.max_body_bytes == 0 || self.limits.rate_limit_burst == Some(0) {
            return Err(ConfigError::Invalid(
                "limits.max_body_bytes and limits.rate_limit_burst must be at least 1".into(),
            ));
        }
        if self.callbacks.max_attempts == 0
            || self.callbacks.client_error_max_attempts == 0
            || self.dispatch.max_attempts == 0
        {
            return Err(ConfigError::Invalid(
                "max_attempts settings must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The rules for callback destinations (`[callbacks]`; loopback allowed in sandbox mode by default). An
    /// allowlist entry that does not parse, which [`Config::load`] refuses, is left out.
    pub fn callback_policy(&self) -> crate::notify::policy::CallbackPolicy {
        crate::notify::policy::CallbackPolicy::new(&self.callbacks, self.is_sandbox())
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "ignoring the callback allowlist");
                let mut strict = self.callbacks.clone();
                strict.allowed_private_hosts.clear();
                crate::notify::policy::CallbackPolicy::new(&strict, self.is_sandbox())
                    .unwrap_or_default()
            })
    }

    /// Whether the in-process simulators serve as the operators.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox.unwrap_or(!self.providers.any())
    }
}

/// Reads `MMAPI_SIMULATORS_FAULTS_<FIELD>` variables into the simulators' faults.
trait FaultsFromEnv {
    fn apply_env(&mut self) -> Result<(), ConfigError>;
}

impl FaultsFromEnv for SimulatorFaults {
    fn apply_env(&mut self) -> Result<(), ConfigError> {
        fn read<T: std::str::FromStr>(field: &str, target: &mut T) -> Result<(), ConfigError> {
            let name = format!("MMAPI_SIMULATORS_FAULTS_{}", field.to_ascii_uppercase());
            if let Ok(v) = std::env::var(&name) {
                *target = v
                    .trim()
                    .parse()
                    .map_err(|_| ConfigError::Invalid(format!("{name} '{v}' is not a number")))?;
            }
            Ok(())
        }
        read("seed", &mut self.seed)?;
        read("drop_callbacks", &mut self.drop_callbacks)?;
        read("delay_callbacks", &mut self.delay_callbacks)?;
        read("callback_delay_ms", &mut self.callback_delay_ms)?;
        read("duplicate_callbacks", &mut self.duplicate_callbacks)?;
        read("server_errors", &mut self.server_errors)?;
        read("timeouts", &mut self.timeouts)?;
        read("timeout_ms", &mut self.timeout_ms)?;
        Ok(())
    }
}

/// A TOML error without the line of the file it quotes, which may hold a secret.
fn without_quoted_line(e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => format!("{} (at byte {})", e.message().trim_end(), span.start),
        None => e.message().trim_end().to_owned(),
    }
}

fn resolve(secret: &mut Secret, field: &str) -> Result<(), ConfigError> {
    if let Some(name) = secret.expose().strip_prefix("env:") {
        let value = std::env::var(name).map_err(|_| {
            ConfigError::Invalid(format!(
                "{field} names the environment variable {name}, which is not set"
            ))
        })?;
        *secret = Secret::new(value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_sandbox_on_localhost() {
        let c = Config::load(None, Overrides::default()).unwrap();
        assert!(c.is_sandbox());
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn a_daraja_file_with_env_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(
            &path,
            r#"
listen = "127.0.0.1:9999"
[providers.daraja]
base_url = "https://sandbox.safaricom.co.ke"
consumer_key = "key"
consumer_secret = "env:MMAPI_TEST_DARAJA_SECRET_X"
shortcodes = [{ shortcode = "174379", passkey = "pk" }]
"#,
        )
        .unwrap();
        std::env::set_var("MMAPI_TEST_DARAJA_SECRET_X", "from-env");
        let c = Config::load(Some(&path), Overrides::default()).unwrap();
        assert!(!c.is_sandbox());
        let d = c.providers.daraja.unwrap();
        assert_eq!(d.consumer_secret.expose(), "from-env");
        assert!(!format!("{d:?}").contains("from-env"));
    }

    #[test]
    fn gsma_speaking_operators_with_env_secrets_and_their_own_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.toml");
        let operator = |name: &str| {
            format!(
                "[[providers.mmapi]]\nname = \"{name}\"\nbase_url = \"https://api.acme.example/v1.2/mm\"\n\
                 currencies = [\"RWF\"]\n[providers.mmapi.auth]\nscheme = \"oauth2\"\nconsumer_key = \"k\"\n\
                 consumer_secret = \"env:MMAPI_TEST_ACME_SECRET_X\"\n"
            )
        };
        std::env::set_var("MMAPI_TEST_ACME_SECRET_X", "acme-secret");
        let file = format!(
            "{}[callback_sources]\nacme = [\"10.0.0.0/8\"]\n",
            operator("acme")
        );
        std::fs::write(&path, file).unwrap();
        let c = Config::load(Some(&path), Overrides::default()).unwrap();
        assert!(!c.is_sandbox());
        let acme = &c.providers.mmapi[0];
        assert_eq!(
            acme.auth.consumer_secret.as_ref().map(Secret::expose),
            Some("acme-secret")
        );
        assert!(c.callback_sources.for_provider("acme").is_some());
        // Two operators of one name, or one named like a built-in provider, are refused.
        for file in [
            format!("{}{}", operator("acme"), operator("acme")),
            operator("daraja"),
        ] {
            std::fs::write(&path, file).unwrap();
            assert!(Config::load(Some(&path), Overrides::default()).is_err());
        }
    }

    #[test]
    fn simulator_faults_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(
            &path,
            "[simulators.faults]\nseed = 42\ndrop_callbacks = 0.1\nserver_errors = 0.05\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), Overrides::default()).unwrap();
        assert_eq!(c.simulators.faults.seed, 42);
        assert_eq!(c.simulators.faults.drop_callbacks, 0.1);
        assert_eq!(c.simulators.faults.server_errors, 0.05);
        assert_eq!(c.simulators.faults.timeouts, 0.0);

        let mut faults = SimulatorFaults::default();
        std::env::set_var("MMAPI_SIMULATORS_FAULTS_DUPLICATE_CALLBACKS", "0.25");
        std::env::set_var("MMAPI_SIMULATORS_FAULTS_TIMEOUT_MS", "1500");
        let applied = faults.apply_env();
        std::env::remove_var("MMAPI_SIMULATORS_FAULTS_DUPLICATE_CALLBACKS");
        std::env::remove_var("MMAPI_SIMULATORS_FAULTS_TIMEOUT_MS");
        applied.unwrap();
        assert_eq!(faults.duplicate_callbacks, 0.25);
        assert_eq!(faults.timeout_ms, 1500);

        std::fs::write(&path, "[simulators.faults]\ntimeouts = 2.0\n").unwrap();
        assert!(matches!(
            Config::load(Some(&path), Overrides::default()),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn breaker_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(&path, "[breaker]\nfailure_threshold = 3\n").unwrap();
        let c = Config::load(Some(&path), Overrides::default()).unwrap();
        assert_eq!(c.breaker.failure_threshold, 3);
        assert_eq!(c.breaker.cool_down_ms, 2_000);
    }

    #[test]
    fn limits_and_callback_allowlist_sections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(
            &path,
            "[limits]\nmax_body_bytes = 1024\ndefault_rate_limit_per_sec = 7\n\
             [callbacks]\nallowed_private_hosts = [\"10.1.2.0/24\", \"hooks.internal\"]\nallow_loopback = false\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), Overrides::default()).unwrap();
        assert_eq!(c.limits.max_body_bytes, 1024);
        assert_eq!(c.limits.default_rate_limit_per_sec, 7);
        assert_eq!(c.callbacks.allowed_private_hosts.len(), 2);
        assert_eq!(c.callbacks.allow_loopback, Some(false));
        let defaults = Config::default();
        assert_eq!(defaults.limits.max_body_bytes, crate::app::MAX_BODY_BYTES);

        std::fs::write(
            &path,
            "[callbacks]\nallowed_private_hosts = [\"not a host\"]\n",
        )
        .unwrap();
        assert!(matches!(
            Config::load(Some(&path), Overrides::default()),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn a_parse_error_does_not_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(
            &path,
            "[providers.daraja]\nconsumer_secret = \"s3cr3t-value\" oops\n",
        )
        .unwrap();
        let e = Config::load(Some(&path), Overrides::default()).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }));
        assert!(!e.to_string().contains("s3cr3t-value"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(&path, "lissen = \"127.0.0.1:1\"\n").unwrap();
        assert!(matches!(
            Config::load(Some(&path), Overrides::default()),
            Err(ConfigError::Parse { .. })
        ));
    }
}

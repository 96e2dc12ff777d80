//! `mmapi-gateway simulate daraja|mpesa-openapi|mmapi`: the operator simulators on their own listener, with the
//! credentials an operator of the gateway chooses (so that a test can run the gateway against them with
//! distinctive secrets), their RSA key kept in a file, and the certificate or public key the gateway's
//! configuration needs written out.
//!
//! Secrets are taken from environment variables (or flags, which other users of the machine may see in the
//! process list) and are never printed.

use std::path::{Path, PathBuf};

use axum::Router;
use mmapi_core::simulator_faults::Faults;

/// Credentials and key material of the standalone Daraja simulator.
#[derive(clap::Args)]
pub struct DarajaArgs {
    /// The app's consumer key (default: the sandbox app's).
    #[arg(long, env = "MMAPI_SIM_DARAJA_CONSUMER_KEY", hide_env_values = true)]
    pub consumer_key: Option<String>,
    /// The app's consumer secret (default: the sandbox app's).
    #[arg(long, env = "MMAPI_SIM_DARAJA_CONSUMER_SECRET", hide_env_values = true)]
    pub consumer_secret: Option<String>,
    /// The STK shortcode (default 174379).
    #[arg(long)]
    pub shortcode: Option<String>,
    /// The shortcode's Lipa na M-Pesa Online passkey (default: Daraja's public sandbox passkey).
    #[arg(long, env = "MMAPI_SIM_DARAJA_PASSKEY", hide_env_values = true)]
    pub passkey: Option<String>,
    /// The initiator (API operator) name (default testapi).
    #[arg(long)]
    pub initiator_name: Option<String>,
    /// The initiator password `SecurityCredential` must decrypt to (default: the sandbox one).
    #[arg(
        long,
        env = "MMAPI_SIM_DARAJA_INITIATOR_PASSWORD",
        hide_env_values = true
    )]
    pub initiator_password: Option<String>,
    /// The RSA private key (PEM) behind the simulator's certificate; generated and written here when the
    /// file does not exist.
    #[arg(long)]
    pub rsa_key: Option<PathBuf>,
    /// Write the simulator's certificate (PEM) here: the gateway's `providers.daraja.certificate`.
    #[arg(long)]
    pub certificate_out: Option<PathBuf>,
    /// Serve `GET /__simulator/issued-credentials` (the access tokens issued), for leak tests. Never in front
    /// of anything real.
    #[arg(long)]
    pub expose_issued_credentials: bool,
}

/// Credentials and key material of the standalone M-Pesa OpenAPI simulator.
#[derive(clap::Args)]
pub struct OpenApiArgs {
    /// The application's API key (default: the simulator's sandbox key).
    #[arg(long, env = "MMAPI_SIM_OPENAPI_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The service provider code (default 000000).
    #[arg(long)]
    pub service_provider_code: Option<String>,
    /// The RSA private key (PEM); generated (4096 bits, slow) and written here when the file does not exist.
    #[arg(long)]
    pub rsa_key: Option<PathBuf>,
    /// Write the public key (base64 of the SubjectPublicKeyInfo, as the portal shows it) here: the gateway's
    /// `public_key` of each market.
    #[arg(long)]
    pub public_key_out: Option<PathBuf>,
    /// Serve `GET /__simulator/issued-credentials` (the session ids issued), for leak tests. Never in front of
    /// anything real.
    #[arg(long)]
    pub expose_issued_credentials: bool,
}

/// The saved key, if `path` names an existing file.
fn read_key(path: Option<&Path>) -> Result<Option<String>, String> {
    match path {
        Some(p) if p.exists() => std::fs::read_to_string(p)
            .map(Some)
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
        _ => Ok(None),
    }
}

/// Writes `text` to `path`, readable by its owner only when it is a private key.
fn write_file(path: &Path, text: &str, private: bool) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

/// Serves `router` on `listener` until the server fails.
async fn serve_router(listener: tokio::net::TcpListener, router: Router) -> Result<(), String> {
    axum::serve(listener, router)
        .await
        .map_err(|e| format!("simulator server failed: {e}"))
}

/// The Daraja simulator with `args`, on `listener`, until the server fails.
pub async fn daraja(
    args: DarajaArgs,
    mut config: mmapi_daraja::simulator::SimulatorConfig,
    listener: tokio::net::TcpListener,
) -> Result<(), String> {
    use mmapi_daraja::simulator::{self, DarajaSimulator, SimShortcode};
    if let Some(v) = args.consumer_key {
        config.consumer_key = v;
    }
    if let Some(v) = args.consumer_secret {
        config.consumer_secret = v;
    }
    if args.shortcode.is_some() || args.passkey.is_some() {
        config.shortcodes = vec![SimShortcode {
            shortcode: args
                .shortcode
                .unwrap_or_else(|| simulator::SANDBOX_SHORTCODE.into()),
            passkey: args
                .passkey
                .unwrap_or_else(|| simulator::SANDBOX_PASSKEY.into()),
        }];
    }
    if let Some(v) = args.initiator_name {
        config.initiator_name = v;
    }
    if let Some(v) = args.initiator_password {
        config.initiator_password = v;
    }
    config.rsa_private_key_pem = read_key(args.rsa_key.as_deref())?;
    let had_key = config.rsa_private_key_pem.is_some();
    let sim = DarajaSimulator::start(config)
        .await
        .map_err(|e| e.to_string())?;
    let key_files = KeyFiles {
        private_key: args.rsa_key.as_deref(),
        generated: !had_key,
        public_part: args.certificate_out.as_deref(),
    };
    key_files
        .write({
            let sim = sim.clone();
            move || (sim.private_key_pem(), sim.certificate_pem())
        })
        .await?;
    let mut router = sim.router();
    if args.expose_issued_credentials {
        let handle = sim.clone();
        router = with_issued_credentials(
            router,
            move || serde_json::json!({ "accessTokens": handle.issued_access_tokens() }),
        );
    }
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "Daraja simulator listening");
    }
    let served = serve_router(listener, router).await;
    sim.shutdown();
    served
}

/// The M-Pesa OpenAPI simulator with `args`, on `listener`, until the server fails.
pub async fn openapi(
    args: OpenApiArgs,
    faults: Faults,
    listener: tokio::net::TcpListener,
) -> Result<(), String> {
    use mmapi_mpesa_openapi::simulator::{OpenApiSimulator, SimulatorConfig};
    let mut config = SimulatorConfig {
        faults,
        ..Default::default()
    };
    if let Some(v) = args.api_key {
        config.api_key = v;
    }
    if let Some(v) = args.service_provider_code {
        config.service_provider_code = v;
    }
    config.rsa_private_key_pem = read_key(args.rsa_key.as_deref())?;
    let had_key = config.rsa_private_key_pem.is_some();
    let sim = OpenApiSimulator::start(config)
        .await
        .map_err(|e| e.to_string())?;
    let key_files = KeyFiles {
        private_key: args.rsa_key.as_deref(),
        generated: !had_key,
        public_part: args.public_key_out.as_deref(),
    };
    key_files
        .write({
            let sim = sim.clone();
            move || (sim.private_key_pem(), sim.public_key_base64())
        })
        .await?;
    let mut router = sim.router();
    if args.expose_issued_credentials {
        let handle = sim.clone();
        router = with_issued_credentials(
            router,
            move || serde_json::json!({ "sessionIds": handle.issued_session_ids() }),
        );
    }
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "M-Pesa OpenAPI simulator listening");
    }
    serve_router(listener, router).await
}

/// `mmapi-gateway simulate mmapi`: the open MMAPI 1.2 reference simulator, served at `/v1.2/mm` (and at the
/// GSMA sandbox's `/simulator/v1.2/passthrough/mm`). It asks for no credentials. With `state`, its state is kept
/// in that file, and saved when `stop` resolves (the server then stops).
pub async fn mmapi(
    config: mmapi_forward::simulator::SimulatorConfig,
    state: Option<PathBuf>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    use mmapi_forward::simulator::MmapiSimulator;
    let sim = match state {
        Some(path) => MmapiSimulator::open(config, path).map_err(|e| e.to_string())?,
        None => MmapiSimulator::new(config),
    };
    let router = Router::new()
        .nest("/v1.2/mm", sim.router())
        .nest("/simulator/v1.2/passthrough/mm", sim.router());
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "MMAPI reference simulator listening at /v1.2/mm");
    }
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
        .map_err(|e| format!("simulator server failed: {e}"));
    sim.save().await.map_err(|e| e.to_string())?;
    served
}

/// Where a standalone simulator writes its key material: its private key (only when it generated one) and the
/// public part a client needs (the Daraja certificate, the OpenAPI public key).
struct KeyFiles<'a> {
    private_key: Option<&'a std::path::Path>,
    generated: bool,
    public_part: Option<&'a std::path::Path>,
}

impl KeyFiles<'_> {
    /// Writes the files asked for; `keys` (slow: it may format a 4096-bit key) gives (private PEM, public part).
    async fn write(
        &self,
        keys: impl FnOnce() -> (String, String) + Send + 'static,
    ) -> Result<(), String> {
        if self.private_key.is_none() && self.public_part.is_none() {
            return Ok(());
        }
        let (key, public) = tokio::task::spawn_blocking(keys)
            .await
            .map_err(|e| e.to_string())?;
        if let (Some(path), true) = (self.private_key, self.generated) {
            write_file(path, &key, true)?;
        }
        if let Some(path) = self.public_part {
            write_file(path, &public, false)?;
        }
        Ok(())
    }
}

/// `router` plus `GET /__simulator/issued-credentials`, answering what `issued` lists (for the secrets-in-logs
/// test, which must know every credential the run handed out).
fn with_issued_credentials(
    router: Router,
    issued: impl Fn() -> serde_json::Value + Clone + Send + Sync + 'static,
) -> Router {
    Router::new()
        .route(
            "/__simulator/issued-credentials",
            axum::routing::get(move || std::future::ready(axum::Json(issued()))),
        )
        .merge(router)
}

//! Assembling and running the gateway: store, providers, engine, workers and the HTTP listener.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use mmapi_core::provider::{EventSink, Provider};
use mmapi_daraja::simulator::DarajaSimulator;
use mmapi_daraja::DarajaProvider;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::api;
use crate::auth::credentials::IssuedCredentials;
use crate::auth::ClientRegistry;
use crate::config::Config;
use crate::engine::background::BackgroundRuntime;
use crate::engine::{spawn_dispatcher, Engine};
use crate::notify;
use crate::routing;
use crate::sandbox;
use crate::store::{Store, StoreError};

/// The largest request body accepted by default (`[limits] max_body_bytes`).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The largest body of `POST /batchtransactions` by default (`[limits] max_batch_body_bytes`): 16 MiB, some
/// 80,000 items.
pub const MAX_BATCH_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Daraja(#[from] mmapi_daraja::DarajaError),
    #[error(transparent)]
    Mmapi(#[from] mmapi_forward::MmapiError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("client registry: {0}")]
    Auth(#[from] crate::auth::AuthError),
}

/// A started gateway.
pub struct Gateway {
    /// Where the GSMA API listens.
    pub address: SocketAddr,
    /// Where the sandbox Daraja simulator listens, in sandbox mode.
    pub sandbox_daraja: Option<SocketAddr>,
    /// The engine (for tests and benchmarks).
    pub engine: Arc<Engine>,
    /// The in-process Daraja simulator, in sandbox mode.
    pub simulator: Option<DarajaSimulator>,
    /// Where the sandbox M-Pesa OpenAPI simulator listens, in sandbox mode.
    pub sandbox_openapi: Option<SocketAddr>,
    /// The in-process M-Pesa OpenAPI simulator, in sandbox mode.
    pub openapi_simulator: Option<mmapi_mpesa_openapi::simulator::OpenApiSimulator>,
    /// The sandbox Daraja simulator's own listener, which tests can stop and resume to simulate an outage.
    pub daraja_listener: Option<sandbox::SimulatorListener>,
    /// The sandbox M-Pesa OpenAPI simulator's own listener.
    pub openapi_listener: Option<sandbox::SimulatorListener>,
    /// In sandbox mode, the MMAPI reference simulator's listener.
    pub mmapi_listener: Option<sandbox::SimulatorListener>,
    /// The in-process MMAPI reference simulator, in sandbox mode (its state saved at a graceful stop).
    pub mmapi_simulator: Option<mmapi_forward::simulator::MmapiSimulator>,
    /// The client registry.
    pub clients: Arc<ClientRegistry>,
    /// The sandbox's demo client (an operator granted the sandbox accounts), in sandbox mode.
    pub sandbox_client: Option<IssuedCredentials>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::watch::Sender<bool>,
    /// Where the dispatcher runs (`[dispatch] threads`); it stops when the gateway is dropped.
    _dispatch_runtime: Option<BackgroundRuntime>,
}

/// How long a graceful shutdown waits for in-flight requests before it gives up on them.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a graceful stop then waits for the operator calls under way.
pub const DISPATCH_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

impl Gateway {
    /// Waits until the HTTP server stops.
    pub async fn wait(self) -> std::io::Result<()> {
        self.server.await.unwrap_or(Ok(()))
    }

    /// Stops serving HTTP (the background workers stop with the runtime).
    pub fn abort(&self) {
        self.server.abort();
    }

    /// Serves until `signal` resolves, then shuts down gracefully: stops accepting connections, lets in-flight
    /// requests finish (at most [`SHUTDOWN_GRACE`]), lets the operator calls under way finish (at most
    /// [`DISPATCH_GRACE`]), and waits for the store writer to commit what was queued.
    /// Pending work and owed callbacks stay on disk for the next start.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        tokio::select! {
            result = &mut self.server => return result.unwrap_or(Ok(())),
            () = signal => {}
        }
        tracing::info!("stopping: no new connections; finishing in-flight requests");
        let _ = self.stop.send(true);
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.server).await {
            Ok(result) => result.unwrap_or(Ok(()))?,
            Err(_) => {
                tracing::warn!("in-flight requests did not finish in time; stopping anyway");
                self.server.abort();
            }
        }
        // Operator calls under way finish (a call cut short would leave its transaction in doubt); no new ones
        // start, and what is still queued is sent at the next start.
        if !self.engine.quiesce(DISPATCH_GRACE).await {
            tracing::warn!(
                "operator calls still under way at the stop are settled at the next start"
            );
        }
        if let Err(e) = self.engine.store().flush().await {
            tracing::warn!(error = %e, "could not drain the store writer");
        }
        if let Some(simulator) = &self.mmapi_simulator {
            if let Err(e) = simulator.save().await {
                tracing::warn!(error = %e, "could not save the MMAPI simulator's state");
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Starts the gateway: binds the listener, opens the store, recovers interrupted work, starts the providers
/// (the simulators in sandbox mode), the dispatcher, the reconciler and the callback deliverer, then serves.
pub async fn start(config: Config) -> Result<Gateway, AppError> {
    // Read the certificate and key before anything starts, so that a bad `[tls]` stops the start at once.
    let tls = match &config.tls {
        Some(settings) => Some((settings.server_config()?, settings.handshake_timeout())),
        None => None,
    };
    let listener = TcpListener::bind(config.listen).await?;
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{address}"))
        .trim_end_matches('/')
        .to_owned();
    let store = Store::open(
        config.database_url.as_deref(),
        &config.data_dir,
        &config.store,
    )
    .await?;

    let mut sandbox_routes = Router::new();
    let mut sandbox_daraja = None;
    let mut sandbox_openapi = None;
    let mut openapi_simulator = None;
    let mut simulator = None;
    let mut daraja_listener = None;
    let mut openapi_listener = None;
    let daraja_config = if config.is_sandbox() {
        let sim = sandbox::start_daraja(&config.data_dir, &config.simulators).await?;
        sandbox_routes = sandbox_routes.nest("/sandbox/daraja", sim.simulator.router());
        sandbox_daraja = Some(sim.address);
        tracing::info!(address = %sim.address, "sandbox mode: Daraja simulator listening");
        simulator = Some(sim.simulator);
        daraja_listener = Some(sim.listener);
        Some(sim.adapter_config)
    } else {
        config.providers.daraja.clone()
    };

    let openapi_config = if config.is_sandbox() {
        let sim = sandbox::start_openapi(&config.data_dir, &config.simulators).await?;
        sandbox_routes = sandbox_routes.nest("/sandbox/mpesa-openapi", sim.simulator.router());
        tracing::info!(address = %sim.address, "sandbox mode: M-Pesa OpenAPI simulator listening");
        sandbox_openapi = Some(sim.address);
        openapi_simulator = Some(sim.simulator);
        openapi_listener = Some(sim.listener);
        Some(sim.adapter_config)
    } else {
        config.providers.mpesa_openapi.clone()
    };

    let mut mmapi_operators = config.providers.mmapi.clone();
    let mut mmapi_listener = None;
    let mut mmapi_simulator = None;
    if config.is_sandbox() {
        let sim = sandbox::start_mmapi(&config.data_dir, &config.simulators).await?;
        tracing::info!(address = %sim.address, "sandbox mode: MMAPI reference simulator listening at /v1.2/mm");
        mmapi_operators.push(sim.operator);
        mmapi_listener = Some(sim.listener);
        mmapi_simulator = Some(sim.simulator);
    }
    let mut router = routing::Router::new(config.breaker.clone());
    // GSMA-speaking operators first: a currency one of them is configured for is theirs.
    for operator in &mmapi_operators {
        let callbacks = format!("{public_url}/callbacks/{}", operator.name);
        let provider = mmapi_forward::MmapiProvider::new(operator.clone(), callbacks)?;
        router.add(Arc::new(provider));
    }
    if let Some(openapi) = openapi_config {
        let provider = mmapi_mpesa_openapi::OpenApiProvider::new(
            openapi,
            format!("{public_url}/callbacks/{}", mmapi_mpesa_openapi::NAME),
        )
        .map_err(|e| AppError::Sandbox(format!("M-Pesa OpenAPI: {e}")))?;
        router.add(Arc::new(provider));
    }
    if let Some(daraja) = daraja_config {
        let provider = DarajaProvider::new(
            daraja,
            format!("{public_url}/callbacks/{}", mmapi_daraja::NAME),
        )?;
        router.add(Arc::new(provider));
    }

    let lease_ms = i64::try_from(config.dispatch.claim_lease_ms).unwrap_or(60_000);
    let callback_policy = Arc::new(config.callback_policy());
    let notifier = notify::spawn(
        store.clone(),
        config.callbacks.clone(),
        callback_policy.clone(),
        lease_ms,
    )?;
    let (dispatch_tx, dispatch_rx) = mpsc::channel(65_536);
    let engine = Arc::new(
        Engine::new(
            store.clone(),
            router,
            notifier,
            config.dispatch.clone(),
            dispatch_tx,
        )
        .with_quotation_settings(config.quotations.clone())
        .with_batch_settings(config.batches.clone())
        .with_bill_settings(if config.is_sandbox() {
            config.bills.clone().or_sandbox()
        } else {
            config.bills.clone()
        }),
    );
    store.recover_after_restart(crate::engine::now_ms()).await?;
    let dispatch_runtime = match config.dispatch.threads {
        0 => None,
        threads => Some(BackgroundRuntime::start(
            "mmapi-dispatch",
            threads,
            config.dispatch.nice,
        )?),
    };
    spawn_dispatcher(
        engine.clone(),
        dispatch_rx,
        dispatch_runtime.as_ref().map(BackgroundRuntime::handle),
    );
    crate::reconcile::spawn(engine.clone());
    crate::engine::spawn_batch_runner(engine.clone());

    // The first attempt is awaited (briefly), so that e.g. C2B URLs are registered when serving starts; the
    // retries go on in the background.
    for provider in engine.router().providers().cloned() {
        let first =
            tokio::time::timeout(std::time::Duration::from_secs(10), provider.start()).await;
        match first {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(provider = provider.name(), error = %e, "provider start-up failed; retrying");
                tokio::spawn(start_provider(provider));
            }
            Err(_) => {
                tracing::warn!(
                    provider = provider.name(),
                    "provider start-up is slow; retrying in the background"
                );
                tokio::spawn(start_provider(provider));
            }
        }
    }

    let clients = Arc::new(ClientRegistry::new(store.clone(), config.auth.clone()));
    let sandbox_client = if config.is_sandbox() {
        Some(crate::auth::demo::ensure_sandbox_client(&clients, &config.data_dir).await?)
    } else {
        None
    };

    let mut app = Router::new().route(
        crate::auth::token::TOKEN_PATH,
        axum::routing::post(crate::auth::token::issue).with_state(clients.clone()),
    );
    for mount in api::MOUNTS {
        app = app.nest(mount, api::gsma_routes(engine.clone(), clients.clone()));
    }
    let sink: Arc<dyn EventSink> = engine.clone();
    let providers: Vec<Arc<dyn Provider>> = engine.router().providers().cloned().collect();
    for provider in providers {
        if let Some(routes) = provider.callback_router(sink.clone()) {
            let routes =
                crate::callback_sources::guard(routes, provider.name(), &config.callback_sources);
            app = app.nest(&format!("/callbacks/{}", provider.name()), routes);
        }
    }
    let body_limits = api::limits::BodyLimits::of(&config.limits);
    let app = app
        .route("/openapi.json", get(openapi_json))
        .nest(
            "/internal",
            api::internal::routes(engine.clone()).route_layer(
                axum::middleware::from_fn_with_state(
                    clients.clone(),
                    crate::auth::middleware::require_operator,
                ),
            ),
        )
        .route(
            "/metrics",
            get(crate::metrics::serve)
                .with_state(engine.clone())
                .route_layer(axum::middleware::from_fn_with_state(
                    clients.clone(),
                    crate::auth::middleware::require_operator,
                )),
        )
        .nest(
            crate::dashboard::BASE,
            crate::dashboard::routes(crate::dashboard::DashboardState {
                engine: engine.clone(),
                clients: clients.clone(),
                secure_cookie: tls.is_some(),
            }),
        )
        .merge(sandbox_routes)
        .fallback(api::error::no_route)
        .layer(axum::middleware::map_response(api::headers::add_x_date))
        .layer(axum::extract::DefaultBodyLimit::max(body_limits.largest()))
        .layer(axum::middleware::from_fn_with_state(
            body_limits,
            api::limits::refuse_large_bodies,
        ))
        .layer(axum::Extension(api::limits::RequestGuards::new(
            &config,
            callback_policy,
        )))
        .layer(axum::middleware::from_fn(crate::observe::layer));

    tracing::info!(%address, tls = tls.is_some(), sandbox = config.is_sandbox(), data_dir = %config.data_dir.display(), "mmapi-gateway listening");
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    // The peer address reaches handlers and middleware as `ConnectInfo<SocketAddr>` (callback source checks).
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        match tls {
            Some((tls, handshake_timeout)) => {
                use axum::serve::ListenerExt as _;
                let listener =
                    crate::tls::TlsListener::new(listener, tls, handshake_timeout)?.tap_io(|_| {});
                axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(listener, service)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        }
    });
    Ok(Gateway {
        address,
        sandbox_daraja,
        engine,
        simulator,
        sandbox_openapi,
        openapi_simulator,
        daraja_listener,
        openapi_listener,
        mmapi_listener,
        mmapi_simulator,
        clients,
        sandbox_client,
        server,
        stop,
        _dispatch_runtime: dispatch_runtime,
    })
}

async fn openapi_json() -> api::json::RawJson {
    api::json::RawJson(axum::http::StatusCode::OK, api::docs::json())
}

/// Runs a provider's start-up work (e.g. C2B URL registration), retrying with back-off while it fails.
async fn start_provider(provider: Arc<dyn Provider>) {
    let mut wait = std::time::Duration::from_secs(1);
    loop {
        match provider.start().await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(provider = provider.name(), error = %e, "provider start-up failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(300));
            }
        }
    }
}

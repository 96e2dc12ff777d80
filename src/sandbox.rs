//! Sandbox mode: the operator simulators run in-process, on their own loopback ports, wired to the adapters.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mmapi_core::Secret;
use mmapi_daraja::config::C2bConfig;
use mmapi_daraja::simulator::{self, DarajaSimulator, SimShortcode, SimulatorConfig};
use mmapi_daraja::{DarajaConfig, ShortcodeConfig};

use crate::config::SandboxSettings;

/// A simulator's own loopback listener. It can be stopped and started again on the same address, so that a
/// test can take an operator down and bring it back while the gateway runs.
#[derive(Clone)]
pub struct SimulatorListener {
    inner: Arc<ListenerInner>,
}

struct ListenerInner {
    name: &'static str,
    address: SocketAddr,
    router: axum::Router,
    running: tokio::sync::Mutex<Option<Running>>,
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl SimulatorListener {
    /// Serves `router` on `listener`.
    async fn serve(
        name: &'static str,
        listener: tokio::net::TcpListener,
        router: axum::Router,
    ) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let this = Self {
            inner: Arc::new(ListenerInner {
                name,
                address,
                router,
                running: tokio::sync::Mutex::new(None),
            }),
        };
        *this.inner.running.lock().await = Some(this.spawn(listener));
        Ok(this)
    }

    fn spawn(&self, listener: tokio::net::TcpListener) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = self.inner.router.clone();
        let name = self.inner.name;
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(simulator = name, error = %e, "a sandbox simulator stopped");
            }
        });
        Running { stop, task }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.inner.address
    }

    /// Stops accepting connections and closes the open ones (after their requests), so that calls to the
    /// simulator are refused, as if the operator were down. The simulator keeps its state.
    pub async fn stop(&self) {
        let Some(running) = self.inner.running.lock().await.take() else {
            return;
        };
        let _ = running.stop.send(());
        let task = running.task;
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .is_err()
        {
            abort.abort();
        }
        tracing::info!(simulator = self.inner.name, address = %self.inner.address, "sandbox simulator stopped");
    }

    /// Listens again on the same address after [`SimulatorListener::stop`] (nothing if it is running).
    pub async fn resume(&self) -> std::io::Result<()> {
        let mut running = self.inner.running.lock().await;
        if running.is_none() {
            let listener = tokio::net::TcpListener::bind(self.inner.address).await?;
            *running = Some(self.spawn(listener));
            tracing::info!(simulator = self.inner.name, address = %self.inner.address, "sandbox simulator listening again");
        }
        Ok(())
    }
}

/// A running in-process Daraja simulator and the adapter configuration that points at it.
pub struct SandboxDaraja {
    pub simulator: DarajaSimulator,
    pub address: SocketAddr,
    pub adapter_config: DarajaConfig,
    /// Its listener, which can be stopped and resumed.
    pub listener: SimulatorListener,
}

/// Starts the Daraja simulator with the public sandbox shortcode and passkey, keeping its state in
/// `<data_dir>/sandbox/daraja.journal` so that simulated payments survive a restart of the gateway.
pub async fn start_daraja(
    data_dir: &Path,
    settings: &SandboxSettings,
) -> Result<SandboxDaraja, crate::app::AppError> {
    let dir = data_dir.join("sandbox");
    std::fs::create_dir_all(&dir)?;
    // The simulator's RSA key (behind its certificate) is kept, so its state and the adapter agree on restarts.
    let key_path = dir.join("daraja-initiator-key.pem");
    let saved_key = std::fs::read_to_string(&key_path).ok();
    let config = SimulatorConfig {
        consumer_key: simulator::SANDBOX_CONSUMER_KEY.into(),
        consumer_secret: simulator::SANDBOX_CONSUMER_SECRET.into(),
        shortcodes: vec![SimShortcode {
            shortcode: simulator::SANDBOX_SHORTCODE.into(),
            passkey: simulator::SANDBOX_PASSKEY.into(),
        }],
        callback_delay: Duration::from_millis(settings.callback_delay_ms),
        journal_path: Some(dir.join("daraja.journal")),
        rsa_private_key_pem: saved_key.clone(),
        faults: settings.faults.clone(),
        ..SimulatorConfig::default()
    };
    let simulator = DarajaSimulator::start(config)
        .await
        .map_err(|e| crate::app::AppError::Sandbox(e.to_string()))?;
    if saved_key.is_none() {
        std::fs::write(&key_path, simulator.private_key_pem())?;
    }
    let listener = tokio::net::TcpListener::bind(settings.daraja_listen).await?;
    let listener = SimulatorListener::serve("daraja", listener, simulator.router()).await?;
    let address = listener.address();
    let adapter_config = DarajaConfig {
        base_url: format!("http://{address}"),
        consumer_key: Secret::new(simulator::SANDBOX_CONSUMER_KEY),
        consumer_secret: Secret::new(simulator::SANDBOX_CONSUMER_SECRET),
        shortcodes: vec![ShortcodeConfig {
            shortcode: simulator::SANDBOX_SHORTCODE.into(),
            passkey: Secret::new(simulator::SANDBOX_PASSKEY),
            store_number: None,
        }],
        request_timeout_ms: 15_000,
        stk_result_deadline_secs: settings.stk_result_deadline_secs,
        stk_unacknowledged_expiry_secs: settings.stk_unacknowledged_expiry_secs,
        initiator_name: Some(simulator::SANDBOX_INITIATOR_NAME.into()),
        initiator_password: Some(Secret::new(simulator::SANDBOX_INITIATOR_PASSWORD)),
        certificate: Some(simulator.certificate_pem()),
        disbursement_shortcode: Some(simulator::SANDBOX_ORGANIZATION.into()),
        result_deadline_secs: settings.stk_result_deadline_secs,
        balance_timeout_secs: 10,
        c2b: [
            simulator::SANDBOX_SHORTCODE,
            simulator::SANDBOX_ORGANIZATION,
        ]
        .into_iter()
        .map(|shortcode| C2bConfig {
            shortcode: shortcode.into(),
            response_type: "Completed".into(),
            account_references: settings.c2b_account_references.clone(),
            notification_url: settings.c2b_notification_url.clone(),
            till: false,
            pull_nominated_number: Some(simulator::SANDBOX_NOMINATED_NUMBER.into()),
        })
        .collect(),
        bill_manager: Some(mmapi_daraja::config::BillManagerConfig {
            shortcode: simulator::SANDBOX_SHORTCODE.into(),
            email: "billing@sandbox.example".into(),
            official_contact: "0708374149".into(),
            send_reminders: false,
        }),
        // The simulated customer answers within the callback delay.
        ratiba_approval_timeout_secs: 60,
    };
    Ok(SandboxDaraja {
        simulator,
        address,
        adapter_config,
        listener,
    })
}

/// A running in-process M-Pesa OpenAPI simulator and the adapter configuration that points at it.
pub struct SandboxOpenApi {
    pub simulator: mmapi_mpesa_openapi::simulator::OpenApiSimulator,
    pub address: SocketAddr,
    pub adapter_config: mmapi_mpesa_openapi::OpenApiConfig,
    /// Its listener, which can be stopped and resumed.
    pub listener: SimulatorListener,
}

/// Starts the M-Pesa OpenAPI simulator with all five markets, keeping its 4096-bit key in
/// `<data_dir>/sandbox/openapi-key.pem` (it is slow to generate) and its journal in
/// `<data_dir>/sandbox/openapi.journal`, so that after a restart of the gateway it still knows its
/// transactions, balances and submission counts.
pub async fn start_openapi(
    data_dir: &Path,
    settings: &SandboxSettings,
) -> Result<SandboxOpenApi, crate::app::AppError> {
    use mmapi_mpesa_openapi::simulator::{self as openapi_sim, OpenApiSimulator};
    let dir = data_dir.join("sandbox");
    std::fs::create_dir_all(&dir)?;
    let key_path = dir.join("openapi-key.pem");
    let saved_key = std::fs::read_to_string(&key_path).ok();
    let simulator = OpenApiSimulator::start(openapi_sim::SimulatorConfig {
        rsa_private_key_pem: saved_key.clone(),
        result_delay: Duration::from_millis(settings.callback_delay_ms),
        faults: settings.faults.clone(),
        journal_path: Some(dir.join("openapi.journal")),
        ..openapi_sim::SimulatorConfig::default()
    })
    .await
    .map_err(|e| crate::app::AppError::Sandbox(e.to_string()))?;
    let public_key = simulator.public_key_base64();
    if saved_key.is_none() {
        std::fs::write(&key_path, simulator.private_key_pem())?;
    }
    let listener = tokio::net::TcpListener::bind(settings.openapi_listen).await?;
    let listener = SimulatorListener::serve("mpesa-openapi", listener, simulator.router()).await?;
    let address = listener.address();
    let market = |name: &str| -> Result<mmapi_mpesa_openapi::MarketConfig, crate::app::AppError> {
        let text = format!(
            "market = \"{name}\"\nbase_url = \"http://{address}\"\nenvironment = \"sandbox\"\n\
             api_key = \"{key}\"\npublic_key = \"{public_key}\"\nservice_provider_code = \"{code}\"\n\
             request_timeout_ms = 15000\nresult_deadline_secs = {deadline}\n",
            key = openapi_sim::SANDBOX_API_KEY,
            code = openapi_sim::SANDBOX_SERVICE_PROVIDER_CODE,
            deadline = settings.stk_result_deadline_secs,
        );
        toml::from_str(&text).map_err(|e| crate::app::AppError::Sandbox(e.to_string()))
    };
    let markets = [
        "vodacomTZN",
        "vodafoneGHA",
        "vodacomLES",
        "vodacomDRC",
        "vodacomMOZ",
    ]
    .into_iter()
    .map(market)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(SandboxOpenApi {
        simulator,
        address,
        adapter_config: mmapi_mpesa_openapi::OpenApiConfig { markets },
        listener,
    })
}

/// The sandbox's MMAPI reference simulator and the operator configuration that reaches it.
pub struct SandboxMmapi {
    pub address: SocketAddr,
    pub simulator: mmapi_forward::simulator::MmapiSimulator,
    pub operator: mmapi_forward::MmapiConfig,
    pub listener: SimulatorListener,
}

/// The name of the sandbox's GSMA-speaking operator: the MMAPI reference simulator.
pub const MMAPI_SANDBOX_OPERATOR: &str = "mmapi-simulator";

/// Starts the MMAPI reference simulator on its own listener (its API at `/v1.2/mm`), its state kept in
/// `<data_dir>/sandbox/mmapi-simulator.json` so that its wallets and what was done with them survive a restart of
/// the gateway; in sandbox mode the accounts named by `walletid` (in the currencies it quotes) are its.
pub async fn start_mmapi(
    data_dir: &Path,
    settings: &SandboxSettings,
) -> Result<SandboxMmapi, crate::app::AppError> {
    use mmapi_forward::simulator::{MmapiSimulator, SimulatorConfig, CURRENCIES};
    let simulator = MmapiSimulator::open(
        SimulatorConfig {
            processing_delay: Duration::from_millis(settings.callback_delay_ms),
        },
        data_dir.join("sandbox").join("mmapi-simulator.json"),
    )
    .map_err(|e| crate::app::AppError::Sandbox(e.to_string()))?;
    let router = axum::Router::new().nest("/v1.2/mm", simulator.router());
    let listener = tokio::net::TcpListener::bind(settings.mmapi_listen).await?;
    let listener = SimulatorListener::serve("mmapi", listener, router).await?;
    let address = listener.address();
    let currencies = CURRENCIES
        .iter()
        .filter_map(|c| mmapi_core::Currency::parse(c).ok())
        .collect();
    let mut operator =
        mmapi_forward::MmapiConfig::new(format!("http://{address}/v1.2/mm"), currencies);
    operator.name = MMAPI_SANDBOX_OPERATOR.to_owned();
    operator.identifier_types = vec!["walletid".to_owned()];
    // Its quotations are its own: an international transfer cites one.
    operator.quotations = true;
    operator.result_deadline_secs = Some(settings.stk_result_deadline_secs.max(1));
    operator.poll_interval_ms = 100;
    Ok(SandboxMmapi {
        address,
        simulator,
        operator,
        listener,
    })
}

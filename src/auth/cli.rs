//! `mmapi-gateway clients add|list|rotate|disable|enable`: managing the client registry from the command line.
//! Credentials are printed once, when they are created or rotated; the registry keeps only their hashes.

use clap::Subcommand;
use serde_json::json;

use super::{AuthError, ClientRegistry, NewClient, Role};

/// What to do with the registry.
#[derive(Debug, Subcommand)]
pub enum ClientsAction {
    /// Register a client and print its credentials (JSON; shown only this once).
    Add {
        /// The client id (consumer key) to give it; a random `ck_…` one by default.
        #[arg(long)]
        client_id: Option<String>,
        /// A name for people.
        #[arg(long)]
        name: String,
        /// The operator role: also the `/internal` routes (review, statistics).
        #[arg(long)]
        operator: bool,
        /// Providers it may use (comma-separated: daraja, mpesa-openapi); all when absent.
        #[arg(long, value_delimiter = ',')]
        providers: Option<Vec<String>>,
        /// Accounts granted to it (comma-separated, e.g. shortcodes): their balances and incoming payments.
        #[arg(long, value_delimiter = ',')]
        accounts: Vec<String>,
        /// Private hosts or networks (CIDR) its callbacks may reach (comma-separated).
        #[arg(long = "callback-hosts", value_delimiter = ',')]
        callback_hosts: Vec<String>,
        /// Requests a second it may make; the gateway's default when absent.
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// List the clients (JSON, one per line; no secrets).
    List,
    /// Give a client new credentials and print them; the old ones stop working.
    Rotate {
        /// The client id (consumer key).
        client_id: String,
    },
    /// Disable a client: its credentials and tokens stop working.
    Disable {
        /// The client id (consumer key).
        client_id: String,
    },
    /// Enable a disabled client again.
    Enable {
        /// The client id (consumer key).
        client_id: String,
    },
}

/// Why a registry command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("there is no client {0}")]
    NoSuchClient(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Runs a registry command; returns the lines to print.
pub async fn run(
    registry: &ClientRegistry,
    action: ClientsAction,
) -> Result<Vec<String>, CliError> {
    match action {
        ClientsAction::Add {
            client_id,
            name,
            operator,
            providers,
            accounts,
            callback_hosts,
            rate_limit,
        } => {
            let issued = registry
                .create(NewClient {
                    client_id,
                    name,
                    role: if operator {
                        Role::Operator
                    } else {
                        Role::Client
                    },
                    allowed_providers: providers,
                    callback_hosts,
                    accounts,
                    rate_limit_per_sec: rate_limit,
                })
                .await?;
            Ok(vec![issued.to_json().to_string()])
        }
        ClientsAction::List => Ok(registry
            .list()
            .await?
            .into_iter()
            .map(|c| {
                json!({
                    "clientId": c.client_id,
                    "name": c.name,
                    "role": c.role,
                    "disabled": c.disabled != 0,
                    "allowedProviders": c.allowed_providers,
                    "accounts": c.accounts,
                    "callbackHosts": c.callback_hosts,
                    "rateLimitPerSec": c.rate_limit_per_sec,
                    "createdAt": c.created_at,
                    "updatedAt": c.updated_at,
                })
                .to_string()
            })
            .collect()),
        ClientsAction::Rotate { client_id } => match registry.rotate(&client_id).await? {
            Some(issued) => Ok(vec![issued.to_json().to_string()]),
            None => Err(CliError::NoSuchClient(client_id)),
        },
        ClientsAction::Disable { client_id } => {
            if registry.set_disabled(&client_id, true).await? {
                Ok(vec![format!("{client_id} disabled")])
            } else {
                Err(CliError::NoSuchClient(client_id))
            }
        }
        ClientsAction::Enable { client_id } => {
            if registry.set_disabled(&client_id, false).await? {
                Ok(vec![format!("{client_id} enabled")])
            } else {
                Err(CliError::NoSuchClient(client_id))
            }
        }
    }
}

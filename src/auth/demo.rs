//! The sandbox's demo client: created at the first start in sandbox mode, its credentials printed and written to
//! `<data-dir>/sandbox-client.json`, so that one command gives a working, authenticated sandbox.

use std::path::{Path, PathBuf};

use mmapi_core::Secret;

use super::credentials::IssuedCredentials;
use super::{AuthError, ClientRegistry, NewClient, Role};

/// The file the demo client's credentials are written to, in the data directory.
pub const SANDBOX_CLIENT_FILE: &str = "sandbox-client.json";

/// The accounts of the sandbox simulators: granted to the demo client.
pub fn sandbox_accounts() -> Vec<String> {
    vec![
        mmapi_daraja::simulator::SANDBOX_SHORTCODE.to_owned(),
        mmapi_daraja::simulator::SANDBOX_ORGANIZATION.to_owned(),
        mmapi_mpesa_openapi::simulator::SANDBOX_SERVICE_PROVIDER_CODE.to_owned(),
    ]
}

/// Where the demo client's credentials are kept.
pub fn credentials_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SANDBOX_CLIENT_FILE)
}

/// Makes sure the demo client exists: the one in `<data-dir>/sandbox-client.json` if the store knows it, else a
/// new one (an operator, granted the sandbox accounts), whose credentials are written there and printed.
pub async fn ensure_sandbox_client(
    registry: &ClientRegistry,
    data_dir: &Path,
) -> Result<IssuedCredentials, AuthError> {
    let path = credentials_path(data_dir);
    if let Some(saved) = read(&path) {
        if registry
            .get(&saved.consumer_key)
            .await?
            .is_some_and(|c| c.disabled == 0)
        {
            return Ok(saved);
        }
    }
    let issued = registry
        .create(NewClient {
            role: Role::Operator,
            accounts: sandbox_accounts(),
            ..NewClient::named("sandbox demo client")
        })
        .await?;
    let text = serde_json::to_string_pretty(&issued.to_json())
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    write_private(&path, &text).map_err(|e| AuthError::Hash(format!("{}: {e}", path.display())))?;
    // Shown once, on the terminal of whoever started the sandbox (never in the log).
    println!(
        "sandbox client created: consumer key {}, credentials in {}",
        issued.consumer_key,
        path.display()
    );
    Ok(issued)
}

fn read(path: &Path) -> Option<IssuedCredentials> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let field = |name: &str| value.get(name)?.as_str().map(str::to_owned);
    Some(IssuedCredentials {
        consumer_key: field("consumerKey")?,
        consumer_secret: Secret::new(field("consumerSecret")?),
        api_key: Secret::new(field("apiKey")?),
    })
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

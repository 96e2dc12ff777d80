//! Source-address allowlists of the operators' callback routes (`/callbacks/<provider>/…`).
//!
//! ```toml
//! [callback_sources]
//! daraja = ["196.201.214.200/32", "196.201.214.206/32"]
//! mpesa-openapi = ["203.0.113.0/24"]
//! ```
//!
//! A provider with a list accepts callbacks only from a peer address inside one of its networks; anything
//! else is answered 403 and logged, and nothing of it is read. A provider without a list accepts any source
//! (its payloads are still checked against the references the gateway issued). The peer address is the TCP
//! peer: behind a reverse proxy or load balancer, list the proxy's address and filter at the proxy.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// The providers whose callback routes can be restricted.
pub const PROVIDERS: [&str; 2] = [mmapi_daraja::NAME, mmapi_mpesa_openapi::NAME];

/// `[callback_sources]`: allowed source networks per provider name (`daraja`, `mpesa-openapi`, the name of a
/// `[[providers.mmapi]]` operator; `mpesa_openapi` is accepted too).
#[derive(Clone, Debug, Default)]
pub struct CallbackSources(BTreeMap<String, Vec<IpNet>>);

impl<'de> Deserialize<'de> for CallbackSources {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, Vec<String>>::deserialize(deserializer)?;
        let mut lists = BTreeMap::new();
        for (name, entries) in raw {
            let networks = entries
                .iter()
                .map(|entry| parse_network(entry))
                .collect::<Result<Vec<_>, _>>()
                .map_err(serde::de::Error::custom)?;
            let built_in = name.replace('_', "-");
            let canonical = if PROVIDERS.contains(&built_in.as_str()) {
                built_in
            } else {
                name.clone()
            };
            if lists.insert(canonical, networks).is_some() {
                return Err(serde::de::Error::custom(format!(
                    "callback_sources: provider '{name}' is listed twice"
                )));
            }
        }
        Ok(Self(lists))
    }
}

/// A CIDR (`196.201.214.0/24`) or a single address (`196.201.214.200`, taken as /32 or /128).
fn parse_network(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    let parsed = if entry.contains('/') {
        entry.parse::<IpNet>().ok()
    } else {
        entry.parse::<IpAddr>().ok().map(IpNet::from)
    };
    parsed.ok_or_else(|| {
        format!("callback_sources: '{entry}' is not an IP network (CIDR) or address")
    })
}

impl CallbackSources {
    /// Checks that every list names a provider the gateway has: a built-in one or a configured GSMA-speaking
    /// operator (`[[providers.mmapi]]`, by name).
    pub fn validate(&self, operators: &[&str]) -> Result<(), String> {
        for name in self.0.keys() {
            if !PROVIDERS.contains(&name.as_str()) && !operators.contains(&name.as_str()) {
                let mut known: Vec<&str> = PROVIDERS.to_vec();
                known.extend(operators);
                return Err(format!(
                    "callback_sources: unknown provider '{name}' (expected one of {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// From lists keyed by provider name (tests and programs that build a configuration).
    pub fn new(lists: impl IntoIterator<Item = (String, Vec<IpNet>)>) -> Self {
        Self(
            lists
                .into_iter()
                .map(|(name, networks)| (name.replace('_', "-"), networks))
                .collect(),
        )
    }

    /// The allowed networks of `provider`, if it has a list.
    pub fn for_provider(&self, provider: &str) -> Option<&[IpNet]> {
        self.0.get(provider).map(Vec::as_slice)
    }
}

/// Whether `peer` is inside one of `allowed` (an IPv4-mapped IPv6 peer counts as its IPv4 address).
pub fn is_allowed(allowed: &[IpNet], peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    allowed.iter().any(|net| net.contains(&peer))
}

#[derive(Clone)]
struct Guard {
    provider: Arc<str>,
    allowed: Arc<[IpNet]>,
}

/// `routes` (a provider's callback router) with the allowlist of `provider` in front, when it has one.
pub fn guard(routes: Router, provider: &str, sources: &CallbackSources) -> Router {
    let Some(allowed) = sources.for_provider(provider) else {
        return routes;
    };
    tracing::info!(
        provider,
        networks = allowed.len(),
        "operator callbacks restricted to listed sources"
    );
    let guard = Guard {
        provider: Arc::from(provider),
        allowed: Arc::from(allowed),
    };
    routes.layer(axum::middleware::from_fn_with_state(guard, check_source))
}

async fn check_source(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    match peer {
        Some(ip) if is_allowed(&guard.allowed, ip) => next.run(request).await,
        Some(ip) => {
            tracing::warn!(provider = %guard.provider, source = %ip, path = request.uri().path(), "refused an operator callback from a source not in callback_sources");
            StatusCode::FORBIDDEN.into_response()
        }
        None => {
            tracing::warn!(provider = %guard.provider, path = request.uri().path(), "refused an operator callback whose source is unknown");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_file_carries_tls_and_callback_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.toml");
        std::fs::write(
            &path,
            "[tls]\ncert_path = \"/etc/tls/cert.pem\"\nkey_path = \"/etc/tls/key.pem\"\n\
             [callback_sources]\ndaraja = [\"196.201.214.200\", \"196.201.212.0/24\"]\n",
        )
        .unwrap();
        let config =
            crate::config::Config::load(Some(&path), crate::config::Overrides::default()).unwrap();
        let tls = config.tls.unwrap();
        assert_eq!(tls.key_path, std::path::PathBuf::from("/etc/tls/key.pem"));
        assert_eq!(tls.handshake_timeout_ms, 10_000);
        let daraja = config.callback_sources.for_provider("daraja").unwrap();
        assert_eq!(daraja.len(), 2);
        assert!(config
            .callback_sources
            .for_provider("mpesa-openapi")
            .is_none());
        std::fs::write(&path, "[callback_sources]\nmtn = [\"10.0.0.0/8\"]\n").unwrap();
        assert!(
            crate::config::Config::load(Some(&path), crate::config::Overrides::default()).is_err()
        );
    }

    #[test]
    fn lists_parse_and_match() {
        #[derive(Deserialize)]
        struct Wrapper {
            callback_sources: CallbackSources,
        }
        let w: Wrapper = toml::from_str(
            "[callback_sources]\ndaraja = [\"196.201.214.200/32\", \"10.0.0.0/8\"]\nmpesa_openapi = [\"::1/128\"]\n",
        )
        .unwrap();
        let daraja = w.callback_sources.for_provider("daraja").unwrap();
        assert!(is_allowed(daraja, "196.201.214.200".parse().unwrap()));
        assert!(is_allowed(daraja, "10.1.2.3".parse().unwrap()));
        assert!(is_allowed(daraja, "::ffff:10.1.2.3".parse().unwrap()));
        assert!(!is_allowed(daraja, "196.201.214.201".parse().unwrap()));
        assert!(!is_allowed(daraja, "127.0.0.1".parse().unwrap()));
        let openapi = w.callback_sources.for_provider("mpesa-openapi").unwrap();
        assert!(is_allowed(openapi, "::1".parse().unwrap()));
        let single: Wrapper =
            toml::from_str("[callback_sources]\ndaraja = [\"196.201.214.200\"]\n").unwrap();
        let single = single.callback_sources.for_provider("daraja").unwrap();
        assert!(is_allowed(single, "196.201.214.200".parse().unwrap()));
        assert!(!is_allowed(single, "196.201.214.201".parse().unwrap()));
        assert!(!is_allowed(&[], "::1".parse().unwrap()));

        let mtn: Wrapper = toml::from_str("[callback_sources]\nmtn = [\"10.0.0.0/8\"]\n").unwrap();
        assert!(mtn.callback_sources.validate(&[]).is_err());
        assert!(mtn.callback_sources.validate(&["mtn"]).is_ok());
        assert!(w.callback_sources.validate(&[]).is_ok());
        assert!(
            toml::from_str::<Wrapper>("[callback_sources]\ndaraja = [\"10.0.0.300/8\"]\n").is_err()
        );
        assert!(toml::from_str::<Wrapper>(
            "[callback_sources]\nmpesa-openapi = []\nmpesa_openapi = []\n"
        )
        .is_err());
    }
}

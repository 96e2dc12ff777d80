//! The client registry: creating, rotating and disabling clients, and checking the credentials a request
//! carries. Verified credentials are remembered for [`AuthSettings::cache_secs`] so that the slow secret hash
//! is computed once per client and period, not once per request.
//!
//! A remembered credential is checked again before it runs out: in its last quarter, one request re-verifies it
//! while the others go on. One that has run out is verified once for all the requests presenting it at that
//! moment (they wait for that one verification), not once by each of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mmapi_core::Secret;
use tokio::sync::Semaphore;

use super::credentials::{self, IssuedCredentials};
use super::{AuthError, AuthSettings, Caller, Role};
use crate::store::{Change, ClientRow, Store};

/// How many verified credentials are remembered at most; the memory is emptied when it is full.
const CACHE_CAPACITY: usize = 10_000;

/// A well-formed argon2id hash (default parameters, all-zero salt and digest) that no secret matches in
/// practice, verified against when the consumer key is unknown.
const UNKNOWN_CLIENT_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$\
    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The credentials a request presents.
#[derive(Debug, Default)]
pub struct Presented {
    /// `Authorization: Basic` consumer key and secret.
    pub basic: Option<(String, Secret)>,
    /// `Authorization: Bearer` access token.
    pub bearer: Option<Secret>,
    /// `X-API-Key`.
    pub api_key: Option<Secret>,
    /// `X-Client-Id`, which must then name the same client.
    pub client_id: Option<String>,
}

/// A client to register.
#[derive(Clone, Debug)]
pub struct NewClient {
    /// The consumer key to give it; a random one when `None`.
    pub client_id: Option<String>,
    pub name: String,
    pub role: Role,
    /// Providers it may use; all when `None`.
    pub allowed_providers: Option<Vec<String>>,
    /// Private hosts or networks its callbacks may reach.
    pub callback_hosts: Vec<String>,
    /// Accounts granted to it (account keys, e.g. a shortcode).
    pub accounts: Vec<String>,
    /// Requests a second; the gateway's default when `None`.
    pub rate_limit_per_sec: Option<u32>,
}

impl NewClient {
    /// A plain client with the defaults.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            client_id: None,
            name: name.into(),
            role: Role::Client,
            allowed_providers: None,
            callback_hosts: Vec::new(),
            accounts: Vec::new(),
            rate_limit_per_sec: None,
        }
    }
}

/// The client registry.
pub struct ClientRegistry {
    store: Store,
    settings: AuthSettings,
    /// Secret verifications under way at once: argon2 is slow and memory-hungry on purpose, so a flood of
    /// wrong credentials must not take every core (verified credentials are remembered and skip it).
    verifications: Arc<Semaphore>,
    /// Verified credentials (by the digest of what was presented) and when they are to be checked again.
    verified: Mutex<HashMap<String, (Caller, Instant)>>,
    /// The verification of a credential under way, by the same key: one at a time per credential.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Secrets verified against their hash so far.
    secret_checks: AtomicU64,
}

/// A remembered credential.
struct Remembered {
    caller: Caller,
    /// In the last quarter of its time: due to be verified again.
    due: bool,
}

impl ClientRegistry {
    /// A registry over the store's `clients` table.
    pub fn new(store: Store, settings: AuthSettings) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self {
            store,
            settings,
            verifications: Arc::new(Semaphore::new(cores)),
            verified: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            secret_checks: AtomicU64::new(0),
        }
    }

    /// How many consumer secrets have been verified against their hash (argon2) since start.
    pub fn secret_checks(&self) -> u64 {
        self.secret_checks.load(Ordering::Relaxed)
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Registers a client and returns its credentials, in the clear for the only time.
    pub async fn create(&self, new: NewClient) -> Result<IssuedCredentials, AuthError> {
        let client_id = match new.client_id {
            Some(id) if credentials::is_valid_client_id(&id) => id,
            Some(id) => return Err(AuthError::BadClientId(id)),
            None => credentials::new_client_id(),
        };
        if self.store.client(&client_id).await?.is_some() {
            return Err(AuthError::BadClientId(client_id));
        }
        let issued = IssuedCredentials::generate(client_id);
        let secret_hash = hash(issued.consumer_secret.clone()).await?;
        let now = crate::engine::now_ms();
        self.store
            .apply(Change::PutClient(ClientRow {
                client_id: issued.consumer_key.clone(),
                name: new.name,
                secret_hash,
                api_key_digest: credentials::digest(issued.api_key.expose()),
                signing_key: credentials::signing_key(issued.consumer_secret.expose()),
                role: new.role.as_str().to_owned(),
                allowed_providers: new.allowed_providers.map(|p| p.join(",")),
                callback_hosts: (!new.callback_hosts.is_empty())
                    .then(|| new.callback_hosts.join(",")),
                accounts: (!new.accounts.is_empty()).then(|| {
                    new.accounts
                        .iter()
                        .map(|a| crate::store::account_key(a))
                        .collect::<Vec<_>>()
                        .join(",")
                }),
                rate_limit_per_sec: new.rate_limit_per_sec.map(i64::from),
                disabled: 0,
                created_at: now,
                updated_at: now,
            }))
            .await?;
        Ok(issued)
    }

    /// Gives a client new credentials; the old ones, and its access tokens, stop working. `None` when there is
    /// no such client.
    pub async fn rotate(&self, client_id: &str) -> Result<Option<IssuedCredentials>, AuthError> {
        if self.store.client(client_id).await?.is_none() {
            return Ok(None);
        }
        let issued = IssuedCredentials::generate(client_id.to_owned());
        let secret_hash = hash(issued.consumer_secret.clone()).await?;
        self.store
            .apply(Change::RotateClient {
                client_id: client_id.to_owned(),
                secret_hash,
                api_key_digest: credentials::digest(issued.api_key.expose()),
                signing_key: credentials::signing_key(issued.consumer_secret.expose()),
                now_ms: crate::engine::now_ms(),
            })
            .await?;
        self.forget();
        Ok(Some(issued))
    }

    /// Disables (or enables again) a client. Whether there was such a client.
    pub async fn set_disabled(&self, client_id: &str, disabled: bool) -> Result<bool, AuthError> {
        let changed = self
            .store
            .apply(Change::SetClientDisabled {
                client_id: client_id.to_owned(),
                disabled,
                now_ms: crate::engine::now_ms(),
            })
            .await?;
        self.forget();
        Ok(changed > 0)
    }

    /// Every client.
    pub async fn list(&self) -> Result<Vec<ClientRow>, AuthError> {
        Ok(self.store.clients().await?)
    }

    /// The client, if it exists.
    pub async fn get(&self, client_id: &str) -> Result<Option<ClientRow>, AuthError> {
        Ok(self.store.client(client_id).await?)
    }

    /// Checks the presented credentials. When several are presented they must all name the same client.
    pub async fn authenticate(&self, presented: &Presented) -> Result<Caller, AuthError> {
        let mut found: Option<Caller> = None;
        let mut agree = |caller: Caller| -> Result<(), AuthError> {
            match &found {
                Some(seen) if seen.client_id != caller.client_id => Err(AuthError::Invalid),
                _ => {
                    found = Some(caller);
                    Ok(())
                }
            }
        };
        if let Some((key, secret)) = &presented.basic {
            agree(self.by_basic(key, secret).await?)?;
        }
        if let Some(token) = &presented.bearer {
            agree(self.by_token(token).await?)?;
        }
        match &presented.api_key {
            Some(api_key) => agree(self.by_api_key(api_key).await?)?,
            None if self.settings.require_api_key && found.is_some() => {
                return Err(AuthError::Invalid)
            }
            None => {}
        }
        let caller = found.ok_or(AuthError::Missing)?;
        if presented
            .client_id
            .as_ref()
            .is_some_and(|id| *id != caller.client_id)
        {
            return Err(AuthError::Invalid);
        }
        Ok(caller)
    }

    /// Issues an OAuth access token to `caller`: the token and its lifetime in seconds.
    pub async fn issue_token(&self, caller: &Caller) -> Result<(Secret, u64), AuthError> {
        let token = Secret::new(credentials::random_token(48));
        let lifetime = self.settings.token_lifetime_secs;
        let now = crate::engine::now_ms();
        let lifetime_ms = i64::try_from(lifetime.saturating_mul(1000)).unwrap_or(i64::MAX);
        self.store
            .apply(Change::PutAccessToken {
                token_digest: credentials::digest(token.expose()),
                client_id: caller.client_id.clone(),
                expires_at: now.saturating_add(lifetime_ms),
                now_ms: now,
            })
            .await?;
        Ok((token, lifetime))
    }

    async fn by_basic(&self, key: &str, secret: &Secret) -> Result<Caller, AuthError> {
        let memo = format!(
            "basic:{}",
            credentials::digest(&format!("{key}:{}", secret.expose()))
        );
        let flight = match self.remembered(&memo) {
            Some(Remembered { caller, due: false }) => return Ok(caller),
            Some(Remembered { caller, due: true }) => {
                // This request checks it again unless another one is at it; meanwhile the rest go on.
                match self.flight(&memo).try_lock_owned() {
                    Ok(flight) => flight,
                    Err(_) => return Ok(caller),
                }
            }
            None => {
                let flight = self.flight(&memo).lock_owned().await;
                // Verified by the request this one waited for.
                if let Some(remembered) = self.remembered(&memo) {
                    return Ok(remembered.caller);
                }
                flight
            }
        };
        let result = self.verify_basic(key, secret, &memo).await;
        self.flights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&memo);
        drop(flight);
        result
    }

    /// The lock that one verification of `memo` at a time holds.
    fn flight(&self, memo: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        flights.entry(memo.to_owned()).or_default().clone()
    }

    /// Verifies a consumer key and secret against the store, and remembers the caller (or forgets it).
    async fn verify_basic(
        &self,
        key: &str,
        secret: &Secret,
        memo: &str,
    ) -> Result<Caller, AuthError> {
        let result = self.check_basic(key, secret).await;
        match &result {
            Ok(caller) => self.remember(memo.to_owned(), caller, None),
            Err(_) => {
                self.verified
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(memo);
            }
        }
        result
    }

    async fn check_basic(&self, key: &str, secret: &Secret) -> Result<Caller, AuthError> {
        let permit = self
            .verifications
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        self.secret_checks.fetch_add(1, Ordering::Relaxed);
        let Some(row) = self.store.client(key).await? else {
            // As slow as for a known client, so that timing does not tell which consumer keys exist.
            verify(secret.clone(), UNKNOWN_CLIENT_HASH.to_owned()).await;
            return Err(AuthError::Invalid);
        };
        let verified = verify(secret.clone(), row.secret_hash.clone()).await;
        drop(permit);
        if !verified {
            return Err(AuthError::Invalid);
        }
        caller_of(row)
    }

    async fn by_token(&self, token: &Secret) -> Result<Caller, AuthError> {
        let digest = credentials::digest(token.expose());
        let memo = format!("bearer:{digest}");
        if let Some(remembered) = self.remembered(&memo) {
            return Ok(remembered.caller);
        }
        let now = crate::engine::now_ms();
        let (client_id, expires_at) = self
            .store
            .access_token(&digest, now)
            .await?
            .ok_or(AuthError::Invalid)?;
        let row = self
            .store
            .client(&client_id)
            .await?
            .ok_or(AuthError::Invalid)?;
        let caller = caller_of(row)?;
        let left = Duration::from_millis(u64::try_from(expires_at - now).unwrap_or(0));
        self.remember(memo, &caller, Some(left));
        Ok(caller)
    }

    async fn by_api_key(&self, api_key: &Secret) -> Result<Caller, AuthError> {
        let digest = credentials::digest(api_key.expose());
        let memo = format!("apikey:{digest}");
        if let Some(remembered) = self.remembered(&memo) {
            return Ok(remembered.caller);
        }
        let row = self
            .store
            .client_by_api_key_digest(&digest)
            .await?
            .ok_or(AuthError::Invalid)?;
        let caller = caller_of(row)?;
        self.remember(memo, &caller, None);
        Ok(caller)
    }

    fn remembered(&self, memo: &str) -> Option<Remembered> {
        let now = Instant::now();
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        let (caller, until) = verified.get(memo).filter(|(_, until)| now < *until)?;
        let check_again_within = Duration::from_secs(self.settings.cache_secs) / 4;
        Some(Remembered {
            caller: caller.clone(),
            due: *until - now <= check_again_within,
        })
    }

    fn remember(&self, memo: String, caller: &Caller, at_most: Option<Duration>) {
        let mut ttl = Duration::from_secs(self.settings.cache_secs);
        if let Some(limit) = at_most {
            ttl = ttl.min(limit);
        }
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= CACHE_CAPACITY {
            verified.clear();
        }
        verified.insert(memo, (caller.clone(), Instant::now() + ttl));
    }

    fn forget(&self) {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// The client an account is granted to (the first enabled one, if several): the owner of the payments the
/// operator reports into it.
pub async fn owner_of_account(
    store: &Store,
    account: &str,
) -> Result<Option<String>, crate::store::StoreError> {
    let key = crate::store::account_key(account);
    Ok(store
        .clients()
        .await?
        .into_iter()
        .find(|c| {
            c.disabled == 0
                && c.accounts
                    .as_deref()
                    .is_some_and(|a| a.split(',').any(|k| k == key))
        })
        .map(|c| c.client_id))
}

/// The caller a stored client makes, unless it is disabled.
fn caller_of(row: ClientRow) -> Result<Caller, AuthError> {
    if row.disabled != 0 {
        return Err(AuthError::Disabled);
    }
    let list = |text: Option<String>| -> Vec<String> {
        text.map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
    };
    let allowed = row.allowed_providers.is_some();
    Ok(Caller {
        client_id: row.client_id,
        role: Role::from_stored(&row.role),
        allowed_providers: allowed.then(|| list(row.allowed_providers)),
        callback_hosts: list(row.callback_hosts),
        accounts: list(row.accounts),
        rate_limit_per_sec: row.rate_limit_per_sec.and_then(|r| u32::try_from(r).ok()),
    })
}

/// Hashes a secret off the async threads (argon2 is slow on purpose).
async fn hash(secret: Secret) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || credentials::hash_secret(secret.expose()))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Verifies a secret off the async threads.
async fn verify(secret: Secret, hash: String) -> bool {
    tokio::task::spawn_blocking(move || credentials::verify_secret(secret.expose(), &hash))
        .await
        .unwrap_or(false)
}

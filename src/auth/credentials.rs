//! Client credentials: generating them, keeping only their hashes, and deriving the callback signing key.
//!
//! - the consumer key is the client's public id;
//! - the consumer secret is kept as an argon2id hash (slow on purpose: a stolen database does not give it away);
//! - the API key and access tokens are long random strings, kept as SHA-256 digests (fast to look up, and
//!   random enough that a digest cannot be reversed);
//! - the callback signing key is `HMAC-SHA256(key = consumer secret, "mmapi-gateway callback signing v1")`, so
//!   that a client can compute it from its secret, while the stored key does not let anyone call the API.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use mmapi_core::Secret;
use rand::distr::{Alphanumeric, SampleString};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The label the callback signing key is derived with.
pub const SIGNING_KEY_LABEL: &str = "mmapi-gateway callback signing v1";

/// A random string of `len` letters and digits, from the operating system's generator.
pub fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// A fresh consumer key (the client id).
pub fn new_client_id() -> String {
    format!("ck_{}", random_token(24))
}

/// Whether a chosen consumer key is acceptable: 3 to 64 letters, digits, `_`, `-` or `.`.
pub fn is_valid_client_id(id: &str) -> bool {
    (3..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The argon2id hash (PHC string) of a consumer secret.
pub fn hash_secret(secret: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)?
        .to_string())
}

/// Whether `secret` matches a stored argon2 hash. A malformed hash matches nothing.
pub fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The SHA-256 digest (lowercase hex) of an API key or access token.
pub fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The callback signing key (lowercase hex) derived from a consumer secret.
pub fn signing_key(secret: &str) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), SIGNING_KEY_LABEL.as_bytes()))
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The credentials of a client, in the clear: shown once, when created or rotated.
#[derive(Clone, Debug)]
pub struct IssuedCredentials {
    /// The consumer key (the client id).
    pub consumer_key: String,
    /// The consumer secret.
    pub consumer_secret: Secret,
    /// The API key (`X-API-Key`).
    pub api_key: Secret,
}

impl IssuedCredentials {
    /// Fresh random credentials for `client_id`.
    pub fn generate(client_id: String) -> Self {
        Self {
            consumer_key: client_id,
            consumer_secret: Secret::new(random_token(40)),
            api_key: Secret::new(random_token(48)),
        }
    }

    /// The credentials as JSON, for showing them once (the CLI, the sandbox client file).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "consumerKey": self.consumer_key,
            "consumerSecret": self.consumer_secret.expose(),
            "apiKey": self.api_key.expose(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_against_its_hash_only() {
        let hash = hash_secret("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("s3cret"));
        assert!(verify_secret("s3cret", &hash));
        assert!(!verify_secret("s3cret ", &hash));
        assert!(!verify_secret("s3cret", "not a hash"));
        // The registry's stand-in for an unknown client is a hash argon2 accepts (so it takes as long).
        assert!(PasswordHash::new(
            "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        )
        .is_ok());
    }

    #[test]
    fn digests_and_signing_keys_are_stable() {
        // SHA-256("abc"), the FIPS 180-2 test vector.
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231 test case 2: key "Jefe".
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(signing_key("x"), signing_key("x"));
        assert_ne!(signing_key("x"), signing_key("y"));
    }

    #[test]
    fn generated_credentials_are_long_and_distinct() {
        let a = IssuedCredentials::generate(new_client_id());
        let b = IssuedCredentials::generate(new_client_id());
        assert!(a.consumer_key.starts_with("ck_") && a.consumer_key.len() == 27);
        assert_eq!(a.consumer_secret.expose().len(), 40);
        assert_ne!(a.consumer_secret, b.consumer_secret);
        assert_ne!(a.api_key, b.api_key);
        assert!(!format!("{a:?}").contains(a.consumer_secret.expose()));
    }
}

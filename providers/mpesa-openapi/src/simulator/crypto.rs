//! The simulator's RSA key pair and the decryption of bearers.
//!
//! Every OpenAPI bearer is `base64(RSA_PKCS1v1_5_encrypt(secret, public key))`, where the secret
//! is the API key (for `getSession/`) or the session id (for everything else). The padding is
//! random, so the simulator decrypts with its private key rather than comparing ciphertexts.
//! Generating a 4096-bit key takes seconds, so a simulator started without a key generates one
//! only when something first needs it.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use rsa::{
    pkcs1::DecodeRsaPrivateKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding},
    rand_core::OsRng,
    Pkcs1v15Encrypt, RsaPrivateKey,
};

use super::SimulatorError;

/// Key size of the portal's public keys.
pub(crate) const KEY_BITS: usize = 4096;
/// Decrypted bearers remembered (clients send the same session bearer many times).
const CACHE_LIMIT: usize = 4096;

/// The key pair and what is derived from it.
struct KeyMaterial {
    private: RsaPrivateKey,
    private_pem: String,
    public_base64: String,
}

impl KeyMaterial {
    fn new(private: RsaPrivateKey) -> Result<Self, String> {
        let private_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| format!("cannot encode the RSA key: {e}"))?
            .to_string();
        let public_der = private
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| format!("cannot encode the RSA public key: {e}"))?;
        Ok(Self {
            public_base64: STANDARD.encode(public_der.as_bytes()),
            private,
            private_pem,
        })
    }
}

/// The simulator's key, loaded or generated lazily, and a cache of decrypted bearers.
pub(crate) struct Keys {
    configured: Option<RsaPrivateKey>,
    material: OnceLock<KeyMaterial>,
    cache: Mutex<HashMap<String, Option<String>>>,
}

impl Keys {
    /// Parses `pem` (PKCS#8 or PKCS#1) now, so a bad key fails [`super::OpenApiSimulator::start`].
    pub(crate) fn new(pem: Option<&str>) -> Result<Self, SimulatorError> {
        let configured = pem
            .map(|pem| {
                RsaPrivateKey::from_pkcs8_pem(pem)
                    .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
                    .map_err(|e| {
                        SimulatorError::Config(format!(
                            "rsa_private_key_pem is not an RSA private key: {e}"
                        ))
                    })
            })
            .transpose()?;
        Ok(Self {
            configured,
            material: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn material(&self) -> &KeyMaterial {
        self.material.get_or_init(|| {
            let private = match &self.configured {
                Some(key) => key.clone(),
                None => RsaPrivateKey::new(&mut OsRng, KEY_BITS)
                    .expect("generating an RSA key with the OS RNG cannot fail"),
            };
            KeyMaterial::new(private).expect("a valid RSA key encodes")
        })
    }

    /// Base64 of the X.509 SubjectPublicKeyInfo DER, as the portal prints public keys.
    pub(crate) fn public_key_base64(&self) -> String {
        self.material().public_base64.clone()
    }

    /// The private key as PKCS#8 PEM.
    pub(crate) fn private_key_pem(&self) -> String {
        self.material().private_pem.clone()
    }

    /// Decrypts a bearer (base64; whitespace ignored) to its UTF-8 plaintext, or `None` when it
    /// is not base64, not encrypted with this key, or not text. Blocking (RSA); results are
    /// cached.
    pub(crate) fn decrypt(&self, bearer: &str) -> Option<String> {
        let compact: String = bearer.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some(hit) = self.cache.lock().expect("cache lock").get(&compact) {
            return hit.clone();
        }
        let plain = STANDARD
            .decode(&compact)
            .ok()
            .and_then(|ct| self.material().private.decrypt(Pkcs1v15Encrypt, &ct).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(compact, plain.clone());
        plain
    }
}

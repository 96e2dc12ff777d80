//! The initiator's `SecurityCredential`: an RSA-2048 key pair, the X.509 certificate that
//! integrators encrypt with, and the check of credentials sent to the simulator.
//!
//! Daraja's B2C, B2B, Transaction Status, Account Balance and Reversal APIs carry
//! `SecurityCredential = base64(RSA_PKCS1v1_5_encrypt(initiatorPassword, certificate key))`. The
//! padding is random, so the simulator cannot compare ciphertexts: it decrypts with its private
//! key. A bad credential is not refused synchronously; the request's result says
//! `2001 The initiator information is invalid.`
//!
//! Generating a 2048-bit key takes a while, so a simulator started without a key generates one
//! only when something first needs it (the certificate, or a credential to check).

use std::{
    collections::HashMap,
    str::FromStr,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, UNIX_EPOCH},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use rsa::{
    pkcs1::DecodeRsaPrivateKey,
    pkcs1v15::SigningKey,
    pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding},
    rand_core::OsRng,
    Pkcs1v15Encrypt, RsaPrivateKey,
};
use sha2::{Digest, Sha256};
use x509_cert::{
    builder::{Builder, CertificateBuilder, Profile},
    der::{Encode, EncodePem},
    name::Name,
    serial_number::SerialNumber,
    spki::SubjectPublicKeyInfoOwned,
    time::{Time, Validity},
};

use super::SimulatorError;

/// Key size of the initiator key, as Safaricom's certificates.
const KEY_BITS: usize = 2048;
/// Subject (and issuer) of the self-signed certificate.
const SUBJECT: &str = "CN=apicrypt.daraja-simulator.invalid,O=mmapi-gateway sandbox,C=KE";
/// Validity of the certificate: 2025-01-01T00:00:00Z to 2049-12-31T23:59:59Z, fixed so that the
/// certificate of a given key is always the same.
const NOT_BEFORE_UNIX: u64 = 1_735_689_600;
const NOT_AFTER_UNIX: u64 = 2_524_607_999;
/// Decrypted credentials remembered (clients usually send the same one many times).
const CACHE_LIMIT: usize = 4096;

/// The key pair and what is derived from it.
pub(crate) struct KeyMaterial {
    private: RsaPrivateKey,
    private_pem: String,
    certificate_pem: String,
}

impl KeyMaterial {
    /// Loads a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM.
    fn from_pem(pem: &str) -> Result<Self, String> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| format!("rsa_private_key_pem is not an RSA private key: {e}"))?;
        Self::new(private)
    }

    fn generate() -> Result<Self, String> {
        let private = RsaPrivateKey::new(&mut OsRng, KEY_BITS)
            .map_err(|e| format!("cannot generate an RSA key: {e}"))?;
        Self::new(private)
    }

    fn new(private: RsaPrivateKey) -> Result<Self, String> {
        let private_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| format!("cannot encode the RSA key: {e}"))?
            .to_string();
        let certificate_pem = self_signed_certificate(&private)?;
        Ok(Self {
            private,
            private_pem,
            certificate_pem,
        })
    }

    /// Whether `credential` (base64; whitespace such as line wrapping is ignored) decrypts
    /// to `password`.
    fn decrypts_to(&self, credential: &str, password: &str) -> bool {
        let compact: String = credential
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let Ok(ciphertext) = STANDARD.decode(compact) else {
            return false;
        };
        self.private
            .decrypt(Pkcs1v15Encrypt, &ciphertext)
            .is_ok_and(|plain| plain == password.as_bytes())
    }
}

/// A self-signed certificate (PEM) for `private`'s public key, signed with SHA-256/RSA.
/// Deterministic: the serial number is derived from the public key and the validity is fixed.
fn self_signed_certificate(private: &RsaPrivateKey) -> Result<String, String> {
    let err = |e: &dyn std::fmt::Display| format!("cannot build the simulator certificate: {e}");
    let public_der = private
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| err(&e))?;
    let spki = SubjectPublicKeyInfoOwned::try_from(public_der.as_bytes()).map_err(|e| err(&e))?;
    let mut serial = Sha256::digest(public_der.as_bytes())[..16].to_vec();
    serial[0] &= 0x7f; // positive
    serial[0] |= 0x40; // and of full length
    let serial = SerialNumber::new(&serial).map_err(|e| err(&e))?;
    let at = |secs| Time::try_from(UNIX_EPOCH + Duration::from_secs(secs)).map_err(|e| err(&e));
    let validity = Validity {
        not_before: at(NOT_BEFORE_UNIX)?,
        not_after: at(NOT_AFTER_UNIX)?,
    };
    let subject = Name::from_str(SUBJECT).map_err(|e| err(&e))?;
    let signer = SigningKey::<Sha256>::new(private.clone());
    let certificate =
        CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, &signer)
            .map_err(|e| err(&e))?
            .build::<rsa::pkcs1v15::Signature>()
            .map_err(|e| err(&e))?;
    // Round-trip through DER so that a broken encoding fails here, not in a client.
    certificate.to_der().map_err(|e| err(&e))?;
    certificate
        .to_pem(x509_cert::der::pem::LineEnding::LF)
        .map_err(|e| err(&e))
}

/// The configured initiator and its (possibly still generating) key material.
pub(crate) struct Initiator {
    name: String,
    password: String,
    keys: Arc<OnceLock<Result<KeyMaterial, String>>>,
    /// Credential → whether it was valid.
    cache: Mutex<HashMap<String, bool>>,
}

impl Initiator {
    /// An initiator whose key is loaded from `pem`, or generated (lazily) when `None`.
    pub(crate) fn new(
        name: &str,
        password: &str,
        pem: Option<&str>,
    ) -> Result<Self, SimulatorError> {
        if name.is_empty() || password.is_empty() {
            return Err(SimulatorError::Config(
                "initiator_name and initiator_password must be non-empty".into(),
            ));
        }
        let keys = Arc::new(OnceLock::new());
        if let Some(pem) = pem {
            let material = KeyMaterial::from_pem(pem).map_err(SimulatorError::Config)?;
            let _ = keys.set(Ok(material));
        }
        Ok(Self {
            name: name.to_owned(),
            password: password.to_owned(),
            keys,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The key material, generating it now if needed (blocking).
    fn keys(&self) -> Option<&KeyMaterial> {
        self.keys.get_or_init(generate).as_ref().ok()
    }

    /// The certificate (PEM); empty if no key could be made (logged).
    pub(crate) fn certificate_pem(&self) -> String {
        self.keys()
            .map(|k| k.certificate_pem.clone())
            .unwrap_or_default()
    }

    /// The private key (PKCS#8 PEM); empty if no key could be made (logged).
    pub(crate) fn private_key_pem(&self) -> String {
        self.keys()
            .map(|k| k.private_pem.clone())
            .unwrap_or_default()
    }

    /// A remembered verdict on `credential`, if any.
    fn cached(&self, credential: &str) -> Option<bool> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(credential).copied()
    }

    /// Whether `name` and `credential` identify the configured initiator. Blocking on a cache
    /// miss (RSA decryption): call it through [`Initiator::check`].
    fn check_blocking(&self, name: &str, credential: &str) -> bool {
        if name != self.name {
            return false;
        }
        if let Some(valid) = self.cached(credential) {
            return valid;
        }
        let valid = self
            .keys()
            .is_some_and(|k| k.decrypts_to(credential, &self.password));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(credential.to_owned(), valid);
        valid
    }

    /// Whether `name` and `credential` identify the configured initiator; decrypts off the
    /// async threads unless the verdict is cached.
    pub(crate) async fn check(self: &Arc<Self>, name: &str, credential: &str) -> bool {
        if name != self.name {
            return false;
        }
        if let Some(valid) = self.cached(credential) {
            return valid;
        }
        let this = Arc::clone(self);
        let (name, credential) = (name.to_owned(), credential.to_owned());
        tokio::task::spawn_blocking(move || this.check_blocking(&name, &credential))
            .await
            .unwrap_or(false)
    }
}

fn generate() -> Result<KeyMaterial, String> {
    let started = std::time::Instant::now();
    let result = KeyMaterial::generate();
    match &result {
        Ok(_) => {
            tracing::debug!(elapsed = ?started.elapsed(), "Daraja simulator generated its initiator key")
        }
        Err(e) => tracing::error!(error = %e, "Daraja simulator has no initiator key"),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::{pkcs8::DecodePublicKey, RsaPublicKey};
    use x509_cert::{der::DecodePem, Certificate};

    fn encrypt_with_certificate(pem: &str, password: &str) -> String {
        let cert = Certificate::from_pem(pem).expect("certificate parses");
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .expect("spki");
        let key = RsaPublicKey::from_public_key_der(&spki).expect("rsa key");
        let ct = key
            .encrypt(&mut OsRng, Pkcs1v15Encrypt, password.as_bytes())
            .expect("encrypts");
        STANDARD.encode(ct)
    }

    #[test]
    fn round_trip_and_persistence() {
        let initiator = Initiator::new("testapi", "Safaricom999!*!", None).expect("initiator");
        let cert = initiator.certificate_pem();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
        let good = encrypt_with_certificate(&cert, "Safaricom999!*!");
        assert_eq!(good.len(), 344);
        assert!(initiator.check_blocking("testapi", &good));
        assert!(!initiator.check_blocking("other", &good));
        // Line-wrapped base64 (as `openssl base64` writes it) is accepted.
        let wrapped = good
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(initiator.check_blocking("testapi", &wrapped));
        let bad = encrypt_with_certificate(&cert, "wrong");
        assert!(!initiator.check_blocking("testapi", &bad));
        assert!(!initiator.check_blocking("testapi", "not base64!"));
        assert!(!initiator.check_blocking("testapi", ""));

        // The same key gives the same certificate, and the old credential still works.
        let pem = initiator.private_key_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = Initiator::new("testapi", "Safaricom999!*!", Some(&pem)).expect("loads");
        assert_eq!(again.certificate_pem(), cert);
        assert!(again.check_blocking("testapi", &good));

        assert!(matches!(
            Initiator::new("testapi", "x", Some("garbage")),
            Err(SimulatorError::Config(_))
        ));
    }
}

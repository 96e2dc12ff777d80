//! The OpenAPI bearer: base64 of the API key (for `getSession`) or of the session ID (for every other call),
//! encrypted RSA PKCS#1 v1.5 with the market's public key.

use base64::Engine as _;
use mmapi_core::Secret;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};

/// Why a bearer could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The configured public key is not base64 of an RSA SubjectPublicKeyInfo.
    #[error("the OpenAPI public key is unusable: {0}")]
    PublicKey(String),
    /// Encryption failed (e.g. a plaintext longer than the key allows).
    #[error("cannot encrypt the bearer: {0}")]
    Encrypt(String),
}

/// Parses the public key: base64 of an X.509 SubjectPublicKeyInfo DER, as the portal prints it. PEM armour and
/// whitespace are tolerated.
pub fn public_key(configured: &str) -> Result<RsaPublicKey, CredentialError> {
    let text: String = configured
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map_err(|e| CredentialError::PublicKey(format!("not base64: {e}")))?;
    RsaPublicKey::from_public_key_der(&der).map_err(|e| CredentialError::PublicKey(e.to_string()))
}

/// The bearer for a secret (the API key or a session ID). Padding is random, so each call gives another value.
pub fn bearer(key: &RsaPublicKey, secret: &Secret) -> Result<Secret, CredentialError> {
    let cipher = key
        .encrypt(
            &mut rsa::rand_core::OsRng,
            Pkcs1v15Encrypt,
            secret.expose().as_bytes(),
        )
        .map_err(|e| CredentialError::Encrypt(e.to_string()))?;
    Ok(Secret::new(
        base64::engine::general_purpose::STANDARD.encode(cipher),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sandbox key printed in the portal documentation (§B.2).
    const PORTAL_SANDBOX_KEY: &str = "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEArv9yxA69XQKBo24BaF/D+fvlqmGdYjqLQ5WtNBb5tquqGvAvG3WMFETVUSow/LizQalxj2ElMVrUmzu5mGGkxK08bWEXF7a1DEvtVJs6nppIlFJc2SnrU14AOrIrB28ogm58JjAl5BOQawOXD5dfSk7MaAA82pVHoIqEu0FxA8BOKU+RGTihRU+ptw1j4bsAJYiPbSX6i71gfPvwHPYamM0bfI4CmlsUUR3KvCG24rB6FNPcRBhM3jDuv8ae2kC33w9hEq8qNB55uw51vK7hyXoAa+U7IqP1y6nBdlN25gkxEA8yrsl1678cspeXr+3ciRyqoRgj9RD/ONbJhhxFvt1cLBh+qwK2eqISfBb06eRnNeC71oBokDm3zyCnkOtMDGl7IvnMfZfEPFCfg5QgJVk1msPpRvQxmEsrX9MQRyFVzgy2CWNIb7c+jPapyrNwoUbANlN8adU1m6yOuoX7F49x+OjiG2se0EJ6nafeKUXw/+hiJZvELUYgzKUtMAZVTNZfT8jjb58j8GVtuS+6TM2AutbejaCV84ZK58E2CRJqhmjQibEUO6KPdD7oTlEkFy52Y1uOOBXgYpqMzufNPmfdqqqSM4dU70PO8ogyKGiLAIxCetMjjm6FCMEA3Kc8K0Ig7/XtFm9By6VxTJK1Mg36TlHaZKP6VzVLXMtesJECAwEAAQ==";

    #[test]
    fn a_4096_bit_key_gives_a_684_character_bearer() {
        let key = public_key(PORTAL_SANDBOX_KEY).unwrap();
        let b = bearer(&key, &Secret::new("6bc4157dbee34d409118e0978dc6dd17")).unwrap();
        assert_eq!(b.expose().len(), 684);
        assert_ne!(
            b,
            bearer(&key, &Secret::new("6bc4157dbee34d409118e0978dc6dd17")).unwrap()
        );
    }

    #[test]
    fn pem_armour_is_tolerated_and_garbage_refused() {
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &PORTAL_SANDBOX_KEY[..64],
            &PORTAL_SANDBOX_KEY[64..]
        );
        assert!(public_key(&pem).is_ok());
        assert!(public_key("not a key").is_err());
        assert!(public_key("AAAA").is_err());
    }

    #[test]
    fn the_private_key_recovers_the_secret() {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let der = rsa::pkcs8::EncodePublicKey::to_public_key_der(&private.to_public_key()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_bytes());
        let b = bearer(&public_key(&b64).unwrap(), &Secret::new("session-1")).unwrap();
        let cipher = base64::engine::general_purpose::STANDARD
            .decode(b.expose())
            .unwrap();
        assert_eq!(
            private.decrypt(Pkcs1v15Encrypt, &cipher).unwrap(),
            b"session-1"
        );
    }
}

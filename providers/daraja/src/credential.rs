//! Daraja's `SecurityCredential`: base64 of the initiator password encrypted (RSA PKCS#1 v1.5) with the public
//! key of Daraja's certificate.

use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

/// Why a credential could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The certificate is not a PEM X.509 certificate with an RSA key.
    #[error("the Daraja certificate is unusable: {0}")]
    Certificate(String),
    /// The certificate file could not be read.
    #[error("cannot read the Daraja certificate file: {0}")]
    Read(#[from] std::io::Error),
    /// Encryption failed (e.g. a password longer than the key allows).
    #[error("cannot encrypt the initiator password: {0}")]
    Encrypt(String),
}

/// The certificate's PEM text, from the configured value: PEM text itself, or the path of a PEM file.
pub fn certificate_pem(configured: &str) -> Result<String, CredentialError> {
    if configured.trim_start().starts_with("-----BEGIN") {
        Ok(configured.to_owned())
    } else {
        Ok(std::fs::read_to_string(configured)?)
    }
}

/// The RSA public key of a PEM certificate.
pub fn public_key(pem: &str) -> Result<RsaPublicKey, CredentialError> {
    let certificate = Certificate::from_pem(pem.as_bytes())
        .map_err(|e| CredentialError::Certificate(e.to_string()))?;
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| CredentialError::Certificate(e.to_string()))?;
    RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| CredentialError::Certificate(e.to_string()))
}

/// `SecurityCredential` for the initiator password.
pub fn security_credential(key: &RsaPublicKey, password: &str) -> Result<String, CredentialError> {
    let cipher = key
        .encrypt(
            &mut rsa::rand_core::OsRng,
            Pkcs1v15Encrypt,
            password.as_bytes(),
        )
        .map_err(|e| CredentialError::Encrypt(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(cipher))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_simulator_decrypts_what_the_adapter_encrypts() {
        let sim =
            crate::simulator::DarajaSimulator::start(crate::simulator::SimulatorConfig::default())
                .await
                .unwrap();
        let key = public_key(&sim.certificate_pem()).unwrap();
        let credential = security_credential(&key, "Safaricom999!*!").unwrap();
        assert_eq!(
            credential.len(),
            344,
            "2048-bit RSA: 256 bytes, 344 base64 characters"
        );
        let private = <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(
            &sim.private_key_pem(),
        )
        .or_else(|_| {
            <rsa::RsaPrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(
                &sim.private_key_pem(),
            )
        })
        .unwrap();
        let cipher = base64::engine::general_purpose::STANDARD
            .decode(&credential)
            .unwrap();
        let plain = private.decrypt(Pkcs1v15Encrypt, &cipher).unwrap();
        assert_eq!(plain, b"Safaricom999!*!");
        assert!(
            public_key("-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}

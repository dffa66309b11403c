//! Key types, key generation, and private keys in and out as PKCS#8 PEM.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rcgen::{KeyPair, PublicKeyData, RsaKeySize, SignatureAlgorithm};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The key types minica generates. ECDSA P-256 is the default: every TLS
/// stack in use accepts it, and it is fast to make and to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum KeyType {
    #[default]
    #[serde(rename = "ecdsa-p256")]
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    #[value(name = "ecdsa-p384")]
    EcdsaP384,
    Ed25519,
    #[serde(rename = "rsa-2048")]
    #[value(name = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    #[value(name = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    #[value(name = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    pub const ALL: [KeyType; 6] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// Generates a new key of this type.
    pub fn generate(self) -> Result<KeyPair> {
        let alg = self.signature_algorithm();
        let size = match self {
            KeyType::Rsa2048 => RsaKeySize::_2048,
            KeyType::Rsa3072 => RsaKeySize::_3072,
            KeyType::Rsa4096 => RsaKeySize::_4096,
            // From the OS CSPRNG, not aws-lc's (src/rng.rs says why).
            _ => {
                let pkcs8 = crate::rng::generate_pkcs8(alg)
                    .ok_or_else(|| Error::Crypto(format!("cannot make a {self} key")))?;
                let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8);
                return Ok(KeyPair::try_from(&der)?);
            }
        };
        Ok(KeyPair::generate_rsa_for(alg, size)?)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<_> = KeyType::ALL.iter().map(|k| k.as_str()).collect();
                Error::usage(format!(
                    "unknown key type {s:?}; choose one of {}",
                    all.join(", ")
                ))
            })
    }
}

/// Whether a loaded key is RSA (for the keyEncipherment rule).
pub fn is_rsa(key: &impl PublicKeyData) -> bool {
    key.algorithm() == &rcgen::PKCS_RSA_SHA256
        || key.algorithm() == &rcgen::PKCS_RSA_SHA384
        || key.algorithm() == &rcgen::PKCS_RSA_SHA512
}

/// An Ed25519 PKCS#8 key after its outer SEQUENCE header: version, the
/// algorithm identifier (1.3.101.112) and the 32-byte seed's header. aws-lc
/// writes version 1 (RFC 5958 "v2", with the public key appended), which
/// OpenSSL before 3.5 cannot read; version 0 (RFC 8410) without the public
/// key is read by everything.
const ED25519_PKCS8_BODY_PREFIX: [u8; 14] = [
    0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The key as PKCS#8 DER, in the form the widest range of software reads.
pub fn pkcs8_der(key: &KeyPair) -> Vec<u8> {
    let der = key.serialize_der();
    if key.algorithm() == &rcgen::PKCS_ED25519
        && der.len() >= 48
        && der[0] == 0x30
        && der[2..16] == ED25519_PKCS8_BODY_PREFIX
    {
        let mut v1 = Vec::with_capacity(48);
        v1.extend_from_slice(&ED25519_PKCS8_V1_PREFIX);
        v1.extend_from_slice(&der[16..48]);
        return v1;
    }
    der
}

/// The key as a "PRIVATE KEY" PEM block with LF line endings.
pub fn pkcs8_pem(key: &KeyPair) -> String {
    pem_encode("PRIVATE KEY", pkcs8_der(key))
}

/// PEM with LF line endings (the `pem` crate defaults to CRLF).
pub fn pem_encode(tag: &str, der: Vec<u8>) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Reads a private key from PEM (PKCS#8, SEC1 or PKCS#1), naming the file on error.
pub fn load_pem(path: &Path, bytes: &[u8]) -> Result<KeyPair> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let text = std::str::from_utf8(bytes).ok();
    if text.is_some_and(|t| t.contains("ENCRYPTED PRIVATE KEY")) {
        return Err(Error::bad_file_fix(
            path,
            "the private key is encrypted",
            "decrypt it first (`openssl pkey -in KEY -out PLAIN`)",
        ));
    }
    let der = PrivateKeyDer::from_pem_slice(bytes).map_err(|_| {
        Error::bad_file_fix(
            path,
            "no private key found",
            "expected a PEM \"PRIVATE KEY\" block",
        )
    })?;
    KeyPair::try_from(&der).map_err(|_| unsupported_key(path))
}

/// Reads a private key from PKCS#8 DER (out of a keystore, or decrypted).
pub fn from_pkcs8_der(path: &Path, der: &[u8]) -> Result<KeyPair> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der.to_vec());
    KeyPair::try_from(&der).map_err(|_| unsupported_key(path))
}

fn unsupported_key(path: &Path) -> Error {
    Error::bad_file(
        path,
        "unsupported or corrupt private key (minica reads ECDSA P-256/P-384, Ed25519 and RSA keys)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_is_written_as_pkcs8_v1_and_reads_back() {
        let key = KeyType::Ed25519.generate().unwrap();
        let der = pkcs8_der(&key);
        assert_eq!(der.len(), 48);
        assert_eq!(der[..16], ED25519_PKCS8_V1_PREFIX);
        let pem = pkcs8_pem(&key);
        let back = load_pem(Path::new("k"), pem.as_bytes()).unwrap();
        assert_eq!(back.public_key_raw(), key.public_key_raw());
    }

    #[test]
    fn pem_uses_lf_only() {
        let key = KeyType::EcdsaP256.generate().unwrap();
        let pem = pkcs8_pem(&key);
        assert!(!pem.contains('\r'));
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    }

    #[test]
    fn key_type_names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().unwrap(), k);
        }
        assert!("rsa-1024".parse::<KeyType>().is_err());
    }

    #[test]
    fn garbage_key_is_a_bad_file_error() {
        let err = load_pem(Path::new("/x/key.pem"), b"hello").unwrap_err();
        assert!(err.to_string().contains("/x/key.pem"), "{err}");
    }
}

//! The CA key at rest, optionally encrypted: PKCS#8 PBES2 with scrypt
//! (N = 2^14, r = 8, p = 1: the pkcs5 crate's recommended setting) and AES-256-CBC, through the RustCrypto
//! pkcs8 crate. OpenSSL reads it (`openssl pkey -in ca-key.pem`).

use std::path::Path;

use pkcs8::der::Decode;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::password::{Purpose, Secret, Source};

/// The variable read for the CA passphrase when no file is named.
pub const CA_PASSWORD_ENV: &str = "MINICA_CA_PASSWORD";

/// How to get the CA key's passphrase, asked for only when needed.
#[derive(Debug, Clone, Default)]
pub struct Unlock {
    pub source: Source,
}

impl Unlock {
    pub fn passphrase(&self, confirm: bool) -> Result<Secret> {
        self.source.get(&Purpose {
            what: "CA passphrase",
            default_env: CA_PASSWORD_ENV,
            confirm,
        })
    }
}

pub fn is_encrypted(pem: &[u8]) -> bool {
    crate::certs::pem_kind(pem).as_deref() == Some("ENCRYPTED PRIVATE KEY")
}

/// Encrypts a PKCS#8 key into an "ENCRYPTED PRIVATE KEY" PEM.
pub fn encrypt(pkcs8_der: &[u8], passphrase: &str) -> Result<Zeroizing<String>> {
    let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8_der)
        .map_err(|e| Error::Crypto(format!("cannot encode the CA key: {e}")))?;
    let doc = info
        .encrypt(passphrase.as_bytes())
        .map_err(|e| Error::Crypto(format!("cannot encrypt the CA key: {e}")))?;
    Ok(Zeroizing::new(crate::keys::pem_encode(
        "ENCRYPTED PRIVATE KEY",
        doc.as_bytes().to_vec(),
    )))
}

/// Decrypts an "ENCRYPTED PRIVATE KEY" PEM read from `path` into PKCS#8 DER.
pub fn decrypt(path: &Path, pem_bytes: &[u8], passphrase: &str) -> Result<Zeroizing<Vec<u8>>> {
    let block = pem::parse(pem_bytes)
        .map_err(|_| Error::bad_file(path, "is not valid PEM (truncated or corrupt)"))?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(block.contents())
        .map_err(|_| Error::bad_file(path, "the encrypted CA key is corrupt"))?;
    let doc = info.decrypt(passphrase.as_bytes()).map_err(|_| {
        Error::bad_file_fix(
            path,
            "wrong passphrase for the encrypted CA key",
            format!("give the passphrase it was encrypted with (--ca-password-file FILE or {CA_PASSWORD_ENV})"),
        )
    })?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let key = crate::keys::KeyType::EcdsaP256.generate().unwrap();
        let der = crate::keys::pkcs8_der(&key);
        let pem = encrypt(&der, "correct horse").unwrap();
        assert!(is_encrypted(pem.as_bytes()));
        let back = decrypt(Path::new("k"), pem.as_bytes(), "correct horse").unwrap();
        assert_eq!(back.as_slice(), der.as_slice());
        let e = decrypt(Path::new("/ca/ca-key.pem"), pem.as_bytes(), "wrong").unwrap_err();
        assert!(
            e.to_string().contains("wrong passphrase") && e.to_string().contains("/ca/ca-key.pem"),
            "{e}"
        );
    }
}

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

/// How to get the CA key's passphrase, or the PIN of the token that holds
/// it, asked for only when needed.
#[derive(Debug, Clone, Default)]
pub struct Unlock {
    pub source: Source,
    /// The PKCS#11 user PIN (default: MINICA_PKCS11_PIN, else a prompt).
    pub pin: Source,
}

/// A CA's signing key: in memory (read from its PEM file), or in a PKCS#11
/// token. Both sign through rcgen's `SigningKey`, so an `Issuer` holds
/// either and the code that signs does not know which.
pub enum CaKey {
    /// Read and signed by ring, not aws-lc, when ring reads it (src/rng.rs).
    File(crate::rng::FileKey),
    Token(Box<crate::pkcs11::TokenKey>),
}

impl CaKey {
    /// The error for a failed signature: a token's own reason when the
    /// token failed (rcgen only knows "remote key error").
    pub fn signing_failed(&self, e: rcgen::Error) -> Error {
        match self {
            CaKey::Token(k) => match k.failure() {
                Some(why) => Error::Crypto(why),
                None => e.into(),
            },
            CaKey::File(_) => e.into(),
        }
    }
}

impl rcgen::PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaKey::File(k) => k.der_bytes(),
            CaKey::Token(k) => k.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            CaKey::File(k) => k.algorithm(),
            CaKey::Token(k) => k.algorithm(),
        }
    }
}

impl rcgen::SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::File(k) => k.sign(msg),
            CaKey::Token(k) => k.sign(msg),
        }
    }
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

/// The most memory scrypt may use to unlock a CA key: 128·r·N bytes.
/// minica writes N = 2^14, r = 8 (16 MiB); OpenSSL's `pkcs8 -scrypt`
/// writes the same. A file asking for more than this is refused before any
/// derivation, instead of aborting on a failed 2^50-byte allocation.
pub const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// The most scrypt work (N·r·p) accepted: 16 times minica's own setting.
pub const MAX_SCRYPT_WORK: u64 = 16 << 17;
/// The most PBKDF2 iterations accepted (minica's scrypt aside, OpenSSL
/// writes 2048 and Java 10,000; a million is still well under a second).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Checks an encrypted key's KDF parameters against the bounds above, so
/// a hostile or corrupt key file costs a clear error, not gigabytes or hours.
pub fn check_kdf(path: &Path, scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<()> {
    use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
    let refuse = |what: String| {
        Error::bad_file_fix(
            path,
            format!(
                "the encrypted CA key asks for {what}, beyond what minica will spend to unlock it"
            ),
            "re-encrypt the key with ordinary settings (`minica ca decrypt` then `minica ca encrypt` on a trusted copy)",
        )
    };
    let EncryptionScheme::Pbes2(params) = scheme else {
        // PBES1 has a 16-bit iteration count: bounded by its encoding.
        return Ok(());
    };
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => Err(refuse(format!(
            "{} PBKDF2 iterations (at most {MAX_PBKDF2_ITERATIONS})",
            p.iteration_count
        ))),
        Kdf::Scrypt(s) => {
            let (n, r, p) = (
                s.cost_parameter,
                u64::from(s.block_size),
                u64::from(s.parallelization),
            );
            let memory = n.checked_mul(128).and_then(|m| m.checked_mul(r));
            let work = n.checked_mul(r).and_then(|w| w.checked_mul(p));
            if memory.is_none_or(|m| m > MAX_SCRYPT_MEMORY)
                || work.is_none_or(|w| w > MAX_SCRYPT_WORK)
            {
                return Err(refuse(format!(
                    "scrypt with N={n}, r={r}, p={p} (at most {} MiB of memory and N·r·p ≤ {MAX_SCRYPT_WORK})",
                    MAX_SCRYPT_MEMORY >> 20
                )));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Decrypts an "ENCRYPTED PRIVATE KEY" PEM read from `path` into PKCS#8 DER.
/// The KDF parameters are bounded before anything is derived.
pub fn decrypt(path: &Path, pem_bytes: &[u8], passphrase: &str) -> Result<Zeroizing<Vec<u8>>> {
    let block = pem::parse(pem_bytes)
        .map_err(|_| Error::bad_file(path, "is not valid PEM (truncated or corrupt)"))?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(block.contents())
        .map_err(|_| Error::bad_file(path, "the encrypted CA key is corrupt"))?;
    check_kdf(path, &info.encryption_algorithm)?;
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

    /// A key whose scrypt N is 2^50 is refused before any derivation (the
    /// old code tried to allocate 128 PiB and aborted).
    #[test]
    fn huge_scrypt_parameters_are_refused_before_deriving() {
        use pkcs8::der::Encode;
        use pkcs8::pkcs5::{EncryptionScheme, pbes2::Kdf};
        let key = crate::keys::KeyType::EcdsaP256.generate().unwrap();
        let pem = encrypt(&crate::keys::pkcs8_der(&key), "pw").unwrap();
        let block = pem::parse(pem.as_bytes()).unwrap();
        let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(block.contents()).unwrap();
        for (n, r, p) in [
            (1u64 << 50, 8u16, 1u16),
            (1 << 14, 8, 60_000),
            (1 << 21, 8, 1),
        ] {
            let mut scheme = info.encryption_algorithm.clone();
            let EncryptionScheme::Pbes2(params) = &mut scheme else {
                panic!("minica writes PBES2")
            };
            let Kdf::Scrypt(s) = &mut params.kdf else {
                panic!("minica writes scrypt")
            };
            s.cost_parameter = n;
            s.block_size = r;
            s.parallelization = p;
            let forged = pkcs8::EncryptedPrivateKeyInfoRef {
                encryption_algorithm: scheme,
                encrypted_data: info.encrypted_data,
            };
            let der = forged.to_der().unwrap();
            let pem = crate::keys::pem_encode("ENCRYPTED PRIVATE KEY", der);
            let start = std::time::Instant::now();
            let e = decrypt(Path::new("/ca/ca-key.pem"), pem.as_bytes(), "pw").unwrap_err();
            assert!(start.elapsed().as_secs() < 2);
            let msg = e.to_string();
            assert!(
                msg.contains("scrypt") && msg.contains("/ca/ca-key.pem"),
                "{msg}"
            );
            assert_eq!(e.exit_code(), crate::error::exit::BAD_INPUT);
        }
    }
}

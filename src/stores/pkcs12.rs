//! PKCS#12 through the p12-keystore crate. Default protection is what Java 17
//! and OpenSSL 3 write (PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC, HMAC-SHA256
//! MAC), so OpenSSL 3 needs no `-legacy`; `--compat` gives 3DES + SHA-1 MAC.
//! Trusted certificates carry Java's trusted-key-usage attribute (OID
//! 2.16.840.1.113894.746875.1.1): without it Java sees an empty truststore.

use std::path::Path;

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, Pkcs12Archive,
    PrivateKey, PrivateKeyChain,
};
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

use super::{Contents, KeyEntry, Pkcs12Options, TrustedEntry};
use crate::error::{Error, Result};

fn p12_cert(der: &[u8]) -> Result<Certificate> {
    Certificate::from_der(der)
        .map_err(|e| Error::Crypto(format!("cannot store a certificate: {e}")))
}

fn encode(ks: &KeyStore, password: &str, opts: Pkcs12Options) -> Result<Vec<u8>> {
    let (enc, mac) = if opts.compat {
        (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        )
    } else {
        (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        )
    };
    ks.writer(password)
        .encryption_algorithm(enc)
        .encryption_iterations(opts.iterations)
        .mac_algorithm(mac)
        .mac_iterations(opts.iterations)
        .write()
        .map_err(|e| Error::Crypto(format!("cannot write the PKCS#12 file: {e}")))
}

pub fn write_keystore(
    entry: &KeyEntry,
    password: &str,
    opts: Pkcs12Options,
) -> Result<Zeroizing<Vec<u8>>> {
    let key = PrivateKey::from_der(&entry.key_pkcs8)
        .map_err(|e| Error::Crypto(format!("cannot store the private key: {e}")))?;
    let leaf = entry
        .chain
        .first()
        .ok_or_else(|| Error::usage("a keystore needs at least the certificate"))?;
    // OpenSSL's convention for the localKeyId: the SHA-1 of the certificate.
    let key_id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf);
    let chain = entry
        .chain
        .iter()
        .map(|c| p12_cert(c))
        .collect::<Result<Vec<_>>>()?;
    let mut ks = KeyStore::new();
    ks.add_entry(
        &entry.alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key_id.as_ref(), key, chain)),
    );
    encode(&ks, password, opts).map(Zeroizing::new)
}

pub fn write_truststore(
    entries: &[TrustedEntry],
    password: &str,
    opts: Pkcs12Options,
) -> Result<Vec<u8>> {
    let mut ks = KeyStore::new();
    for e in entries {
        ks.add_entry(&e.alias, KeyStoreEntry::Certificate(p12_cert(&e.cert)?));
    }
    encode(&ks, password, opts)
}

pub fn read(path: &Path, bytes: &[u8], password: &str) -> Result<Contents> {
    let archive = Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => Error::bad_file_fix(
            path,
            "wrong password (the PKCS#12 integrity check failed)",
            "give the password the store was written with",
        ),
        p12_keystore::error::Error::Pkcs5Error(_) | p12_keystore::error::Error::UnpadError => {
            Error::bad_file_fix(path, "wrong password (the contents do not decrypt)", "give the password the store was written with")
        }
        p12_keystore::error::Error::UnsupportedEncryptionScheme
        | p12_keystore::error::Error::UnsupportedMacAlgorithm => Error::bad_file(
            path,
            "uses a PKCS#12 encryption minica cannot read (RC2-40? re-export it with `openssl pkcs12 -legacy`)",
        ),
        _ => Error::bad_file(path, "is not a valid PKCS#12 file (truncated or corrupt)"),
    })?;
    let mut out = Contents::default();
    let mut used = vec![false; archive.certs.len()];
    for key in &archive.keys {
        let alias = key.friendly_name.clone().unwrap_or_default();
        let mut chain = Vec::new();
        if let Some(id) = &key.local_key_id
            && let Some(i) = archive
                .certs
                .iter()
                .position(|c| c.local_key_id.as_deref() == Some(id.as_ref()))
        {
            used[i] = true;
            chain.push(CertificateDer::from(
                archive.certs[i].cert.as_der().to_vec(),
            ));
            // Follow issuers among the untrusted bags, as Java does.
            let mut issuer = archive.certs[i].cert.issuer().to_string();
            while let Some(j) = archive
                .certs
                .iter()
                .enumerate()
                .position(|(j, c)| !used[j] && !c.trusted && c.cert.subject() == issuer)
            {
                used[j] = true;
                chain.push(CertificateDer::from(
                    archive.certs[j].cert.as_der().to_vec(),
                ));
                if archive.certs[j].cert.subject() == archive.certs[j].cert.issuer() {
                    break;
                }
                issuer = archive.certs[j].cert.issuer().to_string();
            }
        }
        out.key_pkcs8
            .push(Zeroizing::new(key.key.as_der().to_vec()));
        out.keys.push((alias, chain));
    }
    for (i, c) in archive.certs.iter().enumerate() {
        if used[i] {
            continue;
        }
        let der = CertificateDer::from(c.cert.as_der().to_vec());
        if c.trusted {
            out.trusted.push(TrustedEntry {
                alias: c.friendly_name.clone().unwrap_or_default(),
                cert: der,
            });
        } else {
            out.untrusted.push(der);
        }
    }
    Ok(out)
}

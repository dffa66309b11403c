//! Keystores (a party's own key and chain) and truststores (only the CA
//! certificates it trusts), in the formats Java, OpenSSL and curl read.

pub mod edit;
pub mod jks;
pub mod manage;
pub mod p12edit;
pub mod pbe;
pub mod pkcs12;

use std::path::Path;

use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// PKCS#12: Java 9+, OpenSSL, curl, browsers, macOS
    #[default]
    P12,
    /// Java KeyStore: the older Java format (Java 8 default)
    Jks,
    /// PEM: the key followed by the chain, or a bundle of CA certificates
    Pem,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::P12 => "p12",
            Format::Jks => "jks",
            Format::Pem => "pem",
        }
    }

    /// Tells a store's format from its first bytes.
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(&jks::MAGIC.to_be_bytes()) {
            Some(Format::Jks)
        } else if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            Some(Format::Pem)
        } else if bytes.first() == Some(&0x30) {
            Some(Format::P12)
        } else {
            None
        }
    }
}

/// How a PKCS#12 file is protected, named by what reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum P12Profile {
    /// PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), HMAC-SHA256 MAC: OpenSSL 3
    /// without -legacy, Java 8u301+/11.0.12+/17, macOS 10.15+, iOS 13+
    #[default]
    Modern,
    /// 3DES keys and certificates, HMAC-SHA1 MAC: Java 8 before 8u301,
    /// OpenSSL 1.1, macOS Keychain and iOS of any age (was --compat)
    #[value(name = "legacy-3des")]
    #[serde(rename = "legacy-3des")]
    Legacy3des,
    /// RC2-40 certificates, a 3DES key, HMAC-SHA1 MAC: macOS before 10.15,
    /// Android before 12, Windows Server 2016 (OpenSSL 3 needs -legacy)
    LegacyRc2,
    /// No password, no MAC, nothing encrypted; truststores only: what Java
    /// 18+ ships as cacerts and trust-manager writes
    Passwordless,
}

impl P12Profile {
    pub fn describe(self) -> &'static str {
        match self {
            P12Profile::Modern => "PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256, HMAC-SHA256 MAC",
            P12Profile::Legacy3des => "3DES (PBE-SHA1-3DES), HMAC-SHA1 MAC",
            P12Profile::LegacyRc2 => {
                "RC2-40 certificates (PBE-SHA1-RC2-40), 3DES key, HMAC-SHA1 MAC"
            }
            P12Profile::Passwordless => "none: no password, no MAC, no encryption",
        }
    }
}

/// How a PKCS#12 file is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pkcs12Options {
    pub profile: P12Profile,
    /// PBKDF2 / PKCS#12 KDF iterations.
    pub iterations: u32,
}

/// Java 17's default for PKCS#12 (keystore.pkcs12.*IterationCount).
pub const DEFAULT_ITERATIONS: u32 = 10_000;

/// The most PBKDF2 / PKCS#12-KDF iterations minica writes, and reads in
/// any one step of a PKCS#12 file: one constant for both, so minica never
/// writes a file it then calls corrupt. It is p12-keystore's own reading
/// limit (MAX_KDF_ITERATIONS and MAX_MAC_ITERATIONS in its codec.rs), and
/// 100 times Java's default.
pub const MAX_ITERATIONS: u32 = 1_000_000;

impl Pkcs12Options {
    /// Refuses iteration counts minica could not read back.
    pub fn check(&self) -> Result<()> {
        if self.iterations == 0 || self.iterations > MAX_ITERATIONS {
            return Err(Error::usage(format!(
                "--iterations {} is outside 1..={MAX_ITERATIONS}: a PKCS#12 file needs at least one iteration, and minica (like other readers) refuses more than {MAX_ITERATIONS}",
                self.iterations
            )));
        }
        Ok(())
    }
}

impl Default for Pkcs12Options {
    fn default() -> Self {
        Pkcs12Options {
            profile: P12Profile::Modern,
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

/// A private key (PKCS#8 DER) and its chain, leaf first.
pub struct KeyEntry {
    pub alias: String,
    pub key_pkcs8: Zeroizing<Vec<u8>>,
    pub chain: Vec<CertificateDer<'static>>,
}

/// A certificate trusted as an anchor.
#[derive(Debug, Clone)]
pub struct TrustedEntry {
    pub alias: String,
    pub cert: CertificateDer<'static>,
}

/// Java folds aliases to lower case: "MyRoot" and "myroot" would collapse
/// into one entry. Aliases are written lower-case, with spaces and other
/// separators as '-', so what minica reports is what keytool shows.
pub fn alias_for(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches(['-', '.']).to_string();
    if out.is_empty() { "entry".into() } else { out }
}

/// Makes aliases unique by suffixing -2, -3... in one hashed pass: each
/// base alias remembers the next suffix to try, so 6,000 certificates of
/// one name cost 6,000 steps, not 6,000³.
pub fn dedupe_aliases(entries: &mut [TrustedEntry]) {
    use std::collections::{HashMap, HashSet};
    let mut seen: HashSet<String> = HashSet::with_capacity(entries.len());
    let mut next: HashMap<String, usize> = HashMap::new();
    for e in entries.iter_mut() {
        if seen.insert(e.alias.clone()) {
            continue;
        }
        let base = std::mem::take(&mut e.alias);
        let n = next.entry(base.clone()).or_insert(2);
        loop {
            let candidate = format!("{base}-{n}");
            *n += 1;
            if seen.insert(candidate.clone()) {
                e.alias = candidate;
                break;
            }
        }
    }
}

/// Encodes a keystore. `password` is required for p12 and jks.
pub fn write_keystore(
    format: Format,
    entry: &KeyEntry,
    password: Option<&str>,
    opts: Pkcs12Options,
) -> Result<Zeroizing<Vec<u8>>> {
    match format {
        Format::P12 => pkcs12::write_keystore(entry, need(password)?, opts),
        Format::Jks => jks::write(std::slice::from_ref(entry), &[], need(password)?),
        Format::Pem => {
            let mut pem = crate::keys::pem_encode("PRIVATE KEY", entry.key_pkcs8.to_vec());
            for c in &entry.chain {
                pem.push_str(&crate::keys::pem_encode("CERTIFICATE", c.to_vec()));
            }
            Ok(Zeroizing::new(pem.into_bytes()))
        }
    }
}

/// Encodes a truststore: trusted certificates only, no keys.
pub fn write_truststore(
    format: Format,
    entries: &[TrustedEntry],
    password: Option<&str>,
    opts: Pkcs12Options,
) -> Result<Vec<u8>> {
    match format {
        Format::P12 => pkcs12::write_truststore(entries, need(password)?, opts),
        Format::Jks => Ok(jks::write(&[], entries, need(password)?)?.to_vec()),
        Format::Pem => Ok(entries
            .iter()
            .map(|e| crate::keys::pem_encode("CERTIFICATE", e.cert.to_vec()))
            .collect::<String>()
            .into_bytes()),
    }
}

pub(crate) fn need(password: Option<&str>) -> Result<&str> {
    password.ok_or_else(|| Error::usage("this store format needs a password"))
}

/// What a store holds, as read back.
#[derive(Debug, Default)]
pub struct Contents {
    pub keys: Vec<(String, Vec<CertificateDer<'static>>)>,
    pub key_pkcs8: Vec<Zeroizing<Vec<u8>>>,
    pub trusted: Vec<TrustedEntry>,
    /// PKCS#12 certificates that are neither a key's chain nor marked
    /// trusted: Java ignores them (an `openssl pkcs12 -export -nokeys` file).
    pub untrusted: Vec<CertificateDer<'static>>,
}

/// Reads a PKCS#12, JKS or PEM store. A wrong password is one sentence.
pub fn read(path: &Path, bytes: &[u8], password: Option<&str>) -> Result<Contents> {
    match Format::detect(bytes) {
        Some(Format::Jks) => jks::read(path, bytes, need(password)?),
        Some(Format::P12) => pkcs12::read(path, bytes, need(password)?),
        Some(Format::Pem) => {
            let certs = crate::certs::parse(path, bytes)?;
            Ok(Contents {
                trusted: certs
                    .into_iter()
                    .map(|c| TrustedEntry {
                        alias: crate::certs::display_name(&c)
                            .map(|n| alias_for(&n))
                            .unwrap_or_default(),
                        cert: c,
                    })
                    .collect(),
                ..Contents::default()
            })
        }
        None => Err(Error::bad_file(
            path,
            "is not a keystore (expected PKCS#12, JKS or PEM)",
        )),
    }
}

/// Builds a key entry from files: the certificate (its first certificate is
/// the leaf), optional further chain certificates and root, and the key,
/// which must belong to the leaf. Duplicates in the chain are dropped.
pub fn key_entry_from_files(
    alias: &str,
    cert: &Path,
    key: &Path,
    extra: &[&Path],
) -> Result<KeyEntry> {
    let mut chain = crate::certs::read(cert)?;
    for p in extra {
        for c in crate::certs::read(p)? {
            if !chain.contains(&c) {
                chain.push(c);
            }
        }
    }
    let key_bytes = Zeroizing::new(crate::fsx::read(key)?);
    let pair = crate::keys::load_pem(key, &key_bytes)?;
    let (_, leaf) = <x509_parser::certificate::X509Certificate as x509_parser::prelude::FromDer<
        x509_parser::error::X509Error,
    >>::from_der(&chain[0])
    .map_err(|_| Error::bad_file(cert, "the certificate is corrupt"))?;
    use rcgen::PublicKeyData;
    if pair.subject_public_key_info() != leaf.public_key().raw {
        return Err(Error::bad_file_fix(
            key,
            format!(
                "this key does not belong to the certificate {}",
                cert.display()
            ),
            "give the key the certificate was issued for",
        ));
    }
    Ok(KeyEntry {
        alias: alias_for(alias),
        key_pkcs8: Zeroizing::new(crate::keys::pkcs8_der(&pair)),
        chain,
    })
}

/// The trusted entries of a truststore: each certificate of each file,
/// aliased by its name (lower-case, made unique), identical ones once.
pub fn trusted_from_files(files: &[&Path]) -> Result<Vec<TrustedEntry>> {
    let mut out: Vec<TrustedEntry> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for f in files {
        for cert in crate::certs::read(f)? {
            if !seen.insert(cert.clone()) {
                continue;
            }
            let alias = crate::certs::display_name(&cert)
                .map(|n| alias_for(&n))
                .unwrap_or_else(|| "ca".into());
            out.push(TrustedEntry { alias, cert });
        }
    }
    dedupe_aliases(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_lower_case_and_unique() {
        assert_eq!(alias_for("My Root CA"), "my-root-ca");
        assert_eq!(alias_for("*.Example.test"), "example.test");
        let c = CertificateDer::from(vec![]);
        let mut e = vec![
            TrustedEntry {
                alias: "a".into(),
                cert: c.clone(),
            },
            TrustedEntry {
                alias: "a".into(),
                cert: c.clone(),
            },
            TrustedEntry {
                alias: "a".into(),
                cert: c,
            },
        ];
        dedupe_aliases(&mut e);
        let got: Vec<_> = e.iter().map(|e| e.alias.as_str()).collect();
        assert_eq!(got, ["a", "a-2", "a-3"]);
    }

    #[test]
    fn dedupe_is_linear_and_unique() {
        let c = CertificateDer::from(vec![]);
        let mut e: Vec<TrustedEntry> = ["a-2", "a", "a", "a", "b"]
            .iter()
            .map(|a| TrustedEntry {
                alias: a.to_string(),
                cert: c.clone(),
            })
            .collect();
        dedupe_aliases(&mut e);
        let got: Vec<_> = e.iter().map(|e| e.alias.as_str()).collect();
        assert_eq!(got, ["a-2", "a", "a-3", "a-4", "b"]);
        let mut many: Vec<TrustedEntry> = (0..20_000)
            .map(|_| TrustedEntry {
                alias: "same".into(),
                cert: c.clone(),
            })
            .collect();
        let start = std::time::Instant::now();
        dedupe_aliases(&mut many);
        assert!(start.elapsed().as_secs() < 2, "{:?}", start.elapsed());
        let unique: std::collections::HashSet<_> = many.iter().map(|e| &e.alias).collect();
        assert_eq!(unique.len(), 20_000);
    }
}

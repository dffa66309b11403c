//! `minica store`: keystores and truststores that already exist, whoever
//! wrote them (keytool, OpenSSL, NSS, trust-manager, minica).
//!
//! Edits (`add`, `remove`) work on the file's own bytes ([`EditableStore`]):
//! every other entry keeps its alias, attributes and protection. Whole
//! rewrites (`convert`, `passwd`, `merge`) read every entry and write a new
//! store. Either way the new bytes are read back before they replace the
//! old file in one rename, and a refusal changes nothing.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use zeroize::Zeroizing;

use super::edit::EditableStore;
use super::p12edit::{BagKind, Pkcs12File};
use super::{Contents, Format, KeyEntry, Pkcs12Options, TrustedEntry};
use crate::error::{Error, Result};
use crate::{certs, fsx, txn, x509};

/// One entry, as `store list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub alias: String,
    /// "key" (a private key and its chain), "trusted" (a trust anchor), or
    /// "certificate" (a PKCS#12 certificate Java ignores: no key, and not
    /// marked trusted).
    pub kind: &'static str,
    pub subject: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: time::OffsetDateTime,
    /// SHA-256 of the (leaf) certificate, lower-case hex (what
    /// `--fingerprint` is matched against); in `--json` as
    /// `sha256_fingerprint`, in the form `inspect` and `verify` print.
    #[serde(rename = "sha256_fingerprint", serialize_with = "as_fingerprint")]
    pub sha256: String,
    /// Certificates in a key entry's chain (`chain_length`, as `keystore`
    /// reports it).
    #[serde(rename = "chain_length")]
    pub chain: usize,
}

/// A store read whole: its format, its entries, and its PKCS#12 profile.
pub struct Opened {
    pub format: Format,
    pub contents: Contents,
    pub profile: Option<super::P12Profile>,
}

/// Reads `path` whole. A password-less PKCS#12 opens without a password.
pub fn open(path: &Path, password: &str) -> Result<Opened> {
    let bytes = Zeroizing::new(fsx::read(path)?);
    let format = Format::detect(&bytes).ok_or_else(|| {
        Error::bad_file(
            path,
            "is not a keystore or truststore (PKCS#12, JKS or PEM)",
        )
    })?;
    match format {
        // BER (NSS, Bouncy Castle) is rebuilt as DER by Pkcs12File. What it
        // does not read (a MAC over SHA-224 or SHA-512/t), p12-keystore may,
        // and its reasons are the ones reported.
        Format::P12 => match Pkcs12File::parse(path, &bytes, password) {
            Ok(file) => Ok(Opened {
                format,
                profile: Some(file.profile()),
                contents: contents_of(path, &file, password)?,
            }),
            Err(_) if super::pkcs12::cost(path, &bytes).is_ok() => Ok(Opened {
                format,
                profile: None,
                contents: super::pkcs12::read(path, &bytes, password)?,
            }),
            Err(e) => Err(e),
        },
        _ => Ok(Opened {
            format,
            profile: None,
            contents: super::read(path, &bytes, Some(password))?,
        }),
    }
}

/// The chain up from `leaf` through `pool`, by issuer and subject.
fn chain_from(leaf: &[u8], pool: &[&[u8]]) -> Vec<CertificateDer<'static>> {
    let mut chain = vec![CertificateDer::from(leaf.to_vec())];
    let mut at = leaf.to_vec();
    while chain.len() < super::jks::MAX_CHAIN as usize {
        let Some((subject, issuer)) = certs::subject_and_issuer(&at) else {
            break;
        };
        if subject == issuer {
            break;
        }
        let Some(next) = pool.iter().find(|c| {
            certs::subject_and_issuer(c).is_some_and(|(s, _)| s == issuer) && **c != at.as_slice()
        }) else {
            break;
        };
        chain.push(CertificateDer::from(next.to_vec()));
        at = next.to_vec();
    }
    chain
}

/// A PKCS#12 file's entries, as Java sees them: each key bag with the
/// certificate of the same localKeyId and the chain above it; certificate
/// bags Java trusts; and the rest.
fn contents_of(path: &Path, file: &Pkcs12File, password: &str) -> Result<Contents> {
    if file.opaque_safes() > 0 {
        return Err(Error::bad_file(
            path,
            "has a part minica cannot open (an unknown cipher or a public-key envelope)",
        ));
    }
    let certs: Vec<&super::p12edit::Bag> =
        file.bags().filter(|b| b.kind == BagKind::Cert).collect();
    let pool: Vec<&[u8]> = certs.iter().filter_map(|b| b.cert.as_deref()).collect();
    let mut out = Contents::default();
    let mut in_chains: Vec<Vec<u8>> = Vec::new();
    for (i, k) in file
        .bags()
        .filter(|b| matches!(b.kind, BagKind::ShroudedKey | BagKind::Key))
        .enumerate()
    {
        let key = k.private_key(password).ok_or_else(|| {
            Error::bad_file(
                path,
                "holds a private key that does not open with this password",
            )
        })?;
        let leaf = certs
            .iter()
            .find(|c| c.local_key_id.is_some() && c.local_key_id == k.local_key_id)
            .or_else(|| {
                certs
                    .iter()
                    .find(|c| c.alias.is_some() && c.alias == k.alias)
            })
            .and_then(|c| c.cert.as_deref());
        let chain = leaf.map(|l| chain_from(l, &pool)).unwrap_or_default();
        in_chains.extend(chain.iter().map(|c| c.to_vec()));
        let alias = k.alias.clone().unwrap_or_else(|| format!("key-{}", i + 1));
        out.keys.push((alias, chain));
        out.key_pkcs8.push(key);
    }
    for c in certs {
        let Some(der) = c.cert.as_deref() else {
            continue;
        };
        if c.java_trusted {
            out.trusted.push(TrustedEntry {
                alias: c.alias.clone().unwrap_or_else(|| alias_of(der)),
                cert: CertificateDer::from(der.to_vec()),
            });
        } else if !in_chains.iter().any(|x| x == der) {
            out.untrusted.push(CertificateDer::from(der.to_vec()));
        }
    }
    Ok(out)
}

/// The alias minica gives a certificate: its display name, Java-folded.
pub fn alias_of(der: &[u8]) -> String {
    super::alias_for(&certs::display_name(der).unwrap_or_else(|| "certificate".into()))
}

/// Hex as `inspect::fingerprint` writes it: AB:CD:...
fn as_fingerprint<S: serde::Serializer>(hex: &str, s: S) -> std::result::Result<S::Ok, S::Error> {
    let pairs: Vec<String> = hex
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).to_uppercase())
        .collect();
    s.serialize_str(&pairs.join(":"))
}

fn sha256_hex(der: &[u8]) -> String {
    x509::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

fn listed(alias: &str, kind: &'static str, der: &[u8], chain: usize) -> Listed {
    let (subject, not_after) = match certs::info(der) {
        Some(i) => (i.subject, i.not_after),
        None => ("(unreadable)".into(), time::OffsetDateTime::UNIX_EPOCH),
    };
    Listed {
        alias: alias.to_string(),
        kind,
        subject,
        not_after,
        sha256: sha256_hex(der),
        chain,
    }
}

/// Every entry of an opened store, keys first.
pub fn list(o: &Opened) -> Vec<Listed> {
    let c = &o.contents;
    let mut out: Vec<Listed> = c
        .keys
        .iter()
        .filter_map(|(a, chain)| chain.first().map(|l| listed(a, "key", l, chain.len())))
        .collect();
    out.extend(
        c.trusted
            .iter()
            .map(|t| listed(&t.alias, "trusted", &t.cert, 1)),
    );
    out.extend(
        c.untrusted
            .iter()
            .map(|u| listed(&alias_of(u), "certificate", u, 1)),
    );
    out
}

/// What `store remove` takes out.
pub enum Selector {
    Alias(String),
    /// Trusted certificates past their notAfter.
    Expired,
    /// A SHA-256 fingerprint, hex, colons allowed.
    Fingerprint(String),
}

fn read_editable(path: &Path, password: &str) -> Result<EditableStore> {
    let bytes = Zeroizing::new(fsx::read(path)?);
    if Format::detect(&bytes) == Some(Format::Pem) {
        return Err(Error::bad_file_fix(
            path,
            "is a PEM bundle, which has no entries to edit",
            "edit it as text, or convert it first: minica store convert FILE OUT.p12",
        ));
    }
    EditableStore::parse(path, &bytes, password)
}

/// Adds `certs` as trusted entries (aliases from `alias`, or their names).
/// A certificate already trusted under any alias is left as it is.
pub fn add_trusted(
    path: &Path,
    password: &str,
    certs: &[CertificateDer<'static>],
    alias: Option<&str>,
    replace: bool,
) -> Result<Vec<String>> {
    edit(path, password, |store| {
        let mut changed = Vec::new();
        for (i, der) in certs.iter().enumerate() {
            if !store.aliases_of(der).is_empty() {
                continue;
            }
            let a = match (alias, i) {
                (Some(a), 0) => super::alias_for(a),
                (Some(a), n) => super::alias_for(&format!("{a}-{}", n + 1)),
                (None, _) => alias_of(der),
            };
            if store.has_alias(&a) {
                if !replace {
                    return Err(Error::Exists {
                        path: path.to_path_buf(),
                        hint: Some(format!(
                            "{} already has an entry named {a}: choose another --alias, or --force to replace it",
                            path.display()
                        )),
                    });
                }
                store.remove_alias(&a);
            }
            store.add_trusted(&a, der)?;
            changed.push(a);
        }
        Ok(changed)
    })
}

/// Adds a private key entry (the key must be the certificate's).
pub fn add_key(
    path: &Path,
    password: &str,
    entry: &KeyEntry,
    replace: bool,
) -> Result<Vec<String>> {
    edit(path, password, |store| {
        if store.has_alias(&entry.alias) {
            if !replace {
                return Err(Error::Exists {
                    path: path.to_path_buf(),
                    hint: Some(format!(
                        "{} already has an entry named {}: choose another --alias, or --force to replace it",
                        path.display(),
                        entry.alias
                    )),
                });
            }
            store.remove_alias(&entry.alias);
        }
        store.add_key(entry, password)?;
        Ok(vec![entry.alias.clone()])
    })
}

/// Removes what `sel` picks; an alias that is not there is an error.
pub fn remove(path: &Path, password: &str, sel: &Selector) -> Result<Vec<String>> {
    edit(path, password, |store| {
        // Read whole (under the lock) only to judge expiry or fingerprints.
        let listed = || open(path, password).map(|o| list(&o));
        let now = x509::now();
        let aliases: Vec<String> = match sel {
            Selector::Alias(a) => {
                if !store.has_alias(a) {
                    return Err(Error::usage(format!(
                        "{} has no entry named {a}; see `minica store list {}`",
                        path.display(),
                        path.display()
                    )));
                }
                vec![a.clone()]
            }
            Selector::Expired => listed()?
                .into_iter()
                .filter(|l| l.kind == "trusted" && l.not_after < now)
                .map(|l| l.alias)
                .collect(),
            Selector::Fingerprint(f) => {
                let want: String = f
                    .chars()
                    .filter(|c| *c != ':')
                    .collect::<String>()
                    .to_lowercase();
                let found: Vec<String> = listed()?
                    .into_iter()
                    .filter(|l| l.sha256 == want)
                    .map(|l| l.alias)
                    .collect();
                if found.is_empty() {
                    return Err(Error::usage(format!(
                        "{} has no entry with the SHA-256 fingerprint {f}",
                        path.display()
                    )));
                }
                found
            }
        };
        for a in &aliases {
            store.remove_alias(a);
        }
        Ok(aliases)
    })
}

/// A store's certificates to trust: its trusted entries, and the PKCS#12
/// certificates Java ignored (no trusted-key-usage attribute, no key),
/// which a rewrite makes what the user evidently meant: trusted.
fn anchors(c: &Contents) -> Vec<TrustedEntry> {
    let mut out = c.trusted.clone();
    out.extend(c.untrusted.iter().map(|u| TrustedEntry {
        alias: alias_of(u),
        cert: u.clone(),
    }));
    out
}

/// A new store holding every entry of `o`, in `format` under `password`.
pub fn rewrite(
    o: &Opened,
    format: Format,
    password: Option<&str>,
    opts: Pkcs12Options,
) -> Result<Zeroizing<Vec<u8>>> {
    let c = &o.contents;
    let keys: Vec<KeyEntry> = c
        .keys
        .iter()
        .zip(&c.key_pkcs8)
        .map(|((alias, chain), key)| KeyEntry {
            alias: alias.clone(),
            key_pkcs8: key.clone(),
            chain: chain.clone(),
        })
        .collect();
    let mut trusted = anchors(c);
    super::dedupe_aliases(&mut trusted);
    match format {
        Format::P12 if opts.profile == super::P12Profile::Passwordless => {
            super::pkcs12::write(&keys, &trusted, "", opts)
        }
        Format::P12 => super::pkcs12::write(&keys, &trusted, super::need(password)?, opts),
        Format::Jks => super::jks::write(&keys, &trusted, super::need(password)?),
        Format::Pem => {
            if keys.len() > 1 {
                return Err(Error::usage(
                    "a PEM file holds one key: export each entry with `minica store export`",
                ));
            }
            let mut pem = Zeroizing::new(Vec::new());
            for k in &keys {
                pem.extend_from_slice(&super::write_keystore(Format::Pem, k, None, opts)?);
            }
            pem.extend(super::write_truststore(Format::Pem, &trusted, None, opts)?);
            Ok(pem)
        }
    }
}

/// The trusted certificates of several stores, each once (by SHA-256).
pub fn merge(inputs: &[Opened]) -> (Vec<TrustedEntry>, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut keys = 0;
    for o in inputs {
        keys += o.contents.keys.len();
        for t in anchors(&o.contents) {
            if seen.insert(sha256_hex(&t.cert)) {
                out.push(t);
            }
        }
    }
    super::dedupe_aliases(&mut out);
    (out, keys)
}

/// The key entry `alias` of an opened store.
pub fn key_entry(path: &Path, o: &Opened, alias: &str) -> Result<KeyEntry> {
    let c = &o.contents;
    let i = c
        .keys
        .iter()
        .position(|(a, _)| a.eq_ignore_ascii_case(alias))
        .ok_or_else(|| {
            Error::usage(format!(
                "{} has no private key entry named {alias}; see `minica store list {}`",
                path.display(),
                path.display()
            ))
        })?;
    Ok(KeyEntry {
        alias: c.keys[i].0.clone(),
        key_pkcs8: c.key_pkcs8[i].clone(),
        chain: c.keys[i].1.clone(),
    })
}

/// Replaces the store at `path` (through symbolic links: Debian's JDKs
/// link cacerts into /etc/ssl/certs/java) with `store` under `password`, in
/// one rename, keeping the file's mode and owner, once the new bytes read
/// back as a store. Returns the file really written.
pub fn replace(path: &Path, store: &EditableStore, password: &str) -> Result<PathBuf> {
    let bytes = store.encode(password);
    replace_bytes(path, &bytes, password)
}

fn replace_bytes(path: &Path, bytes: &[u8], password: &str) -> Result<PathBuf> {
    let reads = match Format::detect(bytes) {
        Some(Format::Jks) => super::jks::parse_raw(path, bytes, password).map(|_| ()),
        Some(Format::P12) => Pkcs12File::parse(path, bytes, password)
            .and_then(|f| contents_of(path, &f, password))
            .map(|_| ()),
        _ => Ok(()),
    };
    reads.map_err(|_| {
        Error::Crypto(format!(
            "the edited store would not read back; {} was left as it was",
            path.display()
        ))
    })?;
    let real = std::fs::canonicalize(path).map_err(|e| Error::io("resolve", path, e))?;
    let meta = std::fs::metadata(&real).map_err(|e| Error::io("read", &real, e))?;
    let mut plan = txn::Plan::standalone();
    // Windows has no mode to keep: the new file takes its directory's ACL.
    let mode = crate::platform::owner_and_mode(&meta).map_or(fsx::PUBLIC, |(_, m)| m);
    plan.write(&real, bytes.to_vec(), mode, txn::Replace::Allowed);
    plan.run()?;
    if fsx::is_root() {
        crate::platform::copy_owner(&meta, &real)
            .map_err(|e| Error::io("restore the owner of", &real, e))?;
    }
    Ok(real)
}

/// Edits the store at `path` under its lock (held from the read to the
/// rename, so two edits never lose each other's entry): `edit` says what
/// it changed; nothing changed writes nothing.
pub fn edit(
    path: &Path,
    password: &str,
    edit: impl FnOnce(&mut EditableStore) -> Result<Vec<String>>,
) -> Result<Vec<String>> {
    let _lock = fsx::lock_in_place(path)?;
    let mut store = read_editable(path, password)?;
    let changed = edit(&mut store)?;
    if !changed.is_empty() {
        replace(path, &store, password)?;
    }
    Ok(changed)
}

/// Gives the store at `path` a new password (its keys too), in its own
/// format and PKCS#12 profile, under its lock.
pub fn passwd(path: &Path, old: &str, new: &str) -> Result<()> {
    let _lock = fsx::lock_in_place(path)?;
    let opened = open(path, old)?;
    let opts = Pkcs12Options {
        profile: opened.profile.unwrap_or_default(),
        ..Default::default()
    };
    if opened.format == Format::Pem || opts.profile == super::P12Profile::Passwordless {
        return Err(Error::usage(format!(
            "{} has no password to change; convert it to a protected store with `minica store convert`",
            path.display()
        )));
    }
    let bytes = rewrite(&opened, opened.format, Some(new), opts)?;
    replace_bytes(path, &bytes, new)?;
    Ok(())
}

/// Writes a new file (refusing an existing one unless `force`).
pub fn write_new(path: &Path, bytes: &[u8], private: bool, force: bool) -> Result<()> {
    let mut plan = txn::Plan::standalone();
    let mode = if private { fsx::PRIVATE } else { fsx::PUBLIC };
    plan.write(path, bytes.to_vec(), mode, txn::Replace::from_force(force));
    plan.run()
}

/// `key.pem`, `chain.pem` (leaf and intermediates) and `cert.pem` of a key
/// entry, in `dir`.
pub fn export(entry: &KeyEntry, dir: &Path, force: bool) -> Result<Vec<PathBuf>> {
    let leaf = entry
        .chain
        .first()
        .ok_or_else(|| Error::usage(format!("the entry {} has no certificate", entry.alias)))?;
    let pem = |c: &CertificateDer<'_>| crate::keys::pem_encode("CERTIFICATE", c.to_vec());
    // The chain a server presents stops below the self-signed root.
    let chain: String = entry
        .chain
        .iter()
        .filter(|c| {
            certs::subject_and_issuer(c).is_none_or(|(s, i)| s != i) || c.as_ref() == leaf.as_ref()
        })
        .map(pem)
        .collect();
    let files = [
        (
            dir.join("key.pem"),
            crate::keys::pem_encode("PRIVATE KEY", entry.key_pkcs8.to_vec()),
            fsx::PRIVATE,
        ),
        (dir.join("cert.pem"), pem(leaf), fsx::PUBLIC),
        (dir.join("chain.pem"), chain, fsx::PUBLIC),
    ];
    fsx::create_dir(dir)?;
    let mut plan = txn::Plan::standalone();
    for (p, b, m) in &files {
        plan.write(
            p,
            b.clone().into_bytes(),
            *m,
            txn::Replace::from_force(force),
        );
    }
    plan.run()?;
    Ok(files.into_iter().map(|(p, _, _)| p).collect())
}

//! A JKS or PKCS#12 store minica did not write, edited entry by entry:
//! what is not added or removed keeps its bytes (the JDK's cacerts, an
//! application's shipped truststore).

use std::path::Path;

use super::{jks, p12edit::Pkcs12File};
use crate::error::{Error, Result};

pub enum EditableStore {
    Jks(Vec<jks::RawEntry>),
    Pkcs12(Box<Pkcs12File>),
}

impl EditableStore {
    /// Reads a store, checking its integrity with `password`.
    pub fn parse(path: &Path, data: &[u8], password: &str) -> Result<EditableStore> {
        match super::Format::detect(data) {
            Some(super::Format::Jks) => {
                Ok(EditableStore::Jks(jks::parse_raw(path, data, password)?))
            }
            Some(super::Format::P12) => Ok(EditableStore::Pkcs12(Box::new(Pkcs12File::parse(
                path, data, password,
            )?))),
            _ => Err(Error::bad_file(
                path,
                "is neither a JKS nor a PKCS#12 store",
            )),
        }
    }

    pub fn format(&self) -> &'static str {
        match self {
            EditableStore::Jks(_) => "JKS",
            EditableStore::Pkcs12(_) => "PKCS#12",
        }
    }

    /// The aliases under which `der` is a trusted certificate (in a PKCS#12,
    /// in any safe the password opened).
    pub fn aliases_of(&self, der: &[u8]) -> Vec<String> {
        match self {
            EditableStore::Jks(entries) => entries
                .iter()
                .filter(|e| e.cert.as_deref() == Some(der))
                .map(|e| e.alias.clone())
                .collect(),
            EditableStore::Pkcs12(f) => f
                .bags()
                .filter(|b| b.java_trusted && b.cert.as_deref() == Some(der))
                .map(|b| b.alias.clone().unwrap_or_default())
                .collect(),
        }
    }

    /// Whether some entry is named `alias` (Java folds case).
    pub fn has_alias(&self, alias: &str) -> bool {
        let same = |a: &str| a.eq_ignore_ascii_case(alias);
        match self {
            EditableStore::Jks(entries) => entries.iter().any(|e| same(&e.alias)),
            EditableStore::Pkcs12(f) => f.bags().any(|b| b.alias.as_deref().is_some_and(same)),
        }
    }

    /// Adds `der` as a trusted certificate under `alias`.
    pub fn add_trusted(&mut self, alias: &str, der: &[u8]) -> Result<()> {
        match self {
            EditableStore::Jks(entries) => entries.push(jks::trusted_raw(alias, der)?),
            EditableStore::Pkcs12(f) => f.push_trusted(alias, der),
        }
        Ok(())
    }

    /// Removes the trusted entry `alias` if it holds `der`; whether it did.
    pub fn remove_trusted(&mut self, alias: &str, der: &[u8]) -> bool {
        let same = |a: Option<&str>, c: Option<&[u8]>| {
            a.is_some_and(|a| a.eq_ignore_ascii_case(alias)) && c == Some(der)
        };
        match self {
            EditableStore::Jks(entries) => {
                let before = entries.len();
                entries.retain(|e| !same(Some(&e.alias), e.cert.as_deref()));
                entries.len() != before
            }
            EditableStore::Pkcs12(f) => {
                f.remove(|b| same(b.alias.as_deref(), b.cert.as_deref())) > 0
            }
        }
    }

    /// Removes the entry named `alias`, whatever its kind. In a PKCS#12
    /// that is every bag with that friendlyName, the bags sharing a key
    /// bag's localKeyId, and CA certificates of its chain that nothing
    /// else needs (they carry no alias of their own).
    pub fn remove_alias(&mut self, alias: &str) -> bool {
        let same = |a: Option<&str>| a.is_some_and(|a| a.eq_ignore_ascii_case(alias));
        match self {
            EditableStore::Jks(entries) => {
                let before = entries.len();
                entries.retain(|e| !same(Some(&e.alias)));
                entries.len() != before
            }
            EditableStore::Pkcs12(f) => {
                let ids: Vec<Vec<u8>> = f
                    .bags()
                    .filter(|b| same(b.alias.as_deref()))
                    .filter_map(|b| b.local_key_id.clone())
                    .collect();
                let n = f.remove(|b| {
                    same(b.alias.as_deref())
                        || b.local_key_id.as_ref().is_some_and(|id| ids.contains(id))
                });
                f.remove_orphan_chain_certs();
                n > 0
            }
        }
    }

    /// Adds a private key entry, protected as the store's own entries are.
    pub fn add_key(&mut self, entry: &super::KeyEntry, password: &str) -> Result<()> {
        match self {
            EditableStore::Jks(entries) => entries.push(jks::key_raw(entry, password)?),
            EditableStore::Pkcs12(f) => {
                let profile = match f.profile() {
                    super::P12Profile::Passwordless => {
                        return Err(Error::usage(
                            "this PKCS#12 has no password: it holds certificates only (convert it with --p12-profile modern to add a key)",
                        ));
                    }
                    p => p,
                };
                let p = super::pkcs12::protection(super::Pkcs12Options {
                    profile,
                    ..Default::default()
                });
                let chain: Vec<&[u8]> = entry.chain.iter().map(|c| c.as_ref()).collect();
                f.push_key(&entry.alias, &entry.key_pkcs8, &chain, &p, password);
            }
        }
        Ok(())
    }

    pub fn encode(&self, password: &str) -> Vec<u8> {
        match self {
            EditableStore::Jks(entries) => jks::encode_raw(entries, password),
            EditableStore::Pkcs12(f) => f.encode(password),
        }
    }
}

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

    /// The aliases under which `der` is a trusted certificate. Certificates
    /// in an encrypted PKCS#12 safe are not seen.
    pub fn aliases_of(&self, der: &[u8]) -> Vec<String> {
        match self {
            EditableStore::Jks(entries) => entries
                .iter()
                .filter(|e| e.cert.as_deref() == Some(der))
                .map(|e| e.alias.clone())
                .collect(),
            EditableStore::Pkcs12(f) => f
                .plain_bags()
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
            EditableStore::Pkcs12(f) => {
                f.plain_bags().any(|b| b.alias.as_deref().is_some_and(same))
            }
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

    pub fn encode(&self, password: &str) -> Vec<u8> {
        match self {
            EditableStore::Jks(entries) => jks::encode_raw(entries, password),
            EditableStore::Pkcs12(f) => f.encode(password),
        }
    }
}

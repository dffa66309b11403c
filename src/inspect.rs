//! What is in a file: certificates, a CSR, a key (never its secret part) or
//! a store, told apart by content rather than by name.

use std::path::Path;

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};
use crate::names::Tagged;
use crate::password::Secret;
use crate::policy::KeyInfo;
use crate::stores::{self, Format};
use crate::text::escape;
use crate::x509;

/// A file's content, classified.
pub enum Item {
    Certs(Vec<CertificateDer<'static>>),
    Csr(Vec<u8>),
    /// A private key: only its public half is kept.
    Key(KeyInfo, Vec<u8>),
    EncryptedKey,
    Store(Format, stores::Contents),
    /// Certificate revocation lists, DER.
    Crls(Vec<Vec<u8>>),
}

/// Classifies `bytes`. `password` is asked for only when the file is a
/// PKCS#12 or JKS store.
pub fn read_any(path: &Path, bytes: &[u8], password: &dyn Fn() -> Result<Secret>) -> Result<Item> {
    if bytes.is_empty() {
        return Err(Error::bad_file(path, "is empty"));
    }
    match Format::detect(bytes) {
        Some(Format::Jks) => {
            let pw = password()?;
            return Ok(Item::Store(
                Format::Jks,
                stores::read(path, bytes, Some(&pw))?,
            ));
        }
        Some(Format::Pem) => {
            let kind = crate::certs::pem_kind(bytes).unwrap_or_default();
            return match kind.as_str() {
                "CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                    Ok(Item::Certs(crate::certs::parse(path, bytes)?))
                }
                "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
                    let blocks = pem::parse_many(bytes).map_err(|_| {
                        Error::bad_file(path, "is not valid PEM (truncated or corrupt)")
                    })?;
                    let der = blocks
                        .first()
                        .map(|b| b.contents().to_vec())
                        .unwrap_or_default();
                    check_csr(path, &der)?;
                    Ok(Item::Csr(der))
                }
                "ENCRYPTED PRIVATE KEY" => Ok(Item::EncryptedKey),
                "X509 CRL" => Ok(Item::Crls(crate::crl::parse(path, bytes)?)),
                k if k.ends_with("PRIVATE KEY") => key_item(path, bytes),
                other => Err(Error::bad_file(
                    path,
                    format!("holds a PEM {other:?} block, which minica does not read"),
                )),
            };
        }
        _ => {}
    }
    // DER: a certificate, a CSR, else a PKCS#12 file.
    if let Ok((&[], _)) = X509Certificate::from_der(bytes) {
        return Ok(Item::Certs(vec![CertificateDer::from(bytes.to_vec())]));
    }
    if let Ok((&[], _)) = X509CertificationRequest::from_der(bytes) {
        return Ok(Item::Csr(bytes.to_vec()));
    }
    if let Ok((&[], _)) = x509_parser::revocation_list::CertificateRevocationList::from_der(bytes) {
        return Ok(Item::Crls(vec![bytes.to_vec()]));
    }
    if bytes.first() == Some(&0x30) && looks_like_pfx(bytes) {
        let pw = password()?;
        return Ok(Item::Store(
            Format::P12,
            stores::read(path, bytes, Some(&pw))?,
        ));
    }
    Err(Error::bad_file(
        path,
        "is not a certificate, CSR, key or keystore minica can read (truncated or corrupt?)",
    ))
}

/// A PFX starts SEQUENCE { INTEGER 3, ... }.
fn looks_like_pfx(bytes: &[u8]) -> bool {
    let body = match bytes.get(1) {
        Some(l) if *l < 0x80 => bytes.get(2..),
        Some(l) => bytes.get(2 + (*l as usize & 0x7f)..),
        None => None,
    };
    body.is_some_and(|b| b.starts_with(&[0x02, 0x01, 0x03]))
}

fn check_csr(path: &Path, der: &[u8]) -> Result<()> {
    match X509CertificationRequest::from_der(der) {
        Ok((&[], _)) => Ok(()),
        _ => Err(Error::bad_file(
            path,
            "is not a valid CSR (truncated or corrupt)",
        )),
    }
}

fn key_item(path: &Path, bytes: &[u8]) -> Result<Item> {
    use rcgen::PublicKeyData;
    let pair = crate::keys::load_pem(path, bytes)?;
    let spki = pair.subject_public_key_info();
    let info = match x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki) {
        Ok((_, s)) => KeyInfo::from_spki(&s),
        Err(_) => {
            return Err(Error::bad_file(
                path,
                "the key's public half cannot be derived",
            ));
        }
    };
    Ok(Item::Key(info, spki))
}

#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub days_left: i64,
    pub self_signed: bool,
    pub is_ca: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_len: Option<u32>,
    pub subject_alt_names: Vec<Tagged>,
    /// RFC 5280 names, spelled as in profiles (digitalSignature, cRLSign).
    pub key_usage: Vec<String>,
    /// RFC 5280 names, spelled as in profiles (serverAuth, OCSPSigning).
    pub extended_key_usage: Vec<String>,
    pub name_constraints_permitted: Vec<Tagged>,
    pub name_constraints_excluded: Vec<Tagged>,
    /// The key for people ("RSA-2048"); `--json` has only `key_type`.
    #[serde(skip)]
    pub key: String,
    /// The key's type as `--key-type` spells it (rsa-2048, ecdsa-p256).
    pub key_type: String,
    pub signature_algorithm: String,
    pub sha256_fingerprint: String,
}

pub fn fingerprint(der: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.3.101.112" => "Ed25519",
        other => return other.to_string(),
    }
    .to_string()
}

/// A CRL, described.
#[derive(Debug, Clone, Serialize)]
pub struct CrlInfo {
    pub issuer: String,
    /// CRL number, hex.
    pub number: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// Whole days until nextUpdate (negative once past: the CRL is stale).
    pub days_left: Option<i64>,
    pub authority_key_id: Option<String>,
    pub revoked: Vec<RevokedInfo>,
    pub signature: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevokedInfo {
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    pub reason: Option<String>,
}

/// Describes a CRL: who issued it, until when it is current, and what it revokes.
pub fn describe_crl(der: &[u8], now: OffsetDateTime) -> Option<CrlInfo> {
    use x509_parser::revocation_list::CertificateRevocationList;
    let (_, crl) = CertificateRevocationList::from_der(der).ok()?;
    let next = crl.next_update().map(|t| t.to_datetime());
    let mut aki = None;
    for e in crl.extensions() {
        if let ParsedExtension::AuthorityKeyIdentifier(a) = e.parsed_extension() {
            aki = a.key_identifier.as_ref().map(|k| x509::hex(k.0));
        }
    }
    Some(CrlInfo {
        issuer: escape(&crl.issuer().to_string()),
        number: crl.crl_number().map(|n| format!("{n:x}")),
        this_update: crl.last_update().to_datetime(),
        next_update: next,
        days_left: next.map(|n| x509::days_left(n, now)),
        authority_key_id: aki,
        revoked: crl
            .iter_revoked_certificates()
            .map(|r| RevokedInfo {
                serial: x509::hex(r.raw_serial()),
                revoked_at: r.revocation_date.to_datetime(),
                // RFC 5280 5.3.1 spelling, as `minica revoke --reason` takes it.
                reason: r.reason_code().map(|(_, rc)| {
                    let s = rc.to_string();
                    let mut c = s.chars();
                    escape(&c.next().map_or(String::new(), |f| {
                        f.to_lowercase().chain(c).collect::<String>()
                    }))
                }),
            })
            .collect(),
        signature: escape(&signature_name(
            &crl.signature_algorithm.algorithm.to_id_string(),
        )),
    })
}

/// Describes a certificate. Every string taken from it (names, SANs,
/// constraints, unknown OIDs) is escaped with [`escape`]: a certificate's
/// text must never reach a terminal raw.
pub fn describe_cert(der: &[u8], now: OffsetDateTime) -> Option<CertInfo> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    let mut info = CertInfo {
        subject: escape(&c.subject().to_string()),
        issuer: escape(&c.issuer().to_string()),
        serial: x509::hex(c.raw_serial()),
        not_before: c.validity().not_before.to_datetime(),
        not_after: c.validity().not_after.to_datetime(),
        days_left: x509::days_left(c.validity().not_after.to_datetime(), now),
        self_signed: c.subject().as_raw() == c.issuer().as_raw(),
        is_ca: false,
        path_len: None,
        subject_alt_names: Vec::new(),
        key_usage: Vec::new(),
        extended_key_usage: Vec::new(),
        name_constraints_permitted: Vec::new(),
        name_constraints_excluded: Vec::new(),
        key: KeyInfo::from_spki(c.public_key()).to_string(),
        key_type: KeyInfo::from_spki(c.public_key()).type_name(),
        signature_algorithm: signature_name(&c.signature_algorithm.algorithm.to_id_string()),
        sha256_fingerprint: fingerprint(der),
    };
    if info.key == "rsa" {
        info.key = "RSA".into();
    }
    for ext in c.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                info.subject_alt_names = san
                    .general_names
                    .iter()
                    .map(|g| escaped(x509::tagged(g)))
                    .collect();
            }
            ParsedExtension::BasicConstraints(bc) => {
                info.is_ca = bc.ca;
                info.path_len = bc.path_len_constraint;
            }
            ParsedExtension::KeyUsage(ku) => {
                info.key_usage = x509::key_usage_names(ku)
                    .into_iter()
                    .map(String::from)
                    .collect();
            }
            ParsedExtension::ExtendedKeyUsage(e) => {
                info.extended_key_usage = x509::eku_names(e).iter().map(|n| escape(n)).collect()
            }
            ParsedExtension::NameConstraints(nc) => {
                info.name_constraints_permitted = nc
                    .permitted_subtrees
                    .iter()
                    .flatten()
                    .map(|s| escaped(x509::tagged(&s.base)))
                    .collect();
                info.name_constraints_excluded = nc
                    .excluded_subtrees
                    .iter()
                    .flatten()
                    .map(|s| escaped(x509::tagged(&s.base)))
                    .collect();
            }
            _ => {}
        }
    }
    Some(info)
}

#[derive(Debug, Clone, Serialize)]
pub struct CsrInfo {
    pub subject: String,
    pub names: Vec<Tagged>,
    /// The key for people ("RSA-2048"); `--json` has only `key_type`.
    #[serde(skip)]
    pub key: String,
    /// The key's type as `--key-type` spells it (rsa-2048, ecdsa-p256).
    pub key_type: String,
    pub signature_valid: bool,
    pub asks_for_ca: bool,
}

/// A name from outside, made safe for a terminal.
fn escaped(mut n: Tagged) -> Tagged {
    n.value = escape(&n.value);
    n
}

pub fn describe_csr(path: &Path, der: &[u8]) -> Result<CsrInfo> {
    let req = crate::csr::read(path, der)?;
    let (_, csr) = X509CertificationRequest::from_der(der)
        .map_err(|_| Error::bad_file(path, "is not a valid CSR"))?;
    Ok(CsrInfo {
        subject: escape(&csr.certification_request_info.subject.to_string()),
        names: req.names.iter().map(|n| escaped(n.into())).collect(),
        key: req.key.to_string(),
        key_type: req.key.type_name(),
        signature_valid: req.signature.is_ok(),
        asks_for_ca: req.asked_ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfx_shape() {
        assert!(looks_like_pfx(&[0x30, 0x05, 0x02, 0x01, 0x03, 0x30, 0x00]));
        assert!(looks_like_pfx(&[0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03]));
        assert!(!looks_like_pfx(&[0x30, 0x05, 0x02, 0x01, 0x01]));
        let none = || -> Result<Secret> { panic!("no password needed") };
        let e = match read_any(Path::new("f"), b"\x30\x03\x02\x01\x05", &none) {
            Err(e) => e,
            Ok(_) => panic!("junk was accepted"),
        };
        assert!(e.to_string().contains("truncated or corrupt"), "{e}");
    }
}

//! Certificate signing requests: read one made elsewhere, and make one.
//!
//! From a CSR minica takes only the public key and the names; everything else
//! (key usage, EKU, lifetime, basicConstraints) comes from the profile. That
//! is what keeps a CSR from granting itself CA powers: mkcert copies the
//! requested extensions, rcgen's own CSR parser refuses any extension it does
//! not know (keytool always asks for a Subject Key Identifier), so the CSR is
//! parsed here with x509-parser and only vetted fields are carried over.

use std::path::Path;

use rcgen::{CertificateParams, DnType};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

use crate::error::{Error, Result};
use crate::names::Name;
use crate::policy::KeyInfo;
use crate::profile::{ExtKeyUsage, KeyUsage, Profile};

/// The parts of a CSR minica uses, and what it asked for that it won't get.
#[derive(Debug)]
pub struct Request {
    /// SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    pub key: KeyInfo,
    /// subjectAltName entries, or the CommonName when there are none.
    pub names: Vec<Name>,
    /// Whether the CSR's self-signature checked out (and why not).
    pub signature: std::result::Result<(), String>,
    pub asked_ca: bool,
    pub asked_key_usage: Vec<&'static str>,
    pub asked_ext_key_usage: Vec<String>,
    /// Requested extensions minica ignores, by OID, and SAN entries it cannot carry.
    pub ignored: Vec<String>,
}

/// Finds the DER of a CSR in PEM ("CERTIFICATE REQUEST", or "NEW
/// CERTIFICATE REQUEST" as older keytool and Windows write) or raw DER.
fn der_of(path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let trimmed = bytes.trim_ascii_start();
    if !trimmed.starts_with(b"-----BEGIN") {
        if bytes.first() == Some(&0x30) {
            return Ok(bytes.to_vec());
        }
        return Err(Error::bad_file_fix(
            path,
            "is not a certificate signing request",
            "give a PEM \"CERTIFICATE REQUEST\" or its DER form",
        ));
    }
    let blocks = pem::parse_many(bytes).map_err(|_| {
        Error::bad_file_fix(
            path,
            "is not valid PEM (truncated or corrupt)",
            "make the CSR again",
        )
    })?;
    let mut csrs = blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE REQUEST" || b.tag() == "NEW CERTIFICATE REQUEST");
    if let Some(b) = csrs.next() {
        // Signing the first of several would certify one request silently
        // and drop the others: which one was meant is not for minica to guess.
        let more = csrs.count();
        if more > 0 {
            return Err(Error::bad_file_fix(
                path,
                format!("holds {} certificate signing requests, not one", more + 1),
                "give one CSR per file (`minica issue --csr` once for each)",
            ));
        }
        return Ok(b.contents().to_vec());
    }
    let found = blocks
        .first()
        .map(|b| b.tag().to_string())
        .unwrap_or_default();
    Err(Error::bad_file_fix(
        path,
        format!("holds a PEM {found:?} block, not a certificate signing request"),
        "give the CSR (\"CERTIFICATE REQUEST\")",
    ))
}

/// Reads a CSR. Structure errors fail here; a bad signature is reported in
/// `Request::signature`, so the caller can first refuse a weak key for what
/// it is (x509-parser will not even check signatures by RSA keys < 2048 bits).
pub fn read(path: &Path, bytes: &[u8]) -> Result<Request> {
    read_with(path, bytes, true)
}

/// Reads a CSR for a subordinate CA: its CommonName names the CA, not a
/// host, so it is not taken as a name to certify.
pub fn read_for_ca(path: &Path, bytes: &[u8]) -> Result<Request> {
    read_with(path, bytes, false)
}

fn read_with(path: &Path, bytes: &[u8], cn_as_name: bool) -> Result<Request> {
    let der = der_of(path, bytes)?;
    let csr = match X509CertificationRequest::from_der(&der) {
        Ok((&[], csr)) => csr,
        _ => {
            return Err(Error::bad_file_fix(
                path,
                "is not a valid certificate signing request (truncated or corrupt)",
                "make the CSR again",
            ));
        }
    };
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let signature = csr
        .verify_signature()
        .map_err(|e| format!("its signature does not verify ({e})"));

    let mut req = Request {
        spki_der: spki.raw.to_vec(),
        key: KeyInfo::from_spki(spki),
        names: Vec::new(),
        signature,
        asked_ca: false,
        asked_key_usage: Vec::new(),
        asked_ext_key_usage: Vec::new(),
        ignored: Vec::new(),
    };
    let name_err =
        |e: Error| Error::bad_file(path, format!("the CSR asks for an invalid name: {e}"));

    let requested = info
        .iter_attributes()
        .find_map(|a| match a.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(r) => Some(r.extensions.as_slice()),
            _ => None,
        })
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut san_entries = 0usize;
    for ext in requested {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                san_entries += san.general_names.len();
                let total = san_entries;
                if total > crate::names::MAX_NAMES {
                    return Err(Error::bad_file_fix(
                        path,
                        format!(
                            "the CSR asks for {total} names, more than the {} one certificate may carry",
                            crate::names::MAX_NAMES
                        ),
                        "split the names over several CSRs",
                    ));
                }
                for gn in &san.general_names {
                    let name = crate::names::from_general_name(gn)
                        .transpose()
                        .map_err(name_err)?;
                    match name {
                        Some(n) => {
                            if seen.insert(n.clone()) {
                                req.names.push(n);
                            }
                        }
                        None => req.ignored.push(format!("subjectAltName entry {gn:?}")),
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) => req.asked_ca |= bc.ca,
            ParsedExtension::KeyUsage(ku) => {
                req.asked_key_usage.extend(crate::x509::key_usage_names(ku));
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                req.asked_ext_key_usage = crate::x509::eku_names(eku);
            }
            // keytool always asks for one; minica computes its own.
            ParsedExtension::SubjectKeyIdentifier(_) => {}
            _ => req
                .ignored
                .push(format!("extension {}", ext.oid.to_id_string())),
        }
    }

    if req.names.is_empty()
        && cn_as_name
        && let Some(cn) = info.subject.iter_common_name().next()
        && let Ok(cn) = cn.as_str()
    {
        req.names.push(Name::parse(cn).map_err(name_err)?);
    }
    Ok(req)
}

impl Request {
    /// Warnings for what the CSR asked for and will not get under `profile`.
    pub fn dropped(&self, profile: &Profile) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.asked_ca {
            warnings.push(
                "the CSR asked for CA:TRUE; ignored: the certificate has CA:FALSE".to_string(),
            );
        }
        let granted_ku: Vec<String> = profile
            .key_usage
            .iter()
            .map(|k| ku_name(*k).to_string())
            .chain(
                (profile.rsa_key_encipherment && self.key.algorithm == "rsa")
                    .then(|| "keyEncipherment".to_string()),
            )
            .collect();
        let ku: Vec<&str> = self
            .asked_key_usage
            .iter()
            .filter(|k| !granted_ku.iter().any(|g| g == *k))
            .copied()
            .collect();
        if !ku.is_empty() {
            warnings.push(format!(
                "the CSR asked for key usages the profile does not grant; dropped: {}",
                ku.join(", ")
            ));
        }
        let granted_eku: Vec<&str> = profile
            .extended_key_usage
            .iter()
            .map(|e| eku_name(*e))
            .collect();
        let eku: Vec<&str> = self
            .asked_ext_key_usage
            .iter()
            .filter(|e| !granted_eku.contains(&e.as_str()))
            .map(String::as_str)
            .collect();
        if !eku.is_empty() {
            warnings.push(format!(
                "the CSR asked for extended key usages the profile does not grant; dropped: {}",
                eku.join(", ")
            ));
        }
        if !self.ignored.is_empty() {
            warnings.push(format!(
                "ignored what the CSR asked for beyond its key and names: {}",
                self.ignored.join("; ")
            ));
        }
        warnings
    }
}

fn ku_name(k: KeyUsage) -> &'static str {
    match k {
        KeyUsage::DigitalSignature => "digitalSignature",
        KeyUsage::ContentCommitment => "contentCommitment",
        KeyUsage::KeyEncipherment => "keyEncipherment",
        KeyUsage::DataEncipherment => "dataEncipherment",
        KeyUsage::KeyAgreement => "keyAgreement",
    }
}

fn eku_name(e: ExtKeyUsage) -> &'static str {
    match e {
        ExtKeyUsage::ServerAuth => "serverAuth",
        ExtKeyUsage::ClientAuth => "clientAuth",
        ExtKeyUsage::CodeSigning => "codeSigning",
        ExtKeyUsage::EmailProtection => "emailProtection",
        ExtKeyUsage::TimeStamping => "timeStamping",
        ExtKeyUsage::OcspSigning => "OCSPSigning",
    }
}

/// Makes a CSR for `names` signed by `key`: CommonName the first name, all of
/// them in the subjectAltName, nothing else (the CA decides the rest).
pub fn make(names: &[Name], key: &rcgen::KeyPair) -> Result<String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(first) = names.first().map(Name::to_string).filter(|s| s.len() <= 64) {
        params.distinguished_name.push(DnType::CommonName, first);
    }
    params.subject_alt_names = names.iter().map(Name::to_san).collect::<Result<_>>()?;
    let csr = params.serialize_request(&crate::rng::Signer::new(key))?;
    Ok(csr.pem()?.replace("\r\n", "\n"))
}

/// Where `make_to_dir` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MadeCsr {
    pub key: std::path::PathBuf,
    pub csr: std::path::PathBuf,
    pub key_type: crate::keys::KeyType,
}

/// Makes a key and a CSR for `names` in `out_dir` (key.pem 0600, csr.pem),
/// for the side that owns the key.
pub fn make_to_dir(
    names: &[Name],
    key_type: crate::keys::KeyType,
    out_dir: &Path,
    force: bool,
) -> Result<MadeCsr> {
    if names.is_empty() {
        return Err(Error::usage("give at least one name"));
    }
    let made = MadeCsr {
        key: out_dir.join("key.pem"),
        csr: out_dir.join("csr.pem"),
        key_type,
    };
    crate::fsx::refuse_existing([made.key.as_path(), made.csr.as_path()], force, None)?;
    let key = key_type.generate()?;
    let csr = make(names, &key)?;
    crate::fsx::create_dir(out_dir)?;
    crate::fsx::write_all(
        &[
            (
                made.key.clone(),
                crate::keys::pkcs8_pem(&key).into_bytes(),
                crate::fsx::PRIVATE,
            ),
            (made.csr.clone(), csr.into_bytes(), crate::fsx::PUBLIC),
        ],
        force,
    )?;
    Ok(made)
}

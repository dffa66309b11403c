//! Intermediates: a CA signed by the root that does the daily signing, so
//! the root key can stay offline (encrypted, or later in a token). Each
//! lives in `<ca-dir>/issuers/NAME/` (cert.pem, key.pem); `ca.toml`'s
//! `issue.issuer` names the one that signs leaves by default.
//!
//! Also: signing someone else's subordinate CA from a CSR (`issue --csr
//! --sub-ca`), so that an online CA (Vault, step-ca, Caddy) runs under a
//! minica root.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::ca::{self, Ca, Session};
use crate::cakey::Unlock;
use crate::constraints::{Constraints, Permit};
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::names::Name;
use crate::{fsx, record, txn, x509};

/// Five years: an intermediate is replaced more often than a root, and
/// never outlives it.
pub const DEFAULT_INTERMEDIATE_DAYS: u32 = 1825;

/// What `minica ca intermediate` asks for.
pub struct IntermediateRequest {
    pub name: String,
    /// Name constraints; empty: the root's own, if it has any.
    pub permit: Vec<String>,
    /// pathLenConstraint of the new intermediate (0: it signs leaves only).
    pub path_len: u8,
    pub days: Option<u32>,
    /// [default: the root's key type]
    pub key_type: Option<KeyType>,
    /// Make it the default issuer of leaves (ca.toml `issue.issuer`).
    pub make_default: bool,
    pub force: bool,
}

/// A new intermediate, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Intermediate {
    pub name: String,
    pub subject: String,
    pub serial: String,
    pub key_type: KeyType,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub path_len: u8,
    pub permit: Vec<String>,
    /// Where it is: `files.cert`, `files.key`, as `issue` reports paths.
    pub files: CaFiles,
    pub default: bool,
    pub warnings: Vec<String>,
}

/// A CA's certificate and key files.
#[derive(Debug, Clone, Serialize)]
pub struct CaFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Checks that `wanted` constraints lie within `parent`'s: a verifier
/// enforces both, so a wider intermediate would only mislead its owner.
fn within(wanted: &Constraints, parent: &Constraints) -> Result<()> {
    if parent.is_empty() {
        return Ok(());
    }
    for p in &wanted.permitted {
        let ok = match p {
            Permit::Dns(d) => {
                let bare = d.trim_start_matches('.');
                parent.permitted.iter().any(|r| match r {
                    Permit::Dns(rd) => {
                        rd == d
                            || Name::parse(bare)
                                .ok()
                                .and_then(|n| r.covers(&n))
                                .unwrap_or(false)
                            || (rd.starts_with('.') && d.ends_with(rd.as_str()))
                    }
                    _ => false,
                })
            }
            Permit::Ip(ip, len) => parent.permitted.iter().any(|r| match r {
                Permit::Ip(_, rlen) => rlen <= len && r.covers(&Name::Ip(*ip)).unwrap_or(false),
                _ => false,
            }),
            _ => parent.permitted.contains(p),
        };
        if !ok {
            return Err(Error::Refused(format!(
                "--permit {p} is outside the names the CA above allows ({}); permit a part of them",
                parent
                    .permitted
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if parent.excludes_all_ips && wanted.permitted.iter().any(|p| matches!(p, Permit::Ip(..))) {
        return Err(Error::Refused(
            "the CA above excludes every IP address; an IP range cannot be permitted under it"
                .into(),
        ));
    }
    Ok(())
}

/// The constraints for a new CA under `parent`: those asked for (checked to
/// lie within `parent`'s), else `parent`'s own, so that a verifier that
/// ignores a trust anchor's constraints (Java's PKIX) still meets them.
fn constraints_under(permit: &[String], parent: &Ca) -> Result<Constraints> {
    if permit.is_empty() {
        return Ok(parent.constraints.clone());
    }
    let permits = permit
        .iter()
        .map(|p| Permit::parse(p))
        .collect::<Result<Vec<_>>>()?;
    let c = Constraints::from_permits(permits);
    within(&c, &parent.constraints)?;
    for p in &parent.parent_constraints {
        within(&c, p)?;
    }
    Ok(c)
}

/// The lifetime of a new CA under `parent`: asked for, or the default
/// shortened to the parent's expiry (with a warning).
fn ca_validity(
    days: Option<u32>,
    parent: &Ca,
    now: OffsetDateTime,
    warnings: &mut Vec<String>,
) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let d = x509::check_days(days.unwrap_or(DEFAULT_INTERMEDIATE_DAYS))?;
    let (nb, mut na) = x509::validity_window(now, d)?;
    if na > parent.not_after {
        if days.is_some() {
            return Err(Error::Refused(format!(
                "a {d}-day CA would outlive the CA above it, which expires on {}; ask for fewer days",
                x509::date(parent.not_after)
            )));
        }
        na = parent.not_after;
        warnings.push(format!(
            "valid until {}, when the CA above it expires",
            x509::date(na)
        ));
    }
    Ok((nb, na))
}

/// Refuses a CA under `parent` when `parent`'s path length has no room for it.
fn check_room(parent: &Ca, path_len: u8) -> Result<()> {
    let where_ = match &parent.name {
        Some(n) => format!("the intermediate {n:?}"),
        None => format!("the root {}", parent.dir.join(ca::CERT_FILE).display()),
    };
    match parent.path_len {
        Some(0) => Err(Error::Refused(format!(
            "{where_} has pathLenConstraint 0, so no CA signed by it would be valid; {}",
            if parent.name.is_none() {
                "make a new root with room for intermediates (`minica init --force`: new roots have pathLenConstraint 1)"
            } else {
                "sign it with the root instead (--issuer is not needed: the root signs CAs)"
            }
        ))),
        Some(n) if u32::from(path_len) >= n => Err(Error::Refused(format!(
            "{where_} has pathLenConstraint {n}, so a CA under it may have at most {}; ask for --path-len {}",
            n - 1,
            n - 1
        ))),
        _ => Ok(()),
    }
}

fn ca_params(
    subject: &[(DnType, String)],
    path_len: u8,
    constraints: &Constraints,
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
) -> Result<(CertificateParams, String)> {
    let mut params = CertificateParams::default();
    let serial = x509::random_serial()?;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_before = not_before;
    params.not_after = not_after;
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (t, v) in subject {
        params.distinguished_name.push(t.clone(), v.clone());
    }
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    // RFC 5280 4.2.1.3: keyCertSign to sign certificates, cRLSign for its
    // CRLs; no EKU, which in OpenSSL and Go would limit every leaf below.
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .custom_extensions
        .extend(constraints.to_custom_extension());
    params.use_authority_key_identifier_extension = true;
    Ok((params, x509::hex(&serial)))
}

/// Makes the intermediate `req.name`, signed by the root, as one
/// transaction; the root's key is read (and its passphrase asked) here
/// and nowhere else but for CRLs.
pub fn create(dir: &Path, unlock: &Unlock, req: IntermediateRequest) -> Result<Intermediate> {
    ca::check_issuer_name(&req.name)?;
    if let Some(d) = req.days {
        x509::check_days(d)?;
    }
    let session = Session::open(dir, false)?;
    check_outputs(dir, &req)?;
    let root = session.load(unlock)?;
    create_under(dir, &root, req)
}

/// The files an intermediate is written to: (certificate, key).
fn files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let idir = dir.join(ca::ISSUERS_DIR).join(name);
    (idir.join(ca::ISSUER_CERT), idir.join(ca::ISSUER_KEY))
}

fn check_outputs(dir: &Path, req: &IntermediateRequest) -> Result<()> {
    let (cert_path, key_path) = files(dir, &req.name);
    let replace = txn::Replace::from_force(req.force);
    txn::check_outputs(&[(cert_path, replace), (key_path, replace)])?;
    Ok(())
}

/// The name `init` gives the intermediate it makes under a constrained root.
pub const INIT_ISSUER: &str = "issuing";

/// `minica init`: a root, and under a root with name constraints, an
/// intermediate with the same constraints as the default issuer. Java's
/// PKIX ignores name constraints in a trust anchor and enforces them in an
/// intermediate (RFC 5280 6.1.1 leaves the anchor's to the implementation),
/// so only a constrained intermediate keeps a Java client from accepting
/// a name outside them. Two transactions under the CA lock: a kill
/// between them leaves a complete root-only CA, which `minica ca
/// intermediate issuing` completes.
pub fn init(
    dir: &Path,
    cfg: &crate::config::CaConfig,
    force: bool,
    unlock: &Unlock,
    intermediate: bool,
) -> Result<(ca::Created, Option<Intermediate>)> {
    let created = ca::create(dir, cfg, force, unlock)?;
    if !intermediate || created.ca.constraints.is_empty() {
        return Ok((created, None));
    }
    let _session = Session::open(dir, false)?;
    let req = IntermediateRequest {
        name: INIT_ISSUER.into(),
        permit: Vec::new(),
        path_len: 0,
        days: None,
        key_type: None,
        make_default: true,
        force: false,
    };
    check_outputs(dir, &req)?;
    let made = create_under(dir, &created.ca, req)?;
    Ok((created, Some(made)))
}

/// Makes the intermediate `req` under `root`, whose CA lock is held.
fn create_under(dir: &Path, root: &Ca, req: IntermediateRequest) -> Result<Intermediate> {
    let idir = dir.join(ca::ISSUERS_DIR).join(&req.name);
    let (cert_path, key_path) = files(dir, &req.name);
    let replace = txn::Replace::from_force(req.force);
    check_room(root, req.path_len)?;
    let constraints = constraints_under(&req.permit, root)?;
    let mut warnings = Vec::new();
    let validity = ca_validity(req.days, root, x509::now(), &mut warnings)?;
    let key_type = req.key_type.unwrap_or(root.config.ca.key_type);
    let mut subject = vec![(
        DnType::CommonName,
        format!("{} {}", root_cn(root), req.name),
    )];
    if let Some(o) = &root.config.ca.organization {
        subject.push((DnType::OrganizationName, o.clone()));
    }
    subject[0].1.truncate(64);
    let (params, serial) = ca_params(&subject, req.path_len, &constraints, validity)?;
    let key = key_type.generate()?;
    let cert = params
        .signed_by(&key, &root.issuer)
        .map_err(|e| root.signing_failed(e))?;

    for d in [dir.join(ca::ISSUERS_DIR), idir.clone()] {
        fsx::create_private_dir(&d)?;
    }
    let mut plan = txn::Plan::in_ca(dir);
    plan.write(&cert_path, cert.pem().into_bytes(), fsx::PUBLIC, replace);
    plan.write(
        &key_path,
        keys::pkcs8_pem(&key).into_bytes(),
        fsx::PRIVATE,
        replace,
    );
    if req.make_default {
        let mut cfg = root.config.clone();
        cfg.issue.issuer = Some(req.name.clone());
        plan.write(
            &dir.join(ca::CONFIG_FILE),
            cfg.to_toml().into_bytes(),
            fsx::PUBLIC,
            txn::Replace::Allowed,
        );
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    plan.record(record::Entry {
        serial: serial.clone(),
        names: vec![req.name.clone()],
        profile: "intermediate".into(),
        key_type: Some(key_type.as_str().into()),
        not_before: x509::rfc3339(validity.0),
        not_after: x509::rfc3339(validity.1),
        issued_at: x509::rfc3339(x509::now()),
        cert: Some(abs(&cert_path)),
        files: vec![abs(&cert_path), abs(&key_path)],
        issuer: None,
    });
    plan.run()?;
    Ok(Intermediate {
        name: req.name,
        subject: subject[0].1.clone(),
        serial,
        key_type,
        not_after: validity.1,
        path_len: req.path_len,
        permit: constraints
            .permitted
            .iter()
            .map(ToString::to_string)
            .collect(),
        files: CaFiles {
            cert: cert_path,
            key: key_path,
        },
        default: req.make_default,
        warnings,
    })
}

fn root_cn(root: &Ca) -> String {
    crate::certs::display_name(&root.root_der).unwrap_or_else(|| "minica".into())
}

/// What `issue --csr --sub-ca` asks for: a subordinate CA.
#[derive(Debug, Clone, Default)]
pub struct SubCaRequest {
    pub path_len: u8,
    pub permit: Vec<String>,
}

/// Signs a subordinate CA for the key `spki`, named by the CSR's subject,
/// under `ca`'s policy (`policy.sign_sub_ca` must allow it), its path
/// length and its name constraints. Returns the certificate and serial.
pub fn sign_sub_ca(
    ca: &Ca,
    csr_path: &Path,
    spki: &impl PublicKeyData,
    subject: &[(DnType, String)],
    req: &SubCaRequest,
    days: Option<u32>,
    warnings: &mut Vec<String>,
) -> Result<crate::issue::Signed> {
    if !ca.config.policy.sign_sub_ca {
        return Err(Error::Refused(format!(
            "this CA does not sign subordinate CAs; to let it, set `sign_sub_ca = true` under [policy] in {}",
            ca.config_path.display()
        )));
    }
    if subject.is_empty() {
        return Err(Error::bad_file_fix(
            csr_path,
            "the CSR has no subject to name the CA by",
            "make the CSR with a subject (CN=...)",
        ));
    }
    check_room(ca, req.path_len)?;
    let constraints = constraints_under(&req.permit, ca)?;
    let now = x509::now();
    if now < ca.not_before || now > ca.not_after {
        return Err(Error::Refused(format!(
            "the signing CA is not valid now (valid {} to {})",
            x509::date(ca.not_before),
            x509::date(ca.not_after)
        )));
    }
    let validity = ca_validity(days, ca, now, warnings)?;
    let (params, serial) = ca_params(subject, req.path_len, &constraints, validity)?;
    let cert = params
        .signed_by(spki, &ca.issuer)
        .map_err(|e| ca.signing_failed(e))?;
    Ok(crate::issue::Signed {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        serial,
        not_before: validity.0,
        not_after: validity.1,
        warnings: std::mem::take(warnings),
    })
}

/// The CommonName and Organization of a CSR's subject (control characters
/// and over-long values refused), for a subordinate CA's subject.
pub fn csr_subject(csr_path: &Path, bytes: &[u8]) -> Result<Vec<(DnType, String)>> {
    use x509_parser::certification_request::X509CertificationRequest;
    use x509_parser::prelude::FromDer;
    let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        pem::parse_many(bytes)
            .ok()
            .and_then(|blocks| {
                blocks
                    .into_iter()
                    .find(|b| b.tag().ends_with("CERTIFICATE REQUEST"))
                    .map(|b| b.contents().to_vec())
            })
            .ok_or_else(|| Error::bad_file(csr_path, "holds no certificate signing request"))?
    } else {
        bytes.to_vec()
    };
    let (_, req) = X509CertificationRequest::from_der(&der)
        .map_err(|_| Error::bad_file(csr_path, "the CSR is corrupt"))?;
    let subject = &req.certification_request_info.subject;
    let mut out = Vec::new();
    for (t, attrs) in [
        (
            DnType::CommonName,
            subject.iter_common_name().collect::<Vec<_>>(),
        ),
        (
            DnType::OrganizationName,
            subject.iter_organization().collect(),
        ),
    ] {
        if let Some(a) = attrs.first() {
            let v = a
                .as_str()
                .map_err(|_| Error::bad_file(csr_path, "the CSR's subject is not text"))?;
            if v.is_empty() || v.len() > 64 || v.chars().any(char::is_control) {
                return Err(Error::bad_file(
                    csr_path,
                    "the CSR's subject holds an empty, over-long or control-character value",
                ));
            }
            out.push((t, v.to_string()));
        }
    }
    if !out.iter().any(|(t, _)| *t == DnType::CommonName) {
        out.clear();
    }
    Ok(out)
}

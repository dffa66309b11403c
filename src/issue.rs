//! Leaves: build one from names or a CSR under a profile, sign it with the
//! CA, and write its files and record line as one transaction.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, IsCa, KeyUsagePurpose, PublicKeyData, SerialNumber};
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use time::OffsetDateTime;

use crate::ca::{self, Ca};
use crate::cakey::Unlock;
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::names::Name;
use crate::password::Secret;
use crate::policy::KeyInfo;
use crate::profile::{self, Profile};
use crate::{fsx, record, stores, txn, x509};

/// Apple rejects TLS server certificates valid for longer than this, even
/// under a private root (support.apple.com/HT210176).
pub const APPLE_MAX_DAYS: u32 = 825;

/// X.520 ub-common-name: a CommonName is at most 64 characters.
const MAX_CN_LEN: usize = 64;

/// What to certify and how.
pub struct LeafSpec {
    pub names: Vec<Name>,
    pub profile_name: String,
    pub profile: Profile,
    /// Overrides the profile's lifetime.
    pub days: Option<u32>,
}

/// A signed leaf, before it is written anywhere.
pub struct Signed {
    pub der: Vec<u8>,
    pub pem: String,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Things the user should know that do not stop issuance.
    pub warnings: Vec<String>,
}

/// A request the CA's constraints and policy accepted: what `sign` needs.
/// Only `LeafSpec::check` makes one, so nothing is signed unchecked.
pub struct Checked {
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    warnings: Vec<String>,
}

impl Checked {
    pub(crate) fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    pub(crate) fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The same request valid from `not_before` to `not_after` instead:
    /// for `apply`'s negative fixtures, which are wrong in their dates on
    /// purpose and right in everything the check looked at.
    pub(crate) fn with_window(
        &self,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Checked {
        Checked {
            not_before,
            not_after,
            warnings: self.warnings.clone(),
        }
    }
}

impl LeafSpec {
    /// Checks the request against the CA's constraints and policy before
    /// anything is generated: the notAfter to use and any warnings.
    pub fn check(&self, ca: &Ca, key: &KeyInfo, now: OffsetDateTime) -> Result<Checked> {
        if self.names.is_empty() {
            return Err(Error::usage(
                "give at least one name (a DNS name, IP address, email or URI)",
            ));
        }
        let policy = ca.policy();
        for name in &self.names {
            ca.check_name(name)?;
            policy.check_name(name)?;
        }
        policy.check_key(key)?;
        if now < ca.not_before {
            return Err(Error::Refused(format!(
                "the CA certificate {} is not valid until {}: check this machine's clock, or the clock of the one that made the CA",
                ca.dir.join(ca::CERT_FILE).display(),
                x509::rfc3339(ca.not_before)
            )));
        }
        if now > ca.not_after {
            return Err(Error::Refused(format!(
                "the CA certificate {} expired on {}; create a new CA with `minica init --force`",
                ca.dir.join(ca::CERT_FILE).display(),
                x509::date(ca.not_after)
            )));
        }
        let mut days = x509::check_days(self.days.unwrap_or(self.profile.days))?;
        let mut warnings = Vec::new();
        match policy.rules.max_days {
            Some(max) if self.days.is_none() && days > max => {
                warnings.push(format!(
                    "the profile's {days} days exceed policy.max_days; valid for {max} days"
                ));
                days = max;
            }
            _ => policy.check_days(days)?,
        }
        let (_, mut not_after) = x509::validity_window(now, days)?;
        if not_after > ca.not_after {
            let left = x509::days_left(ca.not_after, now);
            if self.days.is_some() {
                return Err(Error::Refused(format!(
                    "a {days}-day certificate would outlive the CA, which expires on {} ({left} days from now); ask for fewer days",
                    x509::date(ca.not_after),
                )));
            }
            // The profile's default, not the user's explicit wish: shorten it.
            not_after = ca.not_after;
            warnings.push(format!(
                "the CA expires on {}, so this certificate is valid for {left} days instead of the profile's {days}",
                x509::date(ca.not_after)
            ));
        }
        if days > APPLE_MAX_DAYS {
            warnings.push(format!(
                "{days} days is longer than the {APPLE_MAX_DAYS} days Apple platforms accept for TLS certificates"
            ));
        }
        Ok(Checked {
            not_before: now - x509::BACKDATE,
            not_after,
            warnings,
        })
    }

    /// The leaf's parameters, before they are signed by the CA (or, for a
    /// negative fixture, by something else).
    pub(crate) fn params(
        &self,
        ca: &Ca,
        checked: &Checked,
        rsa: bool,
    ) -> Result<CertificateParams> {
        let mut params = CertificateParams::default();
        params.serial_number = Some(SerialNumber::from_slice(&x509::random_serial()?));
        params.not_before = checked.not_before;
        params.not_after = checked.not_after;

        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = self.common_name(ca) {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        let s = &self.profile.subject;
        for (ty, value) in [
            (DnType::OrganizationName, &s.organization),
            (DnType::OrganizationalUnitName, &s.organizational_unit),
            (DnType::CountryName, &s.country),
            (DnType::StateOrProvinceName, &s.state),
            (DnType::LocalityName, &s.locality),
        ] {
            if let Some(v) = value {
                params.distinguished_name.push(ty, v.clone());
            }
        }

        params.subject_alt_names = self.names.iter().map(Name::to_san).collect::<Result<_>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = self
            .profile
            .key_usage
            .iter()
            .map(|k| k.to_rcgen())
            .collect();
        if rsa
            && self.profile.rsa_key_encipherment
            && !params
                .key_usages
                .contains(&KeyUsagePurpose::KeyEncipherment)
        {
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        params.extended_key_usages = self
            .profile
            .extended_key_usage
            .iter()
            .map(|e| e.to_rcgen())
            .collect();
        params.use_authority_key_identifier_extension = true;
        if let Some(url) = &ca.config.issue.crl_url {
            params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
                uris: vec![url.clone()],
            }];
        }
        Ok(params)
    }

    /// The first name is also the CommonName, for tools that still show it,
    /// with two exceptions. Under DNS name constraints, a leaf with no DNS
    /// SAN has its CN checked as a host name by OpenSSL (x509_vfy.c,
    /// check_name_constraints), which an IP address fails: no CN then. And a
    /// name longer than X.520 allows is left out (the SAN carries it).
    fn common_name(&self, ca: &Ca) -> Option<String> {
        let first = self.names.first()?.to_string();
        let has_dns = self.names.iter().any(|n| matches!(n, Name::Dns(_)));
        if (ca.has_dns_constraints() && !has_dns) || first.len() > MAX_CN_LEN {
            return None;
        }
        Some(first)
    }

    /// Signs a leaf for `public_key` under this spec, as `check` allowed.
    pub fn sign(
        &self,
        ca: &Ca,
        public_key: &impl PublicKeyData,
        checked: &Checked,
    ) -> Result<Signed> {
        let params = self.params(ca, checked, keys::is_rsa(public_key))?;
        let cert = params
            .signed_by(public_key, &ca.issuer)
            .map_err(|e| ca.signing_failed(e))?;
        Ok(Signed::of(&params, &cert, checked))
    }
}

impl Signed {
    /// What `params` signed as `cert`.
    pub(crate) fn of(
        params: &CertificateParams,
        cert: &rcgen::Certificate,
        checked: &Checked,
    ) -> Signed {
        let serial = params
            .serial_number
            .as_ref()
            .map(|s| x509::hex(&s.to_bytes()))
            .unwrap_or_default();
        Signed {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            serial,
            not_before: params.not_before,
            not_after: params.not_after,
            warnings: checked.warnings.clone(),
        }
    }
}

/// The files of an issued leaf.
#[derive(Debug, Clone, Serialize)]
pub struct OutFiles {
    pub cert: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    pub chain: PathBuf,
    pub ca: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keystore: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truststore: Option<PathBuf>,
}

impl OutFiles {
    pub fn in_dir(dir: &Path, with_key: bool) -> OutFiles {
        OutFiles {
            cert: dir.join("cert.pem"),
            key: with_key.then(|| dir.join("key.pem")),
            chain: dir.join("chain.pem"),
            ca: dir.join("ca.pem"),
            keystore: None,
            truststore: None,
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &Path> {
        [
            Some(&self.cert),
            self.key.as_ref(),
            Some(&self.chain),
            Some(&self.ca),
            self.keystore.as_ref(),
            self.truststore.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
    }
}

/// The result of issuing, as reported to people and to `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Issued {
    pub names: Vec<Name>,
    pub profile: String,
    /// Type of the key minica made; None for a CSR's key.
    #[serde(skip)]
    pub key_type: Option<KeyType>,
    /// The certified key, described: "ecdsa-p256", "RSA-2048"...; in
    /// `--json` as `key_type` ("rsa-2048"), the one key field (issue #17
    /// found both `key` and `key_type`).
    #[serde(
        rename = "key_type",
        serialize_with = "crate::policy::serialize_type_name"
    )]
    pub key: String,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub files: OutFiles,
    pub warnings: Vec<String>,
}

/// The default output directory: `./<first name>`, `*` written as `_wildcard`.
pub fn default_out_dir(names: &[Name]) -> PathBuf {
    PathBuf::from(names.first().map(Name::dir_name).unwrap_or_default())
}

/// Where the leaf's key comes from.
pub enum KeySource {
    /// A new key of this type [default: ca.toml's issue.key_type].
    New(Option<KeyType>),
    /// The key of the certificate signing request in this file.
    Csr(PathBuf),
}

/// A keystore or truststore to write beside the certificate.
pub struct StoreRequest {
    pub format: stores::Format,
    /// Required for p12 and jks.
    pub password: Option<Secret>,
    pub pkcs12: stores::Pkcs12Options,
}

impl StoreRequest {
    /// The keystore of `entry`, encoded.
    pub fn keystore(&self, entry: &stores::KeyEntry) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        stores::write_keystore(
            self.format,
            entry,
            self.password.as_deref().map(String::as_str),
            self.pkcs12,
        )
    }

    /// A truststore of the root alone, under `alias` [default: the root's name].
    pub fn truststore(
        &self,
        root: &CertificateDer<'static>,
        alias: Option<String>,
    ) -> Result<Vec<u8>> {
        let trusted = [stores::TrustedEntry {
            alias: alias.unwrap_or_else(|| {
                crate::certs::display_name(root)
                    .map(|n| stores::alias_for(&n))
                    .unwrap_or_else(|| "ca".into())
            }),
            cert: root.clone(),
        }];
        stores::write_truststore(
            self.format,
            &trusted,
            self.password.as_deref().map(String::as_str),
            self.pkcs12,
        )
    }
}

/// A keystore's one entry: the key, and the chain leaf, intermediates, root
/// (Java sends what the entry holds, and shows the root as the anchor).
pub(crate) fn keystore_entry(
    ca: &Ca,
    leaf: &[u8],
    key: &keys::LeafKey,
    alias: String,
) -> stores::KeyEntry {
    stores::KeyEntry {
        alias,
        key_pkcs8: zeroize::Zeroizing::new(key.pkcs8_der().to_vec()),
        chain: std::iter::once(CertificateDer::from(leaf.to_vec()))
            .chain(ca.chain.iter().cloned())
            .chain([ca.root_der.clone()])
            .collect(),
    }
}

/// What `minica issue` asks for, before the CA is opened.
pub struct Request {
    /// The names to certify; with a CSR, names added to those it asks for.
    pub names: Vec<Name>,
    pub key: KeySource,
    /// A profile name [default: ca.toml's issue.profile].
    pub profile: Option<String>,
    pub days: Option<u32>,
    /// [default: ./<first name>]
    pub out_dir: Option<PathBuf>,
    pub keystore: Option<StoreRequest>,
    pub truststore: Option<StoreRequest>,
    /// The intermediate that signs [default: ca.toml's issue.issuer, else the root].
    pub issuer: Option<String>,
    /// With a CSR: certify a subordinate CA rather than a leaf.
    pub sub_ca: Option<crate::issuers::SubCaRequest>,
    pub force: bool,
}

/// What opening the CA did besides the command itself.
#[derive(Debug, Clone, Serialize)]
pub struct CaOpened {
    /// A CA was made because there was none.
    pub created: bool,
    pub key_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Interrupted commands that were finished or undone first.
    pub recovered: Vec<txn::Recovered>,
}

impl CaOpened {
    fn new(ca: &Ca, created: bool, session: &ca::Session) -> CaOpened {
        CaOpened {
            created,
            key_type: ca.config.ca.key_type.as_str().to_string(),
            not_after: ca.not_after,
            recovered: session.recovered.clone(),
        }
    }
}

/// The signer for `issuer` (or the default one), making a first root CA
/// when the directory holds none.
fn load_or_create_signer(
    session: &ca::Session,
    issuer: Option<&str>,
    unlock: &Unlock,
) -> Result<(Ca, bool)> {
    if session.state() == ca::State::Empty && issuer.is_none() {
        return session.load_or_create(unlock);
    }
    Ok((session.load_signer(issuer, unlock)?, false))
}

/// A CSR read and checked for form before the CA is opened.
struct CsrInput {
    path: PathBuf,
    req: crate::csr::Request,
}

fn read_csr(path: &Path, for_ca: bool) -> Result<CsrInput> {
    let bytes = fsx::read(path)?;
    Ok(CsrInput {
        path: path.to_path_buf(),
        req: if for_ca {
            crate::csr::read_for_ca(path, &bytes)?
        } else {
            crate::csr::read(path, &bytes)?
        },
    })
}

/// Issues one leaf as one transaction: the CA is opened (and made, when
/// there is none) under its lock; the request is checked against the CA's
/// constraints and policy and every output against what exists, all before
/// anything is signed; then the certificate, key, chain, CA and stores are
/// written and the record line appended together (see [`txn`]).
pub fn issue(dir: &Path, unlock: &Unlock, req: Request) -> Result<(Issued, CaOpened)> {
    // Whatever can be refused without the CA is refused before a first CA is made.
    if let Some(d) = req.days {
        x509::check_days(d)?;
    }
    let csr = match &req.key {
        KeySource::Csr(p) => Some(read_csr(p, req.sub_ca.is_some())?),
        KeySource::New(_) => None,
    };
    if let (Some(sub), Some(c)) = (&req.sub_ca, &csr) {
        return issue_sub_ca(dir, unlock, &req, c, sub);
    }
    if let Some(p) = &req.profile {
        profile::load(p, dir)?;
    }
    let mut names = match &csr {
        Some(c) => c.req.names.clone(),
        None => Vec::new(),
    };
    for n in &req.names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    if names.len() > crate::names::MAX_NAMES {
        return Err(crate::names::too_many(names.len()));
    }
    if names.is_empty() {
        return Err(match &csr {
            Some(c) => Error::bad_file_fix(
                &c.path,
                "the CSR names nothing to certify (no subjectAltName and no CommonName)",
                "add names with --san",
            ),
            None => Error::usage("give at least one name (a DNS name, IP address, email or URI)"),
        });
    }
    let out_dir = req
        .out_dir
        .clone()
        .unwrap_or_else(|| default_out_dir(&names));
    let mut files = OutFiles::in_dir(&out_dir, csr.is_none());
    files.keystore = req
        .keystore
        .as_ref()
        .map(|s| out_dir.join(format!("keystore.{}", s.format.extension())));
    files.truststore = req
        .truststore
        .as_ref()
        .map(|s| out_dir.join(format!("truststore.{}", s.format.extension())));
    let replace = txn::Replace::from_force(req.force);
    let targets: Vec<(PathBuf, txn::Replace)> =
        files.all().map(|p| (p.to_path_buf(), replace)).collect();
    // Checked once before the lock, so that an existing output is refused
    // before a first CA or a key is made, and again by the plan under the
    // lock before anything is written: a file created in between costs only
    // the signing (a third check here was 1% of an issue).
    txn::check_outputs(&targets)?;

    let session = ca::Session::open(dir, true)?;
    let (ca, created) = load_or_create_signer(&session, req.issuer.as_deref(), unlock)?;
    let opened = CaOpened::new(&ca, created, &session);
    let profile_name = req
        .profile
        .clone()
        .unwrap_or_else(|| ca.config.issue.profile.clone());
    let (profile, _) = profile::load(&profile_name, dir)?;
    let spec = LeafSpec {
        names,
        profile_name,
        profile,
        days: req.days,
    };
    let now = x509::now();

    let (signed, key, key_info, mut warnings) = match (&req.key, &csr) {
        (_, Some(c)) => {
            check_csr(&ca, c)?;
            let spki = rcgen::SubjectPublicKeyInfo::from_der(&c.req.spki_der).map_err(|_| {
                Error::bad_file(
                    &c.path,
                    format!("the CSR's key ({}) is not supported", c.req.key),
                )
            })?;
            let checked = spec.check(&ca, &c.req.key, now)?;
            let signed = spec.sign(&ca, &spki, &checked)?;
            (
                signed,
                None,
                c.req.key.clone(),
                c.req.dropped(&spec.profile),
            )
        }
        (KeySource::New(kt), None) => {
            let key_type = kt.unwrap_or(ca.config.issue.key_type);
            let info = KeyInfo::of_type(key_type);
            let checked = spec.check(&ca, &info, now)?;
            let key = key_type.generate_leaf()?;
            let signed = spec.sign(&ca, &key, &checked)?;
            (signed, Some((key_type, key)), info, Vec::new())
        }
        (KeySource::Csr(_), None) => unreachable!("the CSR was read above"),
    };
    warnings.extend(signed.warnings.iter().cloned());

    let mut plan = txn::Plan::in_ca(dir);
    let leaf = add_leaf_files(
        &mut plan,
        &ca,
        &files,
        &signed,
        key.as_ref().map(|(_, k)| k),
        replace,
    );
    if let (Some(s), Some(path), Some((_, k))) = (&req.keystore, &files.keystore, &key) {
        let entry = keystore_entry(&ca, &leaf, k, stores::alias_for(&spec.names[0].to_string()));
        plan.write(path, s.keystore(&entry)?.to_vec(), fsx::PRIVATE, replace);
    }
    if let (Some(s), Some(path)) = (&req.truststore, &files.truststore) {
        plan.write(
            path,
            s.truststore(&ca.root_der, None)?,
            fsx::PUBLIC,
            replace,
        );
    }
    let issued = Issued {
        names: spec.names.clone(),
        profile: spec.profile_name.clone(),
        key_type: key.as_ref().map(|(t, _)| *t),
        key: key_info.to_string(),
        serial: signed.serial.clone(),
        not_before: signed.not_before,
        not_after: signed.not_after,
        files,
        warnings,
    };
    plan.record(record_entry(&issued, &ca));
    plan.run()?;
    Ok((issued, opened))
}

/// Checks what a CSR's owner asks of this CA before anything is signed: a
/// key the policy accepts, a signature that verifies, a key of its own.
fn check_csr(ca: &Ca, c: &CsrInput) -> Result<()> {
    // The key first: a weak key is refused for being weak, not because its
    // signature cannot be checked.
    ca.policy().check_key(&c.req.key)?;
    if let Err(why) = &c.req.signature {
        return Err(Error::bad_file_fix(
            &c.path,
            format!("{why}: the CSR was altered or is corrupt"),
            "make the CSR again",
        ));
    }
    if c.req.spki_der == ca.spki || c.req.spki_der == ca.root_spki() {
        return Err(Error::bad_file_fix(
            &c.path,
            "the CSR carries the CA's own public key; a certificate must have a key of its own",
            "make the CSR with a new key (`minica csr`)",
        ));
    }
    Ok(())
}

/// `issue --csr --sub-ca`: a subordinate CA for someone else's key, named by
/// the CSR's subject, with cert.pem, chain.pem (it and the intermediates
/// above it) and ca.pem written as one transaction.
fn issue_sub_ca(
    dir: &Path,
    unlock: &Unlock,
    req: &Request,
    c: &CsrInput,
    sub: &crate::issuers::SubCaRequest,
) -> Result<(Issued, CaOpened)> {
    let bytes = fsx::read(&c.path)?;
    let subject = crate::issuers::csr_subject(&c.path, &bytes)?;
    let cn = subject
        .iter()
        .find(|(t, _)| *t == DnType::CommonName)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let out_dir = req.out_dir.clone().unwrap_or_else(|| {
        PathBuf::from(
            cn.chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '_') {
                        ch
                    } else {
                        '_'
                    }
                })
                .collect::<String>(),
        )
    });
    let files = OutFiles::in_dir(&out_dir, false);
    let replace = txn::Replace::from_force(req.force);
    let targets: Vec<(PathBuf, txn::Replace)> =
        files.all().map(|p| (p.to_path_buf(), replace)).collect();
    txn::check_outputs(&targets)?;
    let session = ca::Session::open(dir, false)?;
    // A sub-CA is signed by the root unless --issuer names an intermediate:
    // ca.toml's default issuer signs leaves (and `init --permit` makes it
    // pathlen 0, under which no CA would be valid).
    let ca = match req.issuer.as_deref() {
        Some(name) => session.load_signer(Some(name), unlock)?,
        None => session.load(unlock)?,
    };
    let opened = CaOpened::new(&ca, false, &session);
    check_csr(&ca, c)?;
    let spki = rcgen::SubjectPublicKeyInfo::from_der(&c.req.spki_der).map_err(|_| {
        Error::bad_file(
            &c.path,
            format!("the CSR's key ({}) is not supported", c.req.key),
        )
    })?;
    let mut warnings = Vec::new();
    let signed =
        crate::issuers::sign_sub_ca(&ca, &c.path, &spki, &subject, sub, req.days, &mut warnings)?;
    let mut plan = txn::Plan::in_ca(dir);
    add_leaf_files(&mut plan, &ca, &files, &signed, None, replace);
    let issued = Issued {
        names: Vec::new(),
        profile: "sub-ca".into(),
        key_type: None,
        key: c.req.key.to_string(),
        serial: signed.serial.clone(),
        not_before: signed.not_before,
        not_after: signed.not_after,
        files,
        warnings: signed.warnings.clone(),
    };
    let mut entry = record_entry(&issued, &ca);
    entry.names = vec![cn];
    plan.record(entry);
    plan.run()?;
    Ok((issued, opened))
}

/// Adds cert.pem, chain.pem, ca.pem and key.pem to a plan; returns the leaf's DER.
pub(crate) fn add_leaf_files(
    plan: &mut txn::Plan,
    ca: &Ca,
    files: &OutFiles,
    signed: &Signed,
    key: Option<&keys::LeafKey>,
    replace: txn::Replace,
) -> CertificateDer<'static> {
    for (path, bytes, mode) in leaf_files(ca, files, signed, key) {
        plan.write(path, bytes, mode, replace);
    }
    CertificateDer::from(signed.der.clone())
}

/// What a leaf's files hold: (path, bytes, mode) for cert.pem, chain.pem,
/// ca.pem and, given a key, key.pem.
fn leaf_files<'a>(
    ca: &Ca,
    files: &'a OutFiles,
    signed: &Signed,
    key: Option<&keys::LeafKey>,
) -> Vec<(&'a Path, Vec<u8>, u32)> {
    // chain.pem is what a server presents: the leaf, then the
    // intermediates, never the root itself (RFC 8446 4.4.2: it may be left
    // out, and clients must not rely on it).
    let mut chain = signed.pem.clone();
    for c in &ca.chain {
        chain.push_str(&keys::pem_encode("CERTIFICATE", c.to_vec()));
    }
    let mut out = vec![
        (
            files.cert.as_path(),
            signed.pem.as_bytes().to_vec(),
            fsx::PUBLIC,
        ),
        (files.chain.as_path(), chain.into_bytes(), fsx::PUBLIC),
        (
            files.ca.as_path(),
            ca.root_pem.as_bytes().to_vec(),
            fsx::PUBLIC,
        ),
    ];
    if let (Some(path), Some(k)) = (&files.key, key) {
        out.push((path.as_path(), k.pkcs8_pem().into_bytes(), fsx::PRIVATE));
    }
    out
}

pub(crate) fn record_entry(issued: &Issued, ca: &Ca) -> record::Entry {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    record::Entry {
        serial: issued.serial.clone(),
        names: issued.names.iter().map(Name::to_string).collect(),
        profile: issued.profile.clone(),
        key_type: Some(issued.key.clone()),
        not_before: x509::rfc3339(issued.not_before),
        not_after: x509::rfc3339(issued.not_after),
        issued_at: x509::rfc3339(x509::now()),
        cert: Some(abs(&issued.files.cert)),
        files: issued.files.all().map(abs).collect(),
        issuer: ca.name.clone(),
    }
}

/// What `minica batch` asks for.
pub struct BatchRequest {
    /// Lines of names, or a TOML manifest (see [`crate::manifest`]).
    pub file: PathBuf,
    /// Every output goes under this directory.
    pub base: PathBuf,
    pub key_type: Option<KeyType>,
    pub profile: Option<String>,
    pub days: Option<u32>,
    /// Threads for key generation and signing [default: the cores].
    pub jobs: Option<usize>,
    pub force: bool,
}

/// The most threads a batch starts, whatever `--jobs` says.
pub const MAX_JOBS: usize = 256;

/// Issues every certificate of a batch file as one transaction: every
/// entry is checked (names, profile, policy, outputs, paths confined under
/// the base directory) before any key is made; keys are made and signed on
/// `jobs` threads; then all files and record lines are written together,
/// flushed by one syncfs per file system rather than an fsync per file.
pub fn batch(dir: &Path, unlock: &Unlock, req: BatchRequest) -> Result<(Vec<Issued>, CaOpened)> {
    batch_with_progress(dir, unlock, req, crate::progress::SILENT)
}

/// [`batch`], telling `progress` as each certificate is signed (the
/// files are written together after the last one).
pub fn batch_with_progress(
    dir: &Path,
    unlock: &Unlock,
    req: BatchRequest,
    progress: &dyn crate::progress::Progress,
) -> Result<(Vec<Issued>, CaOpened)> {
    let bytes = fsx::read(&req.file)?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::bad_file(&req.file, "is not UTF-8 text"))?;
    let entries = crate::manifest::parse(&req.file, &text)?;
    if let Some(d) = req.days {
        x509::check_days(d)?;
    }
    let at =
        |n: usize, err: Error| Error::bad_file(&req.file, format!("certificate {}: {err}", n + 1));
    // Every name and path is checked before anything is created, even a first CA.
    let mut prepared = Vec::with_capacity(entries.len());
    let mut resolver = txn::Resolver::default();
    for (n, e) in entries.into_iter().enumerate() {
        let names = crate::names::parse_all(&e.names).map_err(|err| at(n, err))?;
        if let Some(d) = e.days {
            x509::check_days(d).map_err(|err| at(n, err))?;
        }
        let rel = e.out.clone().unwrap_or_else(|| default_out_dir(&names));
        let out_dir = resolver
            .confine(&req.base, &rel, "out")
            .map_err(|err| at(n, err))?;
        prepared.push((e, names, out_dir));
    }
    let replace = txn::Replace::from_force(req.force);
    let targets: Vec<(PathBuf, txn::Replace)> = prepared
        .iter()
        .flat_map(|(_, _, d)| {
            OutFiles::in_dir(d, true)
                .all()
                .map(|p| (p.to_path_buf(), replace))
                .collect::<Vec<_>>()
        })
        .collect();
    txn::check_outputs(&targets)?;

    let session = ca::Session::open(dir, true)?;
    let (ca, created) = load_or_create_signer(&session, None, unlock)?;
    let opened = CaOpened::new(&ca, created, &session);
    let now = x509::now();
    let mut profiles = std::collections::HashMap::new();
    let mut items = Vec::with_capacity(prepared.len());
    for (n, (e, names, out_dir)) in prepared.into_iter().enumerate() {
        let profile_name = e
            .profile
            .or(req.profile.clone())
            .unwrap_or_else(|| ca.config.issue.profile.clone());
        if !profiles.contains_key(&profile_name) {
            let p = profile::load(&profile_name, dir)
                .map_err(|err| at(n, err))?
                .0;
            profiles.insert(profile_name.clone(), p);
        }
        let spec = LeafSpec {
            names,
            profile: profiles[&profile_name].clone(),
            profile_name,
            days: e.days.or(req.days),
        };
        let key_type = e
            .key_type
            .or(req.key_type)
            .unwrap_or(ca.config.issue.key_type);
        let checked = spec
            .check(&ca, &KeyInfo::of_type(key_type), now)
            .map_err(|err| at(n, err))?;
        items.push((spec, key_type, out_dir, checked));
    }
    // The outputs are checked again, under the CA's lock, when the plan
    // runs (before anything is written): a check here too cost 10 ms of a
    // 2,000-leaf batch, to save only signing work in a lost race.

    let jobs = req
        .jobs
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, MAX_JOBS)
        .min(items.len());
    // Each leaf's files and record line are made on the thread that
    // signed it: serially they were 12-18 ms of a 2,000-leaf batch.
    let leaves = sign_all(
        &ca,
        &items,
        jobs,
        progress,
        |(spec, key_type, out_dir, _), signed, key| {
            let files = OutFiles::in_dir(out_dir, true);
            let outputs: Vec<(PathBuf, Vec<u8>, u32)> =
                leaf_files(&ca, &files, &signed, Some(&key))
                    .into_iter()
                    .map(|(p, b, m)| (p.to_path_buf(), b, m))
                    .collect();
            let issued = Issued {
                names: spec.names.clone(),
                profile: spec.profile_name.clone(),
                key_type: Some(*key_type),
                key: KeyInfo::of_type(*key_type).to_string(),
                serial: signed.serial.clone(),
                not_before: signed.not_before,
                not_after: signed.not_after,
                files,
                warnings: signed.warnings,
            };
            let entry = record_entry(&issued, &ca);
            (issued, outputs, entry)
        },
    )?;
    let mut plan = txn::Plan::in_ca(dir).deferred_durability();
    let mut issued_all = Vec::with_capacity(items.len());
    for (issued, outputs, entry) in leaves {
        for (path, bytes, mode) in outputs {
            plan.write(&path, bytes, mode, replace);
        }
        plan.record(entry);
        issued_all.push(issued);
    }
    plan.run()?;
    Ok((issued_all, opened))
}

type BatchItem = (LeafSpec, KeyType, PathBuf, Checked);

/// Makes keys, signs, and hands each item's certificate and key to `then`,
/// on `jobs` threads (fewer if the system will not start more: the calling
/// thread always works too). Results are in the items' order.
fn sign_all<T: Send>(
    ca: &Ca,
    items: &[BatchItem],
    jobs: usize,
    progress: &dyn crate::progress::Progress,
    then: impl Fn(&BatchItem, Signed, keys::LeafKey) -> T + Sync,
) -> Result<Vec<T>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<T>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                break;
            };
            let (spec, key_type, _, checked) = item;
            // Every core already works on an item: no racing within one.
            let r = key_type
                .generate_leaf_here()
                .and_then(|key| Ok((spec.sign(ca, &key, checked)?, key)))
                .map(|(signed, key)| then(item, signed, key));
            *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            progress.update(done.fetch_add(1, Ordering::Relaxed) + 1, items.len());
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..jobs {
            if std::thread::Builder::new()
                .spawn_scoped(scope, work)
                .is_err()
            {
                break;
            }
        }
        work();
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| {
                    Err(Error::Crypto(
                        "internal error: an item was not signed".into(),
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_that_is_not_valid_yet_signs_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        let cfg = crate::config::CaConfig::default();
        let mut ca = ca::create(&dir, &cfg, false, &Unlock::default())
            .unwrap()
            .ca;
        let now = x509::now();
        // A CA made on a machine whose clock runs a day ahead.
        ca.not_before = now + time::Duration::days(1);
        let spec = LeafSpec {
            names: vec![Name::parse("a.test").unwrap()],
            profile_name: "server".into(),
            profile: profile::load("server", &dir).unwrap().0,
            days: None,
        };
        let err = spec
            .check(&ca, &KeyInfo::of_type(KeyType::EcdsaP256), now)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("not valid until"), "{err}");
    }
}

//! Leaves: build one from names under a profile, sign it with the CA, write
//! its files and record it.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, IsCa, KeyUsagePurpose, PublicKeyData, SerialNumber};
use serde::Serialize;
use time::OffsetDateTime;

use crate::ca::{self, Ca};
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::names::Name;
use crate::policy::KeyInfo;
use crate::profile::Profile;
use crate::{fsx, record, x509};

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
    now: OffsetDateTime,
    not_after: OffsetDateTime,
    warnings: Vec<String>,
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
            ca.constraints.check(name)?;
            policy.check_name(name)?;
        }
        policy.check_key(key)?;
        if now > ca.not_after {
            return Err(Error::Refused(format!(
                "the CA certificate {} expired on {}; create a new CA with `minica init --force`",
                ca.dir.join(ca::CERT_FILE).display(),
                x509::date(ca.not_after)
            )));
        }
        let mut days = self.days.unwrap_or(self.profile.days);
        if days == 0 {
            return Err(Error::usage("--days must be at least 1"));
        }
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
        let (_, mut not_after) = x509::validity_window(now, days);
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
            now,
            not_after,
            warnings,
        })
    }

    fn params(
        &self,
        ca: &Ca,
        not_after: OffsetDateTime,
        now: OffsetDateTime,
        rsa: bool,
    ) -> Result<CertificateParams> {
        let mut params = CertificateParams::default();
        params.serial_number = Some(SerialNumber::from_slice(&x509::random_serial()?));
        params.not_before = now - x509::BACKDATE;
        params.not_after = not_after;

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
        if (ca.constraints.has_dns() && !has_dns) || first.len() > MAX_CN_LEN {
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
        let params = self.params(ca, checked.not_after, checked.now, keys::is_rsa(public_key))?;
        let cert = params.signed_by(public_key, &ca.issuer)?;
        let serial = params
            .serial_number
            .as_ref()
            .map(|s| x509::hex(&s.to_bytes()))
            .unwrap_or_default();
        Ok(Signed {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            serial,
            not_before: params.not_before,
            not_after: params.not_after,
            warnings: checked.warnings.clone(),
        })
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
}

impl OutFiles {
    pub fn in_dir(dir: &Path, with_key: bool) -> OutFiles {
        OutFiles {
            cert: dir.join("cert.pem"),
            key: with_key.then(|| dir.join("key.pem")),
            chain: dir.join("chain.pem"),
            ca: dir.join("ca.pem"),
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &Path> {
        [
            Some(&self.cert),
            self.key.as_ref(),
            Some(&self.chain),
            Some(&self.ca),
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<KeyType>,
    /// The certified key, described: "ecdsa-p256", "RSA-2048"...
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

/// Makes a new key, signs a leaf for it, writes cert.pem, key.pem (0600),
/// chain.pem and ca.pem into `out_dir`, and records it. Nothing is written
/// if any of the files exists and `force` is not set.
pub fn issue_with_new_key(
    ca: &Ca,
    spec: &LeafSpec,
    key_type: KeyType,
    out_dir: &Path,
    force: bool,
) -> Result<Issued> {
    let info = KeyInfo::of_type(key_type);
    let checked = spec.check(ca, &info, x509::now())?;
    let files = OutFiles::in_dir(out_dir, true);
    fsx::refuse_existing(files.all(), force, None)?;
    let key = key_type.generate()?;
    let signed = spec.sign(ca, &key, &checked)?;
    let key_pem = keys::pkcs8_pem(&key);
    write_and_record(
        ca,
        spec,
        signed,
        Some((key_type, key_pem)),
        &info,
        files,
        force,
    )
}

/// A signed leaf with everything needed to put it on disk and in the record.
/// The private key's bytes are wiped when it is dropped.
struct Prepared {
    files: Vec<(PathBuf, Vec<u8>, u32)>,
    entry: record::Entry,
    issued: Issued,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for (_, bytes, mode) in &mut self.files {
            if *mode == fsx::PRIVATE {
                bytes.zeroize();
            }
        }
    }
}

fn prepare(
    ca: &Ca,
    spec: &LeafSpec,
    signed: Signed,
    key: Option<(KeyType, String)>,
    key_info: &KeyInfo,
    files: OutFiles,
) -> Prepared {
    // chain.pem is what a server presents: the leaf, then intermediates
    // (none yet: minica signs with its root), never the root itself.
    let mut out = vec![
        (
            files.cert.clone(),
            signed.pem.clone().into_bytes(),
            fsx::PUBLIC,
        ),
        (
            files.chain.clone(),
            signed.pem.clone().into_bytes(),
            fsx::PUBLIC,
        ),
        (
            files.ca.clone(),
            ca.cert_pem.clone().into_bytes(),
            fsx::PUBLIC,
        ),
    ];
    let key_type = key.as_ref().map(|(t, _)| *t);
    if let (Some(path), Some((_, pem))) = (&files.key, key) {
        out.push((path.clone(), pem.into_bytes(), fsx::PRIVATE));
    }
    let cert_abs = std::path::absolute(&files.cert).unwrap_or_else(|_| files.cert.clone());
    let entry = record::Entry {
        serial: signed.serial.clone(),
        names: spec.names.iter().map(Name::to_string).collect(),
        profile: spec.profile_name.clone(),
        key_type: Some(key_info.to_string()),
        not_before: x509::rfc3339(signed.not_before),
        not_after: x509::rfc3339(signed.not_after),
        issued_at: x509::rfc3339(x509::now()),
        cert: Some(cert_abs),
    };
    let issued = Issued {
        names: spec.names.clone(),
        profile: spec.profile_name.clone(),
        key_type,
        key: key_info.to_string(),
        serial: signed.serial,
        not_before: signed.not_before,
        not_after: signed.not_after,
        files,
        warnings: signed.warnings,
    };
    Prepared {
        files: out,
        entry,
        issued,
    }
}

/// Writes a signed leaf's files and records it, under the CA's lock.
pub fn write_and_record(
    ca: &Ca,
    spec: &LeafSpec,
    signed: Signed,
    key: Option<(KeyType, String)>,
    key_info: &KeyInfo,
    files: OutFiles,
    force: bool,
) -> Result<Issued> {
    fsx::create_dir(fsx::parent_dir(&files.cert))?;
    let p = prepare(ca, spec, signed, key, key_info, files);
    let _lock = ca::lock(&ca.dir)?;
    fsx::refuse_existing(p.files.iter().map(|(f, _, _)| f.as_path()), force, None)?;
    // The record line reaches the disk before any file gets its name: a
    // crash in between leaves an entry whose files are missing (which
    // `minica list` reports), never a certificate the record does not know.
    // The two syncs overlap; the files stay nameless until both are done.
    let (recorded, staged) = std::thread::scope(|scope| {
        let record = scope.spawn(|| record::append(&ca.dir, &p.entry));
        let staged = fsx::stage_all(&p.files, fsx::Durability::Now);
        (record.join().expect("recording does not panic"), staged)
    });
    recorded?;
    fsx::commit_all(staged?, force)?;
    Ok(p.issued.clone())
}

/// One certificate of a batch.
pub struct BatchItem {
    pub spec: LeafSpec,
    pub key_type: KeyType,
    pub out_dir: PathBuf,
}

/// Issues many leaves in one process: every item is checked before any key
/// is made; then `jobs` threads make keys, sign and write, and the record
/// gets one line per certificate through one open handle, synced once.
/// Files are flushed to disk by one syncfs at the end rather than an fsync
/// each (see fsx::Durability::Deferred).
pub fn issue_batch(
    ca: &Ca,
    items: Vec<BatchItem>,
    force: bool,
    jobs: usize,
) -> Result<Vec<Issued>> {
    let now = x509::now();
    let mut seen = std::collections::HashSet::new();
    let mut checked = Vec::with_capacity(items.len());
    for item in &items {
        checked.push(item.spec.check(ca, &KeyInfo::of_type(item.key_type), now)?);
        let files = OutFiles::in_dir(&item.out_dir, true);
        fsx::refuse_existing(files.all(), force, None)?;
        if !seen.insert(item.out_dir.clone()) {
            return Err(Error::usage(format!(
                "two certificates of the batch would be written to {}; give them different first names or out directories",
                item.out_dir.display()
            )));
        }
    }
    let _lock = ca::lock(&ca.dir)?;
    let recorder = record::Appender::open(&ca.dir)?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Issued>>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = (|| {
                        let info = KeyInfo::of_type(item.key_type);
                        let key = item.key_type.generate()?;
                        let signed = item.spec.sign(ca, &key, &checked[i])?;
                        let files = OutFiles::in_dir(&item.out_dir, true);
                        fsx::create_dir(fsx::parent_dir(&files.cert))?;
                        let key_pem = keys::pkcs8_pem(&key);
                        let p = prepare(
                            ca,
                            &item.spec,
                            signed,
                            Some((item.key_type, key_pem)),
                            &info,
                            files,
                        );
                        recorder.append(&p.entry)?;
                        fsx::write_all_with(&p.files, force, fsx::Durability::Deferred)?;
                        Ok(p.issued.clone())
                    })();
                    *results[i].lock().expect("no worker panics") = Some(result);
                }
            });
        }
    });
    recorder.finish()?;
    fsx::sync_filesystems(items.iter().map(|i| fsx::parent_dir(&i.out_dir)))?;
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .expect("no worker panics")
                .expect("every item ran")
        })
        .collect()
}

/// Signs the CSR in `csr_path` under `spec`'s profile, adding `spec.names`
/// after the names the CSR asks for, and writes cert.pem, chain.pem and ca.pem (there is no
/// key: it stays with the CSR's owner) into `out_dir`, default
/// `./<first name>`. The CSR's own signature must verify; its key must pass
/// the policy; only its key and names are used.
pub fn issue_from_csr(
    ca: &Ca,
    csr_path: &Path,
    mut spec: LeafSpec,
    out_dir: Option<PathBuf>,
    force: bool,
) -> Result<Issued> {
    let bytes = fsx::read(csr_path)?;
    let req = crate::csr::read(csr_path, &bytes)?;
    // The key first: a weak key is refused for being weak, not because its
    // signature cannot be checked.
    ca.policy().check_key(&req.key)?;
    if let Err(why) = &req.signature {
        return Err(Error::bad_file_fix(
            csr_path,
            format!("{why}: the CSR was altered or is corrupt"),
            "make the CSR again",
        ));
    }
    let mut names = req.names.clone();
    for n in spec.names.drain(..) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    spec.names = names;
    if spec.names.is_empty() {
        return Err(Error::bad_file_fix(
            csr_path,
            "the CSR names nothing to certify (no subjectAltName and no CommonName)",
            "add names with --name",
        ));
    }
    let spki = rcgen::SubjectPublicKeyInfo::from_der(&req.spki_der).map_err(|_| {
        Error::bad_file(
            csr_path,
            format!("the CSR's key ({}) is not supported", req.key),
        )
    })?;
    let out_dir = out_dir.unwrap_or_else(|| default_out_dir(&spec.names));
    let files = OutFiles::in_dir(&out_dir, false);
    let checked = spec.check(ca, &req.key, x509::now())?;
    fsx::refuse_existing(files.all(), force, None)?;
    let mut signed = spec.sign(ca, &spki, &checked)?;
    let mut warnings = req.dropped(&spec.profile);
    warnings.append(&mut signed.warnings);
    signed.warnings = warnings;
    write_and_record(ca, &spec, signed, None, &req.key, files, force)
}

//! `minica apply`: a whole test environment from one manifest, idempotently.
//!
//! Each run reads what is on disk, judges every declared certificate, key
//! and store against its entry (names, profile, key type, issuer, fault,
//! lifetime left, store format, password and content), and then writes
//! only what is missing or out of date, all in one transaction (see
//! [`crate::txn`]): a killed `apply` leaves the old state or the new one.
//! Judging needs only certificates, never a CA key, so `--check` runs in CI
//! without a passphrase. What is judged up to date is not written again:
//! its bytes and times stay as they are.

pub mod fixture;
pub mod manifest;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
use zeroize::Zeroizing;

use crate::ca::{self, Ca, SignerCerts};
use crate::cakey::Unlock;
use crate::error::{Error, Result};
use crate::issue::{self, CaOpened, Issued, OutFiles};
use crate::keys::{self, KeyType};
use crate::names::Name;
use crate::password;
use crate::policy::KeyInfo;
use crate::profile::{self, KeyUsage, Profile};
use crate::stores::{self, Format, Pkcs12Options};
use crate::{fsx, record, txn, x509};

pub use manifest::Fault;

/// What `minica apply` asks for.
pub struct Request {
    pub manifest: PathBuf,
    /// Every path in the manifest is under this [default: the manifest's directory].
    pub base: Option<PathBuf>,
    /// The CA directory given on the command line or in MINICA_CA_DIR.
    pub ca_dir: Option<PathBuf>,
    /// Judge and report only; change nothing.
    pub check: bool,
    /// Replace files at declared paths that minica did not write.
    pub force: bool,
}

/// What was (or, with `--check`, would be) done to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Up to date: nothing written.
    Unchanged,
    /// Nothing was there: made.
    Create,
    /// It expires within renew_before: signed again.
    Renew,
    /// It no longer matches its entry: signed again.
    Reissue,
    /// The certificate is right, some files beside it were not: written again.
    Rewrite,
}

/// One certificate entry's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct CertificateOutcome {
    pub out: PathBuf,
    pub names: Vec<Name>,
    pub fault: Option<Fault>,
    pub action: Action,
    /// Why, one sentence each; empty when unchanged.
    pub reasons: Vec<String>,
    /// The files written (or that would be).
    pub files: Vec<PathBuf>,
    /// The certificate's serial after the run (absent with --check when it would be made).
    pub serial: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub not_after: Option<OffsetDateTime>,
}

/// One standalone truststore's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TruststoreOutcome {
    pub path: PathBuf,
    pub action: Action,
    pub reasons: Vec<String>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub ca_dir: PathBuf,
    pub base: PathBuf,
    /// `--check`: nothing was written.
    pub checked_only: bool,
    /// A CA was (or, with --check, would be) made because there was none.
    pub ca_created: bool,
    pub certificates: Vec<CertificateOutcome>,
    pub truststores: Vec<TruststoreOutcome>,
    #[serde(skip)]
    pub opened: Option<CaOpened>,
}

impl Applied {
    /// Whether anything was (or would be) changed.
    pub fn changed(&self) -> bool {
        self.ca_created
            || self
                .certificates
                .iter()
                .any(|c| c.action != Action::Unchanged)
            || self
                .truststores
                .iter()
                .any(|t| t.action != Action::Unchanged)
    }
}

/// A store as the manifest wants it, with its password in hand.
struct StoreTarget {
    path: PathBuf,
    alias: Option<String>,
    store: issue::StoreRequest,
}

/// The key a certificate entry wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WantedKey {
    Type(KeyType),
    /// weak_key: RSA-1024.
    WeakRsa,
}

impl WantedKey {
    fn info(self) -> KeyInfo {
        match self {
            WantedKey::Type(t) => KeyInfo::of_type(t),
            WantedKey::WeakRsa => KeyInfo {
                algorithm: "rsa".into(),
                bits: crate::weak_key::WEAK_RSA_BITS,
                rsa_exponent: Some(65_537),
            },
        }
    }
}

/// A certificate entry, resolved: everything the judge and the signer need.
struct Target {
    /// The out directory as the manifest names it, for people.
    label: PathBuf,
    /// The entry's names: those a client connects to.
    names: Vec<Name>,
    /// The names the certificate carries (other ones for wrong_host).
    cert_names: Vec<Name>,
    profile_name: String,
    /// Loaded once the CA (and its profiles directory) is open.
    profile: Option<Profile>,
    key: WantedKey,
    days: Option<u32>,
    issuer: Option<String>,
    fault: Option<Fault>,
    files: OutFiles,
    /// revoked: the CRL written beside the certificate.
    crl: Option<PathBuf>,
    /// wrong_ca: the throwaway CA's certificate, written so a test can show
    /// the leaf is right under it.
    throwaway: Option<PathBuf>,
    keystore: Option<StoreTarget>,
    truststore: Option<StoreTarget>,
}

impl Target {
    /// Its chain is the leaf alone (see [`Fault::outside_the_ca`]).
    fn alone(&self) -> bool {
        self.fault.is_some_and(Fault::outside_the_ca)
    }
}

/// The most a manifest may be: it is a hand-written file.
const MAX_MANIFEST: u64 = 4 << 20;

/// Applies the manifest (see the module comment), telling `progress` as
/// each out-of-date entry is signed or written.
pub fn apply(
    unlock: &Unlock,
    req: Request,
    progress: &dyn crate::progress::Progress,
) -> Result<Applied> {
    let bytes = match fsx::read_nofollow(&req.manifest, MAX_MANIFEST) {
        // A manifest the user named that is not there is bad input (exit
        // 2), as for batch's file (fsx::read), not a failure.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::bad_file(&req.manifest, "no such file"));
        }
        r => r?,
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::bad_file(&req.manifest, "is not UTF-8 text; expected TOML"))?;
    let m = manifest::parse(&req.manifest, &text)?;
    let base = match &req.base {
        Some(b) => b.clone(),
        None => match req.manifest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    let at = |what: String, err: Error| Error::bad_file(&req.manifest, format!("{what}: {err}"));
    let renew_before = match &m.renew_before {
        Some(s) => crate::verify::parse_duration(s).ok_or_else(|| {
            Error::bad_file_fix(
                &req.manifest,
                format!("renew_before = {s:?} is not a duration"),
                "write it as 30d, 2weeks or 1month",
            )
        })?,
        None => Duration::days(30),
    };
    let ca_dir = match (&m.ca_dir, &req.ca_dir) {
        (Some(_), Some(given)) => {
            return Err(Error::usage(format!(
                "{} sets ca_dir, and --ca-dir (or MINICA_CA_DIR) says {}: drop one",
                req.manifest.display(),
                given.display()
            )));
        }
        (Some(rel), None) => {
            txn::confine(&base, rel, "ca_dir").map_err(|e| at("ca_dir".into(), e))?
        }
        (None, Some(given)) => given.clone(),
        (None, None) => ca::default_dir()?,
    };
    let d = &m.defaults;
    if let Some(days) = d.days {
        x509::check_days(days).map_err(|e| at("defaults".into(), e))?;
    }

    // Every name, path and password is read before the CA is opened or made.
    let mut targets = Vec::with_capacity(m.certificate.len());
    let mut seen: Vec<PathBuf> = Vec::new();
    for (n, e) in m.certificate.iter().enumerate() {
        let what = || format!("certificate {}", n + 1);
        let names = crate::names::parse_all(&e.names).map_err(|err| at(what(), err))?;
        if let Some(days) = e.days {
            x509::check_days(days).map_err(|err| at(what(), err))?;
        }
        let label = e
            .out
            .clone()
            .unwrap_or_else(|| issue::default_out_dir(&names));
        let out = txn::confine(&base, &label, "out").map_err(|err| at(what(), err))?;
        let fault = e.fault;
        let mut files = OutFiles::in_dir(&out, true);
        let keystore = e
            .keystore
            .as_ref()
            .map(|s| store_target(&base, &out, "keystore", s, &req.manifest))
            .transpose()
            .map_err(|err| at(what(), err))?;
        let truststore = e
            .truststore
            .as_ref()
            .map(|s| store_target(&base, &out, "truststore", s, &req.manifest))
            .transpose()
            .map_err(|err| at(what(), err))?;
        files.keystore = keystore.as_ref().map(|s| s.path.clone());
        files.truststore = truststore.as_ref().map(|s| s.path.clone());
        let key = match (fault, e.key_type.or(d.key_type)) {
            (Some(Fault::WeakKey), _) => WantedKey::WeakRsa,
            (_, Some(t)) => WantedKey::Type(t),
            // Filled in from ca.toml once the CA is open.
            (_, None) => WantedKey::Type(KeyType::default()),
        };
        if fault == Some(Fault::WeakKey) && e.key_type.is_some() {
            return Err(at(
                what(),
                Error::usage("fault = \"weak_key\" makes an RSA-1024 key: drop key_type"),
            ));
        }
        let profile_name = match fault {
            Some(Fault::ClientOnly) => "client".to_string(),
            _ => e.profile.clone().or(d.profile.clone()).unwrap_or_default(),
        };
        let t = Target {
            cert_names: fixture::cert_names(fault, &names),
            names,
            label,
            profile: None,
            profile_name,
            key,
            days: e.days.or(d.days),
            issuer: e.issuer.clone().or(d.issuer.clone()),
            fault,
            crl: (fault == Some(Fault::Revoked)).then(|| out.join("crl.pem")),
            throwaway: (fault == Some(Fault::WrongCa)).then(|| out.join("throwaway-ca.pem")),
            files,
            keystore,
            truststore,
        };
        for p in target_paths(&t) {
            if seen.contains(&p) {
                return Err(at(
                    what(),
                    Error::usage(format!(
                        "{} is declared twice; give each entry its own out or path",
                        p.display()
                    )),
                ));
            }
            seen.push(p);
        }
        targets.push((t, e.key_type.or(d.key_type).is_none()));
    }
    let mut trusts = Vec::with_capacity(m.truststore.len());
    for (n, s) in m.truststore.iter().enumerate() {
        let t = store_target(&base, &base, "truststore", s, &req.manifest)
            .map_err(|err| at(format!("truststore {}", n + 1), err))?;
        if seen.contains(&t.path) {
            return Err(at(
                format!("truststore {}", n + 1),
                Error::usage(format!("{} is declared twice", t.path.display())),
            ));
        }
        seen.push(t.path.clone());
        trusts.push(t);
    }
    // The CA's own files are never an environment's: a declared crl.pem or
    // ca.pem there would replace the CA's.
    let ca_resolved = txn::resolve_dir(&ca_dir)?;
    if let Some(p) = seen
        .iter()
        .find(|p| txn::resolve(p).is_ok_and(|r| r.starts_with(&ca_resolved)))
    {
        return Err(Error::usage(format!(
            "{} declares {}, inside the CA directory {}: put the environment's files elsewhere",
            req.manifest.display(),
            p.display(),
            ca_dir.display()
        )));
    }
    // Directories where files should be, and two names for one file, are
    // refused before anything is made.
    let declared: Vec<(PathBuf, txn::Replace)> = seen
        .iter()
        .map(|p| (p.clone(), txn::Replace::Allowed))
        .collect();
    txn::check_outputs(&declared)?;

    // With --check nothing is made, not even the CA directory; a CA that
    // is not there means everything would be made.
    let no_files = !ca::exists(&ca_dir) && !ca_dir.join(ca::KEY_FILE).exists();
    let session = if req.check && no_files {
        None
    } else {
        Some(ca::Session::open(&ca_dir, !req.check)?)
    };
    let empty = session
        .as_ref()
        .is_none_or(|s| s.state() == ca::State::Empty);
    if req.check && empty {
        return Ok(Applied {
            ca_dir,
            base,
            checked_only: true,
            ca_created: true,
            certificates: targets
                .iter()
                .map(|(t, _)| created(t, vec!["there is no CA yet".into()]))
                .collect(),
            truststores: trusts
                .iter()
                .map(|t| TruststoreOutcome {
                    path: t.path.clone(),
                    action: Action::Create,
                    reasons: vec!["there is no CA yet".into()],
                })
                .collect(),
            opened: None,
        });
    }
    let session = session.expect("opened unless --check found no CA");
    let mut ca_created = false;
    if empty {
        session.create(&crate::config::CaConfig::default(), false, unlock)?;
        ca_created = true;
    }
    let config = session.config()?.issue;
    let now = x509::now();
    let ctx = Judge {
        now,
        renew_before,
        force: req.force,
    };
    let mut signer_certs: HashMap<Option<String>, SignerCerts> = HashMap::new();
    let mut profiles: HashMap<String, Profile> = HashMap::new();
    let mut verdicts = Vec::with_capacity(targets.len());
    for (t, key_from_ca) in &mut targets {
        if *key_from_ca && t.key != WantedKey::WeakRsa {
            t.key = WantedKey::Type(config.key_type);
        }
        if t.profile_name.is_empty() {
            t.profile_name = config.profile.clone();
        }
        // Each profile is read once, however many entries use it (as batch does).
        if !profiles.contains_key(&t.profile_name) {
            let p = profile::load(&t.profile_name, &ca_dir)
                .map_err(|err| at(format!("certificate {}", t.label.display()), err))?
                .0;
            profiles.insert(t.profile_name.clone(), p);
        }
        t.profile = Some(profiles[&t.profile_name].clone());
        if !signer_certs.contains_key(&t.issuer) {
            let s = session.signer_certs(t.issuer.as_deref())?;
            signer_certs.insert(t.issuer.clone(), s);
        }
        let signer = &signer_certs[&t.issuer];
        verdicts.push(ctx.certificate(t, signer)?);
    }
    // Every signer's chain ends at the one root: read it again only when
    // no certificate entry read it.
    let root = match signer_certs.values().next() {
        Some(s) => s.root.clone(),
        None => session.signer_certs(None)?.root,
    };
    let trust_verdicts: Vec<Verdict> = trusts
        .iter()
        .map(|t| ctx.truststore(t, &root))
        .collect::<Result<_>>()?;

    if req.check {
        return Ok(Applied {
            ca_dir,
            base,
            checked_only: true,
            ca_created,
            certificates: targets
                .iter()
                .zip(&verdicts)
                .map(|((t, _), v)| v.outcome(t))
                .collect(),
            truststores: trusts
                .iter()
                .zip(&trust_verdicts)
                .map(|(t, v)| TruststoreOutcome {
                    path: t.path.clone(),
                    action: v.action,
                    reasons: v.reasons.clone(),
                })
                .collect(),
            opened: None,
        });
    }

    // Sign and write what is out of date, as one transaction.
    let mut plan = txn::Plan::in_ca(&ca_dir);
    let mut signers: HashMap<Option<String>, Ca> = HashMap::new();
    let mut outcomes = Vec::with_capacity(targets.len());
    let mut new_revocations: Vec<record::Revocation> = Vec::new();
    let mut crl_wanted: Vec<(usize, Option<String>)> = Vec::new();
    let mut opened = None;
    let reissues =
        |v: &Verdict| matches!(v.action, Action::Create | Action::Renew | Action::Reissue);
    // The signers first, one at a time: a passphrase or PIN prompt is
    // asked once per CA, never from two threads.
    for ((t, _), v) in targets.iter().zip(&verdicts) {
        if v.action == Action::Unchanged || signers.contains_key(&t.issuer) {
            continue;
        }
        let ca = session.load_signer(t.issuer.as_deref(), unlock)?;
        opened.get_or_insert_with(|| issue::CaOpened {
            created: ca_created,
            key_type: ca.config.ca.key_type.as_str().to_string(),
            not_after: ca.not_after,
            recovered: session.recovered.clone(),
        });
        signers.insert(t.issuer.clone(), ca);
    }
    // Then keys and signatures on every core, as batch makes them.
    let to_sign: Vec<usize> = (0..targets.len())
        .filter(|&i| reissues(&verdicts[i]))
        .collect();
    let signed: Vec<std::sync::Mutex<Option<Leaf>>> = targets
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    fsx::for_each_chunked(&to_sign, |&i| {
        let (t, v) = (&targets[i].0, &verdicts[i]);
        let leaf = fixture::sign(
            t,
            &signers[&t.issuer],
            now,
            renew_before,
            v.kept_key.as_ref(),
        )?;
        *signed[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(leaf);
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress.update(n, to_sign.len());
        Ok(())
    })?;
    for (i, ((t, _), v)) in targets.iter().zip(&verdicts).enumerate() {
        let mut outcome = v.outcome(t);
        if v.action == Action::Unchanged {
            outcomes.push(outcome);
            continue;
        }
        let reissue = reissues(v);
        let ca = &signers[&t.issuer];
        let mut written = Vec::new();
        let leaf: Leaf = if reissue {
            let leaf = signed[i]
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .expect("every re-issued entry was signed above");
            put(
                &mut plan,
                &mut written,
                &t.files.cert,
                leaf.pem.as_bytes(),
                fsx::PUBLIC,
            );
            if !leaf.key_kept {
                let key = t.files.key.as_ref().expect("apply always makes keys");
                put(&mut plan, &mut written, key, leaf.key_pem(), fsx::PRIVATE);
            }
            if let Some((path, pem)) = &leaf.throwaway {
                put(&mut plan, &mut written, path, pem.as_bytes(), fsx::PUBLIC);
            }
            if !leaf.alone {
                let issued = Issued {
                    names: t.cert_names.clone(),
                    profile: t.profile_name.clone(),
                    key_type: match t.key {
                        WantedKey::Type(k) => Some(k),
                        WantedKey::WeakRsa => None,
                    },
                    key: t.key.info().to_string(),
                    serial: leaf.serial.clone(),
                    not_before: leaf.not_before,
                    not_after: leaf.not_after,
                    files: t.files.clone(),
                    warnings: Vec::new(),
                };
                plan.record(issue::record_entry(&issued, ca));
            }
            if t.fault == Some(Fault::Revoked) {
                let r = record::Revocation {
                    serial: leaf.serial.clone(),
                    issuer: ca.name.clone(),
                    revoked_at: x509::rfc3339(now),
                    reason: "keyCompromise".into(),
                };
                plan.revoke(r.clone());
                new_revocations.push(r);
            }
            leaf
        } else {
            v.current.clone().expect("a rewrite has a certificate")
        };
        // A new leaf changes its chain, its keystore and (revoked) its CRL;
        // ca.pem and the truststore change only when they were judged wrong.
        let mut parts = v.parts.clone();
        if reissue {
            parts.extend([Part::Chain, Part::Keystore, Part::Crl]);
        }
        if parts.contains(&Part::Chain) {
            put(
                &mut plan,
                &mut written,
                &t.files.chain,
                leaf.chain_pem(ca),
                fsx::PUBLIC,
            );
        }
        if parts.contains(&Part::Ca) {
            put(
                &mut plan,
                &mut written,
                &t.files.ca,
                ca.root_pem.as_bytes(),
                fsx::PUBLIC,
            );
        }
        if let Some(s) = &t.keystore
            && parts.contains(&Part::Keystore)
        {
            let entry = stores::KeyEntry {
                alias: s
                    .alias
                    .clone()
                    .unwrap_or_else(|| stores::alias_for(&t.names[0].to_string())),
                key_pkcs8: leaf.key_pkcs8(&t.files)?,
                chain: leaf.store_chain(ca),
            };
            let bytes = s.store.keystore(&entry)?.to_vec();
            put(&mut plan, &mut written, &s.path, bytes, fsx::PRIVATE);
        }
        if let Some(s) = &t.truststore
            && parts.contains(&Part::Truststore)
        {
            put(
                &mut plan,
                &mut written,
                &s.path,
                truststore_bytes(s, &ca.root_der)?,
                fsx::PUBLIC,
            );
        }
        if t.crl.is_some() && parts.contains(&Part::Crl) {
            crl_wanted.push((i, ca.name.clone()));
        }
        outcome.files = written;
        outcome.serial = Some(leaf.serial.clone());
        outcome.not_after = Some(leaf.not_after);
        outcomes.push(outcome);
    }
    // Each CRL lists every revocation of its issuer, those of this run too.
    let mut crls: HashMap<Option<String>, String> = HashMap::new();
    for (i, issuer) in crl_wanted {
        let ca = &signers[&issuer];
        if !crls.contains_key(&issuer) {
            let mut revoked: Vec<record::Revocation> = record::revocations(&ca_dir)?
                .into_iter()
                .filter(|r| r.issuer == issuer)
                .collect();
            revoked.extend(
                new_revocations
                    .iter()
                    .filter(|r| r.issuer == issuer)
                    .cloned(),
            );
            let ca_copy = crate::revoke::crl_path(ca);
            let number = crate::revoke::next_number(&ca_copy, now);
            let next_update = fixture::crl_next_update(ca, now, renew_before);
            let pem = crate::revoke::crl_pem(ca, &revoked, &number, now, next_update)?;
            plan.write(&ca_copy, pem.as_bytes(), fsx::PUBLIC, txn::Replace::Allowed);
            crls.insert(issuer.clone(), pem);
        }
        let path = targets[i]
            .0
            .crl
            .as_ref()
            .expect("revoked entries have a CRL");
        plan.write(
            path,
            crls[&issuer].as_bytes(),
            fsx::PUBLIC,
            txn::Replace::Allowed,
        );
        outcomes[i].files.push(path.clone());
    }
    let mut trust_outcomes = Vec::with_capacity(trusts.len());
    for (t, v) in trusts.iter().zip(&trust_verdicts) {
        if v.action != Action::Unchanged {
            plan.write(
                &t.path,
                truststore_bytes(t, &root)?,
                fsx::PUBLIC,
                txn::Replace::Allowed,
            );
        }
        trust_outcomes.push(TruststoreOutcome {
            path: t.path.clone(),
            action: v.action,
            reasons: v.reasons.clone(),
        });
    }
    plan.run()?;
    Ok(Applied {
        ca_dir,
        base,
        checked_only: false,
        ca_created,
        certificates: outcomes,
        truststores: trust_outcomes,
        opened,
    })
}

/// Adds a file to the plan and to the list of what an entry wrote.
fn put(
    plan: &mut txn::Plan,
    written: &mut Vec<PathBuf>,
    path: &Path,
    bytes: impl Into<Vec<u8>>,
    mode: u32,
) {
    plan.write(path, bytes, mode, txn::Replace::Allowed);
    written.push(path.to_path_buf());
}

/// The files beside a certificate that are judged and written on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Chain,
    Ca,
    Keystore,
    Truststore,
    Crl,
}

/// A certificate with its key: one just signed, or the one on disk.
#[derive(Clone)]
pub(crate) struct Leaf {
    pub der: Vec<u8>,
    pub pem: String,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// PKCS#8 DER; None for a certificate on disk whose key was not read.
    pub key_pkcs8: Option<Zeroizing<Vec<u8>>>,
    /// The key was the one already in key.pem: that file stays as it is.
    pub key_kept: bool,
    /// wrong_ca: the throwaway CA's certificate and where it goes.
    pub throwaway: Option<(PathBuf, String)>,
    /// Its chain is the leaf alone (self_signed, wrong_ca), not the CA's.
    pub alone: bool,
}

impl Leaf {
    fn key_pem(&self) -> Vec<u8> {
        let der = self
            .key_pkcs8
            .as_ref()
            .map(|k| k.to_vec())
            .unwrap_or_default();
        keys::pem_encode("PRIVATE KEY", der).into_bytes()
    }

    fn key_pkcs8(&self, files: &OutFiles) -> Result<Zeroizing<Vec<u8>>> {
        self.key_pkcs8.clone().ok_or_else(|| {
            Error::bad_file(
                files.key.as_deref().unwrap_or(Path::new("key.pem")),
                "the key could not be read",
            )
        })
    }

    /// chain.pem: the leaf, then the intermediates (never the root, RFC 8446 4.4.2).
    fn chain_pem(&self, ca: &Ca) -> Vec<u8> {
        self.chain_ders(ca)
            .into_iter()
            .map(|c| keys::pem_encode("CERTIFICATE", c.to_vec()))
            .collect::<String>()
            .into_bytes()
    }

    fn chain_ders(&self, ca: &Ca) -> Vec<CertificateDer<'static>> {
        chain_of(&self.der, self.alone, &ca.chain)
    }

    /// A keystore's chain: the leaf, the intermediates, the root.
    fn store_chain(&self, ca: &Ca) -> Vec<CertificateDer<'static>> {
        let mut chain = self.chain_ders(ca);
        if !self.alone {
            chain.push(ca.root_der.clone());
        }
        chain
    }
}

fn chain_of(
    leaf: &[u8],
    alone: bool,
    intermediates: &[CertificateDer<'static>],
) -> Vec<CertificateDer<'static>> {
    let mut chain = vec![CertificateDer::from(leaf.to_vec())];
    if !alone {
        chain.extend(intermediates.iter().cloned());
    }
    chain
}

/// What judging one entry found.
struct Verdict {
    action: Action,
    reasons: Vec<String>,
    /// What must be written again (without a new certificate, or besides it).
    parts: Vec<Part>,
    /// key.pem, when it belongs to the certificate and is of the wanted type.
    kept_key: Option<Zeroizing<Vec<u8>>>,
    /// The certificate on disk, when it stays.
    current: Option<Leaf>,
}

impl Verdict {
    /// Every file of the entry made anew.
    fn everything(action: Action, reason: String) -> Verdict {
        Verdict {
            action,
            reasons: vec![reason],
            parts: vec![
                Part::Chain,
                Part::Ca,
                Part::Keystore,
                Part::Truststore,
                Part::Crl,
            ],
            kept_key: None,
            current: None,
        }
    }

    fn outcome(&self, t: &Target) -> CertificateOutcome {
        CertificateOutcome {
            out: t.label.clone(),
            names: t.names.clone(),
            fault: t.fault,
            action: self.action,
            reasons: self.reasons.clone(),
            files: Vec::new(),
            serial: self.current.as_ref().map(|c| c.serial.clone()),
            not_after: self.current.as_ref().map(|c| c.not_after),
        }
    }
}

fn created(t: &Target, reasons: Vec<String>) -> CertificateOutcome {
    CertificateOutcome {
        out: t.label.clone(),
        names: t.names.clone(),
        fault: t.fault,
        action: Action::Create,
        reasons,
        files: target_paths(t).collect(),
        serial: None,
        not_after: None,
    }
}

/// Every file an entry declares.
fn target_paths(t: &Target) -> impl Iterator<Item = PathBuf> + '_ {
    t.files
        .all()
        .map(Path::to_path_buf)
        .chain(t.crl.clone())
        .chain(t.throwaway.clone())
}

/// A store on disk, as far as it could be read.
enum Store {
    /// Missing, of another format, or not opening: why.
    Wrong(String),
    /// A PEM store's bytes (compared whole: PEM is written the same every time).
    Pem(Vec<u8>),
    Opened(stores::Contents),
}

/// Judges what is on disk against the manifest.
struct Judge {
    now: OffsetDateTime,
    renew_before: Duration,
    force: bool,
}

/// A file at a declared path that minica could not have written: it is
/// replaced only with --force.
fn foreign(path: &Path, what: &str) -> Error {
    Error::Exists {
        path: path.to_path_buf(),
        hint: Some(format!(
            "it is not {what} minica wrote, and `apply` replaces only its own files"
        )),
    }
}

/// The file's bytes, or None when there is none.
fn read_if_there(path: &Path) -> Result<Option<Vec<u8>>> {
    match path.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
        Ok(_) => fsx::read_nofollow(path, fsx::MAX_INPUT).map(Some),
    }
}

impl Judge {
    fn certificate(&self, t: &Target, signer: &SignerCerts) -> Result<Verdict> {
        let mut parts = Vec::new();
        let mut reasons = Vec::new();
        let Some(bytes) = read_if_there(&t.files.cert)? else {
            // Nothing to judge, so nothing of it may be there but what --force may replace.
            if !self.force
                && let Some(p) = target_paths(t).find(|p| p.symlink_metadata().is_ok())
            {
                return Err(foreign(&p, "beside a certificate"));
            }
            return Ok(Verdict::everything(
                Action::Create,
                format!("{} is not there", t.files.cert.display()),
            ));
        };
        let parsed = crate::certs::parse(&t.files.cert, &bytes)
            .ok()
            .and_then(|c| c.into_iter().next());
        let Some(der) = parsed else {
            if !self.force {
                return Err(foreign(&t.files.cert, "a certificate"));
            }
            return Ok(Verdict::everything(
                Action::Reissue,
                format!("{} is not a certificate", t.files.cert.display()),
            ));
        };
        let (_, x) = X509Certificate::from_der(&der)
            .map_err(|_| Error::bad_file(&t.files.cert, "the certificate is corrupt"))?;
        let mut reissue = Vec::new();
        let mut renew = Vec::new();

        // The key: kept when it is the certificate's and of the wanted type.
        let key_path = t.files.key.as_deref().expect("apply always makes keys");
        let key = match read_if_there(key_path)? {
            None => {
                reissue.push(format!("{} is not there", key_path.display()));
                None
            }
            Some(bytes) => match pem_private_key(&bytes) {
                None if !self.force => return Err(foreign(key_path, "a private key")),
                None => {
                    reissue.push(format!("{} is not a private key", key_path.display()));
                    None
                }
                Some(pkcs8) => {
                    if crate::weak_key::spki_of_pkcs8(&pkcs8).as_deref() != Some(x.public_key().raw)
                    {
                        reissue.push(format!(
                            "{} does not belong to {}",
                            key_path.display(),
                            t.files.cert.display()
                        ));
                        None
                    } else {
                        Some(pkcs8)
                    }
                }
            },
        };
        let have = KeyInfo::from_spki(x.public_key());
        let want = t.key.info();
        let key_ok = have.algorithm == want.algorithm && have.bits == want.bits;
        if !key_ok {
            reissue.push(format!("its key is {have}; the entry wants {want}"));
        }
        let kept_key = if key_ok { key } else { None };

        let names = san_names(&x);
        if !same_set(&names, &t.cert_names) {
            reissue.push(format!(
                "it names {}; the entry wants {}",
                list(&names),
                list(&t.cert_names)
            ));
        }
        let profile = t
            .profile
            .as_ref()
            .expect("profiles are loaded before judging");
        if let Some(why) = profile_mismatch(&x, profile, &t.profile_name, have.algorithm == "rsa") {
            reissue.push(why);
        }
        if let Some(why) = fixture::issuer_mismatch(t, &x, signer)? {
            reissue.push(why);
        }
        match fixture::validity(t.fault, &x, self.now, self.renew_before) {
            fixture::Validity::Good => {}
            fixture::Validity::Renew(why) => renew.push(why),
            fixture::Validity::Reissue(why) => reissue.push(why),
        }
        let alone = t.alone();
        let current = Leaf {
            pem: keys::pem_encode("CERTIFICATE", der.to_vec()),
            serial: x509::hex(x.raw_serial()),
            not_before: x.validity().not_before.to_datetime(),
            not_after: x.validity().not_after.to_datetime(),
            der: der.to_vec(),
            key_pkcs8: kept_key.clone(),
            key_kept: true,
            throwaway: None,
            alone,
        };
        let intermediates: Vec<CertificateDer<'static>> = match &signer.name {
            Some(_) => vec![signer.cert.clone()],
            None => Vec::new(),
        };

        // The files beside it, each on its own.
        let chain = chain_of(&der, alone, &intermediates);
        if certs_in(&t.files.chain)? != Some(chain.clone()) {
            parts.push(Part::Chain);
            reasons.push(format!(
                "{} is missing or not its chain",
                t.files.chain.display()
            ));
        }
        if certs_in(&t.files.ca)? != Some(vec![signer.root.clone()]) {
            parts.push(Part::Ca);
            reasons.push(format!(
                "{} is missing or not the CA's root",
                t.files.ca.display()
            ));
        }
        if let Some(s) = &t.keystore {
            let mut store_chain = chain.clone();
            if !alone {
                store_chain.push(signer.root.clone());
            }
            let alias = s
                .alias
                .clone()
                .unwrap_or_else(|| stores::alias_for(&t.names[0].to_string()));
            if let Some(why) = self.keystore(
                s,
                &alias,
                &store_chain,
                kept_key.as_ref().map(|k| k.as_slice()),
            )? {
                parts.push(Part::Keystore);
                reasons.push(why);
            }
        }
        if let Some(s) = &t.truststore
            && let Some(why) = self.trusted(s, &signer.root)?
        {
            parts.push(Part::Truststore);
            reasons.push(why);
        }
        if let Some(crl) = &t.crl
            && let Some(why) =
                fixture::crl_mismatch(crl, &current.serial, signer, self.now, self.renew_before)?
        {
            parts.push(Part::Crl);
            reasons.push(why);
        }
        let action = if !reissue.is_empty() {
            Action::Reissue
        } else if !renew.is_empty() {
            Action::Renew
        } else if !parts.is_empty() {
            Action::Rewrite
        } else {
            Action::Unchanged
        };
        let mut all = reissue;
        all.extend(renew);
        all.extend(reasons);
        Ok(Verdict {
            action,
            reasons: all,
            parts,
            kept_key,
            current: Some(current),
        })
    }

    /// A store read as far as judging it needs: there, in the wanted
    /// format, opening with the manifest's password.
    fn open_store(&self, s: &StoreTarget) -> Result<Store> {
        let Some(bytes) = read_if_there(&s.path)? else {
            return Ok(Store::Wrong(format!("{} is not there", s.path.display())));
        };
        if let Some(why) = self.store_format(s, &bytes)? {
            return Ok(Store::Wrong(why));
        }
        if s.store.format == Format::Pem {
            return Ok(Store::Pem(bytes));
        }
        let password = s.store.password.as_deref().map(String::as_str);
        Ok(match stores::read(&s.path, &bytes, password) {
            Ok(c) => Store::Opened(c),
            // The reader says which: a wrong password, or a damaged file.
            Err(e) => Store::Wrong(format!(
                "{} does not open with the manifest's password: {}",
                s.path.display(),
                match e {
                    Error::BadFile { problem, .. } => problem,
                    other => other.to_string(),
                }
            )),
        })
    }

    /// Why a keystore is out of date, if it is.
    fn keystore(
        &self,
        s: &StoreTarget,
        alias: &str,
        chain: &[CertificateDer<'static>],
        key: Option<&[u8]>,
    ) -> Result<Option<String>> {
        let Some(key) = key else {
            return Ok(Some(format!(
                "{} holds a key that is replaced",
                s.path.display()
            )));
        };
        Ok(match self.open_store(s)? {
            Store::Wrong(why) => Some(why),
            Store::Pem(bytes) => {
                let mut want = keys::pem_encode("PRIVATE KEY", key.to_vec());
                for c in chain {
                    want.push_str(&keys::pem_encode("CERTIFICATE", c.to_vec()));
                }
                (bytes != want.as_bytes())
                    .then(|| format!("{} is not this key and chain", s.path.display()))
            }
            Store::Opened(c) => {
                let right = c.keys.len() == 1
                    && c.trusted.is_empty()
                    && c.keys[0].0.eq_ignore_ascii_case(alias)
                    && c.keys[0].1 == chain
                    && c.key_pkcs8.first().map(|k| k.as_slice()) == Some(key);
                (!right).then(|| {
                    format!(
                        "{} does not hold exactly this key and chain under the alias {alias}",
                        s.path.display()
                    )
                })
            }
        })
    }

    /// Why a truststore is out of date, if it is.
    fn trusted(&self, s: &StoreTarget, root: &CertificateDer<'static>) -> Result<Option<String>> {
        Ok(match self.open_store(s)? {
            Store::Wrong(why) => Some(why),
            Store::Pem(bytes) => (bytes
                != keys::pem_encode("CERTIFICATE", root.to_vec()).as_bytes())
            .then(|| format!("{} is not the CA's root alone", s.path.display())),
            Store::Opened(c) => {
                let right = c.keys.is_empty() && c.trusted.len() == 1 && &c.trusted[0].cert == root;
                (!right).then(|| format!("{} does not trust the CA's root alone", s.path.display()))
            }
        })
    }

    /// Why a store is in another format than wanted, or an error when it
    /// is no store at all.
    fn store_format(&self, s: &StoreTarget, bytes: &[u8]) -> Result<Option<String>> {
        match Format::detect(bytes) {
            None if !self.force => Err(foreign(&s.path, "a keystore")),
            None => Ok(Some(format!("{} is not a keystore", s.path.display()))),
            Some(f) if f != s.store.format => Ok(Some(format!(
                "{} is {}; the manifest wants {}",
                s.path.display(),
                f.extension(),
                s.store.format.extension()
            ))),
            Some(_) => Ok(None),
        }
    }

    fn truststore(&self, t: &StoreTarget, root: &CertificateDer<'static>) -> Result<Verdict> {
        let why = self.trusted(t, root)?;
        Ok(Verdict {
            action: match (&why, t.path.symlink_metadata().is_ok()) {
                (None, _) => Action::Unchanged,
                (Some(_), false) => Action::Create,
                (Some(_), true) => Action::Rewrite,
            },
            reasons: why.into_iter().collect(),
            parts: Vec::new(),
            kept_key: None,
            current: None,
        })
    }
}

/// The PKCS#8 DER in a PEM "PRIVATE KEY" file.
fn pem_private_key(bytes: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let block = pem::parse(bytes).ok()?;
    (block.tag() == "PRIVATE KEY").then(|| Zeroizing::new(block.contents().to_vec()))
}

/// The certificates in a PEM file; None when it is missing or holds none.
fn certs_in(path: &Path) -> Result<Option<Vec<CertificateDer<'static>>>> {
    Ok(match read_if_there(path)? {
        None => None,
        Some(bytes) => crate::certs::parse(path, &bytes).ok(),
    })
}

/// The subjectAltNames of a certificate, as minica's names, read as a
/// CSR's are (entries of kinds minica does not issue are left out).
fn san_names(x: &X509Certificate<'_>) -> Vec<Name> {
    let mut out = Vec::new();
    for ext in x.extensions() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() {
            out.extend(
                san.general_names
                    .iter()
                    .filter_map(|g| crate::names::from_general_name(g)?.ok()),
            );
        }
    }
    out
}

fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

fn list(names: &[Name]) -> String {
    let v: Vec<String> = names.iter().map(Name::to_string).collect();
    crate::text::escape(&v.join(", "))
}

/// Why the certificate's key usages are not what the profile makes, if so.
/// The usages themselves are compared, not the profile's name: a profile
/// edited in place makes its certificates out of date. The certificate's
/// are read with the tables inspect and CSR checks use
/// (`x509::key_usage_names`, `x509::eku_names`), which spell them as
/// profiles do; a usage no profile makes (keyCertSign, an OID) differs too.
fn profile_mismatch(
    x: &X509Certificate<'_>,
    profile: &Profile,
    profile_name: &str,
    rsa: bool,
) -> Option<String> {
    let mut want_ku = profile.key_usage.clone();
    if rsa && profile.rsa_key_encipherment && !want_ku.contains(&KeyUsage::KeyEncipherment) {
        want_ku.push(KeyUsage::KeyEncipherment);
    }
    let want_ku: Vec<String> = want_ku.iter().map(spelled).collect();
    let want_eku: Vec<String> = profile.extended_key_usage.iter().map(spelled).collect();
    let mut have_ku = Vec::new();
    let mut have_eku = Vec::new();
    for ext in x.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::KeyUsage(k) => {
                have_ku = x509::key_usage_names(k)
                    .into_iter()
                    .map(String::from)
                    .collect();
            }
            ParsedExtension::ExtendedKeyUsage(e) => have_eku = x509::eku_names(e),
            _ => {}
        }
    }
    (!same_set(&have_ku, &want_ku) || !same_set(&have_eku, &want_eku))
        .then(|| format!("its key usages are not those the profile {profile_name} makes now"))
}

/// A profile's usage as profiles spell it: its serde name.
fn spelled<T: Serialize>(usage: &T) -> String {
    match serde_json::to_value(usage) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Resolves a store entry: its path (under the base), format and password.
fn store_target(
    base: &Path,
    out: &Path,
    kind: &str,
    s: &manifest::StoreSpec,
    manifest: &Path,
) -> Result<StoreTarget> {
    let from_ext = s
        .path
        .as_ref()
        .and_then(|p| p.extension())
        .and_then(|e| match e.to_str()? {
            "p12" | "pfx" => Some(Format::P12),
            "jks" => Some(Format::Jks),
            "pem" | "crt" => Some(Format::Pem),
            _ => None,
        });
    let format = s.format.or(from_ext).unwrap_or_default();
    let path = match &s.path {
        Some(p) => txn::confine(base, p, kind)?,
        None => out.join(format!("{kind}.{}", format.extension())),
    };
    let mut pkcs12 = Pkcs12Options::default();
    if let Some(p) = s.p12_profile {
        pkcs12.profile = p;
    }
    let needs_password = match format {
        Format::Pem => false,
        Format::P12 => pkcs12.profile != stores::P12Profile::Passwordless,
        Format::Jks => true,
    };
    let given = [
        s.password.is_some(),
        s.password_file.is_some(),
        s.password_env.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given > 1 {
        return Err(Error::usage(format!(
            "its {kind} gives more than one of password, password_file and password_env: keep one"
        )));
    }
    let password = if given == 1 {
        let source = password::Source {
            file: s
                .password_file
                .as_ref()
                .map(|f| txn::confine(base, f, "password_file"))
                .transpose()?,
            env: s.password_env.clone(),
            stdin: false,
            value: s.password.clone().map(Zeroizing::new),
        };
        Some(source.get(&password::Purpose {
            what: "store password",
            default_env: password::STORE_PASSWORD_ENV,
            confirm: false,
        })?)
    } else {
        None
    };
    if needs_password && password.is_none() {
        return Err(Error::bad_file_fix(
            manifest,
            format!("the {kind} {} needs a password", path.display()),
            "add password_file = \"FILE\" or password_env = \"VAR\" (or password = \"...\" for a throwaway test store)",
        ));
    }
    if format == Format::Pem && password.is_some() {
        return Err(Error::usage(format!(
            "a PEM {kind} is not encrypted: drop its password, or make it p12 or jks"
        )));
    }
    Ok(StoreTarget {
        path,
        alias: s.alias.clone(),
        store: issue::StoreRequest {
            format,
            password,
            pkcs12,
        },
    })
}

fn truststore_bytes(s: &StoreTarget, root: &CertificateDer<'static>) -> Result<Vec<u8>> {
    s.store.truststore(root, s.alias.clone())
}

/// Whether this key (PKCS#8) is one rcgen can sign with, or only describe.
pub(crate) fn key_pair(pkcs8: &[u8]) -> Option<rcgen::KeyPair> {
    keys::from_pkcs8_der(Path::new("key.pem"), pkcs8).ok()
}

/// The SubjectPublicKeyInfo a PKCS#8 key certifies, for rcgen.
pub(crate) fn public_key(pkcs8: &[u8]) -> Result<rcgen::SubjectPublicKeyInfo> {
    let spki = crate::weak_key::spki_of_pkcs8(pkcs8)
        .ok_or_else(|| Error::Crypto("the key's public half cannot be read".into()))?;
    rcgen::SubjectPublicKeyInfo::from_der(&spki)
        .map_err(|_| Error::Crypto("the key's public half cannot be read".into()))
}

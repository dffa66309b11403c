//! Renewal: the same names, profile, lifetime and issuer, a new serial,
//! written over the old outputs in one transaction (the old files are kept
//! aside until the new ones are durable, and put back on failure).

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::ca::{self, Ca, Session};
use crate::cakey::Unlock;
use crate::error::{Error, Result};
use crate::issue::{Issued, LeafSpec, OutFiles};
use crate::keys::{self, KeyType};
use crate::policy::KeyInfo;
use crate::record::{self, Entry, FileStatus};
use crate::{fsx, profile, txn, x509};

/// Which certificates to renew.
pub enum Which {
    /// A serial, or a name (its latest certificate).
    One(String),
    /// Every live certificate that expires within this time.
    Expiring(Duration),
}

/// One renewal, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Renewed {
    pub old_serial: String,
    pub issued: Issued,
    pub rekeyed: bool,
}

/// The latest recorded certificate for `what` (a serial or a name), whose
/// files are still where it wrote them.
fn find_one(entries: &[Entry], revoked: &[record::Revocation], what: &str) -> Result<Entry> {
    let found = entries
        .iter()
        .rev()
        .find(|e| crate::revoke::serial_is(&e.serial, what))
        .or_else(|| {
            entries.iter().rev().find(|e| {
                e.names.iter().any(|n| n.eq_ignore_ascii_case(what))
                    && !revoked.iter().any(|r| r.serial == e.serial)
                    && e.file_status() == FileStatus::Present
            })
        })
        .ok_or_else(|| {
            Error::usage(format!(
                "no certificate of this CA, with its files in place, has the serial or name {what:?}; see `minica list`"
            ))
        })?;
    Ok(found.clone())
}

/// Live leaves expiring by `horizon`: the latest per certificate file, not
/// revoked, files in place.
fn expiring(
    entries: &[Entry],
    revoked: &[record::Revocation],
    horizon: OffsetDateTime,
) -> Vec<Entry> {
    let mut latest: std::collections::HashMap<PathBuf, &Entry> = std::collections::HashMap::new();
    for e in entries {
        if let Some(c) = &e.cert {
            latest.insert(c.clone(), e);
        }
    }
    let mut out: Vec<Entry> = latest
        .into_values()
        .filter(|e| !matches!(e.profile.as_str(), "intermediate" | "sub-ca"))
        .filter(|e| !revoked.iter().any(|r| r.serial == e.serial))
        .filter(|e| x509::parse_rfc3339(&e.not_after).is_some_and(|t| t <= horizon))
        .filter(|e| e.file_status() == FileStatus::Present)
        .cloned()
        .collect();
    out.sort_by(|a, b| a.not_after.cmp(&b.not_after));
    out
}

/// Renews what `which` names, all in one transaction. Without `rekey` the
/// key stays (read from key.pem, or the old certificate's public key for a
/// CSR-issued one); with it a new key of the same type is made.
///
/// A keystore written beside a certificate (`issue --keystore`) is written
/// again in the same form, under the same alias: a PEM one always, a
/// PKCS#12 or JKS one when `store_password` is given (minica does not keep
/// store passwords), after the old store opens with it. Without it, the
/// report warns that the keystore still holds the old certificate.
pub fn renew(
    dir: &Path,
    unlock: &Unlock,
    which: Which,
    rekey: bool,
    store_password: Option<&str>,
) -> Result<Vec<Renewed>> {
    let session = Session::open(dir, false)?;
    if session.state() != ca::State::Complete {
        session.load(&Unlock::default())?;
    }
    let (entries, _) = record::read(dir)?;
    let revoked = record::revocations(dir)?;
    let now = x509::now();
    let targets = match &which {
        Which::One(w) => vec![find_one(&entries, &revoked, w)?],
        Which::Expiring(d) => expiring(&entries, &revoked, now + *d),
    };
    let mut signers: Vec<(Option<String>, Ca)> = Vec::new();
    let mut plan = txn::Plan::in_ca(dir);
    let mut done = Vec::new();
    for e in targets {
        if matches!(e.profile.as_str(), "intermediate" | "sub-ca") {
            return Err(Error::usage(format!(
                "{} is a CA certificate ({}); make a new one with `minica ca intermediate` or `issue --csr --sub-ca`",
                e.serial, e.profile
            )));
        }
        if !signers.iter().any(|(n, _)| *n == e.issuer) {
            let ca = session.load_signer(e.issuer.as_deref(), unlock)?;
            signers.push((e.issuer.clone(), ca));
        }
        let ca = &signers
            .iter()
            .find(|(n, _)| *n == e.issuer)
            .expect("loaded")
            .1;
        done.push(renew_one(ca, &e, rekey, store_password, now, &mut plan)?);
    }
    if done.is_empty() {
        return Ok(done);
    }
    plan.run()?;
    Ok(done)
}

fn renew_one(
    ca: &Ca,
    e: &Entry,
    rekey: bool,
    store_password: Option<&str>,
    now: OffsetDateTime,
    plan: &mut txn::Plan,
) -> Result<Renewed> {
    let names = crate::names::parse_all(&e.names)?;
    let (mut profile, _) = profile::load(&e.profile, &ca.dir)?;
    let (nb, na) = (
        x509::parse_rfc3339(&e.not_before),
        x509::parse_rfc3339(&e.not_after),
    );
    if let (Some(nb), Some(na)) = (nb, na) {
        // The same lifetime: notBefore is set back a minute at issuance.
        profile.days = ((na - nb) - x509::BACKDATE).whole_days().max(1) as u32;
    }
    let cert_path = e.cert.clone().ok_or_else(|| {
        Error::usage(format!(
            "the record does not say where {} was written",
            e.serial
        ))
    })?;
    let dir = fsx::parent_dir(&cert_path).to_path_buf();
    let key_path = e
        .files
        .iter()
        .find(|f| f.file_name().is_some_and(|n| n == "key.pem"))
        .cloned();
    let old_cert = crate::certs::read(&cert_path)?;
    let spec = LeafSpec {
        names,
        profile_name: e.profile.clone(),
        profile,
        days: None,
    };
    let mut files = OutFiles::in_dir(&dir, key_path.is_some());
    files.key = key_path.clone();
    // `kept`: the unchanged key, read back for a keystore.
    let (signed, key_type, info, new_key, kept) = match (&key_path, rekey) {
        (None, true) => {
            return Err(Error::usage(format!(
                "{} was issued from a CSR: its key is with the CSR's owner; renew it without --rekey, or sign a new CSR",
                e.serial
            )));
        }
        (Some(_), true) => {
            let kt: KeyType = e
                .key_type
                .as_deref()
                .and_then(|k| k.parse().ok())
                .unwrap_or(ca.config.issue.key_type);
            let info = KeyInfo::of_type(kt);
            let checked = spec.check(ca, &info, now)?;
            let key = kt.generate_leaf()?;
            let signed = spec.sign(ca, &key, &checked)?;
            (signed, Some(kt), info, Some(key), None)
        }
        (Some(k), false) => {
            let bytes = zeroize::Zeroizing::new(fsx::read(k)?);
            let key = keys::load_pem(k, &bytes)?;
            let info = key_info_of(&old_cert[0]);
            let checked = spec.check(ca, &info, now)?;
            let signed = spec.sign(ca, &key, &checked)?;
            (
                signed,
                e.key_type.as_deref().and_then(|k| k.parse().ok()),
                info,
                None,
                Some(keys::LeafKey::of(&key)),
            )
        }
        (None, false) => {
            let spki = spki_of(&old_cert[0])?;
            let pk = rcgen::SubjectPublicKeyInfo::from_der(&spki)
                .map_err(|_| Error::bad_file(&cert_path, "its public key is not supported"))?;
            let info = key_info_of(&old_cert[0]);
            let checked = spec.check(ca, &info, now)?;
            (spec.sign(ca, &pk, &checked)?, None, info, None, None)
        }
    };
    let replace = txn::Replace::Allowed;
    crate::issue::add_leaf_files(plan, ca, &files, &signed, new_key.as_ref(), replace);
    let mut warnings = signed.warnings.clone();
    // A truststore beside it holds the root, which renewal does not change.
    let keystores = e.files.iter().filter(|f| {
        f.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("keystore."))
            && f.exists()
    });
    let key = new_key.as_ref().or(kept.as_ref());
    for f in keystores {
        match (key, rewrite_keystore(ca, f, &signed.der, key, store_password)?) {
            (Some(_), Some(bytes)) => plan.write(f, bytes, fsx::PRIVATE, replace),
            _ => warnings.push(format!(
                "{} still holds the old certificate: give its password (--password-file) to renew it too, or make it again with `minica keystore`",
                f.display()
            )),
        }
    }
    let issued = Issued {
        names: spec.names.clone(),
        profile: spec.profile_name.clone(),
        key_type,
        key: info.to_string(),
        serial: signed.serial.clone(),
        not_before: signed.not_before,
        not_after: signed.not_after,
        files,
        warnings,
    };
    let mut entry = e.clone();
    entry.serial = issued.serial.clone();
    entry.not_before = x509::rfc3339(issued.not_before);
    entry.not_after = x509::rfc3339(issued.not_after);
    entry.issued_at = x509::rfc3339(now);
    entry.key_type = Some(issued.key.clone());
    entry.issuer = ca.name.clone();
    plan.record(entry);
    Ok(Renewed {
        old_serial: e.serial.clone(),
        issued,
        rekeyed: rekey,
    })
}

/// The keystore `path` made again with the renewed certificate, in its
/// format and under its alias; None when it cannot be (no password for a
/// PKCS#12 or JKS store, no key). The old store must open first: a wrong
/// password fails the whole renewal, before anything is written.
fn rewrite_keystore(
    ca: &Ca,
    path: &Path,
    leaf: &[u8],
    key: Option<&keys::LeafKey>,
    password: Option<&str>,
) -> Result<Option<Vec<u8>>> {
    use crate::stores::{self, Format};
    let Some(key) = key else { return Ok(None) };
    let bytes = zeroize::Zeroizing::new(fsx::read(path)?);
    let format = Format::detect(&bytes).ok_or_else(|| {
        Error::bad_file(path, "is not a keystore minica wrote (PKCS#12, JKS or PEM)")
    })?;
    let (alias, opts) = match (format, password) {
        (Format::Pem, _) => (String::new(), stores::Pkcs12Options::default()),
        (_, None) => return Ok(None),
        (_, Some(pw)) => {
            let old = stores::read(path, &bytes, Some(pw))?;
            let alias = old
                .keys
                .first()
                .map(|(a, _)| a.clone())
                .ok_or_else(|| Error::bad_file(path, "holds no private key entry to renew"))?;
            // A store made for old readers (--profile legacy-*) stays
            // readable by them.
            let profile = match format {
                Format::P12 => stores::p12edit::Pkcs12File::parse(path, &bytes, pw)
                    .map(|f| f.profile())
                    .unwrap_or_default(),
                _ => stores::P12Profile::Modern,
            };
            (
                alias,
                stores::Pkcs12Options {
                    profile,
                    ..Default::default()
                },
            )
        }
    };
    let entry = crate::issue::keystore_entry(ca, leaf, key, alias);
    let out = stores::write_keystore(format, &entry, password, opts)?;
    Ok(Some(out.to_vec()))
}

fn spki_of(der: &[u8]) -> Result<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, x) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|_| Error::Crypto("the old certificate cannot be read".into()))?;
    Ok(x.public_key().raw.to_vec())
}

fn key_info_of(der: &[u8]) -> KeyInfo {
    use x509_parser::prelude::FromDer;
    match x509_parser::certificate::X509Certificate::from_der(der) {
        Ok((_, x)) => KeyInfo::from_spki(x.public_key()),
        Err(_) => KeyInfo::of_type(KeyType::default()),
    }
}

/// When `needs-renewal` says a certificate is due.
#[derive(Debug, Clone, Copy)]
pub enum Threshold {
    /// It expires within this time.
    Within(Duration),
    /// This fraction of its lifetime has passed (2/3 by default, as step does).
    At(f64),
}

/// Whether the certificate `der` needs renewal at `now`, and a sentence why.
pub fn needs_renewal(
    der: &[u8],
    threshold: Threshold,
    now: OffsetDateTime,
) -> Result<(bool, String)> {
    use x509_parser::prelude::FromDer;
    let (_, x) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|_| Error::usage("the certificate cannot be read"))?;
    let nb = x.validity().not_before.to_datetime();
    let na = x.validity().not_after.to_datetime();
    let left = x509::days_left(na, now);
    Ok(match threshold {
        Threshold::Within(d) => {
            let due = na <= now + d;
            (
                due,
                format!(
                    "it expires on {} ({left} days left); {} within {} days",
                    x509::date(na),
                    if due { "that is" } else { "not" },
                    d.whole_days()
                ),
            )
        }
        Threshold::At(f) => {
            let total = (na - nb).as_seconds_f64();
            let used = ((now - nb).as_seconds_f64() / total).clamp(0.0, f64::MAX);
            let due = used >= f;
            (
                due,
                format!(
                    "{:.0}% of its lifetime has passed (renew at {:.0}%); it expires on {} ({left} days left)",
                    used.min(9.99) * 100.0,
                    f * 100.0,
                    x509::date(na)
                ),
            )
        }
    })
}

/// Parses `--fraction`: a fraction "2/3", a percentage "66%", or a decimal "0.66".
pub fn parse_fraction(s: &str) -> Option<f64> {
    let s = s.trim();
    let f = if let Some((a, b)) = s.split_once('/') {
        let (a, b): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if b == 0.0 {
            return None;
        }
        a / b
    } else if let Some(p) = s.strip_suffix('%') {
        p.trim().parse::<f64>().ok()? / 100.0
    } else {
        s.parse().ok()?
    };
    (f.is_finite() && (0.0..=1.0).contains(&f)).then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions() {
        assert!((parse_fraction("2/3").unwrap() - 0.6667).abs() < 0.001);
        assert_eq!(parse_fraction("50%"), Some(0.5));
        assert_eq!(parse_fraction("0.25"), Some(0.25));
        assert_eq!(parse_fraction("3/0"), None);
        assert_eq!(parse_fraction("5/3"), None);
        assert_eq!(parse_fraction("NaN"), None);
    }
}

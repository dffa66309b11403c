//! Revocation: mark a certificate revoked in the CA's `revoked.jsonl`, and
//! write CRLs (RFC 5280 section 5) that say so to every verifier.

use std::path::{Path, PathBuf};

use rcgen::{
    CertificateRevocationListParams, KeyIdMethod, RevocationReason, RevokedCertParams, SerialNumber,
};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::FromDer;

use crate::ca::{self, Ca, Session};
use crate::cakey::Unlock;
use crate::error::{Error, Result};
use crate::record::{self, Revocation};
use crate::{fsx, txn, x509};

/// RFC 5280 5.3.1 reason codes, by the names the RFC gives them.
const REASONS: [(&str, RevocationReason); 8] = [
    ("unspecified", RevocationReason::Unspecified),
    ("keyCompromise", RevocationReason::KeyCompromise),
    ("cACompromise", RevocationReason::CaCompromise),
    ("affiliationChanged", RevocationReason::AffiliationChanged),
    ("superseded", RevocationReason::Superseded),
    (
        "cessationOfOperation",
        RevocationReason::CessationOfOperation,
    ),
    ("certificateHold", RevocationReason::CertificateHold),
    ("privilegeWithdrawn", RevocationReason::PrivilegeWithdrawn),
];

/// The reason name as the RFC spells it, from any capitalisation.
pub fn parse_reason(s: &str) -> Result<&'static str> {
    REASONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(n, _)| *n)
        .ok_or_else(|| {
            Error::usage(format!(
                "unknown revocation reason {s:?}; use one of {}",
                REASONS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn reason_code(name: &str) -> Option<RevocationReason> {
    REASONS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// What `revoke` did.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub serial: String,
    pub names: Vec<crate::names::Tagged>,
    /// The intermediate whose CRL lists it; absent: the root's.
    pub issuer: Option<String>,
    pub reason: String,
    /// It was revoked before: nothing changed.
    pub already: bool,
}

/// Normalizes a serial as people paste it (`0A:1B`, `0x0a1b`).
fn normalize_serial(s: &str) -> Option<String> {
    let s = s
        .trim()
        .trim_start_matches("0x")
        .replace(':', "")
        .to_ascii_lowercase();
    (!s.is_empty() && s.len() <= 40 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| s.trim_start_matches('0').to_string())
}

/// Whether `what`, a serial as people paste it, is the recorded `serial`.
pub fn serial_is(serial: &str, what: &str) -> bool {
    normalize_serial(what).is_some_and(|s| serial.trim_start_matches('0') == s)
}

/// Finds the one recorded certificate `what` names: a serial, or a name
/// that exactly one unrevoked, unexpired certificate carries.
pub fn find(dir: &Path, what: &str) -> Result<record::Entry> {
    let (entries, _) = record::read(dir)?;
    let revoked = record::revocations(dir)?;
    if let Some(e) = entries.iter().rev().find(|e| serial_is(&e.serial, what)) {
        return Ok(e.clone());
    }
    let now = x509::now();
    let live: Vec<&record::Entry> = entries
        .iter()
        .filter(|e| e.names.iter().any(|n| n.eq_ignore_ascii_case(what)))
        .filter(|e| !revoked.iter().any(|r| r.serial == e.serial))
        .filter(|e| x509::parse_rfc3339(&e.not_after).is_some_and(|t| t > now))
        .collect();
    match live.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::usage(format!(
            "no unrevoked, unexpired certificate of this CA has the serial or name {what:?}; see `minica list`"
        ))),
        many => Err(Error::usage(format!(
            "{} certificates are named {what:?} (serials {}); give the serial",
            many.len(),
            many.iter()
                .map(|e| e.serial.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Marks the certificate `what` (a serial or a name) revoked, as one
/// transaction. Revoking twice is revoking once.
pub fn revoke(dir: &Path, what: &str, reason: &str) -> Result<Revoked> {
    let reason = parse_reason(reason)?;
    let session = Session::open(dir, false)?;
    if session.state() != ca::State::Complete {
        session.load(&Unlock::default())?;
    }
    let entry = find(dir, what)?;
    let already = record::revocations(dir)?
        .into_iter()
        .find(|r| r.serial == entry.serial);
    let out = Revoked {
        serial: entry.serial.clone(),
        names: entry
            .names
            .iter()
            .map(|n| crate::names::Tagged::from_text(n))
            .collect(),
        issuer: entry.issuer.clone(),
        reason: already
            .as_ref()
            .map(|r| r.reason.clone())
            .unwrap_or_else(|| reason.to_string()),
        already: already.is_some(),
    };
    if out.already {
        return Ok(out);
    }
    let mut plan = txn::Plan::in_ca(dir);
    plan.revoke(Revocation {
        serial: entry.serial,
        issuer: entry.issuer,
        revoked_at: x509::rfc3339(x509::now()),
        reason: reason.to_string(),
    });
    plan.run()?;
    Ok(out)
}

/// Which CA a CRL is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlIssuer {
    /// The one that signs leaves (ca.toml issue.issuer, else the root).
    Default,
    Root,
    Intermediate(String),
}

/// What `crl` made.
#[derive(Debug, Clone, Serialize)]
pub struct CrlMade {
    /// The intermediate; absent: the root.
    pub issuer: Option<String>,
    pub number: String,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    pub revoked: usize,
    /// The CA's copy (crl.pem beside the issuer's certificate).
    pub path: PathBuf,
    /// The copy asked for with --out.
    pub out: Option<PathBuf>,
}

/// The default lifetime of a CRL: a month, so that a development CA's CRL
/// does not lapse between two runs of a weekly job.
pub const DEFAULT_CRL_DAYS: u32 = 30;

/// Writes the CRL of `issuer`: every revocation of certificates it signed,
/// a CRL number larger than any before (the time in seconds, or the last
/// number plus one), the AKI of its key, valid for `days`. Signed by the
/// issuer's key (the root's passphrase is asked for the root's CRL).
pub fn crl(
    dir: &Path,
    unlock: &Unlock,
    issuer: CrlIssuer,
    days: u32,
    out: Option<&Path>,
) -> Result<CrlMade> {
    let days = x509::check_days(days)?;
    let session = Session::open(dir, false)?;
    let ca = match &issuer {
        CrlIssuer::Default => session.load_signer(None, unlock)?,
        CrlIssuer::Root => session.load(unlock)?,
        CrlIssuer::Intermediate(n) => session.load_signer(Some(n), unlock)?,
    };
    let path = crl_path(&ca);
    let mut targets = vec![(path.clone(), txn::Replace::Allowed)];
    if let Some(o) = out {
        targets.push((o.to_path_buf(), txn::Replace::Allowed));
    }
    txn::check_outputs(&targets)?;
    let revoked: Vec<Revocation> = record::revocations(dir)?
        .into_iter()
        .filter(|r| r.issuer == ca.name)
        .collect();
    let now = x509::now();
    let number = next_number(&path, now);
    let next_update = now + Duration::days(days.into());
    if next_update > ca.not_after {
        return Err(Error::Refused(format!(
            "a CRL valid for {days} days would outlive its CA, which expires on {}; ask for fewer --days",
            x509::date(ca.not_after)
        )));
    }
    let pem = crl_pem(&ca, &revoked, &number, now, next_update)?;
    let mut plan = txn::Plan::in_ca(dir);
    plan.write(&path, pem.as_bytes(), fsx::PUBLIC, txn::Replace::Allowed);
    if let Some(o) = out {
        plan.write(o, pem.as_bytes(), fsx::PUBLIC, txn::Replace::Allowed);
    }
    plan.run()?;
    Ok(CrlMade {
        issuer: ca.name.clone(),
        number: x509::hex(&number),
        this_update: now,
        next_update,
        revoked: revoked.len(),
        path,
        out: out.map(Path::to_path_buf),
    })
}

/// The CRL of `ca` listing `revoked`, as PEM: numbered `number`, issued
/// `now`, next update at `next_update`.
pub(crate) fn crl_pem(
    ca: &Ca,
    revoked: &[Revocation],
    number: &[u8],
    now: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<String> {
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update,
        crl_number: SerialNumber::from_slice(number),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&hex_bytes(&r.serial)?),
                    revocation_time: x509::parse_rfc3339(&r.revoked_at).unwrap_or(now),
                    reason_code: reason_code(&r.reason),
                    invalidity_date: None,
                })
            })
            .collect::<Result<_>>()?,
        // RFC 5280 5.2.1: the CRL's AKI is the issuer's SKI, as in its leaves.
        key_identifier_method: KeyIdMethod::PreSpecified(subject_key_id(ca)?),
    };
    let crl = params
        .signed_by(&ca.issuer)
        .map_err(|e| ca.signing_failed(e))?;
    let pem = crl
        .pem()
        .map_err(|e| Error::Crypto(format!("cannot encode the CRL: {e}")))?
        .replace("\r\n", "\n");
    Ok(pem)
}

/// Where a CA keeps its latest CRL.
pub fn crl_path(ca: &Ca) -> PathBuf {
    match &ca.name {
        Some(n) => ca.dir.join(ca::ISSUERS_DIR).join(n).join(ca::CRL_FILE),
        None => ca.dir.join(ca::CRL_FILE),
    }
}

/// RFC 5280 5.2.3: CRL numbers increase. The time in seconds does, unless
/// the clock went back: then the last CRL's number plus one.
pub(crate) fn next_number(last: &Path, now: OffsetDateTime) -> Vec<u8> {
    let by_time = now.unix_timestamp().max(1) as u128;
    let previous = fsx::read_nofollow(last, fsx::MAX_INPUT)
        .ok()
        .and_then(|bytes| {
            let block = pem::parse(&bytes).ok()?;
            let (_, crl) =
                x509_parser::revocation_list::CertificateRevocationList::from_der(block.contents())
                    .ok()?;
            let n = crl.crl_number()?;
            let b = n.to_bytes_be();
            (b.len() <= 16).then(|| b.iter().fold(0u128, |acc, x| (acc << 8) | u128::from(*x)))
        })
        .unwrap_or(0);
    let n = by_time.max(previous + 1);
    let bytes = n.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(15);
    bytes[first..].to_vec()
}

fn hex_bytes(s: &str) -> Result<Vec<u8>> {
    let s = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_string()
    };
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| Error::usage(format!("{s:?} is not a hexadecimal serial")))
        })
        .collect()
}

fn subject_key_id(ca: &Ca) -> Result<Vec<u8>> {
    let (_, x) = x509_parser::certificate::X509Certificate::from_der(&ca.cert_der)
        .map_err(|_| Error::Crypto("the CA certificate cannot be read".into()))?;
    for ext in x.extensions() {
        if let x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) =
            ext.parsed_extension()
        {
            return Ok(k.0.to_vec());
        }
    }
    // A CA without an SKI (made elsewhere): derive one as RFC 5280 4.2.1.2 (1) says.
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &ca.spki);
    Ok(d.as_ref()[..20].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_and_reasons_as_people_write_them() {
        assert_eq!(normalize_serial("0A:1b").as_deref(), Some("a1b"));
        assert_eq!(normalize_serial("0x00ff").as_deref(), Some("ff"));
        assert_eq!(normalize_serial("app.test"), None);
        assert_eq!(parse_reason("keycompromise").unwrap(), "keyCompromise");
        assert!(parse_reason("because").is_err());
        assert_eq!(hex_bytes("abc").unwrap(), [0x0a, 0xbc]);
    }
}

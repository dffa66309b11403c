//! Negative fixtures: certificates wrong in exactly one named way, and right
//! in every other (the names, key usages, chain and files of a good one),
//! so that a test of a client's refusal fails for that reason alone. And
//! the signing of good ones, which is the same code with no fault.
//!
//! How a client reports each (OpenSSL's verify codes, x509_vfy.c; curl
//! reports the same text):
//!
//! | fault           | what is wrong                               | OpenSSL                                   |
//! |-----------------|---------------------------------------------|-------------------------------------------|
//! | `expired`       | notAfter a day ago (within the CA's window) | 10 certificate has expired                |
//! | `not_yet_valid` | notBefore after renew_before + 30 days      | 9 certificate is not yet valid            |
//! | `wrong_host`    | names `wrong-host.<name>` instead           | 62 hostname mismatch                      |
//! | `wrong_ca`      | signed by a throwaway CA (throwaway-ca.pem) | 20 unable to get local issuer certificate |
//! | `client_only`   | the client profile: clientAuth only         | 26 unsuitable certificate purpose         |
//! | `self_signed`   | signed by its own key                       | 18 self-signed certificate                |
//! | `revoked`       | in the CA's CRL, written as crl.pem beside  | 23 certificate revoked                    |
//! | `weak_key`      | an RSA-1024 key                             | 66 EE certificate key too weak            |

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyUsagePurpose, SerialNumber};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use super::{Fault, Leaf, Target, WantedKey};
use crate::ca::{Ca, SignerCerts};
use crate::error::{Error, Result};
use crate::issue::{LeafSpec, Signed};
use crate::keys::{self, KeyType};
use crate::names::Name;
use crate::policy::KeyInfo;
use crate::x509;

/// The throwaway CA's name: plainly not the CA the client trusts.
pub const THROWAWAY_CN: &str = "minica throwaway CA (wrong_ca fixture)";

/// How far past renew_before a not_yet_valid certificate starts, so that
/// it stays not yet valid, and up to date, for at least this long.
const NOT_YET_VALID_LEAD: Duration = Duration::days(30);

/// The names a certificate carries: the entry's, or for wrong_host a name
/// under each DNS name (still inside any name constraints the CA has),
/// which no client connecting to the entry's names accepts.
pub fn cert_names(fault: Option<Fault>, names: &[Name]) -> Vec<Name> {
    if fault != Some(Fault::WrongHost) {
        return names.to_vec();
    }
    let mut out: Vec<Name> = names
        .iter()
        .filter_map(|n| match n {
            Name::Dns(d) => Some(Name::Dns(format!(
                "wrong-host.{}",
                d.strip_prefix("*.").unwrap_or(d)
            ))),
            _ => None,
        })
        .collect();
    out.dedup();
    if out.is_empty() {
        // Only addresses, emails or URIs: a reserved name (RFC 2606) no
        // client connects to.
        out.push(Name::Dns("wrong-host.invalid".into()));
    }
    out
}

/// A new key of the wanted kind, as PKCS#8 DER.
fn new_key(k: WantedKey) -> Result<Zeroizing<Vec<u8>>> {
    match k {
        WantedKey::Type(t) => Ok(Zeroizing::new(t.generate_leaf()?.pkcs8_der().to_vec())),
        WantedKey::WeakRsa => Ok(crate::weak_key::generate_rsa_1024()?.0),
    }
}

/// Signs the entry's certificate (keeping `kept_key` when given) as its
/// fault asks, checked against the CA's constraints and policy first.
pub(super) fn sign(
    t: &Target,
    ca: &Ca,
    now: OffsetDateTime,
    renew_before: Duration,
    kept_key: Option<&Zeroizing<Vec<u8>>>,
) -> Result<Leaf> {
    let spec = LeafSpec {
        names: t.cert_names.clone(),
        profile_name: t.profile_name.clone(),
        profile: t
            .profile
            .clone()
            .expect("profiles are loaded before signing"),
        days: t.days,
    };
    // weak_key breaks the policy's key rule on purpose; every other rule
    // (names, constraints, lifetime) is checked as for a good certificate.
    let checked_key = match t.key {
        WantedKey::Type(k) => KeyInfo::of_type(k),
        WantedKey::WeakRsa => KeyInfo::of_type(KeyType::Rsa2048),
    };
    let checked = spec
        .check(ca, &checked_key, now)
        .map_err(|e| Error::usage(format!("{}: {e}", t.label.display())))?;
    let (pkcs8, key_kept) = match kept_key {
        Some(k) => (k.clone(), true),
        None => (new_key(t.key)?, false),
    };
    let public = super::public_key(&pkcs8)?;
    let rsa = keys::is_rsa(&public);
    let lifetime = checked.not_after() - checked.not_before();
    let mut throwaway = None;
    let signed = match t.fault {
        // Both windows stay inside the CA's, so that the date is the only
        // thing wrong: a day ago, or just now for a CA made a minute ago.
        Some(Fault::Expired) => {
            let not_after = (now - Duration::days(1))
                .max(ca.not_before + Duration::seconds(30))
                .min(now - Duration::seconds(1));
            let not_before = (not_after - lifetime)
                .max(ca.not_before)
                .min(not_after - Duration::seconds(1));
            spec.sign(ca, &public, &checked.with_window(not_before, not_after))?
        }
        Some(Fault::NotYetValid) => {
            let not_before = now + renew_before + NOT_YET_VALID_LEAD;
            if not_before >= ca.not_after - Duration::days(1) {
                return Err(Error::usage(format!(
                    "{}: a not_yet_valid certificate would start after its CA expires on {}; make renew_before shorter",
                    t.label.display(),
                    x509::date(ca.not_after)
                )));
            }
            let not_after = (not_before + lifetime).min(ca.not_after);
            spec.sign(ca, &public, &checked.with_window(not_before, not_after))?
        }
        Some(Fault::SelfSigned) => {
            let pair = super::key_pair(&pkcs8)
                .ok_or_else(|| Error::Crypto("the key cannot sign".into()))?;
            let mut params = spec.params(ca, &checked, rsa)?;
            // Its own key signs it: no authority key identifier to point elsewhere.
            params.use_authority_key_identifier_extension = false;
            params.crl_distribution_points.clear();
            let cert = params
                .self_signed(&crate::rng::Signer::new(pair))
                .map_err(|e| Error::Crypto(format!("cannot sign: {e}")))?;
            Signed::of(&params, &cert, &checked)
        }
        Some(Fault::WrongCa) => {
            let (issuer, pem) = throwaway_ca(now, checked.not_after())?;
            let mut params = spec.params(ca, &checked, rsa)?;
            params.crl_distribution_points.clear();
            let cert = params
                .signed_by(&public, &issuer)
                .map_err(|e| Error::Crypto(format!("cannot sign: {e}")))?;
            throwaway = t.throwaway.clone().map(|p| (p, pem));
            Signed::of(&params, &cert, &checked)
        }
        _ => spec.sign(ca, &public, &checked)?,
    };
    Ok(Leaf {
        der: signed.der,
        pem: signed.pem,
        serial: signed.serial,
        not_before: signed.not_before,
        not_after: signed.not_after,
        key_pkcs8: Some(pkcs8),
        key_kept,
        throwaway,
        alone: t.alone(),
    })
}

/// A CA made for one wrong_ca leaf and forgotten: its key is never written.
fn throwaway_ca(
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<(rcgen::CertifiedIssuer<'static, crate::rng::Signer>, String)> {
    let mut params = CertificateParams::default();
    params.serial_number = Some(SerialNumber::from_slice(&x509::random_serial()?));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, THROWAWAY_CN);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = (now - x509::BACKDATE).min(until - Duration::days(2));
    params.not_after = until + Duration::days(1);
    let key = KeyType::EcdsaP256.generate()?;
    let issuer = rcgen::CertifiedIssuer::self_signed(params, crate::rng::Signer::new(key))
        .map_err(|e| Error::Crypto(format!("cannot make the throwaway CA: {e}")))?;
    let pem = issuer.pem();
    Ok((issuer, pem))
}

/// Why the certificate is not signed as its fault wants, if it is not.
pub(super) fn issuer_mismatch(
    t: &Target,
    x: &X509Certificate<'_>,
    signer: &SignerCerts,
) -> Result<Option<String>> {
    let by = |issuer: &X509Certificate<'_>| {
        x.issuer().as_raw() == issuer.subject().as_raw()
            && x.verify_signature(Some(issuer.public_key())).is_ok()
    };
    let (_, ours) = X509Certificate::from_der(&signer.cert)
        .map_err(|_| Error::Crypto("the CA certificate is corrupt".into()))?;
    Ok(match t.fault {
        Some(Fault::SelfSigned) => (!by(x)).then(|| "it is not self-signed".to_string()),
        Some(Fault::WrongCa) => {
            let path = t.throwaway.as_deref().expect("wrong_ca has a throwaway CA");
            let throwaway = super::certs_in(path)?.and_then(|c| c.into_iter().next());
            let under_throwaway = throwaway.as_ref().is_some_and(|der| {
                X509Certificate::from_der(der)
                    .is_ok_and(|(_, c)| c.subject().to_string().contains(THROWAWAY_CN) && by(&c))
            });
            (!under_throwaway || by(&ours))
                .then(|| format!("it is not signed by the throwaway CA in {}", path.display()))
        }
        _ => (!by(&ours)).then(|| match &signer.name {
            Some(n) => format!("it was not signed by the intermediate {n}"),
            None => "it was not signed by the CA's root".to_string(),
        }),
    })
}

/// What the certificate's dates mean for its entry.
pub(super) enum Validity {
    Good,
    Renew(String),
    Reissue(String),
}

pub(super) fn validity(
    fault: Option<Fault>,
    x: &X509Certificate<'_>,
    now: OffsetDateTime,
    renew_before: Duration,
) -> Validity {
    let nb = x.validity().not_before.to_datetime();
    let na = x.validity().not_after.to_datetime();
    match fault {
        Some(Fault::Expired) if na < now => Validity::Good,
        Some(Fault::Expired) => Validity::Reissue("it has not expired".into()),
        Some(Fault::NotYetValid) if nb > now + renew_before => Validity::Good,
        Some(Fault::NotYetValid) if nb > now => Validity::Renew(format!(
            "it becomes valid on {}, within renew_before",
            x509::date(nb)
        )),
        Some(Fault::NotYetValid) => Validity::Reissue("it is valid already".into()),
        _ if nb > now => Validity::Reissue(format!("it is not valid until {}", x509::rfc3339(nb))),
        _ if na <= now + renew_before => Validity::Renew(format!(
            "it expires on {} ({} days left), within renew_before",
            x509::date(na),
            x509::days_left(na, now).max(0)
        )),
        _ => Validity::Good,
    }
}

/// How long a fixture's CRL is valid: well past renew_before, within the CA.
pub(super) fn crl_next_update(
    ca: &Ca,
    now: OffsetDateTime,
    renew_before: Duration,
) -> OffsetDateTime {
    let ahead = Ord::max(renew_before.saturating_mul(2), Duration::days(30));
    (now + ahead).min(ca.not_after)
}

/// Why the CRL beside a revoked fixture is out of date, if it is: it must
/// be the signer's, list the serial, and stay current past renew_before.
pub(super) fn crl_mismatch(
    path: &Path,
    serial: &str,
    signer: &SignerCerts,
    now: OffsetDateTime,
    renew_before: Duration,
) -> Result<Option<String>> {
    let Some(bytes) = super::read_if_there(path)? else {
        return Ok(Some(format!("{} is not there", path.display())));
    };
    let Some(der) = crate::crl::parse(path, &bytes)
        .ok()
        .and_then(|c| c.into_iter().next())
    else {
        return Ok(Some(format!("{} is not a CRL", path.display())));
    };
    let (_, ours) = X509Certificate::from_der(&signer.cert)
        .map_err(|_| Error::Crypto("the CA certificate is corrupt".into()))?;
    let Ok((_, crl)) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
    else {
        return Ok(Some(format!("{} is not a CRL", path.display())));
    };
    let signed = crl.issuer().as_raw() == ours.subject().as_raw()
        && crl.verify_signature(ours.public_key()).is_ok();
    let lists = crl
        .iter_revoked_certificates()
        .any(|r| x509::hex(r.raw_serial()) == serial);
    let current = crl
        .next_update()
        .is_some_and(|t| t.to_datetime() > now + renew_before);
    Ok((!(signed && lists && current)).then(|| {
        format!(
            "{} is not a current CRL of the issuer listing serial {serial}",
            path.display()
        )
    }))
}

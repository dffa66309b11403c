//! The checks of RFC 5280 §6.1 that rustls-webpki does not make, run on the
//! path webpki verified (its `VerifiedPath`), never on a path rebuilt by
//! matching names.
//!
//! webpki reduces a trust anchor to its subject, key and name constraints,
//! so the anchor's own validity, basicConstraints, pathLenConstraint,
//! keyUsage, extendedKeyUsage and critical extensions are checked here. It
//! does not check keyCertSign on intermediates, a leaf's CommonName against
//! name constraints when the leaf has no DNS name, weak leaf keys, or that
//! the issuer of a CRL may sign CRLs when that issuer is the anchor: those
//! are here too.

use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::X509Certificate;

use crate::text::escape;

/// A reason a path is refused: the check it belongs to, a stable code, and
/// a sentence that says what to do.
#[derive(Debug, Clone)]
pub struct Problem {
    pub check: &'static str,
    pub reason: &'static str,
    pub message: String,
}

fn problem(check: &'static str, reason: &'static str, message: String) -> Problem {
    Problem {
        check,
        reason,
        message,
    }
}

/// The role of the certificate at `i` of a path of `n` (leaf first).
pub fn role(i: usize, n: usize) -> &'static str {
    if i == 0 {
        "leaf"
    } else if i + 1 == n {
        "root"
    } else {
        "intermediate"
    }
}

pub fn subject(c: &X509Certificate<'_>) -> String {
    escape(&c.subject().to_string())
}

const OID_BC: &str = "2.5.29.19";
const OID_KU: &str = "2.5.29.15";
const OID_EKU: &str = "2.5.29.37";
const OID_SAN: &str = "2.5.29.17";
const OID_NC: &str = "2.5.29.30";
const OID_CRLDP: &str = "2.5.29.31";
const OID_AKI: &str = "2.5.29.35";
const OID_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
const OID_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

/// Critical extensions webpki understands (and so minica, which runs every
/// certificate through webpki): RFC 5280 §4.2 says a certificate with any
/// other critical extension MUST be rejected.
const KNOWN_CRITICAL: &[&str] = &[OID_BC, OID_KU, OID_EKU, OID_SAN, OID_NC, OID_CRLDP];

/// A time as webpki reads it: UTCTime YYMMDDHHMMSSZ or GeneralizedTime
/// YYYYMMDDHHMMSSZ, whole seconds, no fraction and no offset (RFC 5280
/// §4.1.2.5). One rule for every certificate of the path, so that the
/// anchor is judged by the same clock and rounding as the rest.
fn strict_time(tag: u8, v: &[u8]) -> Option<i64> {
    let d = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, rest) = match (tag, v.len()) {
        (0x17, 13) => {
            let yy = d(&v[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &v[2..])
        }
        (0x18, 15) => (d(&v[..4])?, &v[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let (mo, da, h, mi, s) = (
        d(&rest[0..2])?,
        d(&rest[2..4])?,
        d(&rest[4..6])?,
        d(&rest[6..8])?,
        d(&rest[8..10])?,
    );
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(da).ok()?)
            .ok()?;
    let t = date
        .with_hms(
            u8::try_from(h).ok()?,
            u8::try_from(mi).ok()?,
            u8::try_from(s).ok()?,
        )
        .ok()?;
    Some(t.assume_utc().unix_timestamp())
}

/// One DER TLV: (tag, contents, rest).
fn tlv(i: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, i) = i.split_first()?;
    let (&l0, i) = i.split_first()?;
    let (len, i) = if l0 < 0x80 {
        (usize::from(l0), i)
    } else {
        let n = usize::from(l0 & 0x7f);
        if n == 0 || n > 4 || i.len() < n {
            return None;
        }
        let len = i[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &i[n..])
    };
    (i.len() >= len).then(|| (tag, &i[..len], &i[len..]))
}

/// notBefore and notAfter in Unix seconds, read as webpki reads them.
pub fn validity_secs(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2; // version
    }
    rest = tlv(rest)?.2; // serial
    rest = tlv(rest)?.2; // signature algorithm
    rest = tlv(rest)?.2; // issuer
    let (_, validity, _) = tlv(rest)?;
    let (t1, nb, rest) = tlv(validity)?;
    let (t2, na, _) = tlv(rest)?;
    Some((strict_time(t1, nb)?, strict_time(t2, na)?))
}

/// The key rule, the same for every kind of key and every certificate of
/// the path. Refused: a key that TLS 1.3 cannot use at all, or that
/// OpenSSL 3 refuses at its default security level: DSA (no TLS 1.3
/// signature scheme; browsers, rustls and Go refuse it), EC curves other
/// than P-256/P-384/P-521 such as P-192 or secp256k1 (no TLS 1.3 scheme;
/// refused by browsers, rustls and Go), RSA under 1024 bits (OpenSSL's
/// level 1 floor), and key types no TLS stack knows. Warned about: keys that
/// a mainstream peer uses but others refuse: RSA of 1024 to 2047 bits
/// (OpenSSL accepts; rustls and the CA/Browser Forum need 2048), RSA-PSS-only
/// and Ed448 keys (OpenSSL accepts; rustls, Go and browsers do not). As an
/// issuer's key, RSA under 2048 bits cannot verify under webpki at all
/// (`unsupported_signature`).
pub fn key_verdict(c: &X509Certificate<'_>) -> Result<Option<String>, String> {
    let info = crate::policy::KeyInfo::from_spki(c.public_key());
    match info.algorithm.as_str() {
        "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521" | "ed25519" => Ok(None),
        "rsa" if info.bits >= 2048 => Ok(None),
        "rsa" if info.bits >= 1024 => Ok(Some(format!(
            "an RSA-{} key: rustls and the CA/Browser Forum require 2048 bits or more",
            info.bits
        ))),
        "rsa" => Err(format!(
            "an RSA-{} key, which OpenSSL, rustls, Go and browsers all refuse (1024 bits is the least OpenSSL allows, 2048 for rustls and browsers)",
            info.bits
        )),
        _ if c.public_key().algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.10" => Ok(Some(
            "an RSA-PSS-only key (id-RSASSA-PSS): OpenSSL accepts it, but rustls, Go and browsers do not".into(),
        )),
        _ if c.public_key().algorithm.algorithm.to_id_string() == "1.3.101.113" => Ok(Some(
            "an Ed448 key: OpenSSL accepts it, but rustls, Go and browsers do not".into(),
        )),
        _ => {
            let oid = c.public_key().algorithm.algorithm.to_id_string();
            let what = match oid.as_str() {
                "1.2.840.10040.4.1" => {
                    "a DSA key, which TLS 1.3, browsers, rustls and Go do not accept".to_string()
                }
                _ if info.algorithm.starts_with("ECDSA on curve") => format!(
                    "{} (not P-256, P-384 or P-521, the only curves TLS 1.3 signs with and browsers, rustls and Go accept)",
                    info.algorithm
                ),
                _ => format!("{}, which TLS stacks do not know", info.algorithm),
            };
            Err(what)
        }
    }
}

/// What the path is checked for besides signatures.
pub struct PathRules<'a> {
    /// Unix seconds, whole.
    pub at: i64,
    /// Reject the path if something in it expires at or before this time.
    pub expires_by: Option<i64>,
    /// The EKU every certificate with an EKU must allow (webpki's rule,
    /// extended to the anchor).
    pub eku: Option<&'static str>,
    pub max_intermediates: Option<usize>,
    /// The CRLs given: (issuer name DER, whether crlNumber is critical).
    pub crls: &'a [CrlFacts],
}

/// What the path checks need of a CRL.
#[derive(Debug, Clone)]
pub struct CrlFacts {
    pub issuer_raw: Vec<u8>,
    pub has_crl_number: bool,
    pub crl_number_critical: bool,
    pub issuer_text: String,
}

/// Checks the path `certs` (leaf first, the anchor last). Returns the first
/// problem and the warnings.
pub fn check_path(
    certs: &[&X509Certificate<'_>],
    ders: &[&[u8]],
    rules: &PathRules<'_>,
) -> (Option<Problem>, Vec<String>) {
    let mut warnings = Vec::new();
    let n = certs.len();
    let first = |p: Problem, w: Vec<String>| (Some(p), w);

    // Self-issued intermediates (key rollover) do not count, as for
    // pathLenConstraint (RFC 5280 §6.1.4 (l)).
    if let Some(max) = rules.max_intermediates
        && n >= 2
        && non_self_issued_intermediates(&certs[1..n - 1]) > max
    {
        return first(
            problem(
                "chain",
                "path_too_long",
                format!(
                    "the path has {} intermediate(s), more than the {max} allowed (--max-depth)",
                    non_self_issued_intermediates(&certs[1..n - 1])
                ),
            ),
            warnings,
        );
    }

    // Validity of every certificate, the anchor's included, by one rule.
    for (i, (c, der)) in certs.iter().zip(ders).enumerate() {
        let who = format!("the {} \"{}\"", role(i, n), subject(c));
        let Some((nb, na)) = validity_secs(der) else {
            return first(
                problem(
                    "validity",
                    "bad_time",
                    format!(
                        "{who} has validity dates not in the form RFC 5280 §4.1.2.5 requires (whole seconds, UTC, no fraction); TLS clients such as rustls refuse it; reissue it"
                    ),
                ),
                warnings,
            );
        };
        if rules.at > na {
            return first(
                problem(
                    "validity",
                    "expired",
                    format!(
                        "{who} expired on {} ({} days before the time checked); renew it",
                        day(na),
                        (rules.at - na) / 86_400
                    ),
                ),
                warnings,
            );
        }
        if rules.at < nb {
            return first(
                problem(
                    "validity",
                    "not_yet_valid",
                    format!(
                        "{who} is not valid until {}; check the clock of the machine that issued it",
                        stamp(nb)
                    ),
                ),
                warnings,
            );
        }
    }
    if let Some(by) = rules.expires_by {
        let soonest = certs
            .iter()
            .zip(ders)
            .enumerate()
            .filter_map(|(i, (c, d))| validity_secs(d).map(|(_, na)| (i, c, na)))
            .filter(|(_, _, na)| *na <= by)
            .min_by_key(|(_, _, na)| *na);
        if let Some((i, c, na)) = soonest {
            return first(
                problem(
                    "expires_within",
                    "expires_soon",
                    format!(
                        "the {} \"{}\" expires on {}, within {} days; renew it",
                        role(i, n),
                        subject(c),
                        stamp(na),
                        (by - rules.at) / 86_400
                    ),
                ),
                warnings,
            );
        }
    }

    // The anchor: RFC 5280 §6.1.4 (k)-(n), §4.2.1.9, §4.2.1.3, §4.2 for it
    // too. A trust anchor that is not a CA, or whose pathLenConstraint or
    // keyUsage forbids what it did, does not vouch for the path.
    let anchor = certs[n - 1];
    let anchor_name = subject(anchor);
    match anchor.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {
            if let Some(max) = bc.value.path_len_constraint {
                let below = non_self_issued_intermediates(&certs[1..n - 1]);
                if below > max as usize {
                    return first(
                        problem(
                            "chain",
                            "path_length",
                            format!(
                                "the root \"{anchor_name}\" allows {max} intermediate(s) below it (pathLenConstraint), the path has {below}; issue the leaf from a CA the root allows"
                            ),
                        ),
                        warnings,
                    );
                }
            }
        }
        Ok(Some(_)) => {
            return first(
                problem(
                    "chain",
                    "anchor_not_ca",
                    format!(
                        "the trusted certificate \"{anchor_name}\" is not a CA (basicConstraints CA:FALSE), so it cannot vouch for other certificates; trust the CA that issued them instead"
                    ),
                ),
                warnings,
            );
        }
        Ok(None) => {
            return first(
                problem(
                    "chain",
                    "anchor_not_ca",
                    format!(
                        "the trusted certificate \"{anchor_name}\" has no basicConstraints, so it is not a CA certificate (RFC 5280 §4.2.1.9) and cannot vouch for other certificates; trust a real CA certificate"
                    ),
                ),
                warnings,
            );
        }
        Err(_) => {
            return first(
                problem(
                    "chain",
                    "malformed",
                    format!("the root \"{anchor_name}\" has a malformed basicConstraints"),
                ),
                warnings,
            );
        }
    }
    if let Some(ext) = anchor
        .extensions()
        .iter()
        .find(|e| e.critical && !KNOWN_CRITICAL.contains(&e.oid.to_id_string().as_str()))
    {
        return first(
            problem(
                "chain",
                "unknown_critical_extension",
                format!(
                    "the root \"{anchor_name}\" has a critical extension {} that minica does not process; RFC 5280 §4.2 says to reject it",
                    ext.oid.to_id_string()
                ),
            ),
            warnings,
        );
    }

    // A self-issued root whose authorityKeyIdentifier names another key or
    // another issuer claims to be signed by some other certificate: it is
    // not the self-signed root it looks like, and OpenSSL refuses it as a
    // trust anchor (CA/Browser Forum BR 7.1.2.1.3: only a keyIdentifier,
    // equal to the subjectKeyIdentifier).
    if anchor.subject().as_raw() == anchor.issuer().as_raw()
        && let Some(why) = anchor_aki_problem(anchor)
    {
        return first(
            problem(
                "chain",
                "anchor_not_self_signed",
                format!(
                    "the root \"{anchor_name}\" has an authorityKeyIdentifier that {why}, so it claims another certificate signed it and is not a self-signed root (OpenSSL refuses it as a trust anchor); trust a root whose authorityKeyIdentifier, if any, holds only its own key identifier"
                ),
            ),
            warnings,
        );
    }

    // Every issuer (intermediates and anchor) with a keyUsage must allow
    // keyCertSign (RFC 5280 §4.2.1.3, §6.1.4 (n)).
    for (i, c) in certs.iter().enumerate().skip(1) {
        if let Ok(Some(ku)) = c.key_usage()
            && !ku.value.key_cert_sign()
        {
            return first(
                problem(
                    "chain",
                    "issuer_key_usage",
                    format!(
                        "the {} \"{}\" has a keyUsage without keyCertSign, so it may not sign certificates; reissue it with keyCertSign",
                        role(i, n),
                        subject(c)
                    ),
                ),
                warnings,
            );
        }
    }

    // The anchor's EKU, under webpki's rule for the rest of the path: when
    // present it must allow the purpose.
    if let Some(eku) = rules.eku
        && let Ok(Some(e)) = anchor.extended_key_usage()
    {
        let allows = match eku {
            OID_SERVER_AUTH => e.value.server_auth,
            OID_CLIENT_AUTH => e.value.client_auth,
            _ => false,
        };
        if !allows {
            return first(
                problem(
                    "purpose",
                    "wrong_purpose",
                    format!(
                        "the root \"{anchor_name}\" has an extended key usage without {}, so it cannot vouch for {}; trust a root without that limit",
                        if eku == OID_SERVER_AUTH {
                            "serverAuth"
                        } else {
                            "clientAuth"
                        },
                        if eku == OID_SERVER_AUTH {
                            "TLS servers"
                        } else {
                            "TLS clients"
                        },
                    ),
                ),
                warnings,
            );
        }
    }

    // A leaf without a DNS name: OpenSSL checks a host-like CommonName
    // against the DNS name constraints above it, and so does minica.
    if let Some(p) = cn_name_constraints(certs) {
        return first(p, warnings);
    }

    // RFC 5280 §4.2.1.10: name constraints only in CA certificates.
    let leaf = certs[0];
    if leaf
        .extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == OID_NC)
    {
        return first(
            problem(
                "chain",
                "name_constraints",
                "the leaf carries name constraints, which RFC 5280 §4.2.1.10 allows only in CA certificates; reissue it without them".into(),
            ),
            warnings,
        );
    }
    // RFC 5280 §4.2.1.1: the authority key identifier MUST NOT be critical.
    for (i, c) in certs.iter().enumerate().take(n - 1) {
        if c.extensions()
            .iter()
            .any(|e| e.critical && e.oid.to_id_string() == OID_AKI)
        {
            return first(
                problem(
                    "chain",
                    "malformed",
                    format!(
                        "the {} \"{}\" marks its authorityKeyIdentifier critical, which RFC 5280 §4.2.1.1 forbids; reissue it",
                        role(i, n),
                        subject(c)
                    ),
                ),
                warnings,
            );
        }
    }

    if let Some(p) = profile(certs) {
        return first(p, warnings);
    }

    // Keys.
    for (i, c) in certs.iter().enumerate() {
        match key_verdict(c) {
            Ok(None) => {}
            Ok(Some(w)) => warnings.push(format!("the {} \"{}\" has {w}", role(i, n), subject(c))),
            Err(e) => {
                return first(
                    problem(
                        "keys",
                        "weak_key",
                        format!(
                            "the {} \"{}\" has {e}; reissue it with an ECDSA P-256 or RSA-2048 key",
                            role(i, n),
                            subject(c)
                        ),
                    ),
                    warnings,
                );
            }
        }
    }

    // CRLs: RFC 5280 §5.2.3 (crlNumber MUST NOT be critical) and §4.2.1.3
    // (the CRL issuer must have cRLSign). webpki checks the latter only for
    // intermediates, not for the anchor.
    for (i, c) in certs.iter().enumerate().take(n - 1) {
        let issuer_raw = c.issuer().as_raw();
        for crl in rules.crls.iter().filter(|f| f.issuer_raw == issuer_raw) {
            if !crl.has_crl_number {
                return first(
                    problem(
                        "revocation",
                        "bad_crl",
                        format!(
                            "the CRL of \"{}\" has no crlNumber, which RFC 5280 §5.2.3 requires of every CRL; regenerate it (openssl ca: set crlnumber in the CA's configuration)",
                            crl.issuer_text
                        ),
                    ),
                    warnings,
                );
            }
            if crl.crl_number_critical {
                return first(
                    problem(
                        "revocation",
                        "bad_crl",
                        format!(
                            "the CRL of \"{}\" marks its crlNumber critical, which RFC 5280 §5.2.3 forbids; regenerate the CRL",
                            crl.issuer_text
                        ),
                    ),
                    warnings,
                );
            }
            let issuer = certs[i + 1];
            if let Ok(Some(ku)) = issuer.key_usage()
                && !ku.value.crl_sign()
            {
                return first(
                    problem(
                        "revocation",
                        "bad_crl",
                        format!(
                            "the CRL of \"{}\" is signed by a CA whose keyUsage lacks cRLSign, so it may not sign CRLs (RFC 5280 §4.2.1.3); add cRLSign to the CA or sign CRLs with a key that has it",
                            crl.issuer_text
                        ),
                    ),
                    warnings,
                );
            }
        }
    }
    (None, warnings)
}

const OID_POLICY_CONSTRAINTS: &str = "2.5.29.36";
const OID_AIA: &str = "1.3.6.1.5.5.7.1.1";

/// RFC 5280 MUSTs on the certificates themselves that webpki does not
/// enforce, each of which makes a certificate one that a conforming CA
/// cannot have issued.
fn profile(certs: &[&X509Certificate<'_>]) -> Option<Problem> {
    let n = certs.len();
    let bad = |i: usize, c: &X509Certificate<'_>, what: &str| {
        Some(problem(
            "chain",
            "malformed",
            format!("the {} \"{}\" {what}; reissue it", role(i, n), subject(c)),
        ))
    };
    for (i, c) in certs.iter().enumerate() {
        // §4.1.2.2: a serial is a positive integer of at most 20 octets.
        let serial = c.raw_serial();
        if i + 1 < n && (serial.len() > 20 || serial.iter().all(|b| *b == 0)) {
            return bad(
                i,
                c,
                "has a serial number that is zero or longer than 20 octets (RFC 5280 §4.1.2.2)",
            );
        }
        let empty_subject = c.subject().iter().next().is_none();
        for ext in c.extensions() {
            let oid = ext.oid.to_id_string();
            match oid.as_str() {
                // §4.2.1.6: with an empty subject the SAN MUST be critical.
                OID_SAN if empty_subject && !ext.critical => {
                    return bad(
                        i,
                        c,
                        "has an empty subject and a non-critical subjectAltName (RFC 5280 §4.2.1.6 requires it critical)",
                    );
                }
                // §4.2.1.11: policyConstraints MUST be critical.
                OID_POLICY_CONSTRAINTS if !ext.critical => {
                    return bad(
                        i,
                        c,
                        "has a non-critical policyConstraints (RFC 5280 §4.2.1.11 requires it critical)",
                    );
                }
                // §4.2.1.10: nameConstraints MUST be critical, and MUST NOT
                // be empty.
                OID_NC if i > 0 => {
                    if !ext.critical {
                        return bad(
                            i,
                            c,
                            "has non-critical name constraints (RFC 5280 §4.2.1.10 requires them critical)",
                        );
                    }
                    let empty = match ext.parsed_extension() {
                        ParsedExtension::NameConstraints(nc) => {
                            nc.permitted_subtrees.as_ref().is_none_or(Vec::is_empty)
                                && nc.excluded_subtrees.as_ref().is_none_or(Vec::is_empty)
                        }
                        _ => true,
                    };
                    if empty {
                        return bad(
                            i,
                            c,
                            "has name constraints with neither permitted nor excluded names (RFC 5280 §4.2.1.10 forbids an empty one)",
                        );
                    }
                }
                // §4.2.2.1: an AIA holds one or more access descriptions.
                OID_AIA => {
                    let ok = matches!(ext.parsed_extension(), ParsedExtension::AuthorityInfoAccess(a) if !a.accessdescs.is_empty());
                    if !ok {
                        return bad(
                            i,
                            c,
                            "has a malformed authorityInfoAccess (RFC 5280 §4.2.2.1: one or more access descriptions)",
                        );
                    }
                }
                _ => {}
            }
        }
        if i == 0 {
            // §4.2.1.9: keyCertSign only with cA TRUE.
            if let Ok(Some(ku)) = c.key_usage()
                && ku.value.key_cert_sign()
                && !matches!(c.basic_constraints(), Ok(Some(bc)) if bc.value.ca)
            {
                return bad(
                    i,
                    c,
                    "asserts keyCertSign without being a CA (RFC 5280 §4.2.1.9)",
                );
            }
        } else {
            // §4.1.2.6: a CA's subject MUST be a non-empty name.
            if empty_subject {
                return bad(i, c, "is a CA with an empty subject (RFC 5280 §4.1.2.6)");
            }
            // §4.2.1.9: basicConstraints MUST be critical in a CA certificate.
            if c.extensions()
                .iter()
                .any(|e| e.oid.to_id_string() == OID_BC && !e.critical)
            {
                return bad(
                    i,
                    c,
                    "is a CA whose basicConstraints is not critical (RFC 5280 §4.2.1.9 requires it critical)",
                );
            }
        }
    }
    None
}

/// What is wrong with a root's authorityKeyIdentifier, if anything.
fn anchor_aki_problem(c: &X509Certificate<'_>) -> Option<&'static str> {
    let mut ski = None;
    let mut aki = None;
    for ext in c.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => aki = Some(a),
            _ => {}
        }
    }
    let aki = aki?;
    if aki.authority_cert_issuer.is_some() || aki.authority_cert_serial.is_some() {
        return Some("names an issuer or serial number");
    }
    match (&aki.key_identifier, ski) {
        (None, _) => Some("has no keyIdentifier"),
        (Some(k), Some(s)) if k.0 != s => {
            Some("holds another key's identifier than its subjectKeyIdentifier")
        }
        _ => None,
    }
}

/// Intermediates that count toward a pathLenConstraint: self-issued ones
/// (subject = issuer: key rollover) do not (RFC 5280 §6.1.4 (l)).
fn non_self_issued_intermediates(inters: &[&X509Certificate<'_>]) -> usize {
    inters
        .iter()
        .filter(|c| c.subject().as_raw() != c.issuer().as_raw())
        .count()
}

/// Whether a CommonName is a host name as OpenSSL decides before checking
/// it against DNS name constraints (`cn2dnsid` in crypto/x509/v3_utl.c):
/// letters, digits and '_', with '-' and '.' inside, two labels or more,
/// and no '-' or '.' next to a '.'. An IP address in a CommonName passes
/// too, as in OpenSSL.
fn host_like(cn: &str) -> bool {
    let b = cn.as_bytes();
    let mut dotted = false;
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_alphanumeric() || c == b'_' {
            continue;
        }
        if i > 0 && i + 1 < b.len() {
            if c == b'-' {
                continue;
            }
            if c == b'.' && b[i + 1] != b'.' && b[i - 1] != b'-' && b[i + 1] != b'-' {
                dotted = true;
                continue;
            }
        }
        return false;
    }
    dotted
}

fn dns_constraint_matches(base: &str, name: &str) -> bool {
    let (base, name) = (base.to_ascii_lowercase(), name.to_ascii_lowercase());
    if base.is_empty() {
        return true;
    }
    match base.strip_prefix('.') {
        Some(_) => name.ends_with(&base),
        None => name == base || name.ends_with(&format!(".{base}")),
    }
}

fn cn_name_constraints(certs: &[&X509Certificate<'_>]) -> Option<Problem> {
    let leaf = certs[0];
    let has_dns = match leaf.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .any(|g| matches!(g, GeneralName::DNSName(_))),
        _ => false,
    };
    if has_dns {
        return None;
    }
    let cns: Vec<String> = leaf
        .subject()
        .iter_common_name()
        .filter_map(|a| a.as_str().ok().map(String::from))
        .filter(|cn| host_like(cn))
        .collect();
    for cn in &cns {
        for (i, ca) in certs.iter().enumerate().skip(1) {
            for ext in ca.extensions() {
                let ParsedExtension::NameConstraints(nc) = ext.parsed_extension() else {
                    continue;
                };
                let dns = |subtrees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
                    subtrees
                        .iter()
                        .flatten()
                        .filter_map(|s| match &s.base {
                            GeneralName::DNSName(d) => Some(d.to_string()),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                };
                let permitted = dns(&nc.permitted_subtrees);
                let excluded = dns(&nc.excluded_subtrees);
                let outside = (!permitted.is_empty()
                    && !permitted.iter().any(|b| dns_constraint_matches(b, cn)))
                    || excluded.iter().any(|b| dns_constraint_matches(b, cn));
                if outside {
                    return Some(problem(
                        "chain",
                        "name_constraints",
                        format!(
                            "the leaf has no DNS name, and its CommonName \"{}\" is outside the name constraints of the {} \"{}\" (OpenSSL checks such a CommonName as a host name); issue it from a CA allowed to certify that name",
                            escape(cn),
                            role(i, certs.len()),
                            subject(ca)
                        ),
                    ));
                }
            }
        }
    }
    None
}

fn stamp(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(crate::x509::rfc3339)
        .unwrap_or_else(|_| secs.to_string())
}

fn day(secs: i64) -> String {
    let s = stamp(secs);
    s.get(..10).unwrap_or(&s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_webpki_reads_them() {
        assert_eq!(strict_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(strict_time(0x18, b"19700101000001Z"), Some(1));
        assert_eq!(strict_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(strict_time(0x18, b"19700101000001.5Z"), None);
        assert_eq!(strict_time(0x18, b"19700101000001+0100"), None);
        assert_eq!(strict_time(0x17, b"700230000000Z"), None);
    }

    #[test]
    fn cn_matching() {
        assert!(host_like("a.example.test"));
        assert!(!host_like("My Server"));
        assert!(!host_like("localhost"));
        assert!(host_like("127.0.0.1"));
        assert!(host_like("under_score.test"));
        assert!(!host_like("a.-b.test"));
        assert!(!host_like("a-.b.test"));
        assert!(!host_like(".a.test"));
        assert!(!host_like("a..test"));
        assert!(dns_constraint_matches("example.test", "a.example.test"));
        assert!(dns_constraint_matches("example.test", "example.test"));
        assert!(!dns_constraint_matches("example.test", "badexample.test"));
        assert!(!dns_constraint_matches(".example.test", "example.test"));
    }
}

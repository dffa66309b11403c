//! Is this chain good, for this host, for this purpose, at this time, and
//! for how long? Each check is reported on its own, with a reason code for
//! scripts and a sentence that says what to do.
//!
//! Path validation is rustls-webpki's, the engine rustls uses on the wire,
//! with one algorithm added: RSA PKCS#1 v1.5 with SHA-1, so that a SHA-1
//! signature is a warning, as in OpenSSL 3.0 at its default security level,
//! rather than a hard failure. webpki does not check the trust anchor's own
//! validity period; minica checks every certificate of the path itself.

use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, ServerName,
    SignatureVerificationAlgorithm, UnixTime, alg_id,
};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::x509;

/// What the leaf is to be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Server,
    Client,
}

impl Purpose {
    /// The EKU OID's value bytes (id-kp-serverAuth / id-kp-clientAuth).
    fn oid(self) -> &'static [u8] {
        match self {
            Purpose::Server => &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
            Purpose::Client => &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02],
        }
    }
    fn eku_name(self) -> &'static str {
        match self {
            Purpose::Server => "serverAuth",
            Purpose::Client => "clientAuth",
        }
    }
    fn role(self) -> &'static str {
        match self {
            Purpose::Server => "a TLS server",
            Purpose::Client => "a TLS client",
        }
    }
}

/// What to check besides the path.
#[derive(Debug, Clone)]
pub struct Options {
    pub at: OffsetDateTime,
    pub expires_within: Option<Duration>,
    pub host: Option<String>,
    pub purpose: Option<Purpose>,
    /// The leaf's private key as a public key (SubjectPublicKeyInfo DER), and where it came from.
    pub key_spki: Option<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// A stable code for scripts, when the check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub message: String,
}

/// One certificate of the path, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub trusted_root: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub valid: bool,
    /// The reason of the first failed check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub checks: Vec<Check>,
    pub warnings: Vec<String>,
    pub path: Vec<CertSummary>,
}

/// RSA PKCS#1 v1.5 with SHA-1, which webpki leaves out.
#[derive(Debug)]
struct RsaSha1;

/// sha1WithRSAEncryption, NULL parameters: the AlgorithmIdentifier's content.
const SHA1_WITH_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
];

impl SignatureVerificationAlgorithm for RsaSha1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            public_key,
        )
        .verify(message, signature)
        .map_err(|_| InvalidSignature)
    }
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }
    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(SHA1_WITH_RSA)
    }
}

static RSA_SHA1: RsaSha1 = RsaSha1;

fn algorithms() -> Vec<&'static dyn SignatureVerificationAlgorithm> {
    let mut algs: Vec<&'static dyn SignatureVerificationAlgorithm> =
        webpki::ALL_VERIFICATION_ALGS.to_vec();
    algs.push(&RSA_SHA1);
    algs
}

/// Accepts any EKU: the path is checked apart from the purpose.
struct AnyEku;
impl ExtendedKeyUsageValidator for AnyEku {
    fn validate(&self, _: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

struct Parsed<'a> {
    der: &'a CertificateDer<'a>,
    x: X509Certificate<'a>,
}

fn parse<'a>(der: &'a CertificateDer<'a>) -> Option<Parsed<'a>> {
    X509Certificate::from_der(der)
        .ok()
        .map(|(_, x)| Parsed { der, x })
}

fn summary(p: &Parsed<'_>, trusted_root: bool) -> CertSummary {
    CertSummary {
        subject: p.x.subject().to_string(),
        issuer: p.x.issuer().to_string(),
        not_before: p.x.validity().not_before.to_datetime(),
        not_after: p.x.validity().not_after.to_datetime(),
        trusted_root,
    }
}

fn unix(t: OffsetDateTime) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        t.unix_timestamp().max(0) as u64
    ))
}

fn fail(name: &'static str, reason: &'static str, message: String) -> Check {
    Check {
        name,
        ok: false,
        reason: Some(reason),
        message,
    }
}

fn pass(name: &'static str, message: String) -> Check {
    Check {
        name,
        ok: true,
        reason: None,
        message,
    }
}

fn describe_webpki(
    e: &webpki::Error,
    leaf: &Parsed<'_>,
    n_intermediates: usize,
) -> (&'static str, String) {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer if leaf.x.subject().as_raw() == leaf.x.issuer().as_raw() => (
            "self_signed",
            "the certificate is self-signed and is not one of the trusted roots; trust it with --ca, or use a certificate issued by a CA".into(),
        ),
        E::UnknownIssuer => (
            "unknown_issuer",
            format!(
                "no path to a trusted root: the issuer \"{}\" (or one above it) is neither among the {n_intermediates} intermediate(s) given nor a trusted root; add the missing intermediate to the file, or trust the right CA with --ca or --truststore",
                leaf.x.issuer()
            ),
        ),
        E::CertExpired { .. } => ("expired", "a certificate in the path has expired (see the validity check)".into()),
        E::CertNotValidYet { .. } => ("not_yet_valid", "a certificate in the path is not valid yet (see the validity check)".into()),
        E::InvalidSignatureForPublicKey => (
            "bad_signature",
            "a signature in the path does not verify: a certificate was altered, or signed by another key".into(),
        ),
        E::CaUsedAsEndEntity => (
            "ca_as_leaf",
            "the certificate is a CA (basicConstraints CA:TRUE), not a leaf; verify a leaf issued by it".into(),
        ),
        E::EndEntityUsedAsCa => (
            "issuer_not_ca",
            "an issuer in the path is not a CA (basicConstraints CA:FALSE or missing), so it cannot sign certificates; reissue the leaf from a real CA".into(),
        ),
        E::NameConstraintViolation => (
            "name_constraints",
            "a name in the certificate is outside the name constraints of a CA above it; issue it from a CA allowed to certify that name".into(),
        ),
        E::PathLenConstraintViolated => (
            "path_length",
            "the path is longer than a CA's pathLenConstraint allows".into(),
        ),
        E::UnsupportedSignatureAlgorithmContext(_) => (
            "unsupported_signature",
            "a certificate is signed with an algorithm TLS clients no longer accept (e.g. ECDSA with SHA-1, MD5); reissue it".into(),
        ),
        other => ("invalid", format!("the path is not valid: {other:?}")),
    }
}

/// Verifies `leaf` with `intermediates` against `anchors` under `opts`.
pub fn verify(
    leaf_der: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[CertificateDer<'_>],
    opts: &Options,
) -> Report {
    let mut checks = Vec::new();
    let mut warnings = Vec::new();
    let leaf = match parse(leaf_der) {
        Some(l) => l,
        None => {
            checks.push(fail(
                "chain",
                "malformed",
                "the certificate cannot be parsed".into(),
            ));
            return finish(checks, warnings, Vec::new());
        }
    };
    let inters: Vec<Parsed<'_>> = intermediates.iter().filter_map(parse).collect();
    let roots: Vec<Parsed<'_>> = anchors.iter().filter_map(parse).collect();

    // The path by names, for the validity check and the report.
    let mut path: Vec<(&Parsed<'_>, bool)> = vec![(&leaf, false)];
    loop {
        let (cur, is_root) = *path.last().expect("path starts with the leaf");
        if is_root {
            break;
        }
        let issuer = cur.x.issuer().as_raw();
        if let Some(r) = roots.iter().find(|r| r.x.subject().as_raw() == issuer) {
            path.push((r, true));
            break;
        }
        if cur.x.subject().as_raw() == issuer || path.len() > 8 {
            break;
        }
        match inters
            .iter()
            .find(|i| i.x.subject().as_raw() == issuer && !path.iter().any(|(p, _)| p.der == i.der))
        {
            Some(i) => path.push((i, false)),
            None => break,
        }
    }

    // 1. The signature path, by webpki.
    let algs = algorithms();
    let trust: Vec<_> = anchors
        .iter()
        .filter_map(|a| webpki::anchor_from_trusted_cert(a).ok())
        .collect();
    let ee = EndEntityCert::try_from(leaf_der);
    let at = unix(opts.at);
    let chain_result = match &ee {
        Ok(ee) => ee
            .verify_for_usage(&algs, &trust, intermediates, at, AnyEku, None, None)
            .map(|_| ()),
        Err(e) => Err(e.clone()),
    };
    let chain_ok = chain_result.is_ok();
    checks.push(match &chain_result {
        Ok(()) => pass(
            "chain",
            format!(
                "{} -> trusted root \"{}\"",
                path.iter()
                    .filter(|(_, r)| !r)
                    .map(|(p, _)| format!("\"{}\"", p.x.subject()))
                    .collect::<Vec<_>>()
                    .join(" -> "),
                path.last()
                    .map(|(p, _)| p.x.subject().to_string())
                    .unwrap_or_default()
            ),
        ),
        Err(e) => {
            let (reason, msg) = describe_webpki(e, &leaf, intermediates.len());
            fail("chain", reason, msg)
        }
    });

    // 2. Validity of every certificate in the path, the root's included.
    let mut validity = pass("validity", String::new());
    for (p, is_root) in &path {
        let (nb, na) = (
            p.x.validity().not_before.to_datetime(),
            p.x.validity().not_after.to_datetime(),
        );
        let role = role(&leaf, p, *is_root);
        if opts.at > na {
            validity = fail(
                "validity",
                "expired",
                format!(
                    "the {role} \"{}\" expired on {} ({} days before the time checked); renew it",
                    p.x.subject(),
                    x509::date(na),
                    x509::days_left(opts.at, na)
                ),
            );
            break;
        }
        if opts.at < nb {
            validity = fail(
                "validity",
                "not_yet_valid",
                format!(
                    "the {role} \"{}\" is not valid until {}; check the clock of the machine that issued it",
                    p.x.subject(),
                    x509::rfc3339(nb)
                ),
            );
            break;
        }
    }
    if validity.ok {
        let leaf_end = leaf.x.validity().not_after.to_datetime();
        validity.message = format!(
            "{} certificate(s) valid at {}; the leaf expires on {} ({} days left)",
            path.len(),
            x509::rfc3339(opts.at),
            x509::date(leaf_end),
            x509::days_left(leaf_end, opts.at)
        );
    }
    checks.push(validity);

    if let Some(within) = opts.expires_within {
        let horizon = opts.at + within;
        let soon = path
            .iter()
            .map(|(p, r)| (p, r, p.x.validity().not_after.to_datetime()))
            .filter(|(_, _, na)| *na <= horizon)
            .min_by_key(|(_, _, na)| *na);
        checks.push(match soon {
            Some((p, r, na)) => fail(
                "expires_within",
                "expires_soon",
                format!(
                    "the {} \"{}\" expires on {}, within {} days; renew it",
                    role(&leaf, p, *r),
                    p.x.subject(),
                    x509::rfc3339(na),
                    within.whole_days()
                ),
            ),
            None => pass(
                "expires_within",
                format!(
                    "nothing in the path expires before {}",
                    x509::rfc3339(horizon)
                ),
            ),
        });
    }

    // 3. The host.
    if let Some(host) = &opts.host {
        let check = match (ServerName::try_from(host.as_str()), &ee) {
            (Err(_), _) => fail(
                "host",
                "bad_host",
                format!("{host:?} is not a DNS name or IP address"),
            ),
            (Ok(name), Ok(ee)) => match ee.verify_is_valid_for_subject_name(&name) {
                Ok(()) => pass("host", format!("valid for {host}")),
                Err(_) => fail(
                    "host",
                    "wrong_host",
                    format!(
                        "the certificate is not valid for {host}; it names {}; reissue it with that name",
                        names_of(&leaf)
                    ),
                ),
            },
            (Ok(_), Err(_)) => fail("host", "malformed", "the certificate cannot be read".into()),
        };
        checks.push(check);
    }

    // 4. The purpose: the EKU must be present and name it.
    if let Some(purpose) = opts.purpose {
        let ekus = leaf_ekus(&leaf);
        let check = if !ekus
            .iter()
            .any(|e| e == purpose.eku_name() || e == "anyExtendedKeyUsage")
        {
            let has = if ekus.is_empty() {
                "no extended key usage at all".to_string()
            } else {
                format!("only {}", ekus.join(", "))
            };
            fail(
                "purpose",
                "wrong_purpose",
                format!(
                    "the certificate cannot be used by {}: it has {has}, not {}; issue it with the matching profile",
                    purpose.role(),
                    purpose.eku_name()
                ),
            )
        } else if let (true, Ok(ee)) = (chain_ok, &ee) {
            // An intermediate's EKU can forbid the purpose too; one without EKU
            // allows all (required_if_present: `required` would demand an EKU of
            // every CA in the path, which roots and most intermediates lack).
            match ee.verify_for_usage(
                &algs,
                &trust,
                intermediates,
                at,
                KeyUsage::required_if_present(purpose.oid()),
                None,
                None,
            ) {
                Ok(_) => pass(
                    "purpose",
                    format!("{} ({})", purpose.role(), purpose.eku_name()),
                ),
                Err(_) => fail(
                    "purpose",
                    "wrong_purpose",
                    format!("a CA in the path does not allow {}", purpose.eku_name()),
                ),
            }
        } else {
            pass(
                "purpose",
                format!("{} ({})", purpose.role(), purpose.eku_name()),
            )
        };
        checks.push(check);
    }

    // 5. The key belongs to the leaf.
    if let Some((origin, spki)) = &opts.key_spki {
        checks.push(if spki.as_slice() == leaf.x.public_key().raw {
            pass("key", format!("the key in {origin} belongs to the certificate"))
        } else {
            fail("key", "key_mismatch", format!("the key in {origin} does not belong to this certificate; pair it with the key it was issued for"))
        });
    }

    // Warnings: what clients may refuse, but is not invalid.
    let (nb, na) = (
        leaf.x.validity().not_before.to_datetime(),
        leaf.x.validity().not_after.to_datetime(),
    );
    let lifetime = (na - nb).whole_days();
    if lifetime > i64::from(crate::issue::APPLE_MAX_DAYS) {
        warnings.push(format!("the leaf is valid for {lifetime} days; Apple platforms reject TLS certificates valid for more than 825"));
    }
    for (p, is_root) in &path {
        if let Some(bits) = rsa_bits(p)
            && bits < 2048
        {
            warnings.push(format!(
                "the {} \"{}\" has an RSA-{bits} key; use 2048 bits or more",
                role(&leaf, p, *is_root),
                p.x.subject()
            ));
        }
        let sig = p.x.signature_algorithm.algorithm.to_id_string();
        if !is_root && (sig == "1.2.840.113549.1.1.5" || sig == "1.2.840.10045.4.1") {
            warnings.push(format!(
                "the {} \"{}\" is signed with SHA-1, which browsers reject; reissue it",
                role(&leaf, p, *is_root),
                p.x.subject()
            ));
        }
    }
    if !matches!(leaf.x.subject_alternative_name(), Ok(Some(_))) {
        warnings.push("the leaf has no subjectAltName: browsers and rustls ignore the CommonName, so it matches no host".into());
    }

    let summaries = path.iter().map(|(p, r)| summary(p, *r)).collect();
    finish(checks, warnings, summaries)
}

fn finish(checks: Vec<Check>, warnings: Vec<String>, path: Vec<CertSummary>) -> Report {
    let reason = checks.iter().find(|c| !c.ok).and_then(|c| c.reason);
    Report {
        valid: checks.iter().all(|c| c.ok),
        reason,
        checks,
        warnings,
        path,
    }
}

fn role(leaf: &Parsed<'_>, p: &Parsed<'_>, is_root: bool) -> &'static str {
    if is_root {
        "root"
    } else if std::ptr::eq(leaf, p) {
        "leaf"
    } else {
        "intermediate"
    }
}

fn names_of(p: &Parsed<'_>) -> String {
    match p.x.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .map(x509::general_name)
            .collect::<Vec<_>>()
            .join(", "),
        _ => "no subjectAltName".into(),
    }
}

fn leaf_ekus(p: &Parsed<'_>) -> Vec<String> {
    match p.x.extended_key_usage() {
        Ok(Some(e)) => x509::eku_names(e.value),
        _ => Vec::new(),
    }
}

fn rsa_bits(p: &Parsed<'_>) -> Option<u32> {
    let info = crate::policy::KeyInfo::from_spki(p.x.public_key());
    (info.algorithm == "rsa").then_some(info.bits)
}

/// Parses `--expires-within`: "30d", "12h", "2w", "90m", "3600s", or days.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "d"),
    };
    let n: i64 = num.parse().ok()?;
    Some(match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        "w" => Duration::weeks(n),
        _ => return None,
    })
}

/// Parses `--at`: RFC 3339, a date (midnight UTC), or "@" + Unix seconds.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    if let Some(secs) = s.strip_prefix('@') {
        return OffsetDateTime::from_unix_timestamp(secs.parse().ok()?).ok();
    }
    if let Some(t) = x509::parse_rfc3339(s) {
        return Some(t);
    }
    let d = time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE).ok()?;
    Some(d.midnight().assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_duration("30d"), Some(Duration::days(30)));
        assert_eq!(parse_duration("30"), Some(Duration::days(30)));
        assert_eq!(parse_duration("12h"), Some(Duration::hours(12)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("3y"), None);
        assert_eq!(parse_time("@0").unwrap().unix_timestamp(), 0);
        assert_eq!(
            parse_time("2030-01-02").unwrap().unix_timestamp(),
            1_893_542_400
        );
        assert!(parse_time("2030-01-02T03:04:05Z").is_some());
        assert!(parse_time("tomorrow").is_none());
    }
}

//! Is this chain good, for this host, for this purpose, at this time, and
//! for how long? Each check is reported on its own, with a reason code for
//! scripts and a sentence that says what to do.
//!
//! Path building and signatures are rustls-webpki's, the engine rustls uses
//! on the wire, with one algorithm added: RSA PKCS#1 v1.5 with SHA-1, so
//! that a SHA-1 signature is a warning, as in OpenSSL 3.0 at its default
//! security level, rather than a hard failure.
//!
//! webpki builds paths with backtracking; every candidate path it finds is
//! handed to minica's own checks ([`rfc5280`]: the anchor's validity,
//! basicConstraints, pathLen, keyUsage, EKU and critical extensions, keyCertSign
//! on every issuer, CommonName name constraints, key strength, CRL issuers,
//! expiry horizon) before webpki accepts it, and a refused candidate makes
//! webpki try the next. So the verdict is "there is a path that passes
//! everything", whatever the order of the certificates given, and every
//! later check and the report use that one path.

pub mod rfc5280;

use std::cell::RefCell;

use rustls_pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, ServerName,
    SignatureVerificationAlgorithm, TrustAnchor, UnixTime, alg_id,
};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter, KeyUsage, VerifiedPath};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::text::escape;
use crate::x509;
use rfc5280::{Problem, role, subject};

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
    fn oid_text(self) -> &'static str {
        match self {
            Purpose::Server => "1.3.6.1.5.5.7.3.1",
            Purpose::Client => "1.3.6.1.5.5.7.3.2",
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

/// Which certificates of the path must be covered by a CRL when CRLs are given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CrlScope {
    /// Every certificate below the trust anchor (the strict default).
    #[default]
    Chain,
    /// The leaf only: the CRL of the CA that issued it.
    Leaf,
}

/// Checks that need more than [`Options`]: revocation, depth, e-mail names.
/// Kept apart so that code built against `Options` keeps compiling.
#[derive(Debug, Clone, Default)]
pub struct More {
    /// CRLs (DER). When any is given, every certificate in `crl_scope` must
    /// be covered by one from its issuer: a certificate whose revocation
    /// status is unknown is NOT VALID (webpki's `UnknownStatusPolicy::Deny`).
    pub crls: Vec<Vec<u8>>,
    pub crl_scope: CrlScope,
    /// At most this many intermediates between the leaf and the anchor.
    pub max_intermediates: Option<usize>,
    /// RFC 822 names the leaf must hold in its subjectAltName.
    pub emails: Vec<String>,
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
    /// "leaf", "intermediate" or "root".
    pub role: &'static str,
    pub sha256_fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub valid: bool,
    /// The reason of the first failed check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    pub checks: Vec<Check>,
    pub warnings: Vec<String>,
    /// The path checked: the one webpki verified (or, when every path was
    /// refused by minica's own checks, the first one it refused).
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

/// The EKU rule for the whole path: any, or webpki's "required if present".
enum Eku {
    Any,
    IfPresent(KeyUsage),
}
impl ExtendedKeyUsageValidator for Eku {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        match self {
            Eku::Any => Ok(()),
            Eku::IfPresent(k) => k.validate(iter),
        }
    }
}

fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    X509Certificate::from_der(der).ok().map(|(_, x)| x)
}

fn summary(der: &[u8], x: &X509Certificate<'_>, role: &'static str) -> CertSummary {
    CertSummary {
        subject: escape(&x.subject().to_string()),
        issuer: escape(&x.issuer().to_string()),
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        trusted_root: role == "root",
        role,
        sha256_fingerprint: crate::inspect::fingerprint(der),
    }
}

/// UnixTime of `t`, whole seconds (webpki's clock: X.509 times have no
/// fractions, and minica's own checks use the same whole seconds).
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

/// Given certificates that webpki could not chain, which expired or not-yet-valid one it met.
fn dated_culprit(certs: &[&X509Certificate<'_>], at: i64, expired: bool) -> String {
    for (i, c) in certs.iter().enumerate() {
        let (nb, na) = (
            c.validity().not_before.timestamp(),
            c.validity().not_after.timestamp(),
        );
        let who = if i == 0 { "leaf" } else { "intermediate" };
        if expired && at > na {
            return format!(
                "the {who} \"{}\" expired on {} ({} days before the time checked); renew it",
                subject(c),
                x509::date(c.validity().not_after.to_datetime()),
                (at - na) / 86_400
            );
        }
        if !expired && at < nb {
            return format!(
                "the {who} \"{}\" is not valid until {}; check the clock of the machine that issued it",
                subject(c),
                x509::rfc3339(c.validity().not_before.to_datetime())
            );
        }
    }
    if expired {
        "a certificate in the path has expired; renew it".into()
    } else {
        "a certificate in the path is not valid yet".into()
    }
}

fn describe_webpki(
    e: &webpki::Error,
    leaf: &X509Certificate<'_>,
    inters: &[X509Certificate<'_>],
    at: i64,
    crls_given: bool,
) -> (&'static str, String) {
    use webpki::Error as E;
    let mut given: Vec<&X509Certificate<'_>> = vec![leaf];
    given.extend(inters.iter());
    let self_issued_given = inters
        .iter()
        .any(|c| c.subject().as_raw() == c.issuer().as_raw());
    match e {
        E::UnknownIssuer if leaf.subject().as_raw() == leaf.issuer().as_raw() => (
            "self_signed",
            "the certificate is self-signed and is not one of the trusted roots; trust it with --ca, or use a certificate issued by a CA".into(),
        ),
        E::UnknownIssuer => (
            "unknown_issuer",
            format!(
                "no path to a trusted root: the issuer \"{}\" (or one above it) is neither among the {} intermediate(s) given nor a trusted root; add the missing intermediate to the file, or trust the right CA with --ca or --truststore",
                escape(&leaf.issuer().to_string()),
                inters.len()
            ),
        ),
        E::CertExpired { .. } => ("expired", dated_culprit(&given, at, true)),
        E::CertNotValidYet { .. } => ("not_yet_valid", dated_culprit(&given, at, false)),
        E::InvalidSignatureForPublicKey if self_issued_given => (
            "self_issued",
            "no path verifies, and the certificates given include a self-issued CA certificate (a CA re-certified under its own name with another key, as in a key rollover): a signature was checked against the other key of that name, or the path through it was refused because rustls-webpki counts a self-issued certificate toward pathLenConstraint (RFC 5280 does not); give the chain that the current CA key signed".into(),
        ),
        E::InvalidSignatureForPublicKey => (
            "bad_signature",
            "no CA certificate given has the key that signed a certificate of the path: the issuer of that name was re-keyed or replaced, the wrong intermediate or root was given, or the certificate was altered; give the CA certificate that really signed it".into(),
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
            "a name in the certificate is outside the name constraints of a CA above it (or of a kind whose constraints minica cannot check: directory names, e-mail, URIs); issue it from a CA allowed to certify that name".into(),
        ),
        E::PathLenConstraintViolated => (
            "path_length",
            "the path is longer than a CA's pathLenConstraint allows; issue the leaf from a CA higher up, or a CA whose pathLenConstraint allows it".into(),
        ),
        E::MaximumPathDepthExceeded => (
            "path_too_long",
            "the path is longer than the 6 intermediates rustls allows".into(),
        ),
        E::RequiredEkuNotFoundContext(_) => (
            "wrong_purpose",
            "a certificate in the path has an extended key usage that does not allow the purpose checked (serverAuth with --host or --purpose server, clientAuth with --purpose client); issue it from a CA without that limit".into(),
        ),
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => (
            "unsupported_signature",
            "a certificate is signed with an algorithm or a key TLS clients no longer accept (e.g. ECDSA with SHA-1, MD5, RSA under 2048 bits); reissue it".into(),
        ),
        E::SignatureAlgorithmMismatch => (
            "bad_signature",
            "a certificate's signature algorithm differs from the one in its signed part; it is malformed or was altered".into(),
        ),
        E::CertRevoked => (
            "revoked",
            "a certificate in the path is revoked by the CRL of its issuer; replace it".into(),
        ),
        E::UnknownRevocationStatus => (
            "unknown_revocation",
            if crls_given {
                "a certificate in the path is covered by none of the CRLs given, so its revocation status is unknown; give its issuer's CRL with --crl (or --crl-scope leaf to check only the leaf)".into()
            } else {
                "the revocation status of a certificate is unknown".into()
            },
        ),
        E::CrlExpired { .. } => (
            "crl_expired",
            "a CRL given is past its nextUpdate, so it no longer says whether a certificate is revoked; fetch a fresh CRL from the CA".into(),
        ),
        E::InvalidCrlSignatureForPublicKey => (
            "bad_crl_signature",
            "a CRL given is not signed by the key of the CA it names as its issuer; get the CRL from that CA".into(),
        ),
        E::IssuerNotCrlSigner => (
            "bad_crl",
            "a CRL is signed by a CA whose keyUsage lacks cRLSign, so it may not sign CRLs; add cRLSign to the CA".into(),
        ),
        E::UnsupportedCrlSignatureAlgorithmContext(_)
        | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_)
        | E::UnsupportedCrlVersion
        | E::UnsupportedDeltaCrl
        | E::UnsupportedIndirectCrl
        | E::UnsupportedRevocationReason
        | E::UnsupportedRevocationReasonsPartitioning
        | E::UnsupportedCrlIssuingDistributionPoint
        | E::InvalidCrlNumber => (
            "bad_crl",
            format!("a CRL given cannot be used ({e}); regenerate it as a plain v2 CRL with a crlNumber"),
        ),
        E::UnsupportedCriticalExtension => (
            "unknown_critical_extension",
            "a certificate has a critical extension that minica does not process; RFC 5280 §4.2 says to reject it".into(),
        ),
        E::BadDerTime | E::InvalidCertValidity => (
            "bad_time",
            "a certificate's validity dates are not in the form RFC 5280 §4.1.2.5 requires (whole seconds, UTC, notBefore before notAfter); TLS clients refuse it; reissue it".into(),
        ),
        E::MaximumSignatureChecksExceeded
        | E::MaximumPathBuildCallsExceeded
        | E::MaximumNameConstraintComparisonsExceeded => (
            "too_complex",
            "the certificates given take too much work to chain (rustls gives up at the same point); give only the chain the server should send".into(),
        ),
        other => (
            "malformed",
            format!("a certificate in the path is malformed or not acceptable to TLS clients ({other}); reissue it"),
        ),
    }
}

/// Verifies `leaf` with `intermediates` against `anchors` under `opts`.
pub fn verify(
    leaf_der: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[CertificateDer<'_>],
    opts: &Options,
) -> Report {
    verify_with(leaf_der, intermediates, anchors, opts, &More::default())
}

/// A candidate path refused by minica's own checks.
struct Refused {
    problem: Problem,
    path: Vec<CertSummary>,
}

/// What the callback learns of the path it accepts.
struct Accepted {
    warnings: Vec<String>,
    path: Vec<CertSummary>,
    /// The DER of every certificate of the path, leaf first, anchor last.
    ders: Vec<Vec<u8>>,
}

/// [`verify`] with CRLs, a depth limit and e-mail names.
pub fn verify_with(
    leaf_der: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[CertificateDer<'_>],
    opts: &Options,
    more: &More,
) -> Report {
    let mut checks = Vec::new();
    let mut warnings = Vec::new();
    // One clock: whole seconds, for webpki and for minica's checks alike.
    let at_secs = opts.at.unix_timestamp();
    let Some(leaf) = parse(leaf_der) else {
        checks.push(fail(
            "chain",
            "malformed",
            "the certificate cannot be parsed".into(),
        ));
        return finish(checks, warnings, Vec::new());
    };
    let inters: Vec<X509Certificate<'_>> = intermediates.iter().filter_map(|d| parse(d)).collect();

    // Anchors, with the certificate each came from.
    let mut trust: Vec<TrustAnchor<'_>> = Vec::new();
    let mut trust_src: Vec<usize> = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        match webpki::anchor_from_trusted_cert(a) {
            Ok(t) => {
                trust.push(t);
                trust_src.push(i);
            }
            Err(_) => warnings.push(format!(
                "trusted certificate {} cannot be read as a trust anchor and was ignored",
                i + 1
            )),
        }
    }

    // CRLs.
    let mut owned_crls = Vec::new();
    let mut crl_facts = Vec::new();
    for (i, der) in more.crls.iter().enumerate() {
        match (
            webpki::OwnedCertRevocationList::from_der(der),
            crate::crl::facts(der),
        ) {
            (Ok(c), Some(f)) => {
                owned_crls.push(webpki::CertRevocationList::from(c));
                crl_facts.push(f);
            }
            (Err(e), _) => {
                checks.push(fail(
                    "revocation",
                    "bad_crl",
                    format!(
                        "CRL {} cannot be used: {e}; give a DER or PEM X.509 v2 CRL",
                        i + 1
                    ),
                ));
                return finish(checks, warnings, Vec::new());
            }
            (_, None) => {
                checks.push(fail(
                    "revocation",
                    "bad_crl",
                    format!("CRL {} cannot be parsed", i + 1),
                ));
                return finish(checks, warnings, Vec::new());
            }
        }
    }
    let crl_refs: Vec<&webpki::CertRevocationList<'_>> = owned_crls.iter().collect();
    let revocation = if crl_refs.is_empty() {
        None
    } else {
        webpki::RevocationOptionsBuilder::new(&crl_refs)
            .ok()
            .map(|b| {
                b.with_depth(match more.crl_scope {
                    CrlScope::Chain => webpki::RevocationCheckDepth::Chain,
                    CrlScope::Leaf => webpki::RevocationCheckDepth::EndEntity,
                })
                .with_status_policy(webpki::UnknownStatusPolicy::Deny)
                .with_expiration_policy(webpki::ExpirationPolicy::Enforce)
                .build()
            })
    };

    // The EKU rule of the path: the purpose asked, or serverAuth when a
    // host is given (webpki's rule: required wherever an EKU is present).
    let path_purpose = opts.purpose.or(opts.host.as_ref().map(|_| Purpose::Server));
    let eku = match path_purpose {
        Some(p) => Eku::IfPresent(KeyUsage::required_if_present(p.oid())),
        None => Eku::Any,
    };

    let expires_by = match opts.expires_within {
        Some(w) => opts.at.checked_add(w).map(|t| t.unix_timestamp()),
        None => None,
    };
    let rules = rfc5280::PathRules {
        at: at_secs,
        expires_by,
        eku: path_purpose.map(Purpose::oid_text),
        max_intermediates: more.max_intermediates,
        crls: &crl_facts,
    };

    let refused: RefCell<Option<Refused>> = RefCell::new(None);
    let accepted: RefCell<Option<Accepted>> = RefCell::new(None);
    let extra = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
        let mut ders: Vec<Vec<u8>> = vec![leaf_der.to_vec()];
        ders.extend(path.intermediate_certificates().map(|c| c.der().to_vec()));
        let anchor = path.anchor();
        let Some(src) = trust
            .iter()
            .position(|t| std::ptr::eq(t, anchor))
            .map(|i| trust_src[i])
        else {
            return Err(webpki::Error::UnknownIssuer);
        };
        ders.push(anchors[src].to_vec());
        let parsed: Vec<X509Certificate<'_>> = match ders.iter().map(|d| parse(d)).collect() {
            Some(p) => p,
            None => return Err(webpki::Error::BadDer),
        };
        let refs: Vec<&X509Certificate<'_>> = parsed.iter().collect();
        let der_refs: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
        let (problem, warns) = rfc5280::check_path(&refs, &der_refs, &rules);
        let n = parsed.len();
        let summaries: Vec<CertSummary> = parsed
            .iter()
            .zip(&ders)
            .enumerate()
            .map(|(i, (x, d))| summary(d, x, role(i, n)))
            .collect();
        match problem {
            None => {
                *accepted.borrow_mut() = Some(Accepted {
                    warnings: warns,
                    path: summaries,
                    ders,
                });
                Ok(())
            }
            Some(problem) => {
                let mut r = refused.borrow_mut();
                if r.is_none() {
                    *r = Some(Refused {
                        problem,
                        path: summaries,
                    });
                }
                Err(webpki::Error::UnknownIssuer)
            }
        }
    };

    let algs = algorithms();
    let ee = EndEntityCert::try_from(leaf_der);
    let result = match &ee {
        Ok(ee) => ee
            .verify_for_usage(
                &algs,
                &trust,
                intermediates,
                unix(opts.at),
                &eku,
                revocation,
                Some(&extra),
            )
            .map(|_| ()),
        Err(e) => Err(e.clone()),
    };
    let accepted = accepted.into_inner();
    let refused = refused.into_inner();

    let mut path = Vec::new();
    let mut path_ders: Vec<Vec<u8>> = Vec::new();
    match (&result, accepted, refused) {
        (Ok(()), Some(acc), _) => {
            let names: Vec<String> = acc
                .path
                .iter()
                .map(|s| format!("\"{}\"", s.subject))
                .collect();
            let (last, rest) = names.split_last().expect("a path has an anchor");
            checks.push(pass(
                "chain",
                format!("{} -> trusted root {last}", rest.join(" -> ")),
            ));
            warnings.extend(acc.warnings);
            path = acc.path;
            path_ders = acc.ders;
        }
        (_, _, Some(refused)) => {
            // webpki found a signed path to an anchor, and minica's own
            // checks refused it (and every other path there was).
            let p = refused.problem;
            if p.check != "chain" {
                let names: Vec<String> = refused
                    .path
                    .iter()
                    .map(|s| format!("\"{}\"", s.subject))
                    .collect();
                checks.push(pass(
                    "chain",
                    format!("signatures verify along {}", names.join(" -> ")),
                ));
            }
            checks.push(fail(p.check, p.reason, p.message));
            path = refused.path;
        }
        (Err(e), _, None) => {
            let (reason, msg) = describe_webpki(e, &leaf, &inters, at_secs, !more.crls.is_empty());
            let check = match reason {
                "expired" | "not_yet_valid" | "bad_time" => "validity",
                "wrong_purpose" => "purpose",
                "revoked" | "unknown_revocation" | "crl_expired" | "bad_crl_signature"
                | "bad_crl" => "revocation",
                _ => "chain",
            };
            checks.push(fail(check, reason, msg));
            path.push(summary(leaf_der, &leaf, "leaf"));
        }
        (Ok(()), None, None) => unreachable!("webpki accepts only what the callback accepted"),
    }
    let chain_ok = !path_ders.is_empty();

    if chain_ok {
        let leaf_end = leaf.validity().not_after.to_datetime();
        checks.push(pass(
            "validity",
            format!(
                "{} certificate(s) valid at {}; the leaf expires on {} ({} days left)",
                path.len(),
                x509::rfc3339(opts.at),
                x509::date(leaf_end),
                x509::days_left(leaf_end, opts.at)
            ),
        ));
        if let Some(within) = opts.expires_within {
            checks.push(pass(
                "expires_within",
                format!(
                    "nothing in the path expires within {} days",
                    within.whole_days()
                ),
            ));
        }
        if !more.crls.is_empty() {
            checks.push(pass(
                "revocation",
                format!(
                    "no certificate of the path is revoked by the {} CRL(s) given{}",
                    more.crls.len(),
                    if more.crl_scope == CrlScope::Leaf {
                        " (leaf only)"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    // CRLs that apply to no certificate of the path did nothing: say so.
    if chain_ok {
        for f in &crl_facts {
            let used = path_ders[..path_ders.len() - 1]
                .iter()
                .any(|d| parse(d).is_some_and(|x| x.issuer().as_raw() == f.issuer_raw.as_slice()));
            if !used {
                warnings.push(format!(
                    "the CRL of \"{}\" covers no certificate of this path and was not used",
                    f.issuer_text
                ));
            }
        }
    }

    // The host.
    if let Some(host) = &opts.host {
        let check = match (ServerName::try_from(host.as_str()), &ee) {
            (Err(_), _) => fail(
                "host",
                "bad_host",
                format!("{:?} is not a DNS name or IP address", escape(host)),
            ),
            (Ok(name), Ok(ee)) => match ee.verify_is_valid_for_subject_name(&name) {
                Ok(()) => pass("host", format!("valid for {}", escape(host))),
                Err(_) => fail(
                    "host",
                    "wrong_host",
                    format!(
                        "the certificate is not valid for {}; it names {}; reissue it with that name",
                        escape(host),
                        names_of(&leaf)
                    ),
                ),
            },
            (Ok(_), Err(_)) => fail("host", "malformed", "the certificate cannot be read".into()),
        };
        checks.push(check);
    }

    // E-mail names (for S/MIME-style client certificates).
    for email in &more.emails {
        let held = leaf_emails(&leaf);
        checks.push(if held.iter().any(|h| email_eq(h, email)) {
            pass("email", format!("valid for {}", escape(email)))
        } else {
            fail(
                "email",
                "wrong_email",
                format!(
                    "the certificate is not valid for {}; it names {}",
                    escape(email),
                    names_of(&leaf)
                ),
            )
        });
    }

    // The purpose: the leaf's EKU must be present and name it.
    if let Some(purpose) = opts.purpose {
        let ekus = leaf_ekus(&leaf);
        checks.push(
            if !ekus
                .iter()
                .any(|e| e == purpose.eku_name() || e == "anyExtendedKeyUsage")
            {
                let has = if ekus.is_empty() {
                    "no extended key usage at all".to_string()
                } else {
                    format!("only {}", escape(&ekus.join(", ")))
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
            } else {
                pass(
                    "purpose",
                    format!(
                        "{} ({}, allowed by every certificate of the path)",
                        purpose.role(),
                        purpose.eku_name()
                    ),
                )
            },
        );
    } else if opts.host.is_some() && chain_ok {
        checks.push(pass(
            "purpose",
            "no certificate of the path has an extended key usage without serverAuth".into(),
        ));
    }

    // The key belongs to the leaf.
    if let Some((origin, spki)) = &opts.key_spki {
        checks.push(if spki.as_slice() == leaf.public_key().raw {
            pass("key", format!("the key in {origin} belongs to the certificate"))
        } else {
            fail("key", "key_mismatch", format!("the key in {origin} does not belong to this certificate; pair it with the key it was issued for"))
        });
    }

    // Warnings: what clients may refuse, but is not invalid.
    let (nb, na) = (
        leaf.validity().not_before.to_datetime(),
        leaf.validity().not_after.to_datetime(),
    );
    let lifetime = (na - nb).whole_days();
    if lifetime > i64::from(crate::issue::APPLE_MAX_DAYS) {
        warnings.push(format!("the leaf is valid for {lifetime} days; Apple platforms reject TLS certificates valid for more than 825"));
    }
    let n = path_ders.len();
    for (i, d) in path_ders.iter().enumerate() {
        let Some(p) = parse(d) else { continue };
        let sig = p.signature_algorithm.algorithm.to_id_string();
        if i + 1 < n && (sig == "1.2.840.113549.1.1.5" || sig == "1.2.840.10045.4.1") {
            warnings.push(format!(
                "the {} \"{}\" is signed with SHA-1, which browsers reject; reissue it",
                role(i, n),
                subject(&p)
            ));
        }
    }
    if !matches!(leaf.subject_alternative_name(), Ok(Some(_))) {
        warnings.push("the leaf has no subjectAltName: browsers and rustls ignore the CommonName, so it matches no host".into());
    }

    finish(checks, warnings, path)
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

fn names_of(p: &X509Certificate<'_>) -> String {
    match p.subject_alternative_name() {
        Ok(Some(san)) => escape(
            &san.value
                .general_names
                .iter()
                .map(x509::general_name)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => "no subjectAltName".into(),
    }
}

fn leaf_emails(p: &X509Certificate<'_>) -> Vec<String> {
    match p.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                x509_parser::extensions::GeneralName::RFC822Name(e) => Some(e.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// RFC 5280 §7.5: the local part compares exactly, the domain without case.
fn email_eq(held: &str, wanted: &str) -> bool {
    match (held.rsplit_once('@'), wanted.rsplit_once('@')) {
        (Some((hl, hd)), Some((wl, wd))) => hl == wl && hd.eq_ignore_ascii_case(wd),
        _ => false,
    }
}

fn leaf_ekus(p: &X509Certificate<'_>) -> Vec<String> {
    match p.extended_key_usage() {
        Ok(Some(e)) => x509::eku_names(e.value),
        _ => Vec::new(),
    }
}

/// The longest `--expires-within` accepted: 100 years.
pub const MAX_DURATION_DAYS: i64 = 36_525;

/// Parses `--expires-within`: "30d", "12h", "2w", "90m", "3600s", or days.
/// None for anything else, and for more than [`MAX_DURATION_DAYS`].
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    // A bare number is days.
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return days_secs(s.parse::<i64>().ok()?.checked_mul(86_400)?);
    }
    // What people write: 30d, 1d12h, 2weeks, 1 month, 90 days, 1y.
    let mut rest = s;
    let mut total: i64 = 0;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].to_ascii_lowercase();
        rest = rest[unit_len..].trim_start();
        let secs_per = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 7 * 86_400,
            // A month and a year as certificate lifetimes count them: 30
            // and 365 days (a "1 year" leaf is 365 days, not 365.25).
            "mo" | "month" | "months" => 30 * 86_400,
            "y" | "year" | "years" => 365 * 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(secs_per)?)?;
        parts += 1;
    }
    if parts == 0 {
        return None;
    }
    days_secs(total)
}

fn days_secs(secs: i64) -> Option<Duration> {
    (secs <= MAX_DURATION_DAYS * 86_400).then(|| Duration::seconds(secs))
}

/// The range of `--at`: what webpki's clock and X.509 times can express.
fn at_in_range(t: OffsetDateTime) -> bool {
    (1970..=9999).contains(&t.year())
}

/// Parses `--at`: RFC 3339, a date (midnight UTC), or "@" + Unix seconds,
/// from 1970 to 9999. Fractions of a second are dropped: X.509 times and
/// webpki's clock count whole seconds.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    let t = if let Some(secs) = s.strip_prefix('@') {
        OffsetDateTime::from_unix_timestamp(secs.parse().ok()?).ok()?
    } else if let Some(t) = x509::parse_rfc3339(s) {
        t.to_offset(time::UtcOffset::UTC)
    } else {
        let d = time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE).ok()?;
        d.midnight().assume_utc()
    };
    let t = t.replace_nanosecond(0).ok()?;
    at_in_range(t).then_some(t)
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
        assert_eq!(parse_duration("3y"), Some(Duration::days(3 * 365)));
        assert_eq!(parse_duration("1d12h"), Some(Duration::hours(36)));
        assert_eq!(parse_duration("2weeks"), Some(Duration::days(14)));
        assert_eq!(parse_duration("1month"), Some(Duration::days(30)));
        assert_eq!(parse_duration("90 days"), Some(Duration::days(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("1fortnight"), None);
        assert_eq!(parse_duration("-1d"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("99999999d"), None);
        assert_eq!(parse_duration("99999999999999999999w"), None);
        assert_eq!(parse_duration("36525d"), Some(Duration::days(36_525)));
        assert_eq!(parse_time("@0").unwrap().unix_timestamp(), 0);
        assert_eq!(parse_time("@-1"), None);
        assert_eq!(parse_time("@999999999999999"), None);
        assert_eq!(
            parse_time("2030-01-02").unwrap().unix_timestamp(),
            1_893_542_400
        );
        assert!(parse_time("2030-01-02T03:04:05Z").is_some());
        assert_eq!(
            parse_time("2030-01-02T03:04:05.9Z")
                .unwrap()
                .unix_timestamp(),
            parse_time("2030-01-02T03:04:05Z").unwrap().unix_timestamp()
        );
        assert!(parse_time("tomorrow").is_none());
    }

    #[test]
    fn emails_compare_domain_without_case() {
        assert!(email_eq("foo@Example.com", "foo@example.com"));
        assert!(!email_eq("Foo@example.com", "foo@example.com"));
        assert!(!email_eq("*@example.com", "user@example.com"));
    }
}

//! `minica verify`: is this chain valid, for this host and purpose, now and
//! for a while, and not revoked? Also for the chain a live server sends.
//! Exit 0 valid, 1 not valid, 2 bad input, 4 the server could not be reached.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use minica::error::{Error, Result, exit};
use minica::fetch::{self, Endpoint};
use minica::inspect::{self, Item};
use minica::password::Secret;
use minica::text::escape;
use minica::verify::{self, CrlScope, More, Options, Purpose};
use minica::{ca, certs, crl, fsx, keys, stores, x509};
use rustls_pki_types::CertificateDer;

use super::Output;
use super::stores::PasswordArgs;

/// Check a certificate chain: path to a trusted root, validity, host, purpose, revocation, key
///
/// Every certificate of the path is checked, the trusted root included: its
/// validity, that it is a CA, its pathLenConstraint, keyUsage, EKU and
/// critical extensions. The verdict does not depend on the order of the
/// certificates given. Give https://HOST[:PORT] to check what a live server
/// sends.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica verify app.test/chain.pem --host app.test --expires-within 30d\n  minica verify https://app.test:8443 --ca ca.pem"
)]
pub struct Args {
    /// PEM bundle (leaf first), DER certificate, PKCS#12/JKS keystore, `-` for standard input, or https://HOST[:PORT] to fetch
    file: Option<PathBuf>,
    /// Fetch the chain a TLS server presents at HOST:PORT and check it (--host defaults to HOST)
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "file")]
    connect: Option<String>,
    /// Seconds to wait for a server's handshake (1 to 300)
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    timeout: u64,
    /// Trust this CA certificate file (PEM or DER); repeatable [default: the CA directory's root]
    #[arg(long, value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// Trust the entries of this truststore (p12, jks or pem); alone, check the truststore itself
    #[arg(long, value_name = "FILE")]
    truststore: Option<PathBuf>,
    /// Check at this time (RFC 3339, YYYY-MM-DD, or @unix-seconds) [default: now]
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Fail when a certificate in the path expires within this time (30d, 1d12h, 2weeks, 1month; at most 36525d)
    #[arg(long, value_name = "DURATION")]
    expires_within: Option<String>,
    /// The host name or IP address the certificate must be valid for; also
    /// requires serverAuth of every certificate in the path that has an EKU
    /// (the rule TLS clients apply)
    #[arg(long)]
    host: Option<String>,
    /// What the certificate is for: the leaf's EKU must be present and name
    /// it, and every certificate of the path with an EKU must allow it
    #[arg(long, value_enum)]
    purpose: Option<Purpose>,
    /// An RFC 822 (e-mail) name the leaf must hold in its subjectAltName; repeatable
    #[arg(long, value_name = "ADDRESS")]
    email: Vec<String>,
    /// Check revocation against this CRL (PEM or DER); repeatable. Every
    /// certificate below the root must then be covered by its issuer's CRL,
    /// or the chain is NOT VALID (unknown status); an expired or wrongly
    /// signed CRL is a failure
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// Which certificates the CRLs must cover: the whole chain, or the leaf only
    #[arg(long, value_enum, default_value_t = CrlScope::Chain, requires = "crl")]
    crl_scope: CrlScope,
    /// At most this many intermediates between the leaf and the root (0 to 6)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=6))]
    max_depth: Option<u8>,
    /// A private key (PEM) that must belong to the certificate
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    ca_dir: super::CaDirArgs,
}

pub fn run(args: Args, out: &Output) -> Result<i32> {
    // One password for the stores involved, asked for at most once.
    let cell: OnceLock<Secret> = OnceLock::new();
    let password = || -> Result<Secret> {
        if let Some(p) = cell.get() {
            return Ok(p.clone());
        }
        let p = args.password.get_to_open()?;
        let _ = cell.set(p.clone());
        Ok(p)
    };

    // A live endpoint: `verify https://host:port` or `--connect host:port`.
    let endpoint = match (&args.connect, args.file.as_ref().and_then(|f| f.to_str())) {
        (Some(c), _) => Some(Endpoint::parse(c)?),
        (None, Some(f)) if f.starts_with("https://") => Some(Endpoint::parse(f)?),
        _ => None,
    };
    let at = match &args.at {
        Some(s) => verify::parse_time(s).ok_or_else(|| Error::usage(format!("--at {:?}: use RFC 3339 (2030-01-02T03:04:05Z), a date (2030-01-02) or @unix-seconds, from 1970 to 9999", escape(s))))?,
        None => x509::now(),
    };
    let expires_within = match &args.expires_within {
        Some(s) => Some(verify::parse_duration(s).ok_or_else(|| {
            Error::usage(format!(
                "--expires-within {:?}: use numbers with s, m, h, d, w, month or y, as in 30d or 1d12h, of at most {} days",
                escape(s),
                verify::MAX_DURATION_DAYS
            ))
        })?),
        None => None,
    };
    let mut crls = Vec::new();
    for f in &args.crl {
        crls.extend(crl::read(f)?);
    }

    // Local inputs are checked before any connection is made.
    let anchors = if endpoint.is_some() || args.file.is_some() {
        anchors(&args, &password)?
    } else {
        Vec::new()
    };
    let (chain, store_key, source) = match (&endpoint, &args.file) {
        (Some(ep), _) => (
            fetch::fetch_chain(ep, Duration::from_secs(args.timeout))?,
            None,
            ep.to_string(),
        ),
        (None, Some(file)) => {
            let (c, k) = read_chain(file, &password)?;
            (c, k, file.display().to_string())
        }
        (None, None) => {
            return match &args.truststore {
                Some(ts) => check_truststore(ts, &password, out),
                None => Err(Error::usage(
                    "give a certificate file or https://HOST:PORT to verify, or --truststore FILE to check a truststore",
                )),
            };
        }
    };
    let key_spki = match (&args.key, store_key) {
        (Some(k), _) => Some((k.display().to_string(), spki_of_pem(k)?)),
        (None, Some(pkcs8)) => Some((source.clone(), spki_of_pkcs8(Path::new(&source), &pkcs8)?)),
        (None, None) => None,
    };
    let opts = Options {
        at,
        expires_within,
        host: args
            .host
            .clone()
            .or_else(|| endpoint.as_ref().map(|e| e.host.clone())),
        purpose: args.purpose,
        key_spki,
    };
    let more = More {
        crls,
        crl_scope: args.crl_scope,
        max_intermediates: args.max_depth.map(usize::from),
        emails: args.email.clone(),
    };
    let mut report = verify::verify_with(&chain[0], &chain[1..], &anchors, &opts, &more);

    // What the server sent, in its order, and what is wrong with that order.
    let served = endpoint.as_ref().map(|_| served(&chain));
    let notes = if endpoint.is_some() {
        fetch::order_notes(&chain)
    } else {
        Vec::new()
    };
    if endpoint.is_some() && report.reason == Some("unknown_issuer") {
        // A path to no root, from a server: it left out an intermediate.
        report.checks.insert(
            0,
            verify::Check {
                name: "served",
                ok: false,
                reason: Some("incomplete_chain"),
                message: format!(
                    "the chain the server sends is incomplete: the issuer of its last certificate is neither sent nor trusted; configure the server to send its intermediate(s) after the leaf (minica's chain.pem, not cert.pem){}",
                    if chain.len() == 1 { " (it sends only the leaf)" } else { "" }
                ),
            },
        );
        report.reason = Some("incomplete_chain");
    }
    if endpoint.is_some() {
        report
            .warnings
            .extend(notes.iter().map(|n| format!("the server's chain: {n}")));
    }

    if !out.json && !out.quiet {
        if let (Some(ep), Some(served)) = (&endpoint, &served) {
            outln!("  {ep} sends {} certificate(s):", served.len());
            for (i, s) in served.iter().enumerate() {
                outln!(
                    "  {}. {}  (issuer {})",
                    i + 1,
                    s["subject"].as_str().unwrap_or_default(),
                    s["issuer"].as_str().unwrap_or_default()
                );
            }
        }
        for c in &report.checks {
            outln!(
                "{} {:<15} {}",
                if c.ok { "✓" } else { "✗" },
                c.name,
                c.message
            );
        }
        for w in &report.warnings {
            outln!("! warning         {w}");
        }
        outln!("{}", if report.valid { "VALID" } else { "NOT VALID" });
    }
    let mut json = serde_json::to_value(&report).expect("reports serialize");
    if let (Some(ep), Some(served)) = (&endpoint, served) {
        json["endpoint"] = ep.to_string().into();
        json["served"] = served.into();
        json["served_notes"] = notes.into();
    }
    out.json(|| json);
    Ok(if report.valid {
        exit::OK
    } else {
        exit::NOT_VALID
    })
}

/// A keystore entry's private key (PKCS#8 DER), wiped when dropped.
type KeyDer = zeroize::Zeroizing<Vec<u8>>;

/// The chain in a file: a PEM/DER bundle, or a keystore's key entry (with its key).
fn read_chain(
    file: &Path,
    password: &dyn Fn() -> Result<Secret>,
) -> Result<(Vec<CertificateDer<'static>>, Option<KeyDer>)> {
    let bytes = fsx::read_input(file)?;
    match inspect::read_any(file, &bytes, password)? {
        Item::Certs(c) => Ok((c, None)),
        Item::Store(_, contents) => {
            let Some((_, chain)) = contents.keys.into_iter().next() else {
                return Err(Error::bad_file(
                    file,
                    "holds no key entry to verify (is it a truststore? use --truststore)",
                ));
            };
            if chain.is_empty() {
                return Err(Error::bad_file(file, "its key entry has no certificate"));
            }
            let key = contents.key_pkcs8.into_iter().next();
            Ok((chain, key))
        }
        _ => Err(Error::bad_file(
            file,
            "is not a certificate or keystore (use `minica inspect` to see what it is)",
        )),
    }
}

/// The certificates a server sent, in order, for the report.
fn served(chain: &[CertificateDer<'_>]) -> Vec<serde_json::Value> {
    let now = x509::now();
    chain
        .iter()
        .map(|c| match inspect::describe_cert(c, now) {
            Some(i) => serde_json::json!({
                "subject": i.subject,
                "issuer": i.issuer,
                "not_after": x509::rfc3339(i.not_after),
                "sha256_fingerprint": i.sha256_fingerprint,
            }),
            None => serde_json::json!({ "subject": "(unparsable certificate)", "issuer": "" }),
        })
        .collect()
}

fn anchors(
    args: &Args,
    password: &dyn Fn() -> Result<Secret>,
) -> Result<Vec<CertificateDer<'static>>> {
    let mut anchors = Vec::new();
    for f in &args.ca {
        anchors.extend(certs::read(f)?);
    }
    if let Some(ts) = &args.truststore {
        let bytes = fsx::read(ts)?;
        let pw = match stores::Format::detect(&bytes) {
            Some(stores::Format::Pem) | None => None,
            _ => Some(password()?),
        };
        let contents = stores::read(ts, &bytes, pw.as_deref().map(String::as_str))?;
        if contents.trusted.is_empty() {
            return Err(Error::bad_file_fix(
                ts,
                "holds no trusted certificates",
                "check it with `minica verify --truststore FILE`",
            ));
        }
        anchors.extend(contents.trusted.into_iter().map(|t| t.cert));
    }
    if args.ca.is_empty() && args.truststore.is_none() {
        let dir = args.ca_dir.dir()?;
        let root = dir.join(ca::CERT_FILE);
        if !root.exists() {
            return Err(Error::bad_file_fix(
                &root,
                "no CA here to trust",
                "say what to trust with --ca FILE or --truststore FILE",
            ));
        }
        anchors.extend(certs::read(&root)?);
    }
    Ok(anchors)
}

fn spki_of_pem(path: &Path) -> Result<Vec<u8>> {
    use rcgen::PublicKeyData;
    let bytes = zeroize::Zeroizing::new(fsx::read(path)?);
    Ok(keys::load_pem(path, &bytes)?.subject_public_key_info())
}

fn spki_of_pkcs8(path: &Path, pkcs8: &[u8]) -> Result<Vec<u8>> {
    use rcgen::PublicKeyData;
    Ok(keys::from_pkcs8_der(path, pkcs8)?.subject_public_key_info())
}

/// `verify --truststore FILE` alone: will Java find trusted entries in it?
fn check_truststore(
    path: &Path,
    password: &dyn Fn() -> Result<Secret>,
    out: &Output,
) -> Result<i32> {
    let bytes = fsx::read(path)?;
    let format = stores::Format::detect(&bytes);
    let pw = match format {
        Some(stores::Format::Pem) | None => None,
        _ => Some(password()?),
    };
    let contents = stores::read(path, &bytes, pw.as_deref().map(String::as_str))?;
    let now = x509::now();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if contents.trusted.is_empty() {
        problems.push(if contents.untrusted.is_empty() {
            "the truststore holds no certificates".to_string()
        } else {
            format!(
                "Java sees an empty truststore: its {} certificate(s) lack Java's trusted-key-usage attribute (as `openssl pkcs12 -export -nokeys` writes them); rebuild it with `minica truststore --add FILE`",
                contents.untrusted.len()
            )
        });
    }
    if !contents.keys.is_empty() {
        warnings.push(format!(
            "it also holds {} private key(s): a truststore should hold only CA certificates",
            contents.keys.len()
        ));
    }
    let entries: Vec<serde_json::Value> = contents
        .trusted
        .iter()
        .map(|t| {
            let info = inspect::describe_cert(&t.cert, now);
            if let Some(i) = &info {
                if i.days_left < 0 {
                    warnings.push(format!(
                        "{} ({}) expired on {}",
                        escape(&t.alias),
                        i.subject,
                        x509::date(i.not_after)
                    ));
                }
                if !i.is_ca {
                    warnings.push(format!(
                        "{} ({}) is not a CA certificate",
                        escape(&t.alias),
                        i.subject
                    ));
                }
            }
            serde_json::json!({ "alias": escape(&t.alias), "certificate": info })
        })
        .collect();
    let valid = problems.is_empty();
    if !out.json && !out.quiet {
        for e in &contents.trusted {
            outln!(
                "✓ trusted         {} ({})",
                escape(&e.alias),
                escape(&certs::display_name(&e.cert).unwrap_or_default())
            );
        }
        for p in &problems {
            outln!("✗ truststore      {p}");
        }
        for w in &warnings {
            outln!("! warning         {w}");
        }
        outln!("{}", if valid { "VALID" } else { "NOT VALID" });
    }
    out.json(|| {
        serde_json::json!({
            "valid": valid,
            "reason": if valid { None } else { Some("empty_truststore") },
            "trusted": entries,
            "problems": problems,
            "warnings": warnings,
        })
    });
    Ok(if valid { exit::OK } else { exit::NOT_VALID })
}

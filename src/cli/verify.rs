//! `minica verify`: is this chain valid, for this host and purpose, now and
//! for a while? Exit 0 valid, 1 not valid, 2 unreadable input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use minica::error::{Error, Result, exit};
use minica::inspect::{self, Item};
use minica::password::Secret;
use minica::verify::{self, Options, Purpose};
use minica::{ca, certs, fsx, keys, stores, x509};
use rustls_pki_types::CertificateDer;

use super::stores::PasswordArgs;
use super::{Global, Output};

/// Check a certificate chain: path to a trusted root, validity, host, purpose, key
#[derive(Debug, clap::Args)]
pub struct Args {
    /// PEM bundle (leaf first), DER certificate, or a PKCS#12/JKS keystore
    file: Option<PathBuf>,
    /// Trust this CA certificate file (PEM or DER); repeatable [default: the CA directory's root]
    #[arg(long, value_name = "FILE")]
    ca: Vec<PathBuf>,
    /// Trust the entries of this truststore (p12, jks or pem); alone, check the truststore itself
    #[arg(long, value_name = "FILE")]
    truststore: Option<PathBuf>,
    /// Check at this time (RFC 3339, YYYY-MM-DD, or @unix-seconds) [default: now]
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Fail when a certificate in the path expires within this time (30d, 12h, 2w)
    #[arg(long, value_name = "DURATION")]
    expires_within: Option<String>,
    /// The host name or IP address the certificate must be valid for
    #[arg(long)]
    host: Option<String>,
    /// What the certificate is for: its EKU must be present and match
    #[arg(long, value_enum)]
    purpose: Option<Purpose>,
    /// A private key (PEM) that must belong to the certificate
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    #[command(flatten)]
    password: PasswordArgs,
}

pub fn run(args: Args, global: &Global, out: &Output) -> Result<i32> {
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

    let Some(file) = &args.file else {
        return match &args.truststore {
            Some(ts) => check_truststore(ts, &password, out),
            None => Err(Error::usage(
                "give a certificate file to verify, or --truststore FILE to check a truststore",
            )),
        };
    };
    let at = match &args.at {
        Some(s) => verify::parse_time(s).ok_or_else(|| Error::usage(format!("--at {s:?}: use RFC 3339 (2030-01-02T03:04:05Z), a date (2030-01-02) or @unix-seconds")))?,
        None => x509::now(),
    };
    let expires_within = match &args.expires_within {
        Some(s) => Some(verify::parse_duration(s).ok_or_else(|| {
            Error::usage(format!(
                "--expires-within {s:?}: use a number with s, m, h, d or w, as in 30d"
            ))
        })?),
        None => None,
    };

    let bytes = fsx::read(file)?;
    let (chain, store_key) = match inspect::read_any(file, &bytes, &password)? {
        Item::Certs(c) => (c, None),
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
            (chain, key)
        }
        _ => {
            return Err(Error::bad_file(
                file,
                "is not a certificate or keystore (use `minica inspect` to see what it is)",
            ));
        }
    };

    let anchors = anchors(&args, global, &password)?;
    let key_spki = match (&args.key, store_key) {
        (Some(k), _) => Some((k.display().to_string(), spki_of_pem(k)?)),
        (None, Some(pkcs8)) => Some((file.display().to_string(), spki_of_pkcs8(file, &pkcs8)?)),
        (None, None) => None,
    };
    let opts = Options {
        at,
        expires_within,
        host: args.host.clone(),
        purpose: args.purpose,
        key_spki,
    };
    let report = verify::verify(&chain[0], &chain[1..], &anchors, &opts);

    if !out.json && !out.quiet {
        for c in &report.checks {
            println!(
                "{} {:<15} {}",
                if c.ok { "✓" } else { "✗" },
                c.name,
                c.message
            );
        }
        for w in &report.warnings {
            println!("! warning         {w}");
        }
        println!("{}", if report.valid { "VALID" } else { "NOT VALID" });
    }
    out.json(&serde_json::to_value(&report).expect("reports serialize"));
    Ok(if report.valid {
        exit::OK
    } else {
        exit::NOT_VALID
    })
}

fn anchors(
    args: &Args,
    global: &Global,
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
        let dir = global.ca_dir()?;
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
                        t.alias,
                        i.subject,
                        x509::date(i.not_after)
                    ));
                }
                if !i.is_ca {
                    warnings.push(format!(
                        "{} ({}) is not a CA certificate",
                        t.alias, i.subject
                    ));
                }
            }
            serde_json::json!({ "alias": t.alias, "certificate": info })
        })
        .collect();
    let valid = problems.is_empty();
    if !out.json && !out.quiet {
        for e in &contents.trusted {
            println!(
                "✓ trusted         {} ({})",
                e.alias,
                certs::display_name(&e.cert).unwrap_or_default()
            );
        }
        for p in &problems {
            println!("✗ truststore      {p}");
        }
        for w in &warnings {
            println!("! warning         {w}");
        }
        println!("{}", if valid { "VALID" } else { "NOT VALID" });
    }
    out.json(&serde_json::json!({
        "valid": valid,
        "reason": if valid { None } else { Some("empty_truststore") },
        "trusted": entries,
        "problems": problems,
        "warnings": warnings,
    }));
    Ok(if valid { exit::OK } else { exit::NOT_VALID })
}

//! `minica issue`: a new key and a leaf certificate for some names.

use std::path::PathBuf;

use minica::error::{Error, Result};
use minica::issue::{self, CaOpened, KeySource, Request, StoreRequest};
use minica::keys::KeyType;
use minica::{ca, names, x509};

use super::stores::{FormatArgs, PasswordArgs};
use super::{Output, show_path};

/// Issue a certificate: a new key and a leaf signed by the CA
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica issue localhost 127.0.0.1 ::1        # into ./localhost/\n  minica issue --client alice --keystore --password-env STORE_PW\n  minica issue --csr svc/csr.pem --san svc.internal.test --out-dir svc"
)]
pub struct Args {
    /// DNS names, *.wildcards, IP addresses, emails or URIs; the first is also the CommonName
    #[arg(required_unless_present = "csr", value_name = "NAME")]
    names: Vec<String>,
    /// Sign this certificate signing request (PEM or DER) instead of making a key
    #[arg(long, value_name = "FILE")]
    csr: Option<PathBuf>,
    /// With --csr: a subjectAltName to add to those the CSR asks for; repeatable
    #[arg(long = "san", value_name = "NAME", requires = "csr")]
    extra_names: Vec<String>,
    /// A client certificate for mutual TLS (the "client" profile: clientAuth only)
    #[arg(long, conflicts_with = "profile")]
    client: bool,
    /// Profile: server (default), client, server-client, or one in <ca-dir>/templates
    #[arg(long)]
    profile: Option<String>,
    /// Lifetime in days, 1 to 36525 [default: the profile's, 397 for the built-in ones]
    #[arg(long)]
    days: Option<u32>,
    /// Key type of the new key [default: ca.toml's issue.key_type, else ecdsa-p256]
    #[arg(long, value_enum)]
    key_type: Option<KeyType>,
    /// Output directory [default: ./<first name>]
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Also write keystore.<format> (key and chain) beside the certificate
    #[arg(long)]
    keystore: bool,
    /// Also write truststore.<format> (the CA's root) beside the certificate
    #[arg(long)]
    truststore: bool,
    #[command(flatten)]
    store_format: FormatArgs,
    #[command(flatten)]
    password: PasswordArgs,
    /// With --csr: certify a subordinate CA (policy.sign_sub_ca must allow it), not a leaf
    #[arg(long, requires = "csr")]
    sub_ca: bool,
    /// With --sub-ca: the subordinate CA's pathLenConstraint
    #[arg(long, requires = "sub_ca", default_value_t = 0)]
    path_len: u8,
    /// With --sub-ca: a name constraint (DNS suffix or CIDR range) for the subordinate CA; repeatable
    #[arg(long, requires = "sub_ca", value_name = "NAME|CIDR")]
    permit: Vec<String>,
    /// The intermediate that signs (issuers/NAME) [default: ca.toml's issue.issuer, else the root]
    #[arg(long, value_name = "NAME")]
    issuer: Option<String>,
    /// Replace existing files in the output directory
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    ca: super::SignerArgs,
}

pub fn run(args: Args, out: &Output) -> Result<()> {
    super::stores::refuse_stdout_dir("issue", args.out_dir.as_deref())?;
    if args.csr.is_some() && args.keystore {
        return Err(Error::usage(
            "--keystore needs the key, which stays with the CSR's owner; use --truststore alone",
        ));
    }
    if args.csr.is_some() && args.key_type.is_some() {
        return Err(Error::usage(
            "--key-type cannot be used with --csr: the key is the CSR's",
        ));
    }
    // Names and passwords are checked before anything is created, even a first CA.
    let mut names = names::parse_all(&args.names)?;
    names.extend(names::parse_all(&args.extra_names)?);
    for n in names::converted(&args.names)
        .into_iter()
        .chain(names::converted(&args.extra_names))
    {
        out.note(n);
    }
    let dir = args.ca.dir()?;
    let format = args.store_format.format;
    let password = if args.keystore || args.truststore {
        args.password.get(format, out)?
    } else {
        None
    };
    let store = |on: bool| {
        on.then(|| StoreRequest {
            format,
            password: password.clone(),
            pkcs12: args.store_format.pkcs12(),
        })
    };
    let request = Request {
        names,
        key: match args.csr {
            Some(csr) => KeySource::Csr(csr),
            None => KeySource::New(args.key_type),
        },
        profile: match (args.profile, args.client) {
            (Some(p), _) => Some(p),
            (None, true) => Some("client".into()),
            (None, false) => None,
        },
        days: args.days,
        out_dir: args.out_dir,
        keystore: store(args.keystore),
        truststore: store(args.truststore),
        issuer: args.issuer,
        sub_ca: args.sub_ca.then_some(minica::issuers::SubCaRequest {
            path_len: args.path_len,
            permit: args.permit,
        }),
        force: args.force,
    };
    // A slow key or store, and no prompt for the spinner to draw over.
    let slow = matches!(args.key_type, Some(KeyType::Rsa3072 | KeyType::Rsa4096))
        || request.keystore.is_some()
        || request.truststore.is_some();
    let spinner = (slow && super::progress::shown(out) && !super::progress::ca_may_prompt(&dir))
        .then(|| super::progress::Indicator::spinner(out, "issuing"));
    let (issued, opened) = issue::issue(&dir, &args.ca.unlock(), request)?;
    drop(spinner);
    ca_opened(out, &dir, &opened);
    for w in &issued.warnings {
        out.warn(w);
    }
    let shown: Vec<String> = issued.names.iter().map(|n| n.to_string()).collect();
    let f = &issued.files;
    let mut lines = vec![format!(
        "Issued a {} certificate for {} ({}, serial {}), valid until {}.",
        issued.profile,
        shown.join(", "),
        issued.key,
        &issued.serial,
        x509::date(issued.not_after),
    )];
    let rows = [
        ("cert", Some(&f.cert)),
        ("key", f.key.as_ref()),
        ("chain", Some(&f.chain)),
        ("ca", Some(&f.ca)),
        ("keystore", f.keystore.as_ref()),
        ("truststore", f.truststore.as_ref()),
    ];
    for (kind, path) in rows {
        if let Some(p) = path {
            lines.push(format!("  {kind:<6} {}", show_path(p)));
        }
    }
    out.text(lines.join("\n"));
    let mut value = serde_json::to_value(&issued).expect("issued serializes");
    value["ca_created"] = opened.created.into();
    out.json(|| value);
    Ok(())
}

/// Tells what opening the CA did: a first CA made, interrupted commands finished.
pub fn ca_opened(out: &Output, dir: &std::path::Path, opened: &CaOpened) {
    for r in &opened.recovered {
        out.note(format!(
            "{} an interrupted command's {} file(s) first",
            if r.rolled_forward {
                "finished writing"
            } else {
                "removed"
            },
            r.files.len()
        ));
    }
    if opened.created {
        out.note(format!(
            "no CA in {} yet, so created one ({}, expires {}); trust {} in your clients",
            show_path(dir),
            opened.key_type,
            x509::date(opened.not_after),
            show_path(&dir.join(ca::CERT_FILE))
        ));
    }
}

/// Tells what opening a CA finished or undid of interrupted commands.
pub fn recovered(out: &Output, done: &[minica::txn::Recovered]) {
    for r in done {
        out.note(format!(
            "{} an interrupted command's {} file(s) first",
            if r.rolled_forward {
                "finished writing"
            } else {
                "removed"
            },
            r.files.len()
        ));
    }
}

//! `minica keystore`: a party's own key and chain in one file.

use std::path::{Path, PathBuf};

use minica::error::{Error, Result};
use minica::{certs, names, stores};
use serde_json::json;

use super::stores::{FormatArgs, PasswordArgs, default_path, write};
use super::{Output, show_path};

/// Pack an issued certificate's key and chain into a keystore (PKCS#12, JKS or PEM)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica keystore app.test --format jks --password-env STORE_PW\n  minica keystore --cert c.pem --key k.pem --chain ca.pem --out web.p12 --password-file pw"
)]
pub struct Args {
    /// The certificate's name (its directory from `minica issue`), or a directory
    name: Option<String>,
    /// The certificate, instead of NAME (PEM or DER; may hold the chain too)
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Its private key (PEM), with --cert
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Intermediate and root certificates to add to the chain, with --cert
    #[arg(long, value_name = "FILE")]
    chain: Vec<PathBuf>,
    /// Entry name [default: NAME, else the certificate's name; lower-cased, as Java folds them]
    #[arg(long)]
    alias: Option<String>,
    /// Output file [default: keystore.<format> beside the certificate]
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    password: PasswordArgs,
    /// Replace an existing file
    #[arg(long)]
    force: bool,
}

/// The directory `minica issue NAME` wrote to, or NAME itself if it is one.
pub fn issued_dir(name: &str) -> Result<PathBuf> {
    let as_path = Path::new(name);
    if as_path.join("cert.pem").is_file() {
        return Ok(as_path.to_path_buf());
    }
    let dir = PathBuf::from(names::Name::parse(name)?.dir_name());
    if !dir.join("cert.pem").is_file() {
        return Err(Error::bad_file_fix(
            &dir.join("cert.pem"),
            "no certificate here",
            format!("issue one with `minica issue {name}`, or give --cert and --key"),
        ));
    }
    Ok(dir)
}

pub fn run(args: Args, out: &Output) -> Result<()> {
    let (cert, key, extra, alias, out_dir) = match (&args.cert, &args.name) {
        (Some(cert), name) => {
            let key = args.key.clone().expect("clap requires --key with --cert");
            let alias = match (&args.alias, name) {
                (Some(a), _) | (None, Some(a)) => a.clone(),
                (None, None) => certs::read(cert)?
                    .first()
                    .and_then(|c| certs::display_name(c))
                    .unwrap_or_else(|| "key".into()),
            };
            let dir = cert.parent().map(Path::to_path_buf).unwrap_or_default();
            (cert.clone(), key, args.chain.clone(), alias, dir)
        }
        (None, Some(name)) => {
            if args.key.is_some() || !args.chain.is_empty() {
                return Err(Error::usage("--key and --chain go with --cert"));
            }
            let dir = issued_dir(name)?;
            let key = dir.join("key.pem");
            if !key.exists() {
                return Err(Error::bad_file_fix(
                    &key,
                    "there is no key for this certificate (one issued from a CSR keeps its key with the CSR's owner)",
                    "give the certificate and key with --cert and --key",
                ));
            }
            // The certificate's first name, as `issue --keystore` names it,
            // never the path it was given by.
            let alias = match &args.alias {
                Some(a) => a.clone(),
                None => certs::read(&dir.join("cert.pem"))?
                    .first()
                    .and_then(|c| certs::display_name(c))
                    .unwrap_or_else(|| name.clone()),
            };
            (
                dir.join("cert.pem"),
                key,
                vec![dir.join("chain.pem"), dir.join("ca.pem")],
                alias,
                dir,
            )
        }
        (None, None) => return Err(Error::usage("give a certificate name, or --cert and --key")),
    };
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| default_path(&out_dir, "keystore", args.format.format));
    if !super::stores::is_stdout(&path) {
        minica::fsx::refuse_existing([path.as_path()], args.force, None)?;
    }
    // Files named with --chain must exist: dropping one silently would
    // write a keystore without the intermediate the user asked for. Only
    // the chain.pem/ca.pem beside an issued certificate are optional.
    for p in &args.chain {
        if !p.exists() {
            return Err(Error::bad_file_fix(
                p,
                "no such file (named by --chain)",
                "give the path of the intermediate or root certificate file",
            ));
        }
    }
    let extra: Vec<&Path> = extra
        .iter()
        .map(PathBuf::as_path)
        .filter(|p| p.exists())
        .collect();
    let entry = stores::key_entry_from_files(&stores::alias_for(&alias), &cert, &key, &extra)?;
    let password = args.password.get(args.format.format, out)?;
    let spinner = super::progress::Indicator::spinner(out, "writing the keystore");
    let bytes = stores::write_keystore(
        args.format.format,
        &entry,
        password.as_deref().map(String::as_str),
        args.format.pkcs12(),
    )?;
    drop(spinner);
    write(&path, &bytes, true, args.force)?;
    if super::stores::is_stdout(&path) {
        // Standard output holds the store alone.
        out.note(format!(
            "wrote the keystore (alias {:?}) to standard output",
            entry.alias
        ));
        return Ok(());
    }
    out.text(format!(
        "Wrote keystore {} ({}): alias {:?}, key and a chain of {} certificate(s).\n  protection  {}",
        show_path(&path),
        args.format.format.extension(),
        entry.alias,
        entry.chain.len(),
        args.format.protection()
    ));
    out.json(|| {
        json!({
            "file": path,
            "format": args.format.format,
            "alias": entry.alias,
            "chain_length": entry.chain.len(),
            "protection": args.format.protection(),
        })
    });
    Ok(())
}

//! `minica truststore`: the CA certificates a party trusts, and nothing else.

use std::path::{Path, PathBuf};

use minica::error::{Error, Result};
use minica::{ca, stores};
use serde_json::json;

use super::stores::{FormatArgs, PasswordArgs, default_path, write};
use super::{Output, show_path};

/// Write a truststore: the CA's root (and --add certificates) as trusted entries, no keys
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica truststore --format jks --password-env STORE_PW\n  minica truststore --format pem --add partner-root.pem --out trust.pem"
)]
pub struct Args {
    /// Another CA certificate file to trust (PEM bundle or DER); repeatable
    #[arg(long, value_name = "FILE")]
    add: Vec<PathBuf>,
    /// Output file [default: ./truststore.<format>]
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    password: PasswordArgs,
    /// Accept --add certificates that are not CAs (leaves): each becomes a
    /// trust anchor on its own ("certificate pinning"), with a warning
    #[arg(long)]
    allow_leaf: bool,
    /// Replace an existing file
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    ca: super::CaDirArgs,
}

/// Refuses --add certificates that are not CAs, unless --allow-leaf; with
/// it, warns for each. A leaf in a truststore is trusted as an anchor, so
/// it is trusted for whatever it names, whatever its own constraints say.
fn check_added(add: &[PathBuf], allow_leaf: bool, out: &Output) -> Result<()> {
    for f in add {
        for (i, c) in minica::certs::read(f)?.iter().enumerate() {
            if minica::certs::is_ca(c) {
                continue;
            }
            let name = minica::certs::display_name(c).unwrap_or_else(|| format!("#{}", i + 1));
            if !allow_leaf {
                return Err(Error::bad_file_fix(
                    f,
                    format!(
                        "certificate {name:?} is not a CA (no basicConstraints CA:TRUE); in a truststore it would become a trust anchor"
                    ),
                    "add the CA that issued it instead, or pass --allow-leaf to trust this certificate itself",
                ));
            }
            out.warn(format!(
                "{}: {name:?} is not a CA; it is trusted as an anchor on its own (--allow-leaf)",
                f.display()
            ));
        }
    }
    Ok(())
}

/// The trusted entries: this CA's root, then each --add file's certificates.
pub fn entries(ca_dir: &Path, add: &[PathBuf]) -> Result<Vec<stores::TrustedEntry>> {
    let root = ca_dir.join(ca::CERT_FILE);
    if !root.exists() {
        return Err(Error::NoCa(ca_dir.to_path_buf()));
    }
    let files: Vec<&Path> = std::iter::once(root.as_path())
        .chain(add.iter().map(PathBuf::as_path))
        .collect();
    stores::trusted_from_files(&files)
}

pub fn run(args: Args, out: &Output) -> Result<()> {
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| default_path(Path::new(""), "truststore", args.format.format));
    if !super::stores::is_stdout(&path) {
        minica::fsx::refuse_existing([path.as_path()], args.force, None)?;
    }
    check_added(&args.add, args.allow_leaf, out)?;
    let trusted = entries(&args.ca.dir()?, &args.add)?;
    let password = args.password.get(args.format.format, out)?;
    let spinner = super::progress::Indicator::spinner(out, "writing the truststore");
    let bytes = stores::write_truststore(
        args.format.format,
        &trusted,
        password.as_deref().map(String::as_str),
        args.format.pkcs12(),
    )?;
    drop(spinner);
    write(&path, &bytes, false, args.force)?;
    if super::stores::is_stdout(&path) {
        // Standard output holds the store alone.
        out.note("wrote the truststore to standard output");
        return Ok(());
    }
    let aliases: Vec<&str> = trusted.iter().map(|t| t.alias.as_str()).collect();
    out.text(format!(
        "Wrote truststore {} ({}): {} trusted certificate(s): {}.\n  protection  {}",
        show_path(&path),
        args.format.format.extension(),
        trusted.len(),
        aliases.join(", "),
        args.format.protection()
    ));
    out.json(|| {
        json!({
            "file": path,
            "format": args.format.format,
            "aliases": aliases,
            "protection": args.format.protection(),
        })
    });
    Ok(())
}

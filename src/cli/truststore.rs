//! `minica truststore`: the CA certificates a party trusts, and nothing else.

use std::path::{Path, PathBuf};

use minica::error::{Error, Result};
use minica::{ca, stores};
use serde_json::json;

use super::stores::{FormatArgs, PasswordArgs, default_path, write};
use super::{Global, Output, show_path};

/// Write a truststore: the CA's root (and --add certificates) as trusted entries, no keys
#[derive(Debug, clap::Args)]
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
    /// Replace an existing file
    #[arg(long)]
    force: bool,
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

pub fn run(args: Args, global: &Global, out: &Output) -> Result<()> {
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| default_path(Path::new(""), "truststore", args.format.format));
    minica::fsx::refuse_existing([path.as_path()], args.force, None)?;
    let trusted = entries(&global.ca_dir()?, &args.add)?;
    let password = args.password.get(args.format.format, out)?;
    let bytes = stores::write_truststore(
        args.format.format,
        &trusted,
        password.as_deref().map(String::as_str),
        args.format.pkcs12(),
    )?;
    write(&path, &bytes, false, args.force)?;
    let aliases: Vec<&str> = trusted.iter().map(|t| t.alias.as_str()).collect();
    out.text(format!(
        "Wrote truststore {} ({}): {} trusted certificate(s): {}.\n  protection  {}",
        show_path(&path),
        args.format.format.extension(),
        trusted.len(),
        aliases.join(", "),
        args.format.protection()
    ));
    out.json(&json!({
        "file": path,
        "format": args.format.format,
        "aliases": aliases,
        "protection": args.format.protection(),
    }));
    Ok(())
}

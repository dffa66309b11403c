//! `minica store`: manage keystores and truststores that already exist.

use std::path::PathBuf;

use minica::error::{Error, Result};
use minica::password::{Purpose, Secret, Source};
use minica::stores::manage::{self, Selector};
use minica::{certs, stores, x509};
use serde_json::json;

use super::stores::{FormatArgs, PasswordArgs};
use super::{Output, show_path};

/// Manage existing keystores and truststores (JKS, PKCS#12, PEM) without keytool
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every entry: alias, kind, subject, expiry, SHA-256 fingerprint
    List(ListArgs),
    /// Add a trusted certificate (--cert), or a private key entry (--key with --cert)
    Add(AddArgs),
    /// Remove an entry by alias, every expired trusted certificate, or by fingerprint
    Remove(RemoveArgs),
    /// Write a store's entries in another format or PKCS#12 profile
    Convert(ConvertArgs),
    /// Change a store's password (and its keys')
    Passwd(PasswdArgs),
    /// Write the union of several stores' trusted certificates (duplicates by fingerprint)
    Merge(MergeArgs),
    /// Write a key entry as key.pem, cert.pem and chain.pem (for nginx, HAProxy, curl)
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  minica store list truststore.jks --password-env STORE_PW")]
pub struct ListArgs {
    file: PathBuf,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica store add truststore.p12 --cert partner-root.pem\n  minica store add keystore.jks --key svc/key.pem --cert svc/cert.pem --chain svc/chain.pem --alias svc"
)]
pub struct AddArgs {
    file: PathBuf,
    /// A certificate (PEM bundle or DER): trusted entries; with --key, the key's certificate
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// A private key (PEM): a key entry with --cert
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// More certificates of the key's chain; repeatable
    #[arg(long, value_name = "FILE", requires = "key")]
    chain: Vec<PathBuf>,
    /// The alias [default: the certificate's name]
    #[arg(long)]
    alias: Option<String>,
    /// Replace an entry of the same alias
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica store remove truststore.p12 old-root\n  minica store remove cacerts --expired --password-file pw"
)]
pub struct RemoveArgs {
    file: PathBuf,
    /// The alias of the entry to remove
    #[arg(required_unless_present_any = ["expired", "fingerprint"], conflicts_with_all = ["expired", "fingerprint"])]
    alias: Option<String>,
    /// Every trusted certificate past its expiry
    #[arg(long, conflicts_with = "fingerprint")]
    expired: bool,
    /// The entry with this SHA-256 fingerprint (hex, colons allowed)
    #[arg(long, value_name = "SHA256")]
    fingerprint: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
}

/// A new password, for `convert` and `passwd`.
#[derive(Debug, Clone, clap::Args)]
pub struct NewPasswordArgs {
    /// Read the new password from the first line of FILE
    #[arg(long, value_name = "FILE")]
    new_password_file: Option<PathBuf>,
    /// Read the new password from the environment variable VAR
    #[arg(long, value_name = "VAR")]
    new_password_env: Option<String>,
}

impl NewPasswordArgs {
    fn given(&self) -> bool {
        self.new_password_file.is_some() || self.new_password_env.is_some()
    }

    fn get(&self) -> Result<Secret> {
        Source {
            file: self.new_password_file.clone(),
            env: self.new_password_env.clone(),
            stdin: false,
            value: None,
        }
        .get(&Purpose {
            what: "new store password",
            default_env: "MINICA_NEW_STORE_PASSWORD",
            confirm: true,
        })
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica store convert legacy.jks app.p12\n  minica store convert cacerts cacerts.p12 --p12-profile passwordless\n  minica store convert app.p12 app-mac.p12 --p12-profile legacy-rc2"
)]
pub struct ConvertArgs {
    input: PathBuf,
    output: PathBuf,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    new_password: NewPasswordArgs,
    /// Replace an existing output file
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  minica store passwd keystore.p12 --password-file old --new-password-file new"
)]
pub struct PasswdArgs {
    file: PathBuf,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    new_password: NewPasswordArgs,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  minica store merge all.p12 a.p12 b.jks --password-env STORE_PW"
)]
pub struct MergeArgs {
    output: PathBuf,
    /// The stores to merge (one password for all: --password-*)
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    password: PasswordArgs,
    /// Replace an existing output file
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  minica store export app.p12 web --out-dir web --password-file pw   # key.pem, cert.pem, chain.pem"
)]
pub struct ExportArgs {
    file: PathBuf,
    alias: String,
    /// The directory for key.pem, cert.pem and chain.pem
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// Replace existing files
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    password: PasswordArgs,
}

/// The password of an existing store; none given opens a password-less one.
fn store_password(p: &PasswordArgs) -> Result<Secret> {
    if p.given() {
        p.get_to_open()
    } else {
        Ok(Secret::new(String::new()))
    }
}

pub fn run(cmd: Command, out: &Output) -> Result<()> {
    match cmd {
        Command::List(a) => list(a, out),
        Command::Add(a) => add(a, out),
        Command::Remove(a) => remove(a, out),
        Command::Convert(a) => convert(a, out),
        Command::Passwd(a) => passwd(a, out),
        Command::Merge(a) => merge(a, out),
        Command::Export(a) => export(a, out),
    }
}

fn list(a: ListArgs, out: &Output) -> Result<()> {
    let pw = store_password(&a.password)?;
    let opened = manage::open(&a.file, &pw)?;
    let entries = manage::list(&opened);
    let mut text = format!(
        "{} ({}{}): {} entr{}",
        show_path(&a.file),
        opened.format.extension(),
        opened
            .profile
            .map(|p| format!(", {}", p.describe()))
            .unwrap_or_default(),
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    );
    for e in &entries {
        text.push_str(&format!(
            "\n  {:<24} {:<11} expires {}  {}\n  {:<24} sha256 {}",
            e.alias,
            if e.kind == "key" {
                format!("key ({})", e.chain)
            } else {
                e.kind.to_string()
            },
            x509::date(e.not_after),
            e.subject,
            "",
            e.sha256
        ));
    }
    out.text(text);
    out.json(|| {
        json!({
            "file": a.file,
            "format": opened.format,
            "profile": opened.profile,
            "entries": entries,
        })
    });
    Ok(())
}

fn add(a: AddArgs, out: &Output) -> Result<()> {
    let pw = store_password(&a.password)?;
    let edited = match &a.key {
        Some(key) => {
            let chain: Vec<&std::path::Path> = a.chain.iter().map(PathBuf::as_path).collect();
            let leaf = certs::read(&a.cert)?;
            let alias = a
                .alias
                .clone()
                .unwrap_or_else(|| manage::alias_of(&leaf[0]));
            let entry =
                stores::key_entry_from_files(&stores::alias_for(&alias), &a.cert, key, &chain)?;
            manage::add_key(&a.file, &pw, &entry, a.force)?
        }
        None => {
            let certs = certs::read(&a.cert)?;
            manage::add_trusted(&a.file, &pw, &certs, a.alias.as_deref(), a.force)?
        }
    };
    if edited.is_empty() {
        out.text(format!(
            "{} already trusts every certificate of {}: nothing changed.",
            show_path(&a.file),
            show_path(&a.cert)
        ));
    } else {
        out.text(format!(
            "Added to {}: {}.",
            show_path(&a.file),
            edited.join(", ")
        ));
    }
    out.json(|| json!({ "file": a.file, "added": edited }));
    Ok(())
}

fn remove(a: RemoveArgs, out: &Output) -> Result<()> {
    let pw = store_password(&a.password)?;
    let sel = match (&a.alias, a.expired, &a.fingerprint) {
        (Some(al), _, _) => Selector::Alias(al.clone()),
        (_, true, _) => Selector::Expired,
        (_, _, Some(f)) => Selector::Fingerprint(f.clone()),
        _ => {
            return Err(Error::usage(
                "say what to remove: an alias, --expired or --fingerprint",
            ));
        }
    };
    let edited = manage::remove(&a.file, &pw, &sel)?;
    if edited.is_empty() {
        out.text(format!("{}: nothing to remove.", show_path(&a.file)));
    } else {
        out.text(format!(
            "Removed from {}: {}.",
            show_path(&a.file),
            edited.join(", ")
        ));
    }
    out.json(|| json!({ "file": a.file, "removed": edited }));
    Ok(())
}

/// The password a rewritten store gets: a new one, or the old one, or none
/// for PEM and a password-less PKCS#12.
fn output_password(
    format: &FormatArgs,
    old: &Secret,
    new: &NewPasswordArgs,
) -> Result<Option<Secret>> {
    let needs = match format.format {
        stores::Format::Pem => false,
        stores::Format::P12 => format.pkcs12().profile != stores::P12Profile::Passwordless,
        stores::Format::Jks => true,
    };
    if !needs {
        return Ok(None);
    }
    if new.given() {
        return new.get().map(Some);
    }
    if old.is_empty() {
        return Err(Error::usage(
            "the new store needs a password: give it with --new-password-file or --new-password-env",
        ));
    }
    Ok(Some(old.clone()))
}

fn convert(a: ConvertArgs, out: &Output) -> Result<()> {
    let pw = store_password(&a.password)?;
    let opened = manage::open(&a.input, &pw)?;
    let new_pw = output_password(&a.format, &pw, &a.new_password)?;
    let bytes = manage::rewrite(
        &opened,
        a.format.format,
        new_pw.as_deref().map(String::as_str),
        a.format.pkcs12(),
    )?;
    let private = !opened.contents.keys.is_empty();
    manage::write_new(&a.output, &bytes, private, a.force)?;
    let n = manage::list(&opened).len();
    out.text(format!(
        "Wrote {} ({}): {n} entr{} from {}.\n  protection  {}",
        show_path(&a.output),
        a.format.format.extension(),
        if n == 1 { "y" } else { "ies" },
        show_path(&a.input),
        a.format.protection()
    ));
    out.json(|| json!({ "file": a.output, "format": a.format.format, "entries": n }));
    Ok(())
}

fn passwd(a: PasswdArgs, out: &Output) -> Result<()> {
    let pw = store_password(&a.password)?;
    let new_pw = a.new_password.get()?;
    manage::passwd(&a.file, &pw, &new_pw)?;
    out.text(format!("Changed the password of {}.", show_path(&a.file)));
    out.json(|| json!({ "file": a.file, "changed": true }));
    Ok(())
}

fn merge(a: MergeArgs, out: &Output) -> Result<()> {
    let pw = store_password(&a.password)?;
    let opened = a
        .inputs
        .iter()
        .map(|p| manage::open(p, &pw))
        .collect::<Result<Vec<_>>>()?;
    let (trusted, keys) = manage::merge(&opened);
    if keys > 0 {
        out.warn(format!(
            "{keys} private key entr{} left out: a merged truststore holds certificates only",
            if keys == 1 { "y is" } else { "ies are" }
        ));
    }
    let new_pw = output_password(
        &a.format,
        &pw,
        &NewPasswordArgs {
            new_password_file: None,
            new_password_env: None,
        },
    )?;
    let bytes = stores::write_truststore(
        a.format.format,
        &trusted,
        new_pw.as_deref().map(String::as_str),
        a.format.pkcs12(),
    )?;
    manage::write_new(&a.output, &bytes, false, a.force)?;
    out.text(format!(
        "Wrote {}: {} trusted certificate(s) from {} store(s).",
        show_path(&a.output),
        trusted.len(),
        a.inputs.len()
    ));
    out.json(|| {
        json!({
            "file": a.output,
            "trusted": trusted.iter().map(|t| t.alias.as_str()).collect::<Vec<_>>(),
        })
    });
    Ok(())
}

fn export(a: ExportArgs, out: &Output) -> Result<()> {
    let pw = store_password(&a.password)?;
    let opened = manage::open(&a.file, &pw)?;
    let entry = manage::key_entry(&a.file, &opened, &a.alias)?;
    let files = manage::export(&entry, &a.out_dir, a.force)?;
    out.text(format!(
        "Exported {} from {}:\n{}",
        entry.alias,
        show_path(&a.file),
        files
            .iter()
            .map(|f| format!("  {}", show_path(f)))
            .collect::<Vec<_>>()
            .join("\n")
    ));
    out.json(|| json!({ "alias": entry.alias, "files": files }));
    Ok(())
}

//! `minica issue`: a new key and a leaf certificate for some names.

use std::path::PathBuf;

use minica::error::Result;
use minica::issue::{self, LeafSpec};
use minica::keys::KeyType;
use minica::{ca, names, profile, x509};

use super::stores::{FormatArgs, PasswordArgs, default_path, write};
use super::{Global, Output, show_path};

/// Issue a certificate: a new key and a leaf signed by the CA
#[derive(Debug, clap::Args)]
pub struct Args {
    /// DNS names, *.wildcards, IP addresses, emails or URIs; the first is also the CommonName
    #[arg(required_unless_present = "csr", value_name = "NAME")]
    names: Vec<String>,
    /// Sign this certificate signing request (PEM or DER) instead of making a key
    #[arg(long, value_name = "FILE")]
    csr: Option<PathBuf>,
    /// With --csr: a name to add to those the CSR asks for; repeatable
    #[arg(long = "name", value_name = "NAME", requires = "csr")]
    extra_names: Vec<String>,
    /// A client certificate for mutual TLS (the "client" profile: clientAuth only)
    #[arg(long, conflicts_with = "profile")]
    client: bool,
    /// Profile: server (default), client, server-client, or one in <ca-dir>/templates
    #[arg(long)]
    profile: Option<String>,
    /// Lifetime in days [default: the profile's, 397 for the built-in ones]
    #[arg(long)]
    days: Option<u32>,
    /// Key type of the new key [default: ca.toml's issue.key_type, else ecdsa-p256]
    #[arg(long, value_enum)]
    key_type: Option<KeyType>,
    /// Output directory [default: ./<first name>]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
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
    /// Replace existing files in the output directory
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, global: &Global, out: &Output) -> Result<()> {
    // Names are checked before anything is created, even a first CA.
    let names = names::parse_all(&args.names)?;
    let dir = global.ca_dir()?;
    if let Some(p) = &args.profile {
        profile::load(p, &dir)?;
    }
    if args.keystore && args.csr.is_some() {
        return Err(minica::Error::usage(
            "--keystore needs the key, which stays with the CSR's owner; use --truststore alone",
        ));
    }
    // Everything that can fail for want of input fails before anything is written.
    let format = args.store_format.format;
    let out_dir_guess = args.out.clone().unwrap_or_else(|| match &args.csr {
        Some(_) => PathBuf::new(),
        None => issue::default_out_dir(&names),
    });
    let store_paths: Vec<(bool, PathBuf)> = [
        (
            args.keystore,
            default_path(&out_dir_guess, "keystore", format),
        ),
        (
            args.truststore,
            default_path(&out_dir_guess, "truststore", format),
        ),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .collect();
    if args.csr.is_none() || args.out.is_some() {
        minica::fsx::refuse_existing(
            store_paths.iter().map(|(_, p)| p.as_path()),
            args.force,
            None,
        )?;
    }
    let password = if store_paths.is_empty() {
        None
    } else {
        args.password.get(format, out)?
    };
    let (ca, created) = ca::load_or_create(&dir, &global.unlock())?;
    if created {
        out.note(format!(
            "no CA in {} yet, so created one ({}, expires {}); trust {} in your clients",
            show_path(&dir),
            ca.config.ca.key_type,
            x509::date(ca.not_after),
            show_path(&dir.join(ca::CERT_FILE))
        ));
    }
    let profile_name = match (&args.profile, args.client) {
        (Some(p), _) => p.clone(),
        (None, true) => "client".to_string(),
        (None, false) => ca.config.issue.profile.clone(),
    };
    let (profile, _) = profile::load(&profile_name, &dir)?;
    let issued = match &args.csr {
        Some(csr) => {
            if args.key_type.is_some() {
                return Err(minica::Error::usage(
                    "--key-type cannot be used with --csr: the key is the CSR's",
                ));
            }
            let mut extra = names;
            extra.extend(names::parse_all(&args.extra_names)?);
            let spec = LeafSpec {
                names: extra,
                profile_name,
                profile,
                days: args.days,
            };
            issue::issue_from_csr(&ca, csr, spec, args.out, args.force)?
        }
        None => {
            let key_type = args.key_type.unwrap_or(ca.config.issue.key_type);
            let out_dir = args.out.unwrap_or_else(|| issue::default_out_dir(&names));
            let spec = LeafSpec {
                names,
                profile_name,
                profile,
                days: args.days,
            };
            issue::issue_with_new_key(&ca, &spec, key_type, &out_dir, args.force)?
        }
    };
    for w in &issued.warnings {
        out.warn(w);
    }
    let out_dir = issued
        .files
        .cert
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let password = password.as_deref().map(String::as_str);
    let mut stores_written = Vec::new();
    if args.keystore {
        let f = &issued.files;
        let key = f.key.as_ref().expect("a new key was made");
        let entry = minica::stores::key_entry_from_files(
            &args.names[0],
            &f.cert,
            key,
            &[f.chain.as_path(), f.ca.as_path()],
        )?;
        let bytes =
            minica::stores::write_keystore(format, &entry, password, args.store_format.pkcs12())?;
        let path = default_path(&out_dir, "keystore", format);
        write(&path, &bytes, true, args.force)?;
        stores_written.push(("keystore", path));
    }
    if args.truststore {
        let trusted = super::truststore::entries(&dir, &[])?;
        let bytes = minica::stores::write_truststore(
            format,
            &trusted,
            password,
            args.store_format.pkcs12(),
        )?;
        let path = default_path(&out_dir, "truststore", format);
        write(&path, &bytes, false, args.force)?;
        stores_written.push(("truststore", path));
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
    lines.push(format!("  cert   {}", show_path(&f.cert)));
    if let Some(k) = &f.key {
        lines.push(format!("  key    {}", show_path(k)));
    }
    lines.push(format!("  chain  {}", show_path(&f.chain)));
    lines.push(format!("  ca     {}", show_path(&f.ca)));
    for (kind, path) in &stores_written {
        lines.push(format!("  {kind:<6} {}", show_path(path)));
    }
    out.text(lines.join("\n"));
    let mut value = serde_json::to_value(&issued).expect("issued serializes");
    value["ca_created"] = created.into();
    for (kind, path) in &stores_written {
        value["files"][*kind] = serde_json::json!(path);
    }
    out.json(&value);
    Ok(())
}

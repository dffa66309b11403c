//! `minica issue`: a new key and a leaf certificate for some names.

use std::path::PathBuf;

use minica::error::Result;
use minica::issue::{self, LeafSpec};
use minica::keys::KeyType;
use minica::{ca, names, profile, x509};

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
    let (ca, created) = ca::load_or_create(&dir)?;
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
    out.text(lines.join("\n"));
    let mut value = serde_json::to_value(&issued).expect("issued serializes");
    value["ca_created"] = created.into();
    out.json(&value);
    Ok(())
}

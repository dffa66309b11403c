//! `minica init`: create the root CA.

use std::path::PathBuf;

use minica::config::CaConfig;
use minica::error::Result;
use minica::keys::KeyType;
use minica::{ca, x509};
use serde_json::json;

use super::{Output, show_path};

/// Create a root CA: a key, a self-signed certificate and ca.toml
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica init --cn \"Dev Root\" --permit .test --permit 127.0.0.0/8\n  minica init --encrypt --ca-password-file pass.txt --key-type ecdsa-p384"
)]
pub struct Args {
    /// CommonName of the root (iOS and macOS list roots by it)
    #[arg(long, value_name = "NAME")]
    cn: Option<String>,
    /// Organization of the root
    #[arg(long)]
    org: Option<String>,
    /// Key type of the root [default: ecdsa-p256]
    #[arg(long, value_enum)]
    key_type: Option<KeyType>,
    /// Lifetime in days, 1 to 36525 [default: 3650]
    #[arg(long)]
    days: Option<u32>,
    /// Limit the root to a DNS suffix (.test, example.test) or an IP range
    /// (127.0.0.0/8); repeatable
    #[arg(long, value_name = "NAME|CIDR")]
    permit: Vec<String>,
    /// With --permit: do not also make the constrained intermediate
    /// `issuing` that signs leaves (Java ignores a root's constraints)
    #[arg(long)]
    no_intermediate: bool,
    /// Take the settings from a file shaped like ca.toml.example
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Encrypt the root key with a passphrase (--ca-password-file, MINICA_CA_PASSWORD, or a prompt)
    #[arg(long)]
    encrypt: bool,
    /// Keep the root key in a PKCS#11 token, named by an RFC 7512 URI
    /// (pkcs11:token=LABEL;object=KEY): made there, or the key already there
    #[arg(long, value_name = "URI")]
    pkcs11: Option<String>,
    /// The token's PKCS#11 module (kept in ca.toml), e.g. /usr/lib/softhsm/libsofthsm2.so
    #[arg(long, value_name = "FILE")]
    pkcs11_module: Option<PathBuf>,
    /// Replace an existing CA (its files are kept in a replaced-* folder)
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    ca: super::SignerArgs,
}

pub fn run(args: Args, out: &Output) -> Result<()> {
    let dir = args.ca.dir()?;
    let mut cfg = match &args.config {
        Some(path) => CaConfig::load(path)?,
        None => CaConfig::default(),
    };
    if args.cn.is_some() {
        cfg.ca.name = args.cn;
    }
    if args.org.is_some() {
        cfg.ca.organization = args.org;
    }
    if let Some(k) = args.key_type {
        cfg.ca.key_type = k;
    }
    if let Some(d) = args.days {
        cfg.ca.days = d;
    }
    if !args.permit.is_empty() {
        cfg.ca.permit = args.permit;
    }
    cfg.ca.encrypt_key |= args.encrypt;
    if args.pkcs11.is_some() {
        cfg.ca.pkcs11 = args.pkcs11;
    }
    if let Some(m) = args.pkcs11_module {
        // Kept absolute in ca.toml: later commands run from anywhere.
        cfg.ca.pkcs11_module = Some(std::path::absolute(&m).unwrap_or(m));
    }
    // Not over a passphrase or PIN prompt: only for a key in a plain file.
    let spinner = (!cfg.ca.encrypt_key && cfg.ca.pkcs11.is_none())
        .then(|| super::progress::Indicator::spinner(out, "creating the CA"));
    let (created, issuing) = minica::issuers::init(
        &dir,
        &cfg,
        args.force,
        &args.ca.unlock(),
        !args.no_intermediate,
    )?;
    drop(spinner);
    let ca = &created.ca;
    let cert = dir.join(ca::CERT_FILE);
    let permits = cfg
        .ca
        .permit
        .iter()
        .map(|p| minica::constraints::Permit::parse(p))
        .collect::<Result<Vec<_>>>()?;
    for w in minica::constraints::Constraints::from_permits(permits).verifier_warnings() {
        out.warn(w);
    }
    for w in &created.warnings {
        out.warn(w);
    }
    if let Some(old) = &created.replaced {
        out.note(format!("the previous CA was moved to {}", old.display()));
    }
    // A token key has no file: say where it is instead.
    let (key_desc, keep) = match &cfg.ca.pkcs11 {
        Some(uri) => (
            format!(
                "{} in the token, {} ({uri})",
                cfg.ca.key_type,
                if created.key_generated {
                    "made there"
                } else {
                    "already there"
                }
            ),
            "the token and its PIN".to_string(),
        ),
        None => (
            cfg.ca.key_type.to_string(),
            show_path(&dir.join(ca::KEY_FILE)),
        ),
    };
    out.text(format!(
        "Created a root CA in {}\n  subject  {}\n  key      {}\n  expires  {}\n  permits  {}\nTrust {} in your clients; keep {} secret.",
        show_path(&dir),
        ca.subject,
        key_desc,
        x509::date(ca.not_after),
        if ca.constraints.is_empty() {
            "any name".to_string()
        } else {
            cfg.ca.permit.join(", ")
        },
        show_path(&cert),
        keep,
    ));
    if let Some(i) = &issuing {
        out.text(format!(
            "Leaves are signed by the intermediate {} ({}), with the same name constraints:\n  Java enforces them only in an intermediate, not in the root it trusts.\n  cert     {}",
            i.name,
            i.subject,
            show_path(&i.files.cert)
        ));
    }
    out.json(|| {
        json!({
            "intermediate": issuing,
            "ca_dir": dir,
            // Paths under `files`, as `issue` reports them; a token key has
            // no file, and `pkcs11` names it.
            "files": {
                "cert": cert,
                "key": cfg.ca.pkcs11.is_none().then(|| dir.join(ca::KEY_FILE)),
            },
            "pkcs11": cfg.ca.pkcs11,
            "key_generated": created.key_generated,
            "subject": ca.subject,
            "key_type": cfg.ca.key_type,
            "key_encrypted": cfg.ca.encrypt_key,
            "not_after": x509::rfc3339(ca.not_after),
            "permit": cfg.ca.permit,
            "replaced": created.replaced,
        })
    });
    Ok(())
}

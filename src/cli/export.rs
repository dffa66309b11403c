//! `minica export caddy|cert-manager|step-ca|vault`: a CA made here, as
//! the files another engine reads to issue on its own.

use std::path::PathBuf;

use minica::error::{Error, Result};
use minica::export::{self, Request, Target, Which};
use serde_json::json;

use super::{Output, show_path};

/// Hand an intermediate to another CA engine (files; keys 0600, never printed)
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Caddy's ACME server signing with an intermediate: Caddyfile, certificates, key
    #[command(
        after_help = "Example:\n  minica ca intermediate acme --permit .internal.test --no-default\n  minica export caddy acme --out-dir /etc/caddy/minica\n  caddy run --config /etc/caddy/minica/Caddyfile --adapter caddyfile"
    )]
    Caddy(CaddyArgs),
    /// cert-manager: a kubernetes.io/tls Secret, a CA ClusterIssuer, a trust-manager Bundle
    #[command(
        after_help = "Example:\n  minica export cert-manager --issuer k8s --out-dir k8s --resource-name minica-k8s\n  kubectl apply -f k8s/secret.yaml -f k8s/cluster-issuer.yaml -f k8s/bundle.yaml"
    )]
    CertManager(CertManagerArgs),
    /// step-ca: certs/, secrets/ and the ca.json fields root, crt, key
    #[command(
        after_help = "Example:\n  minica export step-ca --issuer step --out-dir step --steppath /etc/step-ca"
    )]
    StepCa(StepCaArgs),
    /// Vault: the pem_bundle for pki/issuers/import/bundle
    #[command(after_help = "Example:\n  minica export vault --issuer vault --out-dir vault")]
    Vault(VaultArgs),
}

#[derive(Debug, clap::Args)]
pub struct CaddyArgs {
    /// The intermediate Caddy signs with (issuers/NAME; `minica ca intermediate NAME` makes one)
    name: String,
    /// The ACME server's own name [default: acme.<the intermediate's first permitted suffix>]
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// The ACME server's HTTPS port
    #[arg(long, default_value_t = 443)]
    port: u16,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
pub struct CertManagerArgs {
    #[command(flatten)]
    which: WhichArgs,
    /// The name of the Secret and ClusterIssuer [default: minica-<issuer>]
    #[arg(long, value_name = "NAME")]
    resource_name: Option<String>,
    /// The Secret's namespace: cert-manager's cluster resource namespace
    #[arg(long, default_value = "cert-manager")]
    namespace: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
pub struct StepCaArgs {
    #[command(flatten)]
    which: WhichArgs,
    /// $STEPPATH on the step-ca machine, for the paths in ca-fields.json [default: the output directory]
    #[arg(long, value_name = "DIR")]
    steppath: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
pub struct VaultArgs {
    #[command(flatten)]
    which: WhichArgs,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
pub struct WhichArgs {
    /// The intermediate to export (issuers/NAME)
    #[arg(long, value_name = "NAME", required_unless_present = "root_key")]
    issuer: Option<String>,
    /// Export the root and its KEY instead (warned about: prefer an intermediate)
    #[arg(long, conflicts_with = "issuer")]
    root_key: bool,
}

#[derive(Debug, clap::Args)]
pub struct Common {
    /// The output directory [default: ./caddy, ./cert-manager, ./step-ca or ./vault]
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Replace files already there
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    ca: super::SignerArgs,
}

fn which(w: WhichArgs) -> Result<Which> {
    match (w.issuer, w.root_key) {
        (Some(n), false) => Ok(Which::Issuer(n)),
        (None, true) => Ok(Which::Root),
        _ => Err(Error::usage(
            "name the intermediate to export with --issuer NAME, or the root with --root-key",
        )),
    }
}

pub fn run(cmd: Command, out: &Output) -> Result<()> {
    let (target, which, common) = match cmd {
        Command::Caddy(a) => (
            Target::Caddy {
                host: a.host,
                port: a.port,
            },
            Which::Issuer(a.name),
            a.common,
        ),
        Command::CertManager(a) => (
            Target::CertManager {
                name: a.resource_name,
                namespace: a.namespace,
            },
            which(a.which)?,
            a.common,
        ),
        Command::StepCa(a) => (
            Target::StepCa {
                steppath: a.steppath,
            },
            which(a.which)?,
            a.common,
        ),
        Command::Vault(a) => (Target::Vault, which(a.which)?, a.common),
    };
    let dir = common.ca.dir()?;
    let made = export::export(
        &dir,
        &common.ca.unlock(),
        Request {
            target,
            which,
            out: common.out_dir.clone(),
            force: common.force,
        },
    )?;
    for w in &made.warnings {
        out.warn(w);
    }
    let mut text = format!(
        "Exported {} for {} into {}:\n",
        made.issuer
            .as_deref()
            .map_or("the root".to_string(), |n| format!("the intermediate {n}")),
        made.kind,
        show_path(&made.dir)
    );
    for f in &made.files {
        text.push_str(&format!(
            "  {:<40} {}{}\n",
            show_path(&f.path),
            f.what,
            if f.holds_key { " (key, 0600)" } else { "" }
        ));
    }
    text.push_str("Then, on the engine's side:\n");
    for n in &made.next {
        text.push_str(&format!("  {n}\n"));
    }
    out.text(text.trim_end());
    out.json(|| json!({ "export": made }));
    Ok(())
}

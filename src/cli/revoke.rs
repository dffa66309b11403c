//! `minica revoke` and `minica crl`: take a certificate back, and tell
//! every verifier.

use std::path::PathBuf;

use minica::error::Result;
use minica::revoke::{self, CrlIssuer};
use minica::x509;
use serde_json::json;

use super::{Output, show_path};

/// Revoke a certificate this CA issued (then publish a CRL with `minica crl`)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica revoke app.test --reason keyCompromise\n  minica revoke 5f3a...e1 && minica crl --out crl.pem"
)]
pub struct RevokeArgs {
    /// Its serial (hex), or a name that one unrevoked certificate has
    what: String,
    /// RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged,
    /// superseded, cessationOfOperation, certificateHold, privilegeWithdrawn
    #[arg(long, default_value = "unspecified")]
    reason: String,
    #[command(flatten)]
    ca: super::CaDirArgs,
}

pub fn revoke(args: RevokeArgs, out: &Output) -> Result<()> {
    let dir = args.ca.dir()?;
    let r = revoke::revoke(&dir, &args.what, &args.reason)?;
    if r.already {
        out.note(format!("{} was already revoked ({})", r.serial, r.reason));
    }
    out.text(format!(
        "Revoked {} ({}), reason {}. Publish it: `minica crl{}`.",
        r.serial,
        r.names
            .iter()
            .map(|n| n.value.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        r.reason,
        r.issuer
            .as_ref()
            .map(|i| format!(" --issuer {i}"))
            .unwrap_or_else(|| " --root".into())
    ));
    out.json(|| json!({ "revoked": r }));
    Ok(())
}

/// Write a CRL: every certificate the CA revoked, signed by it
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica crl --out crl.pem                       # the CRL of the CA that signs leaves\n  minica crl --root --out root.crl"
)]
pub struct CrlArgs {
    /// The intermediate whose CRL to write [default: the CA that signs leaves]
    #[arg(long, value_name = "NAME", conflicts_with = "root")]
    issuer: Option<String>,
    /// The root's CRL (its revoked intermediates); needs the root key
    #[arg(long)]
    root: bool,
    /// Days until the CRL's nextUpdate
    #[arg(long, default_value_t = revoke::DEFAULT_CRL_DAYS)]
    days: u32,
    /// Also write it to FILE (replaced if it exists)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    ca: super::SignerArgs,
}

pub fn crl(args: CrlArgs, out: &Output) -> Result<()> {
    let dir = args.ca.dir()?;
    let issuer = match (args.root, args.issuer) {
        (true, _) => CrlIssuer::Root,
        (false, Some(n)) => CrlIssuer::Intermediate(n),
        (false, None) => CrlIssuer::Default,
    };
    let made = revoke::crl(
        &dir,
        &args.ca.unlock(),
        issuer,
        args.days,
        args.out.as_deref(),
    )?;
    out.text(format!(
        "Wrote the CRL of {} (number {}, {} revoked), valid until {}.\n  crl    {}{}",
        made.issuer.as_deref().unwrap_or("the root"),
        made.number,
        made.revoked,
        x509::rfc3339(made.next_update),
        show_path(&made.path),
        made.out
            .as_ref()
            .map(|o| format!("\n  copy   {}", show_path(o)))
            .unwrap_or_default()
    ));
    out.json(|| json!({ "crl": made }));
    Ok(())
}

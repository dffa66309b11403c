//! `minica renew` and `minica needs-renewal`: keep certificates alive.

use std::path::PathBuf;

use minica::error::{Error, Result, exit};
use minica::renew::{self, Threshold, Which};
use minica::{certs, verify, x509};
use serde_json::json;

use super::{Output, show_path};

/// Renew certificates: same names, profile, lifetime and issuer, a new serial, over the old files
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica renew app.test\n  minica renew --expiring 30d      # in a CI job that keeps an environment alive\n  minica renew 5f3a...e1 --rekey"
)]
pub struct RenewArgs {
    /// A serial, or a name (its latest certificate)
    #[arg(required_unless_present = "expiring", conflicts_with = "expiring")]
    what: Option<String>,
    /// Renew every certificate that expires within this time (30d, 1d12h, 2weeks, 1month)
    #[arg(long, value_name = "DURATION")]
    expiring: Option<String>,
    /// Make a new key too (not for certificates issued from a CSR)
    #[arg(long)]
    rekey: bool,
    /// The password of a PKCS#12 or JKS keystore written beside the
    /// certificate, to write it again too (a PEM one always is)
    #[command(flatten)]
    password: super::stores::PasswordArgs,
    #[command(flatten)]
    ca: super::SignerArgs,
}

pub fn duration(flag: &str, s: &str) -> Result<time::Duration> {
    verify::parse_duration(s).ok_or_else(|| {
        Error::usage(format!(
            "{flag} {s:?}: use numbers with s, m, h, d, w, month or y, as in 30d or 1d12h (at most 100 years)"
        ))
    })
}

pub fn renew(args: RenewArgs, out: &Output) -> Result<()> {
    let dir = args.ca.dir()?;
    let which = match (&args.what, &args.expiring) {
        (_, Some(d)) => Which::Expiring(duration("--expiring", d)?),
        (Some(w), None) => Which::One(w.clone()),
        (None, None) => {
            return Err(Error::usage(
                "say what to renew: a serial, a name, or --expiring 30d",
            ));
        }
    };
    let password = if args.password.given() {
        Some(args.password.get_to_open()?)
    } else {
        None
    };
    let done = renew::renew(
        &dir,
        &args.ca.unlock(),
        which,
        args.rekey,
        password.as_deref().map(String::as_str),
    )?;
    for r in &done {
        for w in &r.issued.warnings {
            out.warn(w);
        }
    }
    if done.is_empty() {
        out.text("Nothing to renew.");
    }
    for r in &done {
        out.text(format!(
            "Renewed {} as {} ({}), valid until {}{}.\n  cert   {}",
            r.old_serial,
            r.issued.serial,
            r.issued
                .names
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            x509::date(r.issued.not_after),
            if r.rekeyed { ", with a new key" } else { "" },
            show_path(&r.issued.files.cert)
        ));
    }
    out.json(|| json!({ "renewed": done }));
    Ok(())
}

/// Exit 0 when a certificate needs renewal, 1 when it does not (as step's)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica needs-renewal app.test/cert.pem && minica renew app.test\n  minica needs-renewal cert.pem --within 30d"
)]
pub struct NeedsRenewalArgs {
    /// A certificate (PEM or DER; the first of a bundle)
    file: PathBuf,
    /// Due when it expires within this time (30d, 1d12h, 2weeks, 1month)
    #[arg(long, value_name = "DURATION", conflicts_with = "fraction")]
    within: Option<String>,
    /// Due when this part of its lifetime has passed: 2/3, 66%, 0.66 [default: 2/3]
    #[arg(long, value_name = "FRACTION")]
    fraction: Option<String>,
}

pub fn needs_renewal(args: NeedsRenewalArgs, out: &Output) -> Result<i32> {
    let threshold = match (&args.within, &args.fraction) {
        (Some(d), _) => Threshold::Within(duration("--within", d)?),
        (None, Some(f)) => Threshold::At(renew::parse_fraction(f).ok_or_else(|| {
            Error::usage(format!(
                "--fraction {f:?}: give a fraction from 0 to 1: 2/3, 66% or 0.66"
            ))
        })?),
        (None, None) => Threshold::At(2.0 / 3.0),
    };
    let chain = certs::read(&args.file)?;
    let (due, why) = renew::needs_renewal(&chain[0], threshold, x509::now())
        .map_err(|e| Error::bad_file(&args.file, e))?;
    out.text(format!(
        "{}: {} ({why}).",
        show_path(&args.file),
        if due {
            "needs renewal"
        } else {
            "does not need renewal yet"
        }
    ));
    out.json(|| json!({ "file": args.file, "needs_renewal": due, "reason": why }));
    Ok(if due { exit::OK } else { exit::NOT_VALID })
}

//! `minica apply`: a whole test environment from one manifest.

use std::path::PathBuf;

use minica::apply::{self, Action};
use minica::error::{Result, exit};
use minica::text::escape;
use minica::x509;

use super::{Output, SignerArgs, show_path};

/// Make a test environment match a manifest: create what is missing, renew what expires, re-issue what changed, leave the rest
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The manifest's format: the README (\"A whole environment from one file\") and examples/kafka/env.toml.\n\nExamples:\n  minica apply env.toml                 # make or bring up to date\n  minica apply env.toml --check         # in CI: exit 1 if anything is out of date\n  minica apply examples/kafka/env.toml --json"
)]
pub struct Args {
    /// The manifest (TOML)
    manifest: PathBuf,
    /// Directory every path in the manifest is under [default: the manifest's directory]
    #[arg(long, value_name = "DIR")]
    base: Option<PathBuf>,
    /// Change nothing; list what is out of date and exit 1 if anything is
    #[arg(long)]
    check: bool,
    /// Replace files at declared paths that minica did not write
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    ca: SignerArgs,
}

pub fn run(args: Args, out: &Output) -> Result<i32> {
    // The bar appears only once judging is done and a passphrase (if any)
    // has been asked for: at the first entry signed.
    let bar = super::progress::Indicator::bar(out, "certificates");
    let applied = apply::apply(
        &args.ca.unlock(),
        apply::Request {
            manifest: args.manifest,
            base: args.base,
            ca_dir: args.ca.ca.given(),
            check: args.check,
            force: args.force,
        },
        &bar,
    )?;
    drop(bar);
    if let Some(o) = &applied.opened {
        super::issue::ca_opened(out, &applied.ca_dir, o);
    }
    let verb = |a: Action| match (a, applied.checked_only) {
        (Action::Unchanged, _) => "up to date",
        (Action::Create, false) => "created",
        (Action::Create, true) => "would create",
        (Action::Renew, false) => "renewed",
        (Action::Renew, true) => "would renew",
        (Action::Reissue, false) => "re-issued",
        (Action::Reissue, true) => "would re-issue",
        (Action::Rewrite, false) => "rewrote files of",
        (Action::Rewrite, true) => "would rewrite files of",
    };
    if applied.ca_created && applied.checked_only {
        out.text(format!(
            "would create a CA in {}",
            show_path(&applied.ca_dir)
        ));
    }
    for c in &applied.certificates {
        if c.action == Action::Unchanged {
            continue;
        }
        let fault = c
            .fault
            .map(|f| format!(" (negative fixture: {})", f.as_str()))
            .unwrap_or_default();
        let until = c
            .not_after
            .map(|t| format!(", valid until {}", x509::date(t)))
            .unwrap_or_default();
        out.text(format!(
            "{} {}{fault}{until}",
            verb(c.action),
            escape(&show_path(&c.out))
        ));
        // What is made needs no reason; what is redone says why.
        if c.action != Action::Create {
            for r in &c.reasons {
                out.text(format!("  {}", escape(r)));
            }
        }
    }
    for t in &applied.truststores {
        if t.action != Action::Unchanged {
            out.text(format!("{} {}", verb(t.action), show_path(&t.path)));
            for r in t.reasons.iter().filter(|_| t.action != Action::Create) {
                out.text(format!("  {}", escape(r)));
            }
        }
    }
    let total = applied.certificates.len() + applied.truststores.len();
    let changed = applied.changed();
    if !changed {
        out.text(format!(
            "Nothing to do: all {total} entries of the manifest are up to date."
        ));
    } else if applied.checked_only {
        out.text("Out of date: run `minica apply` without --check to bring it up to date.");
    }
    let mut json = serde_json::to_value(&applied).expect("the outcome serializes");
    json["changed"] = changed.into();
    out.json(|| json);
    Ok(if applied.checked_only && changed {
        exit::NOT_VALID
    } else {
        exit::OK
    })
}

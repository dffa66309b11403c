//! `minica ca intermediate`: a CA under the root that signs leaves, so the
//! root key can stay offline.

use minica::error::Result;
use minica::issuers::{self, IntermediateRequest};
use minica::keys::KeyType;
use minica::x509;
use serde_json::json;

use super::{Output, show_path};

/// Make an intermediate CA signed by the root (in <ca-dir>/issuers/NAME)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica ca intermediate daily                 # signs leaves from now on\n  minica ca intermediate lab --permit .lab.test --no-default\n  minica issue app.lab.test --issuer lab"
)]
pub struct Args {
    /// Its name: a folder under issuers/ and the --issuer of `issue`
    name: String,
    /// Limit it to a DNS suffix or an IP range (within the root's); repeatable [default: the root's limits]
    #[arg(long, value_name = "NAME|CIDR")]
    permit: Vec<String>,
    /// pathLenConstraint: 0 lets it sign leaves only
    #[arg(long, default_value_t = 0)]
    path_len: u8,
    /// Lifetime in days [default: 1825, at most the root's]
    #[arg(long)]
    days: Option<u32>,
    /// Key type [default: the root's]
    #[arg(long, value_enum)]
    key_type: Option<KeyType>,
    /// Do not make it the default issuer of leaves (ca.toml issue.issuer)
    #[arg(long)]
    no_default: bool,
    /// Replace an intermediate of that name
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    ca: super::SignerArgs,
}

pub fn run(args: Args, out: &Output) -> Result<()> {
    let dir = args.ca.dir()?;
    let made = issuers::create(
        &dir,
        &args.ca.unlock(),
        IntermediateRequest {
            name: args.name,
            permit: args.permit,
            path_len: args.path_len,
            days: args.days,
            key_type: args.key_type,
            make_default: !args.no_default,
            force: args.force,
        },
    )?;
    for w in &made.warnings {
        out.warn(w);
    }
    out.text(format!(
        "Made the intermediate {} ({}, {}, serial {}), valid until {}.\n  permits  {}\n  cert     {}\n  key      {}\n{}",
        made.name,
        made.subject,
        made.key_type,
        made.serial,
        x509::date(made.not_after),
        if made.permit.is_empty() {
            "any name".to_string()
        } else {
            made.permit.join(", ")
        },
        show_path(&made.files.cert),
        show_path(&made.files.key),
        if made.default {
            format!(
                "Leaves are now signed by {} (ca.toml issue.issuer); the root key is needed only for intermediates and the root's CRL.",
                made.name
            )
        } else {
            format!("Sign with it by `minica issue --issuer {}`.", made.name)
        }
    ));
    out.json(|| json!({ "intermediate": made }));
    Ok(())
}

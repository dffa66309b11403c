//! `minica csr`: a key and a certificate signing request, for the side that
//! keeps its key and has it signed by a CA elsewhere (`minica issue --csr`).

use std::path::PathBuf;

use minica::error::Result;
use minica::keys::KeyType;
use minica::{csr, issue, names};
use serde_json::json;

use super::{Output, show_path};

/// Make a key and a CSR for some names (the CA signs it with `issue --csr`)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  minica csr svc.test --out-dir svc             # then, on the CA: minica issue --csr svc/csr.pem"
)]
pub struct Args {
    /// DNS names, *.wildcards, IP addresses, emails or URIs
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
    /// Key type of the new key
    #[arg(long, value_enum, default_value_t = KeyType::EcdsaP256)]
    key_type: KeyType,
    /// Output directory [default: ./<first name>]
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Replace existing files
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, out: &Output) -> Result<()> {
    super::stores::refuse_stdout_dir("csr", args.out_dir.as_deref())?;
    let names = names::parse_all(&args.names)?;
    for n in names::converted(&args.names) {
        out.note(n);
    }
    let dir = args
        .out_dir
        .unwrap_or_else(|| issue::default_out_dir(&names));
    let spinner = super::progress::Indicator::spinner(out, "generating the key");
    let made = csr::make_to_dir(&names, args.key_type, &dir, args.force)?;
    drop(spinner);
    out.text(format!(
        "Made a key ({}) and a CSR for {}.\n  key  {}\n  csr  {}\nSend the CSR to the CA (`minica issue --csr {}`); the key stays here.",
        made.key_type,
        args.names.join(", "),
        show_path(&made.key),
        show_path(&made.csr),
        show_path(&made.csr),
    ));
    out.json(|| {
        json!({
            "names": names,
            "key_type": made.key_type,
            "files": { "key": made.key, "csr": made.csr },
        })
    });
    Ok(())
}

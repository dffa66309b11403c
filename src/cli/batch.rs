//! `minica batch`: many certificates from one file, in one process, on every core.

use std::path::PathBuf;

use minica::error::Result;
use minica::issue::{self, BatchRequest};
use minica::keys::KeyType;
use minica::progress::Progress as _;
use minica::x509;
use serde_json::json;

use super::{Output, show_path};

/// Issue many certificates: one per line of names, or a TOML manifest of [[certificate]]
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica batch hosts.txt --out-dir certs      # one line per certificate: its names\n  minica batch env.toml --out-dir certs --jobs 2"
)]
pub struct Args {
    /// A text file (one certificate per line: its names) or a .toml manifest
    file: PathBuf,
    /// Base directory for the outputs: each certificate goes to DIR/<first name>;
    /// a manifest's `out` paths must stay inside it
    #[arg(long, value_name = "DIR", default_value = ".")]
    out_dir: PathBuf,
    /// Key type for entries that do not set one
    #[arg(long, value_enum)]
    key_type: Option<KeyType>,
    /// Profile for entries that do not set one
    #[arg(long)]
    profile: Option<String>,
    /// Lifetime in days (1 to 36525) for entries that do not set one
    #[arg(long)]
    days: Option<u32>,
    /// Threads, 1 to 256 [default: the number of cores]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=issue::MAX_JOBS as i64))]
    jobs: Option<u16>,
    /// Replace existing files
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    ca: super::SignerArgs,
}

pub fn run(args: Args, out: &Output) -> Result<()> {
    super::stores::refuse_stdout_dir("batch", Some(&args.out_dir))?;
    let dir = args.ca.dir()?;
    let start = std::time::Instant::now();
    let bar = super::progress::Indicator::bar(out, "signing");
    let (issued, opened) = issue::batch_with_progress(
        &dir,
        &args.ca.unlock(),
        BatchRequest {
            file: args.file,
            base: args.out_dir.clone(),
            key_type: args.key_type,
            profile: args.profile,
            days: args.days,
            jobs: args.jobs.map(usize::from),
            force: args.force,
        },
        &|done, total| {
            bar.update(done, total);
            if done == total {
                // The files are written together after the last signature.
                bar.message("writing the files");
            }
        },
    )?;
    drop(bar);
    let secs = start.elapsed().as_secs_f64();
    super::issue::ca_opened(out, &dir, &opened);
    let mut warned = std::collections::HashSet::new();
    for w in issued.iter().flat_map(|i| &i.warnings) {
        if warned.insert(w) {
            out.warn(w);
        }
    }
    let soonest = issued.iter().map(|i| i.not_after).min();
    out.text(format!(
        "Issued {} certificates in {:.2} s under {}; the first expires on {}.",
        issued.len(),
        secs,
        show_path(&args.out_dir),
        soonest.map(x509::date).unwrap_or_default()
    ));
    out.json(|| json!({ "issued": issued, "seconds": secs }));
    Ok(())
}

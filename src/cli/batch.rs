//! `minica batch`: many certificates from one file, in one process, on every core.

use std::path::PathBuf;

use minica::error::{Error, Result};
use minica::issue::{self, BatchItem, LeafSpec};
use minica::keys::KeyType;
use minica::{ca, fsx, manifest, names, profile, x509};
use serde_json::json;

use super::{Global, Output, show_path};

/// Issue many certificates: one per line of names, or a TOML manifest of [[certificate]]
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A text file (one certificate per line: its names) or a .toml manifest
    file: PathBuf,
    /// Base directory for the outputs: each certificate goes to <out>/<first name>
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Key type for entries that do not set one
    #[arg(long, value_enum)]
    key_type: Option<KeyType>,
    /// Profile for entries that do not set one
    #[arg(long)]
    profile: Option<String>,
    /// Lifetime in days for entries that do not set one
    #[arg(long)]
    days: Option<u32>,
    /// Threads [default: the number of cores]
    #[arg(long)]
    jobs: Option<usize>,
    /// Replace existing files
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, global: &Global, out: &Output) -> Result<()> {
    let bytes = fsx::read(&args.file)?;
    let text =
        String::from_utf8(bytes).map_err(|_| Error::bad_file(&args.file, "is not UTF-8 text"))?;
    let entries = manifest::parse(&args.file, &text)?;
    let dir = global.ca_dir()?;
    let mut items = Vec::with_capacity(entries.len());
    let mut profiles = std::collections::HashMap::new();
    // Every name is checked before anything is created, even a first CA.
    let all_names = entries
        .iter()
        .enumerate()
        .map(|(n, e)| {
            names::parse_all(&e.names)
                .map_err(|err| Error::bad_file(&args.file, format!("certificate {}: {err}", n + 1)))
        })
        .collect::<Result<Vec<_>>>()?;
    let (ca, created) = ca::load_or_create(&dir, &global.unlock())?;
    for (n, (e, names)) in entries.into_iter().zip(all_names).enumerate() {
        let at = |err: Error| Error::bad_file(&args.file, format!("certificate {}: {err}", n + 1));
        let profile_name = e
            .profile
            .or(args.profile.clone())
            .unwrap_or_else(|| ca.config.issue.profile.clone());
        if !profiles.contains_key(&profile_name) {
            let p = profile::load(&profile_name, &dir).map_err(at)?.0;
            profiles.insert(profile_name.clone(), p);
        }
        let out_dir = args
            .out
            .join(e.out.unwrap_or_else(|| issue::default_out_dir(&names)));
        items.push(BatchItem {
            spec: LeafSpec {
                names,
                profile: profiles[&profile_name].clone(),
                profile_name,
                days: e.days.or(args.days),
            },
            key_type: e
                .key_type
                .or(args.key_type)
                .unwrap_or(ca.config.issue.key_type),
            out_dir,
        });
    }
    if created {
        out.note(format!(
            "no CA in {} yet, so created one; trust {} in your clients",
            show_path(&dir),
            show_path(&dir.join(ca::CERT_FILE))
        ));
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let start = std::time::Instant::now();
    let issued = issue::issue_batch(&ca, items, args.force, jobs)?;
    let secs = start.elapsed().as_secs_f64();
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
        show_path(&args.out),
        soonest.map(x509::date).unwrap_or_default()
    ));
    out.json(&json!({ "issued": issued, "seconds": secs }));
    Ok(())
}

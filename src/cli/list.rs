//! `minica list`: every certificate the CA issued, soonest expiry first.

use minica::error::Result;
use minica::record::{self, FileStatus};
use minica::{ca, x509};
use serde_json::json;

use super::{Output, show_path};

/// List the certificates this CA issued, soonest expiry first, and whether their files are still there
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  minica list\n  minica list --expiring 30d --json")]
pub struct Args {
    /// Only what expires within this time (30d, 1d12h, 2weeks, 1month) and is not revoked
    #[arg(long, value_name = "DURATION")]
    expiring: Option<String>,
    #[command(flatten)]
    ca: super::CaDirArgs,
}

pub fn run(args: Args, out: &Output) -> Result<()> {
    let horizon = match &args.expiring {
        Some(d) => Some(x509::now() + super::renew::duration("--expiring", d)?),
        None => None,
    };
    let dir = args.ca.dir()?;
    // Under the lock, so an interrupted command is finished before its
    // record lines are judged.
    let session = ca::Session::open(&dir, false)?;
    if session.state() != ca::State::Complete {
        // Says what is missing, or that there is no CA.
        session.load(&Default::default())?;
    }
    super::issue::recovered(out, &session.recovered);
    let (mut entries, bad) = record::read(&dir)?;
    let revoked = record::revocations(&dir)?;
    drop(session);
    let revocation = |e: &record::Entry| revoked.iter().find(|r| r.serial == e.serial);
    if let Some(h) = horizon {
        entries.retain(|e| {
            revocation(e).is_none() && x509::parse_rfc3339(&e.not_after).is_some_and(|t| t <= h)
        });
    }
    for b in &bad {
        out.warn(format!(
            "{} line {}: unreadable entry skipped ({})",
            record::path(&dir).display(),
            b.line,
            b.problem
        ));
    }
    let now = x509::now();
    let expiry = |e: &record::Entry| x509::parse_rfc3339(&e.not_after);
    entries.sort_by_key(|e| expiry(e));
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            let days_left = expiry(e).map(|t| x509::days_left(t, now));
            (e, days_left, e.file_status())
        })
        .collect();

    if rows.is_empty() && horizon.is_some() {
        out.text(format!(
            "Nothing of the CA in {} expires within {}: nothing to renew.",
            dir.display(),
            args.expiring.as_deref().unwrap_or_default()
        ));
    } else if rows.is_empty() {
        out.text(format!(
            "No certificates issued yet by the CA in {}.",
            dir.display()
        ));
    } else {
        let mut text = format!(
            "{:<34} {:<10} {:>9}  {:<13} {}\n",
            "SERIAL", "EXPIRES", "DAYS LEFT", "PROFILE", "NAMES"
        );
        for (e, days, status) in &rows {
            let days = days.map_or("?".to_string(), |d| {
                if d < 0 {
                    "expired".into()
                } else {
                    d.to_string()
                }
            });
            let mut note = match status {
                FileStatus::Present => String::new(),
                FileStatus::Missing { files } => format!(
                    "  (file missing: {})",
                    files
                        .iter()
                        .map(|f| show_path(f))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                FileStatus::Replaced { file, serial } => {
                    format!("  (replaced: {} holds serial {serial})", show_path(file))
                }
            };
            if let Some(r) = revocation(e) {
                note.push_str(&format!(
                    "  (revoked {}: {})",
                    &r.revoked_at[..10.min(r.revoked_at.len())],
                    r.reason
                ));
            }
            text.push_str(&format!(
                "{:<34} {:<10} {:>9}  {:<13} {}{}\n",
                e.serial,
                e.not_after.get(..10).unwrap_or(&e.not_after),
                days,
                e.profile,
                e.names.join(", "),
                note
            ));
        }
        out.text(text.trim_end());
    }
    out.json(|| {
        json!({
            "ca_dir": dir,
            "certificates": rows
                .iter()
                .map(|(e, days, status)| e.listed(*days, status, revocation(e)))
                .collect::<Vec<_>>(),
            "unreadable_lines": bad,
        })
    });
    Ok(())
}

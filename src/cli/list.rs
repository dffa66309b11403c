//! `minica list`: every certificate the CA issued, soonest expiry first.

use minica::error::Result;
use minica::{ca, record, x509};
use serde_json::json;

use super::{Global, Output};

/// List the certificates this CA issued, soonest expiry first
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, global: &Global, out: &Output) -> Result<()> {
    let dir = global.ca_dir()?;
    if !ca::exists(&dir) {
        return Err(minica::Error::NoCa(dir));
    }
    let (mut entries, bad) = record::read(&dir)?;
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
            let missing = e.cert.as_ref().is_some_and(|p| !p.exists());
            (e, days_left, missing)
        })
        .collect();

    if rows.is_empty() {
        out.text(format!(
            "No certificates issued yet by the CA in {}.",
            dir.display()
        ));
    } else {
        let mut text = format!(
            "{:<34} {:<10} {:>9}  {:<13} {}\n",
            "SERIAL", "EXPIRES", "DAYS LEFT", "PROFILE", "NAMES"
        );
        for (e, days, missing) in &rows {
            let days = days.map_or("?".to_string(), |d| {
                if d < 0 {
                    "expired".into()
                } else {
                    d.to_string()
                }
            });
            text.push_str(&format!(
                "{:<34} {:<10} {:>9}  {:<13} {}{}\n",
                e.serial,
                e.not_after.get(..10).unwrap_or(&e.not_after),
                days,
                e.profile,
                e.names.join(", "),
                if *missing { "  (file missing)" } else { "" }
            ));
        }
        out.text(text.trim_end());
    }
    out.json(&json!({
        "ca_dir": dir,
        "certificates": rows.iter().map(|(e, days, missing)| {
            let mut v = serde_json::to_value(e).expect("entries serialize");
            v["days_left"] = json!(days);
            v["file_missing"] = json!(missing);
            v
        }).collect::<Vec<_>>(),
        "unreadable_lines": bad,
    }));
    Ok(())
}

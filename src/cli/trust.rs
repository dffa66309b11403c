//! `minica trust`: install the CA's root where clients look, say where it
//! is trusted, take it out again, or export it for other devices.

use std::path::PathBuf;

use minica::error::{Result, exit};
use minica::trust::{self, Action, Options, Report, Root, StoreKind, export};
use serde_json::json;

use super::{Output, show_path};

/// Trust the CA's root in the system store, the browsers' NSS databases and Java
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Where the root is trusted now: one line per store, and why (exit 1 when not everywhere)
    #[command(
        after_help = "Examples:\n  minica trust status\n  minica trust status --store nss --json"
    )]
    Status(StoreArgs),
    /// Add the root to the stores (default: every store found); exit 4 if one could not be done
    #[command(
        after_help = "Examples:\n  minica trust install --store nss\n  sudo minica trust install --store system --ca-dir ~/.local/share/minica"
    )]
    Install(StoreArgs),
    /// Remove exactly what install added, nothing else
    #[command(
        after_help = "Example:\n  sudo minica trust uninstall --ca-dir ~/.local/share/minica"
    )]
    Uninstall(StoreArgs),
    /// Write the root for devices minica cannot reach (iOS/macOS profile, Android DER)
    #[command(
        after_help = "Examples:\n  minica trust export --format mobileconfig     # for iOS and macOS\n  minica trust export --format der --out root.crt  # for Android"
    )]
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Which store; repeatable [default: all]
    #[arg(long, value_enum, value_name = "STORE")]
    store: Vec<StoreKind>,
    /// The password of the JDK's cacerts, read from FILE [default: changeit]
    #[arg(long, value_name = "FILE")]
    java_password_file: Option<PathBuf>,
    #[command(flatten)]
    ca: super::CaDirArgs,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    format: export::ExportFormat,
    /// Output file [default: ./minica-<hash>-<name>.<mobileconfig|crt|pem>]
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace existing files
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    ca: super::CaDirArgs,
}

pub fn run(cmd: Command, out: &Output) -> Result<i32> {
    let (args, action, verb) = match cmd {
        Command::Export(a) => {
            let root = Root::load(&a.ca.dir()?)?;
            return run_export(a, &root, out);
        }
        Command::Status(a) => (a, Action::Status, "status"),
        Command::Install(a) => (a, Action::Install, "install"),
        Command::Uninstall(a) => (a, Action::Uninstall, "uninstall"),
    };
    let ca_dir = args.ca.dir()?;
    let root = Root::load(&ca_dir)?;
    let mut opts = Options::from_env();
    if let Some(f) = &args.java_password_file {
        let pw = minica::fsx::read(f)?;
        opts.java_password = Some(
            String::from_utf8_lossy(&pw)
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        );
    }
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "minica".into());
    // sudo resets HOME, so name the CA directory explicitly.
    opts.rerun_hint = Some(format!(
        "{exe} trust {verb} --ca-dir '{}'",
        std::path::absolute(&ca_dir)
            .unwrap_or(ca_dir.clone())
            .display()
    ));
    let report = trust::run(&root, &args.store, action, &opts);
    print(&report, &root, action, out);
    Ok(match action {
        Action::Status if report.all_ok() && report.all_trusted() => exit::OK,
        Action::Status if report.all_ok() => exit::NOT_VALID,
        _ if report.all_ok() => exit::OK,
        _ => exit::FAILED,
    })
}

fn print(report: &Report, root: &Root, action: Action, out: &Output) {
    for w in &report.warnings {
        out.warn(w);
    }
    out.text(format!("root {} ({})", root.cn, root.unique_name()));
    for o in &report.outcomes {
        let mark = if !o.ok {
            "!"
        } else if o.trusted {
            "✓"
        } else {
            "✗"
        };
        out.text(format!("{mark} {:<6} {}  {}", o.store, o.path, o.reason));
    }
    if action != Action::Status && !report.all_ok() {
        out.note("not every store was done (see the lines marked !)");
    }
    let key = match action {
        Action::Status => "trusted",
        Action::Install => "installed",
        Action::Uninstall => "removed",
    };
    let stores: Vec<serde_json::Value> = report
        .outcomes
        .iter()
        .map(|o| {
            let mut v = json!({
                "store": o.store,
                "path": o.path,
                "trusted": o.trusted,
                "changed": o.changed,
                "ok": o.ok,
                "reason": o.reason,
            });
            if action != Action::Status {
                v[key] = json!(o.ok && (o.trusted == (action == Action::Install)));
            }
            v
        })
        .collect();
    out.json(|| {
        json!({
            "root": root_json(root),
            "action": key,
            "ok": report.all_ok(),
            "stores": stores,
            "warnings": report.warnings,
        })
    });
}

/// The root, as every `trust` command reports it: its fingerprint named
/// and written as `inspect` and `verify` write certificates'.
fn root_json(root: &Root) -> serde_json::Value {
    json!({
        "name": root.cn,
        "sha256_fingerprint": minica::inspect::fingerprint(&root.der),
        "unique_name": root.unique_name(),
    })
}

fn run_export(args: ExportArgs, root: &Root, out: &Output) -> Result<i32> {
    let path = args
        .out
        .unwrap_or_else(|| export::default_path(root, args.format));
    let done = export::export(root, args.format, &path, args.force)?;
    out.text(format!(
        "Wrote {} ({:?})",
        show_path(&done.file),
        args.format
    ));
    if let Some(i) = &done.instructions {
        out.text(format!(
            "iOS needs one manual step for full trust: see {}",
            show_path(i)
        ));
    }
    out.json(|| {
        json!({
            "file": done.file,
            "format": done.format,
            "instructions": done.instructions,
            "root": root_json(root),
        })
    });
    Ok(exit::OK)
}

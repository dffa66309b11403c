//! `minica completions SHELL` and `minica man`: what a CLI user expects to
//! install beside the binary (the README says where each goes).

use std::path::PathBuf;

use clap::CommandFactory;
use minica::error::{Error, Result};
use minica::{fsx, txn};

use super::{Cli, Output, show_path};

/// Print a shell completion script
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica completions bash > ~/.local/share/bash-completion/completions/minica\n  minica completions zsh > ~/.zfunc/_minica\n  minica completions fish > ~/.config/fish/completions/minica.fish"
)]
pub struct CompletionsArgs {
    shell: clap_complete::Shell,
}

/// Write a man page for minica and each of its commands
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  minica man --out-dir ~/.local/share/man/man1 && man minica-issue"
)]
pub struct ManArgs {
    /// The directory for minica.1 and minica-COMMAND.1
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    /// Replace existing pages
    #[arg(long)]
    force: bool,
}

pub fn completions(a: CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "minica", &mut buf);
    super::stdout_line(String::from_utf8_lossy(&buf).trim_end());
    Ok(())
}

/// Every page: the top one, and one per command and subcommand
/// (`minica-ca-intermediate.1`), as git and cargo name theirs.
fn pages(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let name = if prefix.is_empty() {
        "minica".to_string()
    } else {
        format!("{prefix}-{}", cmd.get_name())
    };
    let cmd = cmd
        .clone()
        .name(name.clone())
        .bin_name(name.replace('-', " "));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .map_err(|e| Error::usage(format!("cannot render the man page {name}: {e}")))?;
    out.push((format!("{name}.1"), buf));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        pages(sub, &name, out)?;
    }
    Ok(())
}

pub fn man(a: ManArgs, out: &Output) -> Result<()> {
    let mut all = Vec::new();
    pages(&Cli::command(), "", &mut all)?;
    fsx::create_dir(&a.out_dir)?;
    let mut plan = txn::Plan::standalone();
    for (file, bytes) in &all {
        plan.write(
            &a.out_dir.join(file),
            bytes.clone(),
            fsx::PUBLIC,
            txn::Replace::from_force(a.force),
        );
    }
    plan.run()?;
    out.text(format!(
        "Wrote {} man pages in {} (minica.1, minica-issue.1, ...).",
        all.len(),
        show_path(&a.out_dir)
    ));
    out.json(|| {
        serde_json::json!({
            "dir": a.out_dir,
            "pages": all.iter().map(|(f, _)| f).collect::<Vec<_>>(),
        })
    });
    Ok(())
}

//! Command-line parsing and printing. One file per subcommand, each with its
//! clap arguments and its `run`; the logic lives in the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `println!` that ends quietly on a closed pipe and reports a full disk
/// (see [`stdout_line`]) instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::stdout_line(&format!($($t)*))
    };
}
use minica::error::{Error, Result, exit};

mod batch;
mod ca_key;
mod csr;
mod export;
mod init;
mod inspect;
mod intermediate;
mod issue;
mod keystore;
mod list;
mod progress;
mod renew;
mod revoke;
mod shell;
mod store;
mod stores;
mod trust;
mod truststore;
mod verify;

#[derive(Debug, Parser)]
#[command(
    name = "minica",
    version,
    about = "A local certificate authority: root CA, server and client certificates, keystores and truststores",
    after_help = "Exit codes: 0 success, 1 not valid (verify), 2 bad input, 3 output exists (use --force), 4 operation failed."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes; `--help` lists them after the command's
/// own, under their own heading.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The CA directory [default: $XDG_DATA_HOME/minica or ~/.local/share/minica]
    #[arg(long, global = true, env = "MINICA_CA_DIR", value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Read the passphrase of an encrypted CA key from FILE [default: MINICA_CA_PASSWORD, else a prompt]
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_password_file: Option<PathBuf>,
    /// Read the CA passphrase from the environment variable VAR
    #[arg(
        long,
        global = true,
        value_name = "VAR",
        conflicts_with = "ca_password_file"
    )]
    pub ca_password_env: Option<String>,
    /// Read the CA passphrase from the first line of standard input
    #[arg(long, global = true, conflicts_with_all = ["ca_password_file", "ca_password_env"])]
    pub ca_password_stdin: bool,
    /// Read the user PIN of a PKCS#11 token holding the CA key from FILE [default: MINICA_PKCS11_PIN, else a prompt]
    #[arg(long, global = true, value_name = "FILE")]
    pub pkcs11_pin_file: Option<PathBuf>,
}

impl Global {
    pub fn unlock(&self) -> minica::cakey::Unlock {
        minica::cakey::Unlock {
            // The same three sources as store passwords.
            source: minica::password::Source {
                file: self.ca_password_file.clone(),
                env: self.ca_password_env.clone(),
                stdin: self.ca_password_stdin,
                value: None,
            },
            pin: minica::password::Source {
                file: self.pkcs11_pin_file.clone(),
                ..Default::default()
            },
        }
    }

    pub fn ca_dir(&self) -> Result<PathBuf> {
        match &self.ca_dir {
            Some(d) if !d.as_os_str().is_empty() => Ok(d.clone()),
            _ => minica::ca::default_dir(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::Args),
    Issue(issue::Args),
    Batch(batch::Args),
    #[command(subcommand)]
    Ca(ca_key::Command),
    List(list::Args),
    Csr(csr::Args),
    Keystore(keystore::Args),
    Truststore(truststore::Args),
    #[command(subcommand)]
    Store(store::Command),
    #[command(subcommand)]
    Trust(trust::Command),
    Verify(verify::Args),
    Inspect(inspect::Args),
    Renew(renew::RenewArgs),
    NeedsRenewal(renew::NeedsRenewalArgs),
    Revoke(revoke::RevokeArgs),
    Crl(revoke::CrlArgs),
    #[command(subcommand)]
    Export(export::Command),
    Completions(shell::CompletionsArgs),
    Man(shell::ManArgs),
}

impl Cli {
    pub fn output(&self) -> Output {
        Output {
            json: self.global.json,
            quiet: self.global.quiet,
        }
    }

    pub fn run(self) -> Result<i32> {
        let out = self.output();
        match self.command {
            Command::Init(a) => init::run(a, &self.global, &out),
            Command::Issue(a) => issue::run(a, &self.global, &out),
            Command::Batch(a) => batch::run(a, &self.global, &out),
            Command::Ca(c) => ca_key::run(c, &self.global, &out),
            Command::List(a) => list::run(a, &self.global, &out),
            Command::Csr(a) => csr::run(a, &self.global, &out),
            Command::Keystore(a) => keystore::run(a, &self.global, &out),
            Command::Truststore(a) => truststore::run(a, &self.global, &out),
            Command::Store(c) => store::run(c, &out),
            Command::Verify(a) => return verify::run(a, &self.global, &out),
            Command::Trust(c) => return trust::run(c, &self.global, &out),
            Command::Inspect(a) => inspect::run(a, &self.global, &out),
            Command::Renew(a) => renew::renew(a, &self.global, &out),
            Command::NeedsRenewal(a) => return renew::needs_renewal(a, &self.global, &out),
            Command::Revoke(a) => revoke::revoke(a, &self.global, &out),
            Command::Crl(a) => revoke::crl(a, &self.global, &out),
            Command::Completions(a) => shell::completions(a),
            Command::Man(a) => shell::man(a, &out),
            Command::Export(c) => export::run(c, &self.global, &out),
        }?;
        Ok(exit::OK)
    }
}

/// Where output goes: results for people on stdout, notes and warnings on
/// stderr, one JSON document on stdout with `--json`, nothing with `-q`.
pub struct Output {
    pub json: bool,
    pub quiet: bool,
}

impl Output {
    /// A result for people (suppressed by --json and -q).
    pub fn text(&self, s: impl AsRef<str>) {
        if !self.json && !self.quiet {
            stdout_line(s.as_ref());
        }
    }

    /// A side remark for people, on stderr (suppressed by -q).
    pub fn note(&self, s: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("minica: {}", s.as_ref());
        }
    }

    pub fn warn(&self, s: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("minica: warning: {}", s.as_ref());
        }
    }

    /// The JSON result (only with --json; -q does not silence what was asked for).
    pub fn json(&self, value: &serde_json::Value) {
        if self.json {
            stdout_line(&serde_json::to_string_pretty(value).expect("JSON values serialize"));
        }
    }

    pub fn error(&self, e: &Error) {
        eprintln!("minica: error: {e}");
        if self.json {
            self.json(&serde_json::json!({
                "error": { "kind": e.kind(), "message": e.to_string(), "exit_code": e.exit_code() }
            }));
        }
    }
}

/// Set once standard output is gone (the reader of a pipe went away):
/// nothing more is printed, and the command ends as it would have.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The first error writing to standard output other than a closed pipe.
static STDOUT_ERROR: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Prints one line on stdout. A closed pipe (`minica list | head -1`) is a
/// quiet end, not a panic; any other failure (a full disk behind `>`) is
/// reported by [`stdout_failure`] when the command is done.
pub fn stdout_line(s: &str) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{s}").and_then(|()| out.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let mut slot = STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(
                minica::Error::io("write to", std::path::Path::new("standard output"), e)
                    .to_string(),
            );
        }
    }
}

/// The error to report if standard output could not be written.
pub fn stdout_failure() -> Option<String> {
    STDOUT_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
}

/// Shows a path relative to the current directory when it is under it.
pub fn show_path(p: &std::path::Path) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = p.strip_prefix(&cwd)
    {
        return rel.display().to_string();
    }
    p.display().to_string()
}

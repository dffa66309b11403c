//! Command-line parsing and printing. One file per subcommand, each with its
//! clap arguments and its `run`; the logic lives in the library.

use clap::{Parser, Subcommand};

/// `println!` that ends quietly on a closed pipe and reports a full disk
/// (see [`stdout_line`]) instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::stdout_line(&format!($($t)*))
    };
}
use minica::error::{Error, Result, exit};

mod apply;
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
mod options;
mod progress;
mod renew;
mod revoke;
mod shell;
mod store;
mod stores;
mod trust;
mod truststore;
mod verify;

pub use options::{CaDirArgs, OutputArgs, SignerArgs};

#[derive(Debug, Parser)]
#[command(
    name = "minica",
    version,
    about = "A local certificate authority: root CA, server and client certificates, keystores and truststores",
    after_help = "Exit codes: 0 success, 1 not valid (verify) or out of date (apply --check), 2 bad input, 3 output exists (use --force), 4 operation failed.\n\nExamples:\n  minica issue localhost 127.0.0.1     # a first CA is made on the way\n  minica keystore localhost --format jks --password-env STORE_PW"
)]
pub struct Cli {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::Args),
    Issue(issue::Args),
    Batch(batch::Args),
    Apply(apply::Args),
    #[command(
        subcommand,
        after_help = "Examples:\n  minica ca intermediate daily\n  minica ca encrypt --ca-password-file pass.txt"
    )]
    Ca(ca_key::Command),
    List(list::Args),
    Csr(csr::Args),
    Keystore(keystore::Args),
    Truststore(truststore::Args),
    #[command(
        subcommand,
        after_help = "Examples:\n  minica store list truststore.p12 --password-env STORE_PW\n  minica store add truststore.p12 --cert partner-root.pem --password-env STORE_PW"
    )]
    Store(store::Command),
    #[command(
        subcommand,
        after_help = "Examples:\n  minica trust install --store nss\n  minica trust status"
    )]
    Trust(trust::Command),
    Verify(verify::Args),
    Inspect(inspect::Args),
    Renew(renew::RenewArgs),
    NeedsRenewal(renew::NeedsRenewalArgs),
    Revoke(revoke::RevokeArgs),
    Crl(revoke::CrlArgs),
    #[command(
        subcommand,
        after_help = "Examples:\n  minica export caddy acme --out-dir caddy\n  minica export vault --issuer vault --out-dir vault"
    )]
    Export(export::Command),
    Completions(shell::CompletionsArgs),
    Man(shell::ManArgs),
}

/// The subcommands whose arguments are one struct, each with what builds
/// its arguments: what [`Cli::parse_fast`] builds alone. The others (`ca`,
/// `store`, `trust`, `export`) have subcommands of their own and take the
/// whole tree, as do help and errors.
type Augment = fn(clap::Command) -> clap::Command;
const ONE_STRUCT: &[(&str, Augment)] = &[
    ("init", <init::Args as clap::Args>::augment_args),
    ("issue", <issue::Args as clap::Args>::augment_args),
    ("batch", <batch::Args as clap::Args>::augment_args),
    ("apply", <apply::Args as clap::Args>::augment_args),
    ("list", <list::Args as clap::Args>::augment_args),
    ("csr", <csr::Args as clap::Args>::augment_args),
    ("keystore", <keystore::Args as clap::Args>::augment_args),
    ("truststore", <truststore::Args as clap::Args>::augment_args),
    ("verify", <verify::Args as clap::Args>::augment_args),
    ("inspect", <inspect::Args as clap::Args>::augment_args),
    ("renew", <renew::RenewArgs as clap::Args>::augment_args),
    (
        "needs-renewal",
        <renew::NeedsRenewalArgs as clap::Args>::augment_args,
    ),
    ("revoke", <revoke::RevokeArgs as clap::Args>::augment_args),
    ("crl", <revoke::CrlArgs as clap::Args>::augment_args),
    (
        "completions",
        <shell::CompletionsArgs as clap::Args>::augment_args,
    ),
    ("man", <shell::ManArgs as clap::Args>::augment_args),
];

/// The command line with only the subcommand it names built, when that is
/// one of [`ONE_STRUCT`]. Global options (flags without values) may come
/// before the subcommand's name.
fn one_subcommand(args: &[std::ffi::OsString]) -> Option<clap::Command> {
    let name = args
        .iter()
        .skip(1)
        .find(|a| !a.to_string_lossy().starts_with('-'))?
        .to_str()?;
    let (name, augment) = ONE_STRUCT.iter().find(|(n, _)| *n == name)?;
    let top = <OutputArgs as clap::Args>::augment_args(clap::Command::new("minica"));
    Some(
        top.subcommand(augment(clap::Command::new(*name)))
            .subcommand_required(true),
    )
}

impl Cli {
    /// Parses the command line. Building clap's whole tree, every
    /// subcommand's arguments, was a third of an `issue`'s instructions
    /// (callgrind: 1.28 of 4.0 million), for one subcommand used: the
    /// subcommand named is built alone, and the whole tree only when that
    /// parse fails (the error, or the help asked for, comes from the whole
    /// tree, as it would have).
    pub fn parse_fast() -> Cli {
        use clap::FromArgMatches as _;
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        if let Some(cmd) = one_subcommand(&args)
            && let Ok(m) = cmd.try_get_matches_from(&args)
            && let Ok(cli) = Cli::from_arg_matches(&m)
        {
            return cli;
        }
        Cli::parse_from(args)
    }

    pub fn output(&self) -> Output {
        Output {
            json: self.output.json,
            quiet: self.output.quiet,
        }
    }

    pub fn run(self) -> Result<i32> {
        let out = self.output();
        match self.command {
            Command::Init(a) => init::run(a, &out),
            Command::Issue(a) => issue::run(a, &out),
            Command::Batch(a) => batch::run(a, &out),
            Command::Apply(a) => return apply::run(a, &out),
            Command::Ca(c) => ca_key::run(c, &out),
            Command::List(a) => list::run(a, &out),
            Command::Csr(a) => csr::run(a, &out),
            Command::Keystore(a) => keystore::run(a, &out),
            Command::Truststore(a) => truststore::run(a, &out),
            Command::Store(c) => store::run(c, &out),
            Command::Verify(a) => return verify::run(a, &out),
            Command::Trust(c) => return trust::run(c, &out),
            Command::Inspect(a) => inspect::run(a, &out),
            Command::Renew(a) => renew::renew(a, &out),
            Command::NeedsRenewal(a) => return renew::needs_renewal(a, &out),
            Command::Revoke(a) => revoke::revoke(a, &out),
            Command::Crl(a) => revoke::crl(a, &out),
            Command::Completions(a) => shell::completions(a),
            Command::Man(a) => shell::man(a, &out),
            Command::Export(c) => export::run(c, &out),
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

    /// The JSON result (only with --json; -q does not silence what was
    /// asked for), with the schema version every document carries
    /// (docs/json.md). Every command prints through here.
    /// Prints the command's JSON document, built only when `--json` asks
    /// for it (a 2,000-leaf batch's took 9 ms to build and drop unasked).
    pub fn json(&self, value: impl FnOnce() -> serde_json::Value) {
        if self.json {
            let doc = minica::json::versioned(&value());
            stdout_line(&serde_json::to_string_pretty(&doc).expect("JSON values serialize"));
        }
    }

    pub fn error(&self, e: &Error) {
        eprintln!("minica: error: {e}");
        if self.json {
            self.json(|| serde_json::json!({
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn described(cmd: &clap::Command) -> Vec<String> {
        let mut args: Vec<String> = cmd.get_arguments().map(|a| format!("{a:?}")).collect();
        args.sort();
        args
    }

    /// Each subcommand built alone takes exactly the arguments (names,
    /// values, defaults, conflicts, global options) it has in the whole
    /// tree, and every subcommand is either built alone or deliberately not.
    #[test]
    fn a_subcommand_built_alone_is_the_one_in_the_whole_tree() {
        let mut whole = Cli::command();
        whole.build();
        for (name, _) in ONE_STRUCT {
            let args = ["minica".into(), std::ffi::OsString::from(name)];
            let mut alone = one_subcommand(&args).unwrap();
            alone.build();
            assert_eq!(
                described(alone.find_subcommand(name).unwrap()),
                described(whole.find_subcommand(name).unwrap()),
                "{name}"
            );
        }
        let mut names: Vec<&str> = whole
            .get_subcommands()
            .map(|c| c.get_name())
            .filter(|n| !ONE_STRUCT.iter().any(|(o, _)| o == n))
            .collect();
        names.sort();
        assert_eq!(names, ["ca", "export", "help", "store", "trust"]);
    }
}

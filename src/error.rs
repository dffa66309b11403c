//! One error type for the whole program. Each variant says what went wrong,
//! with which file, and what to do; each knows its exit code, so that a CI
//! job can tell "you gave me something wrong" from "I could not do it".

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Exit codes, documented in the README. clap exits with 2 on usage errors,
/// which is why "bad input" is 2 too.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// `verify`: the certificate was read but is not valid.
    pub const NOT_VALID: i32 = 1;
    /// Bad input: an argument, a name, or a file that is malformed or refused by policy.
    pub const BAD_INPUT: i32 = 2;
    /// An output file already exists and `--force` was not given.
    pub const EXISTS: i32 = 3;
    /// The operation failed: an I/O error, a lock, the system.
    pub const FAILED: i32 = 4;
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument that is wrong on its own (a bad `--days`, an unknown profile).
    #[error("{0}")]
    Usage(String),

    /// A name given for a certificate that cannot go in a subjectAltName.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    /// A file was read but its content is wrong (malformed, wrong type, mismatched).
    #[error("{}: {problem}{}", path.display(), fix_suffix(fix))]
    BadFile {
        path: PathBuf,
        problem: String,
        fix: Option<String>,
    },

    /// A request the CA's policy or constraints refuse.
    #[error("refused: {0}")]
    Refused(String),

    /// There is no CA where one was expected.
    #[error(
        "no CA in {}: create one with `minica init` (or point --ca-dir / MINICA_CA_DIR at an existing one)",
        .0.display()
    )]
    NoCa(PathBuf),

    /// An output exists and would be replaced.
    #[error("{} already exists; pass --force to replace it{}", path.display(), fix_suffix(hint))]
    Exists { path: PathBuf, hint: Option<String> },

    /// Reading or writing a file failed at the system level.
    #[error("cannot {action} {}: {}", path.display(), io_reason(source))]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    /// A cryptographic operation failed (should not happen with valid input).
    #[error("{0}")]
    Crypto(String),
}

fn fix_suffix(fix: &Option<String>) -> String {
    match fix {
        Some(f) => format!("; {f}"),
        None => String::new(),
    }
}

/// io::Error's Display carries "(os error N)": keep the words, drop the noise.
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::AlreadyExists => "it already exists".into(),
        io::ErrorKind::IsADirectory => "it is a directory, not a file".into(),
        io::ErrorKind::NotADirectory => "a part of the path is not a directory".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_)
            | Error::InvalidName { .. }
            | Error::BadFile { .. }
            | Error::Refused(_)
            | Error::NoCa(_) => exit::BAD_INPUT,
            Error::Exists { .. } => exit::EXISTS,
            Error::Io { .. } | Error::Crypto(_) => exit::FAILED,
        }
    }

    /// A short stable word for `--json` error objects.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::InvalidName { .. } => "invalid_name",
            Error::BadFile { .. } => "bad_file",
            Error::Refused(_) => "refused",
            Error::NoCa(_) => "no_ca",
            Error::Exists { .. } => "exists",
            Error::Io { .. } => "io",
            Error::Crypto(_) => "crypto",
        }
    }

    pub fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn bad_file(path: &Path, problem: impl fmt::Display) -> Self {
        Error::BadFile {
            path: path.to_path_buf(),
            problem: problem.to_string(),
            fix: None,
        }
    }

    pub fn bad_file_fix(path: &Path, problem: impl fmt::Display, fix: impl fmt::Display) -> Self {
        Error::BadFile {
            path: path.to_path_buf(),
            problem: problem.to_string(),
            fix: Some(fix.to_string()),
        }
    }

    pub fn usage(msg: impl fmt::Display) -> Self {
        Error::Usage(msg.to_string())
    }
}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Crypto(format!("certificate generation failed: {e}"))
    }
}

//! Where secrets come from. Never the command line (it shows in `ps` and in
//! shell history): a file, an environment variable, standard input, or a
//! prompt, and the prompt only when a person is there to answer it.

use std::io::{BufRead, IsTerminal, Read};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The environment variable read for store passwords when no source is named.
pub const STORE_PASSWORD_ENV: &str = "MINICA_STORE_PASSWORD";

/// keytool refuses store passwords shorter than this.
pub const KEYTOOL_MIN_LEN: usize = 6;

/// The longest secret read from a file, a variable or standard input, in
/// bytes. A passphrase is a line a person types or a tool generates; 4 KiB
/// is far beyond either, and bounds what `--password-stdin < /dev/zero` or
/// `--password-file /dev/zero` can make minica read (it stops after this
/// many bytes instead of filling memory).
pub const MAX_SECRET_BYTES: usize = 4096;

/// A secret that is wiped from memory when dropped.
pub type Secret = Zeroizing<String>;

/// The ways a password may be given, in order of precedence.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub file: Option<PathBuf>,
    pub env: Option<String>,
    pub stdin: bool,
    /// A secret already in hand (one just asked for).
    pub value: Option<Secret>,
}

impl Source {
    pub fn literal(secret: Secret) -> Source {
        Source {
            value: Some(secret),
            ..Source::default()
        }
    }
}

/// What a password is for, in prompts and messages.
pub struct Purpose<'a> {
    pub what: &'a str,
    /// The variable read when no source is named.
    pub default_env: &'a str,
    /// Ask twice at a prompt (for a new secret).
    pub confirm: bool,
}

fn first_line(s: &str) -> &str {
    s.split(['\n', '\r']).next().unwrap_or("")
}

impl Source {
    /// Gets the password: from the file, the variable, stdin, the default
    /// variable, or a prompt when stdin and stderr are both terminals.
    /// Anything else is an error that says how to give one, never a hang.
    pub fn get(&self, purpose: &Purpose<'_>) -> Result<Secret> {
        let secret = if let Some(v) = &self.value {
            v.clone()
        } else if let Some(path) = &self.file {
            if path.is_dir() {
                return Err(Error::bad_file(path, "is a directory, not a file"));
            }
            let file = std::fs::File::open(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::bad_file(path, "no such file"),
                _ => Error::io("read", path, e),
            })?;
            first_line_of(file, path, purpose)?
        } else if let Some(var) = &self.env {
            from_env(var, purpose)?.ok_or_else(|| {
                Error::usage(format!(
                    "the environment variable {var} named by {}-env is not set",
                    purpose.flag()
                ))
            })?
        } else if self.stdin {
            first_line_of(
                std::io::stdin().lock(),
                Path::new("standard input"),
                purpose,
            )?
        } else if let Some(v) = from_env(purpose.default_env, purpose)? {
            v
        } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            prompt(purpose)?
        } else {
            return Err(Error::usage(format!(
                "no {} given and no terminal to ask on: {}",
                purpose.what,
                purpose.how_to_give()
            )));
        };
        if secret.is_empty() {
            return Err(Error::usage(format!("the {} is empty", purpose.what)));
        }
        if secret.len() > MAX_SECRET_BYTES {
            return Err(too_long(purpose));
        }
        Ok(secret)
    }
}

impl Purpose<'_> {
    /// The flags that give this secret, without their -file/-env/-stdin.
    fn flag(&self) -> &'static str {
        match self.default_env {
            e if e == crate::cakey::CA_PASSWORD_ENV => "--ca-password",
            e if e == crate::pkcs11::PIN_ENV => "--pkcs11-pin",
            "MINICA_NEW_STORE_PASSWORD" => "--new-password",
            _ => "--password",
        }
    }

    /// How this secret can be given without a terminal: only flags that the
    /// commands asking for it accept. The CA passphrase is asked for by
    /// the commands that sign (`init`, `issue`, `batch`, `ca`, `renew`, `crl`,
    /// `export`), which each take
    /// `--ca-password-file` and the variable; store passwords come with the
    /// store commands' own `--password-*` flags.
    pub fn how_to_give(&self) -> String {
        if self.default_env == crate::cakey::CA_PASSWORD_ENV {
            format!(
                "use --ca-password-file FILE (its first line), --ca-password-env VAR, --ca-password-stdin, or set {}",
                self.default_env
            )
        } else if self.default_env == crate::pkcs11::PIN_ENV {
            format!(
                "use --pkcs11-pin-file FILE (its first line) or set {}",
                self.default_env
            )
        } else if self.flag() == "--new-password" {
            // `store convert`/`passwd` read the new one from a file or a
            // variable only: stdin may already carry the old one.
            format!(
                "use --new-password-file FILE, --new-password-env VAR, or set {}",
                self.default_env
            )
        } else {
            format!(
                "use --password-file FILE, --password-env VAR, --password-stdin, or set {}",
                self.default_env
            )
        }
    }
}

fn too_long(purpose: &Purpose<'_>) -> Error {
    Error::usage(format!(
        "the {} is longer than {MAX_SECRET_BYTES} bytes; give one line of text",
        purpose.what
    ))
}

/// A variable's value: None when unset, an error when it is not UTF-8 (a
/// passphrase that cannot be read must not pass for no passphrase).
fn from_env(var: &str, purpose: &Purpose<'_>) -> Result<Option<Secret>> {
    match std::env::var(var) {
        Ok(v) => Ok(Some(Zeroizing::new(v))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(raw)) => {
            drop(Zeroizing::new(raw.into_encoded_bytes()));
            Err(Error::usage(format!(
                "the environment variable {var} holds the {} but is not UTF-8 text; set it to UTF-8 (or use a file)",
                purpose.what
            )))
        }
    }
}

/// The first line of `input`, reading at most MAX_SECRET_BYTES + 1 bytes,
/// so an endless input (/dev/zero, `yes`) ends in an error, not a hang.
pub fn first_line_of(input: impl Read, path: &Path, purpose: &Purpose<'_>) -> Result<Secret> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(256));
    std::io::BufReader::new(input.take(MAX_SECRET_BYTES as u64 + 1))
        .read_until(b'\n', &mut bytes)
        .map_err(|e| Error::io("read the password from", path, e))?;
    let line_len = bytes
        .iter()
        .position(|b| *b == b'\n' || *b == b'\r')
        .unwrap_or(bytes.len());
    if line_len > MAX_SECRET_BYTES {
        return Err(Error::bad_file_fix(
            path,
            format!(
                "its first line is longer than {MAX_SECRET_BYTES} bytes; that is no {}",
                purpose.what
            ),
            "give a file or input whose first line is the password",
        ));
    }
    let text = std::str::from_utf8(&bytes[..line_len])
        .map_err(|_| Error::bad_file(path, "is not UTF-8 text"))?;
    Ok(Zeroizing::new(first_line(text).to_string()))
}

fn prompt(purpose: &Purpose<'_>) -> Result<Secret> {
    let mut p = dialoguer::Password::new().with_prompt(capitalize(purpose.what));
    if purpose.confirm {
        p = p.with_confirmation("Repeat it", "the two entries differ; try again");
    }
    p.interact()
        .map(Zeroizing::new)
        .map_err(|e| Error::usage(format!("could not read the {}: {e}", purpose.what)))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A warning for a non-ASCII PKCS#12 password: Java's SunJCE PBE keys
/// refuse them ("Password is not ASCII", fixed only by JDK-8348732 in JDK
/// 25), although the format (BMPString) and OpenSSL handle them.
pub fn java_pkcs12_warning(secret: &str) -> Option<String> {
    (!secret.is_ascii()).then(|| {
        "the password is not ASCII: OpenSSL and curl accept it, but Java before 25 cannot open such a PKCS#12 file; use --format jks or an ASCII password for Java".to_string()
    })
}

/// A warning for passwords keytool would refuse.
pub fn keytool_warning(secret: &str) -> Option<String> {
    (secret.chars().count() < KEYTOOL_MIN_LEN).then(|| {
        format!("the password is shorter than {KEYTOOL_MIN_LEN} characters; keytool will refuse to open the store")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_source_takes_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "sécret-pass\r\nignored\n").unwrap();
        let src = Source {
            file: Some(f),
            ..Source::default()
        };
        let p = Purpose {
            what: "store password",
            default_env: "MINICA_TEST_UNSET_VAR",
            confirm: false,
        };
        assert_eq!(src.get(&p).unwrap().as_str(), "sécret-pass");
    }

    #[test]
    fn endless_input_is_cut_and_refused() {
        let p = Purpose {
            what: "store password",
            default_env: "MINICA_TEST_UNSET_VAR",
            confirm: false,
        };
        let zeros = std::io::repeat(0);
        let e = first_line_of(zeros, Path::new("standard input"), &p).unwrap_err();
        assert!(e.to_string().contains("longer than 4096 bytes"), "{e}");
        let line = format!("{}\nrest", "x".repeat(MAX_SECRET_BYTES));
        let ok = first_line_of(line.as_bytes(), Path::new("f"), &p).unwrap();
        assert_eq!(ok.len(), MAX_SECRET_BYTES);
        let e = first_line_of(&b"\xff\xfe\n"[..], Path::new("f"), &p).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    #[test]
    fn ca_passphrase_hints_name_real_flags() {
        let ca = Purpose {
            what: "CA passphrase",
            default_env: crate::cakey::CA_PASSWORD_ENV,
            confirm: false,
        };
        let hint = ca.how_to_give();
        assert!(hint.contains("--ca-password-file") && !hint.contains("--password-stdin"));
    }

    /// The new store password has no stdin flag, and its hint must not
    /// send the user to the old password's `--password-file`.
    #[test]
    fn new_password_hints_name_real_flags() {
        let new = Purpose {
            what: "new store password",
            default_env: "MINICA_NEW_STORE_PASSWORD",
            confirm: true,
        };
        let hint = new.how_to_give();
        assert!(hint.contains("--new-password-file"), "{hint}");
        assert!(
            !hint.contains(" --password-") && !hint.contains("stdin"),
            "{hint}"
        );
    }

    #[test]
    fn short_passwords_warn() {
        assert!(keytool_warning("12345").is_some());
        assert!(keytool_warning("123456").is_none());
    }
}

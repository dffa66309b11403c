//! Where secrets come from. Never the command line (it shows in `ps` and in
//! shell history): a file, an environment variable, standard input, or a
//! prompt, and the prompt only when a person is there to answer it.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsx;

/// The environment variable read for store passwords when no source is named.
pub const STORE_PASSWORD_ENV: &str = "MINICA_STORE_PASSWORD";

/// keytool refuses store passwords shorter than this.
pub const KEYTOOL_MIN_LEN: usize = 6;

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
            let bytes = Zeroizing::new(fsx::read(path)?);
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| Error::bad_file(path, "is not UTF-8 text"))?;
            Zeroizing::new(first_line(text).to_string())
        } else if let Some(var) = &self.env {
            match std::env::var(var) {
                Ok(v) => Zeroizing::new(v),
                Err(_) => {
                    return Err(Error::usage(format!(
                        "the environment variable {var} named by --password-env is not set"
                    )));
                }
            }
        } else if self.stdin {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                Error::io(
                    "read the password from",
                    std::path::Path::new("standard input"),
                    e,
                )
            })?;
            Zeroizing::new(first_line(&line).to_string())
        } else if let Ok(v) = std::env::var(purpose.default_env) {
            Zeroizing::new(v)
        } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            prompt(purpose)?
        } else {
            return Err(Error::usage(format!(
                "no {} given and no terminal to ask on: use --password-file FILE, --password-env VAR, --password-stdin, or set {}",
                purpose.what, purpose.default_env
            )));
        };
        if secret.is_empty() {
            return Err(Error::usage(format!("the {} is empty", purpose.what)));
        }
        Ok(secret)
    }
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
    fn short_passwords_warn() {
        assert!(keytool_warning("12345").is_some());
        assert!(keytool_warning("123456").is_none());
    }
}

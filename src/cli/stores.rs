//! Arguments and steps shared by the commands that write stores: `keystore`,
//! `truststore`, and `issue --keystore --truststore`.

use std::path::{Path, PathBuf};

use minica::error::Result;
use minica::password::{self, Purpose, Secret, Source};
use minica::stores::{self, Format, P12Profile, Pkcs12Options};
use minica::{Error, fsx};

use super::Output;

#[derive(Debug, Clone, clap::Args)]
pub struct PasswordArgs {
    /// Read the store password from the first line of FILE
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Read the store password from the environment variable VAR
    /// [default: MINICA_STORE_PASSWORD when it is set]
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Read the store password from the first line of standard input
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FormatArgs {
    /// Store format
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// PKCS#12 protection, named by what reads it (`--profile` names a
    /// certificate profile in `issue`, hence the prefix)
    #[arg(long, value_enum, default_value_t)]
    p12_profile: P12Profile,
    /// The same as --p12-profile legacy-3des (Java 8, macOS Keychain, iOS)
    #[arg(long, conflicts_with = "p12_profile")]
    compat: bool,
    /// PKCS#12 key-derivation iterations (at most 1,000,000: what minica and other readers accept)
    #[arg(long, default_value_t = stores::DEFAULT_ITERATIONS, value_parser = clap::value_parser!(u32).range(1..=stores::MAX_ITERATIONS as i64))]
    iterations: u32,
}

impl FormatArgs {
    pub fn pkcs12(&self) -> Pkcs12Options {
        Pkcs12Options {
            profile: if self.compat {
                P12Profile::Legacy3des
            } else {
                self.p12_profile
            },
            iterations: self.iterations,
        }
    }

    /// What protects the store, for reports.
    pub fn protection(&self) -> &'static str {
        match self.format {
            Format::P12 => self.pkcs12().profile.describe(),
            Format::Jks => "JKS (Sun KeyProtector, SHA-1 integrity)",
            Format::Pem => "none (file mode only)",
        }
    }
}

impl PasswordArgs {
    fn source(&self) -> Source {
        Source {
            file: self.password_file.clone(),
            env: self.password_env.clone(),
            stdin: self.password_stdin,
            value: None,
        }
    }

    /// Whether a password was given at all (a flag, or the default
    /// environment variable), for commands where it is optional.
    pub fn given(&self) -> bool {
        self.password_file.is_some()
            || self.password_env.is_some()
            || self.password_stdin
            || std::env::var_os(password::STORE_PASSWORD_ENV).is_some()
    }

    /// The password of an existing store, to open it.
    pub fn get_to_open(&self) -> Result<Secret> {
        self.source().get(&Purpose {
            what: "store password",
            default_env: password::STORE_PASSWORD_ENV,
            confirm: false,
        })
    }

    /// The store password, or None for PEM, which is not encrypted.
    pub fn get(&self, format: Format, out: &Output) -> Result<Option<Secret>> {
        if format == Format::Pem {
            return Ok(None);
        }
        let secret = self.source().get(&Purpose {
            what: "store password",
            default_env: password::STORE_PASSWORD_ENV,
            confirm: true,
        })?;
        if let Some(w) = password::keytool_warning(&secret) {
            out.warn(w);
        }
        if format == Format::P12
            && let Some(w) = password::java_pkcs12_warning(&secret)
        {
            out.warn(w);
        }
        Ok(Some(secret))
    }
}

/// Whether `--out` names standard output.
pub fn is_stdout(p: &Path) -> bool {
    p == Path::new("-")
}

/// `--out-dir -` (issue, csr, batch): refused,
/// since one stream cannot hold a certificate, its key and its chain.
pub fn refuse_stdout_dir(command: &str, out: Option<&Path>) -> Result<()> {
    match out {
        Some(p) if is_stdout(p) => Err(Error::usage(format!(
            "--out-dir names a directory for `minica {command}` (cert.pem, key.pem, ...); `-` (standard output) holds one file: use `minica keystore ... --out -` for a single store"
        ))),
        _ => Ok(()),
    }
}

/// Writes a store file atomically (keystores hold a key, so 0600), or to
/// standard output for `--out -`.
pub fn write(path: &Path, bytes: &[u8], private: bool, force: bool) -> Result<()> {
    if is_stdout(path) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        return out
            .write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("write", Path::new("(standard output)"), e));
    }
    let dir = fsx::parent_dir(path);
    if !dir.is_dir() {
        return Err(Error::bad_file(dir, "no such directory"));
    }
    let mode = if private { fsx::PRIVATE } else { fsx::PUBLIC };
    fsx::write_all(&[(path.to_path_buf(), bytes.to_vec(), mode)], force)
}

/// `<dir>/<stem>.<ext>`.
pub fn default_path(dir: &Path, stem: &str, format: Format) -> PathBuf {
    dir.join(format!("{stem}.{}", format.extension()))
}

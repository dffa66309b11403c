//! `minica trust`: put the CA's root where clients look for trust anchors,
//! say where it is trusted, and take it out again.
//!
//! One module per kind of store, each with `status`, `install` and
//! `uninstall` (as mkcert keeps its `truststore_<platform>.go` apart):
//! - [`system`]: the operating system's store (Debian/Ubuntu, Fedora/RHEL,
//!   Arch/openSUSE through p11-kit; macOS and Windows are recognised and
//!   get the exact command to run),
//! - [`nss`]: every NSS database a user's browsers read (Chromium's
//!   `~/.pki/nssdb`, each Firefox profile),
//! - [`java`]: the JDK's `cacerts`, patched by minica's own JKS code,
//! - [`export`]: files for devices minica cannot reach (iOS/macOS
//!   `.mobileconfig`, Android's DER `.crt`).
//!
//! Everything minica adds is named after the root itself
//! ([`Root::unique_name`]: `minica-<first 8 hex of its SHA-256>-<CN>`), so
//! uninstall removes exactly what install added and two minica CAs never
//! collide. A store that cannot be done is one [`Outcome`] with `ok: false`
//! and the reason; it never stops the other stores.

pub mod export;
pub mod java;
pub mod nss;
pub mod system;

use std::path::{Path, PathBuf};
use std::process::Command;

use rustls_pki_types::CertificateDer;
use serde::Serialize;

use crate::error::{Error, Result};

/// The kinds of store `install`/`uninstall` can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The operating system's store (curl, Python, OpenSSL, GnuTLS, Go...)
    System,
    /// NSS databases: Chromium/Chrome (~/.pki/nssdb) and every Firefox profile
    Nss,
    /// The JDK's cacerts (Java's default truststore)
    Java,
    /// Every store found
    All,
}

impl StoreKind {
    /// The stores meant by a list of `--store` values (empty: all).
    pub fn expand(kinds: &[StoreKind]) -> Vec<StoreKind> {
        let all = kinds.is_empty() || kinds.contains(&StoreKind::All);
        [StoreKind::System, StoreKind::Nss, StoreKind::Java]
            .into_iter()
            .filter(|k| all || kinds.contains(k))
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            StoreKind::System => "system",
            StoreKind::Nss => "nss",
            StoreKind::Java => "java",
            StoreKind::All => "all",
        }
    }
}

/// The CA's root certificate, as the stores need it.
#[derive(Debug, Clone)]
pub struct Root {
    pub der: CertificateDer<'static>,
    pub pem: String,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// The subject's CommonName (or the whole subject when it has none).
    pub cn: String,
    /// The file the root was read from.
    pub path: PathBuf,
}

impl Root {
    /// Reads the root of the CA in `ca_dir` (`ca.pem`), without the CA lock:
    /// trust commands only read a public certificate.
    pub fn load(ca_dir: &Path) -> Result<Root> {
        let path = ca_dir.join(crate::ca::CERT_FILE);
        if !path.exists() {
            return Err(Error::NoCa(ca_dir.to_path_buf()));
        }
        let certs = crate::certs::read(&path)?;
        let der = certs
            .into_iter()
            .next()
            .ok_or_else(|| Error::bad_file(&path, "holds no certificate"))?;
        Root::from_der(der, path)
    }

    pub fn from_der(der: CertificateDer<'static>, path: PathBuf) -> Result<Root> {
        let sha256 =
            crate::x509::hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der).as_ref());
        let cn = crate::certs::display_name(&der).unwrap_or_else(|| "root".into());
        let pem = crate::keys::pem_encode("CERTIFICATE", der.to_vec());
        Ok(Root {
            der,
            pem,
            sha256,
            cn,
            path,
        })
    }

    /// `minica-<first 8 hex of SHA-256>-<cn as a file-name-safe slug>`: the
    /// name of everything minica adds for this root (system file, NSS
    /// nickname, Java alias). Lower case, because Java folds aliases.
    pub fn unique_name(&self) -> String {
        let slug = crate::stores::alias_for(&self.cn);
        let slug: String = slug.chars().take(40).collect();
        format!("minica-{}-{}", &self.sha256[..8], slug)
    }
}

/// What became of one store (or one NSS database).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// "system", "nss", "java".
    pub store: &'static str,
    /// The file or database, or a description when there is none.
    pub path: String,
    /// After the command: is the root trusted there?
    pub trusted: bool,
    /// Did this command change the store?
    pub changed: bool,
    /// Was the request done (for status: could the store be read)?
    pub ok: bool,
    /// Why: one sentence a user can act on.
    pub reason: String,
}

impl Outcome {
    pub fn new(store: &'static str, path: impl Into<String>) -> Outcome {
        Outcome {
            store,
            path: path.into(),
            trusted: false,
            changed: false,
            ok: true,
            reason: String::new(),
        }
    }

    fn trusted(mut self, yes: bool, reason: impl Into<String>) -> Outcome {
        self.trusted = yes;
        self.reason = reason.into();
        self
    }

    fn failed(mut self, reason: impl Into<String>) -> Outcome {
        self.ok = false;
        self.reason = reason.into();
        self
    }

    fn changed(mut self) -> Outcome {
        self.changed = true;
        self
    }
}

/// Where to look, and what to use: taken from the environment by the CLI,
/// set explicitly by tests.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The user's home (NSS databases, Firefox profiles).
    pub home: Option<PathBuf>,
    /// `JAVA_HOME`, if set.
    pub java_home: Option<PathBuf>,
    /// The password of the JDK's cacerts ("changeit" unless told).
    pub java_password: Option<String>,
    /// The command line to suggest for a re-run with sudo, without its
    /// `--store` (e.g. `minica trust install --ca-dir DIR`).
    pub rerun_hint: Option<String>,
    /// Under sudo, the user who ran it: their NSS databases are changed,
    /// by certutil running as them.
    pub nss_user: Option<User>,
}

/// A user to run a tool as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

/// The user behind `sudo`, and their home: sudo sets HOME to root's
/// (Debian's default `env_reset`), but the browsers whose databases should
/// change are the invoking user's. SUDO_UID is only believed when minica
/// really runs as root, and the home comes from the password database,
/// not from the environment. Windows has no sudo user.
#[cfg(not(unix))]
fn sudo_user() -> Option<(User, PathBuf)> {
    None
}

#[cfg(unix)]
fn sudo_user() -> Option<(User, PathBuf)> {
    use std::os::unix::ffi::OsStrExt;
    if !is_root() {
        return None;
    }
    let uid: u32 = std::env::var("SUDO_UID")
        .ok()?
        .parse()
        .ok()
        .filter(|u| *u != 0)?;
    // SAFETY: passwd is plain data; getpwuid_r writes only into `pwd` and
    // `buf` (whose length it is given) and sets `result` to &pwd or null.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: on success pw_dir points to a NUL-terminated string in `buf`.
    let home = unsafe { std::ffi::CStr::from_ptr(pwd.pw_dir) }.to_bytes();
    Some((
        User {
            uid,
            gid: pwd.pw_gid,
        },
        PathBuf::from(std::ffi::OsStr::from_bytes(home)),
    ))
}

impl Options {
    pub fn from_env() -> Options {
        let sudo = sudo_user();
        Options {
            home: match &sudo {
                Some((_, home)) => Some(home.clone()),
                None => std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .map(PathBuf::from),
            },
            java_home: std::env::var_os("JAVA_HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            java_password: None,
            rerun_hint: None,
            nss_user: sudo.map(|(u, _)| u),
        }
    }

    /// The outcome of a store that needs root, with the one command to run.
    fn need_root(&self, outcome: Outcome, store: &str, action: Action) -> Outcome {
        let verb = if action == Action::Install {
            "install"
        } else {
            "uninstall"
        };
        let hint = self
            .rerun_hint
            .clone()
            .unwrap_or_else(|| format!("minica trust {verb}"));
        outcome.failed(format!(
            "writing the {store} store needs root: run `sudo {hint} --store {store}`"
        ))
    }

    pub fn java_password(&self) -> &str {
        self.java_password
            .as_deref()
            .unwrap_or(java::DEFAULT_PASSWORD)
    }
}

/// The result of a trust command: one outcome per store or database, and
/// warnings that did not stop anything (a wrong JAVA_HOME).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    pub warnings: Vec<String>,
}

impl Report {
    /// Every requested store was done.
    pub fn all_ok(&self) -> bool {
        self.outcomes.iter().all(|o| o.ok)
    }

    /// The root is trusted in every store looked at.
    pub fn all_trusted(&self) -> bool {
        !self.outcomes.is_empty() && self.outcomes.iter().all(|o| o.trusted)
    }

    fn extend(&mut self, other: Report) {
        self.outcomes.extend(other.outcomes);
        self.warnings.extend(other.warnings);
    }
}

/// What a command does to each store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Status,
    Install,
    Uninstall,
}

/// Runs `action` on each store of `kinds` (empty: all), in the order
/// system, nss, java. A store that fails is reported; the others go on.
pub fn run(root: &Root, kinds: &[StoreKind], action: Action, opts: &Options) -> Report {
    let mut report = Report::default();
    for kind in StoreKind::expand(kinds) {
        let part = match kind {
            StoreKind::System => system::run(root, action, opts),
            StoreKind::Nss => nss::run(root, action, opts),
            StoreKind::Java => java::run(root, action, opts),
            StoreKind::All => unreachable!("expanded"),
        };
        report.extend(part);
    }
    report
}

/// Whether this process runs as root (system stores need it).
pub use crate::fsx::is_root;

/// The first of `names` found on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| crate::platform::is_executable(&m))
}

/// Runs a tool; on failure, one sentence with its own last words.
fn run_tool(cmd: &mut Command) -> std::result::Result<String, String> {
    run_tool_fed(cmd, None)
}

/// `run_tool`, with `input` on the tool's standard input.
fn run_tool_fed(cmd: &mut Command, input: Option<&[u8]>) -> std::result::Result<String, String> {
    use std::io::Write;
    use std::process::Stdio;
    let shown = show_command(cmd);
    let output = match input {
        None => cmd.output(),
        Some(bytes) => cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                // A certificate fits in the pipe's buffer; the child reads
                // it before it writes anything back.
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(bytes)?;
                }
                child.wait_with_output()
            }),
    };
    match output {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            Err(format!(
                "`{shown}` failed ({}){}",
                out.status,
                if last.is_empty() {
                    String::new()
                } else {
                    format!(": {last}")
                }
            ))
        }
        Err(e) => Err(format!("cannot run `{shown}`: {e}")),
    }
}

fn show_command(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let s = a.to_string_lossy();
            if s.contains(' ') {
                format!("'{s}'")
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command that installs the package providing a missing tool, for the
/// package manager found here.
fn package_hint(debian: &str, fedora: &str, suse: &str, arch: &str) -> String {
    if which("apt-get").is_some() {
        format!("apt install {debian}")
    } else if which("dnf").is_some() {
        format!("dnf install {fedora}")
    } else if which("yum").is_some() {
        format!("yum install {fedora}")
    } else if which("zypper").is_some() {
        format!("zypper install {suse}")
    } else if which("pacman").is_some() {
        format!("pacman -S {arch}")
    } else {
        format!("install {debian} (Debian) / {fedora} (Fedora)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_name_names_the_root() {
        let der = CertificateDer::from(vec![0x30, 0x00]);
        let mut root = Root::from_der(der, "ca.pem".into()).unwrap();
        // SHA-256 of 30 00.
        assert_eq!(
            root.sha256,
            "e4f60d0aa6d7f3d3b6a6494b1c861b99f649c6f9ec51abaf201b20f297327c95"
        );
        root.cn = "My Dev Root/2".into();
        assert_eq!(
            root.unique_name(),
            format!("minica-{}-my-dev-root-2", &root.sha256[..8])
        );
    }

    #[test]
    fn stores_expand() {
        assert_eq!(
            StoreKind::expand(&[]),
            [StoreKind::System, StoreKind::Nss, StoreKind::Java]
        );
        assert_eq!(
            StoreKind::expand(&[StoreKind::Java, StoreKind::Nss]),
            [StoreKind::Nss, StoreKind::Java]
        );
    }
}

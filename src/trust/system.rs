//! The operating system's trust store: what curl, Python, OpenSSL, GnuTLS
//! and Go read. Detected from what is on the machine, never guessed:
//!
//! | system | minica adds | then runs | clients read |
//! |---|---|---|---|
//! | Fedora/RHEL | `/etc/pki/ca-trust/source/anchors/NAME.pem` | `update-ca-trust extract` | `/etc/pki/tls/certs/ca-bundle.crt` |
//! | Debian/Ubuntu | `/usr/local/share/ca-certificates/NAME.crt` | `update-ca-certificates` | `/etc/ssl/certs/ca-certificates.crt` |
//! | Arch/openSUSE | an anchor through p11-kit | `trust anchor --store` / `--remove` | the extracted bundle |
//! | macOS | (the command is printed) | `security add-trusted-cert` | the keychain |
//! | Windows | (the command is printed) | `certutil -addstore` | the Root store |
//!
//! NAME is [`Root::unique_name`]. Writing needs root: without it, the
//! outcome says the one command to run with sudo, and the other stores go
//! on.

use std::path::{Path, PathBuf};
use std::process::Command;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::{Action, Options, Outcome, Report, Root, is_root, run_tool, which};

const STORE: &str = "system";

/// A recognised system store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    /// A directory of anchor files and the command that rebuilds the bundle.
    AnchorDir {
        distro: &'static str,
        dir: PathBuf,
        extension: &'static str,
        update: Vec<String>,
        bundle: PathBuf,
    },
    /// p11-kit's `trust anchor` (Arch, openSUSE).
    P11Kit {
        trust: PathBuf,
        bundle: PathBuf,
    },
    MacOs,
    Windows,
    Unknown,
}

/// Finds the system store from what is installed.
pub fn detect() -> Platform {
    if cfg!(target_os = "macos") {
        return Platform::MacOs;
    }
    if cfg!(windows) {
        return Platform::Windows;
    }
    let fedora = Path::new("/etc/pki/ca-trust/source/anchors");
    if fedora.is_dir() && which("update-ca-trust").is_some() {
        return Platform::AnchorDir {
            distro: "Fedora/RHEL",
            dir: fedora.into(),
            extension: "pem",
            update: vec!["update-ca-trust".into(), "extract".into()],
            bundle: "/etc/pki/tls/certs/ca-bundle.crt".into(),
        };
    }
    let debian = Path::new("/usr/local/share/ca-certificates");
    if debian.is_dir() && which("update-ca-certificates").is_some() {
        return Platform::AnchorDir {
            distro: "Debian/Ubuntu",
            dir: debian.into(),
            extension: "crt",
            update: vec!["update-ca-certificates".into()],
            bundle: "/etc/ssl/certs/ca-certificates.crt".into(),
        };
    }
    if let Some(trust) = which("trust") {
        let bundle = [
            "/etc/ssl/certs/ca-certificates.crt",
            "/var/lib/ca-certificates/ca-bundle.pem",
            "/etc/ca-certificates/extracted/tls-ca-bundle.pem",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
        return Platform::P11Kit { trust, bundle };
    }
    Platform::Unknown
}

/// Is `root` among the certificates of a PEM bundle?
fn bundle_has(bundle: &Path, root: &Root) -> bool {
    let Ok(bytes) = std::fs::read(bundle) else {
        return false;
    };
    CertificateDer::pem_slice_iter(&bytes)
        .filter_map(|c| c.ok())
        .any(|c| c == root.der)
}

/// Does `file` hold exactly this root?
fn file_holds(file: &Path, root: &Root) -> bool {
    std::fs::read(file)
        .map(|b| {
            CertificateDer::pem_slice_iter(&b)
                .filter_map(|c| c.ok())
                .any(|c| c == root.der)
        })
        .unwrap_or(false)
}

pub fn run(root: &Root, action: Action, opts: &Options) -> Report {
    let platform = detect();
    let outcome = match &platform {
        Platform::AnchorDir {
            distro,
            dir,
            extension,
            update,
            bundle,
        } => {
            let file = dir.join(format!("{}.{extension}", root.unique_name()));
            anchor_dir(root, action, opts, distro, &file, update, bundle)
        }
        Platform::P11Kit { trust, bundle } => p11kit(root, action, opts, trust, bundle),
        Platform::MacOs => printed(root, action, "macOS keychain", macos_command(root, action)),
        Platform::Windows => printed(
            root,
            action,
            "Windows Root store",
            windows_command(root, action),
        ),
        Platform::Unknown => Outcome::new(STORE, "(none found)").failed(
            "no system trust store recognised (looked for update-ca-trust, \
             update-ca-certificates and p11-kit's trust); install the root by hand from its file",
        ),
    };
    Report {
        outcomes: vec![outcome],
        warnings: Vec::new(),
    }
}

fn anchor_dir(
    root: &Root,
    action: Action,
    opts: &Options,
    distro: &str,
    file: &Path,
    update: &[String],
    bundle: &Path,
) -> Outcome {
    let outcome = Outcome::new(STORE, file.display().to_string());
    let ours = file_holds(file, root);
    let in_bundle = bundle_has(bundle, root);
    let describe = |ours: bool, in_bundle: bool| match (ours, in_bundle) {
        (true, true) => format!("{distro}: in {} from this file", bundle.display()),
        (true, false) => format!(
            "{distro}: the file is there but {} lacks it (run `{}`)",
            bundle.display(),
            update.join(" ")
        ),
        (false, true) => format!(
            "{distro}: in {}, but not from a file minica added",
            bundle.display()
        ),
        (false, false) => format!("{distro}: not in {}", bundle.display()),
    };
    let rebuild = || {
        let mut cmd = Command::new(&update[0]);
        cmd.args(&update[1..]);
        run_tool(&mut cmd).map(|_| ())
    };
    match action {
        Action::Status => outcome.trusted(in_bundle, describe(ours, in_bundle)),
        Action::Install => {
            if ours && in_bundle {
                return outcome.trusted(true, format!("already installed ({distro})"));
            }
            if !is_root() {
                return opts.need_root(outcome, STORE, action);
            }
            if !ours
                && let Err(e) =
                    crate::fsx::stage(file, root.pem.as_bytes(), 0o644).and_then(|s| s.commit(true))
            {
                return outcome.failed(e.to_string());
            }
            if let Err(e) = rebuild() {
                return outcome.changed().failed(e);
            }
            let now = bundle_has(bundle, root);
            if now {
                outcome
                    .changed()
                    .trusted(true, format!("installed ({distro}: {})", bundle.display()))
            } else {
                outcome.changed().failed(format!(
                    "wrote the file and ran `{}`, but {} still lacks the root",
                    update.join(" "),
                    bundle.display()
                ))
            }
        }
        Action::Uninstall => {
            if !file.exists() {
                let still = if in_bundle {
                    " (the root is still trusted through an entry minica did not add)"
                } else {
                    ""
                };
                return outcome.trusted(in_bundle, format!("was not installed{still}"));
            }
            if !is_root() {
                return opts.need_root(outcome, STORE, action);
            }
            if let Err(e) = std::fs::remove_file(file) {
                return outcome.failed(crate::Error::io("remove", file, e).to_string());
            }
            if let Err(e) = rebuild() {
                return outcome.changed().failed(e);
            }
            // Debian's ca-certificates-java hook copies every new system
            // root into the JDK's cacerts as `debian:<file>.pem`, but does
            // not take it out again when the file goes: that entry exists
            // only because of our file, so it goes with it.
            let mut extra = String::new();
            if let Some(stem) = file.file_stem() {
                let alias = format!("debian:{}.pem", stem.to_string_lossy());
                match super::java::remove_alias(root, &alias, opts) {
                    Ok(true) => {
                        extra = format!(
                            "; also {alias} from the JDK's cacerts, which update-ca-certificates' Java hook added"
                        )
                    }
                    Ok(false) => {}
                    Err(e) => {
                        return outcome.changed().failed(format!(
                            "removed the file, but not {alias} from the JDK's cacerts: {e}"
                        ));
                    }
                }
            }
            let still = bundle_has(bundle, root);
            outcome.changed().trusted(
                still,
                if still {
                    format!(
                        "removed minica's file, but {} still holds the root from another entry",
                        bundle.display()
                    )
                } else {
                    format!("removed ({distro}){extra}")
                },
            )
        }
    }
}

fn p11kit(root: &Root, action: Action, opts: &Options, trust: &Path, bundle: &Path) -> Outcome {
    let outcome = Outcome::new(STORE, format!("p11-kit ({})", bundle.display()));
    let in_bundle = bundle_has(bundle, root);
    let with_file = |args: &[&str]| -> Result<(), String> {
        // `trust anchor` takes a file: give it the CA's own root file.
        let mut cmd = Command::new(trust);
        cmd.args(args).arg(&root.path);
        run_tool(&mut cmd).map(|_| ())
    };
    match action {
        Action::Status => outcome.trusted(
            in_bundle,
            if in_bundle {
                format!("p11-kit: in {}", bundle.display())
            } else {
                format!("p11-kit: not in {}", bundle.display())
            },
        ),
        Action::Install => {
            if in_bundle {
                return outcome.trusted(true, "already installed (p11-kit)");
            }
            if !is_root() {
                return opts.need_root(outcome, STORE, action);
            }
            match with_file(&["anchor", "--store"]) {
                Ok(()) => outcome
                    .changed()
                    .trusted(true, "installed with `trust anchor --store` (p11-kit)"),
                Err(e) => outcome.failed(e),
            }
        }
        Action::Uninstall => {
            if !in_bundle {
                return outcome.trusted(false, "was not installed");
            }
            if !is_root() {
                return opts.need_root(outcome, STORE, action);
            }
            match with_file(&["anchor", "--remove"]) {
                Ok(()) => outcome
                    .changed()
                    .trusted(false, "removed with `trust anchor --remove` (p11-kit)"),
                Err(e) => outcome.failed(e),
            }
        }
    }
}

fn macos_command(root: &Root, action: Action) -> String {
    let file = root.path.display();
    match action {
        Action::Install => format!(
            "sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain '{file}'"
        ),
        Action::Uninstall => format!("sudo security remove-trusted-cert -d '{file}'"),
        Action::Status => format!("security verify-cert -c '{file}'"),
    }
}

fn windows_command(root: &Root, action: Action) -> String {
    let file = root.path.display();
    match action {
        Action::Install => format!("certutil -addstore -f Root \"{file}\""),
        Action::Uninstall => format!(
            "certutil -delstore Root {}",
            crate::x509::hex(&crate::stores::jks::sha1(&root.der))
        ),
        Action::Status => format!("certutil -verifystore Root \"{file}\""),
    }
}

/// macOS and Windows are recognised, but this code was never run there:
/// say the exact command, and that it was not run.
fn printed(_root: &Root, action: Action, what: &str, command: String) -> Outcome {
    let outcome = Outcome::new(STORE, what);
    let verb = match action {
        Action::Status => "check",
        Action::Install => "install",
        Action::Uninstall => "uninstall",
    };
    outcome.failed(format!(
        "minica does not change the {what} itself (it was never tested there); to {verb}, run: {command}"
    ))
}

//! The JDK's `cacerts`: Java's default truststore.
//!
//! Found from `JAVA_HOME`, else the real path of `java` on PATH, else the
//! usual places; a `JAVA_HOME` that holds no cacerts is a warning, not an
//! abort. minica patches the file itself, with no keytool, in either form
//! a JDK ships (JKS up to JDK 17; a PKCS#12 with no password from JDK 18,
//! JDK-8275252): the root's trusted-certificate entry (alias
//! [`Root::unique_name`]) is appended or dropped and every other entry is
//! kept byte for byte ([`EditableStore`]). The file is locked while it is
//! read and rewritten (two minica processes never lose each other's
//! entry), read back before it replaces the old one, and replaced
//! atomically, through any symbolic link (Debian's JDKs link to
//! `/etc/ssl/certs/java/cacerts`), with its mode and owner kept.

use std::path::{Path, PathBuf};

use super::{Action, Options, Outcome, Report, Root};
use crate::error::{Error, Result};
#[cfg(test)]
use crate::stores::edit::EditableStore;
use crate::stores::manage;

const STORE: &str = "java";
pub const DEFAULT_PASSWORD: &str = "changeit";

/// Finds the JDK's cacerts; warnings for places that were named but hold none.
pub fn find_cacerts(opts: &Options) -> (Option<PathBuf>, Vec<String>) {
    let mut warnings = Vec::new();
    let in_home = |home: &Path| {
        ["lib/security/cacerts", "jre/lib/security/cacerts"]
            .iter()
            .map(|r| home.join(r))
            .find(|p| p.is_file())
    };
    if let Some(home) = &opts.java_home {
        match in_home(home) {
            Some(p) => return (Some(p), warnings),
            None => warnings.push(format!(
                "JAVA_HOME={} holds no lib/security/cacerts; looking for the JDK elsewhere",
                home.display()
            )),
        }
    }
    if let Some(java) = super::which("java")
        && let Ok(real) = std::fs::canonicalize(&java)
        && let Some(home) = real.parent().and_then(Path::parent)
        && let Some(p) = in_home(home)
    {
        return (Some(p), warnings);
    }
    for p in [
        "/usr/lib/jvm/default-java/lib/security/cacerts",
        "/etc/ssl/certs/java/cacerts",
        "/etc/pki/java/cacerts",
        "/etc/pki/ca-trust/extracted/java/cacerts",
    ] {
        if Path::new(p).is_file() {
            return (Some(p.into()), warnings);
        }
    }
    (None, warnings)
}

pub fn run(root: &Root, action: Action, opts: &Options) -> Report {
    let (found, warnings) = find_cacerts(opts);
    let outcome = match found {
        None => Outcome::new(STORE, "(no JDK found)").trusted(
            false,
            "no JDK cacerts found (JAVA_HOME, java on PATH, /usr/lib/jvm)",
        ),
        Some(path) => one(root, action, opts, &path),
    };
    let outcome = match (action, found_none(&outcome)) {
        (Action::Install, true) => {
            outcome.failed("no JDK cacerts found: set JAVA_HOME to the JDK to use")
        }
        _ => outcome,
    };
    Report {
        outcomes: vec![outcome],
        warnings,
    }
}

/// Removes the entry `alias` from the JDK's cacerts if it holds this root
/// (and nothing else). Returns whether something was removed.
pub fn remove_alias(root: &Root, alias: &str, opts: &Options) -> Result<bool> {
    let Some(path) = find_cacerts(opts).0 else {
        return Ok(false);
    };
    let removed = manage::edit(&path, opts.java_password(), |store| {
        Ok(if store.remove_trusted(alias, &root.der) {
            vec![alias.to_string()]
        } else {
            Vec::new()
        })
    })?;
    Ok(!removed.is_empty())
}

/// A cacerts that cannot be written: without root, the command to run.
fn write_failed(outcome: Outcome, e: Error, action: Action, opts: &Options) -> Outcome {
    let denied = matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied);
    if denied && !super::is_root() {
        opts.need_root(outcome, STORE, action)
    } else {
        outcome.failed(e.to_string())
    }
}

fn found_none(o: &Outcome) -> bool {
    o.path == "(no JDK found)"
}

fn one(root: &Root, action: Action, opts: &Options, path: &Path) -> Outcome {
    // The file really written (Debian's JDKs link to /etc/ssl/certs/java).
    let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let outcome = Outcome::new(STORE, path.display().to_string());
    let alias = root.unique_name();
    let der = root.der.as_ref();
    // Decided under the store's lock, reported once the edit is in place.
    let mut decided: Option<Outcome> = None;
    let edited = manage::edit(path, opts.java_password(), |store| {
        let holders = store.aliases_of(der);
        let ours =
            store.has_alias(&alias) && holders.iter().any(|a| a.eq_ignore_ascii_case(&alias));
        let others: Vec<&String> = holders
            .iter()
            .filter(|a| !a.eq_ignore_ascii_case(&alias))
            .collect();
        let others_note = if others.is_empty() {
            String::new()
        } else {
            format!(
                " (also as {}, an entry minica did not add)",
                others
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let o = outcome.clone();
        let (changed, o) = match action {
            Action::Status => (
                false,
                o.trusted(
                    !holders.is_empty(),
                    if holders.is_empty() {
                        "not in cacerts".to_string()
                    } else if ours {
                        format!("alias {alias}{others_note}")
                    } else {
                        format!("as {}, an entry minica did not add", holders.join(", "))
                    },
                ),
            ),
            Action::Install if ours => (
                false,
                o.trusted(true, format!("already installed (alias {alias})")),
            ),
            Action::Install if store.has_alias(&alias) => (
                false,
                o.failed(format!(
                    "cacerts has an entry named {alias} that is not this root; remove it first (keytool -delete -alias {alias})"
                )),
            ),
            Action::Install => {
                store.add_trusted(&alias, der)?;
                (
                    true,
                    o.changed().trusted(
                        true,
                        format!("installed (alias {alias}, {}){others_note}", store.format()),
                    ),
                )
            }
            Action::Uninstall if !store.remove_trusted(&alias, der) => (
                false,
                o.trusted(
                    !holders.is_empty(),
                    format!("was not installed{others_note}"),
                ),
            ),
            Action::Uninstall => (
                true,
                o.changed().trusted(
                    !others.is_empty(),
                    format!("removed (alias {alias}){others_note}"),
                ),
            ),
        };
        decided = Some(o);
        Ok(if changed {
            vec![alias.clone()]
        } else {
            Vec::new()
        })
    });
    match (edited, decided) {
        // The edit decides the outcome before it returns Ok.
        (Ok(_), decided) => decided.unwrap_or(outcome),
        // The entry was there, and could not be taken out.
        (Err(e), Some(_)) if action == Action::Uninstall => {
            write_failed(outcome.trusted(true, ""), e, action, opts)
        }
        (Err(e), _) => write_failed(outcome, e, action, opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{TrustedEntry, jks};
    use rustls_pki_types::CertificateDer;

    #[test]
    fn append_and_remove_keep_other_entries() {
        let a = TrustedEntry {
            alias: "a".into(),
            cert: CertificateDer::from(vec![0x30, 0x01, 0x00]),
        };
        let orig = jks::write(&[], &[a], "changeit").unwrap().to_vec();
        let p = Path::new("cacerts");
        let mut store = EditableStore::parse(p, &orig, "changeit").unwrap();
        store.add_trusted("minica-x", &[0x30, 0x00]).unwrap();
        let added = store.encode("changeit");
        let back = jks::read(p, &added, "changeit").unwrap();
        assert_eq!(back.trusted.len(), 2);
        assert_eq!(back.trusted[1].alias, "minica-x");
        // The old entry's bytes are kept exactly.
        assert_eq!(added[12..orig.len() - 20], orig[12..orig.len() - 20]);
        assert!(store.remove_trusted("minica-x", &[0x30, 0x00]));
        assert_eq!(store.encode("changeit"), orig);
        assert!(EditableStore::parse(p, &orig, "wrong").is_err());
    }
}

//! NSS databases: what Chromium/Chrome (`~/.pki/nssdb`) and Firefox (one
//! `cert9.db` per profile) read for locally added roots. Every database
//! found is one outcome, so a user with three Firefox profiles sees three
//! lines. minica adds the root with trust flags `C,,` (a CA for TLS
//! servers only, not for e-mail or code) under the nickname
//! [`Root::unique_name`], through NSS's own `certutil`.

use std::path::{Path, PathBuf};
use std::process::Command;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::{
    Action, Options, Outcome, Report, Root, User, package_hint, run_tool, run_tool_fed, which,
};

const STORE: &str = "nss";
/// Trusted as a CA for TLS server certificates only.
pub const TRUST_FLAGS: &str = "C,,";

/// One NSS database: its directory and certutil's `-d` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Db {
    pub dir: PathBuf,
    /// `sql:DIR` (cert9.db) or `dbm:DIR` (cert8.db); None: a profile with no
    /// database yet (the browser was never started with it).
    pub spec: Option<String>,
    /// "Chromium/Chrome", "Firefox".
    pub owner: &'static str,
}

/// Every NSS database under `home`: Chromium's (native and snap), and each
/// Firefox profile (native, snap, flatpak), from the profile directories and
/// from `profiles.ini` (which may point elsewhere).
pub fn databases(home: &Path) -> Vec<Db> {
    let mut out: Vec<Db> = Vec::new();
    let mut add = |dir: PathBuf, owner: &'static str, must_exist: bool| {
        if !dir.is_dir() || out.iter().any(|d| d.dir == dir) {
            return;
        }
        let spec = if dir.join("cert9.db").is_file() {
            Some(format!("sql:{}", dir.display()))
        } else if dir.join("cert8.db").is_file() {
            Some(format!("dbm:{}", dir.display()))
        } else {
            None
        };
        if spec.is_some() || !must_exist {
            out.push(Db { dir, spec, owner });
        }
    };
    for chromium in [
        ".pki/nssdb",
        "snap/chromium/current/.pki/nssdb",
        ".var/app/org.chromium.Chromium/.pki/nssdb",
        ".var/app/com.google.Chrome/.pki/nssdb",
    ] {
        add(home.join(chromium), "Chromium/Chrome", true);
    }
    for firefox in [
        ".mozilla/firefox",
        "snap/firefox/common/.mozilla/firefox",
        ".var/app/org.mozilla.firefox/.mozilla/firefox",
    ] {
        let base = home.join(firefox);
        let mut profiles: Vec<PathBuf> = profiles_ini(&base);
        if let Ok(rd) = std::fs::read_dir(&base) {
            let mut dirs: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir() && !p.ends_with("Crash Reports") && !p.ends_with("Pending Pings")
                })
                .collect();
            dirs.sort();
            profiles.extend(dirs);
        }
        for p in profiles {
            add(p, "Firefox", false);
        }
    }
    out
}

/// The profile directories `profiles.ini` names.
fn profiles_ini(base: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(base.join("profiles.ini")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut path: Option<String> = None;
    let mut relative = true;
    let mut flush = |path: &mut Option<String>, relative: &mut bool| {
        if let Some(p) = path.take() {
            out.push(if *relative {
                base.join(p)
            } else {
                PathBuf::from(p)
            });
        }
        *relative = true;
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            flush(&mut path, &mut relative);
        } else if let Some(p) = line.strip_prefix("Path=") {
            path = Some(p.to_string());
        } else if let Some(r) = line.strip_prefix("IsRelative=") {
            relative = r.trim() != "0";
        }
    }
    flush(&mut path, &mut relative);
    out
}

/// NSS's certutil, run as the user whose databases it changes: as root
/// under sudo it would leave files in the user's profile they cannot write.
struct Certutil {
    path: PathBuf,
    user: Option<User>,
}

impl Certutil {
    #[cfg(unix)]
    fn command(&self) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(&self.path);
        if let Some(u) = self.user {
            cmd.uid(u.uid).gid(u.gid);
        }
        cmd
    }

    /// Only Unix has a user behind sudo (trust::sudo_user).
    #[cfg(not(unix))]
    fn command(&self) -> Command {
        let _ = self.user;
        Command::new(&self.path)
    }
}

/// What a database holds under minica's nickname: the certificate and its
/// trust flags.
fn lookup(
    certutil: &Certutil,
    spec: &str,
    nick: &str,
) -> Result<Option<(Vec<u8>, String)>, String> {
    let out = certutil
        .command()
        .args(["-L", "-d", spec, "-n", nick, "-a"])
        .output()
        .map_err(|e| format!("cannot run certutil: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let low = err.to_lowercase();
        if low.contains("could not find") || low.contains("file not found") {
            return Ok(None);
        }
        return Err(format!(
            "certutil cannot read {spec}: {}",
            err.lines().last().unwrap_or("").trim()
        ));
    }
    let der = CertificateDer::pem_slice_iter(&out.stdout)
        .filter_map(|c| c.ok())
        .next()
        .map(|c| c.to_vec())
        .unwrap_or_default();
    // `certutil -L -d DB` lists "nickname   flags" per line.
    let list = run_tool(certutil.command().args(["-L", "-d", spec]))?;
    let flags = list
        .lines()
        .find_map(|l| {
            let l = l.trim_end();
            l.strip_prefix(nick)
                .filter(|rest| rest.starts_with(' '))
                .map(|rest| rest.trim().to_string())
        })
        .unwrap_or_default();
    Ok(Some((der, flags)))
}

pub fn run(root: &Root, action: Action, opts: &Options) -> Report {
    let mut report = Report::default();
    let Some(home) = opts.home.clone() else {
        report.outcomes.push(
            Outcome::new(STORE, "(no home directory)")
                .failed("HOME is not set: cannot find the browsers' NSS databases"),
        );
        return report;
    };
    let dbs = databases(&home);
    if dbs.is_empty() {
        let o = Outcome::new(STORE, home.display().to_string());
        report.outcomes.push(if action == Action::Status {
            o.trusted(
                false,
                "no NSS database found (no Firefox profile, no ~/.pki/nssdb)",
            )
        } else if action == Action::Uninstall {
            o.trusted(false, "no NSS database found: nothing to remove")
        } else {
            o.failed(
                "no NSS database found: start Firefox or Chromium once (they create it), \
                 then run install again",
            )
        });
        return report;
    }
    let Some(certutil) = which("certutil") else {
        let hint = package_hint("libnss3-tools", "nss-tools", "mozilla-nss-tools", "nss");
        for db in dbs {
            let o = Outcome::new(STORE, db.dir.display().to_string());
            report
                .outcomes
                .push(if action == Action::Uninstall && db.spec.is_none() {
                    o.trusted(false, "no database: nothing to remove")
                } else {
                    o.failed(format!("NSS's certutil is not installed: run `{hint}`"))
                });
        }
        return report;
    };
    let certutil = Certutil {
        path: certutil,
        user: opts.nss_user,
    };
    let nick = root.unique_name();
    for db in dbs {
        report
            .outcomes
            .push(one(root, action, &certutil, &db, &nick));
    }
    report
}

fn one(root: &Root, action: Action, certutil: &Certutil, db: &Db, nick: &str) -> Outcome {
    let outcome = Outcome::new(STORE, db.dir.display().to_string());
    let owner = db.owner;
    let Some(spec) = &db.spec else {
        return match action {
            Action::Install => outcome.failed(format!(
                "{owner} profile with no certificate database yet: start {owner} once with it, then run install again"
            )),
            _ => outcome.trusted(false, format!("{owner} profile with no certificate database yet")),
        };
    };
    let found = match lookup(certutil, spec, nick) {
        Ok(f) => f,
        Err(e) => return outcome.failed(e),
    };
    let ours = matches!(&found, Some((der, _)) if der.as_slice() == root.der.as_ref());
    let trusted_now = ours
        && matches!(&found, Some((_, flags)) if flags.split(',').next().is_some_and(|s| s.contains('C')));
    match action {
        Action::Status => outcome.trusted(
            trusted_now,
            match (&found, trusted_now) {
                (_, true) => format!("{owner}: {nick} with trust {TRUST_FLAGS}"),
                (Some((_, flags)), false) if ours => {
                    format!("{owner}: {nick} is there but not trusted for TLS (flags {flags})")
                }
                (Some(_), false) => format!("{owner}: {nick} names another certificate"),
                (None, _) => format!("{owner}: not installed"),
            },
        ),
        Action::Install => {
            if trusted_now {
                return outcome.trusted(true, format!("already installed ({owner}, {nick})"));
            }
            if found.is_some() && !ours {
                return outcome.failed(format!(
                    "{nick} already names another certificate in this database; not replaced"
                ));
            }
            // The certificate goes in on stdin (no -i): certutil may run as
            // the user, who need not be able to read the CA directory, and
            // reopening root's pipe as /dev/stdin is refused to them.
            let mut cmd = certutil.command();
            cmd.args(["-A", "-d", spec, "-t", TRUST_FLAGS, "-n", nick]);
            match run_tool_fed(&mut cmd, Some(&root.der)) {
                Ok(_) => outcome.changed().trusted(
                    true,
                    format!("installed ({owner}, {nick}, trust {TRUST_FLAGS})"),
                ),
                Err(e) => outcome.failed(e),
            }
        }
        Action::Uninstall => {
            if !ours {
                return outcome.trusted(false, format!("was not installed ({owner})"));
            }
            let mut cmd = certutil.command();
            cmd.args(["-D", "-d", spec, "-n", nick]);
            match run_tool(&mut cmd) {
                Ok(_) => outcome
                    .changed()
                    .trusted(false, format!("removed ({owner}, {nick})")),
                Err(e) => outcome.trusted(true, "").failed(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_browser_database_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path();
        let mk = |rel: &str, db: Option<&str>| {
            std::fs::create_dir_all(home.join(rel)).unwrap();
            if let Some(db) = db {
                std::fs::write(home.join(rel).join(db), b"").unwrap();
            }
        };
        mk(".pki/nssdb", Some("cert9.db"));
        mk(".mozilla/firefox/a.default", Some("cert9.db"));
        mk(".mozilla/firefox/b.old", Some("cert8.db"));
        mk(".mozilla/firefox/never-started", None);
        mk(".mozilla/firefox/Crash Reports", None);
        mk(
            "snap/firefox/common/.mozilla/firefox/s.default",
            Some("cert9.db"),
        );
        mk(
            ".var/app/org.mozilla.firefox/.mozilla/firefox/f.default",
            Some("cert9.db"),
        );
        mk("elsewhere/p", Some("cert9.db"));
        std::fs::write(
            home.join(".mozilla/firefox/profiles.ini"),
            format!(
                "[Profile9]\nIsRelative=0\nPath={}\n",
                home.join("elsewhere/p").display()
            ),
        )
        .unwrap();
        let dbs = databases(home);
        let specs: Vec<String> = dbs
            .iter()
            .map(|d| {
                let rel = d.dir.strip_prefix(home).unwrap().display().to_string();
                match &d.spec {
                    Some(s) => format!("{}:{rel}", &s[..3]),
                    None => format!("none:{rel}"),
                }
            })
            .collect();
        assert_eq!(
            specs,
            [
                "sql:.pki/nssdb",
                "sql:elsewhere/p",
                "sql:.mozilla/firefox/a.default",
                "dbm:.mozilla/firefox/b.old",
                "none:.mozilla/firefox/never-started",
                "sql:snap/firefox/common/.mozilla/firefox/s.default",
                "sql:.var/app/org.mozilla.firefox/.mozilla/firefox/f.default",
            ]
        );
    }

    #[test]
    fn profiles_ini_relative_and_absolute() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        std::fs::write(
            base.join("profiles.ini"),
            "[Profile0]\nName=a\nIsRelative=1\nPath=abc.default\n\n[Profile1]\nName=b\nIsRelative=0\nPath=/srv/ff/b\n[General]\nVersion=2\n",
        )
        .unwrap();
        assert_eq!(
            profiles_ini(base),
            [base.join("abc.default"), PathBuf::from("/srv/ff/b")]
        );
    }
}

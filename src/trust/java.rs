//! The JDK's `cacerts`: Java's default truststore.
//!
//! Found from `JAVA_HOME`, else the real path of `java` on PATH, else the
//! usual places; a `JAVA_HOME` that holds no cacerts is a warning, not an
//! abort. minica patches the file itself, with no keytool: the JKS is read
//! as raw entries, the root's trusted-certificate entry (alias
//! [`Root::unique_name`]) is appended or dropped, the entry count and the
//! SHA-1 trailer are rewritten, and every other entry is kept byte for
//! byte. The file is replaced atomically, through any symbolic link
//! (Debian's JDKs link to `/etc/ssl/certs/java/cacerts`), with its mode and
//! owner kept.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};

use super::{Action, Options, Outcome, Report, Root};
use crate::error::{Error, Result};

const STORE: &str = "java";
pub const DEFAULT_PASSWORD: &str = "changeit";
const MAGIC: [u8; 4] = [0xfe, 0xed, 0xfe, 0xed];
const TAG_KEY: u32 = 1;
const TAG_TRUSTED: u32 = 2;
const DIGEST_LEN: usize = 20;

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

/// One entry of a JKS, as raw bytes.
#[derive(Debug, Clone)]
pub struct RawEntry {
    pub alias: String,
    /// The trusted certificate's DER (None for key entries).
    pub cert: Option<Vec<u8>>,
    pub bytes: Vec<u8>,
}

/// A JKS read as raw entries, its integrity checked with the password.
pub fn parse(path: &Path, data: &[u8], password: &str) -> Result<Vec<RawEntry>> {
    let corrupt = || Error::bad_file(path, "is not a valid JKS file (truncated or corrupt)");
    if data.len() < 12 + DIGEST_LEN || data[..4] != MAGIC {
        return Err(corrupt());
    }
    let (body, mac) = data.split_at(data.len() - DIGEST_LEN);
    if trailer(password, body) != mac {
        return Err(Error::bad_file_fix(
            path,
            "wrong password, or the file is corrupt (the JKS integrity check failed)",
            "give cacerts' password with --java-password-file (the JDK's default is changeit)",
        ));
    }
    if body[4..8] != [0, 0, 0, 2] {
        return Err(Error::bad_file(
            path,
            "is a JKS version minica does not know",
        ));
    }
    let count = u32::from_be_bytes(body[8..12].try_into().expect("4 bytes"));
    let mut pos = 12usize;
    let take = |pos: &mut usize, n: usize| -> Result<&[u8]> {
        let end = pos
            .checked_add(n)
            .filter(|e| *e <= body.len())
            .ok_or_else(corrupt)?;
        let s = &body[*pos..end];
        *pos = end;
        Ok(s)
    };
    let u32_at = |pos: &mut usize| -> Result<u32> {
        Ok(u32::from_be_bytes(
            take(pos, 4)?.try_into().expect("4 bytes"),
        ))
    };
    let utf = |pos: &mut usize| -> Result<String> {
        let n = u16::from_be_bytes(take(pos, 2)?.try_into().expect("2 bytes")) as usize;
        Ok(String::from_utf8_lossy(take(pos, n)?).into_owned())
    };
    let cert = |pos: &mut usize| -> Result<Vec<u8>> {
        utf(pos)?;
        let n = u32_at(pos)? as usize;
        Ok(take(pos, n)?.to_vec())
    };
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let start = pos;
        let tag = u32_at(&mut pos)?;
        let alias = utf(&mut pos)?;
        take(&mut pos, 8)?;
        let der = match tag {
            TAG_KEY => {
                let n = u32_at(&mut pos)? as usize;
                take(&mut pos, n)?;
                for _ in 0..u32_at(&mut pos)? {
                    cert(&mut pos)?;
                }
                None
            }
            TAG_TRUSTED => Some(cert(&mut pos)?),
            other => {
                return Err(Error::bad_file(
                    path,
                    format!("holds an entry of unknown kind {other}"),
                ));
            }
        };
        out.push(RawEntry {
            alias,
            cert: der,
            bytes: body[start..pos].to_vec(),
        });
    }
    if pos != body.len() {
        return Err(corrupt());
    }
    Ok(out)
}

/// The JKS integrity trailer: SHA-1(password as UTF-16BE || "Mighty Aphrodite" || body).
fn trailer(password: &str, body: &[u8]) -> Vec<u8> {
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    let pw: Vec<u8> = password.encode_utf16().flat_map(u16::to_be_bytes).collect();
    ctx.update(&pw);
    ctx.update(b"Mighty Aphrodite");
    ctx.update(body);
    ctx.finish().as_ref().to_vec()
}

/// Writes raw entries back as a JKS.
pub fn encode(entries: &[RawEntry], password: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        out.extend_from_slice(&e.bytes);
    }
    let mac = trailer(password, &out);
    out.extend_from_slice(&mac);
    out
}

/// A trusted-certificate entry for `der` under `alias` (ASCII: it is
/// minica's own name).
pub fn trusted_entry(alias: &str, der: &[u8]) -> RawEntry {
    let mut b = Vec::new();
    b.extend_from_slice(&TAG_TRUSTED.to_be_bytes());
    b.extend_from_slice(&(alias.len() as u16).to_be_bytes());
    b.extend_from_slice(alias.as_bytes());
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    b.extend_from_slice(&ms.to_be_bytes());
    b.extend_from_slice(&5u16.to_be_bytes());
    b.extend_from_slice(b"X.509");
    b.extend_from_slice(&(der.len() as u32).to_be_bytes());
    b.extend_from_slice(der);
    RawEntry {
        alias: alias.to_string(),
        cert: Some(der.to_vec()),
        bytes: b,
    }
}

/// Replaces `path` (through symbolic links) with `bytes`, keeping its mode
/// and owner.
fn replace(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let real = std::fs::canonicalize(path).map_err(|e| Error::io("resolve", path, e))?;
    let meta = std::fs::metadata(&real).map_err(|e| Error::io("read", &real, e))?;
    crate::fsx::stage(&real, bytes, meta.mode() & 0o7777)?.commit(true)?;
    if super::is_root() {
        std::os::unix::fs::chown(&real, Some(meta.uid()), Some(meta.gid()))
            .map_err(|e| Error::io("restore the owner of", &real, e))?;
    }
    Ok(real)
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
    let data = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    if !data.starts_with(&MAGIC) {
        return Ok(false);
    }
    let password = opts.java_password();
    let mut entries = parse(&path, &data, password)?;
    let before = entries.len();
    entries.retain(|e| !(e.alias == alias && e.cert.as_deref() == Some(root.der.as_ref())));
    if entries.len() == before {
        return Ok(false);
    }
    replace(&path, &encode(&entries, password))?;
    Ok(true)
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
    let password = opts.java_password();
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => return outcome.failed(Error::io("read", path, e).to_string()),
    };
    if !data.starts_with(&MAGIC) {
        // PKCS#12 cacerts (JDK 18+ upstream builds): not patched yet.
        let alias = root.unique_name();
        let file = root.path.display();
        // Never print a password the user gave; the JDK's default is public.
        let pass = if password == DEFAULT_PASSWORD {
            password
        } else {
            "<password>"
        };
        let store = path.display();
        let cmd = match action {
            Action::Install => format!(
                "keytool -importcert -noprompt -keystore '{store}' -storepass {pass} -alias {alias} -file '{file}'"
            ),
            _ => format!("keytool -delete -keystore '{store}' -storepass {pass} -alias {alias}"),
        };
        return outcome.failed(format!(
            "this cacerts is PKCS#12, which minica does not patch yet; run: {cmd}"
        ));
    }
    let mut entries = match parse(path, &data, password) {
        Ok(e) => e,
        Err(e) => return outcome.failed(e.to_string()),
    };
    let alias = root.unique_name();
    let der = root.der.as_ref();
    let holders: Vec<String> = entries
        .iter()
        .filter(|e| e.cert.as_deref() == Some(der))
        .map(|e| e.alias.clone())
        .collect();
    let ours = entries.iter().any(|e| e.alias == alias);
    let others: Vec<&String> = holders.iter().filter(|a| **a != alias).collect();
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
    match action {
        Action::Status => outcome.trusted(
            !holders.is_empty(),
            if holders.is_empty() {
                "not in cacerts".to_string()
            } else if ours {
                format!("alias {alias}{others_note}")
            } else {
                format!("as {}, an entry minica did not add", holders.join(", "))
            },
        ),
        Action::Install => {
            if ours {
                return outcome.trusted(true, format!("already installed (alias {alias})"));
            }
            entries.push(trusted_entry(&alias, der));
            match replace(path, &encode(&entries, password)) {
                Ok(real) => {
                    let mut o = outcome
                        .changed()
                        .trusted(true, format!("installed (alias {alias}){others_note}"));
                    o.path = real.display().to_string();
                    o
                }
                Err(e) => write_failed(outcome, e, action, opts),
            }
        }
        Action::Uninstall => {
            if !ours {
                return outcome.trusted(
                    !holders.is_empty(),
                    format!("was not installed{others_note}"),
                );
            }
            entries.retain(|e| e.alias != alias);
            match replace(path, &encode(&entries, password)) {
                Ok(real) => {
                    let mut o = outcome.changed().trusted(
                        !others.is_empty(),
                        format!("removed (alias {alias}){others_note}"),
                    );
                    o.path = real.display().to_string();
                    o
                }
                Err(e) => write_failed(outcome.trusted(true, ""), e, action, opts),
            }
        }
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
        let orig = jks::write(None, &[a], "changeit").unwrap().to_vec();
        let p = Path::new("cacerts");
        let mut entries = parse(p, &orig, "changeit").unwrap();
        entries.push(trusted_entry("minica-x", &[0x30, 0x00]));
        let added = encode(&entries, "changeit");
        let back = jks::read(p, &added, "changeit").unwrap();
        assert_eq!(back.trusted.len(), 2);
        assert_eq!(back.trusted[1].alias, "minica-x");
        // The old entry's bytes are kept exactly.
        assert_eq!(added[12..orig.len() - 20], orig[12..orig.len() - 20]);
        entries.retain(|e| e.alias != "minica-x");
        assert_eq!(encode(&entries, "changeit"), orig);
        assert!(parse(p, &orig, "wrong").is_err());
    }
}

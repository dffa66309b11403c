//! The record of every certificate a CA issued: `issued.jsonl` in the CA
//! directory, one JSON object per line.
//!
//! Issuing only ever appends one line (a single O_APPEND write), so the cost
//! of issuing does not grow with the record, and a crash can at worst leave
//! a torn last line, which `read` reports and skips.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fsx;

pub const FILE_NAME: &str = "issued.jsonl";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Serial number, lower-case hex.
    pub serial: String,
    pub names: Vec<String>,
    pub profile: String,
    /// Key type of the leaf's key, when minica made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    pub issued_at: String,
    /// Where the certificate was written, as an absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Every file written with it (key, chain, CA, stores), absolute: what
    /// `list` checks is still there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
    /// The intermediate that signed it (issuers/NAME); absent: the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// A record entry as `minica list --json` shows it (docs/json.md): the
/// record's own fields, names and key type in the shapes every command
/// uses, and what `list` found out about it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed<'a> {
    pub serial: &'a str,
    pub names: Vec<crate::names::Tagged>,
    pub profile: &'a str,
    /// As `--key-type` spells it; null for a CSR's key.
    pub key_type: Option<String>,
    pub not_before: &'a str,
    pub not_after: &'a str,
    pub issued_at: &'a str,
    pub cert: Option<&'a Path>,
    pub files: &'a [PathBuf],
    /// The intermediate that signed it; null: the root.
    pub issuer: Option<&'a str>,
    /// Whole days until notAfter (negative once expired).
    pub days_left: Option<i64>,
    pub files_status: &'a FileStatus,
    pub revoked: Option<&'a Revocation>,
}

impl Entry {
    pub fn listed<'a>(
        &'a self,
        days_left: Option<i64>,
        files_status: &'a FileStatus,
        revoked: Option<&'a Revocation>,
    ) -> Listed<'a> {
        Listed {
            serial: &self.serial,
            names: self
                .names
                .iter()
                .map(|n| crate::names::Tagged::from_text(n))
                .collect(),
            profile: &self.profile,
            key_type: self.key_type.as_deref().map(crate::policy::type_name),
            not_before: &self.not_before,
            not_after: &self.not_after,
            issued_at: &self.issued_at,
            cert: self.cert.as_deref(),
            files: &self.files,
            issuer: self.issuer.as_deref(),
            days_left,
            files_status,
            revoked,
        }
    }
}

pub fn path(ca_dir: &Path) -> PathBuf {
    ca_dir.join(FILE_NAME)
}

/// Appends entries in one write and flushes them to disk. O_APPEND writes
/// of one buffer are not interleaved with other appenders'.
pub fn append_all(ca_dir: &Path, entries: &[Entry]) -> Result<()> {
    append_lines(&path(ca_dir), entries)
}

/// The most record bytes read: about four million certificates.
const MAX_RECORD: u64 = 1 << 30;

/// The revocations of a CA: `revoked.jsonl` beside the record, one line
/// per revoked certificate, what `minica crl` puts in a CRL.
pub const REVOKED_FILE: &str = "revoked.jsonl";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Serial number, lower-case hex.
    pub serial: String,
    /// The intermediate that issued it; absent: the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// RFC 3339, UTC.
    pub revoked_at: String,
    /// An RFC 5280 5.3.1 reason name (keyCompromise, superseded, ...).
    pub reason: String,
}

/// Appends revocations in one write and flushes them to disk.
pub fn append_revocations(ca_dir: &Path, lines: &[Revocation]) -> Result<()> {
    append_lines(&ca_dir.join(REVOKED_FILE), lines)
}

/// Every revocation of the CA in `ca_dir` (unreadable lines are skipped).
pub fn revocations(ca_dir: &Path) -> Result<Vec<Revocation>> {
    let p = ca_dir.join(REVOKED_FILE);
    if p.symlink_metadata().is_err() {
        return Ok(Vec::new());
    }
    let bytes = fsx::read_nofollow(&p, MAX_RECORD)?;
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

fn append_lines<T: Serialize>(p: &Path, lines: &[T]) -> Result<()> {
    let appended = append_lines_unflushed(p, lines)?;
    appended
        .file
        .sync_data()
        .map_err(|e| crate::Error::io("append to", p, e))?;
    if appended.created {
        let dir = fsx::parent_dir(p);
        fsx::sync_dir(dir).map_err(|e| crate::Error::io("flush to disk", dir, e))?;
    }
    Ok(())
}

/// Lines appended to a record file, not flushed yet.
pub struct Appended {
    pub file: std::fs::File,
    /// The file was made by this append: its directory must be flushed too.
    pub created: bool,
}

/// Appends record lines in one write without flushing them, for the caller
/// to flush together with other files.
pub fn append_all_unflushed(ca_dir: &Path, entries: &[Entry]) -> Result<Appended> {
    append_lines_unflushed(&path(ca_dir), entries)
}

/// [`append_revocations`], likewise unflushed.
pub fn append_revocations_unflushed(ca_dir: &Path, lines: &[Revocation]) -> Result<Appended> {
    append_lines_unflushed(&ca_dir.join(REVOKED_FILE), lines)
}

fn append_lines_unflushed<T: Serialize>(p: &Path, lines: &[T]) -> Result<Appended> {
    use std::io::Write;
    let mut buf = String::new();
    for e in lines {
        buf.push_str(&serde_json::to_string(e).expect("record lines always serialize"));
        buf.push('\n');
    }
    let (mut file, created) = fsx::open_append(p, fsx::PUBLIC)?;
    file.write_all(buf.as_bytes())
        .map_err(|e| crate::Error::io("append to", p, e))?;
    Ok(Appended { file, created })
}

/// What became of a recorded certificate's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FileStatus {
    /// Every file is there, and the certificate is this one.
    Present,
    /// Files that are gone (deleted, moved, or never written by a killed
    /// command of an older minica).
    Missing { files: Vec<PathBuf> },
    /// The certificate file now holds another certificate (issued over it
    /// with --force, or replaced by hand).
    Replaced { file: PathBuf, serial: String },
}

impl Entry {
    /// Checks that the files this entry names are there and hold its certificate.
    pub fn file_status(&self) -> FileStatus {
        let mut files: Vec<&Path> = self.files.iter().map(PathBuf::as_path).collect();
        if let Some(c) = &self.cert
            && !files.contains(&c.as_path())
        {
            files.insert(0, c);
        }
        let missing: Vec<PathBuf> = files
            .iter()
            .filter(|f| f.symlink_metadata().is_err())
            .map(|f| f.to_path_buf())
            .collect();
        if !missing.is_empty() {
            return FileStatus::Missing { files: missing };
        }
        if let Some(c) = &self.cert
            && let Some(serial) = serial_in(c)
            && serial != self.serial
        {
            return FileStatus::Replaced {
                file: c.clone(),
                serial,
            };
        }
        FileStatus::Present
    }
}

/// The serial of the first certificate in a PEM file, lower-case hex.
fn serial_in(path: &Path) -> Option<String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use x509_parser::prelude::FromDer;
    let bytes = fsx::read(path).ok()?;
    let der = CertificateDer::pem_slice_iter(&bytes).next()?.ok()?;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).ok()?;
    Some(crate::x509::hex(cert.raw_serial()))
}

/// A line of the record that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLine {
    pub line: usize,
    pub problem: String,
}

/// Reads the whole record. A missing record is an empty one.
pub fn read(ca_dir: &Path) -> Result<(Vec<Entry>, Vec<BadLine>)> {
    let p = path(ca_dir);
    if p.symlink_metadata().is_err() {
        return Ok((Vec::new(), Vec::new()));
    }
    // Not fsx::read: the record is minica's own and may outgrow the size
    // limit on user files (100,000 entries are about 27 MB).
    let bytes = fsx::read_nofollow(&p, MAX_RECORD)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => entries.push(e),
            Err(e) => bad.push(BadLine {
                line: i + 1,
                problem: e.to_string(),
            }),
        }
    }
    Ok((entries, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(serial: &str) -> Entry {
        Entry {
            serial: serial.into(),
            names: vec!["a.test".into()],
            profile: "server".into(),
            key_type: Some("ecdsa-p256".into()),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            issued_at: "2026-01-01T00:00:00Z".into(),
            cert: None,
            files: Vec::new(),
            issuer: None,
        }
    }

    #[test]
    fn appends_and_reads_back_skipping_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        append_all(dir.path(), &[entry("01"), entry("02")]).unwrap();
        // A crash mid-write can leave a torn last line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"serial\":\"0"))
            .unwrap();
        append_all(dir.path(), &[entry("03")]).unwrap();
        let (entries, bad) = read(dir.path()).unwrap();
        let serials: Vec<_> = entries.iter().map(|e| e.serial.as_str()).collect();
        assert_eq!(
            serials,
            ["01", "02", "03"],
            "the entry after a torn line survives"
        );
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
    }
}

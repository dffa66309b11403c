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
}

pub fn path(ca_dir: &Path) -> PathBuf {
    ca_dir.join(FILE_NAME)
}

pub fn append(ca_dir: &Path, entry: &Entry) -> Result<()> {
    let line = serde_json::to_string(entry).expect("record entries always serialize");
    fsx::append_line(&path(ca_dir), &line, fsx::PUBLIC)
}

/// One open handle on the record for many appends (a batch), synced once.
pub struct Appender {
    file: std::sync::Mutex<std::fs::File>,
    path: PathBuf,
}

impl Appender {
    pub fn open(ca_dir: &Path) -> Result<Appender> {
        let path = path(ca_dir);
        let file = fsx::open_append(&path, fsx::PUBLIC)?;
        Ok(Appender {
            file: std::sync::Mutex::new(file),
            path,
        })
    }

    /// Appends one entry; a single write, so lines never interleave.
    pub fn append(&self, entry: &Entry) -> Result<()> {
        use std::io::Write;
        let mut line = serde_json::to_string(entry).expect("record entries always serialize");
        line.push('\n');
        let mut f = self.file.lock().expect("no writer panics");
        f.write_all(line.as_bytes())
            .map_err(|e| crate::Error::io("append to", &self.path, e))
    }

    pub fn finish(self) -> Result<()> {
        let f = self.file.into_inner().expect("no writer panics");
        f.sync_data()
            .map_err(|e| crate::Error::io("append to", &self.path, e))
    }
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
    if !p.exists() {
        return Ok((Vec::new(), Vec::new()));
    }
    // Not fsx::read: the record is minica's own and may outgrow the size
    // limit on user files (100,000 entries are about 27 MB).
    let bytes = std::fs::read(&p).map_err(|e| crate::Error::io("read", &p, e))?;
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
        }
    }

    #[test]
    fn appends_and_reads_back_skipping_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), &entry("01")).unwrap();
        append(dir.path(), &entry("02")).unwrap();
        // A crash mid-write can leave a torn last line.
        std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path()))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"serial\":\"0"))
            .unwrap();
        append(dir.path(), &entry("03")).unwrap();
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

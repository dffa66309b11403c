//! The journal slot: one file per CA directory, `.journal`, rewritten in
//! place by every transaction and flushed with one fdatasync.
//!
//! A journal of its own per transaction cost, on every `issue`, a new inode
//! (created, fsynced, linked, renamed over, its directory fsynced) and at the
//! end an unlink; on a file system mounted with `discard` that unlink frees
//! the journal's block and waits for the device to trim it (perf: 0.3 ms of a
//! 5 ms `issue`, in `ext4_free_blocks` → `blkdev_issue_discard`). Rewriting
//! one file's existing blocks needs neither: fdatasync writes the data, and
//! the inode only when the file grew.
//!
//! Every transaction of a CA runs under the CA's lock, so the slot has one
//! writer at a time. Its layout is a fixed-width header line, then the
//! journal (JSON); what follows the journal is left over from a longer one:
//!
//! ```text
//! minica-journal 1 C 000000001168 <SHA-256 of the JSON, hex>\n{...}
//! ```
//!
//! The state letter is P (prepared), C (committed) or D (done). Marking a
//! journal done rewrites that one byte and is not flushed: a done mark lost
//! to a power cut only makes the next command finish the last transaction
//! again, which finds everything in place. A header or hash that does not
//! match is a write torn by a power cut; that write was never flushed, so no
//! file was renamed after it: it is treated as no journal.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{fsx, platform};

/// The slot's name in the CA directory. In the CA directory itself, not in
/// a directory of its own: a new CA then makes one directory and one
/// directory flush fewer (on this project's ext4 each new inode right after
/// deletions is costly, see the README's "Speed").
pub const NAME: &str = ".journal";

const MAGIC: &str = "minica-journal 1 ";
/// "minica-journal 1 " + state + " " + 12 digits + " " + 64 hex + "\n".
const HEADER_LEN: usize = MAGIC.len() + 1 + 1 + 12 + 1 + 64 + 1;
/// Where the state letter is.
const STATE_AT: u64 = MAGIC.len() as u64;

/// A transaction's state as the slot records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Prepared,
    Committed,
    Done,
}

impl Mark {
    fn letter(self) -> u8 {
        match self {
            Mark::Prepared => b'P',
            Mark::Committed => b'C',
            Mark::Done => b'D',
        }
    }
}

/// The open slot of one CA directory.
pub struct Slot {
    file: File,
    path: PathBuf,
    /// Made by this transaction: its name is not durable until its
    /// directory (and that directory's own entry) is flushed.
    pub created: bool,
}

impl Slot {
    /// Opens the slot in the CA directory `dir`, creating it (mode 0600) if missing.
    pub fn open(dir: &Path) -> Result<Slot> {
        if let Some(slot) = Slot::open_existing(dir)? {
            return Ok(slot);
        }
        let path = dir.join(NAME);
        let mut opts = OpenOptions::new();
        let file = platform::no_follow(platform::set_mode(
            opts.read(true).write(true).create_new(true),
            fsx::PRIVATE,
        ))
        .open(&path)
        .map_err(|e| fsx::nofollow_error(&path, e))?;
        Ok(Slot {
            file,
            path,
            created: true,
        })
    }

    /// Opens the slot in the CA directory `dir` if there is one.
    pub fn open_existing(dir: &Path) -> Result<Option<Slot>> {
        let path = dir.join(NAME);
        let mut opts = OpenOptions::new();
        opts.read(true).write(true);
        match platform::no_follow(&mut opts).open(&path) {
            Ok(file) => Ok(Some(Slot {
                file,
                path,
                created: false,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fsx::nofollow_error(&path, e)),
        }
    }

    /// The slot's file, to flush with others after an unflushed [`Slot::write`].
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `json` as the slot's journal, prepared and not flushed: the
    /// commit only changes its mark ([`Slot::mark_durably`]) and flushes
    /// both together.
    pub fn write(&mut self, json: &[u8]) -> Result<()> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + json.len());
        bytes.extend_from_slice(header(Mark::Prepared, json).as_bytes());
        bytes.extend_from_slice(json);
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.write_all(&bytes))
            .map_err(|e| Error::io("write", &self.path, e))
    }

    /// Changes the state of the journal written last to `mark`, rewriting
    /// only its letter (not flushed): a transaction's journal is the same
    /// bytes prepared and committed, so its commit does not rewrite them.
    pub fn mark(&mut self, mark: Mark) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(STATE_AT))
            .and_then(|_| self.file.write_all(&[mark.letter()]))
            .map_err(|e| Error::io("write", &self.path, e))
    }

    /// [`Slot::mark`], then waits until the slot is on disk.
    pub fn mark_durably(&mut self, mark: Mark) -> Result<()> {
        self.mark(mark)?;
        self.file
            .sync_data()
            .map_err(|e| Error::io("flush to disk", &self.path, e))
    }

    /// Marks the journal done (not flushed: see the module doc).
    pub fn mark_done(&mut self) {
        let _ = self.mark(Mark::Done);
    }

    /// The journal in the slot and its state, unless it is done, torn or
    /// empty. At most `cap` bytes are read.
    pub fn read(&mut self, cap: u64) -> Result<Option<(Mark, Vec<u8>)>> {
        let mut head = [0u8; HEADER_LEN];
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("read", &self.path, e))?;
        match self.file.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(Error::io("read", &self.path, e)),
        }
        let Some((mark, len, hash)) = parse_header(&head) else {
            return Ok(None);
        };
        if mark == Mark::Done || len > cap {
            return Ok(None);
        }
        let mut json = Vec::with_capacity(len as usize);
        (&mut self.file)
            .take(len)
            .read_to_end(&mut json)
            .map_err(|e| Error::io("read", &self.path, e))?;
        if json.len() as u64 != len || hex_sha256(&json) != hash {
            return Ok(None);
        }
        Ok(Some((mark, json)))
    }
}

fn header(mark: Mark, json: &[u8]) -> String {
    format!(
        "{MAGIC}{} {:012} {}\n",
        mark.letter() as char,
        json.len(),
        hex_sha256(json)
    )
}

fn parse_header(head: &[u8; HEADER_LEN]) -> Option<(Mark, u64, String)> {
    let text = std::str::from_utf8(head).ok()?;
    let rest = text.strip_prefix(MAGIC)?.strip_suffix('\n')?;
    let mut parts = rest.split(' ');
    let mark = match parts.next()? {
        "P" => Mark::Prepared,
        "C" => Mark::Committed,
        "D" => Mark::Done,
        _ => return None,
    };
    let len = parts.next()?;
    if len.len() != 12 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hash = parts.next()?;
    if hash.len() != 64 || parts.next().is_some() {
        return None;
    }
    Some((mark, len.parse().ok()?, hash.to_string()))
}

fn hex_sha256(bytes: &[u8]) -> String {
    crate::x509::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> (tempfile::TempDir, Slot) {
        let tmp = tempfile::tempdir().unwrap();
        let s = Slot::open(tmp.path()).unwrap();
        (tmp, s)
    }

    #[test]
    fn a_shorter_journal_over_a_longer_one_reads_back_exactly() {
        let (_t, mut s) = slot();
        assert!(s.created);
        s.write(&[b'x'; 5000]).unwrap();
        s.mark_durably(Mark::Committed).unwrap();
        s.write(b"{\"a\":1}").unwrap();
        assert_eq!(
            s.read(1 << 20).unwrap(),
            Some((Mark::Prepared, b"{\"a\":1}".to_vec()))
        );
        s.mark_done();
        assert_eq!(s.read(1 << 20).unwrap(), None);
    }

    /// A torn write (any prefix of a new journal over an old one, or any
    /// byte changed) is never read as a journal other than the one written.
    #[test]
    fn torn_or_damaged_slots_read_as_nothing() {
        let (_t, mut s) = slot();
        let old = vec![b'o'; 300];
        let new = b"{\"new\":true}".to_vec();
        s.write(&old).unwrap();
        s.mark_durably(Mark::Committed).unwrap();
        let mut full = header(Mark::Committed, &new).into_bytes();
        full.extend_from_slice(&new);
        let mut old_full = header(Mark::Committed, &old).into_bytes();
        old_full.extend_from_slice(&old);
        for cut in 0..full.len() {
            let mut torn = old_full.clone();
            torn[..cut].copy_from_slice(&full[..cut]);
            std::fs::write(s.path(), &torn).unwrap();
            let got = s.read(1 << 20).unwrap();
            assert!(
                got.is_none() || got == Some((Mark::Committed, old.clone())),
                "cut {cut}: {got:?}"
            );
        }
        for i in 0..full.len() {
            let mut bad = full.clone();
            bad[i] ^= 0x01;
            std::fs::write(s.path(), &bad).unwrap();
            let got = s.read(1 << 20).unwrap();
            // Only the state letter may change meaningfully (C→B is no state).
            assert!(got.is_none(), "byte {i}: {got:?}");
        }
    }

    #[test]
    fn a_slot_that_is_a_link_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join(NAME)).unwrap();
        assert!(Slot::open(tmp.path()).is_err());
    }
}

//! One transaction per command: every file a command writes and every line
//! it adds to the record reach the disk all together or not at all, whatever
//! is killed, raced or full.
//!
//! A command first builds its whole plan (the files, the record lines),
//! checks it (existing outputs, `--force`, two outputs that resolve to one
//! file), and only then runs it:
//!
//! 1. **prepare**: the journal, listing every temporary name and
//!    destination, is written to the CA's journal slot (`<ca-dir>/.journal`,
//!    see [`slot`]) as `prepared`;
//! 2. **stage**: each file is written under a hidden temporary name beside
//!    its destination (`.minica-<id>-<n>.tmp`, created exclusively, with its
//!    final mode) and flushed; a file it replaces is hard-linked aside;
//! 3. **commit**: the journal is rewritten as `committed` and flushed; that
//!    flush is the point of no return;
//! 4. **apply**: temporary names are renamed over their destinations; the
//!    new names and the record lines are flushed together; the slot is
//!    marked done.
//!
//! A failure before the commit removes what was staged; a failure while
//! applying puts back what was replaced. After a kill, the next command on
//! the CA (under its lock) finds the journal and finishes the job: a
//! `prepared` one is rolled back, a `committed` one rolled forward. So the
//! record names a certificate only once its files are durable, and a file
//! is never half written, half replaced or left without its siblings.
//!
//! Commands that write without a CA (`csr`, `keystore`) run the same steps
//! without a journal: a kill then can leave hidden temporary files, never a
//! partial or mismatched output.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::aio::Flush;
use crate::error::{Error, Result};
use crate::{fsx, platform, record};

mod slot;
use slot::{Mark, Slot};

/// The directory of journals of their own, `<id>.json`, that versions
/// before the journal slot wrote (still recovered, never written).
pub const LEGACY_JOURNAL_DIR: &str = "journal";

/// The journal slot's name in a CA directory (see [`slot`]).
pub const SLOT_FILE: &str = slot::NAME;

/// The most journal bytes read back: a batch of 10,000 leaves writes ~5 MB.
const MAX_JOURNAL: u64 = 256 * 1024 * 1024;

/// May an output replace an existing file?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Replace {
    /// No: an existing file is an error (exit 3) unless the plan says otherwise.
    Never,
    /// Yes (`--force`, or a file the command owns, such as the CA's own files).
    Allowed,
}

impl Replace {
    pub fn from_force(force: bool) -> Replace {
        if force {
            Replace::Allowed
        } else {
            Replace::Never
        }
    }
}

/// One file of a plan.
pub struct Output {
    pub dest: PathBuf,
    bytes: Zeroizing<Vec<u8>>,
    mode: u32,
    replace: Replace,
    /// Where the file it replaces is kept (init --force keeps the old CA).
    keep_old: Option<PathBuf>,
}

/// Everything a command will change, checked before it changes anything.
pub struct Plan {
    /// The CA directory: where the journal slot and the record are.
    ca_dir: Option<PathBuf>,
    outputs: Vec<Output>,
    record: Vec<record::Entry>,
    revoked: Vec<record::Revocation>,
    /// Files or directories renamed aside (src, dst), before any output.
    moves: Vec<(PathBuf, PathBuf)>,
    durability: fsx::Durability,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    Prepared,
    Committed,
}

#[derive(Debug, Serialize, Deserialize)]
struct Op {
    tmp: PathBuf,
    dest: PathBuf,
    replace: Replace,
    /// The replaced file, hard-linked aside while the transaction runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    old: Option<PathBuf>,
    /// Keep `old` after the commit (it is the user's copy, not ours).
    #[serde(default)]
    keep_old: bool,
    /// Not a write: `tmp` is an existing file or directory renamed to `dest`.
    #[serde(default)]
    moves: bool,
    /// The first 128 bits of the SHA-256 of what is written, hex: how
    /// recovery tells a staged file that reached the disk from one a power
    /// cut lost or tore (the commit is flushed together with the files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    id: String,
    /// In legacy journal files only: a slot's journal is the same bytes
    /// prepared and committed, its state the slot's mark (serialized once:
    /// 2.6 MB for a 2,000-leaf batch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<State>,
    ops: Vec<Op>,
    /// Record lines, appended once the files are in place.
    #[serde(default)]
    record: Vec<record::Entry>,
    /// Revocation lines, likewise.
    #[serde(default)]
    revoked: Vec<record::Revocation>,
    /// The CA directory whose record gets the lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record_dir: Option<PathBuf>,
    /// Directories this transaction created (removed again on rollback if empty).
    #[serde(default)]
    created_dirs: Vec<PathBuf>,
}

impl Plan {
    /// A plan journaled in the CA directory `ca_dir`, whose record it may append to.
    pub fn in_ca(ca_dir: &Path) -> Plan {
        Plan {
            ca_dir: Some(ca_dir.to_path_buf()),
            outputs: Vec::new(),
            record: Vec::new(),
            revoked: Vec::new(),
            moves: Vec::new(),
            durability: fsx::Durability::Now,
        }
    }

    /// A plan for a command with no CA (no journal, no record).
    pub fn standalone() -> Plan {
        Plan {
            ca_dir: None,
            outputs: Vec::new(),
            record: Vec::new(),
            revoked: Vec::new(),
            moves: Vec::new(),
            durability: fsx::Durability::Now,
        }
    }

    /// Flush once per file system at the end instead of once per file (batches).
    pub fn deferred_durability(mut self) -> Plan {
        self.durability = fsx::Durability::Deferred;
        self
    }

    pub fn write(&mut self, dest: &Path, bytes: impl Into<Vec<u8>>, mode: u32, replace: Replace) {
        self.outputs.push(Output {
            dest: dest.to_path_buf(),
            bytes: Zeroizing::new(bytes.into()),
            mode,
            replace,
            keep_old: None,
        });
    }

    /// Writes `dest`, keeping the file it replaces (if any) at `keep_old`.
    pub fn replace_keeping(
        &mut self,
        dest: &Path,
        bytes: impl Into<Vec<u8>>,
        mode: u32,
        keep_old: &Path,
    ) {
        self.outputs.push(Output {
            dest: dest.to_path_buf(),
            bytes: Zeroizing::new(bytes.into()),
            mode,
            replace: Replace::Allowed,
            keep_old: Some(keep_old.to_path_buf()),
        });
    }

    pub fn record(&mut self, entry: record::Entry) {
        self.record.push(entry);
    }

    /// Appends a line to the CA's revocations.
    pub fn revoke(&mut self, r: record::Revocation) {
        self.revoked.push(r);
    }

    /// Renames `src` (a file or a directory) to `dst` when the plan
    /// commits, before any output is put in place; undone on failure.
    pub fn move_aside(&mut self, src: &Path, dst: &Path) {
        self.moves.push((src.to_path_buf(), dst.to_path_buf()));
    }

    pub fn outputs(&self) -> impl Iterator<Item = &Path> {
        self.outputs.iter().map(|o| o.dest.as_path())
    }

    /// Runs the plan: check, prepare, stage, commit, apply (see the module doc).
    pub fn run(self) -> Result<()> {
        // Nothing to write: nothing touched, not even the journal slot (an
        // `apply` with nothing to do leaves the CA byte for byte).
        if self.outputs.is_empty()
            && self.record.is_empty()
            && self.revoked.is_empty()
            && self.moves.is_empty()
        {
            return Ok(());
        }
        let targets: Vec<(PathBuf, Replace)> = self
            .outputs
            .iter()
            .map(|o| (o.dest.clone(), o.replace))
            .collect();
        let resolved = check_outputs_with(&mut Resolver::default(), &targets)?;
        let id = new_id()?;
        let record_dir = self.ca_dir.clone();
        if !(self.record.is_empty() && self.revoked.is_empty()) && record_dir.is_none() {
            return Err(Error::Crypto(
                "internal error: record lines need a CA directory".into(),
            ));
        }

        let mut journal = Journal {
            id: id.clone(),
            state: None,
            ops: Vec::with_capacity(self.outputs.len() + self.moves.len()),
            record: self.record,
            revoked: self.revoked,
            record_dir,
            created_dirs: Vec::new(),
        };
        // Directories first, deepest last, so a rollback removes them in
        // reverse; each directory once, however many outputs it holds. A
        // directory the check found is not created; one it found missing
        // is, with each missing ancestor (looked at once: a batch's
        // thousands of new directories share one parent).
        let mut listed = std::collections::HashSet::new();
        let mut ancestors = std::collections::HashMap::new();
        for r in &resolved {
            let dir = fsx::parent_dir(&r.path);
            if r.dir_exists || listed.contains(dir) {
                continue;
            }
            let mut missing = vec![dir];
            let mut up = dir.parent();
            while let Some(p) = up {
                let exists = p.as_os_str().is_empty()
                    || listed.contains(p)
                    || *ancestors
                        .entry(p)
                        .or_insert_with(|| p.symlink_metadata().is_ok());
                if exists {
                    break;
                }
                missing.push(p);
                up = p.parent();
            }
            for d in missing.into_iter().rev() {
                listed.insert(d);
                journal.created_dirs.push(d.to_path_buf());
            }
        }
        for (src, dst) in &self.moves {
            journal.ops.push(Op {
                tmp: src.clone(),
                dest: dst.clone(),
                replace: Replace::Never,
                old: None,
                keep_old: false,
                moves: true,
                digest: None,
            });
        }
        for (n, (o, r)) in self.outputs.iter().zip(&resolved).enumerate() {
            let (dest, exists) = (&r.path, r.exists);
            let dir = fsx::parent_dir(dest);
            let tmp = dir.join(format!(".minica-{id}-{n}.tmp"));
            let (old, keep_old) = match (&o.keep_old, exists) {
                (Some(k), true) => (Some(k.clone()), true),
                (None, true) if o.replace == Replace::Allowed => {
                    (Some(dir.join(format!(".minica-{id}-{n}.old"))), false)
                }
                _ => (None, false),
            };
            journal.ops.push(Op {
                tmp,
                dest: dest.clone(),
                replace: o.replace,
                old,
                keep_old,
                moves: false,
                digest: Some(digest(&o.bytes)),
            });
        }

        let json = journal_bytes(&journal);
        let mut slot = match &self.ca_dir {
            Some(dir) => {
                let mut slot = Slot::open(dir)?;
                slot.write(&json)?;
                Some(slot)
            }
            None => None,
        };
        // A slot made now is named durably with the staged files' flushes.
        // Absolute, as the staged files' directories are: a new CA's
        // directory is theirs too, and `new_names` flushes each directory
        // once only if it is spelled one way (strace: `init` flushed
        // "out" and "/tmp/w/out", one fsync too many).
        let new_slot_dir = slot.as_ref().filter(|s| s.created).map(|s| {
            let dir = fsx::parent_dir(s.path());
            std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
        });
        let commit = slot.as_mut();
        let committed = stage(
            &journal,
            &self.outputs,
            self.durability,
            new_slot_dir.as_deref(),
            commit,
        );
        let done = |slot: &mut Option<Slot>| {
            if let Some(s) = slot {
                s.mark_done();
            }
        };
        if let Err(e) = committed {
            rollback(&journal);
            done(&mut slot);
            return Err(e);
        }
        if let Err(e) = apply(&journal, self.durability) {
            // Nothing that was there before is lost: put it back.
            undo(&journal);
            rollback(&journal);
            done(&mut slot);
            return Err(e);
        }
        finish(&journal);
        done(&mut slot);
        Ok(())
    }
}

/// What an [`Op`] records of its bytes.
fn digest(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    crate::x509::hex(&d.as_ref()[..16])
}

fn journal_bytes(journal: &Journal) -> Vec<u8> {
    serde_json::to_vec(journal).expect("journals serialize")
}

/// Checks a plan's outputs before anything is signed or written: no two
/// resolve to the same file, and none exists unless it may be replaced.
/// Returns the resolved paths.
pub fn check_outputs(targets: &[(PathBuf, Replace)]) -> Result<Vec<PathBuf>> {
    Ok(check_outputs_with(&mut Resolver::default(), targets)?
        .into_iter()
        .map(|r| r.path)
        .collect())
}

/// An output as [`check_outputs_with`] found it.
#[derive(Debug)]
struct ResolvedOutput {
    path: PathBuf,
    /// The file exists now (the plan keeps it aside).
    exists: bool,
    /// Its directory exists now (else the plan creates it).
    dir_exists: bool,
}

/// [`check_outputs`], also saying which outputs and directories exist now,
/// through one resolver whose directories it reuses.
fn check_outputs_with(
    resolver: &mut Resolver,
    targets: &[(PathBuf, Replace)],
) -> Result<Vec<ResolvedOutput>> {
    // A batch's thousands of outputs: each core resolves a share with a
    // resolver of its own (timed: each check of a 2,000-leaf batch's 8,000
    // outputs took 13.5 of its 240 ms on one core).
    let resolved = if fsx::worth_splitting(targets.len()) {
        let mut all = Vec::with_capacity(targets.len());
        for part in fsx::map_chunked(targets, |chunk| {
            resolve_outputs(&mut Resolver::default(), chunk)
        })? {
            all.extend(part?);
        }
        all
    } else {
        resolve_outputs(resolver, targets)?
    };
    let mut seen = std::collections::HashMap::with_capacity(targets.len());
    for (r, (path, _)) in resolved.iter().zip(targets) {
        if let Some(first) = seen.insert(r.path.as_path(), path) {
            return Err(Error::usage(format!(
                "{} and {} are the same file: two outputs of one command cannot share a path; give them different names or directories",
                first.display(),
                path.display()
            )));
        }
    }
    Ok(resolved)
}

/// Each target resolved and checked against what exists (see
/// [`check_outputs_with`]), in order; the first error.
fn resolve_outputs(
    resolver: &mut Resolver,
    targets: &[(PathBuf, Replace)],
) -> Result<Vec<ResolvedOutput>> {
    let mut resolved = Vec::with_capacity(targets.len());
    for (path, replace) in targets {
        let abs = std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))?;
        let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
            return Err(Error::bad_file(path, "is not a file name"));
        };
        let (dir, dir_exists) = resolver.dir_and_existence(parent)?;
        let r = dir.join(name);
        // Nothing exists in a directory that does not (a batch's new ones).
        let meta = if dir_exists {
            r.symlink_metadata().ok()
        } else {
            None
        };
        let exists = match meta {
            Some(m) if m.is_dir() => {
                return Err(Error::bad_file(path, "is a directory, not a file"));
            }
            Some(_) if *replace == Replace::Never => {
                return Err(Error::Exists {
                    path: path.clone(),
                    hint: None,
                });
            }
            Some(_) => true,
            None => false,
        };
        resolved.push(ResolvedOutput {
            path: r,
            exists,
            dir_exists,
        });
    }
    Ok(resolved)
}

/// The absolute path of `path` with `.`, `..` and symbolic links of its
/// existing directories resolved (the file itself is not followed: outputs
/// replace a link, never write through it).
pub fn resolve(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path).map_err(|e| Error::io("resolve", path, e))?;
    let Some(name) = abs.file_name().map(|n| n.to_os_string()) else {
        return Err(Error::bad_file(path, "is not a file name"));
    };
    let parent = abs.parent().unwrap_or(Path::new("/"));
    Ok(resolve_dir(parent)?.join(name))
}

/// Resolves a directory that may not exist yet: its existing names are
/// resolved (links followed) and the rest is normalized by name.
pub fn resolve_dir(dir: &Path) -> Result<PathBuf> {
    Resolver::default().dir(dir)
}

/// Resolves directories, remembering every one it has resolved: a batch
/// writes into thousands of sibling directories, and each then costs one
/// lstat instead of a walk (and a canonicalize) from the root. Profiled:
/// that walk was ~40% of a 2,000-leaf batch's CPU (statx and readlink).
/// Valid while the directories do not change, as within one check.
#[derive(Default)]
pub struct Resolver {
    /// Absolute path as given (`..` and links unresolved) to its resolution,
    /// and whether that may exist (false: it was missing when looked at).
    known: std::collections::HashMap<PathBuf, (PathBuf, bool)>,
    /// The working directory, asked once (relative paths are joined to it).
    cwd: Option<PathBuf>,
}

impl Resolver {
    pub fn dir(&mut self, dir: &Path) -> Result<PathBuf> {
        Ok(self.dir_and_existence(dir)?.0)
    }

    /// The resolved directory, and false when it is known not to exist.
    fn dir_and_existence(&mut self, dir: &Path) -> Result<(PathBuf, bool)> {
        let abs = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            if self.cwd.is_none() {
                self.cwd = Some(std::env::current_dir().map_err(|e| Error::io("resolve", dir, e))?);
            }
            self.cwd.as_deref().unwrap_or(Path::new("/")).join(dir)
        };
        // The nearest ancestor already resolved; the names below it are walked.
        let (mut given, (mut out, mut exists)) = abs
            .ancestors()
            .find_map(|a| self.known.get(a).map(|r| (a.to_path_buf(), r.clone())))
            .unwrap_or_else(|| (PathBuf::from("/"), (PathBuf::from("/"), true)));
        let rest = abs.strip_prefix(&given).unwrap_or(&abs).to_path_buf();
        for c in rest.components() {
            given.push(c);
            match c {
                Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
                // `out` is always resolved, so its parent is the real one; a
                // name that does not exist yet will be made a real directory.
                Component::ParentDir => {
                    out.pop();
                    // The parent of a resolved directory that exists does.
                    exists = exists || out.symlink_metadata().is_ok();
                }
                Component::Normal(n) => {
                    out.push(n);
                    // Checked at every step, not only up to the first missing
                    // name: `missing/../link` reaches an existing link again.
                    // Only a link needs resolving: a real name under a
                    // resolved directory is resolved.
                    // Under a missing directory nothing exists to look at.
                    let meta = if exists {
                        out.symlink_metadata().ok()
                    } else {
                        None
                    };
                    exists = meta.is_some();
                    let is_link = meta.is_some_and(|m| m.file_type().is_symlink());
                    if is_link {
                        match fs::canonicalize(&out) {
                            Ok(c) => out = c,
                            // A link to nowhere: where it leads cannot be
                            // checked, and writing through it would create
                            // its target, wherever that is.
                            Err(_) => {
                                return Err(Error::bad_file_fix(
                                    &out,
                                    "is a symbolic link to a path that does not exist",
                                    "remove the link or create its target",
                                ));
                            }
                        }
                    }
                }
            }
            self.known.insert(given.clone(), (out.clone(), exists));
        }
        Ok((out, exists))
    }

    /// Is `base/rel` (resolved) inside `base` (resolved)? For manifests
    /// that must not write outside their base directory.
    pub fn confine(&mut self, base: &Path, rel: &Path, what: &str) -> Result<PathBuf> {
        let base_r = self.dir(base)?;
        let joined = self.dir(&base.join(rel))?;
        if !joined.starts_with(&base_r) {
            return Err(Error::usage(format!(
                "{what} {} leads outside {} (to {}); give a relative path inside it",
                rel.display(),
                base.display(),
                joined.display()
            )));
        }
        Ok(joined)
    }
}

/// Is `path` (resolved) inside `base` (resolved)? For manifests that must
/// not write outside their base directory.
pub fn confine(base: &Path, rel: &Path, what: &str) -> Result<PathBuf> {
    Resolver::default().confine(base, rel, what)
}

fn new_id() -> Result<String> {
    let mut b = [0u8; 6];
    crate::rng::fill(&mut b)?;
    Ok(crate::x509::hex(&b))
}

/// Writes every temporary file and links aside every file to be replaced,
/// flushes them, and commits: marks the journal prepared in `slot`
/// committed. `new_slot` is the journal directory when its slot was just
/// made: that directory and its own entry are flushed with the files.
fn stage(
    journal: &Journal,
    outputs: &[Output],
    durability: fsx::Durability,
    new_slot: Option<&Path>,
    mut commit: Option<&mut Slot>,
) -> Result<()> {
    for op in journal.ops.iter().filter(|o| o.moves) {
        if op.tmp.symlink_metadata().is_ok() {
            fsx::create_private_dir(fsx::parent_dir(&op.dest))?;
        }
    }
    for d in &journal.created_dirs {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => return Err(Error::io("create directory", d, e)),
        }
    }
    let write_one = |(op, o): (&Op, &Output)| -> Result<File> {
        let mut opts = OpenOptions::new();
        let mut f = platform::no_follow(platform::set_mode(
            opts.write(true).create_new(true),
            o.mode,
        ))
        .open(&op.tmp)
        .map_err(|e| Error::io("write", &op.dest, e))?;
        f.write_all(&o.bytes)
            .map_err(|e| Error::io("write", &op.dest, e))?;
        if let Some(old) = &op.old {
            if op.keep_old {
                fsx::create_private_dir(fsx::parent_dir(old))?;
            }
            fs::hard_link(&op.dest, old).map_err(|e| Error::io("keep a copy of", &op.dest, e))?;
        }
        Ok(f)
    };
    let pairs: Vec<(&Op, &Output)> = journal
        .ops
        .iter()
        .filter(|o| !o.moves)
        .zip(outputs)
        .collect();
    if durability == fsx::Durability::Deferred {
        // A batch's thousands of files are written on every core, and
        // flushed by one syncfs per file system.
        // Off Linux there is no syncfs: each file is flushed here instead.
        fsx::for_each_chunked(&pairs, |p| {
            let f = write_one(*p)?;
            durability
                .sync_file(&f)
                .map_err(|e| Error::io("write", &p.0.dest, e))
        })?;
        sync_dirs_as_given(new_names(journal, new_slot).into_iter(), durability)?;
        return commit.map_or(Ok(()), |slot| slot.mark_durably(Mark::Committed));
    }
    // Every name first (a few small writes), then every flush at once: the
    // files', their directories' (the temporary names) and the committed
    // journal's. None waits for another: if a power cut leaves the commit
    // on disk but a file not, recovery sees that file's digest differ and
    // undoes the transaction, which had renamed nothing yet (renames start
    // once all these flushes are done). Measured with strace: one wait for
    // the disk instead of one per file, and none more for the commit.
    let files: Vec<(File, &Op)> = pairs
        .iter()
        .map(|p| write_one(*p).map(|f| (f, p.0)))
        .collect::<Result<_>>()?;
    let dirs = fsx::open_dirs_to_flush(new_names(journal, new_slot))?;
    // Written now, flushed with the rest.
    if let Some(slot) = &mut commit {
        slot.mark(Mark::Committed)?;
    }
    let mut flushes: Vec<(&File, Flush, &Path)> = files
        .iter()
        .map(|(f, op)| (f, Flush::All, op.dest.as_path()))
        .collect();
    flushes.extend(dirs.iter().map(|(f, d)| (f, Flush::All, *d)));
    if let Some(slot) = &commit {
        flushes.push((slot.file(), Flush::Data, slot.path()));
    }
    fsx::flush_together(&flushes)
}

/// The directories holding a name this transaction made before its commit:
/// the temporary files', each directory it created (its entry is in its
/// parent), and for a slot just made, the CA directory and the one that
/// holds it (a new CA's directory is new too).
fn new_names<'a>(journal: &'a Journal, new_slot: Option<&'a Path>) -> Vec<&'a Path> {
    let mut dirs: Vec<&Path> = journal
        .ops
        .iter()
        .filter(|o| !o.moves)
        .map(|o| fsx::parent_dir(&o.tmp))
        .chain(journal.created_dirs.iter().map(|d| fsx::parent_dir(d)))
        .collect();
    if let Some(ca) = new_slot {
        dirs.extend([ca, fsx::parent_dir(ca)]);
    }
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Flushes the directories of `files`.
fn sync_dirs<'a>(files: impl Iterator<Item = &'a Path>, durability: fsx::Durability) -> Result<()> {
    sync_dirs_as_given(files.map(fsx::parent_dir), durability)
}

/// Flushes `dirs`, each once.
fn sync_dirs_as_given<'a>(
    dirs: impl Iterator<Item = &'a Path>,
    durability: fsx::Durability,
) -> Result<()> {
    let mut dirs: Vec<&Path> = dirs.collect();
    dirs.sort();
    dirs.dedup();
    match durability {
        fsx::Durability::Now => {
            for d in dirs {
                fsx::sync_dir(d).map_err(|e| Error::io("flush to disk", d, e))?;
            }
            Ok(())
        }
        fsx::Durability::Deferred => fsx::sync_filesystems(dirs),
    }
}

/// Renames every staged file into place, then appends the record lines.
fn apply(journal: &Journal, durability: fsx::Durability) -> Result<()> {
    let rename = |op: &Op| -> Result<()> {
        if op.moves && op.tmp.symlink_metadata().is_err() {
            return Ok(()); // nothing to move aside
        }
        let r = match op.replace {
            Replace::Allowed => fs::rename(&op.tmp, &op.dest),
            Replace::Never => fsx::rename_noreplace(&op.tmp, &op.dest),
        };
        r.map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => Error::Exists {
                path: op.dest.clone(),
                hint: Some("another program created it meanwhile".into()),
            },
            _ => Error::io("write", &op.dest, e),
        })
    };
    // What is moved aside goes first (init --force); the writes are
    // independent of each other, and `undo` puts back any subset.
    let (moves, writes): (Vec<&Op>, Vec<&Op>) = journal.ops.iter().partition(|o| o.moves);
    moves.into_iter().try_for_each(rename)?;
    fsx::for_each_chunked(&writes, |op| rename(op))?;
    if durability == fsx::Durability::Deferred {
        sync_dirs(journal.ops.iter().map(|o| o.dest.as_path()), durability)?;
        if let Some(dir) = &journal.record_dir {
            if !journal.record.is_empty() {
                record::append_all(dir, &journal.record)?;
            }
            if !journal.revoked.is_empty() {
                record::append_revocations(dir, &journal.revoked)?;
            }
        }
        return Ok(());
    }
    // The new names and the record lines are flushed together: the
    // committed journal already holds both, so a power cut between the
    // two is finished by the next command whichever reached the disk.
    let mut dirs: Vec<&Path> = journal
        .ops
        .iter()
        .map(|o| fsx::parent_dir(&o.dest))
        .collect();
    let mut open = Vec::new();
    if let Some(ca) = &journal.record_dir {
        let mut appended = Vec::new();
        if !journal.record.is_empty() {
            let a = record::append_all_unflushed(ca, &journal.record)?;
            appended.push((a, record::path(ca)));
        }
        if !journal.revoked.is_empty() {
            let a = record::append_revocations_unflushed(ca, &journal.revoked)?;
            appended.push((a, ca.join(record::REVOKED_FILE)));
        }
        for (a, path) in appended {
            if a.created {
                dirs.push(ca);
            }
            open.push((a.file, Flush::Data, path));
        }
    }
    dirs.sort();
    dirs.dedup();
    let dirs = fsx::open_dirs_to_flush(dirs)?;
    let mut flushes: Vec<(&File, Flush, &Path)> = open
        .iter()
        .map(|(f, how, p)| (f, *how, p.as_path()))
        .collect();
    flushes.extend(dirs.iter().map(|(f, d)| (f, Flush::All, *d)));
    fsx::flush_together(&flushes)
}

/// Puts back what `apply` replaced or created (before the record was written).
fn undo(journal: &Journal) {
    for op in journal.ops.iter().rev() {
        if op.tmp.symlink_metadata().is_ok() {
            continue; // never renamed
        }
        if op.moves {
            if op.dest.symlink_metadata().is_ok() {
                let _ = fs::rename(&op.dest, &op.tmp);
            }
            continue;
        }
        let _ = match &op.old {
            Some(old) => fs::rename(old, &op.dest),
            None => fs::remove_file(&op.dest),
        };
    }
}

/// Removes everything a transaction that did not commit left behind.
fn rollback(journal: &Journal) {
    for op in journal.ops.iter().filter(|o| !o.moves) {
        let _ = fs::remove_file(&op.tmp);
        if let Some(old) = &op.old {
            let _ = fs::remove_file(old);
        }
    }
    for d in journal.created_dirs.iter().rev() {
        let _ = fs::remove_dir(d); // only if empty
    }
    for op in &journal.ops {
        if op.keep_old
            && let Some(old) = &op.old
        {
            let _ = fs::remove_dir(fsx::parent_dir(old));
        }
        if op.moves {
            let _ = fs::remove_dir(fsx::parent_dir(&op.dest));
        }
    }
}

/// After a commit: drop the copies of replaced files that are not kept.
fn finish(journal: &Journal) {
    for op in &journal.ops {
        if let Some(old) = &op.old
            && !op.keep_old
        {
            let _ = fs::remove_file(old);
        }
    }
}

/// What recovery did with one interrupted transaction.
#[derive(Debug, Clone, Serialize)]
pub struct Recovered {
    pub id: String,
    pub rolled_forward: bool,
    pub files: Vec<PathBuf>,
}

/// Finishes or undoes every transaction a killed command left in the CA
/// directory `ca_dir`. Call with the CA's lock held.
pub fn recover(ca_dir: &Path) -> Result<Vec<Recovered>> {
    let mut done = recover_legacy(ca_dir)?;
    if let Some(mut s) = Slot::open_existing(ca_dir)?
        && let Some((mark, bytes)) = s.read(MAX_JOURNAL)?
    {
        let journal = parse_journal(s.path(), &bytes)?;
        let recovered = finish_or_undo(&journal, mark == Mark::Committed)?;
        // Flushed: a command that found the slot unfinished finishes it once.
        s.mark_durably(Mark::Done)?;
        done.push(recovered);
    }
    Ok(done)
}

/// Finishes a committed transaction whose files all reached the disk;
/// undoes any other.
fn finish_or_undo(journal: &Journal, committed: bool) -> Result<Recovered> {
    let forward = committed && reached_the_disk(journal);
    if forward {
        roll_forward(journal)?;
    } else {
        rollback(journal);
    }
    Ok(Recovered {
        id: journal.id.clone(),
        rolled_forward: forward,
        files: journal.ops.iter().map(|o| o.dest.clone()).collect(),
    })
}

/// Journals of their own, `journal/<id>.json`, that versions before the
/// slot left: finished the same way.
fn recover_legacy(ca_dir: &Path) -> Result<Vec<Recovered>> {
    let dir = ca_dir.join(LEGACY_JOURNAL_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &dir, e)),
    };
    let mut done = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read", &dir, e))?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            // Half of a journal rewrite (fsx names a replacement beside the
            // old one before renaming it over): the old journal, still in
            // place, decides. Journals are written under the lock we hold,
            // so nothing else is writing this one.
            let _ = fs::remove_file(&path);
            continue;
        }
        let bytes = fsx::read_nofollow(&path, MAX_JOURNAL)?;
        let journal = parse_journal(&path, &bytes)?;
        let recovered = finish_or_undo(&journal, journal.state == Some(State::Committed))?;
        let _ = fs::remove_file(&path);
        done.push(recovered);
    }
    if !done.is_empty() {
        fsx::sync_dir(&dir).map_err(|e| Error::io("flush to disk", &dir, e))?;
    }
    Ok(done)
}

/// Did every file a committed journal names reach the disk before the
/// power went? The commit is flushed together with the files, so it may be
/// on disk when a file is not; then nothing was renamed yet (renames start
/// once every flush is done) and the transaction is undone instead. A file
/// is there if its temporary name holds its bytes (by digest), or if it
/// was renamed: its temporary name is gone and its destination is there
/// and is not still the file it replaces. Journals without digests (before
/// the slot) were committed only after their files were on disk.
fn reached_the_disk(journal: &Journal) -> bool {
    journal.ops.iter().filter(|o| !o.moves).all(|op| {
        let Some(want) = &op.digest else {
            return true;
        };
        match fsx::read_nofollow(&op.tmp, MAX_JOURNAL) {
            Ok(bytes) => digest(&bytes) == *want,
            Err(_) if op.tmp.symlink_metadata().is_ok() => false,
            Err(_) if op.dest.symlink_metadata().is_err() => false,
            Err(_) => !op
                .old
                .as_ref()
                .is_some_and(|old| same_file::is_same_file(&op.dest, old).unwrap_or(false)),
        }
    })
}

fn parse_journal(path: &Path, bytes: &[u8]) -> Result<Journal> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::bad_file_fix(
            path,
            format!("an interrupted command's journal cannot be read ({e})"),
            "look at the files it names, then remove it",
        )
    })
}

fn roll_forward(journal: &Journal) -> Result<()> {
    for op in &journal.ops {
        if op.moves {
            if op.tmp.symlink_metadata().is_ok() && op.dest.symlink_metadata().is_err() {
                fs::rename(&op.tmp, &op.dest).map_err(|e| Error::io("move aside", &op.tmp, e))?;
            }
            continue;
        }
        if op.tmp.symlink_metadata().is_ok() {
            let r = match op.replace {
                Replace::Allowed => fs::rename(&op.tmp, &op.dest),
                Replace::Never => fsx::rename_noreplace(&op.tmp, &op.dest),
            };
            if let Err(e) = r {
                // The destination was taken meanwhile: what the user put there wins.
                let _ = fs::remove_file(&op.tmp);
                if e.kind() != io::ErrorKind::AlreadyExists {
                    return Err(Error::io("finish writing", &op.dest, e));
                }
            }
        }
    }
    sync_dirs(
        journal.ops.iter().map(|o| o.dest.as_path()),
        fsx::Durability::Now,
    )
    .or_else(|e| match e {
        // An output directory the user removed since: nothing to sync.
        Error::Io { .. } => Ok(()),
        e => Err(e),
    })?;
    if let Some(dir) = &journal.record_dir
        && !journal.record.is_empty()
    {
        let (present, _) = record::read(dir)?;
        let known: std::collections::HashSet<&str> =
            present.iter().map(|e| e.serial.as_str()).collect();
        let missing: Vec<record::Entry> = journal
            .record
            .iter()
            .filter(|e| !known.contains(e.serial.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            record::append_all(dir, &missing)?;
        }
    }
    if let Some(dir) = &journal.record_dir
        && !journal.revoked.is_empty()
    {
        let present = record::revocations(dir)?;
        let missing: Vec<record::Revocation> = journal
            .revoked
            .iter()
            .filter(|r| !present.iter().any(|p| p.serial == r.serial))
            .cloned()
            .collect();
        if !missing.is_empty() {
            record::append_revocations(dir, &missing)?;
        }
    }
    finish(journal);
    Ok(())
}

/// Opens `path` for reading without following a symbolic link.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    platform::no_follow(OpenOptions::new().read(true)).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal of `ops` in the slot of the CA directory `ca`, as a kill
    /// leaves it in state `mark`.
    fn write_slot(ca: &Path, mark: Mark, ops: Vec<Op>) {
        let j = Journal {
            id: "t".into(),
            state: None,
            ops,
            record: Vec::new(),
            revoked: Vec::new(),
            record_dir: None,
            created_dirs: Vec::new(),
        };
        let mut slot = Slot::open(ca).unwrap();
        slot.write(&journal_bytes(&j)).unwrap();
        slot.mark_durably(mark).unwrap();
    }

    /// A journal of its own, as versions before the slot wrote them.
    fn write_journal(path: &Path, journal: &Journal) -> Result<()> {
        fsx::stage(path, &journal_bytes(journal), fsx::PRIVATE)?.commit(true)
    }

    /// Whatever path a manifest names, `confine` returns a path inside the
    /// base or refuses it: random mixes of names, `.`, `..`, absolute
    /// paths and links inside the base that lead out of it.
    #[test]
    fn confine_never_leads_outside_the_base() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        fs::create_dir_all(base.join("a/b")).unwrap();
        fs::create_dir_all(tmp.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("outside"), base.join("out-link")).unwrap();
        std::os::unix::fs::symlink("../..", base.join("a/up-link")).unwrap();
        std::os::unix::fs::symlink("b", base.join("a/in-link")).unwrap();
        let parts = [
            "a", "b", ".", "..", "out-link", "up-link", "in-link", "x", "/", "/tmp",
        ];
        let mut seed = 0x1234_5678_u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let base_r = fs::canonicalize(&base).unwrap();
        for _ in 0..5000 {
            let len = 1 + next(6);
            let mut rel = PathBuf::new();
            for _ in 0..len {
                rel.push(parts[next(parts.len())]);
            }
            if let Ok(p) = confine(&base, &rel, "out") {
                assert!(
                    p.starts_with(&base_r),
                    "{} -> {}",
                    rel.display(),
                    p.display()
                );
                // And where the path really leads, once created, agrees.
                if let Ok(real) = fs::canonicalize(&p) {
                    assert!(
                        real.starts_with(&base_r),
                        "{} -> {}",
                        rel.display(),
                        real.display()
                    );
                }
            }
        }
    }

    /// A resolver that remembers what it resolved (as a batch uses one)
    /// answers as a fresh one does, in any order of paths: through links,
    /// `..` out of missing directories, and names that do not exist.
    #[test]
    fn a_remembering_resolver_agrees_with_a_fresh_one() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        fs::create_dir_all(base.join("a/b")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), base.join("up")).unwrap();
        std::os::unix::fs::symlink("b", base.join("a/in")).unwrap();
        std::os::unix::fs::symlink("nowhere", base.join("dangling")).unwrap();
        let parts = ["a", "b", "..", "up", "in", "new", "dangling", "."];
        let mut seed = 0x9e37_79b9_u64;
        let mut shared = Resolver::default();
        for _ in 0..3000 {
            let mut p = base.clone();
            for _ in 0..1 + (seed % 5) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                p.push(parts[(seed >> 33) as usize % parts.len()]);
            }
            let fresh = Resolver::default().dir_and_existence(&p);
            let remembered = shared.dir_and_existence(&p);
            match (fresh, remembered) {
                (Ok(f), Ok(r)) => assert_eq!(f, r, "{}", p.display()),
                (Err(_), Err(_)) => {}
                (f, r) => panic!("{}: {:?} vs {:?}", p.display(), f.is_ok(), r.is_ok()),
            }
        }
    }

    /// Thousands of outputs are checked on every core, with the answers of
    /// one resolver: the same resolved paths and existence, and the same
    /// refusals (a file that exists, two outputs that are one file, even
    /// when they fall in different cores' shares).
    #[test]
    fn a_parallel_check_answers_as_a_serial_one() {
        let tmp = tempfile::tempdir().unwrap();
        let w = tmp.path();
        fs::create_dir_all(w.join("d7")).unwrap();
        fs::write(w.join("d7/f"), b"x").unwrap();
        std::os::unix::fs::symlink(w.join("d7"), w.join("link")).unwrap();
        let mut targets: Vec<(PathBuf, Replace)> = (0..2000)
            .map(|i| (w.join(format!("d{i}/f")), Replace::Allowed))
            .collect();
        targets.push((w.join("link/g"), Replace::Never));
        if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
            assert!(fsx::worth_splitting(targets.len()), "checked on one core");
        }
        let parallel = check_outputs_with(&mut Resolver::default(), &targets).unwrap();
        let serial = resolve_outputs(&mut Resolver::default(), &targets).unwrap();
        assert_eq!(parallel.len(), serial.len());
        for (p, s) in parallel.iter().zip(&serial) {
            assert_eq!(
                (&p.path, p.exists, p.dir_exists),
                (&s.path, s.exists, s.dir_exists)
            );
        }
        assert!(parallel[7].exists && parallel[7].dir_exists);
        assert!(!parallel[8].dir_exists);
        assert_eq!(
            parallel[2000].path,
            fs::canonicalize(w.join("d7")).unwrap().join("g")
        );

        let mut existing = targets.clone();
        existing[1999] = (w.join("d7/f"), Replace::Never);
        let e = check_outputs_with(&mut Resolver::default(), &existing).unwrap_err();
        assert!(matches!(e, Error::Exists { .. }), "{e}");

        let mut twice = targets.clone();
        twice[1900] = (w.join("link/../d7/../d3/f"), Replace::Allowed);
        let e = check_outputs_with(&mut Resolver::default(), &twice)
            .unwrap_err()
            .to_string();
        assert!(e.contains("are the same file"), "{e}");
    }

    /// The directories a plan creates come from its check (a directory
    /// found missing is made with every missing ancestor, each once), also
    /// through `..` under a missing name; a failed plan removes them all
    /// and a successful one leaves the files where their paths say.
    #[test]
    fn missing_directories_are_made_once_each_and_removed_on_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca");
        fs::create_dir(&ca).unwrap();
        let w = tmp.path();
        let dests = [
            w.join("a/b/c/1.pem"),
            w.join("a/b/d/2.pem"),
            w.join("a/b/c/3.pem"),
            w.join("x/y/../4.pem"),
        ];
        let plan_of = |extra: Option<&Path>| {
            let mut plan = Plan::in_ca(&ca);
            for d in &dests {
                plan.write(d, b"k".to_vec(), fsx::PUBLIC, Replace::Never);
            }
            if let Some(e) = extra {
                plan.write(e, b"k".to_vec(), fsx::PUBLIC, Replace::Never);
            }
            plan
        };
        // A last output that cannot be staged: its parent is a file.
        fs::write(w.join("file"), b"x").unwrap();
        assert!(plan_of(Some(&w.join("file/5.pem"))).run().is_err());
        for d in ["a", "x"] {
            assert!(!w.join(d).exists(), "{d} was left after the failure");
        }
        plan_of(None).run().unwrap();
        for f in ["a/b/c/1.pem", "a/b/d/2.pem", "a/b/c/3.pem", "x/4.pem"] {
            assert_eq!(fs::read(w.join(f)).unwrap(), b"k", "{f}");
        }
        assert!(!w.join("x/y").exists(), "x/y/.. needs no x/y");
    }

    #[test]
    fn a_plan_is_all_or_nothing_when_one_output_cannot_be_written() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca");
        fs::create_dir(&ca).unwrap();
        let out = tmp.path().join("out");
        let mut plan = Plan::in_ca(&ca);
        plan.write(
            &out.join("a.pem"),
            b"a".to_vec(),
            fsx::PUBLIC,
            Replace::Never,
        );
        // A destination whose parent is a file: staging it fails.
        fs::write(tmp.path().join("file"), b"x").unwrap();
        plan.write(
            &tmp.path().join("file/b.pem"),
            b"b".to_vec(),
            fsx::PUBLIC,
            Replace::Never,
        );
        assert!(plan.run().is_err());
        assert!(!out.exists(), "the directory made for a.pem was left");
        let names: Vec<_> = fs::read_dir(&ca)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, [SLOT_FILE], "something left in the CA directory");
        let mut s = Slot::open(&ca).unwrap();
        assert_eq!(s.read(MAX_JOURNAL).unwrap(), None, "slot not marked done");
    }

    /// A name is durable once the directory holding it is flushed: an
    /// output directory made by the transaction lives in its parent, and a
    /// new slot in the CA directory, which may itself be new (`init`) and
    /// lives in its parent.
    #[test]
    fn every_directory_holding_a_new_name_is_flushed() {
        let op = |tmp: &str| Op {
            tmp: PathBuf::from(tmp),
            dest: PathBuf::from("unused"),
            replace: Replace::Never,
            old: None,
            keep_old: false,
            moves: false,
            digest: None,
        };
        let j = Journal {
            id: "n".into(),
            state: None,
            ops: vec![op("/w/a/b/.t0"), op("/w/a/b/.t1"), op("/x/.t2")],
            record: Vec::new(),
            revoked: Vec::new(),
            record_dir: None,
            created_dirs: vec![PathBuf::from("/w/a"), PathBuf::from("/w/a/b")],
        };
        let names = |slot| {
            new_names(&j, slot)
                .iter()
                .map(|p| p.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(None), ["/w", "/w/a", "/w/a/b", "/x"]);
        assert_eq!(
            names(Some(Path::new("/cas/ca"))),
            ["/cas", "/cas/ca", "/w", "/w/a", "/w/a/b", "/x"]
        );
    }

    /// The slot as a kill leaves it: committed (after the flush that is
    /// the point of no return) is finished, prepared is undone, and either
    /// is marked done so the next command does not do it again.
    #[test]
    fn recovery_finishes_a_committed_slot_and_undoes_a_prepared_one() {
        for mark in [Mark::Committed, Mark::Prepared] {
            let tmp = tempfile::tempdir().unwrap();
            let ca = tmp.path().join("ca");
            fs::create_dir_all(&ca).unwrap();
            let op = Op {
                tmp: tmp.path().join(".minica-s-0.tmp"),
                dest: tmp.path().join("f0"),
                replace: Replace::Never,
                old: None,
                keep_old: false,
                moves: false,
                digest: Some(digest(b"new")),
            };
            fs::write(&op.tmp, "new").unwrap();
            write_slot(&ca, mark, vec![op]);
            let done = recover(&ca).unwrap();
            assert_eq!(done.len(), 1);
            assert_eq!(done[0].rolled_forward, mark == Mark::Committed);
            assert_eq!(
                tmp.path().join("f0").exists(),
                mark == Mark::Committed,
                "{mark:?}"
            );
            assert!(!tmp.path().join(".minica-s-0.tmp").exists());
            assert!(recover(&ca).unwrap().is_empty(), "{mark:?} done twice");
        }
    }

    /// The commit is flushed together with the files, so a power cut can
    /// leave it on disk while a file is not. Whatever state each file is
    /// in, a committed slot is finished only if every file is whole, and
    /// undone otherwise (nothing was renamed before all were whole).
    #[test]
    fn a_committed_slot_whose_files_did_not_all_reach_the_disk_is_undone() {
        // Each file: what its temporary name holds (None: gone), what its
        // destination holds (None: nothing), and whether it replaces a file
        // still at the destination.
        type Case = (Option<&'static str>, Option<&'static str>, bool);
        let cases: [(&str, [Case; 2], bool); 7] = [
            (
                "whole",
                [(Some("a"), None, false), (Some("b"), None, false)],
                true,
            ),
            (
                "torn",
                [(Some("a"), None, false), (Some("b-torn"), None, false)],
                false,
            ),
            (
                "empty",
                [(Some("a"), None, false), (Some(""), None, false)],
                false,
            ),
            (
                "lost",
                [(Some("a"), None, false), (None, None, false)],
                false,
            ),
            (
                "renamed",
                [(None, Some("a"), false), (None, Some("b"), false)],
                true,
            ),
            (
                "half renamed",
                [(None, Some("a"), false), (Some("b"), None, false)],
                true,
            ),
            (
                "lost over an old file",
                [(Some("a"), None, false), (None, Some("old"), true)],
                false,
            ),
        ];
        for (what, files, forward) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let ca = tmp.path().join("ca");
            fs::create_dir_all(&ca).unwrap();
            let ops: Vec<Op> = files
                .iter()
                .zip(["a", "b"])
                .enumerate()
                .map(|(n, ((t, d, replaces), content))| {
                    let op = Op {
                        tmp: tmp.path().join(format!(".minica-x-{n}.tmp")),
                        dest: tmp.path().join(format!("f{n}")),
                        replace: if *replaces {
                            Replace::Allowed
                        } else {
                            Replace::Never
                        },
                        old: replaces.then(|| tmp.path().join(format!(".minica-x-{n}.old"))),
                        keep_old: false,
                        moves: false,
                        digest: Some(digest(content.as_bytes())),
                    };
                    if let Some(t) = t {
                        fs::write(&op.tmp, t).unwrap();
                    }
                    if let Some(d) = d {
                        fs::write(&op.dest, d).unwrap();
                    }
                    if let Some(old) = &op.old {
                        fs::hard_link(&op.dest, old).unwrap();
                    }
                    op
                })
                .collect();
            write_slot(&ca, Mark::Committed, ops);
            let done = recover(&ca).unwrap();
            assert_eq!(done[0].rolled_forward, forward, "{what}");
            for (n, ((_, d, _), content)) in files.iter().zip(["a", "b"]).enumerate() {
                let dest = fs::read_to_string(tmp.path().join(format!("f{n}"))).ok();
                let expected = if forward {
                    Some(content.to_string())
                } else {
                    d.map(str::to_string) // undone: what was there stays
                };
                assert_eq!(dest, expected, "{what}: f{n}");
                assert!(
                    !tmp.path().join(format!(".minica-x-{n}.tmp")).exists(),
                    "{what}: temporary file left"
                );
            }
        }
    }

    #[test]
    fn recovery_rolls_a_committed_journal_forward_and_a_prepared_one_back() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca");
        let jdir = ca.join(LEGACY_JOURNAL_DIR);
        fs::create_dir_all(&jdir).unwrap();
        let op = |n: u32| Op {
            tmp: tmp.path().join(format!(".minica-t-{n}.tmp")),
            dest: tmp.path().join(format!("f{n}")),
            replace: Replace::Never,
            old: None,
            keep_old: false,
            moves: false,
            digest: None,
        };
        for (state, name) in [(State::Committed, "c"), (State::Prepared, "p")] {
            let (a, b) = (
                op(if name == "c" { 1 } else { 3 }),
                op(if name == "c" { 2 } else { 4 }),
            );
            fs::write(&a.tmp, name).unwrap();
            fs::write(&b.tmp, name).unwrap();
            let j = Journal {
                id: name.into(),
                state: Some(state),
                ops: vec![a, b],
                record: Vec::new(),
                revoked: Vec::new(),
                record_dir: None,
                created_dirs: Vec::new(),
            };
            write_journal(&jdir.join(format!("{name}.json")), &j).unwrap();
        }
        let done = recover(&ca).unwrap();
        assert_eq!(done.len(), 2);
        assert_eq!(fs::read_to_string(tmp.path().join("f1")).unwrap(), "c");
        assert_eq!(fs::read_to_string(tmp.path().join("f2")).unwrap(), "c");
        assert!(!tmp.path().join("f3").exists() && !tmp.path().join("f4").exists());
        let left: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")),
            "{left:?}"
        );
        assert_eq!(fs::read_dir(&jdir).unwrap().count(), 0);
    }
}

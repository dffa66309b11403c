//! Atomic, permission-safe file writes.
//!
//! Every file is written unnamed (O_TMPFILE; a hidden temporary name where
//! the file system lacks it) in its final directory, flushed to disk, and
//! only then given its real name, so a crash or a kill never leaves half a
//! file under the real name. Files are created with their final
//! mode (keys 0600) rather than chmod-ed afterwards, so a secret is never
//! readable by others, not even for an instant.
//!
//! The unnamed file, renameat2 and syncfs are Linux's; elsewhere files are
//! staged under a hidden name and given theirs by tempfile's no-clobber
//! persist (src/platform.rs), and each file is flushed as it is written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::platform;

/// Mode for private keys and other secrets.
pub const PRIVATE: u32 = 0o600;
/// Mode for certificates and other public files (the umask still applies).
pub const PUBLIC: u32 = 0o644;

/// Creates `dir` (and missing parents) with mode 0700 from the start.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    create_dir_with_mode(dir, 0o700)
}

/// Creates `dir` (and missing parents) with the default mode.
pub fn create_dir(dir: &Path) -> Result<()> {
    create_dir_with_mode(dir, 0o755)
}

fn create_dir_with_mode(dir: &Path, mode: u32) -> Result<()> {
    // DirBuilder fails on "": the current directory always exists.
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    match platform::create_dir_all(dir, mode) {
        Ok(()) if dir.is_dir() => Ok(()),
        Ok(()) => Err(Error::bad_file(dir, "exists but is not a directory")),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists || dir.is_file() => {
            Err(Error::bad_file(dir, "exists but is not a directory"))
        }
        Err(e) => Err(Error::io("create directory", dir, e)),
    }
}

/// A file written but not yet given its real name. Dropped without being
/// committed, it leaves nothing behind.
pub struct Staged {
    body: Body,
    dest: PathBuf,
}

enum Body {
    /// An unnamed file (O_TMPFILE): if the process dies, it vanishes with
    /// it, so not even a temporary name is left on disk.
    #[cfg(target_os = "linux")]
    Anonymous(File),
    /// A hidden temporary name beside the destination, for file systems
    /// (and systems) without O_TMPFILE; removed on drop.
    Named(Option<PathBuf>),
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn temp_name(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dest.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Writes `contents` to a temporary file beside `dest`, with `mode`, and
/// flushes it to disk.
pub fn stage(dest: &Path, contents: &[u8], mode: u32) -> Result<Staged> {
    stage_with(dest, contents, mode, Durability::Now)
}

/// When written data must reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync each file before it gets its name, and its directory after.
    Now,
    /// Leave it to one `sync_filesystems` at the end (batches): a killed
    /// process still never leaves a partial file, but a power cut before
    /// that sync may lose the batch's files.
    Deferred,
}

impl Durability {
    /// Flushes a just-written file now unless a later `sync_filesystems`
    /// will. Only Linux has syncfs; elsewhere every file is flushed here.
    pub fn sync_file(self, f: &File) -> io::Result<()> {
        match self {
            Durability::Deferred if cfg!(target_os = "linux") => Ok(()),
            _ => f.sync_all(),
        }
    }
}

/// The directory a path is in, "." for a bare file name.
pub fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Linking an O_TMPFILE file goes through /proc/self/fd (linkat with
/// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH).
#[cfg(target_os = "linux")]
fn proc_fd_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

/// An unnamed file in `dest`'s directory, where the system and the file
/// system offer one (Linux's O_TMPFILE).
#[cfg(target_os = "linux")]
fn open_unnamed(dest: &Path, mode: u32) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if !proc_fd_available() {
        return None;
    }
    let mut o = OpenOptions::new();
    platform::set_mode(o.write(true), mode)
        .custom_flags(libc::O_TMPFILE)
        .open(parent_dir(dest))
        .ok()
}

fn stage_with(dest: &Path, contents: &[u8], mode: u32, durability: Durability) -> Result<Staged> {
    #[cfg(target_os = "linux")]
    if let Some(f) = open_unnamed(dest, mode) {
        let clone = f.try_clone().map_err(|e| Error::io("write", dest, e))?;
        return fill(clone, Body::Anonymous(f), dest, contents, durability);
    }
    stage_named(dest, contents, mode, durability)
}

/// Stages under a hidden temporary name beside `dest`.
fn stage_named(dest: &Path, contents: &[u8], mode: u32, durability: Durability) -> Result<Staged> {
    let tmp = temp_name(dest);
    let mut o = OpenOptions::new();
    let f = platform::set_mode(o.write(true).create_new(true), mode)
        .open(&tmp)
        .map_err(|e| Error::io("write", dest, e))?;
    fill(f, Body::Named(Some(tmp)), dest, contents, durability)
}

fn fill(
    mut f: File,
    body: Body,
    dest: &Path,
    contents: &[u8],
    durability: Durability,
) -> Result<Staged> {
    let staged = Staged {
        body,
        dest: dest.to_path_buf(),
    };
    f.write_all(contents)
        .and_then(|()| durability.sync_file(&f))
        .map_err(|e| Error::io("write", dest, e))?;
    Ok(staged)
}

impl Staged {
    /// Gives the file its real name and makes the rename durable. Without
    /// `overwrite`, an existing file is never replaced: the link or rename
    /// fails atomically instead (no check-then-act race).
    pub fn commit(self, overwrite: bool) -> Result<()> {
        commit_all(vec![self], overwrite)
    }

    fn rename(mut self, overwrite: bool) -> Result<()> {
        let result = match &mut self.body {
            #[cfg(target_os = "linux")]
            Body::Anonymous(f) => {
                let proc_path = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
                match link_follow(&proc_path, &self.dest) {
                    // Replacing: name it beside the destination, then rename
                    // over it atomically. Only this path can ever leave a
                    // (whole) temporary file behind, if killed in between.
                    Err(e) if overwrite && e.kind() == io::ErrorKind::AlreadyExists => {
                        let tmp = temp_name(&self.dest);
                        link_follow(&proc_path, &tmp).and_then(|()| {
                            fs::rename(&tmp, &self.dest).inspect_err(|_| {
                                let _ = fs::remove_file(&tmp);
                            })
                        })
                    }
                    other => other,
                }
            }
            Body::Named(tmp) => {
                let tmp = tmp.take().expect("staged file committed twice");
                let r = if overwrite {
                    fs::rename(&tmp, &self.dest)
                } else {
                    // File systems without RENAME_NOREPLACE: a hard link is
                    // just as atomic about never replacing the destination.
                    rename_noreplace(&tmp, &self.dest).or_else(|e| match e.kind() {
                        io::ErrorKind::AlreadyExists => Err(e),
                        _ => fs::hard_link(&tmp, &self.dest).and_then(|()| fs::remove_file(&tmp)),
                    })
                };
                if r.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                r
            }
        };
        result.map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                Error::Exists {
                    path: self.dest.clone(),
                    hint: None,
                }
            } else {
                Error::io("write", &self.dest, e)
            }
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Body::Named(Some(tmp)) = &self.body {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// linkat(2) following the /proc/self/fd symlink to the unnamed file;
/// fails with AlreadyExists rather than replacing.
#[cfg(target_os = "linux")]
fn link_follow(from: &Path, to: &Path) -> io::Result<()> {
    let from = cstr(from)?;
    let to = cstr(to)?;
    // SAFETY: both paths are NUL-terminated C strings that outlive the call.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(target_os = "linux")]
fn cstr(p: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

/// rename(2) that fails with AlreadyExists instead of replacing
/// (renameat2 RENAME_NOREPLACE, Linux 3.15+).
#[cfg(target_os = "linux")]
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let from = cstr(from)?;
    let to = cstr(to)?;
    // SAFETY: both paths are NUL-terminated C strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub use crate::platform::rename_noreplace;

pub use crate::platform::is_root;

/// Locks the file at `path` itself, for a read-modify-replace of a file
/// that is not ours to put a lock file beside (the JDK's cacerts). The
/// file is replaced by rename, so once the lock is granted the path must
/// still name the locked file; if another process replaced it meanwhile,
/// the lock is taken again on the new one.
pub fn lock_in_place(path: &Path) -> Result<File> {
    loop {
        let f = File::open(path).map_err(|e| Error::io("open", path, e))?;
        f.lock().map_err(|e| Error::io("lock", path, e))?;
        if platform::is_same_file(&f, path).map_err(|e| Error::io("read", path, e))? {
            return Ok(f);
        }
    }
}

/// Makes renames durable: the directory entries themselves must reach the disk.
/// Windows cannot open a directory as a file to flush it; NTFS journals
/// its entries itself.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(windows) {
        return Ok(());
    }
    File::open(dir)?.sync_all()
}

/// Each of `dirs` opened to be flushed (its entries made durable), with
/// its path; none where directories are not flushed (Windows: see
/// [`sync_dir`]).
pub fn open_dirs_to_flush<'a>(
    dirs: impl IntoIterator<Item = &'a Path>,
) -> Result<Vec<(File, &'a Path)>> {
    if cfg!(windows) {
        return Ok(Vec::new());
    }
    dirs.into_iter()
        .map(|d| {
            File::open(d)
                .map(|f| (f, d))
                .map_err(|e| Error::io("flush to disk", d, e))
        })
        .collect()
}

/// Flushes every file and waits for all: on ext4 with little else waiting
/// to be written, by one syncfs(2) per file system (see [`whole_fs`]); else
/// every file at once through io_uring where it works (no thread per flush,
/// see src/aio.rs), else on a thread each. Each file comes with the path
/// its error names. The first error is returned.
pub fn flush_together(files: &[(&File, crate::aio::Flush, &Path)]) -> Result<()> {
    // One file: flushed here, without setting up a ring (init's last round).
    if let [(f, how, path)] = files {
        return how.on(f).map_err(|e| Error::io("flush to disk", path, e));
    }
    #[cfg(target_os = "linux")]
    if let Some(done) = whole_fs::flush(files) {
        return done;
    }
    flush_together_by(files, true)
}

/// One syncfs(2) per file system instead of a flush per file, where that is
/// as durable and cheaper.
///
/// Why: a transaction's commit round flushes about seven files and
/// directories (an issue's four new files, their directory and its parent,
/// the journal), and ext4 writes each one's data and inode block apart while
/// the device takes them nearly one at a time: 0.75 ms here, where one
/// syncfs writing the same took 0.40 ms (1.4 against 3.1 ms on ext4 with a
/// journal, on a loop device). syncfs writes everything on the file system
/// that is waiting to be written, the files' data, their inodes and the
/// directories' entries included: a superset of each flush, so nothing a
/// flush protected (a key, the journal, the record) is left unflushed.
///
/// But it writes other programs' data too, so it is used only when little
/// is waiting system-wide (`Dirty` + `Writeback` in /proc/meminfo at most
/// [`MAX_DIRTY_KIB`]); else a command could wait for someone's large copy.
/// Only on ext4 (the file system measured; syncfs costs differ elsewhere:
/// btrfs commits a whole transaction) and on Linux 5.8 or later, where
/// syncfs reports a failed write-back (before, it returned 0 and the error
/// was lost, which fsync never loses). The file syncfs is called on for a
/// file system is the first of the list there: opened before its data was
/// written, so an error since is reported to it.
#[cfg(target_os = "linux")]
mod whole_fs {
    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use crate::error::{Error, Result};

    /// The most data waiting to be written, system-wide, for a syncfs.
    pub const MAX_DIRTY_KIB: u64 = 1024;

    /// ext2/3/4's `f_type`.
    const EXT4_SUPER_MAGIC: i64 = 0xEF53;

    /// Flushes `files` by syncfs, or None to say it did nothing and the
    /// caller flushes them one by one.
    pub fn flush(files: &[(&File, crate::aio::Flush, &Path)]) -> Option<Result<()>> {
        if !syncfs_reports_errors() || !little_waiting() {
            return None;
        }
        sync_each_fs(files)
    }

    /// One syncfs per file system of `files`, or None (nothing done) if
    /// one of them is not ext4.
    pub fn sync_each_fs(files: &[(&File, crate::aio::Flush, &Path)]) -> Option<Result<()>> {
        let mut devices: Vec<(u64, &File, &Path)> = Vec::new();
        for (f, _, path) in files {
            let dev = device_if_ext4(f)?;
            if !devices.iter().any(|(d, _, _)| *d == dev) {
                devices.push((dev, f, path));
            }
        }
        for (_, f, path) in devices {
            // SAFETY: syncfs on a descriptor `f` keeps open for the call.
            if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
                let e = std::io::Error::last_os_error();
                return match e.raw_os_error() {
                    // Refused, not failed (a seccomp filter): the caller
                    // flushes each file instead.
                    Some(libc::ENOSYS | libc::EPERM | libc::EACCES) => None,
                    _ => Some(Err(Error::io("flush to disk", path, e))),
                };
            }
        }
        Some(Ok(()))
    }

    /// The file system `f` is on, if it is ext4.
    pub fn device_if_ext4(f: &File) -> Option<u64> {
        // SAFETY: fstat/fstatfs fill the zeroed structs given; `f` is open.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            let mut sfs: libc::statfs = std::mem::zeroed();
            if libc::fstat(f.as_raw_fd(), &mut st) != 0
                || libc::fstatfs(f.as_raw_fd(), &mut sfs) != 0
            {
                return None;
            }
            (sfs.f_type as i64 == EXT4_SUPER_MAGIC).then_some(st.st_dev)
        }
    }

    fn little_waiting() -> bool {
        std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| waiting_kib(&m))
            .is_some_and(|kib| kib <= MAX_DIRTY_KIB)
    }

    /// `Dirty` + `Writeback` from /proc/meminfo, in KiB.
    pub fn waiting_kib(meminfo: &str) -> Option<u64> {
        let field = |name: &str| -> Option<u64> {
            let line = meminfo.lines().find(|l| l.starts_with(name))?;
            line[name.len()..]
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        };
        Some(field("Dirty:")? + field("Writeback:")?)
    }

    /// Asked once per process: a transaction flushes twice.
    fn syncfs_reports_errors() -> bool {
        static REPORTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *REPORTS.get_or_init(|| {
            // SAFETY: uname fills the zeroed struct given.
            let release = unsafe {
                let mut u: libc::utsname = std::mem::zeroed();
                if libc::uname(&mut u) != 0 {
                    return false;
                }
                std::ffi::CStr::from_ptr(u.release.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            };
            at_least(&release, (5, 8))
        })
    }

    /// Is a kernel release ("6.1.0-26-amd64") at least `want`?
    pub fn at_least(release: &str, want: (u32, u32)) -> bool {
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major = parts.next().and_then(|p| p.parse().ok());
        let minor = parts.next().and_then(|p| p.parse().ok());
        matches!((major, minor), (Some(a), Some(b)) if (a, b) >= want)
    }
}

/// [`flush_together`], through io_uring only if `uring` (tests run both ways).
fn flush_together_by(files: &[(&File, crate::aio::Flush, &Path)], uring: bool) -> Result<()> {
    use crate::aio::Flush;
    let pairs: Vec<(&File, Flush)> = files.iter().map(|(f, how, _)| (*f, *how)).collect();
    match uring.then(|| crate::aio::flush_all(&pairs)).flatten() {
        Some(results) => results
            .into_iter()
            .zip(files)
            .try_for_each(|(r, (_, _, path))| r.map_err(|e| Error::io("flush to disk", path, e))),
        None => for_each_parallel(files, true, |(f, how, path)| {
            how.on(f).map_err(|e| Error::io("flush to disk", path, e))
        }),
    }
}

/// Runs `f` on every item, the items split into one run per core: for
/// thousands of small files (a batch), where a thread per item would cost
/// more than it saves. The first error is returned.
pub fn for_each_chunked<T: Sync>(items: &[T], f: impl Fn(&T) -> Result<()> + Sync) -> Result<()> {
    // Length first: available_parallelism reads the cgroup's CPU quota
    // (three files under /proc and /sys, perf: 1% of an issue's time).
    if items.len() < 16 {
        return items.iter().try_for_each(&f);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return items.iter().try_for_each(&f);
    }
    let chunks: Vec<&[T]> = items.chunks(items.len().div_ceil(cores)).collect();
    for_each_parallel(&chunks, true, |chunk| chunk.iter().try_for_each(&f))
}

/// Are this many items worth splitting across cores for [`map_chunked`]?
/// Thousands of small jobs (a batch's output paths), on two cores or more.
pub fn worth_splitting(items: usize) -> bool {
    // Length first: available_parallelism reads the cgroup's CPU quota.
    items >= 1024 && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// `f` on each core's share of `items`, in order: one share per core when
/// [`worth_splitting`], else one share of all. The shares run as
/// [`for_each_parallel`] runs items: the first on this thread, and any
/// whose thread cannot be started (a pids limit) on this thread too.
pub fn map_chunked<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> R + Sync) -> Result<Vec<R>> {
    if !worth_splitting(items.len()) {
        return Ok(vec![f(items)]);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shares: Vec<&[T]> = items.chunks(items.len().div_ceil(cores)).collect();
    map_parallel(&shares, true, |share| Ok(f(share)))
}

/// [`for_each_parallel`] keeping each item's answer, in the items' order.
pub fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    parallel: bool,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let slots: Vec<std::sync::Mutex<Option<R>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let indexed: Vec<usize> = (0..items.len()).collect();
    for_each_parallel(&indexed, parallel, |&i| {
        let r = f(&items[i])?;
        *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
        Ok(())
    })?;
    Ok(slots
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect())
}

/// Runs `f` on every item, on threads when `parallel` and there are several,
/// and returns the first error. A thread that cannot be started (a pids
/// limit) is not an error: its item runs on this thread instead.
pub fn for_each_parallel<T: Sync>(
    items: &[T],
    parallel: bool,
    f: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    if !parallel || items.len() < 2 {
        return items.iter().try_for_each(&f);
    }
    // The first item runs on this thread, which would otherwise only wait:
    // a thread costs ~0.1 ms to start and end here (clone3, its stack's
    // mmap and madvise), as much as the fsync it would overlap.
    let (mine, rest) = items.split_first().expect("two items or more");
    std::thread::scope(|scope| {
        let f = &f;
        let mut inline = vec![mine];
        let mut handles = Vec::new();
        for item in rest {
            match std::thread::Builder::new().spawn_scoped(scope, move || f(item)) {
                Ok(h) => handles.push(h),
                Err(_) => inline.push(item),
            }
        }
        let mut first = inline.into_iter().try_for_each(f);
        for h in handles {
            let r = h.join().unwrap_or_else(|_| {
                Err(Error::Crypto(
                    "internal error: a writer thread failed".into(),
                ))
            });
            if first.is_ok() {
                first = r;
            }
        }
        first
    })
}

/// Fails with [`Error::Exists`] on the first of `paths` that exists, unless `force`.
pub fn refuse_existing<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
    force: bool,
    hint: Option<&str>,
) -> Result<()> {
    if force {
        return Ok(());
    }
    for p in paths {
        if p.symlink_metadata().is_ok() {
            return Err(Error::Exists {
                path: p.to_path_buf(),
                hint: hint.map(str::to_string),
            });
        }
    }
    Ok(())
}

/// Writes a set of files all-or-nothing as far as the file system allows:
/// every file is staged first; only when all are on disk are they renamed,
/// and each directory is synced once at the end.
pub fn write_all(files: &[(PathBuf, Vec<u8>, u32)], force: bool) -> Result<()> {
    write_all_with(files, force, Durability::Now)
}

pub fn write_all_with(
    files: &[(PathBuf, Vec<u8>, u32)],
    force: bool,
    durability: Durability,
) -> Result<()> {
    refuse_existing(files.iter().map(|(p, _, _)| p.as_path()), force, None)?;
    let staged = stage_all(files, durability)?;
    match durability {
        Durability::Now => commit_all(staged, force),
        Durability::Deferred => staged.into_iter().try_for_each(|s| s.rename(force)),
    }
}

/// Stages every file. Each fsync waits ~0.3 ms for the journal; run
/// concurrently, ext4 (jbd2) commits them together, so four files cost
/// about one wait.
pub fn stage_all(files: &[(PathBuf, Vec<u8>, u32)], durability: Durability) -> Result<Vec<Staged>> {
    map_parallel(
        files,
        durability == Durability::Now,
        |(path, contents, mode)| stage_with(path, contents, *mode, durability),
    )
}

/// Flushes everything written to the file systems holding `paths`, one
/// syncfs(2) per file system: what a batch does instead of thousands of
/// fsyncs.
#[cfg(target_os = "linux")]
pub fn sync_filesystems<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut devices = Vec::new();
    let mut opened = std::collections::HashSet::new();
    for path in paths {
        if !opened.insert(path) {
            continue;
        }
        // A stat, not an open, per path: a batch names thousands of
        // directories on one file system, and only the first is opened.
        let dev = fs::metadata(path)
            .map_err(|e| Error::io("open", path, e))?
            .dev();
        if devices.contains(&dev) {
            continue;
        }
        let f = File::open(path).map_err(|e| Error::io("open", path, e))?;
        // SAFETY: syncfs takes a file descriptor that `f` keeps open for the call.
        if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
            return Err(Error::io("flush to disk", path, io::Error::last_os_error()));
        }
        devices.push(dev);
    }
    Ok(())
}

/// Without syncfs each file was flushed as it was written
/// ([`Durability::sync_file`]); what is left is the directories' entries.
#[cfg(not(target_os = "linux"))]
pub fn sync_filesystems<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    for dir in paths {
        sync_dir(dir).map_err(|e| Error::io("flush to disk", dir, e))?;
    }
    Ok(())
}

/// Commits staged files, then syncs each of their directories once.
pub fn commit_all(staged: Vec<Staged>, overwrite: bool) -> Result<()> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for s in staged {
        let dir = parent_dir(&s.dest).to_path_buf();
        s.rename(overwrite)?;
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs.iter().for_each(|d| {
        let _ = sync_dir(d);
    });
    Ok(())
}

/// Opens a file for appending, creating it with `mode`. If a crash left its
/// last line unterminated, ends that line first, so that the next line is
/// not swallowed by it.
///
/// Also says whether the file was created by this call: then its name is
/// new, and durable only once its directory is flushed.
pub fn open_append(path: &Path, mode: u32) -> Result<(File, bool)> {
    use std::io::{Read, Seek, SeekFrom};
    let open = |create: bool| {
        let mut o = OpenOptions::new();
        o.read(true).append(true);
        if create {
            o.create_new(true);
        }
        platform::no_follow(platform::set_mode(&mut o, mode)).open(path)
    };
    let (mut f, created) = match open(false) {
        Ok(f) => (f, false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match open(true) {
            Ok(f) => (f, true),
            // Made by someone else meanwhile: theirs to have made durable.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                (open(false).map_err(|e| nofollow_error(path, e))?, false)
            }
            Err(e) => return Err(nofollow_error(path, e)),
        },
        Err(e) => return Err(nofollow_error(path, e)),
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut last = [0u8; 1];
    // O_APPEND writes at the end whatever the position; reading moves it.
    let read_last =
        len > 0 && f.seek(SeekFrom::Start(len - 1)).is_ok() && f.read_exact(&mut last).is_ok();
    if read_last && last[0] != b'\n' {
        f.write_all(b"\n")
            .map_err(|e| Error::io("append to", path, e))?;
    }
    Ok((f, created))
}

/// The largest file minica reads: certificates, keys, CSRs, stores and
/// settings are kilobytes; a bigger file is a mistake, not input.
pub const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// Reads a file the user named, with errors that say which file. The size
/// limit is enforced on the bytes read, not on what the file system says
/// (`/dev/zero` and pipes report a size of 0).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        return Err(Error::bad_file(path, "is a directory, not a file"));
    }
    let f = File::open(path).map_err(|e| match e.kind() {
        // A file the user named that is not there is bad input, not a failure.
        io::ErrorKind::NotFound => Error::bad_file(path, "no such file"),
        _ => Error::io("read", path, e),
    })?;
    read_capped(f, path, MAX_INPUT).map_err(|e| match e {
        Error::BadFile { .. } => Error::bad_file(
            path,
            "is larger than 16 MiB, too large for a certificate, key, CSR, store or settings file",
        ),
        e => e,
    })
}

/// `read`, where `-` is standard input (`inspect -`, `verify -`), with
/// the same 16 MiB bound.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    if path != Path::new("-") {
        return read(path);
    }
    use std::io::Read;
    let name = Path::new("(standard input)");
    let mut buf = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("read", name, e))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(Error::bad_file(
            name,
            "is larger than 16 MiB, too large for a certificate, key, CSR, store or settings file",
        ));
    }
    Ok(buf)
}

/// Reads one of minica's own files (in the CA directory) without following
/// a symbolic link planted in its place, up to `cap` bytes.
pub fn read_nofollow(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let f = platform::no_follow(OpenOptions::new().read(true))
        .open(path)
        .map_err(|e| nofollow_error(path, e))?;
    read_capped(f, path, cap)
}

/// The error for a file opened without following links.
pub fn nofollow_error(path: &Path, e: io::Error) -> Error {
    if platform::is_link_refused(&e) {
        link_error(path)
    } else {
        Error::io("open", path, e)
    }
}

/// The error for a symbolic link found in a CA directory.
pub fn link_error(path: &Path) -> Error {
    Error::bad_file_fix(
        path,
        "is a symbolic link; minica does not follow links in a CA directory",
        format!(
            "replace it with the real file (`rm {0}`, then restore it)",
            path.display()
        ),
    )
}

fn read_capped(f: File, path: &Path, cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let meta = f.metadata().ok();
    if meta.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(Error::bad_file(path, "is a directory, not a file"));
    }
    // Sized from the fstat already made: `Take` hides the file's length from
    // read_to_end, which then grows the buffer from 32 bytes, one read(2) per
    // doubling (strace: six reads for a 451-byte ca.toml). One more byte than
    // the file is long so the end is seen in one further read.
    let hint = meta.map_or(0, |m| m.len().min(cap) as usize + 1);
    let mut buf = Vec::with_capacity(hint);
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("read", path, e))?;
    if buf.len() as u64 > cap {
        return Err(Error::bad_file(
            path,
            format!("is larger than the {} bytes minica reads", cap),
        ));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Whole file systems are flushed only on ext4 (a file elsewhere sends
    /// the whole list the ordinary way), only when little is waiting to be
    /// written, and only on kernels that report a failed write-back.
    #[cfg(target_os = "linux")]
    #[test]
    fn syncfs_only_on_ext4_with_little_waiting_on_a_kernel_that_reports() {
        use crate::aio::Flush;
        use whole_fs::{at_least, sync_each_fs, waiting_kib};
        let meminfo = "MemTotal:       24684096 kB\nDirty:             712 kB\nWriteback:          76 kB\nAnonPages: 1 kB\n";
        assert_eq!(waiting_kib(meminfo), Some(788));
        assert_eq!(waiting_kib("Dirty: 5 kB\n"), None, "no Writeback line");
        assert_eq!(waiting_kib("Dirty: x kB\nWriteback: 0 kB\n"), None);
        assert!(at_least("6.1.0-26-amd64", (5, 8)));
        assert!(at_least("5.8.0", (5, 8)));
        assert!(at_least("5.10", (5, 8)));
        assert!(!at_least("5.7.19", (5, 8)));
        assert!(!at_least("4.19.0-27-amd64", (5, 8)));
        assert!(!at_least("", (5, 8)));

        let shm = tempfile::tempdir_in("/dev/shm").unwrap();
        let on_tmpfs = File::create(shm.path().join("f")).unwrap();
        let tmpfs = (&on_tmpfs, Flush::All, shm.path());
        assert!(sync_each_fs(&[tmpfs]).is_none(), "tmpfs is not ext4");
        // The checkout's file system: ext4 on this project's machines.
        let here = std::env::current_dir().unwrap();
        let ext4 = tempfile::tempdir_in(&here).unwrap();
        let on_ext4 = File::create(ext4.path().join("f")).unwrap();
        let ext4_dir = File::open(ext4.path()).unwrap();
        let both = [
            (&on_ext4, Flush::All, ext4.path()),
            (&ext4_dir, Flush::All, ext4.path()),
        ];
        if whole_fs::device_if_ext4(&on_ext4).is_some() {
            assert!(matches!(sync_each_fs(&both), Some(Ok(()))));
            let mixed = [both[0], tmpfs];
            assert!(
                sync_each_fs(&mixed).is_none(),
                "one file off ext4: none synced this way"
            );
        } else {
            eprintln!(
                "{} is not ext4: the ext4 half of this test did not run",
                here.display()
            );
        }
    }

    /// Both ways of flushing together (io_uring, and threads where it is
    /// missing) flush files and directories, and name the one that failed.
    #[test]
    fn flushing_together_names_what_failed_both_ways() {
        use crate::aio::Flush;
        let dir = tempfile::tempdir().unwrap();
        let a = File::create(dir.path().join("a")).unwrap();
        let d = File::open(dir.path()).unwrap();
        let (rx, _tx) = std::io::pipe().unwrap();
        let pipe = File::from(std::os::fd::OwnedFd::from(rx));
        for uring in [true, false] {
            let ok = [
                (&a, Flush::All, dir.path().join("a")),
                (&d, Flush::All, dir.path().to_path_buf()),
                (&a, Flush::Data, dir.path().join("a")),
            ];
            let ok: Vec<_> = ok.iter().map(|(f, h, p)| (*f, *h, p.as_path())).collect();
            flush_together_by(&ok, uring).unwrap();
            let bad = [
                (&a, Flush::All, Path::new("a")),
                (&pipe, Flush::All, Path::new("the-pipe")),
            ];
            let e = flush_together_by(&bad, uring).unwrap_err().to_string();
            assert!(e.contains("the-pipe"), "uring {uring}: {e}");
        }
    }

    #[test]
    fn private_file_has_mode_0600_and_no_temp_left() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("key.pem");
        stage(&dest, b"secret", PRIVATE)
            .unwrap()
            .commit(false)
            .unwrap();
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "temporary file left behind");
    }

    #[test]
    fn commit_without_overwrite_keeps_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("cert.pem");
        fs::write(&dest, b"old").unwrap();
        let err = stage(&dest, b"new", PUBLIC)
            .unwrap()
            .commit(false)
            .unwrap_err();
        assert!(matches!(err, Error::Exists { .. }));
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_staged_file_is_invisible_until_committed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x");
        let staged = stage(&dest, b"x", PUBLIC).unwrap();
        if proc_fd_available() {
            assert_eq!(
                fs::read_dir(dir.path()).unwrap().count(),
                0,
                "O_TMPFILE leaves no name"
            );
        }
        staged.commit(false).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"x");
        let again = stage(&dest, b"y", PUBLIC).unwrap();
        again.commit(true).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"y");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// The path every system without O_TMPFILE takes (macOS, Windows).
    #[test]
    fn a_named_stage_commits_without_replacing_and_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("key.pem");
        let staged = stage_named(&dest, b"k1", PRIVATE, Durability::Deferred).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "hidden name");
        staged.commit(false).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"k1");
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = stage_named(&dest, b"k2", PRIVATE, Durability::Now)
            .unwrap()
            .commit(false)
            .unwrap_err();
        assert!(matches!(err, Error::Exists { .. }));
        assert_eq!(fs::read(&dest).unwrap(), b"k1", "replaced without --force");
        stage_named(&dest, b"k3", PRIVATE, Durability::Now)
            .unwrap()
            .commit(true)
            .unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"k3");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary left"
        );
    }

    #[test]
    fn append_ends_a_torn_last_line_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        fs::write(&p, b"a\nb").unwrap();
        let (mut f, created) = open_append(&p, PRIVATE).unwrap();
        assert!(!created);
        f.write_all(b"c\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"a\nb\nc\n");
        let (mut f, _) = open_append(&p, PRIVATE).unwrap();
        f.write_all(b"d\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"a\nb\nc\nd\n");
    }

    /// An append that makes its file says so: its name then needs its
    /// directory flushed (the record's first line, revoked.jsonl's first).
    #[test]
    fn an_append_that_makes_its_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("new.jsonl");
        let (_, created) = open_append(&p, PRIVATE).unwrap();
        assert!(created);
        let (_, created) = open_append(&p, PRIVATE).unwrap();
        assert!(!created);
    }

    #[test]
    fn dropped_stage_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x");
        drop(stage(&dest, b"x", PUBLIC).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

//! Several fsyncs at once without a user thread each: io_uring's
//! `IORING_OP_FSYNC` (Linux 5.1), which runs blocking flushes on the
//! kernel's own workers.
//!
//! Why: one `issue` flushes seven files and directories before its commit
//! and two after. One after another they cost ~2 ms of waiting for the disk
//! here; on a thread each, ~1 ms of starting and ending threads (clone3,
//! each stack's mmap, and at exit munmap with a TLB shootdown across the
//! VM's CPUs): measured with fsync stubbed out, threads took an `issue`
//! from 3.3 to 4.3 ms. io_uring overlaps the waits for a few syscalls.
//! (Linux AIO's `IOCB_CMD_FSYNC` was tried first: destroying its context
//! waits for an RCU grace period, 30-70 ms here, even when left to exit.)
//!
//! Where io_uring is missing (other systems, an old kernel, a container's
//! seccomp filter, `kernel.io_uring_disabled`), [`flush_all`] says so and
//! the caller flushes on threads as before. On ext4 with little waiting to
//! be written, `fsx::flush_together` makes one syncfs instead and this is
//! not used (src/fsx.rs says why).

use std::fs::File;
use std::io;

/// How much of a file a flush writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// fsync: the data and all the metadata.
    All,
    /// fdatasync: the data and what reading it back needs (the size).
    Data,
}

impl Flush {
    /// This flush of `f`, done here and now.
    pub fn on(self, f: &File) -> io::Result<()> {
        match self {
            Flush::All => f.sync_all(),
            Flush::Data => f.sync_data(),
        }
    }
}

/// Flushes every file at once and waits for all of them: one result per
/// file, in order; None when io_uring cannot be used here (nothing was
/// flushed).
#[cfg(target_os = "linux")]
pub fn flush_all(files: &[(&File, Flush)]) -> Option<Vec<io::Result<()>>> {
    linux::flush_all(files)
}

#[cfg(not(target_os = "linux"))]
pub fn flush_all(_files: &[(&File, Flush)]) -> Option<Vec<io::Result<()>>> {
    None
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use io_uring::{IoUring, opcode, types};

    use super::Flush;

    /// Flushes submitted at once; more than this go the ordinary way.
    const RING_ENTRIES: u32 = 64;

    pub fn flush_all(files: &[(&File, Flush)]) -> Option<Vec<io::Result<()>>> {
        if files.is_empty() {
            return Some(Vec::new());
        }
        // One ring per process, kept: the kernel workers that ran one round
        // of flushes run the next (a commit's, then its names' and record's).
        // Its teardown at exit runs on a kernel workqueue and does not hold
        // the exit up.
        static RING: std::sync::OnceLock<Option<std::sync::Mutex<IoUring>>> =
            std::sync::OnceLock::new();
        let ring = RING
            .get_or_init(|| IoUring::new(RING_ENTRIES).ok().map(std::sync::Mutex::new))
            .as_ref()?;
        let mut ring = ring.lock().unwrap_or_else(|p| p.into_inner());
        if files.len() > RING_ENTRIES as usize {
            return None;
        }
        {
            let mut sq = ring.submission();
            for (i, (f, how)) in files.iter().enumerate() {
                let flags = match how {
                    Flush::All => types::FsyncFlags::empty(),
                    Flush::Data => types::FsyncFlags::DATASYNC,
                };
                let entry = opcode::Fsync::new(types::Fd(f.as_raw_fd()))
                    .flags(flags)
                    .build()
                    .user_data(i as u64);
                // SAFETY: the file stays open until its completion is read
                // below, or until it has been flushed directly (`finish`).
                if unsafe { sq.push(&entry) }.is_err() {
                    return None; // cannot happen: the ring holds n entries
                }
            }
        }
        let mut results: Vec<Option<io::Result<()>>> = (0..files.len()).map(|_| None).collect();
        let mut got = 0;
        let mut submitted = false;
        while got < files.len() {
            match ring.submit_and_wait(files.len() - got) {
                Ok(_) => submitted = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Refused before anything ran (seccomp, an old kernel):
                // the caller flushes another way.
                Err(_) if !submitted => return None,
                // In flight but cannot wait: what is unanswered is flushed
                // directly (a second fsync of a file is harmless).
                Err(_) => return Some(finish(results, files)),
            }
            for cqe in ring.completion() {
                let i = cqe.user_data() as usize;
                let r = match -cqe.result() {
                    e if e <= 0 => Ok(()),
                    // Never ran: no kernel worker could be started (a
                    // process limit, as in a CI container with pids.max).
                    // It is flushed directly below. Any other error is the
                    // flush's own, and is not retried: a second fsync after
                    // a failed one can succeed without the data (Linux
                    // clears the error once reported).
                    libc::ECANCELED | libc::EAGAIN | libc::ENOMEM | libc::EINTR => {
                        got += 1;
                        continue;
                    }
                    e => Err(io::Error::from_raw_os_error(e)),
                };
                if let Some(slot) = results.get_mut(i)
                    && slot.is_none()
                {
                    *slot = Some(r);
                    got += 1;
                }
            }
        }
        Some(finish(results, files))
    }

    /// Each file's answer, flushing directly any that has none.
    fn finish(
        results: Vec<Option<io::Result<()>>>,
        files: &[(&File, Flush)],
    ) -> Vec<io::Result<()>> {
        results
            .into_iter()
            .zip(files)
            .map(|(r, (f, how))| r.unwrap_or_else(|| how.on(f)))
            .collect()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Files and directories flushed together each get their own answer,
    /// and a descriptor that cannot be flushed is an error for it alone.
    /// Where io_uring is refused (a container's seccomp filter) there is
    /// nothing to check here; fsx's test covers the threads used then.
    #[test]
    fn flushes_files_and_directories_together_and_reports_each() {
        let dir = tempfile::tempdir().unwrap();
        let a = File::create(dir.path().join("a")).unwrap();
        let b = File::create(dir.path().join("b")).unwrap();
        let d = File::open(dir.path()).unwrap();
        let Some(r) = flush_all(&[(&a, Flush::All), (&d, Flush::All), (&b, Flush::Data)]) else {
            eprintln!("io_uring is not available here: flushes use threads");
            return;
        };
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
        // A pipe has no fsync: an error for it alone.
        let (rx, _tx) = std::io::pipe().unwrap();
        let pipe = File::from(std::os::fd::OwnedFd::from(rx));
        let r = flush_all(&[(&a, Flush::All), (&pipe, Flush::All)]).unwrap();
        assert!(r[0].is_ok());
        assert!(r[1].is_err());
    }
}

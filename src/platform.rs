//! What differs between operating systems, each difference behind one
//! function here, so that the rest of minica carries no `cfg` (issue #17 §3).
//!
//! Linux keeps its own write path in src/fsx.rs (O_TMPFILE, renameat2
//! RENAME_NOREPLACE, syncfs). Elsewhere the code below stands on crates
//! that are maintained and tested on macOS and Windows: tempfile's
//! no-clobber persist, dirs' data directory and same-file's file identity.
//! That portable code is compiled and unit-tested on Linux as well, so what
//! macOS and Windows will run has run somewhere.
//!
//! Windows has no Unix modes, owners or `O_NOFOLLOW`: there a key file gets
//! no mode of its own (it inherits its directory's ACL, which under the
//! user's profile admits the user, SYSTEM and Administrators), the owner and
//! mode checks on the CA directory and on a PKCS#11 module are skipped, and
//! there is no user behind `sudo`.

use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Sets the mode a new file is created with (keys 0600), so that a secret
/// is never readable by others, not even before a chmod. Windows: no modes.
pub fn set_mode(o: &mut OpenOptions, mode: u32) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        o
    }
}

/// Makes the open fail, rather than follow, when the last component is a
/// symbolic link planted in a CA directory. Windows: not available.
pub fn no_follow(o: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW)
    }
    #[cfg(not(unix))]
    {
        o
    }
}

/// Whether an open made with [`no_follow`] failed because of a link (ELOOP).
pub fn is_link_refused(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::ELOOP)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// Creates `dir` and its missing parents with `mode` from the start.
pub fn create_dir_all(dir: &Path, mode: u32) -> io::Result<()> {
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    b.create(dir)
}

/// The effective user id; `None` where there is none (Windows).
pub fn euid() -> Option<u32> {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        Some(unsafe { libc::geteuid() })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Whether minica runs as root (it may then restore a replaced file's owner).
pub fn is_root() -> bool {
    euid() == Some(0)
}

/// A file's owner and permission bits, for the checks that refuse files
/// another user could change; `None` on Windows, which has ACLs instead.
pub fn owner_and_mode(m: &Metadata) -> Option<(u32, u32)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((m.uid(), m.mode() & 0o7777))
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        None
    }
}

/// Gives `path` the owner `of` has (a store replaced while running as root
/// stays its user's). Windows: nothing to do.
pub fn copy_owner(of: &Metadata, path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::os::unix::fs::chown(path, Some(of.uid()), Some(of.gid()))
    }
    #[cfg(not(unix))]
    {
        let _ = (of, path);
        Ok(())
    }
}

/// Whether a file found on PATH can be run: an execute bit on Unix; on
/// Windows any file (the extension decides there).
pub fn is_executable(m: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        m.is_file() && m.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        m.is_file()
    }
}

/// Whether the open file `held` is still the file `path` names (device and
/// inode on Unix, volume and file index on Windows).
pub fn is_same_file(held: &File, path: &Path) -> io::Result<bool> {
    let held = same_file::Handle::from_file(held.try_clone()?)?;
    Ok(held == same_file::Handle::from_path(path)?)
}

/// Where a user's application data lives. Linux keeps the XDG Base
/// Directory rule minica always had; elsewhere it is the platform's own
/// (~/Library/Application Support on macOS, the roaming AppData on Windows).
pub fn data_dir() -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        xdg_data_dir(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
    }
    #[cfg(not(target_os = "linux"))]
    {
        dirs::data_dir()
    }
}

/// `$XDG_DATA_HOME`, else `$HOME/.local/share`.
#[cfg(any(target_os = "linux", test))]
fn xdg_data_dir(
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    if let Some(d) = xdg.filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    home.filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".local/share"))
}

/// rename(2) that never replaces `to` and fails with AlreadyExists instead:
/// tempfile's persist_noclobber (renamex_np RENAME_EXCL on macOS, MoveFileEx
/// without MOVEFILE_REPLACE_EXISTING on Windows, link and unlink elsewhere).
/// Linux has its own, renameat2, in src/fsx.rs.
#[cfg(any(not(target_os = "linux"), test))]
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    tempfile::TempPath::try_from_path(from)?
        .persist_noclobber(to)
        .map_err(|e| {
            // On failure the file stays where it was, for its owner (a staged
            // file or a transaction) to clean up as it always does.
            let _ = e.path.keep();
            e.error
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_noreplace_moves_and_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        std::fs::write(&a, "new").unwrap();
        std::fs::write(&b, "old").unwrap();
        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&b).unwrap(), b"old", "destination replaced");
        assert_eq!(std::fs::read(&a).unwrap(), b"new", "source lost on failure");
        rename_noreplace(&a, &c).unwrap();
        assert_eq!(std::fs::read(&c).unwrap(), b"new");
        assert!(!a.exists(), "source left behind");
    }

    #[test]
    fn same_file_follows_the_name_not_the_handle() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "1").unwrap();
        let held = File::open(&p).unwrap();
        assert!(is_same_file(&held, &p).unwrap());
        let q = dir.path().join("g");
        std::fs::write(&q, "2").unwrap();
        std::fs::rename(&q, &p).unwrap();
        assert!(
            !is_same_file(&held, &p).unwrap(),
            "a replaced file is another file"
        );
    }

    #[test]
    fn data_dir_follows_xdg_then_home() {
        let os = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(xdg_data_dir(os("/x"), os("/h")), Some(PathBuf::from("/x")));
        assert_eq!(
            xdg_data_dir(os(""), os("/h")),
            Some(PathBuf::from("/h/.local/share"))
        );
        assert_eq!(xdg_data_dir(None, None), None);
        // The crate the other platforms use agrees with that rule here.
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
            && std::env::var_os("XDG_DATA_HOME").is_none()
        {
            assert_eq!(dirs::data_dir(), xdg_data_dir(None, Some(home)));
        }
    }

    #[cfg(unix)]
    #[test]
    fn modes_and_links_are_kept_on_unix() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        set_mode(OpenOptions::new().write(true).create_new(true), 0o600)
            .open(&key)
            .unwrap();
        let (_, mode) = owner_and_mode(&std::fs::metadata(&key).unwrap()).unwrap();
        assert_eq!(mode & 0o777, 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&key, &link).unwrap();
        let e = no_follow(OpenOptions::new().read(true))
            .open(&link)
            .unwrap_err();
        assert!(is_link_refused(&e), "{e}");
    }
}

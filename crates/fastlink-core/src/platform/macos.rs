//! macOS: clonefileat(2)/fclonefileat(2) on APFS, renameatx_np(2) for
//! commits, and the shared SEEK_DATA/SEEK_HOLE pread/pwrite copy, which
//! reports progress and honours a cancel between steps (fcopyfile(3) does
//! neither without its callback machinery).
//!
//! This backend runs on Linux too, under `make macos-sim`: `macos_sim`
//! then provides the three calls, modelled on FICLONE and renameat2. What
//! that cannot model (errno values, `mode_t` being u16, the constants
//! below) is pinned against the libc crate's apple module in the tests.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::raw::{c_char, c_int, c_uint};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::unix;
use super::{CopyHints, NewFile, NewMode, Platform};

/// <sys/clonefile.h>: clone a symlink itself rather than what it names.
pub const CLONE_NOFOLLOW: u32 = 0x0001;
/// <sys/clonefile.h>: do not copy ownership; setuid/setgid bits are cleared.
pub const CLONE_NOOWNERCOPY: u32 = 0x0002;
/// <stdio.h>: renameatx_np fails with EEXIST rather than replace `to`.
pub const RENAME_EXCL: c_uint = 0x0000_0004;

extern "C" {
    pub fn clonefileat(
        src_dirfd: c_int,
        src: *const c_char,
        dst_dirfd: c_int,
        dst: *const c_char,
        flags: u32,
    ) -> c_int;
    pub fn fclonefileat(srcfd: c_int, dst_dirfd: c_int, dst: *const c_char, flags: u32) -> c_int;
    pub fn renameatx_np(
        fromfd: c_int,
        from: *const c_char,
        tofd: c_int,
        to: *const c_char,
        flags: c_uint,
    ) -> c_int;
}

pub struct MacOs;

fn c_name(name: &OsStr) -> io::Result<CString> {
    Ok(CString::new(name.as_bytes())?)
}

fn check(rc: c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Platform for MacOs {
    const NAME: &'static str = "macos";

    /// fclonefileat copies the source's mode (and times, xattrs and ACLs):
    /// the exact mode is set afterwards.
    fn reflink_new(
        src: &File,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mode: NewMode,
    ) -> io::Result<NewFile> {
        let c_name = c_name(name)?;
        let flags = CLONE_NOFOLLOW | CLONE_NOOWNERCOPY;
        // SAFETY: valid fds and a NUL-terminated name.
        check(unsafe { fclonefileat(src.as_raw_fd(), dir.as_raw_fd(), c_name.as_ptr(), flags) })?;
        // fchmod and futimens need ownership, not write access, so a
        // read-only handle works even for a clone of a read-only file.
        let opened = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)
        .and_then(|fd| unix::set_new_mode(File::from(fd), mode.bits));
        opened.inspect_err(|_| {
            let _ = rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty());
        })
    }

    fn copy_new(
        src: &File,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mode: NewMode,
        hints: &CopyHints<'_>,
    ) -> io::Result<(NewFile, u64)> {
        unix::copy_new(src, dir, name, mode, hints, None)
    }

    /// One clonefileat for the whole tree: APFS clones a hierarchy in one
    /// call. `src` is followed (the caller named it, and it may be a
    /// symlink to the tree); the links inside are cloned as links.
    fn clone_tree(src: &Path, dir: BorrowedFd<'_>, name: &OsStr) -> Option<io::Result<()>> {
        let (Ok(src), Ok(dst)) = (c_name(src.as_os_str()), c_name(name)) else {
            return None;
        };
        // SAFETY: valid NUL-terminated paths and a valid directory fd.
        let rc = unsafe {
            clonefileat(
                libc::AT_FDCWD,
                src.as_ptr(),
                dir.as_raw_fd(),
                dst.as_ptr(),
                CLONE_NOOWNERCOPY,
            )
        };
        Some(check(rc))
    }

    fn clone_unnamed(_src: &File, _dir: BorrowedFd<'_>) -> Option<io::Result<()>> {
        None
    }

    /// macOS has no O_TMPFILE: single files are staged and renamed.
    fn create_unnamed(_dir: &Path, _mode: u32) -> Option<io::Result<File>> {
        None
    }

    fn link_unnamed(_file: &File, _path: &Path) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::ENOTSUP))
    }

    /// clonefile clones only to a new name (see `reflink_new`).
    /// Other ACL models (macOS's inherited extended ACLs): always chmod.
    fn creation_umask(_dir: BorrowedFd<'_>) -> Option<u32> {
        None
    }

    fn clone_into(_dst: &File, _src: &File) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::ENOTSUP))
    }

    fn copy_into(src: &File, dst: &File, hints: &CopyHints<'_>) -> io::Result<u64> {
        unix::copy_into(src, dst, hints, None)
    }

    fn open_beneath(base: BorrowedFd<'_>, chunk: &OsStr, flags: OFlags) -> io::Result<OwnedFd> {
        unix::open_components(base, chunk, flags)
    }

    /// ENOTSUP on volumes that cannot do it (exFAT, SMB): the caller falls back.
    fn rename_noreplace(
        from_dir: BorrowedFd<'_>,
        from: &OsStr,
        to_dir: BorrowedFd<'_>,
        to: &OsStr,
    ) -> io::Result<()> {
        let (from, to) = (c_name(from)?, c_name(to)?);
        // SAFETY: valid fds and NUL-terminated names.
        check(unsafe {
            renameatx_np(
                from_dir.as_raw_fd(),
                from.as_ptr(),
                to_dir.as_raw_fd(),
                to.as_ptr(),
                RENAME_EXCL,
            )
        })
    }

    const CLONE_KEEPS_SOURCE_TIMES: bool = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The libc crate's apple module, as vendored for this build: the
    /// declarations a Linux build cannot compile, read as text.
    fn libc_apple_source() -> String {
        // The workspace's lock file, two levels up.
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
                .expect("Cargo.lock");
        let entry = "name = \"libc\"\nversion = \"";
        let at = lock.find(entry).expect("libc in Cargo.lock") + entry.len();
        let version = lock[at..].split('"').next().expect("a version");
        let home = std::env::var("CARGO_HOME")
            .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").expect("HOME")));
        let registry = Path::new(&home).join("registry/src");
        for index in std::fs::read_dir(&registry).expect("the cargo registry") {
            let file = index
                .expect("an index dir")
                .path()
                .join(format!("libc-{version}/src/unix/bsd/apple/mod.rs"));
            if let Ok(text) = std::fs::read_to_string(&file) {
                return text;
            }
        }
        panic!("libc {version}'s apple module not found under {registry:?}");
    }

    /// The declaration that starts with `item`, up to its `;`, with white
    /// space and `::` paths removed so that formatting does not matter.
    fn declared(source: &str, item: &str) -> String {
        let at = source
            .find(item)
            .unwrap_or_else(|| panic!("{item} not in libc's apple module"));
        let declaration = source[at..].split(';').next().expect("a declaration");
        normalized(declaration)
    }

    fn normalized(text: &str) -> String {
        text.replace("::", "")
            .replace(",)", ")")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .replace(",)", ")")
    }

    #[test]
    fn the_constants_match_the_libc_crates_apple_module() {
        let source = libc_apple_source();
        assert_eq!(
            declared(&source, "pub const RENAME_EXCL:"),
            normalized(&format!(
                "pub const RENAME_EXCL: c_uint = 0x{RENAME_EXCL:08x}"
            ))
        );
        // CLONE_NOFOLLOW and CLONE_NOOWNERCOPY are not in the libc crate:
        // they are <sys/clonefile.h>'s 0x0001 and 0x0002.
        assert_eq!((CLONE_NOFOLLOW, CLONE_NOOWNERCOPY), (1, 2));
    }

    #[test]
    fn errnos_that_differ_from_linux_are_pinned() {
        let source = libc_apple_source();
        // Two values on macOS: both are in every "not supported" list.
        assert_eq!(
            declared(&source, "pub const ENOTSUP:"),
            normalized("pub const ENOTSUP: c_int = 45")
        );
        assert_eq!(
            declared(&source, "pub const EOPNOTSUPP:"),
            normalized("pub const EOPNOTSUPP: c_int = 102")
        );
        for errno in [libc::ENOTSUP, libc::EOPNOTSUPP] {
            assert!(super::super::UNSUPPORTED_ERRNOS.contains(&errno));
            assert!(crate::Method::Reflink.is_impossible_errno(errno));
            assert!(crate::Method::Hardlink.is_impossible_errno(errno));
        }
        // mode_t is 16 bits there: every mode fastlink sets fits (0o7777).
        assert_eq!(
            declared(&source, "pub type mode_t ="),
            normalized("pub type mode_t = u16")
        );
    }

    #[test]
    fn the_calls_are_declared_as_the_libc_crate_declares_them() {
        let source = libc_apple_source();
        for ours in [
            "pub fn clonefileat(src_dirfd: c_int, src: *const c_char, dst_dirfd: c_int, dst: *const c_char, flags: u32) -> c_int",
            "pub fn fclonefileat(srcfd: c_int, dst_dirfd: c_int, dst: *const c_char, flags: u32) -> c_int",
            "pub fn renameatx_np(fromfd: c_int, from: *const c_char, tofd: c_int, to: *const c_char, flags: c_uint) -> c_int",
        ] {
            let name = &ours[..ours.find('(').expect("a parameter list") + 1];
            assert_eq!(declared(&source, name), normalized(ours));
        }
    }
}

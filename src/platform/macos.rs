//! macOS: clonefile(2) / fclonefileat(2) on APFS, copyfile-backed copies.
//!
//! This file cannot be built on the Linux machines fastlink is developed on.
//! It is reasoned against the man pages clonefile(2) and copyfile(3):
//! - `clonefile(src, dst, CLONE_NOFOLLOW)` clones a whole directory hierarchy
//!   in one call when `dst` does not exist, and fails with EXDEV across
//!   volumes and ENOTSUP on non-APFS volumes; with `CLONE_NOOWNERCOPY` the
//!   setuid/setgid bits are not carried over.
//! - `fclonefileat` clones one open file to a new path and copies its mode and
//!   times, so the caller sets the exact mode afterwards.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

pub use super::unix::std_copy_new as copy_new;

const CLONE_NOFOLLOW: u32 = 0x0001;
const CLONE_NOOWNERCOPY: u32 = 0x0002;

/// fclonefileat(2) creates `name` in `dir` as a clone of the open `src`.
pub fn reflink_new(src: &File, dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<File> {
    let c_name = CString::new(name.as_bytes())?;
    // SAFETY: valid fds and a NUL-terminated name.
    let rc = unsafe {
        libc::fclonefileat(
            src.as_raw_fd(),
            dir.as_raw_fd(),
            c_name.as_ptr(),
            CLONE_NOFOLLOW | CLONE_NOOWNERCOPY,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // fchmod and futimens need ownership, not write access, so a read-only
    // handle works even for a clone of a read-only file.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let file = File::from(rustix::fs::openat(dir, name, flags, Mode::empty())?);
    rustix::fs::fchmod(&file, Mode::from_raw_mode(mode as _))?;
    Ok(file)
}

/// One clonefile for the whole tree: APFS clones a hierarchy atomically.
pub fn clone_tree(src: &Path, dst: &Path) -> Option<io::Result<()>> {
    let src = CString::new(src.as_os_str().as_bytes()).ok()?;
    let dst = CString::new(dst.as_os_str().as_bytes()).ok()?;
    // SAFETY: both are valid NUL-terminated paths.
    let rc = unsafe {
        libc::clonefile(
            src.as_ptr(),
            dst.as_ptr(),
            CLONE_NOFOLLOW | CLONE_NOOWNERCOPY,
        )
    };
    Some(if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    })
}

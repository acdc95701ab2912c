//! Applying recorded metadata (times, modes) to what fastlink created.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::plan::{EntryMeta, Timestamp};

fn timespec(ts: Timestamp) -> libc::timespec {
    libc::timespec {
        tv_sec: ts.sec as libc::time_t,
        tv_nsec: ts.nsec as libc::c_long,
    }
}

/// Set atime and mtime on an open file: no path lookup, and it works on a
/// file whose mode no longer allows writing.
pub fn set_file_times(file: &File, meta: &EntryMeta) -> io::Result<()> {
    let times = [timespec(meta.atime), timespec(meta.mtime)];
    // SAFETY: the fd is open and `times` points at two timespecs.
    let rc = unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Set atime and mtime on a path without following a final symlink, so a
/// symlink gets its own times and never its target's.
pub fn set_path_times(path: &Path, meta: &EntryMeta) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    let times = [timespec(meta.atime), timespec(meta.mtime)];
    // SAFETY: valid NUL-terminated path and two timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

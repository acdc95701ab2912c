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

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::unix::create_new_with_mode;

const CLONE_NOFOLLOW: u32 = 0x0001;
const CLONE_NOOWNERCOPY: u32 = 0x0002;

pub fn reflink_new(src: &File, dst: &Path, mode: u32) -> io::Result<File> {
    reflink_copy::reflink_file_to_path(src, dst)?;
    // fchmod and futimens need ownership, not write access, so a read-only
    // handle works even for a clone of a read-only file.
    let file = OpenOptions::new().read(true).open(dst)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(file)
}

pub fn copy_new(src: &File, dst: &Path, mode: u32, len: u64) -> io::Result<(File, u64)> {
    let mut file = create_new_with_mode(dst, mode)?;
    let copied = if len == 0 {
        0
    } else {
        // std's copy uses fcopyfile(3) between two files on macOS.
        let mut reader = src;
        io::copy(&mut reader, &mut file)?
    };
    Ok((file, copied))
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

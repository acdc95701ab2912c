//! Helpers shared by the unix primitives: creating a file with an exact mode
//! relative to a directory fd, and the fd-to-fd clone where the OS has one.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;

use rustix::fs::{Mode, OFlags};

/// Create `name` in `dir` exclusively, never through a symlink, with exactly `mode`.
///
/// `open(2)` trims the mode by the umask, or, under a default ACL on `dir`,
/// by that ACL instead; either may differ between two calls of one process.
/// An installer must reproduce the source's bits (exec bits included), so a
/// `fchmod` always follows: one syscall is cheaper than knowing.
pub fn create_new_with_mode(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(mode as _))?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode as _))?;
    Ok(File::from(fd))
}

/// Create `name` in `dir` with `mode` and fill it with `copy`, which returns
/// the source length it saw. An empty source needs no copy call: a file that
/// grew since it was planned is caught by the caller's size check.
pub fn copy_into_new(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: u32,
    size: u64,
    copy: impl FnOnce(&mut File) -> io::Result<u64>,
) -> io::Result<(File, u64)> {
    let mut file = create_new_with_mode(dir, name, mode)?;
    let copied = if size == 0 { 0 } else { copy(&mut file)? };
    Ok((file, copied))
}

/// The copy of platforms without a hole-aware in-kernel path: std's
/// `io::copy`, which uses fcopyfile(3) between two files on macOS.
#[cfg(not(target_os = "linux"))]
pub fn std_copy_new(
    src: &File,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    mode: u32,
    hints: &super::CopyHints<'_>,
) -> io::Result<(File, u64)> {
    copy_into_new(dir, name, mode, hints.size, |file| {
        let mut reader = src;
        io::copy(&mut reader, file)
    })
}

/// FICLONE straight into a file just created empty. reflink-copy's
/// `reflink_file` first fstat()s the target to truncate a non-empty one; a
/// fresh file never needs that, and skipping it saves a syscall per file.
#[cfg(target_os = "linux")]
fn clone_file(src: &File, dst: &File) -> io::Result<()> {
    Ok(rustix::fs::ioctl_ficlone(dst, src)?)
}

/// The portable clone of reflink-copy, on other unixes.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn clone_file(src: &File, dst: &File) -> io::Result<()> {
    reflink_copy::reflink_file(src, dst)
}

/// Create `name` in `dir` with `mode` and clone `src` into it with the raw
/// fd-to-fd clone (FICLONE on Linux). reflink-copy's `reflink_file` never
/// falls back to a copy itself, so its errno tells whether this pair of
/// filesystems can clone at all. On failure the half-made file is removed,
/// so the caller can fall back.
#[cfg(not(target_os = "macos"))]
pub fn reflink_new(src: &File, dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<File> {
    let file = create_new_with_mode(dir, name, mode)?;
    match clone_file(src, &file) {
        Ok(()) => Ok(file),
        Err(err) => {
            drop(file);
            let _ = rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty());
            Err(err)
        }
    }
}

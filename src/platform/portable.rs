//! Unixes other than Linux and macOS: reflink-copy's clone, the shared
//! pread/pwrite copy and O_NOFOLLOW walk, and a check-then-rename commit.
//! `make portable-check` compiles and lints this backend on Linux.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::OFlags;

use super::unix;
use super::{CopyHints, Platform};

pub struct Portable;

impl Platform for Portable {
    const NAME: &'static str = "portable";

    fn reflink_new(src: &File, dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<File> {
        unix::clone_into_new(src, dir, name, mode, |new, src| {
            reflink_copy::reflink_file(src, new)
        })
    }

    fn copy_new(
        src: &File,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mode: u32,
        hints: &CopyHints<'_>,
    ) -> io::Result<(File, u64)> {
        unix::copy_new(src, dir, name, mode, hints, None)
    }

    fn clone_tree(_src: &Path, _dir: BorrowedFd<'_>, _name: &OsStr) -> Option<io::Result<()>> {
        None
    }

    fn clone_unnamed(_src: &File, _dir: BorrowedFd<'_>) -> Option<io::Result<()>> {
        None
    }

    fn open_beneath(base: BorrowedFd<'_>, chunk: &OsStr, flags: OFlags) -> io::Result<OwnedFd> {
        unix::open_components(base, chunk, flags)
    }

    /// No portable no-replace rename: EINVAL sends the caller to its
    /// check-then-rename fallback.
    fn rename_noreplace(
        _from_dir: BorrowedFd<'_>,
        _from: &OsStr,
        _to_dir: BorrowedFd<'_>,
        _to: &OsStr,
    ) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    }
}

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
use super::{CopyHints, NewFile, NewMode, Platform};

pub struct Portable;

impl Platform for Portable {
    const NAME: &'static str = "portable";

    fn reflink_new(
        src: &File,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        mode: NewMode,
    ) -> io::Result<NewFile> {
        unix::clone_into_new(src, dir, name, mode, Self::clone_into)
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

    fn clone_tree(_src: &Path, _dir: BorrowedFd<'_>, _name: &OsStr) -> Option<io::Result<()>> {
        None
    }

    fn clone_unnamed(_src: &File, _dir: BorrowedFd<'_>) -> Option<io::Result<()>> {
        None
    }

    /// No portable nameless file: single files are staged and renamed.
    fn create_unnamed(_dir: &Path, _mode: u32) -> Option<io::Result<File>> {
        None
    }

    fn link_unnamed(_file: &File, _path: &Path) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::ENOTSUP))
    }

    /// Other ACL models (macOS's inherited extended ACLs): always chmod.
    fn creation_umask(_dir: BorrowedFd<'_>) -> Option<u32> {
        None
    }

    fn clone_into(dst: &File, src: &File) -> io::Result<()> {
        reflink_copy::reflink_file(src, dst)
    }

    fn copy_into(src: &File, dst: &File, hints: &CopyHints<'_>) -> io::Result<u64> {
        unix::copy_into(src, dst, hints, None)
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

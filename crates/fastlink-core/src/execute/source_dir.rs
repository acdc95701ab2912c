//! A directory pair's source side: open where the walk kept its fd, else
//! opened only when something needs the directory itself.
//!
//! Past the budget of kept fds (see `fd_budget`), the fill would open each
//! source directory again, and close it: two syscalls for a directory that
//! holds three files on average in an installed environment. A file to
//! clone or copy needs no directory fd where the platform opens a path
//! below the source root in one call (Linux's openat2, refusing symlinks as
//! the directory's open would): it is opened by that path. A hard link, and
//! the questions asked of the directory's filesystem, open the directory.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::dirfd::{self, DirFd};
use crate::per_file;
use crate::platform::{Os, Platform};

pub(super) struct SourceDir<'a> {
    /// The directory's fd, once there is one.
    fd: OnceLock<DirFd<'a>>,
    /// The source root and the directory below it, to open either by.
    below: Option<(BorrowedFd<'a>, PathBuf)>,
}

impl<'a> SourceDir<'a> {
    /// A directory already open.
    pub(super) fn open(fd: DirFd<'a>) -> Self {
        SourceDir {
            fd: OnceLock::from(fd),
            below: None,
        }
    }

    /// The directory `rel` below the open source `root`: `kept`, the
    /// walk's fd of it, if it kept one.
    pub(super) fn below(root: BorrowedFd<'a>, rel: &Path, kept: Option<DirFd<'a>>) -> Self {
        SourceDir {
            fd: kept.map_or_else(OnceLock::new, OnceLock::from),
            below: Some((root, rel.to_path_buf())),
        }
    }

    /// The directory's fd, opened now if it was not.
    pub(super) fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd.as_fd());
        }
        let (root, rel) = self
            .below
            .as_ref()
            .expect("a directory not open has a path");
        // Workers sharing the pair may race here: the loser's fd is closed.
        let _ = self
            .fd
            .set(DirFd::Owned(dirfd::open_dir_beneath(*root, rel)?));
        Ok(self.fd.get().expect("set above").as_fd())
    }

    /// Open the file `name` of this directory for reading (see
    /// [`per_file::open_source`]): through the directory's fd if it is
    /// open, else by its path from the root where that is one call.
    pub(super) fn open_file(&self, name: &OsStr) -> io::Result<File> {
        match (&self.below, self.fd.get()) {
            (Some((root, rel)), None) if Os::OPENS_BENEATH_IN_ONE_CALL => {
                per_file::open_source_beneath(*root, &rel.join(name))
            }
            _ => per_file::open_source(self.fd()?, name),
        }
    }
}

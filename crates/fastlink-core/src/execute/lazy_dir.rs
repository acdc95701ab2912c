//! One side of a directory pair: open where its fd was kept, else opened
//! only when something needs the directory itself.
//!
//! Past the budget of kept fds (see `fd_budget`), the fill would open each
//! directory again on each side, and close it: four syscalls for a
//! directory that holds three files on average in an installed environment.
//! Where the platform opens a path below a directory in one call (Linux's
//! openat2, refusing symlinks anywhere on the way, as the directory's own
//! open does), a file to clone or copy is opened by its path below the
//! source root and created by its path below the destination's anchor (or
//! its private top, see `made_dirs`). A hard link is made by its path below
//! a private top; elsewhere it, a symlink, a held directory and the
//! questions asked of a filesystem open the directory.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::dirfd::{self, DirFd};
use crate::platform::{Os, Platform};

pub(super) struct LazyDir<'a> {
    /// The directory's fd, once there is one.
    fd: OnceLock<DirFd<'a>>,
    /// The root the directory is below, and its path from there.
    below: Option<(BorrowedFd<'a>, PathBuf)>,
    /// The root is a private top (see `made_dirs`): a path below it needs
    /// no check on the way, so any call may take it, not only an open.
    private: bool,
}

impl<'a> LazyDir<'a> {
    /// A directory already open.
    pub(super) fn open(fd: DirFd<'a>) -> Self {
        LazyDir {
            fd: OnceLock::from(fd),
            below: None,
            private: false,
        }
    }

    /// The directory `rel` below the open `root` (`rel` empty: `root`
    /// itself); `kept`, its fd if one was kept.
    pub(super) fn below(root: BorrowedFd<'a>, rel: &Path, kept: Option<DirFd<'a>>) -> Self {
        LazyDir {
            fd: kept.map_or_else(OnceLock::new, OnceLock::from),
            below: Some((root, rel.to_path_buf())),
            private: false,
        }
    }

    /// The directory `rel` below the private top `top`, not open.
    pub(super) fn below_private_top(top: BorrowedFd<'a>, rel: &Path) -> Self {
        LazyDir {
            fd: OnceLock::new(),
            below: Some((top, rel.to_path_buf())),
            private: true,
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
        let fd = match dirfd::dir_beneath(*root, rel)? {
            // Shared, so that a roll-back may hold it.
            DirFd::Owned(fd) => DirFd::Shared(Arc::new(fd)),
            other => other,
        };
        // Workers sharing the pair may race here: the loser's fd is closed.
        let _ = self.fd.set(fd);
        Ok(self.fd.get().expect("set above").as_fd())
    }

    /// The fd, if it is open and may be shared.
    pub(super) fn shared(&self) -> Option<Arc<OwnedFd>> {
        self.fd.get().and_then(DirFd::shared)
    }

    /// Where `name` in this directory is reached without opening it, by a
    /// call that refuses symlinks on the way (a file opened or created by
    /// its path): the root and the path below it. `None` where the
    /// directory is open, where the platform cannot open such a path in one
    /// call, or where the path is too long for one syscall (a tree deeper
    /// than PATH_MAX).
    pub(super) fn path_below(&self, name: &OsStr) -> Option<(BorrowedFd<'a>, PathBuf)> {
        self.unopened_path(name, Os::OPENS_BENEATH_IN_ONE_CALL)
    }

    /// Where `name` in this directory is reached by any call (a hard link's
    /// `linkat`) without opening the directory: a private top and the path
    /// below it. `None` as for [`path_below`](Self::path_below), and where
    /// the directory is not below a private top.
    pub(super) fn private_path_below(&self, name: &OsStr) -> Option<(BorrowedFd<'a>, PathBuf)> {
        self.unopened_path(name, self.private)
    }

    fn unopened_path(&self, name: &OsStr, allowed: bool) -> Option<(BorrowedFd<'a>, PathBuf)> {
        match (&self.below, self.fd.get()) {
            (Some((root, rel)), None) if allowed => {
                let path = rel.join(name);
                (path.as_os_str().len() <= dirfd::MAX_PATH_CHUNK).then_some((*root, path))
            }
            _ => None,
        }
    }
}

//! The directories a call made, and how each is reached once made.
//!
//! Each new directory with entries to come is opened once, right after it is
//! made, while the budget of kept fds lasts (see `fd_budget`); that fd serves
//! its subdirectories' creation, its fill and its final mode and times.
//!
//! Past the budget, a directory made by this call is reached by its path
//! below its *private top*: the staged directory it was built in, made mode
//! 0700 on a filesystem whose permissions the kernel checks (see
//! `probe::Faithful::private_dirs`), and kept open. Until its final mode is
//! set, last of all, nobody but this uid (and root) can reach anything
//! below it, so no one else can swap a directory there for a symlink, and
//! one `mkdirat`, `utimensat` or `linkat` by that path does what opening
//! each parent first would: no parent is opened, again, per phase. Anywhere
//! else (an existing directory, FUSE, a top past the budget) the parent is
//! opened, refusing symlinks on the way.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use crate::dirfd;

/// By plan index: each made directory's fd where it was kept, and the
/// private top it was built below, if any.
pub(super) struct MadeDirs {
    fds: Vec<Option<Arc<OwnedFd>>>,
    private_top: Vec<Option<usize>>,
}

impl MadeDirs {
    pub(super) fn new(dirs: usize) -> Self {
        MadeDirs {
            fds: vec![None; dirs],
            private_top: vec![None; dirs],
        }
    }

    /// The kept fd of directory `dir`.
    pub(super) fn fd(&self, dir: usize) -> Option<&Arc<OwnedFd>> {
        self.fds[dir].as_ref()
    }

    pub(super) fn keep(&mut self, dir: usize, fd: OwnedFd) {
        self.fds[dir] = Some(Arc::new(fd));
    }

    /// `dir` was made mode 0700 as a private top, which its final mode
    /// (always set, last) ends.
    pub(super) fn made_private_top(&mut self, dir: usize) {
        self.private_top[dir] = Some(dir);
    }

    /// `dir` was made in `parent`, below the same private top, if any.
    pub(super) fn made_in(&mut self, dir: usize, parent: usize) {
        self.private_top[dir] = self.private_top[parent];
    }

    pub(super) fn is_private_top(&self, dir: usize) -> bool {
        self.private_top[dir] == Some(dir)
    }

    /// Where directory `dir` (made below a private top whose fd is kept) is
    /// reached by its path: the top's fd and `dir`'s path below it, given
    /// each directory's path from the anchor. `None` for the top itself,
    /// for a directory not below a kept private top, and for a path too
    /// long for one syscall.
    pub(super) fn below_private_top(
        &self,
        dir: usize,
        paths: &[PathBuf],
    ) -> Option<(&Arc<OwnedFd>, PathBuf)> {
        let top = self.private_top[dir].filter(|top| *top != dir)?;
        let fd = self.fds[top].as_ref()?;
        let rel = paths[dir].strip_prefix(&paths[top]).ok()?;
        (rel.as_os_str().len() <= dirfd::MAX_PATH_CHUNK).then(|| (fd, rel.to_path_buf()))
    }
}

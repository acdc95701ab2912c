//! The directories a call made, and how each is reached once made.
//!
//! Each new directory with entries to come is opened once, right after it is
//! made, while the budget of kept fds lasts (see `fd_budget`); that fd serves
//! its subdirectories' creation, its fill and its final mode and times.
//!
//! Past the budget, a directory of a new tree is reached by its path below
//! the tree's *private top*: its staging directory, made mode 0700 on a
//! local filesystem whose modes the kernel enforces
//! (`Platform::enforces_modes_locally`), checked once opened to be still
//! what this call made ([`still_private`]), and held. Until its final mode
//! is set, last of all, nobody but this uid (and root) can reach anything
//! below it, so no one else can swap a directory there for a symlink, and
//! one `mkdirat`, `utimensat` or `linkat` by that path does what opening
//! each parent first would: no parent is opened, again, per phase. Anywhere
//! else (a merge, another filesystem, a top that fails the check or is past
//! the budget) a parent is opened, refusing symlinks on the way.

use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use crate::dirfd;

/// By plan index: each made directory's fd where it was kept, and the
/// private top it was built below, if any.
pub(super) struct MadeDirs {
    fds: Vec<Option<Arc<OwnedFd>>>,
    private_top: Vec<Option<usize>>,
    /// The directory made 0700 to be a private top (whether or not it
    /// became one): its final mode is always set.
    made_0700: Option<usize>,
}

impl MadeDirs {
    pub(super) fn new(dirs: usize) -> Self {
        MadeDirs {
            fds: vec![None; dirs],
            private_top: vec![None; dirs],
            made_0700: None,
        }
    }

    /// The kept fd of directory `dir`.
    pub(super) fn fd(&self, dir: usize) -> Option<&Arc<OwnedFd>> {
        self.fds[dir].as_ref()
    }

    pub(super) fn keep(&mut self, dir: usize, fd: OwnedFd) {
        self.fds[dir] = Some(Arc::new(fd));
    }

    pub(super) fn made_0700(&mut self, dir: usize) {
        self.made_0700 = Some(dir);
    }

    pub(super) fn is_made_0700(&self, dir: usize) -> bool {
        self.made_0700 == Some(dir)
    }

    /// `dir`, made 0700 and kept, passed [`still_private`].
    pub(super) fn made_private_top(&mut self, dir: usize) {
        self.private_top[dir] = Some(dir);
    }

    /// `dir` was made in `parent`, below the same private top, if any.
    pub(super) fn made_in(&mut self, dir: usize, parent: usize) {
        self.private_top[dir] = self.private_top[parent];
    }

    /// Where directory `dir` (made below a private top) is reached by its
    /// path: the top's fd and `dir`'s path below it, given each directory's
    /// path from the anchor. `None` for the top itself, for a directory not
    /// below a private top, and for a path too long for one syscall.
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

/// `top`, just made 0700 by this call and opened by its name, if it is
/// still that: owned by this process's effective uid, with no access for
/// anyone else (a POSIX ACL's mask is those group bits), on the anchor's
/// device `dev`, and empty. Between the `mkdirat` and the open, whoever may
/// write in the parent may have renamed it and put a directory of their own
/// (maybe holding symlinks) in its place; what passes was made by this uid
/// (or root) and holds nothing, and from here on nobody else can add to it.
/// Costs an `fstat`, a `geteuid`, and a duplicate's two reads of an empty
/// listing and its close.
pub(super) fn still_private(top: OwnedFd, dev: u64) -> io::Result<Option<OwnedFd>> {
    let stat = rustix::fs::fstat(&top)?;
    #[allow(clippy::unnecessary_cast)] // Stat's field types differ between architectures.
    let mine = stat.st_uid == rustix::process::geteuid().as_raw()
        && stat.st_mode & 0o077 == 0
        && stat.st_dev as u64 == dev;
    if !mine {
        return Ok(None);
    }
    // Listed through a duplicate: a portable listing keeps the fd it reads.
    let (_, names) = dirfd::list_owned_dir(top.try_clone()?)?;
    Ok(names.is_empty().then_some(top))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    fn made_0700(parent: &Path, name: &str) -> (PathBuf, u64) {
        let dir = parent.join(name);
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        let dev = fs::metadata(&dir).unwrap().dev();
        (dir, dev)
    }

    fn check(dir: &Path, dev: u64) -> bool {
        still_private(dirfd::open_dir(dir).unwrap(), dev)
            .unwrap()
            .is_some()
    }

    #[test]
    fn an_empty_0700_directory_of_this_uid_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let (dir, dev) = made_0700(tmp.path(), "top");
        assert!(check(&dir, dev));
    }

    #[test]
    fn a_directory_put_in_its_place_is_not_private() {
        let tmp = tempfile::tempdir().unwrap();
        // Open to others, as a swapped-in directory would be.
        let (dir, dev) = made_0700(tmp.path(), "open");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!check(&dir, dev));
        // Not empty: something may already be below it.
        let (dir, dev) = made_0700(tmp.path(), "full");
        std::os::unix::fs::symlink("/", dir.join("escape")).unwrap();
        assert!(!check(&dir, dev));
        // Elsewhere than the anchor's device.
        let (dir, dev) = made_0700(tmp.path(), "moved");
        assert!(!check(&dir, dev + 1));
        // Owned by somebody else (as root, which the tests run as, it can be made so).
        let (dir, dev) = made_0700(tmp.path(), "theirs");
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            assert!(!check(&dir, dev));
        }
    }
}

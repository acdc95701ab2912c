//! What a failed call takes back, and only that.
//!
//! Everything is known by identity (st_dev, st_ino), never by spelling or by
//! name pattern: concurrent calls share directories (a namespace package that
//! two packages fill), and another process may move or replace a directory
//! while a call runs. So a roll-back removes an entry only while it is still
//! the one this call made, and a directory only once it is empty.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustix::fs::{AtFlags, Mode};

use crate::dirfd;
use crate::plan::{name_of, Child, ChildIndex, FileId, Plan};
use crate::platform::{Os, Platform};

/// An entry built under a temporary name, to be renamed to its final name.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The directory holding it, relative to the anchor.
    pub dir: PathBuf,
    /// That directory's fd, held from when the entry was made there: a
    /// roll-back reaches it through this wherever the directory has been
    /// moved. `None`: the anchor itself (held for the whole call), or past
    /// the call's [`FdBudget`](crate::fd_budget::FdBudget) (then by `dir`,
    /// from the anchor).
    pub held: Option<Arc<OwnedFd>>,
    pub temp: OsString,
    pub name: OsString,
    /// Replace an existing file or symlink at `name` (overwrite=True).
    pub replace: bool,
    /// The plan entry's relative path, for error messages.
    pub rel: PathBuf,
    /// For a directory, its index in `Plan::dirs`.
    pub plan_dir: Option<usize>,
}

/// An entry renamed in under a name that did not exist before.
#[derive(Debug)]
pub struct Committed {
    /// The directory holding it, relative to the anchor.
    pub dir: PathBuf,
    /// That directory's fd, as [`Staged::held`].
    pub held: Option<Arc<OwnedFd>>,
    pub name: OsString,
    /// What was renamed in; anything else found at `name` later is not ours.
    pub id: FileId,
    /// For a directory, its index in `Plan::dirs`.
    pub plan_dir: Option<usize>,
}

impl Committed {
    /// `staged`, now under its final name as the entry `id`.
    pub fn of(staged: &Staged, id: FileId) -> Self {
        Committed {
            dir: staged.dir.clone(),
            held: staged.held.clone(),
            name: staged.name.clone(),
            id,
            plan_dir: staged.plan_dir,
        }
    }
}

/// What to remove if the run fails: staged entries not yet renamed in, and
/// entries already renamed in under a name that did not exist before.
#[derive(Debug, Default)]
pub struct Undo {
    pub staged: Mutex<Vec<Staged>>,
    pub committed: Vec<Committed>,
}

impl Undo {
    pub fn track(&self, staged: Staged) {
        self.staged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(staged);
    }

    /// The entry tracked as `old` in `dir` is built as `new` instead.
    pub fn retarget(&self, dir: &Path, old: &OsStr, new: &OsStr) {
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = staged
            .iter_mut()
            .find(|entry| entry.dir == dir && entry.temp == old)
        {
            entry.temp = new.to_owned();
        }
    }

    /// Best effort: the error that caused the roll-back is what the caller
    /// needs to see.
    pub fn roll_back(self, anchor: BorrowedFd<'_>, plan: &Plan) {
        // Staging names are unique to this call, and nothing else writes
        // below them: they go whole.
        // Each through the directory it was made in, wherever that is now.
        let staged = self.staged.into_inner().unwrap_or_else(|e| e.into_inner());
        for entry in staged {
            if let Ok(dir) = reach(anchor, &entry.dir, entry.held.as_deref()) {
                let _ = dirfd::remove_tree_at(dir.as_fd(), &entry.temp);
            }
        }
        // A committed name is visible: another call may have put entries in a
        // directory this call made, or replaced what it renamed in.
        let children = (!self.committed.is_empty()).then(|| plan.children());
        for entry in self.committed.iter().rev() {
            let Ok(dir) = reach(anchor, &entry.dir, entry.held.as_deref()) else {
                continue;
            };
            if dirfd::lstat_identity(dir.as_fd(), &entry.name).ok() != Some(entry.id) {
                continue;
            }
            match (entry.plan_dir, children.as_ref()) {
                (Some(index), Some(children)) => {
                    remove_planned(dir.as_fd(), &entry.name, index, plan, children)
                }
                _ => {
                    let _ = dirfd::unlink_at(dir.as_fd(), &entry.name);
                }
            }
        }
    }
}

/// The directory an entry was made in: the fd held since, else `dir` below
/// the anchor.
fn reach<'a>(
    anchor: BorrowedFd<'a>,
    dir: &Path,
    held: Option<&'a OwnedFd>,
) -> io::Result<dirfd::DirFd<'a>> {
    match held {
        Some(fd) => Ok(dirfd::DirFd::Borrowed(fd.as_fd())),
        None => dirfd::dir_beneath(anchor, dir),
    }
}

/// Remove, from the directory `name` in `parent` (plan directory `index`),
/// the entries the plan put there, then the directory itself if that left it
/// empty. Entries another call added (and so the directory) stay.
fn remove_planned(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    index: usize,
    plan: &Plan,
    children: &ChildIndex,
) {
    let Ok(dir) = dirfd::open_dir_beneath(parent, Path::new(name)) else {
        return;
    };
    // A read-only source directory was copied read-only: open it up to
    // empty it, and put the mode back if it must stay.
    let mode = rustix::fs::fstat(&dir)
        .map(|stat| stat.st_mode & 0o7777)
        .ok();
    let _ = rustix::fs::fchmod(&dir, Mode::from_raw_mode(0o700));
    for &child in &children.of[index] {
        let child_name = name_of(child.rel(plan));
        match child {
            Child::Dir(j) => remove_planned(dir.as_fd(), child_name, j, plan, children),
            Child::File(_) | Child::Symlink(_) => {
                let _ = dirfd::unlink_at(dir.as_fd(), child_name);
            }
        }
    }
    if rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR).is_err() {
        if let Some(mode) = mode {
            let _ = rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode as _));
        }
    }
}

/// The missing parents of `dst` that this call created (`mkdir -p`), each
/// with the directory it was made in and its identity.
#[derive(Debug, Default)]
pub struct CreatedParents {
    dirs: Vec<(OwnedFd, OsString, FileId)>,
}

impl CreatedParents {
    /// Create the directories of `missing` (relative to `existing`, the
    /// nearest existing ancestor) one inside the other, through directory
    /// fds, and return the innermost: the directory `dst` goes in. One that
    /// another process creates meanwhile is used, and is not ours to remove.
    pub fn create(&mut self, existing: &Path, missing: &Path) -> io::Result<OwnedFd> {
        // The directories walked down so far: `..` steps back up one, as
        // `os.makedirs("missing/../d")` makes `missing` and then `d` beside
        // it. (A `..` above `existing` is opened by its path.)
        let mut walked: Vec<OwnedFd> = Vec::new();
        let mut base = existing.to_path_buf();
        let mut current = dirfd::open_dir(existing)?;
        for component in missing.components() {
            let name = component.as_os_str();
            match component {
                Component::CurDir => continue,
                Component::ParentDir => {
                    current = match walked.pop() {
                        Some(parent) => parent,
                        None => {
                            base.push("..");
                            dirfd::open_dir(&base)?
                        }
                    };
                    continue;
                }
                _ => {}
            }
            let made = match dirfd::mkdir_at(current.as_fd(), name, 0o777) {
                Ok(()) => true,
                Err(err) if err.raw_os_error() == Some(libc::EEXIST) => false,
                Err(err) => return Err(err),
            };
            let next = dirfd::open_dir_beneath(current.as_fd(), Path::new(name))?;
            if made {
                let id = dirfd::identity(next.as_fd())?;
                let parent = rustix::io::dup(&current)?;
                self.dirs.push((parent, name.to_owned(), id));
            }
            walked.push(std::mem::replace(&mut current, next));
        }
        Ok(current)
    }

    /// Remove, innermost first, each created parent that is still the one
    /// this call made and is empty.
    pub fn roll_back(self) {
        for (parent, name, id) in self.dirs.into_iter().rev() {
            if dirfd::lstat_identity(parent.as_fd(), &name).ok() != Some(id) {
                continue;
            }
            // Never one another call is anchored in (it holds the shared
            // lock): it may be about to fill it.
            let Ok(dir) = dirfd::open_dir_beneath(parent.as_fd(), Path::new(&name)) else {
                continue;
            };
            if Os::try_lock_exclusive(dir.as_fd()).unwrap_or(true) {
                let _ = rustix::fs::unlinkat(&parent, &name, AtFlags::REMOVEDIR);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn created_parents_are_removed_innermost_first_when_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let mut created = CreatedParents::default();
        created.create(tmp.path(), Path::new("a/b/c")).unwrap();
        assert!(tmp.path().join("a/b/c").is_dir());

        created.roll_back();

        assert!(!tmp.path().join("a").exists());
    }

    #[test]
    fn a_parent_replaced_meanwhile_is_not_ours_to_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let mut created = CreatedParents::default();
        created.create(tmp.path(), Path::new("a/b")).unwrap();
        // Another process moves ours away and puts its own (empty) one there.
        fs::rename(tmp.path().join("a"), tmp.path().join("moved")).unwrap();
        fs::create_dir_all(tmp.path().join("a/b")).unwrap();

        created.roll_back();

        assert!(tmp.path().join("a/b").is_dir());
    }

    #[test]
    fn a_parent_that_already_existed_is_never_removed() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("a")).unwrap();
        let mut created = CreatedParents::default();
        created.create(tmp.path(), Path::new("a/b")).unwrap();

        created.roll_back();

        assert!(tmp.path().join("a").is_dir());
        assert!(!tmp.path().join("a/b").exists());
    }
}

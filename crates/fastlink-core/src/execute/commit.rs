//! The commit: every staged name is renamed to its final name. It is the
//! point of no return for a cancel, and it is where a directory moved or
//! replaced under the call would be noticed too late, so the anchor is
//! checked on both sides of it.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType};

use super::undo::{Committed, Staged, Undo};
use super::Execution;
use crate::dirfd;
use crate::error::{Error, Result};
use crate::plan::{name_of, Child, FileId};

impl Execution<'_> {
    /// Rename every staged entry to its final name. New names never replace
    /// anything (RENAME_NOREPLACE): a destination that appeared meanwhile is
    /// an error, never clobbered, except that in a merge a directory another
    /// caller created meanwhile (a shared namespace package, say) is merged
    /// into entry by entry.
    /// `held`: the anchor's identity, taken when the call opened it.
    pub(super) fn commit(
        &self,
        anchor: BorrowedFd<'_>,
        held: FileId,
        undo: &mut Undo,
    ) -> Result<()> {
        self.cancel.begin_commit()?;
        self.anchor_in_place(held)?;
        let staged = std::mem::take(undo.staged.get_mut().unwrap_or_else(|e| e.into_inner()));
        let mut pending = staged.into_iter();
        while let Some(entry) = pending.next() {
            if let Err(err) = self.commit_one(anchor, &entry, &mut undo.committed) {
                // Put the rest back so the roll-back removes them too.
                let rest = undo.staged.get_mut().unwrap_or_else(|e| e.into_inner());
                rest.push(entry.clone());
                rest.extend(pending);
                let src = self.plan.src_path(&entry.rel);
                return Err(Error::io(err, &src, &self.destination.path(&entry.rel)));
            }
        }
        // Moved during the renames: the tree is not at `dst`, so the call
        // must not report success (the roll-back takes it out again).
        self.anchor_in_place(held)
    }

    pub(super) fn commit_error(&self, err: io::Error) -> Error {
        Error::io(err, self.src_root(), self.dst_root())
    }

    /// The anchor (dst for a merge, its parent for a new tree) must still be
    /// the directory its path names. If it was moved or replaced during the
    /// call, renaming into it would put the tree somewhere other than `dst`.
    fn anchor_in_place(&self, held: FileId) -> Result<()> {
        let at_path =
            std::fs::metadata(self.anchor_path()).map_err(|err| self.commit_error(err))?;
        if (at_path.dev(), at_path.ino()) != held {
            return Err(self.commit_error(io::Error::from_raw_os_error(libc::ENOENT)));
        }
        Ok(())
    }

    fn commit_one(
        &self,
        anchor: BorrowedFd<'_>,
        entry: &Staged,
        committed: &mut Vec<Committed>,
    ) -> io::Result<()> {
        let dir = dirfd::dir_beneath(anchor, &entry.dir)?;
        let stat = dirfd::lstat_at(dir.as_fd(), &entry.temp)?;
        #[allow(clippy::unnecessary_cast)]
        let id = (stat.st_dev as u64, stat.st_ino as u64);
        let is_dir = FileType::from_raw_mode(stat.st_mode as _) == FileType::Directory;
        if entry.temp == entry.name {
            // Built in place (where a directory rename loses its contents):
            // already under its name, and rolled back as if renamed in.
            committed.push(Committed::of(entry, id));
            return Ok(());
        }
        if entry.replace && is_dir {
            // rename(2) cannot put a directory over a file or symlink: remove the
            // link itself (never what it points to), then rename in.
            match dirfd::unlink_at(dir.as_fd(), &entry.name) {
                Ok(()) => {}
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {}
                Err(err) => return Err(err),
            }
        }
        let replace = entry.replace && !is_dir;
        match dirfd::rename_at(dir.as_fd(), &entry.temp, &entry.name, replace) {
            Ok(()) => {
                if !entry.replace {
                    committed.push(Committed::of(entry, id));
                }
                Ok(())
            }
            // A directory another caller created meanwhile: merged into, in a
            // merge, and for a new tree whose caller allowed merging (many
            // packages racing to create one site-packages).
            Err(err)
                if (self.destination.root_existed
                    || (self.options.dirs_exist_ok && entry.plan_dir == Some(0)))
                    && matches!(err.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY))
                    && dirfd::is_dir_at(dir.as_fd(), &entry.name).unwrap_or(false) =>
            {
                match entry.plan_dir {
                    Some(index) => {
                        let into = MergeInto {
                            parent: dir.as_fd(),
                            staged: &entry.temp,
                            existing: &entry.name,
                            existing_rel: entry.dir.join(&entry.name),
                        };
                        self.merge_staged_dir(into, index, committed)
                    }
                    None => Err(err),
                }
            }
            // overwrite=True, and a file or symlink appeared at the name
            // since the validation (another call placing the same file):
            // replaced, as one found then would have been. Not tracked as
            // new: the roll-back never removes what it replaced.
            Err(err)
                if self.options.overwrite
                    && !is_dir
                    && err.raw_os_error() == Some(libc::EEXIST)
                    && !dirfd::is_dir_at(dir.as_fd(), &entry.name).unwrap_or(true) =>
            {
                dirfd::rename_at(dir.as_fd(), &entry.temp, &entry.name, true)
            }
            Err(err) => Err(err),
        }
    }

    /// Move the entries of a staged directory (plan directory `index`) into
    /// the existing directory of the same name that another caller created
    /// meanwhile, recursing where both have a directory, then remove the
    /// emptied staged directories. Only the plan's names are moved, and each
    /// is recorded by identity for a roll-back.
    fn merge_staged_dir(
        &self,
        into: MergeInto<'_>,
        index: usize,
        committed: &mut Vec<Committed>,
    ) -> io::Result<()> {
        let open =
            |dir: BorrowedFd<'_>, name: &OsStr| dirfd::open_dir_beneath(dir, Path::new(name));
        let children = self.plan.children();
        let mut stack: Vec<(OwnedFd, OwnedFd, PathBuf, usize)> = vec![(
            open(into.parent, into.staged)?,
            open(into.parent, into.existing)?,
            into.existing_rel,
            index,
        )];
        let mut emptied: Vec<(OwnedFd, std::ffi::OsString)> = Vec::new();
        while let Some((from, to, rel, index)) = stack.pop() {
            for &child in &children.of[index] {
                let name = name_of(child.rel(self.plan));
                let id = dirfd::lstat_identity(from.as_fd(), name)?;
                let plan_dir = match child {
                    Child::Dir(j) => Some(j),
                    Child::File(_) | Child::Symlink(_) => None,
                };
                match dirfd::rename_between(from.as_fd(), name, to.as_fd(), name, false) {
                    Ok(()) => committed.push(Committed {
                        dir: rel.clone(),
                        held: None,
                        name: name.to_owned(),
                        id,
                        plan_dir,
                    }),
                    Err(err)
                        if matches!(err.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) =>
                    {
                        let theirs_is_dir = dirfd::is_dir_at(to.as_fd(), name)?;
                        match plan_dir {
                            Some(j) if theirs_is_dir => {
                                stack.push((
                                    open(from.as_fd(), name)?,
                                    open(to.as_fd(), name)?,
                                    rel.join(name),
                                    j,
                                ));
                                emptied
                                    .push((open(from.as_fd(), OsStr::new(""))?, name.to_owned()));
                            }
                            None if self.options.overwrite && !theirs_is_dir => {
                                dirfd::rename_between(from.as_fd(), name, to.as_fd(), name, true)?
                            }
                            _ => return Err(err),
                        }
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        // Innermost first: each staged directory is empty once its children are.
        for (dir, name) in emptied.into_iter().rev() {
            let _ = rustix::fs::unlinkat(dir.as_fd(), &name, AtFlags::REMOVEDIR);
        }
        Ok(rustix::fs::unlinkat(
            into.parent,
            into.staged,
            AtFlags::REMOVEDIR,
        )?)
    }
}

/// A staged directory (`staged`) and the existing one (`existing`) it is
/// merged into, both in `parent`; `existing_rel` is relative to the anchor.
struct MergeInto<'a> {
    parent: BorrowedFd<'a>,
    staged: &'a OsStr,
    existing: &'a OsStr,
    existing_rel: PathBuf,
}

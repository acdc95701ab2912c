//! Carry out a validated plan, all-or-nothing:
//!
//! 1. New entries are built where no final name is visible: a new tree in a
//!    staging directory beside `dst`, a new subtree of a merge in a staging
//!    directory inside its existing parent, a file that lands in an existing
//!    directory under a temp name there.
//! 2. Directories are created, then filled in parallel (files grouped by
//!    directory, each group working through two directory fds), then given
//!    their final mode and times.
//! 3. Commit: every staged name is renamed to its final name.
//!
//! Any error (or Ctrl-C) before the commit removes everything staged, so the
//! destination is exactly as it was. All creation is relative to directory
//! fds opened without following symlinks.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use rustix::fs::{Mode, OFlags};

use crate::cancel::CancelFlag;
use crate::destination::{Destination, DirAction, LeafAction};
use crate::dirfd;
use crate::error::{Error, Result};
use crate::meta;
use crate::method::Method;
use crate::plan::{name_of, FilePlan, Plan, RootKind, SymlinkPlan};
use crate::platform;
use crate::progress::{FileProgress, Progress};
use crate::report::Fallback;

/// The prefix of a new tree (or single file) being built beside `dst`.
/// `.fastlink-staging.<pid>.<n>.<dst name>`; a run that was killed leaves at
/// most this behind, and the next run to the same `dst` removes it.
pub const STAGING_PREFIX: &str = ".fastlink-staging.";
/// The prefix of a file being written into an existing directory of a merge.
pub const TEMP_PREFIX: &str = ".fastlink-tmp.";

/// Files per parallel work unit: large enough to amortize opening the two
/// directory fds, small enough to balance a directory of thousands of files.
const FILES_PER_UNIT: usize = 64;

/// How the work is to be done, once the method is chosen.
pub struct Execution<'a> {
    pub plan: &'a Plan,
    pub destination: &'a Destination,
    /// The chosen method first, then the allowed methods a single file may
    /// still fall back to when it meets an "impossible" errno.
    pub methods: &'a [Method],
    pub preserve_times: bool,
    /// In a merge, replace existing files and symlinks.
    pub overwrite: bool,
    pub threads: usize,
    pub cancel: &'a CancelFlag,
    pub progress: &'a Progress,
}

/// Files placed by each method, and the per-file fallbacks that led there.
#[derive(Debug, Default)]
pub struct Counts {
    reflinked: AtomicUsize,
    hardlinked: AtomicUsize,
    copied: AtomicUsize,
    /// (method, errno, files): rare, so one lock serves every worker.
    fallbacks: Mutex<Vec<(Method, i32, usize)>>,
}

impl Counts {
    fn counter(&self, method: Method) -> &AtomicUsize {
        match method {
            Method::Reflink => &self.reflinked,
            Method::Hardlink => &self.hardlinked,
            Method::Copy => &self.copied,
        }
    }

    fn add(&self, method: Method, files: usize) {
        self.counter(method).fetch_add(files, Ordering::Relaxed);
    }

    pub fn get(&self, method: Method) -> usize {
        self.counter(method).load(Ordering::Relaxed)
    }

    /// One file could not use `method` (`errno`) and went on to the next.
    fn fell_back(&self, method: Method, errno: i32) {
        let mut fallbacks = self.fallbacks.lock().unwrap_or_else(|e| e.into_inner());
        match fallbacks
            .iter_mut()
            .find(|(m, e, _)| (*m, *e) == (method, errno))
        {
            Some((_, _, files)) => *files += 1,
            None => fallbacks.push((method, errno, 1)),
        }
    }

    pub fn fallbacks(&self) -> Vec<Fallback> {
        let fallbacks = self.fallbacks.lock().unwrap_or_else(|e| e.into_inner());
        fallbacks
            .iter()
            .map(|&(method, errno, files)| Fallback {
                method,
                errno,
                files,
                message: Error::method_impossible(method, errno)
                    .message()
                    .to_string(),
            })
            .collect()
    }
}

/// An entry built under a temporary name, to be renamed to its final name.
#[derive(Debug, Clone)]
struct Staged {
    /// The directory holding it, relative to the anchor.
    dir: PathBuf,
    temp: OsString,
    name: OsString,
    /// Replace an existing file or symlink at `name` (overwrite=True).
    replace: bool,
    /// The plan entry's relative path, for error messages.
    rel: PathBuf,
}

/// What to remove if the run fails: staged entries not yet renamed in, and
/// entries already renamed in under a name that did not exist before.
#[derive(Debug, Default)]
struct Undo {
    staged: Mutex<Vec<Staged>>,
    committed: Vec<(PathBuf, OsString)>,
}

impl Undo {
    fn track(&self, staged: Staged) {
        self.staged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(staged);
    }

    /// Best effort: the error that caused the roll-back is what the caller
    /// needs to see.
    fn roll_back(self, anchor: BorrowedFd<'_>) {
        let staged = self.staged.into_inner().unwrap_or_else(|e| e.into_inner());
        let entries = staged
            .into_iter()
            .map(|s| (s.dir, s.temp))
            .chain(self.committed);
        for (dir, name) in entries {
            if let Ok(dir_fd) = dirfd::open_dir_beneath(anchor, &dir) {
                let _ = dirfd::remove_tree_at(dir_fd.as_fd(), &name);
            }
        }
    }
}

/// A group of files (or symlinks) of one directory, processed by one worker.
enum Unit {
    Files {
        parent: usize,
        first: usize,
        end: usize,
    },
    Symlinks {
        parent: usize,
        first: usize,
        end: usize,
    },
}

/// The two directory fds a unit works through.
struct DirPair {
    src: OwnedFd,
    dst: OwnedFd,
    /// The destination directory relative to the anchor.
    dst_dir: PathBuf,
}

impl Execution<'_> {
    pub fn run(&self) -> Result<Counts> {
        let counts = Counts::default();
        let mut created_parents = Vec::new();
        let result = self.open_anchor(&mut created_parents).and_then(|anchor| {
            let mut undo = Undo::default();
            let built = self.build(anchor.as_fd(), &counts, &mut undo);
            if built.is_err() {
                undo.roll_back(anchor.as_fd());
            }
            built
        });
        if result.is_err() {
            for parent in created_parents.iter().rev() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        result.map(|()| counts)
    }

    fn src_root(&self) -> &Path {
        &self.plan.src_root
    }

    fn dst_root(&self) -> &Path {
        &self.destination.root
    }

    /// The directory every build path is relative to: `dst` itself for a
    /// merge, its parent (created if missing) for a new tree.
    fn open_anchor(&self, created_parents: &mut Vec<PathBuf>) -> Result<OwnedFd> {
        let dst = self.dst_root();
        let fail = |err| Error::io(err, self.src_root(), dst);
        if self.destination.root_existed {
            return dirfd::open_dir(dst).map_err(fail);
        }
        create_parents(dst, created_parents).map_err(fail)?;
        let anchor = dirfd::open_dir(parent_or_dot(dst)).map_err(fail)?;
        remove_stale_staging(anchor.as_fd(), final_name(dst));
        Ok(anchor)
    }

    fn build(&self, anchor: BorrowedFd<'_>, counts: &Counts, undo: &mut Undo) -> Result<()> {
        if self.plan.root_kind == RootKind::File {
            let pair = self.root_file_pair(anchor)?;
            let file = &self.plan.files[0];
            self.place_file(
                &pair,
                file,
                LeafAction::Staged { replace: false },
                counts,
                undo,
            )?;
            return self.commit(anchor, undo);
        }
        let paths = self.build_paths();
        if self.clone_whole_tree(&paths[0], undo)? {
            counts.add(Method::Reflink, self.plan.files.len());
            let files = self.plan.files.len() as u64;
            self.progress.add_done(files, self.plan.total_bytes());
            return self.commit(anchor, undo);
        }
        self.create_dirs(anchor, &paths, undo)?;
        self.fill(anchor, &paths, counts, undo)?;
        self.finish_dirs(anchor, &paths)?;
        self.commit(anchor, undo)
    }

    /// Where each planned directory is built, relative to the anchor.
    fn build_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = Vec::with_capacity(self.plan.dirs.len());
        for (i, dir) in self.plan.dirs.iter().enumerate() {
            let parent = dir.parent.map_or(Path::new(""), |p| paths[p].as_path());
            let path = match self.destination.dir_actions[i] {
                DirAction::Existing => dir.rel.clone(),
                DirAction::Create => parent.join(name_of(&dir.rel)),
                DirAction::Staged { .. } => {
                    parent.join(temp_name(STAGING_PREFIX, self.final_dir_name(i)))
                }
            };
            paths.push(path);
        }
        paths
    }

    /// The name a directory gets when it is renamed in: its own, or `dst`'s for the root.
    fn final_dir_name(&self, index: usize) -> &OsStr {
        match index {
            0 => final_name(self.dst_root()),
            _ => name_of(&self.plan.dirs[index].rel),
        }
    }

    /// Where the OS clones a directory hierarchy in one call (macOS), use it
    /// for a new destination. Only when nothing needs changing afterwards:
    /// times are kept by the clone, and no setuid/setgid bit must be cleared.
    fn clone_whole_tree(&self, staging: &Path, undo: &Undo) -> Result<bool> {
        let whole_tree_possible = self.methods[0] == Method::Reflink
            && !self.destination.root_existed
            && self.preserve_times
            && !self.plan.dirs.iter().any(|d| d.meta.has_setid_bits())
            && !self.plan.files.iter().any(|f| f.meta.has_setid_bits());
        if !whole_tree_possible {
            return Ok(false);
        }
        let staging_path = parent_or_dot(self.dst_root()).join(staging);
        match platform::clone_tree(self.src_root(), &staging_path) {
            None => Ok(false),
            Some(Ok(())) => {
                undo.track(self.staged_dir(0, Path::new(""), staging));
                Ok(true)
            }
            Some(Err(err)) => {
                let errno = err.raw_os_error().unwrap_or(libc::EIO);
                if Method::Reflink.is_impossible_errno(errno) {
                    Ok(false)
                } else {
                    Err(Error::io(err, self.src_root(), self.dst_root()))
                }
            }
        }
    }

    fn staged_dir(&self, index: usize, parent: &Path, path: &Path) -> Staged {
        let replace = matches!(
            self.destination.dir_actions[index],
            DirAction::Staged { replace: true }
        );
        Staged {
            dir: parent.to_path_buf(),
            temp: name_of(path).to_owned(),
            name: self.final_dir_name(index).to_owned(),
            replace,
            rel: self.plan.dirs[index].rel.clone(),
        }
    }

    /// Create the directories parents-first, each with its final mode plus
    /// owner rwx (so a read-only source directory can still be filled).
    /// Siblings are adjacent in the plan, so one parent fd serves them all.
    /// (An inherited setgid bit is cleared when the mode is set at the end.)
    fn create_dirs(&self, anchor: BorrowedFd<'_>, paths: &[PathBuf], undo: &Undo) -> Result<()> {
        let mut parent_fd: Option<(usize, OwnedFd)> = None;
        for (i, dir) in self.plan.dirs.iter().enumerate() {
            let action = self.destination.dir_actions[i];
            if action == DirAction::Existing {
                continue;
            }
            self.cancel.check()?;
            let fail = |err| {
                Error::io(
                    err,
                    &self.plan.src_path(&dir.rel),
                    &self.destination.path(&dir.rel),
                )
            };
            let parent_path = dir.parent.map_or(Path::new(""), |p| paths[p].as_path());
            let parent_key = dir.parent.map_or(usize::MAX, |p| p);
            if parent_fd.as_ref().is_none_or(|(key, _)| *key != parent_key) {
                let fd = dirfd::open_dir_beneath(anchor, parent_path).map_err(fail)?;
                parent_fd = Some((parent_key, fd));
            }
            let (_, fd) = parent_fd.as_ref().expect("opened above");
            if let DirAction::Staged { .. } = action {
                undo.track(self.staged_dir(i, parent_path, &paths[i]));
            }
            dirfd::mkdir_at(fd.as_fd(), name_of(&paths[i]), dir.meta.safe_mode() | 0o700)
                .map_err(fail)?;
        }
        Ok(())
    }

    /// Fill the directories in parallel, a unit of one directory's files or
    /// symlinks at a time.
    fn fill(
        &self,
        anchor: BorrowedFd<'_>,
        paths: &[PathBuf],
        counts: &Counts,
        undo: &Undo,
    ) -> Result<()> {
        let src_root = dirfd::open_dir(self.src_root())
            .map_err(|err| Error::io(err, self.src_root(), self.dst_root()))?;
        let units = self.units();
        let pool = crate::pool::pool(self.threads)?;
        pool.install(|| {
            units.par_iter().try_for_each(|unit| {
                let (Unit::Files { parent, .. } | Unit::Symlinks { parent, .. }) = *unit;
                let pair = self.dir_pair(src_root.as_fd(), anchor, parent, &paths[parent])?;
                match *unit {
                    Unit::Files { first, end, .. } => {
                        for i in first..end {
                            self.cancel.check()?;
                            let action = self.destination.file_actions[i];
                            let file = &self.plan.files[i];
                            self.place_file(&pair, file, action, counts, undo)?;
                        }
                    }
                    Unit::Symlinks { first, end, .. } => {
                        for i in first..end {
                            self.cancel.check()?;
                            let action = self.destination.symlink_actions[i];
                            self.place_symlink(&pair, &self.plan.symlinks[i], action, undo)?;
                        }
                    }
                }
                Ok(())
            })
        })
    }

    fn units(&self) -> Vec<Unit> {
        let mut units = Vec::new();
        for (first, end) in groups(self.plan.files.iter().map(|f| f.parent)) {
            let parent = self.plan.files[first].parent;
            units.push(Unit::Files { parent, first, end });
        }
        for (first, end) in groups(self.plan.symlinks.iter().map(|l| l.parent)) {
            let parent = self.plan.symlinks[first].parent;
            units.push(Unit::Symlinks { parent, first, end });
        }
        units
    }

    fn dir_pair(
        &self,
        src_root: BorrowedFd<'_>,
        anchor: BorrowedFd<'_>,
        dir: usize,
        dst_dir: &Path,
    ) -> Result<DirPair> {
        let rel = &self.plan.dirs[dir].rel;
        let fail = |err| Error::io(err, &self.plan.src_path(rel), &self.destination.path(rel));
        Ok(DirPair {
            src: dirfd::open_dir_beneath(src_root, rel).map_err(fail)?,
            dst: dirfd::open_dir_beneath(anchor, dst_dir).map_err(fail)?,
            dst_dir: dst_dir.to_path_buf(),
        })
    }

    /// A single-file source: its directory, and `dst`'s parent (the anchor).
    fn root_file_pair(&self, anchor: BorrowedFd<'_>) -> Result<DirPair> {
        let fail = |err| Error::io(err, self.src_root(), self.dst_root());
        let src_dir = dirfd::open_dir(parent_or_dot(self.src_root())).map_err(fail)?;
        let dst = dirfd::open_dir_beneath(anchor, Path::new("")).map_err(fail)?;
        Ok(DirPair {
            src: src_dir,
            dst,
            dst_dir: PathBuf::new(),
        })
    }

    /// The (source name, final destination name) of a planned leaf.
    fn leaf_names<'p>(&'p self, rel: &'p Path) -> (&'p OsStr, &'p OsStr) {
        if rel.as_os_str().is_empty() {
            (final_name(self.src_root()), final_name(self.dst_root()))
        } else {
            (name_of(rel), name_of(rel))
        }
    }

    /// The name to create a leaf under, registering it for commit and
    /// roll-back when it is a temp name.
    fn leaf_target(
        &self,
        pair: &DirPair,
        rel: &Path,
        name: &OsStr,
        action: LeafAction,
        undo: &Undo,
    ) -> OsString {
        match action {
            LeafAction::Create => name.to_owned(),
            LeafAction::Staged { replace } => {
                let prefix = if self.destination.root_existed {
                    TEMP_PREFIX
                } else {
                    STAGING_PREFIX
                };
                let temp = temp_name(prefix, name);
                undo.track(Staged {
                    dir: pair.dst_dir.clone(),
                    temp: temp.clone(),
                    name: name.to_owned(),
                    replace,
                    rel: rel.to_path_buf(),
                });
                temp
            }
        }
    }

    /// Put one file in place with the first method that works for it, and
    /// count it under that method. A method failing with an errno that means
    /// "cannot" passes this file alone to the next allowed method (counted as
    /// a fallback); with no method left, that is the typed "impossible" error.
    /// Any other error is raised.
    fn place_file(
        &self,
        pair: &DirPair,
        file: &FilePlan,
        action: LeafAction,
        counts: &Counts,
        undo: &Undo,
    ) -> Result<()> {
        let (src_name, dst_name) = self.leaf_names(&file.rel);
        let target = self.leaf_target(pair, &file.rel, dst_name, action, undo);
        let src_path = || self.plan.src_path(&file.rel);
        let dst_path = || self.destination.path(&file.rel);
        let share = self.progress.file();
        let mut opened: Option<File> = None;
        for (i, &method) in self.methods.iter().enumerate() {
            let attempt = match method {
                // A hard link shares the inode and so its setuid/setgid bits,
                // which fastlink never carries over: such a file takes the next method.
                Method::Hardlink if file.meta.has_setid_bits() => {
                    Err(io::Error::from_raw_os_error(libc::EPERM))
                }
                Method::Hardlink => {
                    dirfd::hardlink_at(pair.src.as_fd(), src_name, pair.dst.as_fd(), &target)
                }
                Method::Reflink | Method::Copy => {
                    if opened.is_none() {
                        let source = open_source(pair.src.as_fd(), src_name)
                            .map_err(|err| Error::io(err, &src_path(), &dst_path()))?;
                        opened = Some(source);
                    }
                    let source = opened.as_ref().expect("opened above");
                    let dst_dir = pair.dst.as_fd();
                    match self.write_file(method, source, dst_dir, &target, file, &share) {
                        Ok(seen) if seen != file.size => {
                            return Err(Error::source_changed(
                                &src_path(),
                                &dst_path(),
                                file.size,
                                seen,
                            ));
                        }
                        Ok(_) => Ok(()),
                        Err(err) => Err(err),
                    }
                }
            };
            let err = match attempt {
                Ok(()) => {
                    share.done(file.size);
                    counts.add(method, 1);
                    return Ok(());
                }
                Err(err) => err,
            };
            self.cancel.check()?;
            let errno = err.raw_os_error().unwrap_or(libc::EIO);
            if !method.is_impossible_errno(errno) {
                return Err(Error::io(err, &src_path(), &dst_path()));
            }
            if i + 1 == self.methods.len() {
                return Err(
                    Error::method_impossible(method, errno).with_paths(&src_path(), &dst_path())
                );
            }
            counts.fell_back(method, errno);
        }
        unreachable!("methods is never empty")
    }

    /// Write one file by reflink or copy; returns the source size seen (the
    /// planned size for a clone, which takes the file as it is at that moment).
    fn write_file(
        &self,
        method: Method,
        source: &File,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        file: &FilePlan,
        share: &FileProgress<'_>,
    ) -> io::Result<u64> {
        let mode = file.meta.safe_mode();
        let (written, seen) = match method {
            Method::Reflink => (platform::reflink_new(source, dir, name, mode)?, file.size),
            _ => {
                let hints = platform::CopyHints {
                    size: file.size,
                    sparse: file.sparse,
                    // A slow source must not hold up Ctrl-C for a whole file.
                    on_copied: &|bytes| {
                        share.copied(bytes);
                        self.cancel.check_io()
                    },
                };
                platform::copy_new(source, dir, name, mode, &hints)?
            }
        };
        if self.preserve_times {
            meta::set_file_times(&written, &file.meta)?;
        }
        Ok(seen)
    }

    fn place_symlink(
        &self,
        pair: &DirPair,
        link: &SymlinkPlan,
        action: LeafAction,
        undo: &Undo,
    ) -> Result<()> {
        let name = name_of(&link.rel);
        let target = self.leaf_target(pair, &link.rel, name, action, undo);
        let fail = |err| {
            Error::io(
                err,
                &self.plan.src_path(&link.rel),
                &self.destination.path(&link.rel),
            )
        };
        dirfd::symlink_at(&link.target, pair.dst.as_fd(), &target).map_err(fail)?;
        if self.preserve_times {
            meta::set_times_at(pair.dst.as_fd(), &target, &link.meta).map_err(fail)?;
        }
        Ok(())
    }

    /// Children are complete, so the final mode (maybe read-only) and the
    /// times (which creating children changed) can be set now.
    fn finish_dirs(&self, anchor: BorrowedFd<'_>, paths: &[PathBuf]) -> Result<()> {
        let mut parent_fd: Option<(usize, OwnedFd)> = None;
        for (i, dir) in self.plan.dirs.iter().enumerate().rev() {
            if self.destination.dir_actions[i] == DirAction::Existing {
                continue;
            }
            let fail = |err| {
                Error::io(
                    err,
                    &self.plan.src_path(&dir.rel),
                    &self.destination.path(&dir.rel),
                )
            };
            let parent_key = dir.parent.map_or(usize::MAX, |p| p);
            if parent_fd.as_ref().is_none_or(|(key, _)| *key != parent_key) {
                let parent_path = dir.parent.map_or(Path::new(""), |p| paths[p].as_path());
                parent_fd = Some((
                    parent_key,
                    dirfd::open_dir_beneath(anchor, parent_path).map_err(fail)?,
                ));
            }
            let (_, fd) = parent_fd.as_ref().expect("opened above");
            let name = name_of(&paths[i]);
            // Created as mode | 0o700, then trimmed by the umask or a default
            // ACL of its parent, either of which may change between calls:
            // the exact mode is always set again.
            meta::set_mode_at(fd.as_fd(), name, dir.meta.safe_mode()).map_err(fail)?;
            if self.preserve_times {
                meta::set_times_at(fd.as_fd(), name, &dir.meta).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Rename every staged entry to its final name. New names never replace
    /// anything (RENAME_NOREPLACE): a destination that appeared meanwhile is
    /// an error, never clobbered, except that in a merge a directory another
    /// caller created meanwhile (a shared namespace package, say) is merged
    /// into entry by entry.
    fn commit(&self, anchor: BorrowedFd<'_>, undo: &mut Undo) -> Result<()> {
        self.cancel.begin_commit()?;
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
        Ok(())
    }

    fn commit_one(
        &self,
        anchor: BorrowedFd<'_>,
        entry: &Staged,
        committed: &mut Vec<(PathBuf, OsString)>,
    ) -> io::Result<()> {
        let dir = dirfd::open_dir_beneath(anchor, &entry.dir)?;
        let is_dir = dirfd::is_dir_at(dir.as_fd(), &entry.temp)?;
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
                    committed.push((entry.dir.clone(), entry.name.clone()));
                }
                Ok(())
            }
            Err(err)
                if self.destination.root_existed
                    && is_dir
                    && matches!(err.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY))
                    && dirfd::is_dir_at(dir.as_fd(), &entry.name).unwrap_or(false) =>
            {
                let target = entry.dir.join(&entry.name);
                merge_staged_dir(
                    dir.as_fd(),
                    &entry.temp,
                    &entry.name,
                    &target,
                    self.overwrite,
                    committed,
                )
            }
            Err(err) => Err(err),
        }
    }
}

/// Move the entries of the staged directory `staged` into the existing
/// directory `existing` (both in `parent`), recursing where both have a
/// directory of the same name, then remove the emptied staged directory.
/// `existing_rel` is `existing` relative to the anchor, for the roll-back
/// list of names this call added.
fn merge_staged_dir(
    parent: BorrowedFd<'_>,
    staged: &OsStr,
    existing: &OsStr,
    existing_rel: &Path,
    overwrite: bool,
    committed: &mut Vec<(PathBuf, OsString)>,
) -> io::Result<()> {
    let open = |dir: BorrowedFd<'_>, name: &OsStr| dirfd::open_dir_beneath(dir, Path::new(name));
    // (staged dir, existing dir, the existing dir's path relative to the anchor)
    let mut stack = vec![(
        open(parent, staged)?,
        open(parent, existing)?,
        existing_rel.to_path_buf(),
    )];
    let mut emptied: Vec<(OwnedFd, OsString)> = Vec::new();
    while let Some((from, to, rel)) = stack.pop() {
        for (name, _) in dirfd::list_dir(from.as_fd())? {
            match dirfd::rename_between(from.as_fd(), &name, to.as_fd(), &name, false) {
                Ok(()) => committed.push((rel.clone(), name)),
                Err(err) if matches!(err.raw_os_error(), Some(libc::EEXIST | libc::ENOTEMPTY)) => {
                    let both_dirs = dirfd::is_dir_at(from.as_fd(), &name)?
                        && dirfd::is_dir_at(to.as_fd(), &name)?;
                    if both_dirs {
                        stack.push((
                            open(from.as_fd(), &name)?,
                            open(to.as_fd(), &name)?,
                            rel.join(&name),
                        ));
                        let from_dup = open(from.as_fd(), Path::new("").as_os_str())?;
                        emptied.push((from_dup, name));
                    } else if overwrite
                        && !dirfd::is_dir_at(to.as_fd(), &name)?
                        && !dirfd::is_dir_at(from.as_fd(), &name)?
                    {
                        dirfd::rename_between(from.as_fd(), &name, to.as_fd(), &name, true)?;
                    } else {
                        return Err(err);
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }
    // Innermost first: each staged directory is empty once its children are.
    for (dir, name) in emptied.into_iter().rev() {
        let _ = rustix::fs::unlinkat(dir.as_fd(), &name, rustix::fs::AtFlags::REMOVEDIR);
    }
    Ok(rustix::fs::unlinkat(
        parent,
        staged,
        rustix::fs::AtFlags::REMOVEDIR,
    )?)
}

/// Consecutive runs of equal parents, cut into units of at most FILES_PER_UNIT.
fn groups(parents: impl Iterator<Item = usize>) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut start = 0;
    let mut current: Option<usize> = None;
    let mut count = 0;
    for (i, parent) in parents.enumerate() {
        if current != Some(parent) || i - start == FILES_PER_UNIT {
            if current.is_some() {
                groups.push((start, i));
            }
            start = i;
            current = Some(parent);
        }
        count = i + 1;
    }
    if current.is_some() {
        groups.push((start, count));
    }
    groups
}

/// Open a source file for reading, relative to its directory and never
/// through a symlink. O_NONBLOCK: should a fifo have replaced a planned file,
/// opening it must not hang (it has no effect on regular files).
fn open_source(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::empty(),
    )?))
}

/// A unique name for something being built: `<prefix><pid>.<n>.<name>`,
/// with `name` shortened so the whole stays within NAME_MAX.
fn temp_name(prefix: &str, name: &OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp = format!("{prefix}{}.{n}.", std::process::id()).into_bytes();
    let room = 255usize.saturating_sub(temp.len());
    temp.extend_from_slice(&name.as_bytes()[..name.len().min(room)]);
    OsString::from(OsStr::from_bytes(&temp))
}

/// Remove what killed runs left behind beside this destination: its staging
/// entries and probe files (`.fastlink-probe-<pid>-<n>`) whose process is gone.
fn remove_stale_staging(anchor: BorrowedFd<'_>, dst_name: &OsStr) {
    let Ok(entries) = dirfd::list_dir(anchor) else {
        return;
    };
    for (entry, _) in entries {
        if let Some(pid) = stale_owner(entry.as_bytes(), dst_name.as_bytes()) {
            if !process_is_alive(pid) {
                let _ = dirfd::remove_tree_at(anchor, &entry);
            }
        }
    }
}

/// The pid that made `entry`, if it is a staging entry for `dst_name` or a probe file.
fn stale_owner(entry: &[u8], dst_name: &[u8]) -> Option<i32> {
    let parse = |pid: &[u8]| std::str::from_utf8(pid).ok()?.parse::<i32>().ok();
    if let Some(rest) = entry.strip_prefix(crate::probe::PROBE_PREFIX.as_bytes()) {
        return parse(rest.split(|&b| b == b'-').next()?);
    }
    let rest = entry.strip_prefix(STAGING_PREFIX.as_bytes())?;
    let mut fields = rest.splitn(3, |&b| b == b'.');
    let (pid, _n, name) = (fields.next()?, fields.next()?, fields.next()?);
    // Names are shortened to fit NAME_MAX, so compare the prefix that fits.
    let same_name = name == dst_name
        || (name.len() < dst_name.len() && dst_name.starts_with(name) && entry.len() == 255);
    if same_name {
        parse(pid)
    } else {
        None
    }
}

fn process_is_alive(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// `dst`'s last component (validated to exist before execution).
fn final_name(path: &Path) -> &OsStr {
    path.file_name().unwrap_or(path.as_os_str())
}

fn parent_or_dot(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// `mkdir -p` for the parents of `path` (not `path` itself), recording each
/// directory created so a failed run can remove exactly those.
fn create_parents(path: &Path, created: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut current = path.parent();
    while let Some(dir) = current {
        if dir.as_os_str().is_empty() || std::fs::symlink_metadata(dir).is_ok() {
            break;
        }
        missing.push(dir.to_path_buf());
        current = dir.parent();
    }
    for dir in missing.into_iter().rev() {
        match std::fs::create_dir(&dir) {
            Ok(()) => created.push(dir),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_split_by_parent_and_unit_size() {
        let parents = [0, 0, 1, 1, 1, 2];
        assert_eq!(groups(parents.into_iter()), [(0, 2), (2, 5), (5, 6)]);
        let many = std::iter::repeat_n(7, FILES_PER_UNIT + 1);
        assert_eq!(
            groups(many),
            [(0, FILES_PER_UNIT), (FILES_PER_UNIT, FILES_PER_UNIT + 1)]
        );
    }

    #[test]
    fn stale_owner_recognizes_only_this_destinations_staging_and_probes() {
        assert_eq!(stale_owner(b".fastlink-staging.42.7.dst", b"dst"), Some(42));
        assert_eq!(stale_owner(b".fastlink-staging.42.7.dst.x", b"dst"), None);
        assert_eq!(stale_owner(b".fastlink-staging.42.7.ds", b"dst"), None);
        assert_eq!(stale_owner(b".fastlink-probe-42-0", b"dst"), Some(42));
        assert_eq!(stale_owner(b"dst", b"dst"), None);
    }

    #[test]
    fn temp_names_fit_name_max_and_keep_a_recognizable_prefix() {
        let long = OsString::from("x".repeat(255));
        let temp = temp_name(STAGING_PREFIX, &long);
        assert!(temp.len() <= 255);
        assert!(temp.as_bytes().starts_with(STAGING_PREFIX.as_bytes()));
    }
}

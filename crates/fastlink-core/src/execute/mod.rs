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
//! destination is exactly as it was; an error during the commit takes back
//! what was renamed in, as far as it is still this call's (`undo`). All
//! creation is relative to directory fds opened without following symlinks.
//!
//! Nothing here scans a directory for leftovers of other runs. Every name
//! built under carries the proof `leftover` checks, and the call holds the
//! shared lock on its anchor from before it creates anything until it has
//! renamed in or removed all of it; a new tree's first staging name is the
//! one every call to that `dst` tries, so a leftover there is met (EEXIST)
//! and reclaimed at no cost otherwise.

mod commit;
mod lazy_dir;
mod made_dirs;
mod place;
mod undo;

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::cancel::CancelFlag;
use crate::counts::Counts;
use crate::destination::{Destination, DirAction};
use crate::dirfd::{self, DirFd};
use crate::error::{Error, Result};
use crate::leftover::{self, Place, Slot, STAGING_PREFIX};
use crate::meta;
use crate::meta::MetadataKind;
use crate::method::Method;
use crate::options::Options;
use crate::per_file::FreshData;
use crate::plan::{joined, name_of, FileId, Plan, RootKind};
use crate::platform::{NewMode, Os, Platform};
use crate::probe;
use crate::progress::Progress;
use lazy_dir::LazyDir;
use made_dirs::MadeDirs;
use undo::{CreatedParents, Staged, Undo};

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
    /// What the caller asked for: times kept, files replaced in a merge
    /// (`overwrite`), a new tree whose `dst` another caller created
    /// meanwhile merged into rather than refused (`dirs_exist_ok`).
    pub options: &'a Options,
    /// Workers, as `Options::validate` counted them.
    pub threads: usize,
    pub cancel: &'a CancelFlag,
    pub progress: &'a Progress,
    /// Whether the call may build under the staging name every call to
    /// `dst` tries first: only while it holds its anchor's lock (see
    /// `leftover::lock_anchor`), which keeps a later call from reclaiming it.
    pub shared_names: AtomicBool,
    /// Which files' data may not be written back yet (see `per_file`).
    pub fresh: FreshData,
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

impl Unit {
    fn parent(&self) -> usize {
        let (Unit::Files { parent, .. } | Unit::Symlinks { parent, .. }) = *self;
        parent
    }
}

/// Each directory's [`DirPair`], opened by the first of its units to start
/// and closed when the last is done: a directory's fds are opened once
/// however many units it has, and only directories being filled hold fds
/// (a tree of 100,000 directories must not meet the fd limit).
struct SharedDirPairs<'a> {
    slots: Vec<(Mutex<Option<Arc<DirPair<'a>>>>, AtomicUsize)>,
}

impl<'a> SharedDirPairs<'a> {
    fn new(dirs: usize, units: &[Unit]) -> Self {
        let slots: Vec<_> = (0..dirs)
            .map(|_| (Mutex::new(None), AtomicUsize::new(0)))
            .collect();
        for unit in units {
            slots[unit.parent()].1.fetch_add(1, Ordering::Relaxed);
        }
        SharedDirPairs { slots }
    }

    fn acquire(
        &self,
        dir: usize,
        open: impl FnOnce() -> Result<DirPair<'a>>,
    ) -> Result<Arc<DirPair<'a>>> {
        let mut slot = self.slots[dir].0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pair) = &*slot {
            return Ok(Arc::clone(pair));
        }
        let pair = Arc::new(open()?);
        *slot = Some(Arc::clone(&pair));
        Ok(pair)
    }

    /// One unit of `dir` is done; the last one closes its fds.
    fn release(&self, dir: usize) {
        let (slot, units_left) = &self.slots[dir];
        if units_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    }
}

/// The two directory fds a unit works through.
struct DirPair<'a> {
    src: LazyDir<'a>,
    dst: LazyDir<'a>,
    /// The destination directory relative to the anchor.
    dst_dir: PathBuf,
    /// Set when only this umask trims the modes of files created in `dst`.
    umask: Option<u32>,
    /// Entries staged in `dst` hold its fd until the call ends, so that a
    /// roll-back reaches them wherever `dst` is moved meanwhile.
    hold: bool,
    /// Where a leaf staged in `dst` (under a temp name) is built.
    place: Option<Place>,
}

/// What trims the mode of entries this call creates: for each planned
/// directory, whether it is created by this call below the anchor (itself
/// without a default ACL) so that only the umask does, and that umask. A
/// file whose mode the umask leaves whole then needs no fchmod, nor a
/// directory its final chmod; everything else gets one.
struct CreationTrims {
    umask: Option<u32>,
    umask_only: Vec<bool>,
}

impl CreationTrims {
    fn of(execution: &Execution<'_>, umask: Option<u32>) -> Self {
        let actions = &execution.destination.dir_actions;
        let mut umask_only: Vec<bool> = Vec::with_capacity(actions.len());
        for (i, dir) in execution.plan.dirs.iter().enumerate() {
            let only = match (actions[i], dir.parent) {
                (DirAction::Existing, _) => false,
                // A new tree's root, built in the anchor.
                (_, None) => true,
                // A new subtree of a merge: only directly in `dst`, the anchor.
                (_, Some(parent)) if actions[parent] == DirAction::Existing => parent == 0,
                (_, Some(parent)) => umask_only[parent],
            };
            umask_only.push(only);
        }
        CreationTrims { umask, umask_only }
    }

    /// The umask, if it alone trims what is created in directory `dir`.
    fn umask_in(&self, dir: usize) -> Option<u32> {
        self.umask.filter(|_| self.umask_only[dir])
    }

    /// Whether directory `dir`, created with `mode | 0o700`, came out `mode`.
    fn dir_is_exact(&self, dir: usize, mode: u32) -> bool {
        mode & 0o700 == 0o700 && NewMode::under_umask(mode, self.umask_in(dir)).exact_on_create
    }
}

impl Execution<'_> {
    pub fn run(&self) -> Result<Counts> {
        match self.run_once() {
            // The anchor was removed between its opening and its lock (see
            // `build`): nothing was made in it; once more, from the opening.
            Err(err) if err.errno() == libc::ESTALE && !self.destination.root_existed => {
                self.run_once()
            }
            done => done,
        }
    }

    fn run_once(&self) -> Result<Counts> {
        let counts = Counts::default();
        let mut created_parents = CreatedParents::default();
        let result = self.open_anchor(&mut created_parents).and_then(|anchor| {
            let mut undo = Undo::default();
            let built = self.build(anchor.as_fd(), &counts, &mut undo);
            if built.is_err() {
                undo.roll_back(anchor.as_fd(), self.plan);
            }
            built
        });
        if result.is_err() {
            created_parents.roll_back();
        }
        result.map(|()| counts)
    }

    fn src_root(&self) -> &Path {
        &self.plan.src_root
    }

    fn dst_root(&self) -> &Path {
        &self.destination.root
    }

    /// Where the anchor is: `dst` for a merge, its parent for a new tree.
    fn anchor_path(&self) -> &Path {
        if self.destination.root_existed {
            self.dst_root()
        } else {
            parent_or_dot(self.dst_root())
        }
    }

    /// The directory every build path is relative to: `dst` itself for a
    /// merge, its parent (created if missing) for a new tree.
    fn open_anchor(&self, created_parents: &mut CreatedParents) -> Result<OwnedFd> {
        let fail = |err| Error::io(err, self.src_root(), self.dst_root());
        let anchor = self.anchor_path();
        if self.destination.root_existed {
            return dirfd::open_dir(anchor).map_err(fail);
        }
        let existing = &self.destination.probe_dir;
        let missing = anchor.strip_prefix(existing).unwrap_or(anchor);
        created_parents.create(existing, missing).map_err(fail)
    }

    fn build(&self, anchor: BorrowedFd<'_>, counts: &Counts, undo: &mut Undo) -> Result<()> {
        // The anchor's identity (for the commit's check, and what names are
        // tagged with), then the lock that shows this call runs (see
        // `leftover`). A filesystem without flock: no lock, and then no
        // reclaim there either (taking it exclusively fails as well).
        let locked = leftover::lock_anchor(anchor, self.cancel)?;
        self.shared_names.store(locked, Ordering::Relaxed);
        // After the lock: a parent of `dst` that a failed rival call made
        // and removed (empty, unlocked) may be what this call opened just
        // before; it has no name left (no links), and `run` opens it again.
        let stat = rustix::fs::fstat(anchor).map_err(|err| self.commit_error(err.into()))?;
        #[allow(clippy::unnecessary_cast)]
        let held = (stat.st_dev as u64, stat.st_ino as u64);
        // (Asked of the path only then: a filesystem may count no links.)
        let named = || {
            std::fs::metadata(self.anchor_path()).is_ok_and(|at| {
                use std::os::unix::fs::MetadataExt;
                (at.dev(), at.ino()) == held
            })
        };
        if stat.st_nlink == 0 && !named() {
            let gone = std::io::Error::from_raw_os_error(libc::ESTALE);
            return Err(self.commit_error(gone));
        }
        let anchor_id = held;
        let faithful = probe::faithful(anchor, anchor_id);
        if self.plan.root_kind == RootKind::File {
            let pair = self.root_file_pair(anchor, anchor_id)?;
            let file = &self.plan.files[0];
            let action = self.destination.file_actions[0];
            self.place_file(&pair, file, action, counts, undo)?;
            self.note_modes_not_kept(faithful, counts, 0);
            return self.commit(anchor, anchor_id, undo);
        }
        // Where renaming a directory would lose what is in it (fusefat), new
        // directories are built under their final names instead of staged.
        let in_place = !faithful.renamed_dirs_keep_contents;
        let mut paths = self.build_paths(anchor_id, in_place);
        if !in_place && self.clone_whole_tree(anchor, &paths[0], undo) {
            counts.add(Method::Reflink, self.plan.files.len());
            let files = self.plan.files.len() as u64;
            self.progress.add_done(files, self.plan.total_bytes());
            return self.commit(anchor, anchor_id, undo);
        }
        let trims = CreationTrims::of(self, Os::creation_umask(anchor));
        // A private top is for a new tree whose directories the kept fds
        // may not all hold (one each on the source side and one on the new
        // side); where they do, no directory is reached by its path.
        let private = !in_place
            && !self.destination.root_existed
            && (self.plan.fd_budget).may_run_out(2 * self.plan.dirs.len())
            && Os::enforces_modes_locally(anchor).unwrap_or(false);
        let made = self.create_dirs(anchor, anchor_id, &mut paths, in_place, private, undo)?;
        self.fill(anchor, anchor_id, &paths, &made, &trims, counts, undo)?;
        self.finish_dirs(anchor, &paths, &made, &trims, &counts.unstored)?;
        // Closed before the commit renames what holds them (and their slots given back).
        drop(made);
        let made_dirs = (self.destination.dir_actions.iter())
            .filter(|action| **action != DirAction::Existing)
            .count();
        self.note_modes_not_kept(faithful, counts, made_dirs);
        self.commit(anchor, anchor_id, undo)
    }

    /// Where a chmod "succeeds" and keeps nothing (exfat-fuse), every file
    /// this call made (a clone or copy; a hard link keeps its inode's mode)
    /// and every directory it made went without its mode: reported, as a
    /// chmod that fails with ENOSYS is.
    fn note_modes_not_kept(&self, faithful: probe::Faithful, counts: &Counts, made_dirs: usize) {
        if !faithful.modes {
            let made = counts.get(Method::Reflink) + counts.get(Method::Copy) + made_dirs;
            counts
                .unstored
                .note_many(MetadataKind::Mode, libc::EOPNOTSUPP, made);
        }
    }

    /// Where each planned directory is built, relative to the anchor;
    /// `in_place`: a new directory under its final name, never staged.
    fn build_paths(&self, anchor_id: FileId, in_place: bool) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = Vec::with_capacity(self.plan.dirs.len());
        for (i, dir) in self.plan.dirs.iter().enumerate() {
            let parent = dir.parent.map_or(Path::new(""), |p| paths[p].as_path());
            let path = match self.destination.dir_actions[i] {
                DirAction::Existing => dir.rel.clone(),
                DirAction::Create => joined(parent, name_of(&dir.rel)),
                DirAction::Staged { .. } if in_place => parent.join(self.final_dir_name(i)),
                DirAction::Staged { .. } => {
                    let (slot, place) = match dir.parent {
                        // A new tree's root: the name every call to `dst` tries first.
                        None => (self.root_slot(), Place::in_anchor(anchor_id)),
                        Some(p) => (Slot::Unique, self.place_in(p, anchor_id)),
                    };
                    let name = self.final_dir_name(i);
                    parent.join(leftover::name(STAGING_PREFIX, slot, place, name))
                }
            };
            paths.push(path);
        }
        paths
    }

    /// The slot of a new tree's or single file's staging name: the one every
    /// call to `dst` tries first, unless the call runs without its lock.
    fn root_slot(&self) -> Slot {
        if self.shared_names.load(Ordering::Relaxed) {
            Slot::Shared
        } else {
            Slot::Unique
        }
    }

    /// Where an entry staged in the existing directory `dir` of a merge is
    /// built. (Its identity is the one the validation saw; should it have
    /// been replaced since, the name is merely not reclaimable.)
    fn place_in(&self, dir: usize, anchor_id: FileId) -> Place {
        let depth = self.plan.dirs[dir].rel.components().count() as u32;
        Place {
            dir: self.destination.existing_ids[dir].unwrap_or(anchor_id),
            anchor: anchor_id,
            depth,
        }
    }

    /// The name a directory gets when it is renamed in: its own, or `dst`'s for the root.
    fn final_dir_name(&self, index: usize) -> &OsStr {
        match index {
            0 => final_name(self.dst_root()),
            _ => name_of(&self.plan.dirs[index].rel),
        }
    }

    /// Where the OS clones a directory hierarchy in one call (macOS), use it
    /// for a new destination. Only when the plan is the whole source tree
    /// (nothing ignored, not a file list) and nothing needs changing
    /// afterwards: times are kept by the clone, and no setuid/setgid bit
    /// must be cleared.
    ///
    /// Any failure of the one call (EXDEV, ENOTSUP, but also EACCES on one
    /// unreadable file or EDEADLK on an iCloud "dataless" one) sends the tree
    /// down the per-entry path, which falls back per file and names the entry
    /// that really fails.
    fn clone_whole_tree(&self, anchor: BorrowedFd<'_>, staging: &Path, undo: &Undo) -> bool {
        let whole_tree_possible = self.methods[0] == Method::Reflink
            && self.plan.whole_tree
            && !self.destination.root_existed
            && self.options.preserve_times
            && !self.plan.dirs.iter().any(|d| d.meta.has_setid_bits())
            && !self.plan.files.iter().any(|f| f.meta.has_setid_bits());
        if !whole_tree_possible {
            return false;
        }
        let name = name_of(staging);
        match Os::clone_tree(self.src_root(), anchor, name) {
            None => false,
            Some(Ok(())) => {
                undo.track(self.staged_dir(0, Path::new(""), staging, None));
                true
            }
            // Taken: a leftover or another call's, not this call's to remove
            // (the per-entry path meets it again and deals with it).
            Some(Err(err)) if err.raw_os_error() == Some(libc::EEXIST) => false,
            Some(Err(_)) => {
                // The name is this call's own; nothing of a half-made clone stays.
                let _ = dirfd::remove_tree_at(anchor, name);
                false
            }
        }
    }

    fn staged_dir(
        &self,
        index: usize,
        parent: &Path,
        path: &Path,
        held: Option<Arc<OwnedFd>>,
    ) -> Staged {
        let replace = matches!(
            self.destination.dir_actions[index],
            DirAction::Staged { replace: true }
        );
        Staged {
            dir: parent.to_path_buf(),
            held,
            temp: name_of(path).to_owned(),
            name: self.final_dir_name(index).to_owned(),
            replace,
            rel: self.plan.dirs[index].rel.clone(),
            plan_dir: Some(index),
        }
    }

    /// Create the directories parents-first, each with its final mode plus
    /// owner rwx (so a read-only source directory can still be filled).
    /// (An inherited setgid bit is cleared when the mode is set at the end.)
    /// `private`: a new tree's root is made mode 0700, to be its private
    /// top (see [`made_dirs`](self::made_dirs)).
    ///
    /// Each new directory with entries to come is opened once, right after
    /// it is made, and that fd serves its own subdirectories' creation, its
    /// fill and its final mode and times (see [`MadeDirs`]). Past the fd
    /// budget, a directory below a private top is made by its path from
    /// there. Siblings are adjacent in the plan, so a parent reached by its
    /// path (an existing one, or past the fd budget) is opened once for all
    /// of them.
    fn create_dirs(
        &self,
        anchor: BorrowedFd<'_>,
        anchor_id: FileId,
        paths: &mut [PathBuf],
        in_place: bool,
        private: bool,
        undo: &Undo,
    ) -> Result<MadeDirs> {
        let mut made = MadeDirs::new(self.plan.dirs.len());
        let mut keeping = true;
        let filled = self.dirs_with_entries();
        // The parent's fd when reached by its path, and whether what is
        // staged in it may hold it.
        let mut parent_fd: Option<(usize, Arc<OwnedFd>, bool)> = None;
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
            if let (DirAction::Create, Some(p)) = (action, dir.parent) {
                made.made_in(i, p);
            }
            let kept_parent = dir.parent.and_then(|p| made.fd(p).cloned());
            // Where `name` is: the parent's own name for this directory, or
            // the directory's path below its private top.
            let (fd, mut name, hold) = match kept_parent {
                // Made by this call and kept: what is staged in it holds it at no cost.
                Some(fd) => (fd, PathBuf::from(name_of(&paths[i])), true),
                None => match made.below_private_top(i, paths) {
                    Some((top, rel)) => (Arc::clone(top), rel, false),
                    None => {
                        let parent_path = dir.parent.map_or(PathBuf::new(), |p| paths[p].clone());
                        let parent_key = dir.parent.map_or(usize::MAX, |p| p);
                        if parent_fd
                            .as_ref()
                            .is_none_or(|(key, _, _)| *key != parent_key)
                        {
                            let fd = dirfd::open_dir_beneath(anchor, &parent_path).map_err(fail)?;
                            // A staged directory's parent exists already (or is the anchor).
                            let hold = dir.parent.is_some_and(|p| p != 0)
                                && self.plan.fd_budget.may_hold(fd.as_fd());
                            parent_fd = Some((parent_key, Arc::new(fd), hold));
                        }
                        let (_, fd, hold) = parent_fd.as_ref().expect("opened above");
                        (Arc::clone(fd), PathBuf::from(name_of(&paths[i])), *hold)
                    }
                },
            };
            // (Only a new tree's root: `private` is never set for a merge.)
            let private_top = private && i == 0;
            let mode = if private_top {
                made.made_0700(i);
                0o700
            } else {
                dir.meta.safe_mode() | 0o700
            };
            if in_place && action == (DirAction::Staged { replace: true }) {
                // overwrite=True: the file or symlink goes now (its link
                // itself, never what it points to), as the commit would.
                match dirfd::unlink_at(fd.as_fd(), name.as_os_str()) {
                    Err(err) if err.raw_os_error() != Some(libc::ENOENT) => return Err(fail(err)),
                    _ => {}
                }
            }
            let mut result = dirfd::mkdir_at(fd.as_fd(), name.as_os_str(), mode);
            let taken = matches!(&result, Err(err) if err.raw_os_error() == Some(libc::EEXIST));
            if i == 0 && !in_place && taken {
                // The shared staging name of a new tree is taken.
                if !leftover::reclaim_shared_name(anchor, anchor_id, name_of(&paths[0])) {
                    let unique = leftover::name(
                        STAGING_PREFIX,
                        Slot::Unique,
                        Place::in_anchor(anchor_id),
                        self.final_dir_name(0),
                    );
                    let new = PathBuf::from(unique);
                    let old = std::mem::replace(&mut paths[0], new.clone());
                    for path in paths[1..].iter_mut() {
                        if let Ok(rest) = path.strip_prefix(&old) {
                            *path = new.join(rest);
                        }
                    }
                }
                name = PathBuf::from(name_of(&paths[0]));
                result = dirfd::mkdir_at(fd.as_fd(), name.as_os_str(), mode);
            }
            result.map_err(fail)?;
            // Tracked once made: a name found taken is never this call's to remove.
            if let DirAction::Staged { .. } = action {
                let held = hold.then(|| Arc::clone(&fd));
                let parent_path = dir.parent.map_or(PathBuf::new(), |p| paths[p].clone());
                undo.track(self.staged_dir(i, &parent_path, &paths[i], held));
            }
            if filled[i] && (keeping || private_top) {
                let own = dirfd::open_dir_beneath(fd.as_fd(), &name);
                let own = own.map_err(fail)?;
                // Kept fds are closed only after the last directory, so once
                // one is past the budget, so are the rest.
                keeping = keeping && self.plan.fd_budget.may_keep(own.as_fd());
                if private_top {
                    // Trusted only once checked to be what this call made
                    // (see `made_dirs`), and then held while the larger
                    // budget lasts: what is below it is reached through it.
                    let own = made_dirs::still_private(own, anchor_id.0).map_err(fail)?;
                    let held = |own: &OwnedFd| keeping || self.plan.fd_budget.may_hold(own.as_fd());
                    if let Some(own) = own.filter(held) {
                        made.keep(i, own);
                        made.made_private_top(i);
                    }
                } else if keeping {
                    made.keep(i, own);
                }
            }
        }
        Ok(made)
    }

    /// Which planned directories have anything in them to place.
    fn dirs_with_entries(&self) -> Vec<bool> {
        let mut filled = vec![false; self.plan.dirs.len()];
        let parents = (self.plan.dirs.iter().filter_map(|d| d.parent))
            .chain(self.plan.files.iter().map(|f| f.parent))
            .chain(self.plan.symlinks.iter().map(|l| l.parent));
        for parent in parents {
            filled[parent] = true;
        }
        filled
    }

    /// Fill the directories in parallel, a unit of one directory's files or
    /// symlinks at a time.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        anchor: BorrowedFd<'_>,
        anchor_id: FileId,
        paths: &[PathBuf],
        made: &MadeDirs,
        trims: &CreationTrims,
        counts: &Counts,
        undo: &Undo,
    ) -> Result<()> {
        let src_root = dirfd::open_dir(self.src_root())
            .map_err(|err| Error::io(err, self.src_root(), self.dst_root()))?;
        let units = self.units();
        let pairs = SharedDirPairs::new(self.plan.dirs.len(), &units);
        let pool = crate::pool::pool(self.threads)?;
        pool.install(|| {
            units.par_iter().try_for_each(|unit| {
                let parent = unit.parent();
                let pair = pairs.acquire(parent, || {
                    let umask = trims.umask_in(parent);
                    let place = self.place_in(parent, anchor_id);
                    let pair = self.dir_pair(
                        src_root.as_fd(),
                        anchor,
                        parent,
                        (paths, made),
                        umask,
                        place,
                    );
                    // Only an existing directory (not the anchor) has files staged in it.
                    let existing = self.destination.dir_actions[parent] == DirAction::Existing;
                    // Its files are staged under temp names: it is opened, and
                    // held for a roll-back while the budget lasts.
                    let hold = existing && parent != 0 && {
                        let rel = &self.plan.dirs[parent].rel;
                        let fail = |err| {
                            Error::io(err, &self.plan.src_path(rel), &self.destination.path(rel))
                        };
                        self.plan.fd_budget.may_hold(pair.dst.fd().map_err(fail)?)
                    };
                    Ok(DirPair { hold, ..pair })
                })?;
                let pair = &*pair;
                match *unit {
                    Unit::Files { first, end, .. } => {
                        for i in first..end {
                            self.cancel.check()?;
                            let action = self.destination.file_actions[i];
                            let file = &self.plan.files[i];
                            self.place_file(pair, file, action, counts, undo)?;
                        }
                    }
                    Unit::Symlinks { first, end, .. } => {
                        for i in first..end {
                            self.cancel.check()?;
                            let action = self.destination.symlink_actions[i];
                            let link = &self.plan.symlinks[i];
                            self.place_symlink(pair, link, action, &counts.unstored, undo)?;
                        }
                    }
                }
                pairs.release(parent);
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
        // A directory's units side by side (stable: its files, then its
        // symlinks): its pair of fds is open from its first unit to its
        // last, so that spread over the list would keep hundreds open.
        units.sort_by_key(Unit::parent);
        units
    }

    /// The fds a unit of directory `dir` works through: the walk's and the
    /// creation's where they were kept, else opened by their paths (the
    /// destination's from its private top, if it has one).
    fn dir_pair<'a>(
        &self,
        src_root: BorrowedFd<'a>,
        anchor: BorrowedFd<'a>,
        dir: usize,
        (paths, made): (&[PathBuf], &'a MadeDirs),
        umask: Option<u32>,
        place: Place,
    ) -> DirPair<'a> {
        let dst_dir = &paths[dir];
        let plan_dir = &self.plan.dirs[dir];
        let rel = &plan_dir.rel;
        let kept = plan_dir
            .src_fd
            .as_ref()
            .map(|fd| DirFd::Shared(Arc::clone(fd)));
        let src = LazyDir::below(src_root, rel, kept);
        let dst = match (made.fd(dir), made.below_private_top(dir, paths)) {
            (Some(fd), _) => LazyDir::below(anchor, dst_dir, Some(DirFd::Shared(Arc::clone(fd)))),
            (None, Some((top, rel))) => LazyDir::below_private_top(top.as_fd(), &rel),
            (None, None) => LazyDir::below(anchor, dst_dir, None),
        };
        DirPair {
            src,
            dst,
            dst_dir: dst_dir.to_path_buf(),
            umask,
            hold: false,
            place: Some(place),
        }
    }

    /// A single-file source: its directory, and `dst`'s parent (the anchor).
    fn root_file_pair<'a>(&self, anchor: BorrowedFd<'a>, anchor_id: FileId) -> Result<DirPair<'a>> {
        let fail = |err| Error::io(err, self.src_root(), self.dst_root());
        let src_dir = dirfd::open_dir(parent_or_dot(self.src_root())).map_err(fail)?;
        Ok(DirPair {
            src: LazyDir::open(DirFd::Owned(src_dir)),
            dst: LazyDir::open(DirFd::Borrowed(anchor)),
            dst_dir: PathBuf::new(),
            umask: None,
            hold: false,
            place: Some(Place::in_anchor(anchor_id)),
        })
    }

    /// Children are complete, so the final mode (maybe read-only) and the
    /// times (which creating children changed) can be set now: through the
    /// directory's own fd where it was kept, else by its name in its parent.
    fn finish_dirs(
        &self,
        anchor: BorrowedFd<'_>,
        paths: &[PathBuf],
        made: &MadeDirs,
        trims: &CreationTrims,
        unstored: &meta::Unstored,
    ) -> Result<()> {
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
            // Created as mode | 0o700, then trimmed by the umask or a default
            // ACL of its parent, either of which may change between calls:
            // the exact mode is always set again.
            // (Unless only the umask applies and it left the mode whole.)
            // (A directory made 0700 to be a private top always ends so.)
            let set_mode = made.is_made_0700(i) || !trims.dir_is_exact(i, dir.meta.safe_mode());
            let set_times = self.options.preserve_times;
            if let Some(own) = made.fd(i) {
                if set_mode {
                    let set = meta::set_dir_mode(own.as_fd(), dir.meta.safe_mode());
                    unstored.tolerate(MetadataKind::Mode, set).map_err(fail)?;
                }
                if set_times {
                    let set = meta::set_dir_times(own.as_fd(), &dir.meta);
                    unstored.tolerate(MetadataKind::Times, set).map_err(fail)?;
                }
                continue;
            }
            if !set_mode && !set_times {
                continue;
            }
            let kept_parent = dir.parent.and_then(|p| made.fd(p));
            let (fd, name) = match (kept_parent, made.below_private_top(i, paths)) {
                (Some(fd), _) => (fd.as_fd(), PathBuf::from(name_of(&paths[i]))),
                (None, Some((top, rel))) => (top.as_fd(), rel),
                (None, None) => {
                    let parent_key = dir.parent.map_or(usize::MAX, |p| p);
                    if parent_fd.as_ref().is_none_or(|(key, _)| *key != parent_key) {
                        let parent_path = dir.parent.map_or(Path::new(""), |p| paths[p].as_path());
                        let fd = dirfd::open_dir_beneath(anchor, parent_path).map_err(fail)?;
                        parent_fd = Some((parent_key, fd));
                    }
                    let fd = parent_fd.as_ref().expect("opened above").1.as_fd();
                    (fd, PathBuf::from(name_of(&paths[i])))
                }
            };
            let name = name.as_os_str();
            if set_mode {
                let set = meta::set_mode_at(fd, name, dir.meta.safe_mode());
                unstored.tolerate(MetadataKind::Mode, set).map_err(fail)?;
            }
            if set_times {
                let set = meta::set_times_at(fd, name, &dir.meta);
                unstored.tolerate(MetadataKind::Times, set).map_err(fail)?;
            }
        }
        Ok(())
    }
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
}

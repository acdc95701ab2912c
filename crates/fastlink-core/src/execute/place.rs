//! Placing one entry: a file by the first method that works for it (the
//! others being per-file fallbacks), or a symlink, under its final name in a
//! staged directory or under a temp name in an existing one.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::undo::{Staged, Undo};
use super::{final_name, Counts, DirPair, Execution};
use crate::destination::LeafAction;
use crate::dirfd;
use crate::error::{Error, Result};
use crate::leftover::{self, Slot, STAGING_PREFIX, TEMP_PREFIX};
use crate::meta::{self, MetadataKind, Unstored};
use crate::method::Method;
use crate::plan::{name_of, FilePlan, SymlinkPlan};
use crate::platform::{holds_no_symlinks, CopyHints, NewMode, Os, Platform};
use crate::progress::FileProgress;

impl Execution<'_> {
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
    pub(super) fn leaf_target(
        &self,
        pair: &DirPair<'_>,
        rel: &Path,
        name: &OsStr,
        action: LeafAction,
        undo: &Undo,
    ) -> OsString {
        match action {
            LeafAction::Create => name.to_owned(),
            LeafAction::SourceItself => {
                self.leaf_target(pair, rel, name, LeafAction::Staged { replace: true }, undo)
            }
            LeafAction::Staged { replace } => {
                // A merge's file: a temp name of its own. A new single
                // file: the staging name every call to `dst` tries first.
                let (prefix, slot) = if self.destination.root_existed {
                    (TEMP_PREFIX, Slot::Unique)
                } else {
                    (STAGING_PREFIX, self.root_slot())
                };
                let place = pair.place.expect("a directory leaves are staged in");
                let temp = leftover::name(prefix, slot, place, name);
                undo.track(Staged {
                    dir: pair.dst_dir.clone(),
                    held: pair.dst.shared().filter(|_| pair.hold),
                    temp: temp.clone(),
                    name: name.to_owned(),
                    replace,
                    rel: rel.to_path_buf(),
                    plan_dir: None,
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
    pub(super) fn place_file(
        &self,
        pair: &DirPair<'_>,
        file: &FilePlan,
        action: LeafAction,
        counts: &Counts,
        undo: &Undo,
    ) -> Result<()> {
        let (src_name, dst_name) = self.leaf_names(&file.rel);
        // The name to create, registered for commit and roll-back when first
        // needed: a name that already is the source needs none to hard-link.
        let mut target: Option<OsString> = None;
        let target_of = |target: &mut Option<OsString>| -> OsString {
            target
                .get_or_insert_with(|| self.leaf_target(pair, &file.rel, dst_name, action, undo))
                .clone()
        };
        // How often the shared staging name may still be found taken.
        let mut retargets = if self.destination.root_existed || action == LeafAction::Create {
            0
        } else {
            2
        };
        let src_path = || self.plan.src_path(&file.rel);
        let dst_path = || self.destination.path(&file.rel);
        let share = self.progress.file();
        let mut opened: Option<File> = None;
        let mut methods = self.methods.iter().enumerate();
        let mut current = methods.next();
        while let Some((i, &method)) = current {
            let attempt = match method {
                Method::Hardlink => {
                    // A hard link shares the inode and so its setuid/setgid
                    // bits and capabilities: such a file takes the next method.
                    let refused = Method::never_hardlinked(&file.meta, pair.src.as_fd(), src_name)
                        .map_err(|err| Error::io(err, &src_path(), &dst_path()))?;
                    if refused {
                        Err(io::Error::from_raw_os_error(libc::EPERM))
                    } else if action == LeafAction::SourceItself {
                        // Already a name of the source's inode: what a link makes.
                        Ok(())
                    } else {
                        dirfd::hardlink_at(
                            pair.src.as_fd(),
                            src_name,
                            pair.dst.as_fd(),
                            &target_of(&mut target),
                        )
                    }
                }
                Method::Reflink | Method::Copy => {
                    if opened.is_none() {
                        let source = open_source(pair.src.as_fd(), src_name)
                            .map_err(|err| Error::io(err, &src_path(), &dst_path()))?;
                        opened = Some(source);
                    }
                    let source = opened.as_ref().expect("opened above");
                    let target = target_of(&mut target);
                    match self.write_file(method, source, pair, &target, file, &share, counts) {
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
                Err(err) if retargets > 0 && err.raw_os_error() == Some(libc::EEXIST) => {
                    // The shared staging name of a new single file is taken
                    // (nothing was made): reclaim a leftover there, else use
                    // a name of this call's own; then the same method again.
                    let taken = target
                        .as_mut()
                        .expect("named by the attempt that found it taken");
                    self.retarget(pair, dst_name, taken, retargets == 2, undo);
                    retargets -= 1;
                    continue;
                }
                Err(err) => err,
            };
            self.cancel.check()?;
            let errno = err.raw_os_error().unwrap_or(libc::EIO);
            if !method.is_impossible_errno(errno) {
                return Err(Error::io(err, &src_path(), &dst_path()));
            }
            if i + 1 == self.methods.len() {
                return Err(method
                    .impossible(errno)
                    .with_paths(&src_path(), &dst_path()));
            }
            counts.fell_back(method, errno);
            current = methods.next();
        }
        unreachable!("methods is never empty")
    }

    /// Move a new single file's staging off a taken shared name: reclaimed
    /// (then the name is used again) on the first try, else a unique name,
    /// which the roll-back then tracks instead of the name found taken.
    fn retarget(
        &self,
        pair: &DirPair<'_>,
        name: &OsStr,
        target: &mut OsString,
        may_reclaim: bool,
        undo: &Undo,
    ) {
        let place = pair.place.expect("a directory leaves are staged in");
        if may_reclaim && leftover::reclaim_shared_name(pair.dst.as_fd(), place.anchor, target) {
            return;
        }
        let unique = leftover::name(STAGING_PREFIX, Slot::Unique, place, name);
        undo.retarget(&pair.dst_dir, target, &unique);
        *target = unique;
    }

    /// Write one file by reflink or copy; returns the source size seen (the
    /// planned size for a clone, which takes the file as it is at that moment).
    /// Metadata the filesystem cannot store is counted, not raised.
    #[allow(clippy::too_many_arguments)]
    fn write_file(
        &self,
        method: Method,
        source: &File,
        pair: &DirPair<'_>,
        name: &OsStr,
        file: &FilePlan,
        share: &FileProgress<'_>,
        counts: &Counts,
    ) -> io::Result<u64> {
        let dir = pair.dst.as_fd();
        let mode = NewMode::under_umask(file.meta.safe_mode(), pair.umask);
        let (written, seen) = match method {
            Method::Reflink => (Os::reflink_new(source, dir, name, mode)?, file.size),
            _ => {
                let hints = CopyHints {
                    size: file.size,
                    sparse: file.sparse,
                    // A slow source must not hold up Ctrl-C for a whole file.
                    on_copied: &|bytes| {
                        share.copied(bytes);
                        self.cancel.check_io()
                    },
                };
                Os::copy_new(source, dir, name, mode, &hints)?
            }
        };
        if let Some(errno) = written.mode_unset {
            counts.unstored.note(MetadataKind::Mode, errno);
        }
        let times = if self.preserve_times {
            meta::set_file_times(&written.file, &file.meta)
        } else if method == Method::Reflink && Os::CLONE_KEEPS_SOURCE_TIMES {
            // What a copy gets, whichever path the file took.
            meta::set_file_times_now(&written.file)
        } else {
            Ok(())
        };
        counts.unstored.tolerate(MetadataKind::Times, times)?;
        Ok(seen)
    }

    pub(super) fn place_symlink(
        &self,
        pair: &DirPair<'_>,
        link: &SymlinkPlan,
        action: LeafAction,
        unstored: &Unstored,
        undo: &Undo,
    ) -> Result<()> {
        let name = name_of(&link.rel);
        let target = self.leaf_target(pair, &link.rel, name, action, undo);
        let (src, dst) = (
            || self.plan.src_path(&link.rel),
            || self.destination.path(&link.rel),
        );
        let fail = |err| Error::io(err, &src(), &dst());
        if let Err(err) = dirfd::symlink_at(&link.target, pair.dst.as_fd(), &target) {
            return Err(match err.raw_os_error() {
                Some(errno) if holds_no_symlinks(errno) => {
                    Error::symlink_unsupported(errno, &src(), &dst())
                }
                _ => fail(err),
            });
        }
        if self.preserve_times {
            let set = meta::set_times_at(pair.dst.as_fd(), &target, &link.meta);
            unstored.tolerate(MetadataKind::Times, set).map_err(fail)?;
        }
        Ok(())
    }
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

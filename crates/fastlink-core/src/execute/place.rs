//! Placing one entry: a file by the first method that works for it (the
//! others being per-file fallbacks), or a symlink, under its final name in a
//! staged directory or under a temp name in an existing one.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::Path;

use super::undo::{Staged, Undo};
use super::{final_name, DirPair, Execution};
use crate::counts::Counts;
use crate::destination::LeafAction;
use crate::dirfd;
use crate::error::{Error, Result};
use crate::leftover::{self, Slot, STAGING_PREFIX, TEMP_PREFIX};
use crate::meta::{self, MetadataKind, Unstored};
use crate::method::Method;
use crate::per_file::{self, Failed, Next, Refusal};
use crate::plan::{name_of, FilePlan, SymlinkPlan};
use crate::platform::{holds_no_symlinks, CopyHints, NewMode, Os, Platform};
use crate::progress::FileProgress;

/// The name a file is created under, chosen when first needed, and how
/// often the shared staging name of a new single file may still be found
/// taken (see `Execution::retarget`).
struct Target {
    name: Option<OsString>,
    retargets: u8,
}

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

    /// Put one file in place with the first method that works for it (see
    /// `per_file`), and count it under that method. A method failing with an
    /// errno that means "cannot" passes this file alone to the next allowed
    /// method (counted as a fallback); with no method left, that is the typed
    /// "impossible" error. Any other error is raised.
    pub(super) fn place_file(
        &self,
        pair: &DirPair<'_>,
        file: &FilePlan,
        action: LeafAction,
        counts: &Counts,
        undo: &Undo,
    ) -> Result<()> {
        let (src_name, dst_name) = self.leaf_names(&file.rel);
        let mut target = Target {
            name: None,
            retargets: if self.destination.root_existed || action == LeafAction::Create {
                0
            } else {
                2
            },
        };
        // The name to create, registered for commit and roll-back when first
        // needed: a name that already is the source needs none to hard-link.
        let name_of_target = |target: &mut Target| -> OsString {
            target
                .name
                .get_or_insert_with(|| self.leaf_target(pair, &file.rel, dst_name, action, undo))
                .clone()
        };
        let src_path = || self.plan.src_path(&file.rel);
        let dst_path = || self.destination.path(&file.rel);
        let fail = |err| Failed::Stop(Error::io(err, &src_path(), &dst_path()));
        let share = self.progress.file();
        let mut opened: Option<File> = None;
        let attempt = |target: &mut Target, method| match method {
            Method::Hardlink => {
                // A hard link shares the inode and so its setuid/setgid
                // bits and capabilities: such a file takes the next method.
                let src_dir = pair.src.fd().map_err(fail)?;
                if Method::never_hardlinked(&file.meta, src_dir, src_name).map_err(fail)? {
                    Err(io::Error::from_raw_os_error(libc::EPERM).into())
                } else if action == LeafAction::SourceItself {
                    // Already a name of the source's inode: what a link makes.
                    Ok(())
                } else {
                    let name = name_of_target(target);
                    let linked = match pair.dst.private_path_below(&name) {
                        Some((top, path)) => {
                            dirfd::hardlink_at(src_dir, src_name, top, path.as_os_str())
                        }
                        None => {
                            let dst_dir = pair.dst.fd().map_err(fail)?;
                            dirfd::hardlink_at(src_dir, src_name, dst_dir, &name)
                        }
                    };
                    Ok(linked?)
                }
            }
            Method::Reflink | Method::Copy => {
                if opened.is_none() {
                    let open = match pair.src.path_below(src_name) {
                        Some((root, path)) => per_file::open_source_beneath(root, &path),
                        None => {
                            (pair.src.fd()).and_then(|dir| per_file::open_source(dir, src_name))
                        }
                    };
                    opened = Some(open.map_err(fail)?);
                }
                let source = opened.as_ref().expect("opened above");
                let name = name_of_target(target);
                let seen = self.write_file(method, source, pair, &name, file, &share, counts)?;
                if seen != file.size {
                    let changed = Error::source_changed(&src_path(), &dst_path(), file.size, seen);
                    return Err(Failed::Stop(changed));
                }
                Ok(())
            }
        };
        let refused = |target: &mut Target, method: Method, refusal| {
            if let Refusal::Error(err) = &refusal {
                if target.retargets > 0 && err.raw_os_error() == Some(libc::EEXIST) {
                    // The shared staging name of a new single file is taken
                    // (nothing was made): reclaim a leftover there, else use
                    // a name of this call's own; then the same method again.
                    let taken = target
                        .name
                        .as_mut()
                        .expect("named by the attempt that found it taken");
                    self.retarget(pair, dst_name, taken, target.retargets == 2, undo);
                    target.retargets -= 1;
                    return Ok(Next::SameMethod);
                }
            }
            self.cancel.check()?;
            match refusal {
                Refusal::Error(err) => Err(Error::io(err, &src_path(), &dst_path())),
                Refusal::Cannot(errno) => {
                    counts.fell_back(method, errno);
                    Ok(Next::NextMethod)
                }
                Refusal::NoMethodLeft(errno) => Err(method
                    .impossible(errno)
                    .with_paths(&src_path(), &dst_path())),
            }
        };
        let (methods, clone_passed_over) =
            per_file::methods_for(self.methods, &file.meta, file.dev, &self.fresh, || {
                Os::clone_waits_for_writeback(pair.src.fd()?)
            });
        if clone_passed_over {
            counts.fell_back(Method::Reflink, per_file::NOT_WRITTEN_BACK);
        }
        let method = per_file::first_that_works(methods, &mut target, attempt, refused)?;
        share.done(file.size);
        counts.add(method, 1);
        Ok(())
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
        let reclaimed = || {
            (pair.dst.fd())
                .is_ok_and(|dir| leftover::reclaim_shared_name(dir, place.anchor, target))
        };
        if may_reclaim && reclaimed() {
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
        // Created by its path below the anchor where the directory is not
        // open (see `lazy_dir`).
        let below = pair.dst.path_below(name);
        let (dir, name) = match &below {
            Some((anchor, path)) => (*anchor, path.as_os_str()),
            None => (pair.dst.fd()?, name),
        };
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
        let times = per_file::apply_times(
            method,
            &written.file,
            &file.meta,
            self.options.preserve_times,
        );
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
        let dir = pair.dst.fd().map_err(fail)?;
        if let Err(err) = dirfd::symlink_at(&link.target, dir, &target) {
            return Err(match err.raw_os_error() {
                Some(errno) if holds_no_symlinks(errno) => {
                    Error::symlink_unsupported(errno, &src(), &dst())
                }
                _ => fail(err),
            });
        }
        if self.options.preserve_times {
            let set = meta::set_times_at(dir, &target, &link.meta);
            unstored.tolerate(MetadataKind::Times, set).map_err(fail)?;
        }
        Ok(())
    }
}

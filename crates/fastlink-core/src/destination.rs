//! Validate the destination against the plan before anything is written:
//! what exists there, what each planned entry will do, and which filesystem
//! the tree lands on.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::FileType;

use crate::dirfd;
use crate::error::{Error, Result};
use crate::plan::{join_rel, name_of, Child, FileId, Plan, RootKind};

/// What happens to a planned directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirAction {
    /// Created inside a directory that is itself being built (staged).
    Create,
    /// Already there (a merge): reused, its own mode and times left alone.
    Existing,
    /// New, in a directory that already exists (or the root of a new tree):
    /// built under a staging name beside its final name, then renamed in.
    /// `replace`: a file or symlink at the final name is removed first
    /// (overwrite=True; the link is never followed).
    Staged { replace: bool },
}

/// What happens to a planned file or symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafAction {
    /// Created under its final name inside a staged directory.
    Create,
    /// Written under a temp name in an existing directory, then renamed in;
    /// `replace`: over an existing file or symlink (overwrite=True).
    Staged { replace: bool },
    /// overwrite=True over a name that already is the source file (st_dev,
    /// st_ino): a hard link of it is already in place, so hard-linking it
    /// is done (a rename between two names of one inode would do nothing
    /// and leave the temp name behind). Any other method replaces the name
    /// as [`LeafAction::Staged`] with `replace` does.
    SourceItself,
}

#[derive(Debug)]
pub struct Destination {
    pub root: PathBuf,
    /// The destination root already existed (a merge).
    pub root_existed: bool,
    /// The closest existing directory at or above the root: where probes run.
    pub probe_dir: PathBuf,
    /// The device of `probe_dir`, i.e. the filesystem the tree lands on.
    pub dev: u64,
    /// One entry per `Plan::dirs`.
    pub dir_actions: Vec<DirAction>,
    /// One entry per `Plan::files`.
    pub file_actions: Vec<LeafAction>,
    /// One entry per `Plan::symlinks`.
    pub symlink_actions: Vec<LeafAction>,
    /// One entry per `Plan::dirs`: the identity of an existing directory of
    /// a merge, seen by the validation (what temp names are tagged with).
    pub existing_ids: Vec<Option<FileId>>,
}

impl Destination {
    pub fn validate(
        plan: &Plan,
        dst: &Path,
        dirs_exist_ok: bool,
        overwrite: bool,
    ) -> Result<Destination> {
        let src = plan.src_root.as_path();
        // The root is followed if it is a symlink: the caller named it. One
        // lstat answers the usual case (nothing there yet).
        let fail = |err| Error::io(err, src, dst);
        if dst.as_os_str().is_empty() {
            // As open("") answers, and shutil.copytree/copy2 with it.
            return Err(fail(io::Error::from_raw_os_error(libc::ENOENT)));
        }
        let mut replace_root: Option<LeafAction> = None;
        let root_existed = match fs::symlink_metadata(dst) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => false,
            Err(err) => return Err(fail(err)),
            Ok(found) => {
                let target = if found.file_type().is_symlink() {
                    match fs::metadata(dst) {
                        Ok(target) => Some(target),
                        // Dangling: creating dst would write through it.
                        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
                        Err(err) => return Err(fail(err)),
                    }
                } else {
                    Some(found.clone())
                };
                let is_dir = target.as_ref().is_some_and(fs::Metadata::is_dir);
                match plan.root_kind {
                    RootKind::Dir if is_dir && dirs_exist_ok => true,
                    // One file over an existing file or symlink: replaced by
                    // rename (the link itself, never what it points to).
                    RootKind::File if !is_dir && overwrite => {
                        replace_root = Some(leaf_replacing(&found, plan.files[0].id()));
                        false
                    }
                    RootKind::File if is_dir && overwrite => {
                        return Err(Error::is_a_directory(src, dst))
                    }
                    _ => return Err(Error::already_exists(src, dst)),
                }
            }
        };
        // One file's name must not name a directory: like `cp` and
        // `shutil.copy2`, refuse a trailing slash rather than drop it.
        if plan.root_kind == RootKind::File && names_a_directory(dst) {
            return Err(fail(io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        // A new entry needs a name of its own; a merge may name its directory
        // any way (".", "x/..").
        if !root_existed && dst.file_name().is_none() {
            return Err(fail(io::Error::from_raw_os_error(libc::EINVAL)));
        }

        let (probe_dir, probe_meta) = if root_existed {
            (dst.to_path_buf(), fs::metadata(dst).map_err(fail)?)
        } else {
            nearest_existing_ancestor(dst).map_err(fail)?
        };
        if !probe_meta.is_dir() {
            return Err(fail(io::Error::from_raw_os_error(libc::ENOTDIR)));
        }

        if plan.root_kind == RootKind::Dir {
            refuse_destination_inside_source(plan, dst, &probe_dir)?;
        }

        let mut destination = Destination {
            root: dst.to_path_buf(),
            root_existed,
            probe_dir,
            dev: probe_meta.dev(),
            dir_actions: vec![DirAction::Create; plan.dirs.len()],
            file_actions: vec![LeafAction::Create; plan.files.len()],
            symlink_actions: vec![LeafAction::Create; plan.symlinks.len()],
            existing_ids: vec![None; plan.dirs.len()],
        };
        if root_existed {
            destination.dir_actions[0] = DirAction::Existing;
            destination.classify_merge(plan, overwrite)?;
        } else if plan.root_kind == RootKind::Dir {
            destination.dir_actions[0] = DirAction::Staged { replace: false };
        } else {
            destination.file_actions[0] =
                replace_root.unwrap_or(LeafAction::Staged { replace: false });
        }
        Ok(destination)
    }

    /// The destination path of a plan entry.
    pub fn path(&self, rel: &Path) -> PathBuf {
        join_rel(&self.root, rel)
    }

    /// In a merge, look (through directory fds, never following symlinks) at
    /// every name the plan puts into an existing directory. Names inside new
    /// directories cannot collide and cost no lookups.
    ///
    /// Each existing directory the merge writes into is also checked by
    /// identity: it must be neither a directory of the source (writing there
    /// would change the source) nor one above the source (merging a tree
    /// into its own ancestor rewrites what is being read).
    fn classify_merge(&mut self, plan: &Plan, overwrite: bool) -> Result<()> {
        let fail = |err| Error::io(err, &plan.src_root, &self.root);
        let root_fd = dirfd::open_dir(&self.root).map_err(fail)?;
        let above_src: HashSet<FileId> = dirfd::identity_chain(&plan.src_root)
            .map_err(fail)?
            .into_iter()
            .collect();
        let src_dirs: HashSet<FileId> = plan.dirs.iter().map(|dir| dir.id).collect();
        let children = plan.children();
        for dir_index in 0..plan.dirs.len() {
            if self.dir_actions[dir_index] != DirAction::Existing {
                continue;
            }
            let rel = &plan.dirs[dir_index].rel;
            let dir_fail = |err| Error::io(err, &plan.src_path(rel), &self.path(rel));
            let dir_fd = dirfd::open_dir_beneath(root_fd.as_fd(), rel).map_err(dir_fail)?;
            let id = dirfd::identity(dir_fd.as_fd()).map_err(dir_fail)?;
            self.existing_ids[dir_index] = Some(id);
            if src_dirs.contains(&id) {
                return Err(Error::destination_inside_source(&plan.src_root, &self.root));
            }
            if above_src.contains(&id) {
                return Err(Error::source_inside_destination(&plan.src_root, &self.root));
            }
            for &child in &children.of[dir_index] {
                let child_rel = child.rel(plan);
                let (src, dst) = (plan.src_path(child_rel), self.path(child_rel));
                let found = match dirfd::lstat_at(dir_fd.as_fd(), name_of(child_rel)) {
                    Ok(stat) => Some(stat),
                    Err(err) if err.raw_os_error() == Some(libc::ENOENT) => None,
                    Err(err) => return Err(Error::io(err, &src, &dst)),
                };
                let existing = found
                    .as_ref()
                    .map(|stat| FileType::from_raw_mode(stat.st_mode as _));
                match (child, existing) {
                    (Child::Dir(i), None) => {
                        self.dir_actions[i] = DirAction::Staged { replace: false }
                    }
                    (Child::Dir(i), Some(FileType::Directory)) => {
                        self.dir_actions[i] = DirAction::Existing
                    }
                    (Child::Dir(i), Some(_)) if overwrite => {
                        self.dir_actions[i] = DirAction::Staged { replace: true }
                    }
                    (_, Some(FileType::Directory)) => {
                        return Err(Error::is_a_directory(&src, &dst))
                    }
                    (Child::File(i), None) => {
                        self.file_actions[i] = LeafAction::Staged { replace: false }
                    }
                    (Child::File(i), Some(_)) if overwrite => {
                        let stat = found.as_ref().expect("found above");
                        #[allow(clippy::unnecessary_cast)]
                        let id = (stat.st_dev as u64, stat.st_ino as u64);
                        self.file_actions[i] = if id == plan.files[i].id() {
                            LeafAction::SourceItself
                        } else {
                            LeafAction::Staged { replace: true }
                        }
                    }
                    (Child::Symlink(i), existing) if existing.is_none() || overwrite => {
                        self.symlink_actions[i] = LeafAction::Staged {
                            replace: existing.is_some(),
                        }
                    }
                    _ => return Err(Error::already_exists(&src, &dst)),
                }
            }
        }
        Ok(())
    }
}

/// Whether `path` is spelled as a directory: a trailing `/` (or `/.`).
fn names_a_directory(path: &Path) -> bool {
    let bytes = path.as_os_str().as_bytes();
    bytes.ends_with(b"/") || bytes.ends_with(b"/.")
}

/// What a single-file call does to an existing file or symlink at `dst`
/// (its lstat `found`) with overwrite=True: replace it, unless it already is
/// the source file itself.
fn leaf_replacing(found: &fs::Metadata, src: FileId) -> LeafAction {
    if (found.dev(), found.ino()) == src {
        LeafAction::SourceItself
    } else {
        LeafAction::Staged { replace: true }
    }
}

/// The closest ancestor of `path` that exists (`.` for a bare relative name),
/// followed if it is a symlink, with its metadata: where a call that makes
/// `path` probes, and so where `probe` answers for a `path` yet to be made.
pub(crate) fn nearest_existing_ancestor(path: &Path) -> io::Result<(PathBuf, fs::Metadata)> {
    let mut current = path;
    while let Some(parent) = current.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        match fs::metadata(parent) {
            Ok(found) => return Ok((parent.to_path_buf(), found)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => current = parent,
            Err(err) => return Err(err),
        }
    }
    Ok((PathBuf::from("."), fs::metadata(".")?))
}

/// Copying a tree into itself would never finish (cp calls this "into-self").
/// Decided by identity: no existing directory at or above `dst` may be a
/// directory of the source, however either is spelled (a bind mount or a
/// second mount of a btrfs subvolume gives one directory two paths).
fn refuse_destination_inside_source(plan: &Plan, dst: &Path, existing: &Path) -> Result<()> {
    let src = plan.src_root.as_path();
    let src_dirs: HashSet<FileId> = plan.dirs.iter().map(|dir| dir.id).collect();
    let above_dst = dirfd::identity_chain(existing).map_err(|err| Error::io(err, src, dst))?;
    if above_dst.iter().any(|id| src_dirs.contains(id)) {
        return Err(Error::destination_inside_source(src, dst));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("pkg")).unwrap();
        fs::write(src.join("pkg/mod.py"), b"x = 1\n").unwrap();
        (tmp, src)
    }

    #[test]
    fn destination_inside_source_is_refused() {
        let (_tmp, src) = tree();
        let plan = Plan::walk(&src, &src.join("pkg/out"), 2).unwrap();
        let err = Destination::validate(&plan, &src.join("pkg/out"), false, false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DestinationInsideSource);
    }

    #[test]
    fn source_inside_destination_is_refused_for_merges() {
        let (tmp, src) = tree();
        let plan = Plan::walk(&src.join("pkg"), tmp.path(), 2).unwrap();
        let err = Destination::validate(&plan, tmp.path(), true, false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SourceInsideDestination);
    }

    #[test]
    fn existing_destination_needs_dirs_exist_ok() {
        let (tmp, src) = tree();
        let dst = tmp.path().join("dst");
        fs::create_dir(&dst).unwrap();
        let plan = Plan::walk(&src, &dst, 2).unwrap();
        let err = Destination::validate(&plan, &dst, false, false).unwrap_err();
        assert_eq!(err.errno(), libc::EEXIST);
        assert!(
            Destination::validate(&plan, &dst, true, false)
                .unwrap()
                .root_existed
        );
    }

    #[test]
    fn merge_refuses_an_existing_file_unless_overwriting() {
        let (tmp, src) = tree();
        let dst = tmp.path().join("dst");
        fs::create_dir_all(dst.join("pkg")).unwrap();
        fs::write(dst.join("pkg/mod.py"), b"old").unwrap();
        let plan = Plan::walk(&src, &dst, 2).unwrap();

        let err = Destination::validate(&plan, &dst, true, false).unwrap_err();
        assert_eq!(err.errno(), libc::EEXIST);
        assert_eq!(err.dst(), Some(dst.join("pkg/mod.py").as_path()));

        let destination = Destination::validate(&plan, &dst, true, true).unwrap();
        assert_eq!(
            destination.dir_actions,
            [DirAction::Existing, DirAction::Existing]
        );
        assert_eq!(
            destination.file_actions,
            [LeafAction::Staged { replace: true }]
        );
    }

    #[test]
    fn merge_stages_new_subtrees_and_refuses_a_dir_where_a_file_goes() {
        let (tmp, src) = tree();
        let dst = tmp.path().join("dst");
        fs::create_dir_all(dst.join("other")).unwrap();
        let plan = Plan::walk(&src, &dst, 2).unwrap();
        let destination = Destination::validate(&plan, &dst, true, false).unwrap();
        assert_eq!(
            destination.dir_actions[1],
            DirAction::Staged { replace: false }
        );
        assert_eq!(destination.file_actions, [LeafAction::Create]);

        fs::create_dir_all(dst.join("pkg/mod.py")).unwrap();
        let err = Destination::validate(&plan, &dst, true, true).unwrap_err();
        assert_eq!(err.errno(), libc::EISDIR);
    }

    #[test]
    fn a_name_that_already_is_the_source_file_is_told_apart_from_a_replaced_one() {
        let (tmp, src) = tree();
        let dst = tmp.path().join("dst");
        fs::create_dir_all(dst.join("pkg")).unwrap();
        fs::hard_link(src.join("pkg/mod.py"), dst.join("pkg/mod.py")).unwrap();
        let plan = Plan::walk(&src, &dst, 2).unwrap();
        let destination = Destination::validate(&plan, &dst, true, true).unwrap();
        assert_eq!(destination.file_actions, [LeafAction::SourceItself]);

        let file = src.join("pkg/mod.py");
        let plan = Plan::walk(&file, &file, 2).unwrap();
        let destination = Destination::validate(&plan, &file, false, true).unwrap();
        assert_eq!(destination.file_actions, [LeafAction::SourceItself]);
        let other = tmp.path().join("other.py");
        fs::write(&other, b"other").unwrap();
        let destination = Destination::validate(&plan, &other, false, true).unwrap();
        assert_eq!(
            destination.file_actions,
            [LeafAction::Staged { replace: true }]
        );
    }

    #[test]
    fn a_single_file_at_a_name_ending_in_a_slash_is_not_a_directory() {
        let (tmp, src) = tree();
        let file = src.join("pkg/mod.py");
        let plan = Plan::walk(&file, tmp.path(), 2).unwrap();
        for dst in ["newdir/", "newdir/."] {
            let err = Destination::validate(&plan, &tmp.path().join(dst), false, true).unwrap_err();
            assert_eq!(err.errno(), libc::ENOTDIR);
        }
    }

    #[test]
    fn probe_dir_is_the_nearest_existing_ancestor() {
        let (tmp, src) = tree();
        let dst = tmp.path().join("a/b/c");
        let plan = Plan::walk(&src, &dst, 2).unwrap();
        let destination = Destination::validate(&plan, &dst, false, false).unwrap();
        assert_eq!(destination.probe_dir, tmp.path());
        assert!(!destination.root_existed);
    }
}

//! Validate the destination against the plan before anything is written:
//! what exists there, whether it conflicts, and which filesystem it is on.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::plan::{join_rel, Plan, RootKind};

#[derive(Debug)]
pub struct Destination {
    pub root: PathBuf,
    /// The destination root already existed (a merge); otherwise fastlink creates it
    /// and may remove it again on failure.
    pub root_existed: bool,
    /// The closest existing directory at or above the root: where probes run.
    pub probe_dir: PathBuf,
    /// The device of `probe_dir`, i.e. the filesystem the tree lands on.
    pub dev: u64,
    /// Directories of the plan (relative) that already exist in a merge; they
    /// are reused and their own mode and times are left alone.
    pub preexisting_dirs: HashSet<PathBuf>,
}

impl Destination {
    pub fn validate(plan: &Plan, dst: &Path, dirs_exist_ok: bool) -> Result<Destination> {
        let src = plan.src_root.as_path();
        // The root is followed if it is a symlink: the caller named it.
        let root_existed = match fs::metadata(dst) {
            Ok(metadata) if metadata.is_dir() && plan.root_kind == RootKind::Dir => {
                if !dirs_exist_ok {
                    return Err(Error::already_exists(src, dst));
                }
                true
            }
            Ok(_) => return Err(Error::already_exists(src, dst)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                // A dangling symlink at dst is "not found" when followed, but
                // creating dst would write through it.
                if fs::symlink_metadata(dst).is_ok() {
                    return Err(Error::already_exists(src, dst));
                }
                false
            }
            Err(err) => return Err(Error::io(err, src, dst)),
        };

        let probe_dir = if root_existed {
            dst.to_path_buf()
        } else {
            nearest_existing_ancestor(dst).map_err(|err| Error::io(err, src, dst))?
        };
        let probe_meta = fs::metadata(&probe_dir).map_err(|err| Error::io(err, src, &probe_dir))?;
        if !probe_meta.is_dir() {
            let not_a_dir = io::Error::from_raw_os_error(libc::ENOTDIR);
            return Err(Error::io(not_a_dir, src, &probe_dir));
        }

        if plan.root_kind == RootKind::Dir {
            refuse_destination_inside_source(src, dst, &probe_dir)?;
        }

        let mut destination = Destination {
            root: dst.to_path_buf(),
            root_existed,
            probe_dir,
            dev: probe_meta.dev(),
            preexisting_dirs: HashSet::new(),
        };
        if root_existed {
            destination.find_conflicts(plan)?;
        }
        Ok(destination)
    }

    /// The destination path of a plan entry.
    pub fn path(&self, rel: &Path) -> PathBuf {
        join_rel(&self.root, rel)
    }

    /// In a merge, look at every path the plan will create. Only entries whose
    /// parent already exists can collide, so a new subtree costs no lookups.
    fn find_conflicts(&mut self, plan: &Plan) -> Result<()> {
        self.preexisting_dirs.insert(PathBuf::new());
        for dir in plan.dirs.iter().skip(1) {
            if !self.parent_preexists(&dir.rel) {
                continue;
            }
            let dst = self.path(&dir.rel);
            match fs::symlink_metadata(&dst) {
                Ok(metadata) if metadata.is_dir() => {
                    self.preexisting_dirs.insert(dir.rel.clone());
                }
                Ok(_) => return Err(Error::already_exists(&plan.src_path(&dir.rel), &dst)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io(err, &plan.src_path(&dir.rel), &dst)),
            }
        }
        let leaves = plan
            .files
            .iter()
            .map(|file| &file.rel)
            .chain(plan.symlinks.iter().map(|link| &link.rel));
        for rel in leaves {
            if !self.parent_preexists(rel) {
                continue;
            }
            let dst = self.path(rel);
            match fs::symlink_metadata(&dst) {
                Ok(_) => return Err(Error::already_exists(&plan.src_path(rel), &dst)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(Error::io(err, &plan.src_path(rel), &dst)),
            }
        }
        Ok(())
    }

    fn parent_preexists(&self, rel: &Path) -> bool {
        rel.parent()
            .is_some_and(|parent| self.preexisting_dirs.contains(parent))
    }
}

/// The closest ancestor of `path` that exists (`.` for a bare relative name).
fn nearest_existing_ancestor(path: &Path) -> io::Result<PathBuf> {
    let mut current = path;
    while let Some(parent) = current.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        match fs::symlink_metadata(parent) {
            Ok(_) => return Ok(parent.to_path_buf()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => current = parent,
            Err(err) => return Err(err),
        }
    }
    Ok(PathBuf::from("."))
}

/// Copying a tree into itself would never finish (cp calls this "into-self").
/// Compare real paths: the existing part of dst is canonicalized, and the part
/// still to be created cannot contain symlinks.
fn refuse_destination_inside_source(src: &Path, dst: &Path, existing: &Path) -> Result<()> {
    let src_real = fs::canonicalize(src).map_err(|err| Error::io(err, src, dst))?;
    let existing_real = fs::canonicalize(existing).map_err(|err| Error::io(err, src, dst))?;
    let rest = dst.strip_prefix(existing).unwrap_or(Path::new(""));
    let dst_real = existing_real.join(rest);
    if dst_real.starts_with(&src_real) {
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
        let plan = Plan::walk(&src, &src.join("pkg/out")).unwrap();
        let err = Destination::validate(&plan, &src.join("pkg/out"), false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DestinationInsideSource);
    }

    #[test]
    fn existing_destination_needs_dirs_exist_ok() {
        let (tmp, src) = tree();
        let dst = tmp.path().join("dst");
        fs::create_dir(&dst).unwrap();
        let plan = Plan::walk(&src, &dst).unwrap();
        let err = Destination::validate(&plan, &dst, false).unwrap_err();
        assert_eq!(err.errno(), libc::EEXIST);
        assert!(
            Destination::validate(&plan, &dst, true)
                .unwrap()
                .root_existed
        );
    }

    #[test]
    fn merge_refuses_an_existing_file_where_the_plan_writes_one() {
        let (tmp, src) = tree();
        let dst = tmp.path().join("dst");
        fs::create_dir_all(dst.join("pkg")).unwrap();
        fs::write(dst.join("pkg/mod.py"), b"old").unwrap();
        let plan = Plan::walk(&src, &dst).unwrap();
        let err = Destination::validate(&plan, &dst, true).unwrap_err();
        assert_eq!(err.errno(), libc::EEXIST);
        assert_eq!(err.dst(), Some(dst.join("pkg/mod.py").as_path()));
    }

    #[test]
    fn probe_dir_is_the_nearest_existing_ancestor() {
        let (tmp, src) = tree();
        let dst = tmp.path().join("a/b/c");
        let plan = Plan::walk(&src, &dst).unwrap();
        let destination = Destination::validate(&plan, &dst, false).unwrap();
        assert_eq!(destination.probe_dir, tmp.path());
        assert!(!destination.root_existed);
    }
}

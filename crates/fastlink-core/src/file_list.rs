//! A plan from a list of files rather than a walk: what an installer that
//! knows its files (a wheel's RECORD, conda's paths.json) hands over. The
//! plan has the same shape as a walked one (parents before children,
//! siblings and each directory's entries adjacent), so everything after
//! planning (validation, probe, fill, commit, roll-back) is the tree's.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;
use rustix::fs::{FileType, Stat};

use crate::dirfd;
use crate::error::{Error, Result};
use crate::fd_budget::FdBudget;
use crate::meta::EntryMeta;
use crate::plan::{DirPlan, FilePlan, Plan, RootKind, SymlinkPlan};

/// Check that `rel` names an entry strictly below a root: relative, with
/// only plain names (no `..`, `.` or empty component), so nothing it names
/// can be outside the destination.
fn checked_rel(rel: &Path) -> Result<&Path> {
    let bytes = rel.as_os_str().as_bytes();
    let plain = !bytes.is_empty()
        && !bytes.ends_with(b"/")
        && !bytes
            .split(|&b| b == b'/')
            .any(|c| c.is_empty() || c == b"." || c == b"..")
        && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if plain {
        Ok(rel)
    } else {
        Err(Error::invalid_argument(format!(
            "files must be relative paths of plain names below the roots (no '..', '.', \
             leading or trailing '/'): {:?}",
            rel
        )))
    }
}

impl Plan {
    /// Plan the files `rels` (regular files or symlinks, relative to
    /// `src_root`) and the directories that lead to them. A listed
    /// directory, or a symlink on the way to a listed entry, is refused
    /// (ENOTDIR/EISDIR naming it): a list names files, and nothing is ever
    /// read through a link. `dst_root` only names the destination in errors.
    pub fn from_list<'r>(
        src_root: &Path,
        rels: &'r [PathBuf],
        dst_root: &Path,
        threads: usize,
    ) -> Result<Plan> {
        let fail = |err| Error::io(err, src_root, dst_root);
        let root_stat = rustix::fs::stat(src_root).map_err(|e| fail(e.into()))?;
        if FileType::from_raw_mode(root_stat.st_mode as _) != FileType::Directory {
            return Err(fail(std::io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        let mut entries: Vec<&'r Path> = Vec::with_capacity(rels.len());
        let mut dir_rels: Vec<&'r Path> = Vec::new();
        for rel in rels {
            let rel = checked_rel(rel)?;
            entries.push(rel);
            dir_rels.extend(
                rel.ancestors()
                    .skip(1)
                    .filter(|a| !a.as_os_str().is_empty()),
            );
        }
        // Sorted by bytes, which orders them (a first error is the same on
        // every run) at a fraction of the cost of comparing paths
        // component by component, which was most of a wheel's planning.
        for rels in [&mut entries, &mut dir_rels] {
            rels.sort_unstable_by_key(|rel| rel.as_os_str());
            rels.dedup();
        }
        let root_fd = dirfd::open_dir(src_root).map_err(fail)?;
        let pool = crate::pool::pool(threads)?;
        let stat_all = |rels: &[&'r Path]| -> Result<Vec<(&'r Path, Stat)>> {
            rels.par_iter()
                .map(|&rel| {
                    let stat = lstat_rel(root_fd.as_fd(), rel)
                        .map_err(|err| Error::io(err, &src_root.join(rel), &dst_root.join(rel)))?;
                    Ok((rel, stat))
                })
                .collect()
        };
        let (dir_stats, entry_stats) = pool.install(|| (stat_all(&dir_rels), stat_all(&entries)));
        let dir_stats = dir_stats?;

        let mut plan = Plan {
            src_root: src_root.to_path_buf(),
            root_kind: RootKind::Dir,
            dirs: vec![DirPlan {
                rel: PathBuf::new(),
                parent: None,
                meta: EntryMeta::of_stat(&root_stat),
                id: (root_stat.st_dev as u64, root_stat.st_ino as u64),
                src_fd: None,
            }],
            files: Vec::new(),
            symlinks: Vec::new(),
            dev: root_stat.st_dev as u64,
            // Only the listed entries, never the rest of the source.
            whole_tree: false,
            fd_budget: FdBudget::for_workers(threads),
        };
        // The directories on the way are judged before the entries: an entry
        // below a symlink or a file is refused as that (ENOTDIR naming it),
        // whatever its own lstat, which went through it, met (ENOENT below
        // a dangling link).
        plan.add_dirs(&dir_stats, src_root, dst_root)?;
        plan.add_entries(root_fd.as_fd(), &entry_stats?, src_root, dst_root)?;
        Ok(plan)
    }

    /// The directories, breadth-first with siblings adjacent (the order
    /// `walk` makes), each after checking it is a real directory.
    #[allow(clippy::unnecessary_cast)]
    fn add_dirs(&mut self, dirs: &[(&Path, Stat)], src: &Path, dst: &Path) -> Result<()> {
        let mut by_depth: BTreeMap<usize, Vec<&(&Path, Stat)>> = BTreeMap::new();
        for entry in dirs {
            if FileType::from_raw_mode(entry.1.st_mode as _) != FileType::Directory {
                let err = std::io::Error::from_raw_os_error(libc::ENOTDIR);
                return Err(Error::io(err, &src.join(entry.0), &dst.join(entry.0)));
            }
            by_depth
                .entry(entry.0.components().count())
                .or_default()
                .push(entry);
        }
        let mut index: HashMap<&Path, usize> = HashMap::new();
        for (_, mut level) in by_depth {
            // Sorting by path keeps each parent's children together (bytes
            // do: a prefix's names are one run; comparing paths component
            // by component was most of a wheel install's planning).
            level.sort_by_key(|(rel, _)| rel.as_os_str());
            for (rel, stat) in level {
                let parent = self.parent_index(&index, rel);
                index.insert(rel, self.dirs.len());
                self.dirs.push(DirPlan {
                    rel: rel.to_path_buf(),
                    parent: Some(parent),
                    meta: EntryMeta::of_stat(stat),
                    id: (stat.st_dev as u64, stat.st_ino as u64),
                    src_fd: None,
                });
            }
        }
        Ok(())
    }

    fn parent_index(&self, index: &HashMap<&Path, usize>, rel: &Path) -> usize {
        match rel.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => index[parent],
            _ => 0,
        }
    }

    /// The listed files and symlinks, grouped by directory in plan order.
    #[allow(clippy::unnecessary_cast)]
    fn add_entries(
        &mut self,
        root_fd: BorrowedFd<'_>,
        entries: &[(&Path, Stat)],
        src: &Path,
        dst: &Path,
    ) -> Result<()> {
        let index: HashMap<&Path, usize> = self
            .dirs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.rel.as_path(), i))
            .collect();
        let mut sorted: Vec<(usize, &(&Path, Stat))> = entries
            .iter()
            .map(|entry| (self.parent_index(&index, entry.0), entry))
            .collect();
        sorted.sort_by_key(|(parent, entry)| (*parent, entry.0.as_os_str()));
        for (parent, (rel, stat)) in sorted {
            let fail = |err| Error::io(err, &src.join(rel), &dst.join(rel));
            let meta = EntryMeta::of_stat(stat);
            match FileType::from_raw_mode(stat.st_mode as _) {
                FileType::RegularFile => {
                    self.files
                        .push(FilePlan::of_stat(rel.to_path_buf(), parent, stat))
                }
                FileType::Symlink => {
                    let target = rustix::fs::readlinkat(root_fd, *rel, Vec::new())
                        .map_err(|err| fail(err.into()))?;
                    self.symlinks.push(SymlinkPlan {
                        rel: rel.to_path_buf(),
                        parent,
                        target: PathBuf::from(OsStr::from_bytes(target.as_bytes())),
                        meta,
                    });
                }
                FileType::Directory => {
                    return Err(fail(std::io::Error::from_raw_os_error(libc::EISDIR)))
                }
                other => {
                    return Err(Error::special_file(
                        &src.join(rel),
                        &dst.join(rel),
                        crate::plan::special_kind_name(other),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// lstat `rel` below `root`. Its directories were each lstat'ed too, so a
/// symlink among them is refused there; the fill opens every directory
/// again without following links, so a swap in between gains nothing.
fn lstat_rel(root: BorrowedFd<'_>, rel: &Path) -> std::io::Result<Stat> {
    dirfd::lstat_at(root, rel.as_os_str())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use crate::{clone_files, CancelFlag, ErrorKind, Options, Progress};

    fn run(src: &std::path::Path, dst: &std::path::Path, options: &Options) -> crate::Result<()> {
        let files = [PathBuf::from("pkg/mod.py")];
        let progress = Progress::new();
        clone_files(src, dst, &files, options, &CancelFlag::new(), &progress).map(|_| ())
    }

    /// A list merges into an existing `dst_root` only when the caller allows
    /// it, as a tree does; the binding always does.
    #[test]
    fn an_existing_dst_root_needs_dirs_exist_ok() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        fs::create_dir_all(src.join("pkg")).unwrap();
        fs::write(src.join("pkg/mod.py"), b"x = 1\n").unwrap();
        fs::create_dir(&dst).unwrap();
        fs::write(dst.join("kept.txt"), b"mine").unwrap();

        let err = run(&src, &dst, &Options::default()).unwrap_err();
        assert_eq!((err.kind(), err.errno()), (ErrorKind::Io, libc::EEXIST));
        assert_eq!(
            (err.src(), err.dst()),
            (Some(src.as_path()), Some(dst.as_path()))
        );
        assert!(!dst.join("pkg").exists(), "nothing was written");

        let merge = Options {
            dirs_exist_ok: true,
            ..Options::default()
        };
        run(&src, &dst, &merge).unwrap();
        assert_eq!(fs::read(dst.join("pkg/mod.py")).unwrap(), b"x = 1\n");
        assert_eq!(fs::read(dst.join("kept.txt")).unwrap(), b"mine");
    }

    #[test]
    fn a_new_dst_root_is_created_without_dirs_exist_ok() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("new/dst"));
        fs::create_dir_all(src.join("pkg")).unwrap();
        fs::write(src.join("pkg/mod.py"), b"x = 1\n").unwrap();

        run(&src, &dst, &Options::default()).unwrap();
        assert_eq!(fs::read(dst.join("pkg/mod.py")).unwrap(), b"x = 1\n");
    }
}

//! Carry out a validated plan: create the directories, fill them in
//! parallel, then give the directories their final mode and times.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::cancel::CancelFlag;
use crate::destination::Destination;
use crate::error::{Error, Result};
use crate::meta;
use crate::method::Method;
use crate::plan::{DirPlan, FilePlan, Plan, RootKind, SymlinkPlan};
use crate::platform;

/// How the work is to be done, once the method is chosen.
pub struct Execution<'a> {
    pub plan: &'a Plan,
    pub destination: &'a Destination,
    /// The chosen method first, then the allowed methods a single file may
    /// still fall back to when it meets an "impossible" errno.
    pub methods: &'a [Method],
    pub preserve_times: bool,
    pub threads: usize,
    pub cancel: &'a CancelFlag,
}

/// Files placed by each method.
#[derive(Debug, Default)]
pub struct Counts {
    pub reflinked: AtomicUsize,
    pub hardlinked: AtomicUsize,
    pub copied: AtomicUsize,
}

impl Counts {
    fn add(&self, method: Method, files: usize) {
        let counter = match method {
            Method::Reflink => &self.reflinked,
            Method::Hardlink => &self.hardlinked,
            Method::Copy => &self.copied,
        };
        counter.fetch_add(files, Ordering::Relaxed);
    }

    pub fn get(&self, method: Method) -> usize {
        match method {
            Method::Reflink => self.reflinked.load(Ordering::Relaxed),
            Method::Hardlink => self.hardlinked.load(Ordering::Relaxed),
            Method::Copy => self.copied.load(Ordering::Relaxed),
        }
    }
}

impl Execution<'_> {
    /// Run the plan. When the destination root is new and anything fails,
    /// what this call created is removed again, so a failed call leaves no
    /// half-filled destination behind.
    pub fn run(&self) -> Result<Counts> {
        let counts = Counts::default();
        let mut created_parents = Vec::new();
        let result = self.run_inner(&counts, &mut created_parents);
        if result.is_err() && !self.destination.root_existed {
            self.remove_created(&created_parents);
        }
        result.map(|()| counts)
    }

    fn run_inner(&self, counts: &Counts, created_parents: &mut Vec<PathBuf>) -> Result<()> {
        let root = &self.destination.root;
        if !self.destination.root_existed {
            create_parents(root, created_parents)
                .map_err(|err| Error::io(err, &self.plan.src_root, root))?;
        }
        if self.plan.root_kind == RootKind::File {
            let method = self.place_file(&self.plan.files[0])?;
            counts.add(method, 1);
            return Ok(());
        }
        if self.clone_whole_tree()? {
            counts.add(Method::Reflink, self.plan.files.len());
            return Ok(());
        }

        let created_dirs = self.create_dirs()?;
        let pool = crate::pool::pool(self.threads)?;
        pool.install(|| {
            self.plan.files.par_iter().try_for_each(|file| {
                self.cancel.check()?;
                let method = self.place_file(file)?;
                counts.add(method, 1);
                Ok(())
            })?;
            self.plan
                .symlinks
                .par_iter()
                .try_for_each(|link| self.place_symlink(link))
        })?;
        self.finish_dirs(&created_dirs)
    }

    /// Where the OS clones a directory hierarchy in one call (macOS), use it
    /// for a new destination. Only when nothing needs changing afterwards:
    /// times are kept by the clone, and no setuid/setgid bit must be cleared.
    fn clone_whole_tree(&self) -> Result<bool> {
        let whole_tree_possible = self.methods[0] == Method::Reflink
            && !self.destination.root_existed
            && self.preserve_times
            && self
                .plan
                .dirs
                .iter()
                .all(|d| d.meta.safe_mode() == d.meta.mode)
            && self
                .plan
                .files
                .iter()
                .all(|f| f.meta.safe_mode() == f.meta.mode);
        if !whole_tree_possible {
            return Ok(false);
        }
        match platform::clone_tree(&self.plan.src_root, &self.destination.root) {
            None => Ok(false),
            Some(Ok(())) => Ok(true),
            Some(Err(err)) => {
                let errno = err.raw_os_error().unwrap_or(libc::EIO);
                if Method::Reflink.is_impossible_errno(errno) {
                    Ok(false)
                } else {
                    Err(Error::io(err, &self.plan.src_root, &self.destination.root))
                }
            }
        }
    }

    /// Create the directories parents-first. Each gets its final mode plus
    /// owner rwx, so a read-only source directory can still be filled; the
    /// exact mode is set afterwards. Returns the directories created here.
    fn create_dirs(&self) -> Result<Vec<&DirPlan>> {
        let mut created = Vec::with_capacity(self.plan.dirs.len());
        for dir in &self.plan.dirs {
            if self.destination.preexisting_dirs.contains(&dir.rel) {
                continue;
            }
            let dst = self.destination.path(&dir.rel);
            DirBuilder::new()
                .mode(dir.meta.safe_mode() | 0o700)
                .create(&dst)
                .map_err(|err| Error::io(err, &self.plan.src_path(&dir.rel), &dst))?;
            created.push(dir);
        }
        Ok(created)
    }

    /// Children are complete, so the final mode (maybe read-only) and the
    /// times (which creating children would have changed) can be set now.
    fn finish_dirs(&self, created: &[&DirPlan]) -> Result<()> {
        for dir in created.iter().rev() {
            let dst = self.destination.path(&dir.rel);
            let fail = |err: io::Error| Error::io(err, &self.plan.src_path(&dir.rel), &dst);
            meta::set_mode(&dst, dir.meta.safe_mode()).map_err(fail)?;
            if self.preserve_times {
                meta::set_path_times(&dst, &dir.meta).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Put one file in place with the first method that works for it, and
    /// return that method. A method failing with an errno that means "this
    /// filesystem cannot" passes the file to the next allowed method; any other
    /// error is raised.
    fn place_file(&self, file: &FilePlan) -> Result<Method> {
        let src = self.plan.src_path(&file.rel);
        let dst = self.destination.path(&file.rel);
        let mut opened: Option<File> = None;
        for (i, &method) in self.methods.iter().enumerate() {
            let attempt = match method {
                // A hard link shares the inode and so its setuid/setgid bits,
                // which fastlink never carries over: such a file takes the next method.
                Method::Hardlink if file.meta.has_setid_bits() => {
                    Err(io::Error::from_raw_os_error(libc::EPERM))
                }
                Method::Hardlink => fs::hard_link(&src, &dst),
                Method::Reflink | Method::Copy => {
                    if opened.is_none() {
                        opened = Some(open_source(&src).map_err(|err| Error::io(err, &src, &dst))?);
                    }
                    let source = opened.as_ref().expect("opened above");
                    self.write_file(method, source, &dst, file)
                }
            };
            let err = match attempt {
                Ok(()) => return Ok(method),
                Err(err) => err,
            };
            let errno = err.raw_os_error().unwrap_or(libc::EIO);
            if !method.is_impossible_errno(errno) {
                return Err(Error::io(err, &src, &dst));
            }
            if i + 1 == self.methods.len() {
                return Err(Error::method_impossible(method, errno).with_paths(&src, &dst));
            }
        }
        unreachable!("methods is never empty")
    }

    fn write_file(
        &self,
        method: Method,
        source: &File,
        dst: &Path,
        file: &FilePlan,
    ) -> io::Result<()> {
        let mode = file.meta.safe_mode();
        let written = match method {
            Method::Reflink => platform::reflink_new(source, dst, mode)?,
            _ => platform::copy_new(source, dst, mode, file.size)?.0,
        };
        if self.preserve_times {
            meta::set_file_times(&written, &file.meta)?;
        }
        Ok(())
    }

    fn place_symlink(&self, link: &SymlinkPlan) -> Result<()> {
        self.cancel.check()?;
        let dst = self.destination.path(&link.rel);
        let fail = |err: io::Error| Error::io(err, &self.plan.src_path(&link.rel), &dst);
        std::os::unix::fs::symlink(&link.target, &dst).map_err(fail)?;
        if self.preserve_times {
            meta::set_path_times(&dst, &link.meta).map_err(fail)?;
        }
        Ok(())
    }

    /// Undo a failed run into a new destination: the tree, then the parents
    /// this call created, innermost first. Best effort: the original error is
    /// what the caller needs to see.
    fn remove_created(&self, created_parents: &[PathBuf]) {
        let root = &self.destination.root;
        if let Ok(metadata) = fs::symlink_metadata(root) {
            if metadata.is_dir() {
                make_owner_writable(root);
                let _ = fs::remove_dir_all(root);
            } else {
                let _ = fs::remove_file(root);
            }
        }
        for parent in created_parents.iter().rev() {
            let _ = fs::remove_dir(parent);
        }
    }
}

/// Open a source file for reading. O_NONBLOCK: should a fifo have replaced a
/// planned file, opening it must not hang (it has no effect on regular files).
fn open_source(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// `mkdir -p` for the parents of `path` (not `path` itself), recording each
/// directory created so a failed run can remove exactly those.
fn create_parents(path: &Path, created: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut current = path.parent();
    while let Some(dir) = current {
        if dir.as_os_str().is_empty() || fs::symlink_metadata(dir).is_ok() {
            break;
        }
        missing.push(dir.to_path_buf());
        current = dir.parent();
    }
    for dir in missing.into_iter().rev() {
        match fs::create_dir(&dir) {
            Ok(()) => created.push(dir),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Directories finished as read-only must become writable again to be removed.
fn make_owner_writable(root: &Path) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let _ = meta::set_mode(&dir, 0o700);
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(entry.path());
                }
            }
        }
    }
}

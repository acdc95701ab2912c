//! The one entry point: plan, validate, choose, execute, report.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::cancel::CancelFlag;
use crate::choose::choose;
use crate::destination::Destination;
use crate::error::Result;
use crate::execute::Execution;
use crate::options::Options;
use crate::per_file::FreshData;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::report::{Report, Totals};
use crate::single_file;

/// Materialize `src` (a tree or a single file) at `dst`: clone where the
/// filesystems allow it, otherwise fall back along `options.methods`.
/// `cancel` stops the call (it rolls back) and `progress` counts placed
/// files; both may be used from another thread while the call runs.
pub fn clone_or_copy(
    src: &Path,
    dst: &Path,
    options: &Options,
    cancel: &CancelFlag,
    progress: &Progress,
) -> Result<Report> {
    // The fast path has no check of its own between steps: a call cancelled
    // before it starts must not place its file.
    cancel.check()?;
    if let Some(report) = single_file::try_place(src, dst, options, progress) {
        return Ok(report);
    }
    clone_or_copy_planned(src, dst, options, cancel, progress)
}

/// [`clone_or_copy`] without its single-file fast path: walk into a plan,
/// check it, and carry it out. For a caller that runs calls on a worker
/// thread of its own (the Python binding does, to keep Ctrl-C working) once
/// [`try_single_file`](crate::try_single_file) has declined the call in the
/// calling thread, where a hand-off would cost more than the work.
pub fn clone_or_copy_planned(
    src: &Path,
    dst: &Path,
    options: &Options,
    cancel: &CancelFlag,
    progress: &Progress,
) -> Result<Report> {
    let started = Instant::now();
    let threads = options.validate()?;
    let plan = Plan::walk_ignoring(src, dst, threads, options.ignore.as_ref())?;
    carry_out(&plan, dst, options, threads, cancel, progress, started)
}

/// Materialize the files `files` (relative paths of regular files or
/// symlinks below `src_root`) at the same relative paths below `dst_root`,
/// creating the directories on the way with their source modes. `dst_root`
/// is created if it does not exist; an existing directory is merged into
/// only with `options.dirs_exist_ok` (the Python binding always sets it),
/// else the call fails with EEXIST ([`ErrorKind::Io`](crate::ErrorKind::Io),
/// Python's `FileExistsError`), as for a tree. Everything else is as for a
/// tree: one probe per pair of filesystems, a parallel fill, all-or-nothing,
/// the same report and errors.
pub fn clone_files(
    src_root: &Path,
    dst_root: &Path,
    files: &[PathBuf],
    options: &Options,
    cancel: &CancelFlag,
    progress: &Progress,
) -> Result<Report> {
    let started = Instant::now();
    let threads = options.validate()?;
    let plan = Plan::from_list(src_root, files, dst_root, threads)?;
    carry_out(&plan, dst_root, options, threads, cancel, progress, started)
}

/// Validate, choose, execute and report a plan; `threads` is what
/// `options.validate()` counted.
fn carry_out(
    plan: &Plan,
    dst: &Path,
    options: &Options,
    threads: usize,
    cancel: &CancelFlag,
    progress: &Progress,
    started: Instant,
) -> Result<Report> {
    let destination = Destination::validate(plan, dst, options.dirs_exist_ok, options.overwrite)?;
    let choice = choose(plan, &destination, &options.methods)?;
    progress.add_totals(plan.files.len() as u64, plan.total_bytes());
    cancel.check()?;
    let counts = Execution {
        plan,
        destination: &destination,
        methods: &choice.methods,
        options,
        threads,
        cancel,
        progress,
        shared_names: AtomicBool::new(true),
        fresh: FreshData::new()?,
    }
    .run()?;
    let totals = Totals {
        files: plan.files.len(),
        dirs: plan.dirs.len(),
        symlinks: plan.symlinks.len(),
        bytes: plan.total_bytes(),
    };
    Ok(Report::new(
        totals,
        &choice.methods,
        &counts,
        choice.skipped,
        started,
    ))
}

#[cfg(test)]
mod tests {
    //! What needs the crate's insides; the rest of the entry points' tests
    //! use only the public API, in `tests/public_api.rs`.
    use super::*;
    use std::fs;
    use std::os::fd::AsFd;
    use std::path::PathBuf;

    #[test]
    fn trees_deeper_than_path_max_are_cloned() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        let mut dir = crate::dirfd::open_dir(&src).unwrap();
        for _ in 0..1500 {
            crate::dirfd::mkdir_at(dir.as_fd(), "abcd".as_ref(), 0o755).unwrap();
            dir = crate::dirfd::open_dir_beneath(dir.as_fd(), Path::new("abcd")).unwrap();
        }
        let leaf = rustix::fs::openat(
            dir.as_fd(),
            "leaf",
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CREATE,
            rustix::fs::Mode::from_raw_mode(0o644),
        )
        .unwrap();
        rustix::io::write(&leaf, b"deep").unwrap();
        let dst = tmp.path().join("dst");

        let report = clone_or_copy(
            &src,
            &dst,
            &Options::default(),
            &CancelFlag::new(),
            &Progress::new(),
        )
        .unwrap();

        assert_eq!((report.files, report.dirs, report.bytes), (1, 1501, 4));
        let root = crate::dirfd::open_dir(&dst).unwrap();
        let rel: PathBuf = std::iter::repeat_n("abcd", 1500).collect();
        let deepest = crate::dirfd::open_dir_beneath(root.as_fd(), &rel).unwrap();
        assert!(crate::dirfd::lstat_at(deepest.as_fd(), "leaf".as_ref()).is_ok());
    }
}

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
    use super::*;
    use crate::error::ErrorKind;
    use crate::method::Method;
    use crate::MAX_THREADS;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
    use std::path::PathBuf;

    /// A call nobody cancels or watches.
    fn run(src: &Path, dst: &Path, options: &Options) -> Result<Report> {
        clone_or_copy(src, dst, options, &CancelFlag::new(), &Progress::new())
    }

    fn sample_tree(root: &Path) {
        fs::create_dir_all(root.join("pkg/sub")).unwrap();
        fs::write(root.join("pkg/__init__.py"), b"").unwrap();
        fs::write(root.join("pkg/sub/data.bin"), vec![7u8; 100_000]).unwrap();
        fs::write(root.join("run.sh"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        symlink("pkg/sub/data.bin", root.join("link")).unwrap();
    }

    #[test]
    fn copies_a_tree_with_modes_links_and_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("out/dst"));
        sample_tree(&src);

        let report = run(&src, &dst, &Options::default()).unwrap();

        assert_eq!((report.files, report.dirs, report.symlinks), (3, 3, 1));
        assert_eq!(report.bytes, 100_010);
        assert_eq!(report.reflinked + report.copied, 3);
        assert_eq!(
            fs::read(dst.join("pkg/sub/data.bin")).unwrap(),
            vec![7u8; 100_000]
        );
        assert_eq!(
            fs::metadata(dst.join("run.sh")).unwrap().mode() & 0o777,
            0o755
        );
        assert_eq!(
            fs::read_link(dst.join("link")).unwrap(),
            Path::new("pkg/sub/data.bin")
        );
        let (s, d) = (
            fs::metadata(src.join("pkg")).unwrap(),
            fs::metadata(dst.join("pkg")).unwrap(),
        );
        assert_eq!((s.mtime(), s.mtime_nsec()), (d.mtime(), d.mtime_nsec()));
    }

    #[test]
    fn progress_ends_at_the_totals() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        sample_tree(&src);
        let progress = Progress::new();

        let report = clone_or_copy(
            &src,
            &dst,
            &Options::default(),
            &CancelFlag::new(),
            &progress,
        )
        .unwrap();

        let done = progress.snapshot();
        assert_eq!((done.files_done, done.files_total), (3, 3));
        assert_eq!(
            (done.bytes_done, done.bytes_total),
            (report.bytes, report.bytes)
        );
    }

    #[test]
    fn hardlink_preference_shares_inodes_on_one_filesystem() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        sample_tree(&src);
        let options = Options {
            methods: vec![Method::Hardlink, Method::Copy],
            ..Options::default()
        };

        let report = run(&src, &dst, &options).unwrap();

        assert_eq!(report.method, Method::Hardlink);
        assert_eq!(report.hardlinked, 3);
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&src.join("run.sh")), ino(&dst.join("run.sh")));
    }

    #[test]
    fn a_cancelled_run_leaves_no_destination() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("a/b/dst"));
        sample_tree(&src);
        let cancel = CancelFlag::new();
        cancel.cancel();

        let err =
            clone_or_copy(&src, &dst, &Options::default(), &cancel, &Progress::new()).unwrap_err();

        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert!(!tmp.path().join("a").exists());
    }

    #[test]
    fn a_read_only_source_dir_is_filled_and_ends_read_only() {
        let tmp = tempfile::tempdir().unwrap();
        let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
        sample_tree(&src);
        fs::set_permissions(src.join("pkg/sub"), fs::Permissions::from_mode(0o555)).unwrap();

        run(&src, &dst, &Options::default()).unwrap();

        assert_eq!(
            fs::metadata(dst.join("pkg/sub")).unwrap().mode() & 0o7777,
            0o555
        );
        assert!(dst.join("pkg/sub/data.bin").exists());
    }

    #[test]
    fn trees_deeper_than_path_max_are_cloned() {
        use std::os::fd::AsFd;
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

        let report = run(&src, &dst, &Options::default()).unwrap();

        assert_eq!((report.files, report.dirs, report.bytes), (1, 1501, 4));
        let root = crate::dirfd::open_dir(&dst).unwrap();
        let rel: PathBuf = std::iter::repeat_n("abcd", 1500).collect();
        let deepest = crate::dirfd::open_dir_beneath(root.as_fd(), &rel).unwrap();
        assert!(crate::dirfd::lstat_at(deepest.as_fd(), "leaf".as_ref()).is_ok());
    }

    #[test]
    fn thread_counts_out_of_range_are_invalid_arguments() {
        let tmp = tempfile::tempdir().unwrap();
        for threads in [0, MAX_THREADS + 1, usize::MAX] {
            let options = Options {
                threads: Some(threads),
                ..Options::default()
            };
            let err = run(tmp.path(), &tmp.path().join("d"), &options).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        }
    }
}

//! The crate as a Rust installer uses it: only the public API, on whatever
//! filesystem the temp dir is (tmpfs or ext4 here, so copies and hard links;
//! the Python suite covers clones on real XFS and btrfs mounts).

use std::error::Error as _;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use fastlink_core::{
    clone_files, clone_or_copy, clone_or_copy_planned, try_single_file, CancelFlag, ErrorKind,
    Method, Options, Progress, Report, MAX_THREADS,
};

fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("pkg/sub")).unwrap();
    fs::write(root.join("pkg/__init__.py"), b"x = 1\n").unwrap();
    fs::write(root.join("pkg/sub/data.bin"), vec![7u8; 10_000]).unwrap();
    fs::write(root.join("run.sh"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("pkg/__init__.py", root.join("link")).unwrap();
}

fn place(src: &Path, dst: &Path, options: &Options) -> fastlink_core::Result<Report> {
    clone_or_copy(src, dst, options, &CancelFlag::new(), &Progress::new())
}

#[test]
fn a_tree_is_placed_whole_and_every_file_is_accounted_for() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("cache/pkg-1.0"), tmp.path().join("new/env"));
    sample_tree(&src);

    let report = place(&src, &dst, &Options::default()).unwrap();

    assert_eq!((report.files, report.dirs, report.symlinks), (3, 3, 1));
    assert_eq!(report.bytes, 10_016);
    assert_eq!(
        report.reflinked + report.hardlinked + report.copied,
        report.files
    );
    assert_eq!(
        fs::read(dst.join("pkg/sub/data.bin")).unwrap(),
        vec![7u8; 10_000]
    );
    assert_eq!(
        fs::metadata(dst.join("run.sh")).unwrap().mode() & 0o777,
        0o755
    );
    assert_eq!(
        fs::read_link(dst.join("link")).unwrap(),
        Path::new("pkg/__init__.py")
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
fn a_read_only_source_dir_is_filled_and_ends_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    sample_tree(&src);
    fs::set_permissions(src.join("pkg/sub"), fs::Permissions::from_mode(0o555)).unwrap();

    place(&src, &dst, &Options::default()).unwrap();

    assert_eq!(
        fs::metadata(dst.join("pkg/sub")).unwrap().mode() & 0o7777,
        0o555
    );
    assert!(dst.join("pkg/sub/data.bin").exists());
}

#[test]
fn thread_counts_out_of_range_are_invalid_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    for threads in [0, MAX_THREADS + 1, usize::MAX] {
        let options = Options {
            threads: Some(threads),
            ..Options::default()
        };
        let err = place(tmp.path(), &tmp.path().join("d"), &options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}

#[test]
fn the_fast_path_and_the_planned_path_place_a_file_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("module.py");
    fs::write(&src, b"print('hi')\n").unwrap();
    // A hard link takes the fast path on every backend (a clone or copy
    // does only where nameless files exist: not on macOS).
    let options = Options {
        methods: vec![Method::Hardlink, Method::Copy],
        ..Options::default()
    };
    let (fast, planned) = (tmp.path().join("fast.py"), tmp.path().join("planned.py"));

    let by_fast = try_single_file(&src, &fast, &options, &Progress::new())
        .expect("a small new file takes the fast path");
    let by_plan = clone_or_copy_planned(
        &src,
        &planned,
        &options,
        &CancelFlag::new(),
        &Progress::new(),
    )
    .unwrap();

    assert_eq!(
        (by_fast.files, by_fast.method, by_fast.hardlinked),
        (by_plan.files, by_plan.method, by_plan.hardlinked)
    );
    assert_eq!(fs::read(&fast).unwrap(), fs::read(&planned).unwrap());
}

#[test]
fn the_fast_path_declines_what_it_does_not_handle_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("tree");
    sample_tree(&src);
    let dst = tmp.path().join("dst");

    assert!(try_single_file(&src, &dst, &Options::default(), &Progress::new()).is_none());
    assert!(!dst.exists());
}

#[test]
fn an_existing_destination_is_a_typed_error_naming_both_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    sample_tree(&src);
    fs::create_dir(&dst).unwrap();

    let err = place(&src, &dst, &Options::default()).unwrap_err();

    assert_eq!((err.kind(), err.errno()), (ErrorKind::Io, libc::EEXIST));
    assert_eq!(
        (err.src(), err.dst()),
        (Some(src.as_path()), Some(dst.as_path()))
    );
    let source = err
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(source.and_then(|s| s.raw_os_error()), Some(libc::EEXIST));
}

#[test]
fn hard_links_share_the_source_inode() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    sample_tree(&src);
    let options = Options {
        methods: vec![Method::Hardlink],
        ..Options::default()
    };

    let report = place(&src, &dst, &options).unwrap();

    assert_eq!(report.hardlinked, 3);
    let ino = |p: &Path| fs::metadata(p).unwrap().ino();
    assert_eq!(
        ino(&src.join("pkg/__init__.py")),
        ino(&dst.join("pkg/__init__.py"))
    );
}

#[test]
fn a_file_list_merges_into_an_existing_root() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("site"));
    sample_tree(&src);
    fs::create_dir(&dst).unwrap();
    let files = ["pkg/sub/data.bin".into(), "run.sh".into()];
    let options = Options {
        dirs_exist_ok: true,
        ..Options::default()
    };

    let report = clone_files(
        &src,
        &dst,
        &files,
        &options,
        &CancelFlag::new(),
        &Progress::new(),
    )
    .unwrap();

    assert_eq!(report.files, 2);
    assert!(dst.join("pkg/sub/data.bin").is_file());
    assert!(!dst.join("pkg/__init__.py").exists());
}

#[test]
fn a_cancelled_call_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("new/env"));
    sample_tree(&src);
    let cancel = CancelFlag::new();
    cancel.cancel();

    let err =
        clone_or_copy(&src, &dst, &Options::default(), &cancel, &Progress::new()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(!tmp.path().join("new").exists());
}

#[test]
fn a_call_cancelled_before_it_starts_places_not_even_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("module.py");
    fs::write(&src, b"x = 1\n").unwrap();
    let dst = tmp.path().join("placed.py");
    let cancel = CancelFlag::new();
    cancel.cancel();

    let err =
        clone_or_copy(&src, &dst, &Options::default(), &cancel, &Progress::new()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(!dst.exists());
}

#[test]
fn one_flag_and_one_progress_serve_many_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    sample_tree(&src);
    let (cancel, progress) = (CancelFlag::new(), Progress::new());

    std::thread::scope(|scope| {
        for i in 0..4 {
            let (src, cancel, progress) = (&src, &cancel, &progress);
            let dst = tmp.path().join(format!("env{i}"));
            scope.spawn(move || {
                clone_or_copy(src, &dst, &Options::default(), cancel, progress).unwrap()
            });
        }
    });
    let done = progress.snapshot();
    assert_eq!((done.files_done, done.files_total), (12, 12));

    // Calls that committed do not keep the flag from cancelling the next one.
    cancel.cancel();
    let err = clone_or_copy(
        &src,
        &tmp.path().join("late"),
        &Options::default(),
        &cancel,
        &progress,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

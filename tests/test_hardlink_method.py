"""methods=("hardlink", "copy"): hardlink within one filesystem, copy across."""

import errno
import os
import stat

import fastlink
import pytest
from fdwalk import regular_files
from snapshots import assert_trees_equal, snapshot, tree_counts
from treespec import make_tree, sample_spec


def _pairs(src, dst):
    for s in regular_files(src):
        yield s, os.path.join(os.fsencode(dst), os.path.relpath(s, os.fsencode(src)))


def test_hardlink_within_filesystem_shares_inodes(xfs, fresh_dir):
    base = fresh_dir(xfs)
    src, dst = base / "src", base / "dst"
    src_snap = make_tree(src, sample_spec())
    counts = tree_counts(src_snap)
    report = fastlink.clone_or_copy(src, dst, methods=("hardlink", "copy"))
    assert report.method == "hardlink"
    assert report.hardlinked == report.files == counts["files"]
    assert report.copied == 0 and report.reflinked == 0
    for s, d in _pairs(src, dst):
        assert os.stat(s).st_ino == os.stat(d).st_ino, d
    # Dirs and symlinks are recreated, not linked; everything else matches.
    assert_trees_equal(src_snap, dst)


def test_hardlink_across_filesystems_falls_back_to_copy(xfs, btrfs, fresh_dir):
    src = fresh_dir(xfs) / "src"
    dst = fresh_dir(btrfs) / "dst"
    src_snap = make_tree(src, sample_spec())
    report = fastlink.clone_or_copy(src, dst, methods=("hardlink", "copy"))
    assert report.method == "copy"
    assert report.copied == report.files
    assert any(s[0] == "hardlink" and s[1] == errno.EXDEV for s in report.skipped), report.skipped
    for s, d in _pairs(src, dst):
        assert (os.stat(s).st_dev, os.stat(s).st_ino) != (os.stat(d).st_dev, os.stat(d).st_ino)
    assert_trees_equal(src_snap, dst)


def test_hardlinking_never_changes_the_source(xfs, fresh_dir):
    # A hardlink shares the inode, so setting times on the "copy" would
    # silently modify the source file.
    base = fresh_dir(xfs)
    src, dst = base / "src", base / "dst"
    make_tree(src, sample_spec())
    src_snap = snapshot(src)
    fastlink.clone_or_copy(src, dst, methods="hardlink", preserve_times=False)
    assert snapshot(src) == src_snap


def test_setuid_files_are_copied_not_hardlinked(xfs, fresh_dir):
    # Linking a setuid/setgid file would carry the bits into dst through the
    # shared inode; fastlink clears them, so such a file takes the next method.
    base = fresh_dir(xfs)
    src, dst = base / "src", base / "dst"
    make_tree(src, sample_spec())
    os.chmod(src / "tool.sh", 0o4755)
    os.chmod(src / "private.key", 0o2600)
    src_snap = snapshot(src)

    report = fastlink.clone_or_copy(src, dst, methods=("hardlink", "copy"))

    assert report.method == "hardlink"
    assert report.copied == 2
    assert report.hardlinked == report.files - 2
    assert stat.S_IMODE(os.stat(dst / "tool.sh").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dst / "private.key").st_mode) == 0o600
    assert os.stat(dst / "tool.sh").st_ino != os.stat(src / "tool.sh").st_ino
    assert snapshot(src) == src_snap


def test_strict_hardlink_refuses_setuid_files_and_leaves_no_dst(xfs, fresh_dir):
    base = fresh_dir(xfs)
    src, dst = base / "src", base / "dst"
    make_tree(src, sample_spec())
    os.chmod(src / "tool.sh", 0o4755)
    src_snap = snapshot(src)

    with pytest.raises(fastlink.HardlinkUnsupportedError) as caught:
        fastlink.clone_or_copy(src, dst, methods="hardlink")

    assert caught.value.errno == errno.EPERM
    assert caught.value.filename == str(src / "tool.sh")
    assert not dst.exists()
    assert snapshot(src) == src_snap

"""With the default methods ("reflink", "copy"), a copy between two different
filesystems can't reflink (EXDEV) and must fall back to a faithful copy."""

import errno

import fastlink
import pytest
from snapshots import assert_trees_equal, tree_counts
from treespec import make_tree, sample_spec

PAIRS = [("xfs", "btrfs"), ("xfs", "tmpfs"), ("ext4", "xfs")]


@pytest.fixture(params=PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def src_and_dst(request, mounts, fresh_dir):
    src_fs, dst_fs = request.param
    src = fresh_dir(mounts.get(src_fs)) / "src"
    dst = fresh_dir(mounts.get(dst_fs)) / "dst"
    return src, dst, make_tree(src, sample_spec())


def test_cross_device_copy_succeeds_with_copy_method(src_and_dst):
    src, dst, _ = src_and_dst
    report = fastlink.clone_or_copy(src, dst)
    assert report.method == "copy"


def test_cross_device_copy_reports_reflink_skipped_with_exdev(src_and_dst):
    src, dst, _ = src_and_dst
    report = fastlink.clone_or_copy(src, dst)
    reflink_skips = [s for s in report.skipped if s[0] == "reflink"]
    assert reflink_skips, f"reflink not reported as skipped: {report.skipped!r}"
    assert reflink_skips[0][1] == errno.EXDEV, report.skipped
    assert isinstance(reflink_skips[0][2], str)


def test_cross_device_copy_keeps_bytes_modes_symlinks_and_mtimes(src_and_dst):
    src, dst, src_snap = src_and_dst
    fastlink.clone_or_copy(src, dst)
    assert_trees_equal(src_snap, dst, times=True)


def test_cross_device_copy_report_counts_match_tree(src_and_dst):
    src, dst, src_snap = src_and_dst
    expected = tree_counts(src_snap)
    report = fastlink.clone_or_copy(src, dst)
    assert {k: getattr(report, k) for k in expected} == expected
    assert report.copied == expected["files"]
    assert report.reflinked == 0
    assert report.hardlinked == 0

"""Within one reflink-capable filesystem every file is cloned: the data
extents are shared (checked with FIEMAP), and metadata is still copied."""

import os
import stat

import fastlink
import pytest
from fdwalk import regular_files
from fiemap import FIEMAP_MIN_SIZE, describe_extents, is_fully_shared
from snapshots import assert_trees_equal, tree_counts
from treespec import make_tree, sample_spec


@pytest.fixture(params=["xfs", "btrfs"])
def reflinked_copy(request, mounts, fresh_dir):
    """(src, dst, report, src snapshot before the copy) within one filesystem."""
    base = fresh_dir(mounts.get(request.param))
    src, dst = base / "src", base / "dst"
    src_snap = make_tree(src, sample_spec())
    report = fastlink.clone_or_copy(src, dst)
    return src, dst, report, src_snap


def test_same_filesystem_uses_reflink_for_every_file(reflinked_copy):
    _, _, report, src_snap = reflinked_copy
    counts = tree_counts(src_snap)
    assert report.method == "reflink"
    assert report.files == counts["files"]
    assert report.reflinked == report.files
    assert report.copied == 0
    assert report.skipped == ()


def test_reflinked_files_share_every_extent_with_source(reflinked_copy):
    src, dst, _, _ = reflinked_copy
    big = [p for p in regular_files(dst) if os.path.getsize(p) >= FIEMAP_MIN_SIZE]
    assert len(big) >= 5, "sample tree should contain several FIEMAP-checkable files"
    for d in big:
        s = os.path.join(os.fsencode(src), os.path.relpath(d, os.fsencode(dst)))
        assert is_fully_shared(d), f"dst {d!r} not fully shared: {describe_extents(d)}"
        assert is_fully_shared(s), f"src {s!r} not fully shared: {describe_extents(s)}"


def test_reflink_path_keeps_exec_bits_and_modes(reflinked_copy):
    # uv lost exec bits when cloning (astral-sh/uv#18181); fastlink must not.
    _, dst, _, _ = reflinked_copy
    tool = os.stat(dst / "tool.sh")
    assert stat.S_IMODE(tool.st_mode) == 0o755
    assert os.access(dst / "tool.sh", os.X_OK)
    assert stat.S_IMODE(os.stat(dst / "sub dir" / "nested.bin").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dst / "private.key").st_mode) == 0o600


def test_reflink_path_keeps_whole_tree_including_mtimes(reflinked_copy):
    _src, dst, _, src_snap = reflinked_copy
    assert_trees_equal(src_snap, dst, times=True)


def test_reflinking_leaves_source_tree_untouched(reflinked_copy):
    # e.g. a probe file created (and deleted) in src would bump src's mtimes.
    src, _, _, src_snap = reflinked_copy
    assert_trees_equal(src_snap, src, times=True)


def test_src_root_symlink_to_file_is_followed_when_reflinking(xfs, fresh_dir):
    base = fresh_dir(xfs)
    (base / "real.bin").write_bytes(b"r" * FIEMAP_MIN_SIZE)
    os.symlink("real.bin", base / "link")
    report = fastlink.clone_or_copy(base / "link", base / "sub" / "clone.bin", methods="reflink")
    assert report.method == "reflink" and report.reflinked == 1
    assert not os.path.islink(base / "sub" / "clone.bin")
    assert is_fully_shared(base / "sub" / "clone.bin")

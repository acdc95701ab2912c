"""Promises that a platform backend could break on its own: the macOS backend
clones a new tree with one clonefileat, refuses to replace with
renameatx_np(RENAME_EXCL), and clones files with fclonefileat, which copies
times. These tests hold on every backend; under `make macos-sim` they run
the macOS one, whose calls crates/fastlink-core/src/platform/macos_sim.rs models on Linux, and
its knobs (FASTLINK_SIM_*) make the shim answer as a macOS volume would.
The tests that turn a knob are marked `macos_backend`: no other backend
reads the knobs, so elsewhere they could not fail, and conftest deselects
them; the rest pin the same behaviour on every backend.
"""

from __future__ import annotations

import errno
import os
import stat

import fastlink
import pytest
from fdwalk import regular_files
from fiemap import FIEMAP_MIN_SIZE, is_fully_shared
from snapshots import assert_trees_equal
from treespec import make_tree, sample_spec

OLD = 1_000_000_000  # 2001-09-09, far from "now"


def _all_shared(dst: os.PathLike) -> bool:
    big = [p for p in regular_files(dst) if os.path.getsize(p) >= FIEMAP_MIN_SIZE]
    assert big, "the sample tree has FIEMAP-checkable files"
    return all(is_fully_shared(p) for p in big)


def test_a_symlinked_src_becomes_a_tree_not_a_symlink(xfs, fresh_dir):
    # clonefile(CLONE_NOFOLLOW) on a symlink clones the link itself.
    base = fresh_dir(xfs)
    expected = make_tree(base / "cache", sample_spec())
    os.symlink("cache", base / "link")

    report = fastlink.clone_or_copy(base / "link", base / "dst")

    assert not os.path.islink(base / "dst")
    assert stat.S_ISDIR(os.lstat(base / "dst").st_mode)
    assert_trees_equal(expected, base / "dst")
    assert report.reflinked == report.files > 0
    assert _all_shared(base / "dst")


@pytest.mark.macos_backend
@pytest.mark.parametrize(
    "errno_", [errno.EDEADLK, errno.EACCES, errno.EIO], ids=["dataless", "unreadable", "eio"]
)
def test_a_failed_whole_tree_clone_falls_back_to_cloning_entry_by_entry(
    xfs, fresh_dir, monkeypatch, errno_
):
    # One iCloud "dataless" or unreadable file makes a whole-tree clonefile
    # fail; the entries that can be cloned still are, and an error that
    # remains names the entry it belongs to.
    monkeypatch.setenv("FASTLINK_SIM_CLONE_TREE_ERRNO", str(errno_))
    base = fresh_dir(xfs)
    expected = make_tree(base / "src", sample_spec())

    report = fastlink.clone_or_copy(base / "src", base / "dst")

    assert_trees_equal(expected, base / "dst")
    assert report.method == "reflink"
    assert report.reflinked == report.files > 0
    assert _all_shared(base / "dst")
    assert sorted(os.listdir(base)) == ["dst", "src"]


@pytest.mark.macos_backend
@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
def test_a_volume_without_an_exclusive_rename_still_commits_without_clobbering(
    tmpfs, fresh_dir, monkeypatch, merge
):
    # renameatx_np(RENAME_EXCL) answers ENOTSUP on exFAT and SMB volumes.
    monkeypatch.setenv("FASTLINK_SIM_NO_RENAME_EXCL", "tmpfs")
    base = fresh_dir(tmpfs)
    expected = make_tree(base / "src", sample_spec())
    dst = base / "dst"
    if merge:
        dst.mkdir()

    fastlink.clone_or_copy(base / "src", dst, dirs_exist_ok=merge)

    assert_trees_equal(expected, dst, include_root=not merge)
    # Still never replaces: a second call meets what the first put there.
    with pytest.raises(FileExistsError):
        fastlink.clone_or_copy(base / "src", dst, dirs_exist_ok=merge)
    assert_trees_equal(expected, dst, include_root=not merge)


@pytest.mark.parametrize("shape", ["tree", "single-file"])
def test_a_clone_without_preserve_times_gets_new_times_like_a_copy(xfs, fresh_dir, shape):
    # fclonefileat and clonefileat copy the source's times; a copy does not.
    base = fresh_dir(xfs)
    make_tree(base / "src", {"pkg": {"big.bin": os.urandom(FIEMAP_MIN_SIZE)}})
    src = base / "src" if shape == "tree" else base / "src" / "pkg" / "big.bin"
    for path in (base / "src" / "pkg" / "big.bin", base / "src" / "pkg"):
        os.utime(path, (OLD, OLD))

    report = fastlink.clone_or_copy(src, base / "dst", preserve_times=False)

    assert report.reflinked == 1
    cloned = base / "dst" / "pkg" / "big.bin" if shape == "tree" else base / "dst"
    assert os.stat(cloned).st_mtime > OLD + 10**8
    assert is_fully_shared(cloned)

"""A filesystem mounted inside the source (a tmpfs here; a nested btrfs
subvolume is the same) is its files' own case: they fall back alone, and the
rest of the tree keeps the method the source's own filesystem can do. The
probe's sample comes from the source root's filesystem, never from the
mount inside it."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import fastlink
import pytest
from fiemap import FIEMAP_MIN_SIZE, is_fully_shared
from mounts import tmpfs_at
from snapshots import assert_trees_equal
from treespec import File, make_tree, random_bytes


@pytest.fixture
def src_with_a_tmpfs_inside(xfs: Path, fresh_dir) -> Iterator[Path]:
    src = fresh_dir(xfs) / "src"
    make_tree(src, {"top.bin": File(random_bytes(FIEMAP_MIN_SIZE, 1)), "inner": {}})
    with tmpfs_at(src / "inner"):
        # Made on the tmpfs: the tree's first file in walk order may sit
        # there, and must not decide for the xfs files.
        make_tree(src / "inner", {"in.bin": File(random_bytes(5000, 2))})
        yield src


def test_files_on_a_mount_inside_the_source_fall_back_alone(src_with_a_tmpfs_inside, fresh_dir):
    src = src_with_a_tmpfs_inside
    dst = src.parent / "dst"

    report = fastlink.clone_or_copy(src, dst)

    assert_trees_equal(src, dst)
    assert report.method == "reflink", report
    assert (report.reflinked, report.copied) == (1, 1), report
    assert report.skipped == (), report
    assert [(m, e, n) for m, e, n, _ in report.fallbacks] == [("reflink", errno.EXDEV, 1)]
    assert is_fully_shared(dst / "top.bin")


def test_strict_reflink_names_the_file_on_the_mount(src_with_a_tmpfs_inside):
    src = src_with_a_tmpfs_inside
    dst = src.parent / "strict"

    with pytest.raises(fastlink.CrossDeviceError) as caught:
        fastlink.clone_or_copy(src, dst, methods="reflink")

    assert caught.value.filename == str(src / "inner" / "in.bin")
    assert not dst.exists()

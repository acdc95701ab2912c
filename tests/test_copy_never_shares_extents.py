"""`methods="copy"` and `FASTLINK_METHODS=copy` make independent bytes, as
`cp --reflink=never` does (issue 9, item 5): on one XFS or one btrfs,
copy_file_range would share extents, and FIEMAP would show them shared.
After a sync, no extent of any destination file, nor of its source, may
carry FIEMAP_EXTENT_SHARED.
"""

from __future__ import annotations

import os

import fastlink
import pytest
from fdwalk import regular_files
from fiemap import FIEMAP_EXTENT_SHARED, describe_extents, fiemap_extents
from snapshots import assert_trees_equal, tree_counts
from treespec import File, make_tree, random_bytes

MiB = 1 << 20


def _spec() -> dict:
    # Every file >= 64 KiB (btrfs keeps tiny files inline, never shared).
    return {
        "big.bin": File(random_bytes(4 * MiB, 1)),
        "lib": {f"m{i}.so": File(random_bytes(64 * 1024 + i * 4096, 10 + i)) for i in range(6)},
        "bin": {"tool": File(random_bytes(300 * 1024, 30), 0o755)},
        "odd-size.dat": File(random_bytes(MiB + 12345, 40)),
    }


def _shared_files(root) -> list[str]:
    out = []
    for path in regular_files(root):
        if any(flags & FIEMAP_EXTENT_SHARED for *_, flags in fiemap_extents(path)):
            out.append(f"{os.fsdecode(path)}: {describe_extents(path)}")
    return out


@pytest.mark.parametrize("kind", ["xfs", "btrfs"])
@pytest.mark.parametrize("how", ["methods=copy", "FASTLINK_METHODS=copy"])
def test_copy_on_one_filesystem_shares_no_extents(request, fresh_dir, monkeypatch, kind, how):
    base = fresh_dir(request.getfixturevalue(kind), "copy-extents-")
    src, dst = base / "src", base / "dst"
    expected = make_tree(src, _spec())
    os.sync()
    assert _shared_files(src) == [], "the fresh source already shares extents"

    if how == "methods=copy":
        monkeypatch.delenv("FASTLINK_METHODS", raising=False)
        report = fastlink.clone_or_copy(src, dst, methods="copy")
    else:
        monkeypatch.setenv("FASTLINK_METHODS", "copy")
        report = fastlink.clone_or_copy(src, dst)

    counts = tree_counts(expected)
    assert report.method == "copy", report
    assert (report.copied, report.reflinked, report.hardlinked) == (counts["files"], 0, 0), report
    assert_trees_equal(expected, dst)
    os.sync()
    assert _shared_files(dst) == [], "copy shared extents with the source (a clone, not a copy)"
    assert _shared_files(src) == [], "the source's extents became shared by a copy"

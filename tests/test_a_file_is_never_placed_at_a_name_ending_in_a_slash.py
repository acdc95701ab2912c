"""A single file at a destination spelled as a directory (issue 16, item 7).

`cp f newdir/` and `shutil.copy2`'s open refuse a trailing slash with
ENOTDIR rather than create `newdir` as a file; so does fastlink, before
anything is written. A directory tree's `dst` may end in a slash.
"""

from __future__ import annotations

import errno
import os

import fastlink
import pytest
from snapshots import assert_trees_equal, snapshot
from treespec import make_tree


@pytest.mark.parametrize("dst_name", ["newdir/", "new/sub/", "existing_file/", "newdir/."])
@pytest.mark.parametrize("methods", ["reflink", "hardlink", "copy"])
def test_a_single_file_at_a_name_ending_in_a_slash_is_not_a_directory(
    xfs, fresh_dir, dst_name, methods
):
    base = fresh_dir(xfs)
    make_tree(base / "src", {"f": b"data\n"})
    (base / "out").mkdir()
    (base / "out" / "existing_file").write_bytes(b"old\n")
    before = snapshot(base / "out")
    dst = os.path.join(base / "out", dst_name)

    for overwrite in (False, True):
        with pytest.raises(NotADirectoryError) as caught:
            fastlink.clone_or_copy(base / "src" / "f", dst, methods=methods, overwrite=overwrite)

        assert caught.value.errno == errno.ENOTDIR
        assert caught.value.filename == str(base / "src" / "f")
        assert caught.value.filename2 == dst  # the caller's spelling, slash and all
        assert snapshot(base / "out") == before, "something was written"


def test_a_trees_dst_may_end_in_a_slash(xfs, fresh_dir):
    base = fresh_dir(xfs)
    expected = make_tree(base / "src", {"f": b"data\n", "d": {"g": b"g\n"}})

    fastlink.clone_or_copy(base / "src", f"{base / 'dst'}/")

    assert_trees_equal(expected, base / "dst")

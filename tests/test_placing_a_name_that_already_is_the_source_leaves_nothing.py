"""Placing a name that already is the source's inode (issue 16, item 2).

rename(2) between two names of one inode does nothing and reports success,
so a hard link staged under a temp name beside a name that already is the
source's inode would stay behind. With `methods="hardlink"` such a name is
already what the call would make: it is left as it is, nothing is staged
anywhere (least of all in the source's directory), and the report counts
the file as hard-linked. With a clone or a copy, a new file replaces the
name, and the source's content is untouched.
"""

from __future__ import annotations

import os

import fastlink
import pytest
from fdwalk import fastlink_entries, regular_files
from guardhooks import forget_source
from snapshots import assert_trees_equal, snapshot
from treespec import make_tree, sample_spec


def _identity(path: os.PathLike | str | bytes) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def _same_inode_pairs(src, dst):
    for s in regular_files(src):
        d = os.path.join(os.fsencode(dst), os.path.relpath(s, os.fsencode(src)))
        yield s, d


@pytest.mark.parametrize("fs", ["xfs", "ext4"])
def test_reinstalling_a_hardlinked_tree_leaves_no_temp_names(fs, request, fresh_dir):
    base = fresh_dir(request.getfixturevalue(fs))
    src, dst = base / "hs", base / "hd"
    src_snap = make_tree(src, sample_spec())
    first = fastlink.clone_or_copy(src, dst, methods="hardlink")

    again = fastlink.clone_or_copy(src, dst, methods="hardlink", dirs_exist_ok=True, overwrite=True)

    assert fastlink_entries(base) == []
    assert again.hardlinked == again.files == first.files
    assert (again.copied, again.reflinked) == (0, 0)
    for s, d in _same_inode_pairs(src, dst):
        assert _identity(s) == _identity(d), d
        assert os.lstat(s).st_nlink == 2, s  # no third name anywhere
    assert_trees_equal(src_snap, dst, dir_times=False)


def test_a_single_file_hardlinked_onto_itself_writes_nothing_into_its_directory(xfs, fresh_dir):
    base = fresh_dir(xfs)
    f = base / "src" / "mod.py"
    make_tree(base / "src", {"mod.py": b"x = 1\n"})
    before = snapshot(base / "src", identity=True)

    report = fastlink.clone_or_copy(f, f, overwrite=True, methods="hardlink")

    assert (report.files, report.hardlinked) == (1, 1)
    assert fastlink_entries(base) == []
    assert snapshot(base / "src", identity=True) == before
    assert os.lstat(f).st_nlink == 1


@pytest.mark.parametrize("api", ["clone_or_copy", "clone_files"])
def test_overwriting_a_second_hardlink_name_of_the_source_leaves_nothing_beside_it(
    xfs, fresh_dir, api
):
    base = fresh_dir(xfs)
    make_tree(base / "src", {"mod.py": b"x = 1\n", "other.py": b"y = 2\n"})
    (base / "dst").mkdir()
    os.link(base / "src" / "mod.py", base / "dst" / "mod.py")

    if api == "clone_or_copy":
        report = fastlink.clone_or_copy(
            base / "src" / "mod.py", base / "dst" / "mod.py", overwrite=True, methods="hardlink"
        )
        assert (report.files, report.hardlinked) == (1, 1)
    else:
        report = fastlink.clone_files(
            base / "src", base / "dst", ["mod.py", "other.py"], overwrite=True, methods="hardlink"
        )
        assert (report.files, report.hardlinked) == (2, 2)
        assert _identity(base / "src" / "other.py") == _identity(base / "dst" / "other.py")

    assert fastlink_entries(base) == []
    assert _identity(base / "src" / "mod.py") == _identity(base / "dst" / "mod.py")
    assert os.lstat(base / "src" / "mod.py").st_nlink == 2


@pytest.mark.parametrize("methods", ["reflink", "copy"])
def test_cloning_or_copying_over_the_sources_own_inode_replaces_the_name(xfs, fresh_dir, methods):
    base = fresh_dir(xfs)
    src, dst = base / "hs", base / "hd"
    src_snap = make_tree(src, sample_spec())
    fastlink.clone_or_copy(src, dst, methods="hardlink")

    report = fastlink.clone_or_copy(src, dst, methods=methods, dirs_exist_ok=True, overwrite=True)

    assert report.files == getattr(report, "reflinked" if methods == "reflink" else "copied")
    assert fastlink_entries(base) == []
    for s, d in _same_inode_pairs(src, dst):
        assert _identity(s) != _identity(d), d
        assert os.lstat(s).st_nlink == 1, s
    assert_trees_equal(src_snap, src)
    assert_trees_equal(src_snap, dst, dir_times=False)


@pytest.mark.parametrize("methods", ["reflink", "copy"])
def test_a_single_file_cloned_or_copied_onto_itself_keeps_its_content(xfs, fresh_dir, methods):
    base = fresh_dir(xfs)
    f = base / "src" / "mod.py"
    make_tree(base / "src", {"mod.py": b"x = 1\n" * 1000})
    forget_source(base / "src")  # the name gets a new inode, on purpose
    old = _identity(f)

    report = fastlink.clone_or_copy(f, f, overwrite=True, methods=methods)

    assert report.files == 1
    assert f.read_bytes() == b"x = 1\n" * 1000
    assert _identity(f) != old
    assert fastlink_entries(base) == []

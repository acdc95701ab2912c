"""clone_or_copy(..., ignore=) is shutil.copytree's ignore (issue 11, item 3):
called once per source directory with its path and its entries' names, it
answers the names to leave out, files or whole subtrees;
shutil.ignore_patterns works. The result and the calls it receives are
copytree's (symlinks=True: fastlink never follows a link inside the tree),
and an exception it raises comes out unchanged, with nothing written.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import fastlink
import pytest
from fdwalk import make_fresh_dir, remove_tree
from hypothesis import given
from hypothesis import strategies as st
from snapshots import assert_trees_equal, snapshot
from syscalls import traced
from treespec import File, Symlink, make_tree

NAMES = ["a.py", "b.pyc", "__pycache__", "test_c.py", "d.so", "data", "tests", "e", "f.txt"]
PATTERNS = ["*.pyc", "__pycache__", "test*", "*.so", "?", "[ab]*", "data", "*.py", "e"]

_leaf = st.one_of(
    st.binary(max_size=64).map(File),
    st.sampled_from([Symlink("a.py"), Symlink("nowhere"), Symlink("..")]),
)
trees = st.dictionaries(
    st.sampled_from(NAMES),
    st.recursive(
        _leaf, lambda kids: st.dictionaries(st.sampled_from(NAMES), kids, max_size=4), max_leaves=12
    ),
    max_size=6,
)


def recording(ignore, into: list):
    """`ignore`, noting each (dir, names) it is called with."""

    def recorded(directory, names):
        into.append((directory, list(names)))
        return ignore(directory, names)

    return recorded


def _calls(calls: list) -> list:
    """The calls as a comparable, order-free list (fastlink walks breadth-first
    and in parallel, copytree depth-first)."""
    return sorted((d, sorted(names), type(d), type(names)) for d, names in calls)


@given(spec=trees, patterns=st.lists(st.sampled_from(PATTERNS), max_size=3, unique=True))
def test_the_result_and_the_calls_are_copytrees(xfs, spec, patterns):
    base = make_fresh_dir(xfs, "ignore-")
    try:
        make_tree(base / "src", spec)
        ignore = shutil.ignore_patterns(*patterns)
        theirs: list = []
        ours: list = []
        shutil.copytree(
            base / "src", base / "copytree", symlinks=True, ignore=recording(ignore, theirs)
        )
        fastlink.clone_or_copy(base / "src", base / "fastlink", ignore=recording(ignore, ours))
        assert_trees_equal(base / "copytree", base / "fastlink")
        assert _calls(ours) == _calls(theirs)
    finally:
        remove_tree(base)


def _sample(src: Path) -> None:
    make_tree(
        src,
        {
            "pkg": {
                "__init__.py": b"",
                "__pycache__": {"__init__.cpython-311.pyc": b"junk", "deep": {"x.pyc": b""}},
                "tests": {"test_inside_the_ignored_dir.py": b"never looked at\n"},
                "mod.py": b"x = 1\n",
                "mod.pyc": b"junk",
            },
            "top.pyc": b"junk",
            "keep.txt": b"kept\n",
        },
    )


def test_an_ignored_directory_is_skipped_whole_and_never_looked_into(xfs):
    base = make_fresh_dir(xfs, "ignore-")
    try:
        _sample(base / "src")
        calls: list = []
        ignore = recording(shutil.ignore_patterns("__pycache__", "tests", "*.pyc"), calls)
        report = fastlink.clone_or_copy(base / "src", base / "dst", ignore=ignore)
        assert sorted(os.listdir(base / "dst" / "pkg")) == ["__init__.py", "mod.py"]
        assert sorted(os.listdir(base / "dst")) == ["keep.txt", "pkg"]
        assert (report.files, report.dirs) == (3, 2)
        assert sorted(os.path.relpath(d, base / "src") for d, _ in calls) == [".", "pkg"]
    finally:
        remove_tree(base)


NEVER_STATED_CHILD = textwrap.dedent(
    """
    import shutil, sys, fastlink
    mark("call")
    fastlink.clone_or_copy(sys.argv[1], sys.argv[2],
                           ignore=shutil.ignore_patterns("__pycache__", "tests", "*.pyc"))
    mark("end")
    """
)


def test_what_is_ignored_is_never_stated_or_opened(xfs):
    base = make_fresh_dir(xfs, "ignore-")
    try:
        _sample(base / "src")
        trace = traced(NEVER_STATED_CHILD, os.fspath(base / "src"), os.fspath(base / "dst"))
        for name in ("__pycache__", "tests", "test_inside_the_ignored_dir", ".pyc"):
            assert trace.matching("call", name) == [], name
        assert (base / "dst" / "pkg" / "mod.py").exists()
    finally:
        remove_tree(base)


def test_a_bytes_src_gives_bytes_arguments_as_copytree_does(xfs):
    base = make_fresh_dir(xfs, "ignore-")
    try:
        make_tree(base / "src", {b"caf\xe9.py": b"", "sub": {"x.pyc": b"", b"\xff.txt": b""}})
        src = os.fsencode(base / "src")
        ignore = shutil.ignore_patterns(b"*.pyc")  # fnmatch takes bytes patterns for bytes
        theirs: list = []
        ours: list = []
        shutil.copytree(src, os.fsencode(base / "copytree"), symlinks=True,
                        ignore=recording(ignore, theirs))  # fmt: skip
        fastlink.clone_or_copy(src, os.fsencode(base / "fastlink"), ignore=recording(ignore, ours))
        assert _calls(ours) == _calls(theirs)
        assert {type(d) for d, _ in ours} == {bytes}
        assert {type(n) for _, names in ours for n in names} == {bytes}
        assert_trees_equal(base / "copytree", base / "fastlink")
        assert not (base / "fastlink" / "sub" / "x.pyc").exists()
    finally:
        remove_tree(base)


class Refused(Exception):
    pass


@pytest.mark.parametrize("where", ["root", "nested"])
@pytest.mark.parametrize("merge", [False, True], ids=["new-dst", "merge"])
def test_an_exception_it_raises_comes_out_unchanged_and_nothing_is_written(xfs, where, merge):
    base = make_fresh_dir(xfs, "ignore-")
    try:
        _sample(base / "src")
        error = Refused("not this one")
        nested = os.path.join(base / "src", "pkg")

        def ignore(directory, names):
            if where == "root" or directory == nested:
                raise error
            return []

        dst = base / "dst"
        if merge:
            make_tree(dst, {"other.py": b"o\n", "pkg": {"theirs.py": b""}})
        before = snapshot(dst, identity=True) if merge else None
        with pytest.raises(Refused) as raised:
            fastlink.clone_or_copy(base / "src", dst, ignore=ignore, dirs_exist_ok=merge)
        assert raised.value is error
        if merge:
            assert snapshot(dst, identity=True) == before
        else:
            assert not os.path.lexists(dst)
    finally:
        remove_tree(base)


@pytest.mark.parametrize("not_callable", [3, "*.pyc", ["*.pyc"]])
def test_an_ignore_that_is_not_callable_is_a_type_error(tmp_path, not_callable):
    make_tree(tmp_path / "src", {"a.py": b""})
    with pytest.raises(TypeError, match="ignore must be callable"):
        fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", ignore=not_callable)
    assert not os.path.lexists(tmp_path / "dst")
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", ignore=None)  # as copytree's
    assert os.listdir(tmp_path / "dst") == ["a.py"]


def test_a_merge_with_ignore_is_copytree_with_dirs_exist_ok(xfs):
    base = make_fresh_dir(xfs, "ignore-")
    try:
        _sample(base / "src")
        existing = {"other.py": b"o\n", "pkg": {"theirs.py": b"t\n"}, "keep.txt.orig": b""}
        make_tree(base / "copytree", existing)
        make_tree(base / "fastlink", existing)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(base / "src", base / "copytree", symlinks=True, ignore=ignore,
                        dirs_exist_ok=True)  # fmt: skip
        fastlink.clone_or_copy(base / "src", base / "fastlink", ignore=ignore, dirs_exist_ok=True)
        # copytree also copies the source root's metadata onto an existing
        # dst; a merge leaves existing directories' metadata alone.
        assert_trees_equal(base / "copytree", base / "fastlink", include_root=False,
                           dir_times=False)  # fmt: skip
    finally:
        remove_tree(base)


def test_a_single_file_src_never_calls_it(tmp_path):
    make_tree(tmp_path / "src", {"a.pyc": b"x"})
    calls: list = []
    fastlink.clone_or_copy(tmp_path / "src" / "a.pyc", tmp_path / "dst.pyc",
                           ignore=recording(shutil.ignore_patterns("*"), calls))  # fmt: skip
    assert calls == [] and (tmp_path / "dst.pyc").read_bytes() == b"x"

"""A tree call makes no syscall it can show it does not need (issue 11, item 2):
- no fchmod for a file (nor a final chmod for a directory) whose mode open(2)
  already gives exactly, because only the umask trims it and leaves it whole;
  wherever the umask or a default ACL would trim it, one, so modes stay exact;
- one directory's two fds once, however many 64-file units its files make;
- each directory opened once on each side (while the kept fds' budget
  lasts): the walk's source fd serves the fill, and a new directory's fd,
  opened once after its creation, serves its subdirectories, its fill and
  its final mode and times;
- one sendfile per file of a copy whose size is known (no second call to
  read 0 at EOF).

Counts from strace (tests/syscalls.py), never timings.
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
from snapshots import assert_trees_equal
from syscalls import traced
from test_modes_are_exact_under_umask_and_acls import DEFAULT_ACLS, _set_default_acl
from treespec import Dir, File, Symlink, make_tree, random_bytes

# Syscall by syscall, this is the Linux backend (`make macos-sim` deselects it).
pytestmark = pytest.mark.linux_backend

FILES_IN_BIG_DIR = 300  # five 64-file units
TREE_CHILD = textwrap.dedent(
    """
    import os, sys, fastlink
    src, dst, methods, umask = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4], 8)
    os.umask(umask)
    mark("call")
    # Two workers whatever the cores: how many fds they hold at once sets
    # how many directories the call may keep open (see fd_budget).
    r = fastlink.clone_or_copy(
        src, dst, methods=methods.split(","), dirs_exist_ok=True, threads=2
    )
    mark("end")
    print(r.method, r.files)
    """
)


def _tree(root: Path) -> int:
    """A package tree: 0644 modules, a 0755 script, 0755 directories, one big
    directory and a symlink. Returns the number of regular files."""
    big = {
        f"m{i:03d}.py": File(random_bytes(100 + i, 10 + i), 0o644) for i in range(FILES_IN_BIG_DIR)
    }
    spec: dict = {
        "pkg": {
            "__init__.py": File(b"", 0o644),
            "link.py": Symlink("sub/mod.py"),
            "sub": {
                "mod.py": File(random_bytes(3000, 1), 0o644),
                "data.bin": File(random_bytes(70_000, 2), 0o644),
            },
        },
        "bin": {"run.sh": File(b"#!/bin/sh\n", 0o755)},
        "big": big,
    }
    make_tree(root, spec)
    return 4 + FILES_IN_BIG_DIR


def _call(src: Path, dst: Path, methods: str, umask: int):
    trace = traced(TREE_CHILD, os.fspath(src), os.fspath(dst), methods, f"{umask:o}")
    return trace, trace.names("call")


@pytest.fixture
def src(xfs, fresh_dir) -> tuple[Path, int]:
    root = fresh_dir(xfs, "tree-src-") / "tree"
    return root, _tree(root)


@pytest.mark.parametrize("shape", ["new-tree", "merge"])
def test_no_fchmod_where_the_umask_leaves_the_modes_whole(src, xfs, fresh_dir, shape):
    root, files = src
    dst = fresh_dir(xfs, "tree-dst-") / "out"
    if shape == "merge":
        dst.mkdir()
    trace, names = _call(root, dst, "reflink", 0o022)
    assert trace.stdout.split() == ["reflink", str(files)]
    assert names["fchmod"] == 0 and names["fchmodat"] == 0, trace.describe("call")
    # A merge leaves the existing dst directory itself as it was.
    assert_trees_equal(root, dst, include_root=shape == "new-tree")


@pytest.mark.parametrize("umask", [0o077, 0o027])
def test_every_file_the_umask_would_trim_gets_a_fchmod(src, xfs, fresh_dir, umask):
    root, files = src
    dst = fresh_dir(xfs, "tree-dst-") / "out"
    trace, names = _call(root, dst, "reflink", umask)
    # Every file and directory has group or other bits the umask takes: the
    # files through their fds, and the 5 directories through the fds kept
    # since their creation.
    assert names["fchmod"] == files + 5, trace.describe("call")
    assert names["fchmodat"] == 0, trace.describe("call")
    assert_trees_equal(root, dst)


@pytest.mark.parametrize("acl", list(DEFAULT_ACLS))
def test_a_default_acl_on_the_destination_means_a_chmod_for_everything(src, xfs, fresh_dir, acl):
    root, files = src
    parent = fresh_dir(xfs, "tree-dst-")
    _set_default_acl(parent, DEFAULT_ACLS[acl])
    trace, names = _call(root, parent / "out", "reflink", 0o022)
    # The files, and the 5 directories through the fds kept since their creation.
    assert names["fchmod"] == files + 5, trace.describe("call")
    assert_trees_equal(root, parent / "out")


def test_a_directory_of_many_units_opens_its_fds_once(src, xfs, fresh_dir):
    root, _ = src
    dst = fresh_dir(xfs, "tree-dst-") / "out"
    trace, _ = _call(root, dst, "reflink", 0o022)
    big = [c for c in trace.matching("call", "openat2") if c.text.split(",")[1].endswith('big"')]
    # The walk's open (its fd is the fill's source) and the new directory's
    # (its fill's destination): once each, not once per 64-file unit.
    assert len(big) == 2, "\n".join(map(str, big))


def _directory_opens(trace) -> int:
    calls = trace.sections["call"]
    directory = (c for c in calls if c.name == "openat2" or "O_DIRECTORY" in c.text)
    return sum(c.name in ("openat", "openat2") for c in directory)


@pytest.mark.parametrize("methods", ["reflink", "hardlink"])
def test_each_directory_is_opened_once_on_each_side(xfs, fresh_dir, methods):
    # Within the kept fds' budget of the smallest fd table (64 entries, as
    # here: the traced child is forked from a process with few fds open):
    # 9 directories on each side.
    extra = 4
    opens = []
    for more in (0, extra):
        root = fresh_dir(xfs, "tree-src-") / "tree"
        _tree(root)
        for i in range(more):
            make_tree(root / "pkg" / f"d{i:02d}", {"m.py": File(random_bytes(50, i), 0o644)})
        dst = fresh_dir(xfs, "tree-dst-") / "out"
        trace, _ = _call(root, dst, methods, 0o022)
        assert_trees_equal(root, dst)
        opens.append(_directory_opens(trace))
    # Each directory more: the walk's open of it, and one after its creation.
    # (Not also one for the fill on each side, nor its parent's again for the
    # final times: 3 to 5 per directory.)
    assert opens[1] - opens[0] == 2 * extra, opens


LOW_LIMIT_CHILD = textwrap.dedent(
    """
    import resource, sys
    # Half of a soft limit of 40 leaves no room to keep a directory's fd.
    resource.setrlimit(resource.RLIMIT_NOFILE, (40, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    import fastlink
    src, dst, methods = sys.argv[1], sys.argv[2], sys.argv[3]
    # The first call's probe opens a sample file's directory.
    fastlink.clone_or_copy(src, dst + "-warm", methods=methods)
    mark("call")
    print(fastlink.clone_or_copy(src, dst, methods=methods).files)
    mark("end")
    """
)


SUBDIRS = 29  # each holding one file


def _placed_past_the_kept_fds(xfs, fresh_dir, methods: str):
    """Place a root of SUBDIRS one-file directories in a child that may keep
    no directory fd; check the tree, and return the call's syscalls."""
    root = fresh_dir(xfs, "tree-src-") / "tree"
    for i in range(SUBDIRS):
        make_tree(root / f"d{i:02d}", {"m.py": File(random_bytes(50, i), 0o644)})
    dst = fresh_dir(xfs, "tree-dst-") / "out"
    trace = traced(LOW_LIMIT_CHILD, os.fspath(root), os.fspath(dst), methods)
    assert trace.stdout.split() == [str(SUBDIRS)]
    assert_trees_equal(root, dst)
    return trace.sections["call"]


@pytest.mark.parametrize("methods", ["reflink", "copy"])
def test_past_the_kept_fds_a_clone_or_copy_opens_each_source_directory_once(
    xfs, fresh_dir, methods
):
    # Its files are opened by their paths below the source root (openat2,
    # through no symlink), not through their directory opened again.
    calls = _placed_past_the_kept_fds(xfs, fresh_dir, methods)
    # The source's subdirectories: the only paths named just "dNN".
    source_opens = [
        c for c in calls if c.name in ("openat", "openat2") and re.search(r'^\d+, "d\d\d",', c.text)
    ]
    assert len(source_opens) == SUBDIRS, "\n".join(map(str, source_opens))


@pytest.mark.parametrize("methods", ["reflink", "copy"])
def test_past_the_kept_fds_files_are_created_by_path_through_no_symlink(xfs, fresh_dir, methods):
    # A new directory is not opened again to fill it: each file is created
    # by its path below the anchor, with openat2 refusing symlinks and `..`.
    calls = _placed_past_the_kept_fds(xfs, fresh_dir, methods)
    opened_subdirs = [
        c for c in calls if "O_DIRECTORY" in c.text and re.search(r'/d\d\d",', c.text)
    ]
    assert opened_subdirs == [], "\n".join(map(str, opened_subdirs))
    creates = [c for c in calls if "O_CREAT" in c.text]
    assert len(creates) == SUBDIRS, "\n".join(map(str, creates))
    for create in creates:
        assert create.name == "openat2", create
        assert "RESOLVE_NO_SYMLINKS" in create.text and "RESOLVE_BENEATH" in create.text


def test_a_copy_makes_one_sendfile_per_non_empty_file(src, xfs, btrfs, fresh_dir):
    root, files = src
    dst = fresh_dir(btrfs, "tree-dst-") / "out"
    trace, names = _call(root, dst, "copy", 0o022)
    assert trace.stdout.split() == ["copy", str(files)]
    assert names["sendfile"] == files - 1, trace.describe("call")  # __init__.py is empty
    assert_trees_equal(root, dst)


PRIVATE_TOP_CHILD = textwrap.dedent(
    """
    import resource, sys
    # A soft limit of 96: fds below 16 may be kept and below 32 held (see
    # fd_budget), whatever the size of the fd table the child inherited.
    resource.setrlimit(resource.RLIMIT_NOFILE, (96, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    import fastlink
    src, dst, methods = sys.argv[1], sys.argv[2], sys.argv[3]
    mark("call")
    r = fastlink.clone_or_copy(src, dst, methods=methods, threads=2, dirs_exist_ok=True)
    print(r.files)
    mark("end")
    """
)


def _many_dirs_placed(xfs, fresh_dir, methods: str, merge: bool):
    """Place SUBDIRS `dNN/sub/m.py` directories (one of them read-only, the
    root 0751) in a child that may keep 16 fds; check the tree, and return
    the call's syscalls."""
    root = fresh_dir(xfs, "tree-src-") / "tree"
    spec: dict = {
        f"d{i:02d}": {"sub": Dir({"m.py": File(random_bytes(50, i), 0o644)}, 0o755)}
        for i in range(SUBDIRS)
    }
    spec["d00"]["sub"] = Dir({"m.py": File(random_bytes(50, 0), 0o644)}, 0o555)
    make_tree(root, spec)
    root.chmod(0o751)
    dst = fresh_dir(xfs, "tree-dst-") / "out"
    if merge:
        dst.mkdir()
    trace = traced(PRIVATE_TOP_CHILD, os.fspath(root), os.fspath(dst), methods)
    assert trace.stdout.split() == [str(SUBDIRS)]
    # The final modes (the root's 0751, a read-only directory's 0555) and times.
    assert_trees_equal(root, dst, include_root=not merge)
    return trace.sections["call"]


@pytest.mark.parametrize("methods", ["reflink", "hardlink"])
def test_past_the_kept_fds_a_new_tree_is_built_by_paths_below_its_private_top(
    xfs, fresh_dir, methods
):
    # The new tree's staging directory is made 0700, checked and held: nobody
    # else can reach below it while it is built, so each directory past the
    # budget is made, linked into and finished by its path from there, and
    # no directory is opened below it (it used to open each directory's
    # parent to make it, and again to set its times).
    calls = _many_dirs_placed(xfs, fresh_dir, methods, merge=False)
    tops = [c for c in calls if c.name == "mkdirat" and ".fastlink-staging" in c.text]
    assert len(tops) == 1 and ", 0700" in tops[0].text, tops
    top_opens = [
        c
        for c in calls
        if c.name in ("openat", "openat2")
        and "O_DIRECTORY" in c.text
        and ".fastlink-staging" in c.text
    ]
    assert len(top_opens) == 1, "\n".join(map(str, top_opens))
    top_fd = top_opens[0].text.rsplit("=", 1)[1].split()[0]
    # (A clone's files are created by their paths below it, as before.)
    below_top = [
        c
        for c in calls
        if c.name in ("openat", "openat2")
        and "O_DIRECTORY" in c.text
        and c.text.startswith(f"{top_fd}, ")
    ]
    assert below_top == [], "\n".join(map(str, below_top))
    by_path = [c for c in calls if c.name == "mkdirat" and re.search(r'"d\d\d/sub", 0755', c.text)]
    assert len(by_path) == SUBDIRS, "\n".join(map(str, by_path))
    assert all(c.text.startswith(f"{top_fd}, ") for c in by_path), by_path
    if methods == "hardlink":
        links = [
            c for c in calls if c.name == "linkat" and re.search(r'"d\d\d/sub/m\.py", 0', c.text)
        ]
        assert len(links) > SUBDIRS // 2, "\n".join(map(str, links))


def test_a_merge_builds_no_private_top(xfs, fresh_dir):
    # A merge's new subtrees, which may be many small ones (an install into
    # site-packages), are built as before: no directory made 0700, none by
    # its path.
    calls = _many_dirs_placed(xfs, fresh_dir, "hardlink", merge=True)
    made = [c for c in calls if c.name == "mkdirat"]
    assert len(made) == 2 * SUBDIRS, "\n".join(map(str, made))
    assert not [c for c in made if ", 0700" in c.text or "/sub" in c.text], made

"""A call keeps directory fds open to save reopening them (the walk's source
directories for the fill; each new directory from its creation to its final
times; a merge's existing directories while something is staged in them).
It keeps an fd only while its number leaves room, in the fd table as it is
and below half the soft open-file limit, for what its workers open; past
that a directory is opened again where needed. So:
- a tree with many more directories than the limit is placed whole, by one
  call or by several threads at once, and every kept fd is closed after;
- placing or merging a large tree never grows the process's fd table, whose
  every doubling costs a process with threads an RCU grace period (10 to
  20 ms), whatever size the table started at.

Each child reports what it saw; the parent checks the trees.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from snapshots import assert_trees_equal
from treespec import File, Symlink, make_tree, random_bytes

SOFT_LIMIT = 64
DIRS = 150  # each with a file and a subdirectory holding another: 300 directories
THREADS = 4

CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, threading
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
    import fastlink

    src, out, threads = sys.argv[2], sys.argv[3], int(sys.argv[4])
    open_fds = lambda: len(os.listdir("/proc/self/fd"))
    seen = {"before": open_fds()}
    seen["tree"] = fastlink.clone_or_copy(src, os.path.join(out, "tree")).files
    # A copy, then the tree merged over it: files replaced under temp names,
    # each existing directory held for a roll-back.
    fastlink.clone_or_copy(src, os.path.join(out, "merged"))
    merged = fastlink.clone_or_copy(
        src, os.path.join(out, "merged"), dirs_exist_ok=True, overwrite=True
    )
    seen["merge"] = merged.files
    files = sorted(
        os.path.relpath(os.path.join(root, name), src)
        for root, _, names in os.walk(src) for name in names
    )
    seen["list"] = fastlink.clone_files(src, os.path.join(out, "list"), files).files
    results, errors = {}, []

    def place(i):
        try:
            results[i] = fastlink.clone_or_copy(src, os.path.join(out, f"thread{i}")).files
        except Exception as err:  # reported, not lost in the thread
            errors.append(repr(err))

    workers = [threading.Thread(target=place, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seen["threads"] = [results.get(i) for i in range(threads)]
    seen["errors"] = errors
    seen["after"] = open_fds()
    print(json.dumps(seen))
    """
)


FD_TABLE_CHILD = textwrap.dedent(
    """
    import json, os, sys

    def fd_table_size():
        with open("/proc/self/status") as status:
            return int(next(l for l in status if l.startswith("FDSize:")).split()[1])

    src, out, start = sys.argv[1], sys.argv[2], sys.argv[3]
    if start == "smallest":
        # A forked child's table is sized to its parent's open fds, not to
        # its parent's table: 64 entries here, as from a shell.
        child = os.fork()
        if child:
            os._exit(os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
    import fastlink

    # Two workers: how many fds the workers themselves open is not the point.
    fastlink.clone_or_copy(src, os.path.join(out, "warm-up"), threads=2)  # the pool's threads exist
    seen = {"before": fd_table_size()}
    seen["tree"] = fastlink.clone_or_copy(src, os.path.join(out, "tree"), threads=2).files
    merged = fastlink.clone_or_copy(
        src, os.path.join(out, "tree"), dirs_exist_ok=True, overwrite=True, methods="copy",
        threads=2,
    )
    seen["merge"] = merged.files
    seen["after"] = fd_table_size()
    print(json.dumps(seen))
    """
)


@pytest.fixture
def many_dirs(xfs, fresh_dir) -> tuple[Path, int]:
    root = fresh_dir(xfs, "fds-src-") / "tree"
    spec = {
        f"d{i:03d}": {
            "mod.py": File(random_bytes(40, i), 0o644),
            # A directory's files and symlinks are placed together, its
            # fds open from the first to the last.
            "link.py": Symlink("mod.py"),
            "sub": {"data.txt": File(random_bytes(20, 1000 + i), 0o644)},
        }
        for i in range(DIRS)
    }
    make_tree(root, spec)
    return root, 2 * DIRS


def test_more_directories_than_the_fd_limit_are_placed_whole_and_no_fd_stays_open(
    many_dirs, xfs, fresh_dir
):
    src, files = many_dirs
    out = fresh_dir(xfs, "fds-dst-")
    argv = [sys.executable, "-c", CHILD, str(SOFT_LIMIT), str(src), str(out), str(THREADS)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout)

    assert seen["errors"] == []  # no EMFILE in any thread
    assert seen["tree"] == seen["merge"] == seen["list"] == files
    assert seen["threads"] == [files] * THREADS
    assert seen["after"] == seen["before"]
    for name in ["tree", "list", *(f"thread{i}" for i in range(THREADS))]:
        assert_trees_equal(src, out / name)
    # A merge leaves the existing directories' times to what it did in them.
    assert_trees_equal(src, out / "merged", dir_times=False)


@pytest.mark.linux_backend  # Linux's fd table; the macOS backend cannot read one
@pytest.mark.parametrize("start", ["smallest", "inherited"])
def test_placing_and_merging_a_large_tree_never_grows_the_fd_table(
    many_dirs, xfs, fresh_dir, start
):
    src, files = many_dirs
    out = fresh_dir(xfs, "fds-dst-")
    argv = [sys.executable, "-c", FD_TABLE_CHILD, str(src), str(out), start]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout)
    assert seen["tree"] == seen["merge"] == files
    # 300 directories, each kept open, would have doubled it at least once.
    assert seen["after"] == seen["before"], seen
    if start == "smallest":
        assert seen["before"] == 64, seen

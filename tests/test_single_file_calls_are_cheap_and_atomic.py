"""A single small file, the call pip, pdm and conda make once per file
(issue 11, item 1), costs a fixed handful of syscalls, whatever is already
in the destination's directory, starts no thread, and still appears
complete or not at all: it is built without a name (O_TMPFILE) and linked
in whole, so a SIGKILL at any moment leaves nothing behind.

Costs are syscall counts from strace (tests/syscalls.py), never timings.
What appears in the directory is read from inotify (tests/dirwatch.py),
which the kernel queues as it happens: a staging name renamed away a
microsecond later is seen as surely as the final one.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import fastlink
import pytest
from dirwatch import IN_CREATE, watching
from faultutil import REFUSE_SYSCALL_CODE, unprivileged_prefix
from snapshots import assert_trees_equal, snapshot
from syscalls import THREAD_STARTS, traced
from treespec import File, make_tree, random_bytes

# Syscall by syscall, this is the Linux backend (`make macos-sim` deselects it).
pytestmark = pytest.mark.linux_backend

# case -> (source fs, destination fs, methods, the method used, syscalls per call at most)
CASES = {
    "hardlink": ("xfs", "xfs", "hardlink", "hardlink", 4),
    "reflink": ("xfs", "xfs", "reflink,copy", "reflink", 12),
    "copy-across-filesystems": ("xfs", "btrfs", "reflink,copy", "copy", 12),
    "copy": ("xfs", "xfs", "copy", "copy", 12),
}
CALLS = 50
SIZE = 100_000  # >= 64 KiB: a clone has real extents


@pytest.fixture(params=list(CASES))
def case(request, fresh_dir):
    """(source file, destination base, methods, method used, bound)."""
    src_kind, dst_kind, methods, method, bound = CASES[request.param]
    src_base = fresh_dir(request.getfixturevalue(src_kind), "single-src-")
    make_tree(src_base, {"mod.py": File(random_bytes(SIZE, 7), 0o644)})
    dst_base = fresh_dir(request.getfixturevalue(dst_kind), "single-dst-")
    return src_base / "mod.py", dst_base, methods, method, bound


def _fill(directory: Path, entries: int) -> Path:
    directory.mkdir()
    for i in range(entries):
        os.close(os.open(directory / f"existing-{i:05d}.py", os.O_CREAT | os.O_WRONLY, 0o644))
    return directory


# Warm up (the first call of a process learns things once), then CALLS
# calls into each directory given, each behind its own mark.
CALLS_CHILD = textwrap.dedent(
    """
    import sys, fastlink
    src, methods, calls, dirs = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4:]
    for d in dirs:
        for i in range(3):
            fastlink.clone_or_copy(src, f"{d}/warm-{i}.py", methods=methods)
    for k, d in enumerate(dirs):
        mark(f"dir{k}")
        for i in range(calls):
            r = fastlink.clone_or_copy(src, f"{d}/new-{i}.py", methods=methods)
    mark("end")
    print(r.method)
    """
)


def test_a_single_file_call_makes_a_fixed_handful_of_syscalls(case):
    # Hardlink: lstat, linkat. Reflink: stat, open, O_TMPFILE, fchmod,
    # FICLONE, futimens, linkat, 2 closes. Across filesystems also the
    # refused FICLONE and the stat of dst's directory that tells EXDEV's meaning.
    src, dst_base, methods, method, bound = case
    dst = _fill(dst_base / "site", 10)
    trace = traced(CALLS_CHILD, os.fspath(src), methods, str(CALLS), os.fspath(dst))
    assert trace.stdout.split() == [method]
    calls = trace.sections["dir0"]
    assert len(calls) <= bound * CALLS, (
        f"{len(calls) / CALLS:.1f} syscalls per {method} call, at most {bound} wanted: "
        + trace.describe("dir0")
    )
    assert sorted(os.listdir(dst)) == sorted(
        [f"existing-{i:05d}.py" for i in range(10)]
        + [f"warm-{i}.py" for i in range(3)]
        + [f"new-{i}.py" for i in range(CALLS)]
    )


def test_the_cost_does_not_grow_with_the_destination_directory(case):
    src, dst_base, methods, _, _ = case
    small, large = _fill(dst_base / "small", 10), _fill(dst_base / "large", 10_000)
    trace = traced(
        CALLS_CHILD, os.fspath(src), methods, str(CALLS), os.fspath(small), os.fspath(large)
    )
    assert trace.names("dir0") == trace.names("dir1"), (
        f"{CALLS} calls into a directory of 10 entries: {trace.describe('dir0')}; "
        f"of 10,000 entries: {trace.describe('dir1')}"
    )


NO_THREADS_CHILD = textwrap.dedent(
    """
    import os, sys, fastlink
    src, tree, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    fastlink.clone_or_copy(src, f"{dst}/warm.py")
    fastlink.clone_or_copy(tree, f"{dst}/warm-tree")
    mark("calls")
    for i in range(100):
        fastlink.clone_or_copy(src, f"{dst}/f{i}.py")
    for i in range(10):
        fastlink.clone_or_copy(tree, f"{dst}/tree{i}")
    mark("end")
    """
)


def test_no_thread_is_started_per_call(xfs, fresh_dir):
    base = fresh_dir(xfs)
    make_tree(base / "tree", {"pkg": {"__init__.py": b"", "m.py": b"x = 1\n"}, "top.py": b""})
    make_tree(base / "src", {"one.py": File(random_bytes(SIZE, 1))})
    (base / "dst").mkdir()
    trace = traced(
        NO_THREADS_CHILD,
        os.fspath(base / "src" / "one.py"),
        os.fspath(base / "tree"),
        os.fspath(base / "dst"),
    )
    started = [c for c in trace.sections["calls"] if c.name in THREAD_STARTS]
    assert started == [], f"threads started during 110 calls: {started[:5]}"


def test_the_file_appears_complete_under_its_name_and_no_other(case):
    src, dst_base, methods, method, _ = case
    expected = snapshot(src)
    with watching(dst_base) as watch:
        report = fastlink.clone_or_copy(src, dst_base / "mod.py", methods=methods.split(","))
    assert report.method == method
    # The name appears once (created by a link of the finished file), and
    # nothing is done under it afterwards: no staging or temp name, no
    # write, chmod or utime at the final name.
    assert watch.named_changes() == [(IN_CREATE, b"mod.py")], watch.events
    assert os.listdir(dst_base) == ["mod.py"]
    assert_trees_equal(expected, dst_base / "mod.py", modes="exact")


# Places the same file under 8 names over and over (so the space used stays
# small) until it is killed.
LOOP_CHILD = textwrap.dedent(
    """
    import itertools, os, sys, fastlink
    src, dst, methods = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    print("R", flush=True)
    for i in itertools.count():
        name = os.path.join(dst, f"f{i % 8}")
        if i >= 8:
            os.unlink(name)
        fastlink.clone_or_copy(src, name, methods=methods)
    """
)
KILLS = 12


def test_sigkill_mid_call_leaves_only_complete_files(case, fresh_dir):
    src, dst_base, methods, _, _ = case
    # The largest file the caller's thread takes: the longest window to land in.
    src = src.with_name("large.bin")
    make_tree(src.parent, {"large.bin": File(random_bytes(1 << 20, 9), 0o755)})
    expected = snapshot(src)
    rng = random.Random(11)
    for k in range(KILLS):
        dst = dst_base / f"kill{k}"
        dst.mkdir()
        proc = subprocess.Popen(
            [sys.executable, "-c", LOOP_CHILD, os.fspath(src), os.fspath(dst), methods],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline() == "R\n"
        try:
            proc.wait(timeout=rng.uniform(0.005, 0.08))
        except subprocess.TimeoutExpired:
            proc.kill()
        assert proc.wait() == -9, "the loop ended by itself"
        proc.stdout.close()
        names = sorted(os.listdir(dst))
        assert set(names) <= {f"f{i}" for i in range(8)}, f"kill {k} left {names}"
        for name in names:
            assert_trees_equal(expected, dst / name, modes="exact", what=f"kill {k}: {name}")


UNPRIVILEGED_CHILD = (
    REFUSE_SYSCALL_CODE
    + """
import errno, sys, fastlink
src, dst, refuse = sys.argv[1], sys.argv[2], sys.argv[3] == "refuse"
if refuse:
    refuse_syscall("linkat", 4, 0x1000, errno.ENOENT)  # AT_EMPTY_PATH
mark("first")
fastlink.clone_or_copy(src, f"{dst}/f0.py")
mark("calls")
for i in range(1, 10):
    r = fastlink.clone_or_copy(src, f"{dst}/f{i}.py")
mark("end")
print(r.method)
"""
)


@pytest.mark.parametrize("kernel", ["as-it-is", "refusing-at-empty-path"])
def test_an_unprivileged_process_places_single_files_without_staging(xfs, fresh_dir, kernel):
    # linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH before Linux 6.10 (and
    # ENOENT is what the kernel says without it); since 6.10 the process that
    # opened the file may use it. Where it is refused, the nameless file is
    # linked in by its /proc/self/fd name, learnt once per process.
    base = fresh_dir(xfs)
    make_tree(base / "src", {"one.py": File(random_bytes(SIZE, 3), 0o640)})
    expected = snapshot(base / "src" / "one.py")
    (base / "dst").mkdir()
    refuse = kernel == "refusing-at-empty-path"
    trace = traced(
        UNPRIVILEGED_CHILD,
        os.fspath(base / "src" / "one.py"),
        os.fspath(base / "dst"),
        "refuse" if refuse else "",
        prefix=unprivileged_prefix(),
    )
    assert trace.stdout.split() == ["reflink"]
    calls = trace.sections["first"] + trace.sections["calls"]
    links = [c for c in calls if c.name == "linkat"]
    refused = [c for c in links if "AT_EMPTY_PATH" in c.text and "ENOENT" in c.text]
    by_proc = [c for c in links if "/proc/self/fd/" in c.text]
    if refused:
        assert len(refused) == 1, f"AT_EMPTY_PATH tried again after ENOENT: {refused}"
        assert len(by_proc) == 10, trace.describe("first") + "; " + trace.describe("calls")
    else:
        assert not refuse, "the seccomp filter did not refuse AT_EMPTY_PATH"
        assert len(links) == 10, trace.describe("first") + "; " + trace.describe("calls")
    assert not [c for c in calls if "rename" in c.name], "staged and renamed"
    # Once learnt, each call is as cheap as a privileged one.
    assert len(trace.sections["calls"]) <= 9 * 9, trace.describe("calls")
    assert sorted(os.listdir(base / "dst")) == sorted(f"f{i}.py" for i in range(10))
    for i in range(10):
        assert_trees_equal(expected, base / "dst" / f"f{i}.py", modes="exact")


REPLACE_CHILD = textwrap.dedent(
    """
    import sys, fastlink
    src, dst, methods = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    for i in range(20):
        fastlink.clone_or_copy(src, f"{dst}/f{i}.py", methods=methods)
    fastlink.clone_or_copy(src, f"{dst}/f0.py", methods=methods, overwrite=True)
    mark("calls")
    for i in range(20):
        r = fastlink.clone_or_copy(src, f"{dst}/f{i}.py", methods=methods, overwrite=True)
    mark("end")
    print(r.method)
    """
)


@pytest.mark.parametrize("methods", ["reflink", "copy"])
def test_replacing_an_existing_file_clones_or_copies_it_once(xfs, fresh_dir, methods):
    # An upgrade or a reinstall: overwrite=True over files already there.
    base = fresh_dir(xfs)
    make_tree(base / "src", {"mod.py": File(random_bytes(SIZE, 4))})
    (base / "dst").mkdir()
    trace = traced(
        REPLACE_CHILD, os.fspath(base / "src" / "mod.py"), os.fspath(base / "dst"), methods
    )
    assert trace.stdout.split() == [methods]
    work = "FICLONE" if methods == "reflink" else "sendfile"
    assert len(trace.matching("calls", work)) == 20, trace.describe("calls")

"""Many packages placed from a ThreadPoolExecutor, as uv-like installers do
(issue 11, item 5): the calls share one process-wide worker pool, so the
process never has more threads than its own plus that pool's, no call
starts one, and the merged site-packages is what one call after another
makes.
"""

from __future__ import annotations

import os
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fastlink
import pytest
from fdwalk import make_fresh_dir, remove_tree
from snapshots import assert_trees_equal
from syscalls import THREAD_STARTS, traced
from treespec import File, make_tree, random_bytes

PACKAGES = 91  # jupyterlab's closure
EXECUTOR_THREADS = 4


def package_spec(i: int) -> dict:
    """A small fake package: modules, dist-info, and directories several
    packages share (bin/, share/jupyter/labextensions/, a namespace package)."""
    spec: dict = {
        f"pkg{i:02d}": {
            "__init__.py": f"n = {i}\n".encode(),
            "core.py": File(random_bytes(2000 + 37 * i, i)),
            "sub": {"x.py": b"", "data.json": b"{}\n"},
        },
        f"pkg{i:02d}-1.0.dist-info": {"METADATA": f"Name: pkg{i:02d}\n".encode(), "RECORD": b""},
        "ns": {f"part{i:02d}": {"__init__.py": b""}},
    }
    if i % 3 == 0:
        spec["bin"] = {f"tool{i:02d}": File(b"#!/usr/bin/python3\n", 0o755)}
    if i % 5 == 0:
        spec["share"] = {"jupyter": {"labextensions": {f"ext{i:02d}": {"package.json": b"{}"}}}}
    return spec


@pytest.fixture(scope="module")
def packages(mounts) -> list[Path]:
    base = make_fresh_dir(mounts.get("xfs"), "pool-cache-")
    made = []
    for i in range(PACKAGES):
        make_tree(base / f"p{i:02d}", package_spec(i))
        made.append(base / f"p{i:02d}")
    yield made
    remove_tree(base)


def _default_pool_size() -> int:
    # pool::default_threads: one per core, at least 2, at most 16.
    return min(max(len(os.sched_getaffinity(0)), 2), 16)


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.parametrize("methods", ["reflink", "copy", "hardlink"])
def test_packages_merged_from_threads_equal_one_after_another(packages, fresh_dir, xfs, methods):
    base = fresh_dir(xfs)
    sequential, parallel = base / "seq" / "site-packages", base / "par" / "site-packages"
    for pkg in packages:
        fastlink.clone_or_copy(pkg, sequential, dirs_exist_ok=True, methods=methods)
    with ThreadPoolExecutor(EXECUTOR_THREADS) as executor:
        calls = [
            executor.submit(
                fastlink.clone_or_copy, pkg, parallel, dirs_exist_ok=True, methods=methods
            )
            for pkg in packages
        ]
        reports = [call.result() for call in calls]
    assert {r.method for r in reports} == {methods}
    # Directories several packages share get their mtime from whichever came first.
    assert_trees_equal(sequential, parallel, include_root=False, dir_times=False)


# The macOS simulation's clonefileat runs on a thread of its own, standing in
# for the kernel's work: `make macos-sim` deselects this one.
@pytest.mark.linux_backend
def test_the_process_has_no_more_threads_than_its_own_and_one_pool(packages, fresh_dir, xfs):
    base = fresh_dir(xfs)
    before = _threads()
    samples: list[int] = []

    def place(job: tuple[int, int]) -> None:
        # A package as a tree, and one of its files alone, as installers do.
        round_, i = job
        site = base / f"site{round_}"
        fastlink.clone_or_copy(packages[i], site, dirs_exist_ok=True)
        fastlink.clone_or_copy(packages[i] / f"pkg{i:02d}" / "core.py", site / f"copy{i:02d}.py")
        samples.append(_threads())

    with ThreadPoolExecutor(EXECUTOR_THREADS) as executor:
        list(executor.map(place, [(0, i) for i in range(8)]))  # warm up
        everyone = threading.Barrier(EXECUTOR_THREADS)  # every executor thread exists now
        list(executor.map(lambda _: everyone.wait(30), range(EXECUTOR_THREADS)))
        warm = _threads()
        assert warm - before <= EXECUTOR_THREADS + _default_pool_size(), (before, warm)
        samples.clear()
        list(executor.map(place, [(r, i) for r in (1, 2) for i in range(PACKAGES)]))
    assert max(samples) <= warm, f"{warm} threads after warm-up, up to {max(samples)} later"
    assert _threads() <= warm


POOL_CHILD = textwrap.dedent(
    """
    import os, sys, threading
    from concurrent.futures import ThreadPoolExecutor
    import fastlink
    cache, site = sys.argv[1], sys.argv[2]
    packages = sorted(os.path.join(cache, p) for p in os.listdir(cache))
    def place(job):
        i, pkg = job
        fastlink.clone_or_copy(pkg, f"{site}{i}", dirs_exist_ok=True)
    with ThreadPoolExecutor(4) as executor:
        list(executor.map(place, [(0, p) for p in packages[:8]]))
        everyone = threading.Barrier(4)  # all 4 executor threads exist from here on
        list(executor.map(lambda _: everyone.wait(30), range(4)))
        mark("calls")
        list(executor.map(place, [(i, p) for i in (1, 2) for p in packages]))
        mark("end")
    def name(task):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                return f.read().strip()
        except FileNotFoundError:
            return ""  # a thread that has just ended
    print(sum(name(t).startswith("fastlink-") for t in os.listdir("/proc/self/task")))
    """
)


# The macOS simulation's clonefileat runs on a thread of its own, standing in
# for the kernel's work: `make macos-sim` deselects this one.
@pytest.mark.linux_backend
def test_no_call_from_any_thread_starts_a_thread(packages, fresh_dir, xfs):
    base = fresh_dir(xfs)
    trace = traced(POOL_CHILD, os.fspath(packages[0].parent), os.fspath(base / "site"))
    started = [c for c in trace.sections["calls"] if c.name in THREAD_STARTS]
    assert started == [], f"{len(started)} threads started by {2 * PACKAGES} calls: {started[:3]}"
    assert int(trace.stdout) == _default_pool_size(), "workers beyond one pool"

"""Many callers at once (8 threads in this process + 4 processes) are safe
(ISSUE3 contract, guarantee 7):

- into different destinations: all succeed, every tree is complete;
- into the same new destination: exactly one succeeds, the others raise
  FileExistsError, and dst is one complete tree with no staging leftovers;
- merges (dirs_exist_ok=True) of disjoint source trees into the same
  existing destination: all succeed and dst holds the union.

The sources are never modified. All callers are released together (a
barrier for the threads, a "go" line on stdin for the processes), after each
process has imported fastlink.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import threading
from pathlib import Path

import fastlink
import pytest
from faultutil import OUTCOME_CODE, last_json_line, listdir_b, outcome_of, python_argv
from fdwalk import fastlink_entries
from snapshots import assert_trees_equal, snapshot
from treespec import File, Symlink, make_tree, random_bytes

N_THREADS = 8
N_PROCS = 4
N_CALLERS = N_THREADS + N_PROCS

CHILD = OUTCOME_CODE + (
    """
job = json.loads(sys.argv[1])
import fastlink
print("ready", flush=True)
sys.stdin.readline()
outcome = outcome_of(fastlink.clone_or_copy, job["src"], job["dst"], **job["kwargs"])
print(json.dumps(outcome), flush=True)
"""
)

# (source mount, destination mount): same XFS reflinks, tmpfs -> XFS copies.
PAIRS = [
    pytest.param("xfs", "xfs", id="reflink-xfs"),
    pytest.param("tmpfs", "xfs", id="copy-tmpfs-to-xfs"),
]


def run_all_at_once(jobs: list[tuple]) -> list[dict]:
    """jobs: N_CALLERS (src, dst, kwargs); the first N_THREADS run in threads
    of this process, the rest in child processes. Returns their outcomes in
    job order."""
    assert len(jobs) == N_CALLERS
    thread_jobs, proc_jobs = jobs[:N_THREADS], jobs[N_THREADS:]
    procs = []
    try:
        for src, dst, kwargs in proc_jobs:
            job = json.dumps({"src": os.fspath(src), "dst": os.fspath(dst), "kwargs": kwargs})
            p = subprocess.Popen(
                python_argv(CHILD, job),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append(p)
        for p in procs:
            line = p.stdout.readline()
            assert line == "ready\n", f"child did not start: {line!r} {p.stderr.read()}"

        barrier = threading.Barrier(N_THREADS + 1)
        results: list[dict | None] = [None] * N_THREADS

        def worker(i: int, src, dst, kwargs) -> None:
            barrier.wait()
            results[i] = outcome_of(fastlink.clone_or_copy, src, dst, **kwargs)

        threads = [
            threading.Thread(target=worker, args=(i, *job), daemon=True)
            for i, job in enumerate(thread_jobs)
        ]
        for t in threads:
            t.start()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        barrier.wait()
        for t in threads:
            t.join(300)
            assert not t.is_alive(), "a clone_or_copy thread did not finish"
        outcomes = list(results)
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, f"child crashed: rc={p.returncode} {err}"
            outcomes.append(last_json_line(out))
        return outcomes  # type: ignore[return-value]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _describe(outcomes: list[dict]) -> str:
    return "\n".join(
        f"  caller {i} ({'thread' if i < N_THREADS else 'process'}): {o}"
        for i, o in enumerate(outcomes)
    )


def _tree_spec(seed: int, files: int = 120) -> dict:
    spec: dict = {}
    for d in range(6):
        spec[f"mod{d}"] = {
            f"f{i}.py": File(
                random_bytes(70_000 if i == 0 else 2000 + i, seed * 10_000 + d * 100 + i)
            )
            for i in range(files // 6)
        }
    spec["mod0"]["link"] = Symlink("f0.py")
    spec["ro"] = {"data.bin": File(random_bytes(5000, seed), 0o444)}
    spec["run.sh"] = File(b"#!/bin/sh\n", 0o755)
    return spec


@pytest.fixture
def place(mounts, fresh_dir):
    """place(kind) -> a fresh dir on that session mount (removed after)."""
    return lambda kind: fresh_dir(mounts.get(kind), "conc-")


def _make_src(base: Path, name: str, spec: dict) -> tuple[Path, dict]:
    src = base / name
    snap = make_tree(src, spec)
    if "ro" in spec:
        os.chmod(src / "ro", 0o555)
        snap = snapshot(src)
    return src, snap


# --------------------------------------------------------------------------
# (a) different destinations
# --------------------------------------------------------------------------


@pytest.mark.parametrize("src_kind, dst_kind", PAIRS)
@pytest.mark.parametrize(
    "dst_pattern",
    ["dst{i}", "shared/missing/parents/dst{i}"],
    ids=["siblings", "shared-new-parents"],
)
def test_different_destinations_all_succeed(place, src_kind, dst_kind, dst_pattern):
    src, expected = _make_src(place(src_kind), "src", _tree_spec(1))
    parent = place(dst_kind)
    jobs = [(src, parent / dst_pattern.format(i=i), {}) for i in range(N_CALLERS)]
    outcomes = run_all_at_once(jobs)
    assert all(o["ok"] for o in outcomes), "not every call succeeded:\n" + _describe(outcomes)
    for _, dst, _ in jobs:
        assert_trees_equal(expected, dst)
    assert fastlink_entries(parent) == []
    assert snapshot(src) == expected, "a source was modified"


# --------------------------------------------------------------------------
# (b) the same new destination
# --------------------------------------------------------------------------


@pytest.mark.parametrize("src_kind, dst_kind", PAIRS)
@pytest.mark.parametrize("dst_rel", ["dst", "a/b/dst"], ids=["parent-exists", "new-parents"])
def test_same_new_destination_exactly_one_wins(place, src_kind, dst_kind, dst_rel):
    src, expected = _make_src(place(src_kind), "src", _tree_spec(2))
    parent = place(dst_kind)
    dst = parent / dst_rel
    outcomes = run_all_at_once([(src, dst, {})] * N_CALLERS)
    winners = [o for o in outcomes if o["ok"]]
    losers = [o for o in outcomes if not o["ok"]]
    assert len(winners) == 1, f"{len(winners)} calls succeeded, expected exactly 1:\n" + _describe(
        outcomes
    )
    bad = [o for o in losers if o["error"] != "FileExistsError" or o["errno"] != errno.EEXIST]
    assert not bad, "losers must raise FileExistsError (EEXIST):\n" + _describe(outcomes)
    assert all(o["filename2"] for o in losers), "losers' FileExistsError lacks filename2"
    # One complete tree; a loser never removed or mixed into the winner's.
    assert_trees_equal(expected, dst)
    assert listdir_b(dst.parent) == [b"dst"], f"leftovers next to dst: {listdir_b(dst.parent)}"
    assert fastlink_entries(parent) == []
    assert snapshot(src) == expected, "the source was modified"


# --------------------------------------------------------------------------
# (c) merges of disjoint trees into the same existing destination
# --------------------------------------------------------------------------


def _disjoint_spec(i: int, layout: str) -> dict:
    files = {
        f"m{j}.py": File(random_bytes(60_000 if j == 0 else 1500 + j, 50_000 + i * 100 + j))
        for j in range(15)
    }
    spec: dict = {
        f"pkg{i}": dict(files),
        f"pkg{i}-1.0.dist-info": {"RECORD": f"rec {i}\n".encode()},
    }
    spec[f"pkg{i}"]["link"] = Symlink("m0.py")
    if layout == "shared-existing-dir":
        # bin/ already exists in dst: the files land in a pre-existing dir.
        spec["bin"] = {f"tool{i}": File(f"#!/bin/sh\necho {i}\n".encode(), 0o755)}
    elif layout == "shared-new-dir":
        # ns/ exists in no dst yet but in every source (a namespace package
        # installed by several callers at once); every caller needs it.
        spec["ns"] = {f"sub{i}": {"__init__.py": f"# {i}\n".encode()}}
    return spec


@pytest.mark.parametrize("src_kind, dst_kind", PAIRS)
@pytest.mark.parametrize("layout", ["disjoint-top-level", "shared-existing-dir", "shared-new-dir"])
def test_merges_of_disjoint_trees_all_succeed_and_dst_holds_the_union(
    place, src_kind, dst_kind, layout
):
    base = place(src_kind)
    sources = [_make_src(base, f"src{i}", _disjoint_spec(i, layout)) for i in range(N_CALLERS)]
    parent = place(dst_kind)
    dst = parent / "site-packages"
    pre = make_tree(
        dst,
        {
            "already.py": b"# installed earlier\n",
            "bin": {"python": File(b"#!/bin/false\n", 0o755)},
            "old-1.0.dist-info": {"RECORD": b"old\n"},
        },
    )
    expected = dict(pre)
    for _, snap in sources:
        expected.update(snap)
    # Pre-existing dirs keep their own mode (all 0o755 here anyway).
    outcomes = run_all_at_once([(src, dst, {"dirs_exist_ok": True}) for src, _ in sources])
    assert all(o["ok"] for o in outcomes), "not every merge succeeded:\n" + _describe(outcomes)
    # Files and symlinks exactly; directories by type and mode only (shared
    # directories get their mtime from whichever caller created them, and a
    # pre-existing one legitimately changes mtime when entries are added).
    assert_trees_equal(
        expected,
        dst,
        modes="exact",
        dir_times=False,
        include_root=False,
        what="dst is not the union",
    )
    assert fastlink_entries(parent) == []
    assert listdir_b(parent) == [b"site-packages"]
    for src, snap in sources:
        assert snapshot(src) == snap, f"source {src} was modified"

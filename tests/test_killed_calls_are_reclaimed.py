"""A killed call's leftovers are reclaimed, by proof and never by name
(issue 16, item 3).

- SIGTERM (docker stop, systemd, timeout) during a call of a process that
  left SIGTERM at its default: the call rolls back, then the process dies by
  SIGTERM all the same. Nothing is left.
- SIGKILL mid-call leaves the staging entry; the next call to the same dst
  meets it (the staging name every call to that dst tries first), proves it
  is a dead call's and removes it; `fastlink.reclaim(dir)` and
  `fastlink reclaim DIR` remove a merge's temp files and everything else.
- The proof: the name's tag is the one for where the entry is (the
  identities of its directory and of the call's anchor), and no call
  anchored there runs (its flock is free). Look-alike names, and the entries
  of a call that is still running (another process, paused; another thread),
  are never touched.
- A process with its own SIGTERM handler keeps it: the handler runs, its
  exception rolls the call back.

The moment to signal is not guessed: the source is tests/faultfs.py
throttled to 1 MiB/s, which prints a line once the copy has read the first
MiB of the big file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import fastlink
import pytest
from faultutil import last_json_line, python_argv
from fdwalk import fastlink_entries
from guardhooks import forget_source
from mounts import faultfs
from snapshots import assert_trees_equal, snapshot
from treespec import File, make_tree, random_bytes

MiB = 1 << 20
BIG = 16 * MiB  # 16 s at the throttled rate: every signal lands mid-copy
SPEC = {
    "big.bin": File(random_bytes(BIG, 71)),
    "pkg": {f"m{i}.py": File(random_bytes(3000, 200 + i)) for i in range(8)},
}
# In a merge, the existing dst has these; the call adds the rest.
EXISTING = {"pkg": {"old.py": b"old\n"}, "keep.txt": b"keep\n"}

CHILD = """
import json, sys
import fastlink
src, dst, shape = sys.argv[1], sys.argv[2], sys.argv[3]
print(json.dumps({"started": True}), flush=True)
fastlink.clone_or_copy(src, dst, dirs_exist_ok=shape == "merge")
print(json.dumps({"done": True}), flush=True)
"""

SHAPES = ["single-file", "tree", "merge"]


@pytest.fixture
def slow_src(tmp_path):
    """(the throttled mount, the same tree unthrottled)"""
    backing = tmp_path / "backing"
    make_tree(backing, SPEC)
    with faultfs(backing, read_rate=MiB, notify=[("big.bin", MiB)]) as mount:
        yield mount, backing


def _ends(slow, backing, base, shape):
    """(slow src, fast src, dst) of a call of this shape; a merge's dst exists."""
    if shape == "single-file":
        return slow.path / "big.bin", backing / "big.bin", base / "out" / "big.bin"
    dst = base / "dst"
    if shape == "merge":
        make_tree(dst, EXISTING)
    return slow.path, backing, dst


def _content(root) -> dict[bytes, dict]:
    """snapshot() without directories' mtimes (adding and removing entries,
    as a roll-back does, changes them)."""
    return {
        rel: {k: v for k, v in entry.items() if not (entry["type"] == "dir" and k == "mtime_ns")}
        for rel, entry in snapshot(root).items()
    }


def _start(src, dst, shape) -> subprocess.Popen:
    return subprocess.Popen(
        python_argv(CHILD, os.fspath(src), os.fspath(dst), shape),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_mid_copy(slow, child: subprocess.Popen, signum: int) -> tuple[str, str]:
    try:
        slow.wait_for(f"reached big.bin {MiB}")
        child.send_signal(signum)
        return child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("shape", SHAPES)
def test_sigterm_mid_copy_rolls_back_then_dies_by_sigterm(slow_src, xfs, fresh_dir, shape):
    slow, backing = slow_src
    base = fresh_dir(xfs, "sigterm-")
    src, _, dst = _ends(slow, backing, base, shape)
    before = _content(base)
    child = _start(src, dst, shape)
    out, err = _signal_mid_copy(slow, child, signal.SIGTERM)
    assert child.returncode == -signal.SIGTERM, (child.returncode, out, err)
    assert '"done"' not in out
    assert fastlink_entries(base) == [], "a SIGTERM left the call's work behind"
    assert _content(base) == before, "the call was not rolled back"


@pytest.mark.parametrize("shape", ["single-file", "tree"])
def test_after_sigkill_a_later_call_to_the_same_dst_reclaims_the_staging(
    slow_src, xfs, fresh_dir, shape
):
    slow, backing = slow_src
    base = fresh_dir(xfs, "sigkill-rerun-")
    src, fast_src, dst = _ends(slow, backing, base, shape)
    child = _start(src, dst, shape)
    _signal_mid_copy(slow, child, signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL
    left = fastlink_entries(base)
    assert len(left) == 1, left  # the staging entry, a 1+ MiB part of it written

    fastlink.clone_or_copy(fast_src, dst)

    assert fastlink_entries(base) == [], "the later call left the killed call's staging"
    if shape == "single-file":
        assert dst.read_bytes() == (backing / "big.bin").read_bytes()
    else:
        assert_trees_equal(backing, dst)


@pytest.mark.parametrize("shape", SHAPES)
def test_after_sigkill_fastlink_reclaim_removes_the_leftovers(slow_src, xfs, fresh_dir, shape):
    """The command, on the directory above: what a merge left in dst's
    directories, what a new tree or file left beside dst."""
    slow, backing = slow_src
    base = fresh_dir(xfs, "sigkill-reclaim-")
    src, _, dst = _ends(slow, backing, base, shape)
    before = _content(base)
    child = _start(src, dst, shape)
    _signal_mid_copy(slow, child, signal.SIGKILL)
    left = fastlink_entries(base)
    assert left, "the kill left nothing: it did not land mid-call"

    done = subprocess.run(
        [sys.executable, "-m", "fastlink", "reclaim", "--json", os.fspath(base)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    removed = json.loads(done.stdout)["removed"]
    assert sorted(os.fsencode(p) for p in removed) == left
    assert fastlink_entries(base) == []
    if shape == "single-file":
        os.rmdir(base / "out")  # a parent the killed call created stays, empty
    assert _content(base) == before, "reclaim removed more than the killed call's work"


def test_look_alike_names_are_never_reclaimed(slow_src, xfs, fresh_dir):
    """Names in the old and the new form, a staging entry copied from where a
    killed call left it (a backup: the tag is bound to the other directory),
    and fastlink's own staging name for a dst shipped inside a package."""
    slow, src = slow_src
    base = fresh_dir(xfs, "look-alike-")
    # A real leftover, made by a call killed in `elsewhere`.
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    child = _start(slow.path, elsewhere / "dst", "tree")
    _signal_mid_copy(slow, child, signal.SIGKILL)
    real = fastlink_entries(elsewhere)
    assert len(real) == 1, real
    site = base / "site"
    site.mkdir()
    shutil.copytree(os.fsdecode(real[0]), site / os.path.basename(os.fsdecode(real[0])))
    shipped = {
        ".fastlink-staging.1.0.x": {"inside.py": b"shipped\n"},
        ".fastlink-staging.0.0.0123456789abcdef.dst": {"inside.py": b"shipped\n"},
        ".fastlink-tmp.1-2.0.fedcba9876543210.mod.py": b"shipped\n",
        ".fastlink-probe.1-0.0.0000000000000000.probe": b"shipped\n",
        ".fastlink-probe-1-0": b"shipped\n",
        "pkg": {".fastlink-tmp.7.7.x": b"shipped\n"},
    }
    make_tree(site, shipped)
    before = _content(site)

    assert fastlink.reclaim(site) == []
    fastlink.clone_or_copy(src, site / "dst")
    fastlink.clone_or_copy(src, site / "pkg", dirs_exist_ok=True)

    after = _content(site)
    assert {rel: after[rel] for rel in before} == before
    # The real leftover, where it is, is reclaimed.
    assert fastlink.reclaim(elsewhere) == [os.fsdecode(real[0])]


def test_a_running_calls_staging_is_untouched_by_reclaim(slow_src, xfs, fresh_dir):
    """Another process mid-call, paused (SIGSTOP) so that it is certainly
    still running its call; and another thread of this process mid-call."""
    slow, backing = slow_src
    base = fresh_dir(xfs, "live-")
    child = _start(slow.path, base / "other", "tree")
    try:
        slow.wait_for(f"reached big.bin {MiB}")
        child.send_signal(signal.SIGSTOP)
        theirs = fastlink_entries(base)
        assert len(theirs) == 1, theirs
        assert fastlink.reclaim(base) == []
        assert fastlink_entries(base) == theirs
        # A later call to the same dst uses a staging name of its own.
        fastlink.clone_or_copy(backing, base / "other")
        assert fastlink_entries(base) == theirs
        shutil.rmtree(base / "other")
    finally:
        child.send_signal(signal.SIGCONT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0 and last_json_line(out) == {"done": True}, err
    assert_trees_equal(backing, base / "other")
    assert fastlink_entries(base) == []


def test_a_running_call_in_another_thread_is_untouched_by_reclaim(xfs, fresh_dir, tmp_path):
    backing = tmp_path / "backing"
    make_tree(backing, SPEC)
    base = fresh_dir(xfs, "live-thread-")
    with faultfs(backing, read_rate=4 * MiB, notify=[("big.bin", MiB)]) as slow:
        # The source guard would hash the tree through the throttled mount
        # first; it checks the same tree through `backing` instead.
        forget_source(slow.path)
        outcome: list[object] = []
        thread = threading.Thread(
            target=lambda: outcome.append(fastlink.clone_or_copy(slow.path, base / "dst"))
        )
        thread.start()
        try:
            slow.wait_for(f"reached big.bin {MiB}")
            staging = fastlink_entries(base)
            assert len(staging) == 1, staging
            assert fastlink.reclaim(base) == []
            assert fastlink_entries(base) == staging
        finally:
            thread.join(timeout=120)
    assert outcome and isinstance(outcome[0], fastlink.Report)
    assert_trees_equal(backing, base / "dst")
    assert fastlink_entries(base) == []


HANDLER_CHILD = """
import json, os, signal, sys
import fastlink
class Terminated(Exception):
    pass
def handler(signum, frame):
    raise Terminated()
signal.signal(signal.SIGTERM, handler)
print(json.dumps({"started": True}), flush=True)
try:
    fastlink.clone_or_copy(sys.argv[1], sys.argv[2])
    outcome = "completed"
except Terminated:
    outcome = "terminated"
kept = signal.getsignal(signal.SIGTERM) is handler
print(json.dumps({"outcome": outcome, "handler_kept": kept}), flush=True)
"""


def test_a_python_sigterm_handler_is_respected(slow_src, xfs, fresh_dir):
    slow, _ = slow_src
    base = fresh_dir(xfs, "handler-")
    child = subprocess.Popen(
        python_argv(HANDLER_CHILD, os.fspath(slow.path), os.fspath(base / "dst")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = _signal_mid_copy(slow, child, signal.SIGTERM)
    assert child.returncode == 0, err
    assert last_json_line(out) == {"outcome": "terminated", "handler_kept": True}
    assert os.listdir(base) == []


def test_sigterm_is_left_at_its_default_after_a_call(tmp_path):
    src = tmp_path / "src"
    make_tree(src, {"a": b"a", "b": {"c": b"c"}})
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    fastlink.clone_or_copy(src, tmp_path / "dst")
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

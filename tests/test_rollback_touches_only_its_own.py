"""Roll-back and clean-up touch only what the call made (issue 9, item 9).

- A failed merge that created a directory (a namespace package's `ns/`)
  removes only its own entries from it: a concurrent call's files stay.
- A parent directory the call created is removed only while it is still that
  directory: a replacement made by another process meanwhile stays.
- Entries that merely look like fastlink's work files (`.fastlink-staging.*`,
  `.fastlink-tmp.*`, `.fastlink-probe-*`, of a dead pid) are never removed.
- If dst's parent (new tree) or dst itself (merge) is moved away or replaced
  during the call, the call raises an OSError, and nothing it made is left
  in the moved directory or at dst's path.

The windows are made deterministic with a rename gate: the call runs in a
child process under a seccomp filter that turns each of its rename(2)
family syscalls into a user notification. The test process receives them,
acts (moves a directory, runs a concurrent merge, creates a conflicting
file) while the child waits inside the syscall, then lets the rename run.
A rename is where a call's work becomes visible (its commit), so the first
one comes after every check and all the filling. A move in the middle of
the fill is made by the call's own progress callback (in the child) once a
file is placed, while gates.OpenGate (fanotify) holds the
opens of the remaining source files until the move is done.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import platform
import select
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import fastlink
import pytest
from faultutil import (
    OUTCOME_CODE,
    last_json_line,
    python_argv,
    require_root,
)
from fdwalk import fastlink_entries
from gates import OpenGate
from skips import skip_or_fail
from snapshots import assert_trees_equal, snapshot
from treespec import File, make_tree, random_bytes

TIMEOUT_S = 120

# --------------------------------------------------------------------------
# The rename gate: seccomp user notifications for rename/renameat/renameat2
# --------------------------------------------------------------------------

# machine -> (AUDIT_ARCH_*, the rename family's syscall numbers)
_ARCHES = {
    "x86_64": (0xC000003E, (82, 264, 316)),
    "aarch64": (0xC00000B7, (38, 276)),
}
_SECCOMP_NR = {"x86_64": 317, "aarch64": 277}
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp)
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
_NOTIF_SIZE = 80  # u64 id, u32 pid, u32 flags, struct seccomp_data (64)
_RESP = struct.Struct("=QqiI")  # id, val, error, flags

GATED_CHILD = (
    OUTCOME_CODE
    + """
import ctypes, socket, struct
job = json.loads(sys.argv[1])
import fastlink

# Everything is imported: from here on every rename(2) of this process (and
# of the threads it starts) waits for the test process to let it through.
audit_arch, renames = job["arch"]
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
ALLOW, NOTIFY = 0x7FFF0000, 0x7FC00000
n = len(renames)
prog = [struct.pack("=HBBI", LD_W_ABS, 0, 0, 4)]  # seccomp_data.arch
prog.append(struct.pack("=HBBI", JEQ_K, 0, n + 1, audit_arch))
prog.append(struct.pack("=HBBI", LD_W_ABS, 0, 0, 0))  # seccomp_data.nr
for j, nr in enumerate(renames):
    prog.append(struct.pack("=HBBI", JEQ_K, n - j, 0, nr))
prog.append(struct.pack("=HBBI", RET_K, 0, 0, ALLOW))
prog.append(struct.pack("=HBBI", RET_K, 0, 0, NOTIFY))

class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

code = ctypes.create_string_buffer(b"".join(prog))
fprog = SockFprog(len(prog), ctypes.cast(code, ctypes.c_void_p))
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(38, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
listener = libc.syscall(
    ctypes.c_long(job["seccomp_nr"]), ctypes.c_long(1), ctypes.c_long(8), ctypes.byref(fprog)
)
sock = socket.socket(fileno=int(sys.argv[2]))
if listener < 0:
    sock.sendall(json.dumps({"error": os.strerror(ctypes.get_errno())}).encode())
    sys.exit(0)
socket.send_fds(sock, [b"{}"], [listener])
os.close(listener)
outcome = outcome_of(fastlink.clone_or_copy, job["src"], job["dst"], **job["kwargs"])
print(json.dumps(outcome), flush=True)
"""
)


def run_gated(
    src: os.PathLike, dst: os.PathLike, on_rename: Callable[[int], None], **kwargs
) -> dict:
    """clone_or_copy(src, dst, **kwargs) in a child process; before each of
    its renames runs, on_rename(n) (n = 1, 2, ...) runs here while the child
    waits. Returns the child's outcome (faultutil.outcome_of)."""
    require_root("a seccomp rename gate")
    machine = platform.machine()
    if machine not in _ARCHES:
        skip_or_fail(f"the rename gate knows no syscall numbers for {machine}")
    job = {
        "src": os.fspath(src),
        "dst": os.fspath(dst),
        "kwargs": kwargs,
        "arch": _ARCHES[machine],
        "seccomp_nr": _SECCOMP_NR[machine],
    }
    ours, theirs = socket.socketpair()
    env = {k: v for k, v in os.environ.items() if k != "FASTLINK_METHODS"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no .pyc renames in the child
    with ours:
        proc = subprocess.Popen(
            python_argv(GATED_CHILD, json.dumps(job), str(theirs.fileno())),
            pass_fds=[theirs.fileno()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        theirs.close()
        try:
            ours.settimeout(TIMEOUT_S)
            msg, fds, _, _ = socket.recv_fds(ours, 4096, 1)
            if not fds:
                out, err = proc.communicate(timeout=TIMEOUT_S)
                assert msg, f"child died before installing the gate: {err.decode()}"
                reason = json.loads(msg)["error"]
                skip_or_fail(f"seccomp user notification unavailable: {reason}")
            _serve_renames(fds[0], proc, on_rename)
            out, err = proc.communicate(timeout=TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, f"child failed: rc={proc.returncode}\n{err.decode()}"
    return last_json_line(out.decode())


def _serve_renames(listener: int, proc: subprocess.Popen, on_rename: Callable[[int], None]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    seen = 0
    try:
        poller = select.poll()
        poller.register(listener, select.POLLIN)
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the gated call did not finish in time"
            events = poller.poll(min(left, 1.0) * 1000)
            if not events:
                if proc.poll() is not None:
                    return
                continue
            if any(ev & (select.POLLHUP | select.POLLERR) for _, ev in events):
                return  # the child exited: no filter user left
            notif = bytearray(_NOTIF_SIZE)
            try:
                fcntl.ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, notif)
            except OSError as e:
                if e.errno == errno.ENOENT:  # the waiting thread died meanwhile
                    continue
                raise
            (notif_id,) = struct.unpack_from("=Q", notif, 0)
            seen += 1
            try:
                on_rename(seen)
            finally:
                resp = bytearray(_RESP.pack(notif_id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE))
                with contextlib.suppress(OSError):  # ENOENT: the child is gone
                    fcntl.ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp)
    finally:
        os.close(listener)


def _failed_with_oserror(outcome: dict) -> None:
    assert not outcome["ok"], f"the call returned success: {outcome}"
    assert "OSError" in outcome["mro"], f"not an OSError: {outcome}"


# --------------------------------------------------------------------------
# Concurrent merges sharing a namespace directory
# --------------------------------------------------------------------------


def _package_a() -> dict:
    return {
        "ns": {
            "a.py": File(random_bytes(5000, 1)),
            "a_sub": {"a2.py": File(random_bytes(70_000, 2))},
        },
        "a-1.0.dist-info": {"RECORD": b"ns/a.py\n"},
        "conflict.py": b"package A's conflict.py\n",
    }


B_CONTENT = b"package B's module\n"
THEIR_CONFLICT = b"another installer's conflict.py\n"


@pytest.mark.parametrize(
    "ns_made_by", ["A", "B"], ids=["b-merges-into-as-ns", "a-merges-into-bs-ns"]
)
def test_a_failed_merge_leaves_a_concurrent_merges_files_in_the_shared_namespace(
    xfs, fresh_dir, ns_made_by
):
    base = fresh_dir(xfs, "ns-")
    site = base / "site-packages"
    site.mkdir()
    src_a, src_b = base / "pkg-a", base / "pkg-b"
    make_tree(src_a, _package_a())
    make_tree(src_b, {"ns": {"b.py": B_CONTENT}, "b-1.0.dist-info": {"RECORD": b"ns/b.py\n"}})
    b_reports: list = []

    def run_b() -> None:
        b_reports.append(fastlink.clone_or_copy(src_b, site, dirs_exist_ok=True))

    def at_rename(n: int) -> None:
        if n == 1:
            # A's checks are over (no conflict then); now another installer
            # puts conflict.py in place, so A fails when it renames its own in.
            (site / "conflict.py").write_bytes(THEIR_CONFLICT)
            if ns_made_by == "B":
                run_b()
        if not b_reports and (site / "ns").is_dir():
            run_b()  # A's ns/ is visible: B merges ns/b.py into it

    a = run_gated(src_a, site, at_rename, dirs_exist_ok=True)

    assert b_reports, (
        "the interleaving was not reached: A never had a rename pending while "
        "its new ns/ was visible (it committed the conflicting file first?)"
    )
    assert b_reports[0].files == 2
    assert not a["ok"] and a["error"] == "FileExistsError", a
    assert (site / "ns" / "b.py").exists(), "A's roll-back removed B's file (B had succeeded)"
    assert (site / "ns" / "b.py").read_bytes() == B_CONTENT
    assert sorted(os.listdir(site / "ns")) == ["b.py"], "A's files were left in ns/"
    assert (site / "b-1.0.dist-info" / "RECORD").exists()
    assert not (site / "a-1.0.dist-info").exists()
    assert (site / "conflict.py").read_bytes() == THEIR_CONFLICT
    assert fastlink_entries(site) == []


# --------------------------------------------------------------------------
# A parent the call created, replaced before the roll-back
# --------------------------------------------------------------------------


@pytest.mark.parametrize("replacement", ["empty", "with-content"])
def test_a_created_parent_replaced_before_the_roll_back_is_left_alone(xfs, fresh_dir, replacement):
    base = fresh_dir(xfs, "parents-")
    src = base / "src"
    make_tree(src, {"m.py": File(random_bytes(70_000, 3)), "pkg": {"x.py": b"x\n"}})
    p1 = base / "p1"
    p2 = p1 / "p2"
    dst = p2 / "dst"  # p1 and p2 do not exist: the call creates them
    moved = base / "moved-p2"
    made: dict = {}

    def at_rename(n: int) -> None:
        if n != 1:
            return
        os.rename(p2, moved)  # the directory the call made, moved aside...
        p2.mkdir()  # ...and another process's directory in its place
        if replacement == "with-content":
            (p2 / "theirs.txt").write_bytes(b"not fastlink's\n")
        made["p2"] = os.stat(p2).st_ino
        # A competitor's dst where the call is about to commit: it fails there.
        (moved / "dst").write_bytes(b"competitor\n")

    outcome = run_gated(src, dst, at_rename)

    assert made, "the call never renamed anything"
    _failed_with_oserror(outcome)
    assert p2.is_dir(), "the replacement directory (not the call's) was removed"
    assert os.stat(p2).st_ino == made["p2"], "the replacement directory was replaced"
    want = ["theirs.txt"] if replacement == "with-content" else []
    assert sorted(os.listdir(p2)) == want
    assert p1.is_dir()
    assert (moved / "dst").read_bytes() == b"competitor\n"
    assert fastlink_entries(base) == []


# --------------------------------------------------------------------------
# Names that look like fastlink's work files, shipped by a package
# --------------------------------------------------------------------------


def _dead_pid() -> int:
    pid = 99999
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass  # alive, someone else's
        pid += 1


def test_entries_shipped_with_fastlink_like_names_are_never_removed(xfs, fresh_dir):
    base = fresh_dir(xfs, "shipped-")
    site = base / "site-packages"
    site.mkdir()
    pid = _dead_pid()
    shipped = {
        f".fastlink-staging.{pid}.0.foo": {"inside.py": b"shipped staging-like dir\n"},
        ".fastlink-tmp.1.2.x": b"shipped tmp-like file\n",
        f".fastlink-probe-{pid}-0": b"shipped probe-like file\n",
    }
    expected = make_tree(base / "pkg", {**shipped, "pkg": {"__init__.py": b""}})
    make_tree(base / "foo", {"foo.py": b"foo\n"})
    make_tree(base / "other", {"other": {"__init__.py": b""}})

    fastlink.clone_or_copy(base / "pkg", site, dirs_exist_ok=True)
    fastlink.clone_or_copy(base / "foo", site / "foo")  # a new tree beside them
    fastlink.clone_or_copy(base / "other", site, dirs_exist_ok=True)  # another merge
    fastlink.clone_or_copy(base / "foo", site / "x")  # the tmp-like entry's name

    got = snapshot(site)
    for name in shipped:
        key = name.encode()
        survivors = {k: v for k, v in got.items() if k == key or k.startswith(key + b"/")}
        want = {k: v for k, v in expected.items() if k == key or k.startswith(key + b"/")}
        assert survivors == want, f"{name} was removed or changed"


# --------------------------------------------------------------------------
# dst's parent (new tree) or dst (merge) moved away during the call
# --------------------------------------------------------------------------

GATED_DIR = "pkg"  # the mid-fill move holds the opens of this source dir's files

MOVING_CHILD = (
    OUTCOME_CODE
    + """
job = json.loads(sys.argv[1])
import fastlink
moved = []

def move_once_a_file_is_placed(p):
    if not moved and p.files_done > 0:
        os.rename(job["move"], job["to"])
        if job["replace"]:
            os.mkdir(job["move"])
        moved.append(p.files_done)
        print("moved", flush=True)

outcome = outcome_of(
    fastlink.clone_or_copy, job["src"], job["dst"], progress=move_once_a_file_is_placed,
    **job["kwargs"]
)
print(json.dumps(outcome), flush=True)
"""
)


def _move_mid_fill(src, dst, move, to, replace: bool, **kwargs) -> dict:
    """clone_or_copy in a child whose progress callback moves `move` to `to`
    (and, if `replace`, makes a new empty dir at `move`) as soon as one
    file is placed. An OpenGate holds the opens of src/GATED_DIR's files
    (one is let through) until the move is done, so files are still being
    placed after it, whatever the machine's speed.

    The files are copied unless the caller says otherwise: a whole-tree
    clone (one clonefileat on macOS) places every file in one call and has
    no middle to move anything in."""
    require_root("a fanotify open gate")
    kwargs = {"methods": "copy", **kwargs}

    job = {
        "src": os.fspath(src),
        "dst": os.fspath(dst),
        "move": os.fspath(move),
        "to": os.fspath(to),
        "replace": replace,
        "kwargs": kwargs,
    }
    env = {k: v for k, v in os.environ.items() if k != "FASTLINK_METHODS"}
    try:
        gate = OpenGate([Path(src) / GATED_DIR])
    except OSError as e:
        skip_or_fail(f"fanotify permission events unavailable: {e}")
    with gate:
        gate.allow(1)
        proc = subprocess.Popen(
            python_argv(MOVING_CHILD, json.dumps(job)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        try:
            first = proc.stdout.readline()  # "moved", or the outcome if it never moved
            gate.open_wide()
            out, err = proc.communicate(timeout=TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, f"child failed: rc={proc.returncode}\n{err}"
    assert first == "moved\n", f"the progress callback never moved {move}: {first!r} {out!r}"
    return last_json_line(out)


def _move_at_commit(src, dst, move, to, replace: bool, **kwargs) -> dict:
    """clone_or_copy in a child; `move` is moved to `to` (and, if `replace`,
    a new empty dir made at `move`) just before the call's first rename."""
    moves: list[int] = []

    def at_rename(n: int) -> None:
        if n == 1:
            os.rename(move, to)
            if replace:
                os.mkdir(move)
            moves.append(n)

    outcome = run_gated(src, dst, at_rename, **kwargs)
    assert moves, "the call never renamed anything"
    return outcome


MOVERS = {"mid-fill": _move_mid_fill, "at-commit": _move_at_commit}


def _tree() -> dict:
    return {
        "top.py": File(random_bytes(70_000, 5)),
        GATED_DIR: {f"m{i}.py": File(random_bytes(3000 + i, 6 + i)) for i in range(6)},
        "newpkg": {"n.py": b"n\n", "deep": {"d.py": b"d\n"}},
    }


@pytest.mark.parametrize("when", list(MOVERS))
@pytest.mark.parametrize("how", ["moved", "replaced"])
def test_moving_dsts_parent_during_the_call_is_an_error_and_leaves_nothing(
    xfs, fresh_dir, how, when
):
    base = fresh_dir(xfs, "moved-parent-")
    src = base / "src"
    make_tree(src, _tree())
    parent = base / "parent"
    parent.mkdir()
    (parent / "neighbour.txt").write_bytes(b"was here before\n")
    before = snapshot(parent)
    elsewhere = base / "elsewhere"

    outcome = MOVERS[when](src, parent / "dst", parent, elsewhere, how == "replaced")

    _failed_with_oserror(outcome)
    assert_trees_equal(before, elsewhere, modes="exact", dir_times=False, what="the moved parent")
    if how == "replaced":
        assert os.listdir(parent) == [], "the call put something at dst's path"
    else:
        assert not os.path.lexists(parent), "the call recreated dst's parent"


@pytest.mark.parametrize("when", list(MOVERS))
@pytest.mark.parametrize("how", ["moved", "replaced"])
def test_moving_dst_during_a_merge_is_an_error_and_leaves_nothing_in_it(xfs, fresh_dir, how, when):
    base = fresh_dir(xfs, "moved-dst-")
    src = base / "src"
    expected = make_tree(src, _tree())
    site = base / "site"
    (site / GATED_DIR).mkdir(parents=True)
    (site / GATED_DIR / "old.py").write_bytes(b"old\n")
    (site / "keep.txt").write_bytes(b"keep\n")
    before = snapshot(site)
    elsewhere = base / "elsewhere"

    outcome = MOVERS[when](src, site, site, elsewhere, how == "replaced", dirs_exist_ok=True)

    _failed_with_oserror(outcome)
    assert_trees_equal(before, elsewhere, modes="exact", dir_times=False, what="the moved dst")
    if how == "replaced":
        assert os.listdir(site) == [], "the call wrote into the new directory at dst's path"
    else:
        assert not os.path.lexists(site)
    # Sanity: the same merge, undisturbed, succeeds.
    site.mkdir(exist_ok=True)
    fastlink.clone_or_copy(src, site, dirs_exist_ok=True)
    assert_trees_equal(expected, site, include_root=False)

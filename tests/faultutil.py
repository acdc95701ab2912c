"""Helpers for the fault-injection, kill and concurrency tests.

Kept separate from conftest.py/treeutil.py (owned elsewhere): private small
mounts that a test may fill up or remount read-only, child-process runners,
the documented staging/tmp name patterns, and comparisons of pre-existing
destination content that ignore directory mtimes (a merge that creates and
removes temp entries in a directory legitimately changes its mtime).
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from treeutil import ROOT_KEY, skip_or_fail, snapshot


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        skip_or_fail(f"{what} needs root")


# --------------------------------------------------------------------------
# Documented names of fastlink's hidden work entries (ISSUE3 contract)
# --------------------------------------------------------------------------

STAGING_PREFIX = ".fastlink-staging."
TMP_PREFIX = ".fastlink-tmp."
PROBE_PREFIX = ".fastlink-probe-"


def staging_re(dst_name: str | bytes) -> re.Pattern[bytes]:
    """`.fastlink-staging.<pid>.<n>.<dst name>` for exactly this dst name."""
    return re.compile(
        rb"\.fastlink-staging\.(\d+)\.(\d+)\." + re.escape(os.fsencode(dst_name)) + rb"\Z"
    )


def fastlink_entries(root: os.PathLike | str) -> list[bytes]:
    """Every entry under root (recursively, root itself excluded) whose name
    starts with `.fastlink-` — staging dirs, temp files, probes."""
    root_b = os.fsencode(os.fspath(root))
    found = []
    for dirpath, dirnames, filenames in os.walk(root_b):
        for name in dirnames + filenames:
            if name.startswith(b".fastlink-"):
                found.append(os.path.join(dirpath, name))
    return sorted(found)


def listdir_b(path: os.PathLike | str) -> list[bytes]:
    return sorted(os.listdir(os.fsencode(os.fspath(path))))


# --------------------------------------------------------------------------
# Comparing pre-existing content
# --------------------------------------------------------------------------


def snapshot_without_dir_mtimes(root: os.PathLike | str) -> dict[bytes, dict]:
    """snapshot(root), but directories' mtimes dropped.

    In a merge fastlink writes temp files/staging dirs into pre-existing
    directories and removes them again on rollback; that changes the
    directory's mtime, which the contract does not promise to restore.
    Everything else (names, types, file bytes, modes, file/symlink mtimes)
    must be exactly as before.
    """
    snap = snapshot(root)
    for info in snap.values():
        if info["type"] == "dir":
            info.pop("mtime_ns", None)
    return snap


def assert_same_content(before: dict[bytes, dict], after: dict[bytes, dict], what: str) -> None:
    problems = []
    for k in sorted(set(before) - set(after)):
        problems.append(f"vanished: {k!r}")
    for k in sorted(set(after) - set(before)):
        problems.append(f"new entry left behind: {k!r} ({after[k]['type']})")
    for k in sorted(set(before) & set(after)):
        if before[k] != after[k]:
            problems.append(f"changed: {k!r}: before={before[k]!r} after={after[k]!r}")
    if problems:
        raise AssertionError(f"{what} changed:\n  " + "\n  ".join(problems[:40]))


def without_root(snap: dict[bytes, dict]) -> dict[bytes, dict]:
    return {k: v for k, v in snap.items() if k != ROOT_KEY}


# --------------------------------------------------------------------------
# Free space
# --------------------------------------------------------------------------


def free_counts(path: os.PathLike | str) -> tuple[int, int]:
    """(free blocks, free inodes) of the filesystem holding path."""
    st = os.statvfs(path)
    return st.f_bfree, st.f_ffree


def sync_all() -> None:
    """Flush dirty data and metadata of every filesystem (like sync(1))."""
    os.sync()


# --------------------------------------------------------------------------
# Private small mounts (full / read-only), always unmounted
# --------------------------------------------------------------------------

_MKFS = {
    # xfsprogs >= 5.19 refuses filesystems below 300 MB unless it believes it
    # runs under fstests; these variables are its documented escape hatch.
    "xfs": ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"],
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
    "ext4": ["mkfs.ext4", "-q", "-F", "-I", "256", "-b", "4096"],
}
_MKFS_ENV = {"TEST_DIR": "1", "TEST_DEV": "1", "QA_CHECK_FS": "1"}


def _run(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


@contextlib.contextmanager
def small_mount(kind: str, size_mib: int) -> Iterator[Path]:
    """Mount a private `kind` filesystem of size_mib MiB; unmount and delete
    everything on exit (lazy unmount if something still holds it)."""
    require_root(f"mounting a {size_mib} MiB {kind}")
    mkfs = _MKFS.get(kind)
    if mkfs is not None and shutil.which(mkfs[0]) is None:
        skip_or_fail(f"{mkfs[0]} not installed")
    base = tempfile.mkdtemp(prefix=f"fastlink-faults-{kind}-")
    mnt = os.path.join(base, "mnt")
    image = os.path.join(base, "fs.img")
    os.mkdir(mnt)
    mounted = False
    try:
        if mkfs is None:
            assert kind == "tmpfs", kind
            argv = ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", mnt]
        else:
            with open(image, "wb") as f:
                f.truncate(size_mib << 20)
            r = _run([*mkfs, image], env={**os.environ, **_MKFS_ENV})
            if r.returncode != 0:
                skip_or_fail(f"{' '.join(mkfs)} failed: {r.stdout.strip()}")
            argv = ["mount", "-o", "loop", image, mnt]
        r = _run(argv)
        if r.returncode != 0:
            skip_or_fail(f"{' '.join(argv)} failed: {r.stdout.strip()}")
        mounted = True
        yield Path(mnt)
    finally:
        if mounted and _run(["umount", mnt]).returncode != 0:
            _run(["umount", "-l", mnt])
        # Never delete recursively through a mount point: only remove what
        # we created, and only if it is no longer mounted.
        with contextlib.suppress(OSError):
            os.rmdir(mnt)
        with contextlib.suppress(FileNotFoundError):
            os.remove(image)
        with contextlib.suppress(OSError):
            os.rmdir(base)


def remount(mnt: os.PathLike | str, mode: str) -> None:
    r = _run(["mount", "-o", f"remount,{mode}", os.fspath(mnt)])
    if r.returncode != 0:
        raise RuntimeError(f"remount,{mode} {mnt} failed: {r.stdout.strip()}")


# --------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------


def _path_or_none(p):
    return None if p is None else os.fsdecode(p)


def outcome_of(fn, *args, **kwargs) -> dict:
    """Call fn and describe what happened as JSON-able data: {"ok": True, ...}
    or the exception's class, MRO, errno, strerror and filenames. Used in
    process and, through OUTCOME_CODE, in child processes, so both report in
    the same shape."""
    try:
        r = fn(*args, **kwargs)
    except BaseException as e:
        return {
            "ok": False,
            "error": type(e).__name__,
            "mro": [c.__name__ for c in type(e).__mro__],
            "errno": getattr(e, "errno", None),
            "strerror": getattr(e, "strerror", None),
            "filename": _path_or_none(getattr(e, "filename", None)),
            "filename2": _path_or_none(getattr(e, "filename2", None)),
            "message": str(e),
        }
    return {"ok": True, "method": r.method, "files": r.files}


# The same two functions as source for a child process, which prints the
# outcome as JSON on its last stdout line.
OUTCOME_CODE = (
    "import json, os, sys\n\n"
    + inspect.getsource(_path_or_none)
    + "\n"
    + inspect.getsource(outcome_of)
)


def python_argv(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def last_json_line(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise AssertionError("child printed nothing")
    return json.loads(lines[-1])


def chown_tree(path: os.PathLike | str, uid: int, gid: int) -> None:
    """lchown path and (if a dir) everything under it."""
    os.lchown(path, uid, gid)
    if stat.S_ISDIR(os.lstat(path).st_mode):
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                os.lchown(os.path.join(dirpath, name), uid, gid)


# --------------------------------------------------------------------------
# Running a call as a process that is denied access
# --------------------------------------------------------------------------

NOBODY = 65534
DROP_CAPS = ["-dac_override", "-dac_read_search"]

PERM_CHILD = OUTCOME_CODE + (
    """
job = json.loads(sys.argv[1])
denial = {}
for p in job["unreadable"]:
    try:
        os.close(os.open(p, os.O_RDONLY))
        denial[p] = None
    except OSError as e:
        denial[p] = e.errno
for d in job["unwritable"]:
    probe = os.path.join(d, ".denial-check")
    try:
        os.mkdir(probe)
        os.rmdir(probe)
        denial[d] = None
    except OSError as e:
        denial[d] = e.errno
print(json.dumps({"denial": denial}), flush=True)
import fastlink
outcome = outcome_of(fastlink.clone_or_copy, job["src"], job["dst"], **job["kwargs"])
print(json.dumps(outcome), flush=True)
"""
)


def unprivileged_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        skip_or_fail("setpriv (util-linux) is needed to drop CAP_DAC_OVERRIDE as root")
    caps = ",".join(DROP_CAPS)
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


def deny_access(path: Path, mode: int) -> None:
    """Make path inaccessible to a non-privileged uid 0 (or to ourselves)."""
    if os.geteuid() == 0:
        chown_tree(path, NOBODY, NOBODY)
    os.chmod(path, mode)


def run_unprivileged(src, dst, *, unreadable=(), unwritable=(), **kwargs) -> dict:
    """clone_or_copy(src, dst, **kwargs) in a child denied access to `unreadable`
    and `unwritable` (the denial is proven first); returns its outcome_of."""
    job = {
        "src": os.fspath(src),
        "dst": os.fspath(dst),
        "kwargs": kwargs,
        "unreadable": [os.fspath(p) for p in unreadable],
        "unwritable": [os.fspath(p) for p in unwritable],
    }
    prefix = unprivileged_prefix()
    argv = prefix + python_argv(PERM_CHILD, json.dumps(job))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) >= 1, f"child failed to start: rc={r.returncode} stderr={r.stderr}"
    denial = json.loads(lines[0])["denial"]
    not_denied = {p: e for p, e in denial.items() if e != errno.EACCES}
    if not_denied:
        pytest.fail(
            "could not set up a process that is denied access (so fastlink cannot be "
            f"judged): plain open()/mkdir() gave {not_denied} instead of EACCES "
            f"(privilege-dropping prefix: {prefix or 'none, not root'})",
            pytrace=False,
        )
    assert r.returncode == 0, f"child crashed: rc={r.returncode} stderr={r.stderr}"
    return last_json_line(r.stdout)

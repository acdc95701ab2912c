"""Helpers for the fault-injection, kill and concurrency tests.

Kept separate from conftest.py and the tree helpers: child-process
runners and the documented staging/tmp name patterns. Mounts are in
mounts.py; comparing trees (e.g. pre-existing destination content, with
directory mtimes left out) is snapshots.py's tree_differences/assert_trees_equal.
"""

from __future__ import annotations

import errno
import inspect
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from skips import skip_or_fail


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        skip_or_fail(f"{what} needs root")


# --------------------------------------------------------------------------
# Documented names of fastlink's hidden work entries (ISSUE3 contract)
# --------------------------------------------------------------------------

STAGING_PREFIX = ".fastlink-staging."
TMP_PREFIX = ".fastlink-tmp."
PROBE_PREFIX = ".fastlink-probe."


def staging_re(dst_name: str | bytes) -> re.Pattern[bytes]:
    """`.fastlink-staging.<slot>.<depth>.<tag>.<dst name>` for exactly this
    dst name; group 1 is the slot: `0` (the name every call to this dst tries
    first) or `<pid>-<n>` (a call's own), group 2 that pid."""
    return re.compile(
        rb"\.fastlink-staging\.(0|(\d+)-\d+)\.\d+\.[0-9a-f]{16}\."
        + re.escape(os.fsencode(dst_name))
        + rb"\Z"
    )


PROBE_RE = re.compile(rb"\.fastlink-probe\.(\d+)-\d+\.0\.[0-9a-f]{16}\.probe\Z")


def listdir_b(path: os.PathLike | str) -> list[bytes]:
    return sorted(os.listdir(os.fsencode(os.fspath(path))))


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


# --------------------------------------------------------------------------
# A syscall the kernel refuses: seccomp, in a child process
# --------------------------------------------------------------------------

# machine -> (AUDIT_ARCH_*, {syscall name: number})
_SECCOMP_ARCH = {
    "x86_64": (0xC000003E, {"linkat": 265}),
    "aarch64": (0xC00000B7, {"linkat": 37}),
}


def refuse_syscall(name, arg, mask, errno_):
    """Make every later `name` syscall of this process whose argument `arg`
    has a bit of `mask` set fail with `errno_`, as an older or stricter
    kernel would refuse it (a seccomp filter: it cannot be undone)."""
    import ctypes
    import platform
    import struct

    audit_arch, numbers = _SECCOMP_ARCH[platform.machine()]
    ld_abs, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, fail = 0x7FFF0000, 0x00050000 | errno_
    program = [
        (ld_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq, 0, 4, audit_arch),
        (ld_abs, 0, 0, 0),  # seccomp_data.nr
        (jeq, 0, 2, numbers[name]),
        (ld_abs, 0, 0, 16 + 8 * arg),  # the low half of args[arg]
        (jset, 1, 0, mask),
        (ret, 0, 0, allow),
        (ret, 0, 0, fail),
    ]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program), ctypes.addressof(code))
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) or libc.prctl(
        pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0
    ):
        raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")


# The same, as source for a child process.
REFUSE_SYSCALL_CODE = f"_SECCOMP_ARCH = {_SECCOMP_ARCH!r}\n\n" + inspect.getsource(refuse_syscall)

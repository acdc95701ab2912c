"""A file with file capabilities is never hard-linked (issue 16, item 7).

A hard link shares the inode, and with it the `security.capability` xattr:
a capable binary hard-linked into an environment would be a privileged
executable at a new path, as a setuid one would. Such a file is treated
as setuid/setgid files are: it takes the next allowed method (a copy or a
clone carries no xattrs, so the capabilities stay behind), or, under
`methods="hardlink"`, the call raises HardlinkUnsupportedError (EPERM).

Capabilities act only at execve, which needs an exec bit, so only a file
with one costs a lookup of the attribute: linking files without an exec
bit makes no xattr syscall at all (counted with strace).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import fastlink
import pytest
from fdwalk import fastlink_entries
from skips import skip_or_fail
from syscalls import traced
from treespec import File, make_tree

# setcap and the syscall counts are the Linux backend's (macOS has no file
# capabilities; `make macos-sim` deselects these).
pytestmark = pytest.mark.linux_backend

CAPABILITY = "security.capability"


def _setcap(path: Path) -> None:
    setcap = shutil.which("setcap") or "/usr/sbin/setcap"
    if not os.path.exists(setcap):
        skip_or_fail("setcap (Debian package libcap2-bin) is needed")
    r = subprocess.run([setcap, "cap_net_raw+ep", os.fspath(path)], capture_output=True, text=True)
    if r.returncode != 0:
        skip_or_fail(f"setcap failed here: {r.stderr.strip()}")
    assert CAPABILITY in os.listxattr(path)


def _capable_tree(root: Path) -> Path:
    make_tree(
        root,
        {
            "bin": {
                "ping": File(b"\x7fELF-not-really\n", 0o755),
                "run.sh": File(b"#!/bin/sh\n", 0o755),
            },
            "mod.py": File(b"x = 1\n", 0o644),
        },
    )
    _setcap(root / "bin" / "ping")
    return root / "bin" / "ping"


def _has_capabilities(path: Path) -> bool:
    return CAPABILITY in os.listxattr(path, follow_symlinks=False)


@pytest.mark.parametrize("fs", ["xfs", "ext4"])
def test_a_capable_file_in_a_tree_takes_the_next_method(fs, request, fresh_dir):
    base = fresh_dir(request.getfixturevalue(fs))
    capable = _capable_tree(base / "src")

    report = fastlink.clone_or_copy(base / "src", base / "dst", methods=("hardlink", "copy"))

    assert (report.hardlinked, report.copied) == (2, 1)
    assert [(m, e, n) for m, e, n, _ in report.fallbacks] == [("hardlink", errno.EPERM, 1)]
    placed = base / "dst" / "bin" / "ping"
    assert os.stat(placed).st_ino != os.stat(capable).st_ino
    assert placed.read_bytes() == capable.read_bytes()
    assert not _has_capabilities(placed), "the copy carried the capabilities"
    assert (
        os.stat(base / "dst" / "bin" / "run.sh").st_ino
        == os.stat(base / "src" / "bin" / "run.sh").st_ino
    )
    assert _has_capabilities(capable)


def test_strict_hardlink_refuses_a_capable_file_and_leaves_no_dst(xfs, fresh_dir):
    base = fresh_dir(xfs)
    capable = _capable_tree(base / "src")

    with pytest.raises(fastlink.HardlinkUnsupportedError) as caught:
        fastlink.clone_or_copy(base / "src", base / "dst", methods="hardlink")

    assert caught.value.errno == errno.EPERM
    assert caught.value.filename == str(capable)
    assert not os.path.lexists(base / "dst")
    assert fastlink_entries(base) == []


@pytest.mark.parametrize("methods", [("hardlink", "copy"), "hardlink"])
def test_a_single_capable_file_is_never_hardlinked(xfs, fresh_dir, methods):
    base = fresh_dir(xfs)
    capable = _capable_tree(base / "src")
    dst = base / "ping"

    if methods == "hardlink":
        with pytest.raises(fastlink.HardlinkUnsupportedError) as caught:
            fastlink.clone_or_copy(capable, dst, methods=methods)
        assert caught.value.errno == errno.EPERM
        assert not os.path.lexists(dst)
    else:
        report = fastlink.clone_or_copy(capable, dst, methods=methods)
        assert (report.method, report.copied) == ("copy", 1)
        assert os.stat(dst).st_ino != os.stat(capable).st_ino
        assert not _has_capabilities(dst)
    assert fastlink_entries(base) == []


XATTR_CHILD = textwrap.dedent(
    """
    import sys, fastlink
    mark("call")
    r = fastlink.clone_or_copy(sys.argv[1], sys.argv[2], methods="hardlink")
    mark("end")
    print(r.hardlinked)
    """
)


def _xattr_calls(trace) -> list:
    # getxattrat (Linux 6.13) is syscall 0x1d0 to an strace that predates it,
    # shown without its strings. (The umask probe's one fgetxattr of
    # system.posix_acl_default per call is not a per-file lookup.)
    return [
        c
        for c in trace.sections["call"]
        if c.name in ("syscall_0x1d0", "getxattrat") or CAPABILITY in c.text
    ]


def test_only_files_with_an_exec_bit_cost_an_xattr_lookup(xfs, fresh_dir):
    base = fresh_dir(xfs)
    spec = {f"m{i}.py": File(b"x\n", 0o644) for i in range(40)}
    spec.update({f"tool{i}": File(b"#!/bin/sh\n", 0o755) for i in range(3)})
    make_tree(base / "src", spec)

    trace = traced(XATTR_CHILD, os.fspath(base / "src"), os.fspath(base / "dst"))

    assert trace.stdout.split() == ["43"]
    assert len(_xattr_calls(trace)) == 3, "\n".join(map(str, _xattr_calls(trace)))


def test_a_single_file_without_an_exec_bit_is_still_two_syscalls(xfs, fresh_dir):
    base = fresh_dir(xfs)
    make_tree(base / "src", {"mod.py": File(b"x = 1\n", 0o644)})

    trace = traced(XATTR_CHILD, os.fspath(base / "src" / "mod.py"), os.fspath(base / "mod.py"))

    assert trace.stdout.split() == ["1"]
    assert _xattr_calls(trace) == []

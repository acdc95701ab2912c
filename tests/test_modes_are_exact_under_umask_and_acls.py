"""Permission bits are exactly the source's (setuid/setgid cleared), whatever
the umask is at the time of the call and whatever default ACL the
destination's parent carries (issue 9, item 2).

The umask cases run in a child process that changes its umask between
calls: the umask is per process, and a decision cached from the umask of an
earlier call must not decide a later one. The
pairs cover the reflink path (XFS -> same XFS), the copy path (XFS -> btrfs,
XFS -> ext4) and directories (0555, 0700, a sticky 01777), in new trees and in
merges.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import fastlink
import pytest
from faultutil import OUTCOME_CODE, last_json_line, python_argv
from skips import skip_or_fail
from snapshots import assert_trees_equal, snapshot, tree_differences
from treespec import File, make_tree, random_bytes

PAIRS = {
    "xfs-to-xfs": ("xfs", "xfs", "reflink"),
    "xfs-to-btrfs": ("xfs", "btrfs", "copy"),
    "xfs-to-ext4": ("xfs", "ext4", "copy"),
}


def _mode_spec() -> dict:
    # >= 64 KiB where it matters so a reflink really clones (btrfs inlines
    # tiny files); small ones too.
    return {
        "bin": {"run.sh": File(b"#!/bin/sh\necho run\n" + random_bytes(70_000, 1), 0o755)},
        "data.txt": File(random_bytes(80_000, 2), 0o644),
        "secret.key": File(random_bytes(66_000, 3), 0o700),
        "private.cfg": File(b"p\n", 0o600),
        "group.txt": File(b"g\n", 0o664),
        "shared-exec": File(random_bytes(65_536, 4), 0o775),
        "suid-tool": File(random_bytes(65_536, 5), 0o4755),  # bits cleared in dst
        "readonly": {"inside.py": File(b"ro\n", 0o444), "tool": File(b"t\n", 0o555)},
        "private-dir": {"x": File(b"x\n", 0o640)},
        "spool": {"job": File(b"j\n", 0o660)},  # a sticky dir: 0o1000 is kept
    }


def _build_src(root: Path) -> dict:
    """The source tree; its snapshot (taken after the directory chmods, which
    also re-baselines the source guard)."""
    make_tree(root, _mode_spec())
    os.chmod(root / "readonly", 0o555)
    os.chmod(root / "private-dir", 0o700)
    os.chmod(root / "spool", 0o1777)
    return snapshot(root)


@pytest.fixture(params=list(PAIRS))
def pair(request, fresh_dir):
    src_kind, dst_kind, method = PAIRS[request.param]
    src_base = fresh_dir(request.getfixturevalue(src_kind), "modes-src-")
    dst_base = fresh_dir(request.getfixturevalue(dst_kind), "modes-dst-")
    return src_base, dst_base, method


# --------------------------------------------------------------------------
# umask
# --------------------------------------------------------------------------

UMASK_CHILD = (
    OUTCOME_CODE
    + """
import fastlink
results = []
for call in json.loads(sys.argv[1]):
    os.umask(call["umask"])
    outcome = outcome_of(fastlink.clone_or_copy, call["src"], call["dst"], **call["kwargs"])
    if outcome["ok"]:
        outcome["umask_after"] = os.umask(0)
        os.umask(outcome["umask_after"])
    results.append(outcome)
print(json.dumps(results), flush=True)
"""
)


def _run_calls(calls: list[dict]) -> list[dict]:
    r = subprocess.run(
        python_argv(UMASK_CHILD, json.dumps(calls)), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, f"child failed: rc={r.returncode}\n{r.stderr}"
    return last_json_line(r.stdout)


@pytest.mark.parametrize(
    "umasks",
    [(0o077,), (0o022, 0o077), (0o000, 0o027, 0o022), (0o077, 0o002)],
    ids=["077-first", "022-then-077", "000-then-027-then-022", "077-then-002"],
)
@pytest.mark.parametrize("shape", ["new-tree", "merge"])
def test_modes_are_exact_whatever_the_umask_of_each_call(pair, umasks, shape):
    src_base, dst_base, method = pair
    src = src_base / "src"
    expected = _build_src(src)
    calls = []
    for i, umask in enumerate(umasks):
        dst = dst_base / f"dst{i}"
        if shape == "merge":
            os.mkdir(dst)
        calls.append(
            {
                "umask": umask,
                "src": os.fspath(src),
                "dst": os.fspath(dst),
                "kwargs": {"dirs_exist_ok": shape == "merge"},
            }
        )
    results = _run_calls(calls)
    for call, outcome in zip(calls, results):
        assert outcome["ok"], f"umask {call['umask']:#o}: {outcome}"
        assert outcome["umask_after"] == call["umask"], "fastlink changed the process umask"
        assert outcome["method"] == method, outcome
        assert_trees_equal(expected, call["dst"], include_root=shape == "new-tree")


# --------------------------------------------------------------------------
# Default ACLs
# --------------------------------------------------------------------------

DEFAULT_ACLS = {
    # Extended (with a mask): a file created 0644 stays 0644, and the mask,
    # not the umask, limits the group bits.
    "permissive-with-mask": "u::rwx,g::r-x,o::r-x,m::rwx",
    # Minimal and restrictive: anything created without an explicit chmod
    # comes out 0600 (files) / 0700 (dirs) or less.
    "restrictive": "u::rw,g::-,o::-",
    # "No exec bits": what made bin/run.sh come out 0644 in the field.
    "no-exec": "u::rw,g::r,o::r",
}


def _set_default_acl(directory: Path, acl: str) -> None:
    if shutil.which("setfacl") is None:
        skip_or_fail("setfacl (Debian package acl) not installed")
    r = subprocess.run(
        ["setfacl", "-d", "-m", acl, os.fspath(directory)], capture_output=True, text=True
    )
    if r.returncode != 0:
        skip_or_fail(f"setfacl -d -m {acl} {directory} failed: {r.stderr.strip()}")


@pytest.mark.parametrize("acl", list(DEFAULT_ACLS))
@pytest.mark.parametrize("shape", ["new-tree", "new-tree-with-parents", "merge"])
def test_modes_are_exact_under_a_default_acl_on_the_destination(pair, acl, shape):
    src_base, dst_base, method = pair
    src = src_base / "src"
    expected = _build_src(src)
    parent = dst_base / "with-acl"
    parent.mkdir()
    _set_default_acl(parent, DEFAULT_ACLS[acl])
    if shape == "merge":
        dst = parent / "site"
        dst.mkdir()  # inherits the default ACL as its own default
        (dst / "bin").mkdir()  # an existing dir the merge writes into
    elif shape == "new-tree-with-parents":
        dst = parent / "a" / "b" / "dst"
    else:
        dst = parent / "dst"

    bin_mode_before = os.stat(dst / "bin").st_mode if shape == "merge" else None

    report = fastlink.clone_or_copy(src, dst, dirs_exist_ok=shape == "merge")

    assert report.method == method, report
    if shape == "merge":
        # An existing directory keeps its own mode (and may get a new
        # mtime); every entry the merge created is exact.
        got = snapshot(dst)
        assert got[b"bin"]["mode"] == stat.S_IMODE(bin_mode_before)
        created = {k: v for k, v in expected.items() if k != b"bin"}
        assert (
            tree_differences(
                created, {k: v for k, v in got.items() if k != b"bin"}, include_root=False
            )
            == []
        )
    else:
        assert_trees_equal(expected, dst)

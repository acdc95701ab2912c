"""Whenever a preferred method was not used, the report names it and the
errno (issue 16, item 4), also when a cached probe said the pair of
devices can do it: the probe is cached per (st_dev, st_dev), and a bind
mount, `fs.protected_hardlinks` or a NOCOW directory make one call of that
pair unable to. Each such file falls back alone and is counted in
`report.fallbacks`; a single-file call reports what a one-file tree call
does. A real error (EACCES) is raised, never a fallback.

Each sequence runs in a fresh child process, so the first call really
probes and caches "works" before the call that cannot.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

from faultutil import NOBODY, chown_tree
from mounts import bind_mount
from skips import skip_or_fail
from snapshots import assert_trees_equal
from test_one_odd_file_falls_back_alone import run_calls
from treespec import File, make_tree, random_bytes

KiB = 1024
OTHER_UID = 12345


def _spec(size: int = 3 * KiB) -> dict:
    return {"pkg": {f"m{i}.py": File(random_bytes(size + i, i)) for i in range(3)}, "r.txt": b"r\n"}


def _assert_every_file_fell_back(outcome: dict, method: str, errno_: int, files: int) -> None:
    assert outcome["ok"], f"the call failed: {outcome}"
    assert outcome["copied"] == outcome["files"] == files, outcome
    assert outcome["method"] == "copy", outcome
    reasons = [s[:2] for s in outcome["skipped"]] + [f[:2] for f in outcome["fallbacks"]]
    assert [method, errno_] in reasons, (
        f"the report does not say why {method} was not used: {outcome}"
    )
    for fb in outcome["fallbacks"]:
        assert fb[0] == method and fb[1] == errno_ and fb[2] == files and fb[3], outcome


def _same_report(single: dict, one_file_tree: dict) -> None:
    keys = ("ok", "method", "files", "reflinked", "hardlinked", "copied", "skipped", "fallbacks")
    assert {k: single[k] for k in keys} == {k: one_file_tree[k] for k in keys}, (
        single,
        one_file_tree,
    )


def test_hardlinks_across_a_bind_mount_after_a_cached_probe_are_reported(xfs, fresh_dir):
    base = fresh_dir(xfs, "why-bind-")
    expected = make_tree(base / "src", _spec())
    make_tree(base / "one", {"f.py": File(random_bytes(2 * KiB, 9))})
    (base / "out").mkdir()
    kw = {"methods": ["hardlink", "copy"]}

    with bind_mount(base) as a, bind_mount(base) as b:
        _, (same, across, single, one_tree) = run_calls(
            [
                (a / "src", a / "out" / "same", kw),  # probes and caches "works"
                (a / "src", b / "out" / "across", kw),
                (a / "one" / "f.py", b / "out" / "f.py", kw),
                (a / "one", b / "out" / "one", kw),
            ]
        )

    assert same["ok"] and same["hardlinked"] == same["files"], same
    _assert_every_file_fell_back(across, "hardlink", errno.EXDEV, 4)
    _assert_every_file_fell_back(single, "hardlink", errno.EXDEV, 1)
    _same_report(single, one_tree)
    assert_trees_equal(expected, base / "out" / "across")


def test_hardlinks_refused_by_protected_hardlinks_are_reported(protected_hardlinks, open_base):
    src, out = open_base / "src", open_base / "out"
    expected = make_tree(src, _spec())
    make_tree(open_base / "one", {"f.py": File(random_bytes(2 * KiB, 9))})
    out.mkdir()
    chown_tree(out, NOBODY, NOBODY)
    for tree in (src, open_base / "one"):
        chown_tree(tree, OTHER_UID, OTHER_UID)  # readable by all, writable by none
    kw = {"methods": ["hardlink", "copy"]}

    checks, (tree, single, one_tree) = run_calls(
        [
            (src, out / "tree", kw),
            (open_base / "one" / "f.py", out / "f.py", kw),
            (open_base / "one", out / "one", kw),
        ],
        drop_to=(NOBODY, NOBODY),
        link_checks=[(src / "r.txt", out / ".check")],
        cwd=open_base,
    )

    assert checks == {os.fspath(src / "r.txt"): errno.EPERM}, checks
    _assert_every_file_fell_back(tree, "hardlink", errno.EPERM, 4)
    _assert_every_file_fell_back(single, "hardlink", errno.EPERM, 1)
    _same_report(single, one_tree)
    assert_trees_equal(expected, out / "tree", modes="ignore", times=True)


def test_a_file_the_caller_cannot_read_is_a_permission_error_not_a_fallback(
    protected_hardlinks, open_base
):
    src, out = open_base / "src", open_base / "out"
    make_tree(src, {"secret.py": File(b"secret\n", 0o600)})
    out.mkdir()
    chown_tree(out, NOBODY, NOBODY)
    chown_tree(src, OTHER_UID, OTHER_UID)
    os.chmod(src, 0o755)
    kw = {"methods": ["hardlink", "copy"]}

    _, (tree, single) = run_calls(
        [(src, out / "tree", kw), (src / "secret.py", out / "secret.py", kw)],
        drop_to=(NOBODY, NOBODY),
        cwd=open_base,
    )

    for outcome in (tree, single):
        assert not outcome["ok"], outcome
        assert outcome["errno"] == errno.EACCES, outcome
    assert not (out / "tree").exists() and not (out / "secret.py").exists()


def _chattr_nocow(path: Path) -> None:
    if shutil.which("chattr") is None:
        skip_or_fail("chattr (Debian package e2fsprogs) not installed")
    r = subprocess.run(["chattr", "+C", os.fspath(path)], capture_output=True, text=True)
    if r.returncode != 0:
        skip_or_fail(f"chattr +C {path} failed: {r.stderr.strip()}")


def test_reflinks_into_a_nocow_directory_after_a_cached_probe_are_reported(btrfs, fresh_dir):
    base = fresh_dir(btrfs, "why-nocow-")
    expected = make_tree(base / "src", _spec(64 * KiB))  # btrfs inlines small files
    make_tree(base / "one", {"f.bin": File(random_bytes(80 * KiB, 9))})
    (base / "cow").mkdir()
    (base / "nocow").mkdir()
    _chattr_nocow(base / "nocow")  # new files in it are NOCOW: FICLONE is EINVAL

    _, (cow, tree, single, one_tree) = run_calls(
        [
            (base / "src", base / "cow" / "tree", {}),  # probes and caches "works"
            (base / "src", base / "nocow" / "tree", {}),
            (base / "one" / "f.bin", base / "nocow" / "f.bin", {}),
            (base / "one", base / "nocow" / "one", {}),
        ]
    )

    assert cow["ok"] and cow["reflinked"] == cow["files"], cow
    files = 4
    assert tree["ok"] and tree["copied"] == tree["files"] == files, tree
    _assert_every_file_fell_back(tree, "reflink", errno.EINVAL, files)
    _assert_every_file_fell_back(single, "reflink", errno.EINVAL, 1)
    _same_report(single, one_tree)
    assert_trees_equal(expected, base / "nocow" / "tree")

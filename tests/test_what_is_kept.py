"""What is deliberately not kept (issue 9, item 8, decided and pinned).

Extended attributes of the source (`user.*`, `trusted.*`, `security.*`) and
its POSIX ACLs (access and default) are not copied: a new file or directory
gets only what the destination gives every new entry (its parent's default
ACL, an LSM label), with the exact mode bits of the source. `security.*` is
never written. Source hard links (two names, one inode) become independent
files, except under `methods="hardlink"`, where every destination name is a
link to its own source name, so it *is* the source inode, xattrs and all.

Paths: reflink (XFS -> same XFS), copy (XFS -> btrfs), hardlink (XFS ->
same XFS, `methods="hardlink"`).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import fastlink
import pytest
from faultutil import NOBODY, require_root
from skips import skip_or_fail
from snapshots import assert_trees_equal, snapshot, tree_counts
from treespec import File, make_tree, random_bytes

KiB = 1024
OTHER_UID = 4242

PATHS = {
    # name: (source mount, destination mount, methods, Report counter)
    "reflink": ("xfs", "xfs", None, "reflinked"),
    "copy": ("xfs", "btrfs", None, "copied"),
}
USER_XATTR = "user.fastlink_test"
TRUSTED_XATTR = "trusted.fastlink_test"
SECURITY_XATTR = "security.fastlink_test"
ACL_XATTRS = ("system.posix_acl_access", "system.posix_acl_default")


@pytest.fixture(params=list(PATHS))
def path_kind(request, fresh_dir, monkeypatch):
    """(src base, dst base, methods kwargs, Report counter) for one path."""
    monkeypatch.delenv("FASTLINK_METHODS", raising=False)
    src_kind, dst_kind, methods, counter = PATHS[request.param]
    src_base = fresh_dir(request.getfixturevalue(src_kind), "kept-src-")
    dst_base = fresh_dir(request.getfixturevalue(dst_kind), "kept-dst-")
    kwargs = {} if methods is None else {"methods": methods}
    return src_base, dst_base, kwargs, counter


def _spec() -> dict:
    # >= 64 KiB: the reflink path really clones (btrfs inlines tiny files).
    return {
        "f.bin": File(random_bytes(70 * KiB, 1)),
        "run.sh": File(b"#!/bin/sh\n" + random_bytes(66 * KiB, 2), 0o755),
        "d": {"g.bin": File(random_bytes(65 * KiB, 3), 0o640)},
    }


def _setxattr(path: Path, name: str, value: bytes = b"from the source") -> None:
    try:
        os.setxattr(path, name, value, follow_symlinks=False)
    except OSError as e:
        skip_or_fail(f"cannot set {name} on {path} ({os.strerror(e.errno)})")


def _setfacl(*args: str) -> None:
    if shutil.which("setfacl") is None:
        skip_or_fail("setfacl (Debian package acl) not installed")
    r = subprocess.run(["setfacl", *args], capture_output=True, text=True)
    if r.returncode != 0:
        skip_or_fail(f"setfacl {' '.join(args)} failed: {r.stderr.strip()}")


def _acl_entries(path: Path) -> list[str]:
    """getfacl's entries, numeric ids, comments (#effective) dropped."""
    if shutil.which("getfacl") is None:
        skip_or_fail("getfacl (Debian package acl) not installed")
    r = subprocess.run(
        ["getfacl", "-c", "-n", "-p", os.fspath(path)], capture_output=True, text=True, check=True
    )
    return [ln.split("\t")[0].split("#")[0].strip() for ln in r.stdout.splitlines() if ln.strip()]


def _new_entry_xattrs(parent: Path) -> tuple[set[str], set[str]]:
    """The xattr names the destination gives any new file and directory in
    `parent` (e.g. an LSM label), from a file and a dir made by plain
    open()/mkdir(), removed again."""
    f, d = parent / ".control-file", parent / ".control-dir"
    f.write_bytes(b"")
    d.mkdir()
    try:
        return set(os.listxattr(f)), set(os.listxattr(d))
    finally:
        f.unlink()
        d.rmdir()


def _decorated_source(src: Path) -> dict:
    """The tree, with user.* and trusted.* xattrs and access ACLs on a file
    and a directory, a default ACL on the directory; returns the snapshot
    (taken afterwards: it re-baselines the source guard)."""
    require_root("trusted.* xattrs")
    make_tree(src, _spec())
    for p in (src / "f.bin", src / "d"):
        _setxattr(p, USER_XATTR)
        _setxattr(p, TRUSTED_XATTR)
    _setfacl("-m", f"u:{NOBODY}:r", os.fspath(src / "f.bin"))
    _setfacl("-m", f"u:{NOBODY}:rx", os.fspath(src / "d"))
    _setfacl("-d", "-m", f"u:{NOBODY}:rx", os.fspath(src / "d"))
    assert f"user:{NOBODY}:r--" in _acl_entries(src / "f.bin")
    return snapshot(src)


def test_xattrs_and_acls_of_the_source_are_not_copied(path_kind):
    src_base, dst_base, kwargs, counter = path_kind
    src, dst = src_base / "src", dst_base / "dst"
    expected = _decorated_source(src)
    file_given, dir_given = _new_entry_xattrs(dst_base)

    report = fastlink.clone_or_copy(src, dst, **kwargs)

    assert getattr(report, counter) == report.files == tree_counts(expected)["files"], report
    assert_trees_equal(expected, dst)  # modes exact, although an ACL mask was set
    for rel in ("f.bin", "d", "run.sh", "d/g.bin"):
        d = dst / rel
        given = dir_given if d.is_dir() else file_given
        got = set(os.listxattr(d))
        assert got <= given, f"{rel}: {sorted(got - given)} came from the source"
    for name in (*ACL_XATTRS, USER_XATTR, TRUSTED_XATTR):
        for rel in ("f.bin", "d"):
            with pytest.raises(OSError) as caught:
                os.getxattr(dst / rel, name)
            assert caught.value.errno == errno.ENODATA, f"{rel}: {name}: {caught.value}"
    for rel in ("f.bin", "d"):
        assert not [e for e in _acl_entries(dst / rel) if f"user:{NOBODY}:" in e], rel


def test_security_xattrs_are_never_written(path_kind):
    src_base, dst_base, kwargs, counter = path_kind
    src, dst = src_base / "src", dst_base / "dst"
    require_root("security.* xattrs")
    make_tree(src, _spec())
    for p in (src / "f.bin", src / "run.sh", src / "d"):
        _setxattr(p, SECURITY_XATTR, b"label from the source")
    expected = snapshot(src)
    file_given, dir_given = _new_entry_xattrs(dst_base)

    report = fastlink.clone_or_copy(src, dst, **kwargs)

    assert getattr(report, counter) == report.files, report
    assert_trees_equal(expected, dst)
    for rel in ("f.bin", "run.sh", "d", "d/g.bin"):
        d = dst / rel
        given = dir_given if d.is_dir() else file_given
        security = {n for n in os.listxattr(d) if n.startswith("security.")}
        assert security <= given, f"{rel}: security xattrs written: {sorted(security - given)}"
        assert SECURITY_XATTR not in os.listxattr(d), rel


def test_the_destination_default_acl_applies_not_the_source_acl(path_kind):
    src_base, dst_base, kwargs, counter = path_kind
    src = src_base / "src"
    expected = _decorated_source(src)
    parent = dst_base / "with-default-acl"
    parent.mkdir()
    _setfacl("-d", "-m", f"u:{OTHER_UID}:rwx", os.fspath(parent))
    dst = parent / "dst"

    report = fastlink.clone_or_copy(src, dst, **kwargs)

    assert getattr(report, counter) == report.files, report
    assert_trees_equal(expected, dst)  # mode bits exact under the default ACL (item 2)
    for rel in ("f.bin", "d", "d/g.bin"):
        entries = _acl_entries(dst / rel)
        assert any(e.startswith(f"user:{OTHER_UID}:") for e in entries), (rel, entries)
        # Neither the source's access ACL nor its directory's default ACL.
        assert not any(f"user:{NOBODY}:" in e for e in entries), (rel, entries)


def test_under_methods_hardlink_the_destination_is_the_source_inode_xattrs_included(xfs, fresh_dir):
    base = fresh_dir(xfs, "kept-hardlink-")
    src, dst = base / "src", base / "dst"
    expected = _decorated_source(src)
    _, dir_given = _new_entry_xattrs(base)

    report = fastlink.clone_or_copy(src, dst, methods="hardlink")

    assert report.hardlinked == report.files, report
    assert_trees_equal(expected, dst)
    for rel in ("f.bin", "run.sh", "d/g.bin"):
        s, d = os.stat(src / rel), os.stat(dst / rel)
        assert (d.st_dev, d.st_ino) == (s.st_dev, s.st_ino), f"{rel} is not the source inode"
        assert sorted(os.listxattr(dst / rel)) == sorted(os.listxattr(src / rel))
    # Directories are made, never linked: the source dir's xattrs and ACLs stay behind.
    got = set(os.listxattr(dst / "d"))
    assert got <= dir_given, f"d: {sorted(got - dir_given)} came from the source"


def _hard_link_spec() -> dict:
    return {
        "a.bin": File(random_bytes(80 * KiB, 7)),
        "sub": {"other.bin": File(random_bytes(70 * KiB, 8))},
    }


def _with_source_hard_link(src: Path) -> dict:
    """a.bin and sub/b.bin: two names of one inode."""
    make_tree(src, _hard_link_spec())
    os.link(src / "a.bin", src / "sub" / "b.bin")
    return snapshot(src)


def test_source_hard_links_become_independent_files(path_kind):
    src_base, dst_base, kwargs, counter = path_kind
    src, dst = src_base / "src", dst_base / "dst"
    expected = _with_source_hard_link(src)

    report = fastlink.clone_or_copy(src, dst, **kwargs)

    assert getattr(report, counter) == report.files == 3, report
    assert_trees_equal(expected, dst)
    a, b = os.stat(dst / "a.bin"), os.stat(dst / "sub" / "b.bin")
    assert a.st_ino != b.st_ino, "a source hard link became a hard link in dst"
    assert a.st_nlink == b.st_nlink == 1
    with open(dst / "a.bin", "r+b") as f:
        f.write(b"changed through one name")
    assert (dst / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()


def test_under_methods_hardlink_each_destination_name_links_to_its_source_name(xfs, fresh_dir):
    base = fresh_dir(xfs, "kept-hardlink-names-")
    src, dst = base / "src", base / "dst"
    expected = _with_source_hard_link(src)

    report = fastlink.clone_or_copy(src, dst, methods="hardlink")

    assert report.hardlinked == report.files == 3, report
    assert_trees_equal(expected, dst)
    for rel in ("a.bin", "sub/b.bin", "sub/other.bin"):
        s, d = os.stat(src / rel), os.stat(dst / rel)
        assert (d.st_dev, d.st_ino) == (s.st_dev, s.st_ino), rel

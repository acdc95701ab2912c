"""Errors met while probing or preparing name the caller's paths (issue 9,
item 7): `filename` is src as passed (or an entry inside it), `filename2`
is dst as passed (or the entry inside it that failed) - never a probe file
(`.fastlink-probe-*`), staging or temp name, and never a bare parent
directory.

Read-only destinations: an XFS remounted `ro`, a squashfs and an erofs image
(each with the source on the same read-only filesystem, where the reflink
probe meets EROFS first, and on another filesystem). Unwritable
destinations: a directory that a uid 0 process without CAP_DAC_OVERRIDE may
not write (setpriv), on ext4 (copy path) and on XFS with the source beside
it (reflink probe path).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import fastlink
import pytest
from faultutil import deny_access, outcome_of, run_unprivileged
from fdwalk import make_fresh_dir, remove_tree
from mounts import filesystem, read_only_image, remounted_read_only
from snapshots import snapshot
from treespec import File, make_tree, random_bytes


def _src_spec() -> dict:
    return {
        "top.txt": b"top\n",
        "pkg": {
            "mod.py": b"mod\n",
            "big.bin": File(random_bytes(128 * 1024, 71)),
            "bin": {"run.sh": File(b"#!/bin/sh\n", 0o755)},
        },
    }


def _content_spec() -> dict:
    """What a read-only destination filesystem holds: a source for the
    same-filesystem case and an existing directory to merge into."""
    return {"src": _src_spec(), "existing": {"keep.txt": b"keep\n", "pkg": {"old.py": b"old\n"}}}


def _relative_to_as_passed(name: str, root: str) -> str | None:
    """ "" if name is root exactly as passed, "x/y" if it is root + "/x/y",
    else None (lexically: an absolute path for a relative root is not it)."""
    if name == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return name[len(prefix) :] if name.startswith(prefix) else None


def assert_names_callers_paths(outcome: dict, src: str, dst: str) -> None:
    """outcome: faultutil.outcome_of(...) of the failed call. Both names are
    the caller's paths as passed, or one entry inside them, the same entry
    on both sides (src/x/y with dst/x/y)."""
    filename, filename2 = outcome["filename"], outcome["filename2"]
    assert filename is not None and filename2 is not None, f"paths not set: {outcome}"
    for name in (filename, filename2):
        hidden = [part for part in name.split("/") if part.startswith(".fastlink-")]
        assert not hidden, f"the error names fastlink's own work entry {hidden}: {outcome}"
    rel = _relative_to_as_passed(filename, src)
    rel2 = _relative_to_as_passed(filename2, dst)
    assert rel is not None, f"filename {filename!r} is not src as passed ({src!r}) nor inside it"
    assert rel2 is not None, f"filename2 {filename2!r} is not dst as passed ({dst!r}) nor inside it"
    assert rel == rel2, (
        f"filename {filename!r} and filename2 {filename2!r} name different entries "
        f"(src {src!r}, dst {dst!r})"
    )


SHAPES = {"new": "dst", "new-with-parents": "a/b/dst", "merge": "existing"}


# --------------------------------------------------------------------------
# EROFS
# --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["ro-remounted-xfs", "squashfs", "erofs"])
def read_only_fs(request, tmp_path_factory):
    kind = request.param
    if kind == "ro-remounted-xfs":
        with filesystem("xfs", 32) as mnt:
            make_tree(mnt, _content_spec())
            os.sync()
            with remounted_read_only(mnt):
                yield kind, mnt
    else:
        content = tmp_path_factory.mktemp(f"{kind}-content")
        make_tree(content, _content_spec())
        with read_only_image(kind, content) as mnt:
            yield kind, mnt


@pytest.fixture(scope="module")
def other_fs_src(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("erofs-src") / "src"
    make_tree(src, _src_spec())
    return src


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("src_side", ["same-fs", "other-fs"])
@pytest.mark.parametrize("methods", [None, "copy"], ids=["default-methods", "copy"])
def test_a_read_only_destination_raises_erofs_naming_src_and_dst(
    read_only_fs, other_fs_src, shape, src_side, methods
):
    kind, mnt = read_only_fs
    src = os.fspath(mnt / "src" if src_side == "same-fs" else other_fs_src)
    dst = os.fspath(mnt / SHAPES[shape])
    before = snapshot(mnt)

    outcome = outcome_of(
        fastlink.clone_or_copy, src, dst, methods=methods, dirs_exist_ok=shape == "merge"
    )

    assert not outcome["ok"], f"wrote to a read-only {kind}: {outcome}"
    assert outcome["errno"] == errno.EROFS, outcome
    assert outcome["error"] == "OSError" and "FastlinkError" not in outcome["mro"], outcome
    assert_names_callers_paths(outcome, src, dst)
    assert snapshot(mnt) == before


def test_relative_paths_are_named_as_passed(read_only_fs, monkeypatch):
    _kind, mnt = read_only_fs
    monkeypatch.chdir(mnt)
    outcome = outcome_of(fastlink.clone_or_copy, "src", "new-dst")
    assert not outcome["ok"] and outcome["errno"] == errno.EROFS, outcome
    assert_names_callers_paths(outcome, "src", "new-dst")


# --------------------------------------------------------------------------
# EACCES
# --------------------------------------------------------------------------


@pytest.fixture(params=["rootfs", "xfs"])
def perm_base(request, tmp_path) -> Path:
    """ext4 (src and dst on pytest's tmp dir: copy path after the probe) or
    the session XFS (same fs: the reflink probe meets EACCES first)."""
    if request.param == "rootfs":
        yield tmp_path
        return
    base = make_fresh_dir(request.getfixturevalue("xfs"), "perm-names-")
    try:
        yield base
    finally:
        remove_tree(base)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_an_unwritable_destination_raises_eacces_naming_src_and_dst(perm_base, shape):
    src = perm_base / "src"
    make_tree(src, _src_spec())
    locked = perm_base / "existing"
    make_tree(locked, {"keep.txt": b"keep\n"})
    deny_access(locked, 0o555)
    before = snapshot(locked)
    dst = perm_base / SHAPES[shape] if shape == "merge" else locked / SHAPES[shape]

    outcome = run_unprivileged(src, dst, unwritable=[locked], dirs_exist_ok=shape == "merge")

    assert not outcome["ok"], f"wrote into an unwritable directory: {outcome}"
    assert outcome["errno"] == errno.EACCES and outcome["error"] == "PermissionError", outcome
    assert_names_callers_paths(outcome, os.fspath(src), os.fspath(dst))
    assert snapshot(locked) == before

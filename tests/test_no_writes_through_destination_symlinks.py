"""Nothing is ever written through a symlink that is already in the destination.

Contract (issue 3, guarantees 2 and 3): all creation is relative to
directory fds opened without following symlinks. A pre-existing
`dst/pkg -> /elsewhere` (dangling or not) where the source has a directory
`pkg`:
  * overwrite=False -> FileExistsError, and nothing is written to /elsewhere;
  * overwrite=True  -> the link itself is removed (never followed) and
    replaced by the directory; /elsewhere and the link's target stay as they
    were.

The one symlink that *is* followed is the dst root itself, because the
caller named it: like shutil.copytree(..., dirs_exist_ok=True), merging into
a path that is a symlink to a directory merges into that directory.
"""

from __future__ import annotations

import errno
import os
import stat

import fastlink
import pytest
from fdwalk import fastlink_entries
from guardhooks import guard_source
from snapshots import assert_trees_equal, snapshot, tree_differences
from treespec import File, Symlink, make_tree, random_bytes

SRC_SPEC = {
    "top.txt": b"top",
    "pkg": {
        "__init__.py": b"",
        "mod.py": File(random_bytes(70 * 1024, 21), 0o644),
        "tool": File(b"#!/bin/sh\n", 0o755),
        "sub": {"x.txt": b"x", "link": Symlink("../mod.py")},
    },
}

# Where dst/pkg (or dst/pkg/sub) points, and how.
LINKS = ["absolute", "relative", "dangling", "nested"]


def _setup(base, kind):
    """Build src, an outside dir, and dst with a symlink where src has a dir.

    Returns (src, dst, path of the symlink in dst, stored target, real target).
    """
    src, dst, outside = base / "src", base / "dst", base / "outside"
    make_tree(src, SRC_SPEC)
    os.mkdir(outside)
    os.utime(outside, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    guard_source(outside)  # the guard, too, checks it is untouched at the end
    make_tree(dst, {"keep.txt": b"keep"}, mtime_seed=1000)
    if kind == "absolute":
        link, stored, real = dst / "pkg", os.fsencode(outside), outside
    elif kind == "relative":
        link, stored, real = dst / "pkg", b"../outside", outside
    elif kind == "dangling":
        link, stored, real = dst / "pkg", os.fsencode(base / "nowhere"), base / "nowhere"
    else:  # dst/pkg is a real directory, but dst/pkg/sub is the symlink
        os.mkdir(dst / "pkg")
        link, stored, real = dst / "pkg" / "sub", os.fsencode(outside), outside
    os.symlink(stored, os.fsencode(link))
    return src, dst, link, stored, real


def _assert_outside_untouched(base, kind, real, outside_before):
    assert (
        tree_differences(outside_before, snapshot(base / "outside", identity=True), modes="exact")
        == []
    ), "something was written through the destination's symlink"
    assert os.listdir(base / "outside") == []
    if kind == "dangling":
        assert not os.path.lexists(real), "the dangling link's target was created"


@pytest.mark.parametrize("methods", [None, "copy"], ids=["default-reflink", "copy"])
@pytest.mark.parametrize("kind", LINKS)
def test_symlink_where_source_has_a_dir_is_refused_without_overwrite(xfs, fresh_dir, kind, methods):
    base = fresh_dir(xfs, "dstlink-")
    src, dst, link, stored, real = _setup(base, kind)
    outside_before = snapshot(base / "outside", identity=True)

    with pytest.raises(FileExistsError) as caught:
        fastlink.clone_or_copy(src, dst, dirs_exist_ok=True, methods=methods)

    assert caught.value.errno == errno.EEXIST
    assert os.fsencode(caught.value.filename2 or b"").endswith(
        os.fsencode(link.relative_to(dst))
    ), caught.value
    _assert_outside_untouched(base, kind, real, outside_before)
    assert os.path.islink(link)
    assert os.readlink(os.fsencode(link)) == stored
    # Refused before anything was written.
    assert not os.path.lexists(dst / "top.txt")
    assert fastlink_entries(base) == []


@pytest.mark.parametrize("methods", [None, "copy"], ids=["default-reflink", "copy"])
@pytest.mark.parametrize("kind", LINKS)
def test_overwrite_replaces_the_symlink_with_a_real_directory(xfs, fresh_dir, kind, methods):
    base = fresh_dir(xfs, "dstlink-")
    src, dst, link, _stored, real = _setup(base, kind)
    outside_before = snapshot(base / "outside", identity=True)

    fastlink.clone_or_copy(src, dst, dirs_exist_ok=True, overwrite=True, methods=methods)

    st = os.lstat(link)
    assert stat.S_ISDIR(st.st_mode), "the symlink is still there (or was followed)"
    # The directory that replaced the link is the source's, complete.
    rel = link.relative_to(dst)
    assert_trees_equal(snapshot(src / rel), link)
    assert (dst / "top.txt").read_bytes() == b"top"
    assert (dst / "keep.txt").read_bytes() == b"keep"
    _assert_outside_untouched(base, kind, real, outside_before)
    assert fastlink_entries(base) == []


@pytest.mark.parametrize("methods", [None, "copy"], ids=["default-reflink", "copy"])
def test_symlink_where_source_has_a_file_inside_a_linked_dir_is_not_written(
    xfs, fresh_dir, methods
):
    # dst/pkg -> outside, and outside already has a file named like one in
    # src/pkg: with overwrite=True that file must not be replaced through the
    # link either (the link itself is what gets replaced).
    base = fresh_dir(xfs, "dstlink-")
    src, dst, _link, _stored, _real = _setup(base, "absolute")
    (base / "outside" / "mod.py").write_bytes(b"outside's own mod.py")
    guard_source(base / "outside")
    outside_before = snapshot(base / "outside", identity=True)

    fastlink.clone_or_copy(src, dst, dirs_exist_ok=True, overwrite=True, methods=methods)

    assert stat.S_ISDIR(os.lstat(dst / "pkg").st_mode)
    assert (dst / "pkg" / "mod.py").read_bytes() == (src / "pkg" / "mod.py").read_bytes()
    assert (
        tree_differences(outside_before, snapshot(base / "outside", identity=True), modes="exact")
        == []
    )
    assert (base / "outside" / "mod.py").read_bytes() == b"outside's own mod.py"


def test_dst_root_that_is_a_symlink_to_a_directory_is_followed_when_merging(xfs, fresh_dir):
    # The caller named this path, so its final symlink is followed (as
    # shutil.copytree(..., dirs_exist_ok=True) does): the merge lands in the
    # directory it points to, and the link itself stays a link. Only
    # symlinks found *inside* the destination are never followed.
    base = fresh_dir(xfs, "dstroot-")
    src = base / "src"
    src_snap = make_tree(src, SRC_SPEC)
    make_tree(base / "real-env", {"already.txt": b"already"}, mtime_seed=1000)
    os.symlink("real-env", base / "env-link")

    report = fastlink.clone_or_copy(src, base / "env-link", dirs_exist_ok=True)

    assert os.path.islink(base / "env-link")
    assert os.readlink(base / "env-link") == "real-env"
    real = base / "real-env"
    assert (real / "already.txt").read_bytes() == b"already"
    merged = {k: v for k, v in snapshot(real).items() if k != b"already.txt"}
    assert tree_differences(src_snap, merged, include_root=False) == []
    assert report.files == 5
    assert fastlink_entries(base) == []


def test_dst_root_that_is_a_symlink_is_an_existing_dst_without_dirs_exist_ok(xfs, fresh_dir):
    base = fresh_dir(xfs, "dstroot-")
    src = base / "src"
    make_tree(src, SRC_SPEC)
    os.mkdir(base / "real-env")
    os.symlink("real-env", base / "env-link")

    with pytest.raises(FileExistsError):
        fastlink.clone_or_copy(src, base / "env-link")

    assert os.listdir(base / "real-env") == []
    assert os.readlink(base / "env-link") == "real-env"

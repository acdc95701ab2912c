"""fastlink on the mounts installers meet in the field (issue 9, "What must
show"): XFS without reflink, squashfs and erofs images as read-only sources,
bindfs as source and destination, exfat-fuse as a destination (no symlinks,
no permission bits), faults injected by tests/faultfs.py (EIO on read and on
write at a chosen offset), a btrfs qgroup limit (EDQUOT) and overlayfs as
source and destination.

(squashfs/erofs as destinations, EROFS naming the caller's paths, are in
test_errors_name_the_callers_paths.py.)
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import fastlink
import pytest
from fdwalk import ROOT_KEY, fastlink_entries, make_fresh_dir, remove_tree
from mounts import (
    bindfs,
    btrfs_qgroup_limited,
    exfat_fuse,
    faultfs,
    filesystem,
    overlay,
    read_only_image,
)
from snapshots import assert_trees_equal, snapshot, tree_counts, tree_differences
from treespec import File, Symlink, make_tree, random_bytes

MiB = 1 << 20


def _spec() -> dict:
    """Files of several sizes and modes, nesting, symlinks (FUSE sources
    need UTF-8 names: fusepy decodes paths)."""
    return {
        "big.bin": File(random_bytes(3 * MiB + 17, 201)),
        "bin": {"run.sh": File(b"#!/bin/sh\necho run\n", 0o755)},
        "pkg": {
            "__init__.py": b"",
            "mod.py": File(random_bytes(70_000, 202), 0o644),
            "data": {"table.csv": File(random_bytes(200_000, 203), 0o600)},
            "link-up": Symlink("../big.bin"),
        },
        "readonly": {"inside.txt": File(b"ro\n", 0o444)},
        "dangling": Symlink("no/such/file"),
    }


def _no_symlinks(spec: dict) -> dict:
    return {
        k: (_no_symlinks(v) if isinstance(v, dict) else v)
        for k, v in spec.items()
        if not isinstance(v, Symlink)
    }


def _assert_merged(expected: dict, dst: Path, *, existing_dirs=(), kept=()) -> None:
    """A merge into dst: every entry of the source is exact in dst (directories
    that already existed keep their own mode and times), and the pre-existing
    entries in `kept` are still there."""
    got = snapshot(dst)
    skip = {ROOT_KEY, *(os.fsencode(d) for d in existing_dirs)}
    for name in kept:
        assert got.pop(os.fsencode(name), None) is not None, f"{name} is gone"
    for d in skip - {ROOT_KEY}:
        assert got[d]["type"] == expected[d]["type"] == "dir"
    created = {k: v for k, v in expected.items() if k not in skip}
    assert tree_differences(created, {k: v for k, v in got.items() if k not in skip}) == []


def _expect_oserror(fn, *args, **kwargs) -> OSError:
    try:
        report = fn(*args, **kwargs)
    except OSError as e:
        return e
    raise AssertionError(f"the call succeeded: {report}")


# --------------------------------------------------------------------------
# XFS made with reflink=0
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xfs_noreflink():
    # XFS made with `-m reflink=0`: FICLONE is EOPNOTSUPP (320 MiB sparse).
    with filesystem("xfs-noreflink", 320) as mnt:
        yield mnt


def test_xfs_without_reflink_copies_and_reports_the_skipped_reflink(xfs_noreflink):
    base = make_fresh_dir(xfs_noreflink, "noreflink-")
    try:
        expected = make_tree(base / "src", _spec())
        report = fastlink.clone_or_copy(base / "src", base / "dst")
        assert report.method == "copy", report
        assert report.copied == tree_counts(expected)["files"] and report.reflinked == 0, report
        assert [(m, e) for m, e, _ in report.skipped] == [("reflink", errno.EOPNOTSUPP)], report
        assert_trees_equal(expected, base / "dst")
    finally:
        remove_tree(base)


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
def test_xfs_without_reflink_refuses_a_strict_reflink_before_writing(xfs_noreflink, merge):
    base = make_fresh_dir(xfs_noreflink, "noreflink-strict-")
    try:
        make_tree(base / "src", _spec())
        dst = base / "dst"
        if merge:
            make_tree(dst, {"keep.txt": b"keep\n", "pkg": {"old.py": b"old\n"}})
        before = snapshot(base)
        with pytest.raises(fastlink.ReflinkUnsupportedError) as caught:
            fastlink.clone_or_copy(base / "src", dst, methods="reflink", dirs_exist_ok=merge)
        assert caught.value.errno == errno.EOPNOTSUPP
        assert caught.value.filename and caught.value.filename2
        assert_trees_equal(before, base, modes="exact", dir_times=False, what="the filesystem")
        assert fastlink_entries(base) == []
    finally:
        remove_tree(base)


# --------------------------------------------------------------------------
# squashfs and erofs images as read-only sources
# --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["squashfs", "erofs"])
def image_src(request, tmp_path_factory):
    content = tmp_path_factory.mktemp(f"{request.param}-content") / "tree"
    make_tree(content, _spec())
    with read_only_image(request.param, content) as mnt:
        yield mnt


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
def test_a_read_only_image_is_copied_exactly_as_it_reads(image_src, xfs, fresh_dir, merge):
    expected = snapshot(image_src)  # what the image holds (squashfs: whole-second mtimes)
    dst = fresh_dir(xfs, "from-image-") / "dst"
    if merge:
        dst.mkdir()
    report = fastlink.clone_or_copy(image_src, dst, dirs_exist_ok=merge)
    assert report.method == "copy", report
    assert report.files == tree_counts(expected)["files"], report
    assert_trees_equal(expected, dst, include_root=not merge)


# --------------------------------------------------------------------------
# bindfs
# --------------------------------------------------------------------------


def test_bindfs_as_source_is_copied_exactly(tmp_path, xfs, fresh_dir):
    make_tree(tmp_path / "tree", _spec())
    with bindfs(tmp_path / "tree") as src:
        expected = snapshot(src)
        dst = fresh_dir(xfs, "from-bindfs-") / "dst"
        report = fastlink.clone_or_copy(src, dst)
        assert report.files == tree_counts(expected)["files"], report
        assert_trees_equal(expected, dst)


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge-overwrite"])
def test_bindfs_as_destination_gets_the_exact_tree(tmp_path, xfs, fresh_dir, merge):
    src = fresh_dir(xfs, "to-bindfs-") / "src"
    expected = make_tree(src, _spec())
    backing = tmp_path / "backing"
    backing.mkdir()
    with bindfs(backing) as mnt:
        dst = mnt / "site" / "pkg-root"
        if merge:
            make_tree(dst, {"keep.txt": b"keep\n", "bin": {"run.sh": b"old\n"}})
        report = fastlink.clone_or_copy(src, dst, dirs_exist_ok=merge, overwrite=merge)
        assert report.files == tree_counts(expected)["files"], report
        if merge:
            _assert_merged(expected, dst, existing_dirs=["bin"], kept=["keep.txt"])
        else:
            assert_trees_equal(expected, dst)
    assert fastlink_entries(backing) == []
    if not merge:  # the same tree reached the directory under bindfs
        assert_trees_equal(expected, backing / "site" / "pkg-root")


# --------------------------------------------------------------------------
# exfat-fuse: no symlinks, no permission bits
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exfat():
    with exfat_fuse() as mnt:
        yield mnt


# Names, types and bytes only: exFAT keeps no modes, and mtimes only to 10 ms.
EXFAT_KEEPS = {"modes": "ignore", "times": False}


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
def test_exfat_fuse_destination_keeps_the_data_of_a_tree_without_symlinks(
    exfat, xfs, fresh_dir, merge
):
    src = fresh_dir(xfs, "to-exfat-") / "src"
    expected = make_tree(src, _no_symlinks(_spec()))
    dst = make_fresh_dir(exfat, "t-") / "dst"
    try:
        if merge:
            make_tree(dst, {"keep.txt": b"keep\n"})
        report = fastlink.clone_or_copy(src, dst, dirs_exist_ok=merge)
        assert report.files == tree_counts(expected)["files"], report
        # exfat-fuse accepts a chmod and keeps nothing: said, not silent
        # (FUSE is told by its statfs magic, by the Linux backend).
        if fastlink._fastlink._platform_backend == "linux":
            made = report.files + tree_counts(expected)["dirs"] - (1 if merge else 0)
            modes = [u for u in report.unsupported_metadata if u[0] == "mode"]
            assert [(k, e, n) for k, e, n, _ in modes] == [("mode", errno.EOPNOTSUPP, made)]
        got = snapshot(dst)
        if merge:
            assert got.pop(b"keep.txt")["type"] == "file"
        assert_trees_equal(expected, got, **EXFAT_KEEPS)
        assert fastlink_entries(exfat) == []
    finally:
        remove_tree(dst.parent)


# What exFAT cannot store: a symlink (exfat-fuse: symlink(2) is ENOSYS) and
# a mode bit beyond rwxrwxrwx (exfat-fuse: chmod with the sticky bit is EPERM;
# the plain rwx bits are accepted and ignored: everything reads back 0777).
UNSTORABLE = {"symlink": Symlink("b.txt"), "sticky-file": File(b"sticky\n", 0o1644)}


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
@pytest.mark.parametrize("odd", list(UNSTORABLE))
def test_exfat_fuse_destination_either_stores_the_odd_entry_or_names_it(
    exfat, xfs, fresh_dir, odd, merge
):
    """Either the call succeeds with the data intact, or it raises an OSError
    naming the entry exFAT cannot store (sub/odd) on both sides, and leaves
    the destination as it was."""
    src = fresh_dir(xfs, "to-exfat-odd-") / "src"
    expected = make_tree(src, {"a.txt": b"a\n", "sub": {"b.txt": b"b\n", "odd": UNSTORABLE[odd]}})
    parent = make_fresh_dir(exfat, "t-")
    dst = parent / "dst"
    try:
        if merge:
            make_tree(dst, {"keep.txt": b"keep\n"})
        before = snapshot(parent)
        try:
            fastlink.clone_or_copy(src, dst, dirs_exist_ok=merge)
        except OSError as e:
            assert e.filename == os.fspath(src / "sub" / "odd"), e
            assert os.fsdecode(e.filename2).endswith("odd"), e
            assert os.fsdecode(e.filename2).startswith(os.fspath(parent) + "/"), e
            assert_trees_equal(before, parent, modes="exact", dir_times=False, what="the exFAT dir")
        else:
            got = snapshot(dst)
            if merge:
                got.pop(b"keep.txt")
            if odd == "symlink":
                assert got[b"sub/odd"].get("target") == b"b.txt", got[b"sub/odd"]
            assert_trees_equal(expected, got, **EXFAT_KEEPS)
        assert fastlink_entries(exfat) == []
    finally:
        remove_tree(parent)


# --------------------------------------------------------------------------
# faultfs: EIO on read and on write at a chosen offset
# --------------------------------------------------------------------------

FAULT_OFFSET_READ = 3 * MiB + 5
FAULT_OFFSET_WRITE = 2 * MiB + 7


def _fault_spec() -> dict:
    return {
        "big.bin": File(random_bytes(4 * MiB, 301)),
        "pkg": {f"m{i}.py": File(random_bytes(20_000, 310 + i)) for i in range(8)},
        "top.txt": b"top\n",
    }


def _assert_names_file(err: OSError, src_file: Path, dst_side: Path) -> None:
    assert err.filename == os.fspath(src_file), f"filename does not name the file: {err!r}"
    name2 = os.fsdecode(err.filename2 or "")
    assert name2.startswith(os.fspath(dst_side) + "/"), f"filename2 not under {dst_side}: {err!r}"
    assert name2.endswith(src_file.name), f"filename2 does not name the file: {err!r}"


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
def test_eio_reading_a_source_file_is_raised_naming_it_and_rolls_back(
    tmp_path, xfs, fresh_dir, merge
):
    backing = tmp_path / "backing"
    make_tree(backing, _fault_spec())
    base = fresh_dir(xfs, "eio-read-")
    dst = base / "dst" if merge else base / "out" / "dst"
    if merge:
        make_tree(dst, {"keep.txt": b"keep\n", "pkg": {"old.py": b"old\n"}})
    before = snapshot(base)
    with faultfs(backing, read_eio=[("big.bin", FAULT_OFFSET_READ)]) as fs:
        err = _expect_oserror(fastlink.clone_or_copy, fs.path, dst, dirs_exist_ok=merge)
        assert err.errno == errno.EIO, err
        assert type(err) is OSError, f"EIO must be a plain OSError, got {type(err).__name__}"
        _assert_names_file(err, fs.path / "big.bin", dst if merge else base)
    assert_trees_equal(before, base, modes="exact", dir_times=False, what="the destination side")
    assert fastlink_entries(base) == []


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
def test_eio_writing_a_destination_file_is_raised_naming_it_and_rolls_back(
    tmp_path, xfs, fresh_dir, merge
):
    src = fresh_dir(xfs, "eio-write-") / "src"
    make_tree(src, _fault_spec())
    backing = tmp_path / "backing"
    backing.mkdir()
    with faultfs(backing, write_eio=[("big.bin", FAULT_OFFSET_WRITE)]) as fs:
        dst = fs.path / "dst" if merge else fs.path / "out" / "dst"
        if merge:
            make_tree(dst, {"keep.txt": b"keep\n", "pkg": {"old.py": b"old\n"}})
        before = snapshot(fs.path)
        err = _expect_oserror(fastlink.clone_or_copy, src, dst, dirs_exist_ok=merge)
        assert err.errno == errno.EIO, err
        assert type(err) is OSError, f"EIO must be a plain OSError, got {type(err).__name__}"
        _assert_names_file(err, src / "big.bin", dst if merge else fs.path)
        assert_trees_equal(
            before, fs.path, modes="exact", dir_times=False, what="the faultfs mount"
        )
    assert fastlink_entries(backing) == []


# --------------------------------------------------------------------------
# btrfs qgroup limit: EDQUOT
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quota_subvol():
    with btrfs_qgroup_limited(8) as subvol:
        yield subvol


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
def test_a_qgroup_limit_raises_edquot_and_leaves_nothing(quota_subvol, xfs, fresh_dir, merge):
    src = fresh_dir(xfs, "edquot-") / "src"
    make_tree(
        src,
        {
            f"d{d}": {f"f{i}.bin": File(random_bytes(MiB, 400 + 10 * d + i)) for i in range(4)}
            for d in range(6)
        },
    )
    parent = make_fresh_dir(quota_subvol, "t-")
    try:
        dst = parent / "dst" if merge else parent / "missing" / "dst"
        if merge:
            make_tree(dst, {"keep.txt": b"keep\n", "d0": {"old.bin": b"old\n"}})
        before = snapshot(parent)
        err = _expect_oserror(fastlink.clone_or_copy, src, dst, dirs_exist_ok=merge)
        assert err.errno == errno.EDQUOT, err
        assert type(err) is OSError, f"EDQUOT must be a plain OSError, got {type(err).__name__}"
        assert err.filename and err.filename2, err
        assert_trees_equal(
            before, parent, modes="exact", dir_times=False, what="the quota subvolume"
        )
        assert fastlink_entries(quota_subvol) == []
    finally:
        remove_tree(parent)


# --------------------------------------------------------------------------
# overlayfs
# --------------------------------------------------------------------------


@pytest.fixture
def overlay_src(tmp_path, xfs, fresh_dir):
    """Lower dir on ext4, upper on XFS; changed through the overlay (a file
    copied up and rewritten, a new file and dir, a whiteout)."""
    lower = tmp_path / "lower"
    make_tree(lower, _spec())
    with overlay(lower, fresh_dir(xfs, "ovl-upper-")) as mnt:
        (mnt / "pkg" / "mod.py").write_bytes(random_bytes(90_000, 501))
        (mnt / "upper-only.txt").write_bytes(b"upper\n")
        (mnt / "newdir").mkdir()
        (mnt / "newdir" / "n.bin").write_bytes(random_bytes(70_000, 502))
        os.unlink(mnt / "readonly" / "inside.txt")
        yield mnt


def test_overlayfs_as_source_copies_the_merged_view(overlay_src, xfs, fresh_dir):
    expected = snapshot(overlay_src)
    assert b"readonly/inside.txt" not in expected and b"upper-only.txt" in expected
    dst = fresh_dir(xfs, "from-ovl-") / "dst"
    report = fastlink.clone_or_copy(overlay_src, dst)
    assert report.files == tree_counts(expected)["files"], report
    assert_trees_equal(expected, dst)


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge-overwrite"])
def test_overlayfs_as_destination_gets_the_exact_tree(tmp_path, xfs, fresh_dir, merge):
    src = fresh_dir(xfs, "to-ovl-") / "src"
    expected = make_tree(src, _spec())
    lower = tmp_path / "lower"
    make_tree(lower, {"site": {"keep.txt": b"keep\n", "pkg": {"mod.py": b"lower's old mod\n"}}})
    lower_before = snapshot(lower)
    with overlay(lower, fresh_dir(xfs, "ovl-upper-")) as mnt:
        dst = mnt / "site" if merge else mnt / "new" / "dst"
        report = fastlink.clone_or_copy(src, dst, dirs_exist_ok=merge, overwrite=merge)
        assert report.files == tree_counts(expected)["files"], report
        if merge:
            _assert_merged(expected, dst, existing_dirs=["pkg"], kept=["keep.txt"])
        else:
            assert_trees_equal(expected, dst)
        assert fastlink_entries(mnt) == []
    assert snapshot(lower) == lower_before, "the overlay's lower dir changed"

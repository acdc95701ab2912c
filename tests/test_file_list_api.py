"""clone_files(src_root, dst_root, files): what an installer that knows its
files (a wheel's RECORD, conda's paths.json) calls (issue 11, item 3).

The listed files and symlinks come out as a copy of just those, with the
directories on the way made as in the source; dst_root is created or merged
into. It is a tree call in everything else: one probe per pair of
filesystems, a parallel fill, all-or-nothing, the same report and typed
errors naming the caller's paths.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import fastlink
import pytest
from fdwalk import ROOT_KEY
from fiemap import is_fully_shared
from snapshots import assert_trees_equal, snapshot, tree_differences
from syscalls import traced
from treespec import File, Symlink, make_tree, random_bytes


def wheel_spec() -> dict:
    """An unpacked wheel in an installer's cache: nested packages, a native
    module, an exec script, a symlink, a read-only directory, its
    dist-info, and files no RECORD lists (left behind by the cache)."""
    return {
        "pkg": {
            "__init__.py": b"from .core import run\n",
            "core.py": File(random_bytes(96 * 1024, 1)),
            "_native.so": File(random_bytes(128 * 1024, 2), 0o755),
            "alias.py": Symlink("core.py"),
            "sub": {
                "__init__.py": b"",
                "data.bin": File(random_bytes(70_000, 3), 0o640),
                "deep": {"leaf.py": b"leaf = 1\n"},
            },
            "templates": File(b"not a dir here\n"),
            "readonly": {"schema.json": File(b"{}\n", 0o444)},
            "unlisted.pyc": b"cache junk",
        },
        "pkg-1.0.dist-info": {
            "METADATA": b"Name: pkg\nVersion: 1.0\n",
            "WHEEL": b"Wheel-Version: 1.0\n",
            "RECORD": b"",
        },
        "bin": {"pkg-cli": File(b"#!/usr/bin/python3\nimport pkg\npkg.run()\n", 0o755)},
        "extra": {"not-listed.py": b""},
    }


RECORD = [
    "pkg/__init__.py",
    "pkg/core.py",
    "pkg/_native.so",
    "pkg/alias.py",
    "pkg/sub/__init__.py",
    "pkg/sub/data.bin",
    "pkg/sub/deep/leaf.py",
    "pkg/templates",
    "pkg/readonly/schema.json",
    "pkg-1.0.dist-info/METADATA",
    "pkg-1.0.dist-info/WHEEL",
    "pkg-1.0.dist-info/RECORD",
    "bin/pkg-cli",
]


def make_wheel(root: Path) -> dict[bytes, dict]:
    make_tree(root, wheel_spec())
    os.chmod(root / "pkg" / "readonly", 0o555)
    return snapshot(root)


def listed_part(snap: dict[bytes, dict], files: list[str]) -> dict[bytes, dict]:
    """What copying just `files` makes: them, and every directory on their way."""
    keep = {ROOT_KEY}
    for rel in map(os.fsencode, files):
        keep.add(rel)
        parent = os.path.dirname(rel)
        while parent:
            keep.add(parent)
            parent = os.path.dirname(parent)
    return {k: v for k, v in snap.items() if k in keep}


@pytest.fixture
def wheel(xfs, fresh_dir):
    """(cache base, src root, its snapshot) on XFS."""
    base = fresh_dir(xfs)
    return base, base / "cache" / "pkg-1.0", make_wheel(base / "cache" / "pkg-1.0")


def test_the_listed_files_come_out_as_a_copy_of_just_those(wheel):
    base, src, snap = wheel
    dst = base / "venv" / "site-packages"
    report = fastlink.clone_files(src, dst, RECORD)
    expected = listed_part(snap, RECORD)
    assert_trees_equal(expected, dst)
    assert (report.files, report.symlinks) == (12, 1)
    assert report.dirs == sum(v["type"] == "dir" for v in expected.values())
    assert report.method == "reflink" and report.reflinked == 12
    assert report.bytes == sum(v.get("size", 0) for v in expected.values())
    for big in ("pkg/core.py", "pkg/_native.so", "pkg/sub/data.bin"):
        assert is_fully_shared(dst / big), big


def _site_with_other_packages(site: Path) -> None:
    make_tree(
        site,
        {
            "other": {"__init__.py": b"o = 1\n", "big.bin": File(random_bytes(65_536, 9))},
            "other-2.0.dist-info": {"RECORD": b"other/__init__.py,,\n"},
            "bin": {"other-cli": File(b"#!/bin/sh\n", 0o755)},
        },
    )


def test_a_merge_into_site_packages_leaves_the_other_packages_untouched(wheel):
    base, src, snap = wheel
    site = base / "venv" / "site-packages"
    _site_with_other_packages(site)
    before = snapshot(site, identity=True)
    fastlink.clone_files(src, site, RECORD)
    after = snapshot(site, identity=True)
    others = {k: v for k, v in before.items() if k != ROOT_KEY and k != b"bin"}
    assert tree_differences(others, {k: after[k] for k in others if k in after}) == []
    assert after[b"bin"]["ino"] == before[b"bin"]["ino"], "bin/ was replaced, not merged"
    mine = {k: v for k, v in snapshot(site).items() if k not in before or k == ROOT_KEY}
    assert_trees_equal(
        {k: v for k, v in listed_part(snap, RECORD).items() if k != b"bin"},
        mine,
        include_root=False,
    )


def test_a_conflict_is_file_exists_and_nothing_is_written(wheel):
    base, src, _ = wheel
    site = base / "site"
    make_tree(site, {"pkg": {"core.py": b"version 0.9\n"}})
    before = snapshot(site, identity=True)
    with pytest.raises(FileExistsError) as raised:
        fastlink.clone_files(src, site, RECORD)
    assert raised.value.filename == os.path.join(src, "pkg/core.py")
    assert raised.value.filename2 == os.path.join(site, "pkg/core.py")
    # Byte for byte, inode for inode, directory mtimes included.
    assert snapshot(site, identity=True) == before


def test_overwrite_replaces_the_listed_files_by_rename(wheel):
    base, src, snap = wheel
    site = base / "site"
    make_tree(site, {"pkg": {"core.py": b"version 0.9\n", "mine.py": b"kept\n"}})
    os.link(site / "pkg" / "core.py", base / "elsewhere.py")
    fastlink.clone_files(src, site, RECORD, overwrite=True)
    assert_trees_equal(
        {k: v for k, v in listed_part(snap, RECORD).items() if k not in (ROOT_KEY, b"pkg")},
        {k: v for k, v in snapshot(site).items() if k not in (ROOT_KEY, b"pkg", b"pkg/mine.py")},
    )
    assert (site / "pkg" / "mine.py").read_bytes() == b"kept\n"
    assert (base / "elsewhere.py").read_bytes() == b"version 0.9\n"


BAD_PATHS = ["../escape.py", "./pkg/core.py", "/etc/passwd", "pkg/", "", "pkg//core.py",
             ".", "pkg/./core.py", "pkg/../pkg/core.py", "..", "pkg/.."]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_a_path_that_is_not_plain_names_below_the_root_is_a_value_error(wheel, bad):
    base, src, _ = wheel
    with pytest.raises(ValueError) as raised:
        fastlink.clone_files(src, base / "dst", ["pkg/__init__.py", bad])
    assert repr(bad)[1:-1] in str(raised.value), str(raised.value)
    assert not os.path.lexists(base / "dst")


def test_files_must_be_an_iterable_of_paths(wheel):
    base, src, _ = wheel
    for not_a_list in ("pkg/core.py", b"pkg/core.py", 3):
        with pytest.raises(TypeError):
            fastlink.clone_files(src, base / "dst", not_a_list)
    assert not os.path.lexists(base / "dst")


def _symlinked_dirs(src: Path) -> None:
    os.symlink("pkg", src / "pkg-link")  # to a real directory
    os.symlink("nowhere", src / "dangling")


# listed path -> (error, the entry it names)
WRONG_ENTRIES = {
    "pkg/sub": (IsADirectoryError, "pkg/sub"),
    "pkg-link/core.py": (NotADirectoryError, "pkg-link"),
    "dangling/core.py": (NotADirectoryError, "dangling"),
    "pkg/core.py/x": (NotADirectoryError, "pkg/core.py"),
    "pkg/missing.py": (FileNotFoundError, "pkg/missing.py"),
    "missing/core.py": (FileNotFoundError, "missing"),
}


@pytest.mark.parametrize("listed", list(WRONG_ENTRIES))
@pytest.mark.parametrize("dst_exists", [False, True], ids=["new-dst", "merge"])
def test_a_wrong_entry_is_a_typed_error_naming_it_and_nothing_is_written(
    xfs, fresh_dir, listed, dst_exists
):
    base = fresh_dir(xfs)
    src = base / "cache" / "pkg-1.0"
    make_tree(src, wheel_spec())
    _symlinked_dirs(src)
    dst = base / "site"
    if dst_exists:
        _site_with_other_packages(dst)
    before = snapshot(dst, identity=True) if dst_exists else None
    error, names = WRONG_ENTRIES[listed]
    with pytest.raises(error) as raised:
        fastlink.clone_files(src, dst, [*RECORD, listed])
    assert raised.value.filename == os.path.join(src, names), raised.value
    assert raised.value.filename2 == os.path.join(dst, names), raised.value
    if dst_exists:
        assert snapshot(dst, identity=True) == before
    else:
        assert not os.path.lexists(dst)


def test_copies_across_filesystems_and_says_why(xfs, btrfs, fresh_dir):
    base = fresh_dir(xfs)
    src = base / "pkg-1.0"
    snap = make_wheel(src)
    dst_base = fresh_dir(btrfs)
    report = fastlink.clone_files(src, dst_base / "site", RECORD)
    tree_report = fastlink.clone_or_copy(src, dst_base / "tree")
    assert report.method == "copy" and report.copied == 12
    assert [(m, e) for m, e, _ in report.skipped] == [("reflink", errno.EXDEV)]
    assert report.skipped == tree_report.skipped
    assert_trees_equal(listed_part(snap, RECORD), dst_base / "site")
    assert not is_fully_shared(dst_base / "site" / "pkg" / "core.py")


PROBE_CHILD = """
import sys, fastlink
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
files = [f"pkg/f{i:03d}.py" for i in range(n)]
mark("first")
fastlink.clone_files(src, f"{dst}/a", files)
mark("second")
fastlink.clone_files(src, f"{dst}/b", files)
mark("end")
"""


@pytest.mark.parametrize("pair", ["xfs-to-xfs", "xfs-to-btrfs"])
def test_the_pair_is_probed_once_whatever_the_number_of_files(request, fresh_dir, pair):
    src_kind, dst_kind = pair.split("-to-")
    base = fresh_dir(request.getfixturevalue(src_kind))
    make_tree(base / "src", {"pkg": {f"f{i:03d}.py": f"n = {i}\n".encode() for i in range(200)}})
    clones: dict[int, tuple[int, int]] = {}
    for n in (10, 200):
        dst = fresh_dir(request.getfixturevalue(dst_kind))
        trace = traced(PROBE_CHILD, os.fspath(base / "src"), os.fspath(dst), str(n))
        counts = [len(trace.matching(s, "FICLONE")) for s in ("first", "second")]
        # A clone per file where the pair can, plus the probe's in the first call.
        per_file = n if src_kind == dst_kind else 0
        clones[n] = (counts[0] - per_file, counts[1] - per_file)
    assert clones[10] == clones[200], f"probe clones beyond one per file: {clones}"
    first, second = clones[10]
    assert first <= 2 and second == 0, f"probe clones beyond one per file: {clones}"


@pytest.mark.parametrize("threads", [2, 8])
def test_files_in_parallel_come_out_as_in_sequence(xfs, fresh_dir, threads):
    base = fresh_dir(xfs)
    spec: dict = {}
    for d in range(40):
        spec[f"pkg{d:02d}"] = {
            f"m{i:03d}.py": File(random_bytes(100 + i, 1000 * d + i)) for i in range(50)
        }
    spec["pkg00"]["ro"] = {"x.txt": File(b"x", 0o444)}
    make_tree(base / "src", spec)
    os.chmod(base / "src" / "pkg00" / "ro", 0o555)
    files = [f"pkg{d:02d}/m{i:03d}.py" for d in range(40) for i in range(0, 50, 2)]
    files.append("pkg00/ro/x.txt")
    sequential = fastlink.clone_files(base / "src", base / "one", files, threads=1)
    parallel = fastlink.clone_files(base / "src", base / "many", files, threads=threads)
    assert_trees_equal(base / "one", base / "many")
    assert_trees_equal(listed_part(snapshot(base / "src"), files), base / "many")
    fields = ("method", "files", "dirs", "symlinks", "bytes", "reflinked", "skipped")
    assert [getattr(parallel, f) for f in fields] == [getattr(sequential, f) for f in fields]

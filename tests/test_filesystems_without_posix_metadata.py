"""A destination that stores no POSIX metadata (issue 16, item 5): FAT,
served by fusefat (FUSE). It answers chmod and symlink(2) with ENOSYS,
link(2) with EPERM and O_TMPFILE with EOPNOTSUPP; it keeps times.

What `cp -a` does there, fastlink does too: the data is placed, and what
the filesystem cannot store is said, not raised: `report.unsupported_metadata`
lists each kind of metadata (mode, times) left unset, with the errno and how
many entries. A symlink it cannot hold is a typed error naming the link, and
no call leaves a `.fastlink-*` entry behind, whatever its outcome. Real
errors (a full volume) are still raised.

fusefat 0.1a loses the contents of a directory renamed with anything in it
(`mv d d2` leaves d2 empty). fastlink builds a new directory under a staging
name and renames it in, so where a probe shows such a filesystem (once per
device, only on FUSE), it builds new directories under their final names
instead: a new tree, and new subdirectories of a merge, arrive whole, and a
failed call still takes back everything it made.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fastlink
import pytest
from fdwalk import fastlink_entries, make_fresh_dir, remove_tree
from mounts import fusefat
from snapshots import assert_trees_equal, snapshot, tree_counts
from treespec import File, Symlink, make_tree, random_bytes

KiB = 1024
# FAT keeps names, types and bytes; no modes, and mtimes to 2 s.
FAT_KEEPS = {"modes": "ignore", "times": False}
UNSUPPORTED = {errno.ENOSYS, errno.EOPNOTSUPP}


@pytest.fixture(scope="module")
def fat() -> Iterator[Path]:
    with fusefat() as mnt:
        yield mnt


@pytest.fixture
def fat_dir(fat) -> Iterator[Path]:
    """A fresh directory on the FAT mount, removed after the test."""
    d = make_fresh_dir(fat, "t-")
    try:
        yield d
    finally:
        remove_tree(d)
        assert fastlink_entries(fat) == [], "a .fastlink-* entry outlived its call"


def _spec() -> dict:
    return {
        "empty.txt": b"",
        "run.sh": File(b"#!/bin/sh\necho run\n", 0o755),
        "mod.py": File(random_bytes(70 * KiB, 1), 0o644),
        "table.csv": File(random_bytes(200 * KiB, 2), 0o600),
        "inside.txt": File(b"ro\n", 0o444),
    }


def _put(root: Path, files: dict[str, bytes]) -> None:
    """Create `root` and plain files in it on FAT, which refuses the chmod
    that make_tree makes."""
    root.mkdir()
    for name, content in files.items():
        (root / name).write_bytes(content)


def _unsupported(report) -> dict[str, tuple[int, int, str]]:
    entries = getattr(report, "unsupported_metadata", None)
    assert isinstance(entries, tuple), f"Report has no unsupported_metadata tuple: {report!r}"
    by_kind = {}
    for entry in entries:
        kind, errno_, count, message = entry
        assert kind not in by_kind, f"{kind} listed twice: {entries}"
        by_kind[kind] = (errno_, count, message)
    return by_kind


def test_files_land_on_fat_and_the_modes_it_cannot_store_are_reported(fat, fat_dir, tmp_path):
    src = tmp_path / "src"
    expected = make_tree(src, _spec())
    dst = fat_dir / "dst"
    _put(dst, {"keep.txt": b"keep\n"})

    report = fastlink.clone_or_copy(src, dst, dirs_exist_ok=True)

    got = snapshot(dst)
    assert got.pop(b"keep.txt")["type"] == "file"
    assert_trees_equal(expected, got, **FAT_KEEPS)
    assert report.files == report.copied == tree_counts(expected)["files"], report
    unsupported = _unsupported(report)
    assert set(unsupported) == {"mode"}, f"only modes go unstored on FAT: {report!r}"
    errno_, count, message = unsupported["mode"]
    assert (errno_, count) == (errno.ENOSYS, report.files), report
    assert "mode" in message and "ENOSYS" in message, message


def test_a_new_directory_on_fat_is_made_and_its_mode_reported(fat, fat_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir(mode=0o750)

    report = fastlink.clone_or_copy(src, fat_dir / "dst")

    assert (fat_dir / "dst").is_dir()
    assert (report.files, report.dirs) == (0, 1), report
    assert _unsupported(report) == {"mode": (errno.ENOSYS, 1, _unsupported(report)["mode"][2])}


def _nested_spec() -> dict:
    return {
        "top.txt": File(random_bytes(9 * KiB, 6)),
        "pkg": {
            "__init__.py": b"",
            "mod.py": File(random_bytes(40 * KiB, 7)),
            "sub": {"deep.bin": File(random_bytes(70 * KiB, 8)), "empty": {}},
        },
        "data": {"x.csv": File(random_bytes(3 * KiB, 9))},
    }


@pytest.mark.linux_backend  # FUSE is told by its statfs magic, on Linux only
def test_a_new_tree_with_subdirectories_arrives_whole_on_fat(fat, fat_dir, tmp_path):
    """The rename of a staged directory would arrive empty on fusefat."""
    src = tmp_path / "src"
    expected = make_tree(src, _nested_spec())

    report = fastlink.clone_or_copy(src, fat_dir / "dst")

    assert_trees_equal(expected, fat_dir / "dst", **FAT_KEEPS)
    assert report.files == report.copied == tree_counts(expected)["files"], report
    assert fastlink_entries(fat_dir) == []


@pytest.mark.linux_backend  # FUSE is told by its statfs magic, on Linux only
def test_new_subdirectories_of_a_merge_arrive_whole_on_fat(fat, fat_dir, tmp_path):
    src = tmp_path / "src"
    expected = make_tree(src, _nested_spec())
    dst = fat_dir / "dst"
    _put(dst, {"keep.txt": b"keep\n"})
    (dst / "data").mkdir()

    fastlink.clone_or_copy(src, dst, dirs_exist_ok=True)

    got = snapshot(dst)
    assert got.pop(b"keep.txt")["type"] == "file"
    assert_trees_equal(expected, got, include_root=False, **FAT_KEEPS)


def test_a_failed_new_tree_on_fat_leaves_nothing(fat, fat_dir, tmp_path):
    """Built in place, a new tree is still all or nothing once the call ends."""
    src = tmp_path / "src"
    spec = _nested_spec()
    spec["pkg"]["sub"]["link"] = Symlink("deep.bin")  # FAT holds no symlink
    make_tree(src, spec)
    before = snapshot(fat_dir)

    with pytest.raises(fastlink.SymlinkUnsupportedError):
        fastlink.clone_or_copy(src, fat_dir / "dst")

    assert_trees_equal(before, fat_dir, modes="ignore", times=False, what="the FAT dir")


def test_a_single_file_on_fat_reports_what_a_tree_call_reports(fat, fat_dir, tmp_path):
    src = tmp_path / "src"
    make_tree(src, {"a.py": File(random_bytes(3 * KiB, 3), 0o755)})

    single = fastlink.clone_or_copy(src / "a.py", fat_dir / "a.py")
    tree = fastlink.clone_or_copy(src, fat_dir / "tree")

    assert (fat_dir / "a.py").read_bytes() == (src / "a.py").read_bytes()
    errno_, count, message = _unsupported(single)["mode"]
    assert (errno_, count) == (errno.ENOSYS, 1), single
    assert _unsupported(tree)["mode"][0] == errno_ and _unsupported(tree)["mode"][2] == message
    assert (single.method, single.skipped, single.fallbacks) == (
        tree.method,
        tree.skipped,
        tree.fallbacks,
    ), (single, tree)


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
def test_a_symlink_fat_cannot_hold_is_a_typed_error_naming_the_link(fat, fat_dir, tmp_path, merge):
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a\n", "sub": {"b.txt": b"b\n", "link": Symlink("b.txt")}})
    dst = fat_dir / "dst"
    if merge:
        _put(dst, {"keep.txt": b"keep\n"})
    before = snapshot(fat_dir)

    with pytest.raises(fastlink.SymlinkUnsupportedError) as caught:
        fastlink.clone_or_copy(src, dst, dirs_exist_ok=merge)

    e = caught.value
    assert isinstance(e, OSError) and isinstance(e, fastlink.FastlinkError)
    assert e.errno in UNSUPPORTED | {errno.EPERM}, e
    assert e.filename == os.fspath(src / "sub" / "link"), e
    assert e.filename2 == os.fspath(dst / "sub" / "link"), e
    assert "symlink" in e.strerror, e
    assert_trees_equal(before, fat_dir, modes="ignore", times=False, what="the FAT dir")


@pytest.mark.parametrize("methods", [None, ("hardlink", "copy"), ("reflink", "hardlink", "copy")])
def test_probes_on_fat_leave_nothing_behind(fat, fat_dir, methods):
    """Source and destination both on FAT: every probe runs there (and is
    refused there), on the success path and on the error path."""
    src = fat_dir / "src"
    _put(src, {"a.txt": b"a\n", "m.py": random_bytes(5 * KiB, 4)})
    kw = {} if methods is None else {"methods": methods}
    (fat_dir / "dst").mkdir()

    report = fastlink.clone_or_copy(src, fat_dir / "dst", dirs_exist_ok=True, **kw)
    assert report.copied == report.files == 2, report
    assert (fat_dir / "dst" / "m.py").read_bytes() == (src / "m.py").read_bytes()
    assert fastlink_entries(fat_dir) == []

    with pytest.raises(fastlink.FastlinkError):
        fastlink.clone_or_copy(src, fat_dir / "strict", methods="hardlink")
    assert fastlink_entries(fat_dir) == []
    assert not (fat_dir / "strict").exists()

    probed = fastlink.probe(src, fat_dir)
    assert probed["copy"] is True and probed["hardlink"] is False, probed
    assert fastlink_entries(fat_dir) == []


def test_a_full_fat_volume_is_raised_not_reported(tmp_path):
    with fusefat(size_mib=2) as fat:
        src = tmp_path / "src"
        make_tree(src, {"small.txt": b"s\n", "big.bin": File(random_bytes(3 << 20, 5))})

        with pytest.raises(OSError) as caught:
            fastlink.clone_or_copy(src, fat / "dst")

        # fusefat answers a write to a full volume with EPERM, not ENOSPC.
        assert caught.value.errno in (errno.ENOSPC, errno.EPERM), caught.value
        assert not isinstance(caught.value, fastlink.FastlinkError), caught.value
        assert not (fat / "dst").exists()
        assert fastlink_entries(fat) == []


def test_the_cli_json_lists_the_metadata_fat_cannot_store(fat, fat_dir, tmp_path):
    src = tmp_path / "src"
    make_tree(src, {"a.sh": File(b"#!/bin/sh\n", 0o755)})
    (fat_dir / "dst").mkdir()
    argv = [sys.executable, "-m", "fastlink", "--json", "--merge", src, fat_dir / "dst"]
    r = subprocess.run(
        [os.fspath(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [(m["kind"], m["errno"], m["error"]) for m in out["unsupported_metadata"]] == [
        ("mode", errno.ENOSYS, "ENOSYS")
    ], out
    assert all(m["entries"] >= 1 and m["message"] for m in out["unsupported_metadata"]), out

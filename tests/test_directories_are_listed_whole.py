"""The walk reads each directory with getdents64, and on the filesystems
that fill every read as far as the buffer allows (XFS, ext4, btrfs, tmpfs)
it takes a read that left room for another entry as the last, instead of
reading once more to be told the end. On the others it reads until the
end: a FUSE server or an NFS one may answer short before it (this kernel's
FUSE fills reads from bindfs, so the FUSE test below guards the listing
rather than tells the two rules apart). So:
- a directory too large for one read is listed whole on every filesystem
  here, FUSE included;
- a small directory on XFS costs one getdents64, not two.

Counts from strace (tests/syscalls.py), never timings.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import fastlink
import pytest
from mounts import bindfs
from syscalls import traced

# Names of 120 bytes: 136-byte records, so some 240 to a 32 KiB read and
# this many take 9 reads.
ENTRIES = 2000


def _big_dir(root: Path) -> set[str]:
    big = root / "big"
    big.mkdir(parents=True)
    names = {f"{i:05d}-" + "n" * 114 for i in range(ENTRIES)}
    for name in names:
        (big / name).write_bytes(b"x")
    (root / "small").mkdir()
    (root / "small" / "one.py").write_bytes(b"")
    return names


@pytest.mark.parametrize("fs", ["xfs", "btrfs", "ext4", "tmpfs"])
def test_a_directory_larger_than_one_read_is_listed_whole(request, fresh_dir, fs):
    mount = request.getfixturevalue(fs)
    src = fresh_dir(mount, "list-src-") / "tree"
    names = _big_dir(src)
    dst = fresh_dir(mount, "list-dst-") / "out"
    report = fastlink.clone_or_copy(src, dst)
    assert report.files == ENTRIES + 1
    assert set(os.listdir(dst / "big")) == names


def test_a_directory_larger_than_one_read_is_listed_whole_on_fuse(xfs, fresh_dir):
    backing = fresh_dir(xfs, "list-fuse-")
    names = _big_dir(backing / "tree")
    dst = fresh_dir(xfs, "list-dst-") / "out"
    with bindfs(backing) as mnt:
        report = fastlink.clone_or_copy(mnt / "tree", dst, methods="copy")
    assert report.files == ENTRIES + 1
    assert set(os.listdir(dst / "big")) == names


LIST_CHILD = textwrap.dedent(
    """
    import sys, fastlink
    src, dst = sys.argv[1], sys.argv[2]
    fastlink.clone_or_copy(src, dst + "-warm")  # what is learnt once per process
    mark("call")
    print(fastlink.clone_or_copy(src, dst).files)
    mark("end")
    """
)


@pytest.mark.linux_backend
def test_a_small_directory_on_xfs_is_read_with_one_getdents64(xfs, fresh_dir):
    src = fresh_dir(xfs, "list-src-") / "tree"
    for rel in ["a/b", "a/c", "d"]:
        (src / rel).mkdir(parents=True)
        (src / rel / "m.py").write_bytes(b"pass\n")
    dirs = 1 + 4  # the root, a, a/b, a/c, d
    dst = fresh_dir(xfs, "list-dst-") / "out"
    trace = traced(LIST_CHILD, os.fspath(src), os.fspath(dst))
    assert trace.stdout.split() == ["3"]
    assert trace.names("call")["getdents64"] == dirs, trace.describe("call")

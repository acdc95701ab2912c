"""On the copy path, sparse files stay sparse and files over 2 GiB / 4 GiB copy exactly.

Contract (issue 3, guarantee 5): the copy path follows SEEK_DATA/SEEK_HOLE,
so holes are not written out as zeros, and sizes/offsets are 64-bit clean
(no truncation at 2^31 or 2^32, and a trailing hole still gives the full
size).

The files are sparse, so they need only a few MiB on the 512 MiB test
filesystems; a copy that wrote the holes out would need GiBs and fail with
ENOSPC. Contents are compared with digests.content_digest, which hashes
every logical byte (holes as zeros) but reads only the data blocks, plus
direct reads of the bytes around each boundary.
"""

from __future__ import annotations

import os

import fastlink
import pytest
from digests import content_digest
from snapshots import snapshot, tree_differences
from treespec import random_bytes

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

# (src fs, dst fs, methods): two cross-device copies, and tmpfs within
# itself (cannot reflink, so the default methods copy there too).
COPY_PATHS = [
    ("tmpfs", "xfs", "copy"),
    ("xfs", "btrfs", "copy"),
    ("tmpfs", "tmpfs", None),
]
COPY_PATH_IDS = ["tmpfs-to-xfs", "xfs-to-btrfs", "tmpfs-to-tmpfs-default"]


@pytest.fixture(params=COPY_PATHS, ids=COPY_PATH_IDS)
def copy_path(request, mounts, fresh_dir):
    """(src dir, dst path, methods) for one copy path."""
    src_fs, dst_fs, methods = request.param
    src = fresh_dir(mounts.get(src_fs), "sparse-src-")
    dst = fresh_dir(mounts.get(dst_fs), "sparse-dst-") / "dst"
    return src, dst, methods


def _write_sparse(path, size, pieces):
    """Create a file of `size` bytes that holds `pieces` [(offset, bytes)]
    and holes everywhere else."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.ftruncate(fd, size)
        for offset, data in pieces:
            assert offset + len(data) <= size
            os.pwrite(fd, data, offset)
    finally:
        os.close(fd)
    os.utime(path, ns=(1_600_000_000_111_111_111, 1_600_000_000_222_222_222))


def _pread(path, offset, length):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def _allocated(path):
    return os.stat(path).st_blocks * 512


def _assert_same_file(src_file, dst_file, windows):
    """Sizes, every byte (via content_digest) and the given windows equal."""
    s, d = os.stat(src_file), os.stat(dst_file)
    assert d.st_size == s.st_size, f"{dst_file}: size {d.st_size}, source has {s.st_size}"
    for offset, length in windows:
        assert _pread(dst_file, offset, length) == _pread(src_file, offset, length), (
            f"{dst_file}: bytes [{offset}, {offset + length}) differ"
        )
    assert content_digest(dst_file) == content_digest(src_file), f"{dst_file}: content differs"


# --------------------------------------------------------------------------
# Sparse files stay sparse
# --------------------------------------------------------------------------

SPARSE_SIZE = 1 * GIB


def _sparse_pieces(seed):
    return [
        (0, random_bytes(MIB, seed)),  # data at the very start
        (100 * MIB + 4097, random_bytes(MIB, seed + 1)),  # unaligned
        (512 * MIB - 1, random_bytes(2 * 4096, seed + 2)),  # straddles a MiB boundary
        (777 * MIB + 3, random_bytes(100, seed + 3)),  # tiny
        (SPARSE_SIZE - MIB, random_bytes(MIB, seed + 4)),  # data right up to EOF
    ]


def test_sparse_files_stay_sparse_and_identical(copy_path):
    src, dst, methods = copy_path
    ends_with_data = _sparse_pieces(100)
    ends_with_hole = _sparse_pieces(200)[:-1]  # the last GiB-ish tail is a hole
    _write_sparse(src / "ends-with-data.img", SPARSE_SIZE, ends_with_data)
    _write_sparse(src / "ends-with-hole.img", SPARSE_SIZE, ends_with_hole)
    os.mkdir(src / "sub")
    _write_sparse(src / "sub" / "mostly-hole.img", 300 * MIB + 1, [(150 * MIB, b"x" * 4096)])
    for name in ["ends-with-data.img", "ends-with-hole.img", "sub/mostly-hole.img"]:
        assert _allocated(src / name) < 16 * MIB, f"{name} is not sparse on the source fs"
    src_snap = snapshot(src)

    report = fastlink.clone_or_copy(src, dst, methods=methods)

    assert report.method == "copy"
    assert report.copied == report.files == 3
    assert report.bytes == 2 * SPARSE_SIZE + 300 * MIB + 1
    # Every byte, size, mode and mtime (content digests cover the holes).
    assert tree_differences(src_snap, snapshot(dst)) == []
    for name, pieces in [
        ("ends-with-data.img", ends_with_data),
        ("ends-with-hole.img", ends_with_hole),
        ("sub/mostly-hole.img", [(150 * MIB, b"x" * 4096)]),
    ]:
        windows = [(off, len(data)) for off, data in pieces]
        _assert_same_file(src / name, dst / name, windows)
        for off, data in pieces:
            assert _pread(dst / name, off, len(data)) == data
        # Still sparse: the copy allocates about what the source does, far
        # below its size (slack for allocation granularity and metadata).
        src_alloc, dst_alloc = _allocated(src / name), _allocated(dst / name)
        size = os.stat(dst / name).st_size
        assert dst_alloc < size // 16, (
            f"{name}: the copy is not sparse: {dst_alloc} bytes allocated for {size}"
        )
        assert dst_alloc <= 2 * src_alloc + 8 * MIB, (
            f"{name}: the copy allocates {dst_alloc} bytes, the source {src_alloc}"
        )


# --------------------------------------------------------------------------
# Files over 2 GiB and 4 GiB
# --------------------------------------------------------------------------

BOUNDARY_WINDOW = 64 * KIB + 1


def _boundary_pieces(size, seed):
    """Data at the start, around 2^31 and 2^32 (where they fall inside the
    file), and in the last bytes up to EOF."""
    pieces = [(0, random_bytes(4096, seed))]
    for i, boundary in enumerate([1 << 31, 1 << 32]):
        start = boundary - BOUNDARY_WINDOW
        if start >= 0 and boundary + BOUNDARY_WINDOW <= size:
            pieces.append((start, random_bytes(2 * BOUNDARY_WINDOW, seed + 1 + i)))
    tail = min(size, 8193)
    pieces.append((size - tail, random_bytes(tail, seed + 9)))
    return pieces


@pytest.mark.parametrize(
    "size", [2 * GIB + 1, 4 * GIB + 4097], ids=["2GiB-plus-1", "4GiB-plus-4097"]
)
def test_files_over_2_and_4_gib_copy_exactly(copy_path, size):
    src, dst, methods = copy_path
    pieces = _boundary_pieces(size, seed=size % 1000)
    _write_sparse(src / "big.img", size, pieces)
    # Same size, but ending in a hole: the copy must still be `size` long.
    _write_sparse(src / "big-hole-at-end.img", size, pieces[:-1])
    src_snap = snapshot(src)

    report = fastlink.clone_or_copy(src, dst, methods=methods)

    assert report.bytes == 2 * size
    assert tree_differences(src_snap, snapshot(dst)) == []
    for name, file_pieces in [("big.img", pieces), ("big-hole-at-end.img", pieces[:-1])]:
        windows = [(off, len(data)) for off, data in file_pieces]
        # And the bytes right at each boundary, whether data or hole.
        for boundary in (1 << 31, 1 << 32, size):
            if boundary <= size:
                windows.append((max(0, boundary - 4096), min(8192, size - max(0, boundary - 4096))))
        _assert_same_file(src / name, dst / name, windows)
        for off, data in file_pieces:
            assert _pread(dst / name, off, len(data)) == data, f"{name}: data at {off} differs"

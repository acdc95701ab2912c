"""Content digests of files, hole-aware, read without bumping atimes."""

from __future__ import annotations

import errno
import functools
import hashlib
import os

from paths import PathLike, fsbytes

# fd-relative walking: no PATH_MAX limit, no atime updates, sparse-aware
# --------------------------------------------------------------------------
#
# Path-based calls fail with ENAMETOOLONG once a path exceeds PATH_MAX (4096
# bytes), so everything here works relative to directory fds and climbs back
# up with "..": it handles trees thousands of levels deep with O(1) open fds
# and no recursion. Files and directories are opened with O_NOATIME where
# allowed, so checking a source never bumps its atimes (fastlink copies them).

_O_NOATIME = getattr(os, "O_NOATIME", 0)
_DIGEST_BLOCK = 1 << 20


def open_quiet(path: str | bytes, flags: int, dir_fd: int | None = None) -> int:
    """os.open with O_NOATIME, retried without it where it isn't allowed (EPERM)."""
    if _O_NOATIME:
        try:
            return os.open(path, flags | _O_NOATIME, dir_fd=dir_fd)
        except PermissionError:
            pass
    return os.open(path, flags, dir_fd=dir_fd)


def data_ranges(fd: int, size: int | None = None) -> list[tuple[int, int]]:
    """The file's data segments [(start, end)] per SEEK_DATA/SEEK_HOLE.

    Where the filesystem can't tell, the whole file is one data segment.
    """
    if size is None:
        size = os.fstat(fd).st_size
    ranges: list[tuple[int, int]] = []
    offset = 0
    try:
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:  # only a hole from offset to EOF
                    break
                raise
            if start >= size:
                break
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            ranges.append((start, end))
            offset = end
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
            raise
        return [(0, size)] if size else []
    return ranges


@functools.lru_cache(maxsize=8)
def _zero_block_digest(length: int) -> bytes:
    return hashlib.sha256(bytes(length)).digest()


def _pread_full(fd: int, length: int, offset: int) -> bytes:
    parts = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:  # file shrank under us: digest what is there
            break
        parts.append(chunk)
        length -= len(chunk)
        offset += len(chunk)
    return b"".join(parts)


def content_digest(file: int | PathLike) -> str:
    """A digest of a file's logical bytes that costs O(data), not O(size).

    The file is hashed in 1 MiB blocks: blocks that SEEK_DATA reports as
    pure hole contribute the digest of a zero block without being read,
    the others are read and hashed. The result depends only on the bytes
    (a hole and written zeros give the same digest), so it compares a
    sparse source with its copy exactly, even for files of many GiB.
    `file` is an open fd or a path.
    """
    if isinstance(file, int):
        return content_digest_fd(file)
    fd = open_quiet(fsbytes(os.fspath(file)), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        return content_digest_fd(fd)
    finally:
        os.close(fd)


def content_digest_fd(fd: int) -> str:
    size = os.fstat(fd).st_size
    blocks_with_data = set()
    for start, end in data_ranges(fd, size):
        blocks_with_data.update(range(start // _DIGEST_BLOCK, (end - 1) // _DIGEST_BLOCK + 1))
    h = hashlib.sha256(b"fastlink-content-digest-v1")
    h.update(size.to_bytes(8, "little"))
    for index in range((size + _DIGEST_BLOCK - 1) // _DIGEST_BLOCK):
        offset = index * _DIGEST_BLOCK
        length = min(_DIGEST_BLOCK, size - offset)
        if index in blocks_with_data:
            h.update(hashlib.sha256(_pread_full(fd, length, offset)).digest())
        else:
            h.update(_zero_block_digest(length))
    return h.hexdigest()

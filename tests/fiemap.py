"""FIEMAP: whether a file's data is shared with another file (a reflink)."""

from __future__ import annotations

import fcntl
import os
import struct

from paths import PathLike, fsbytes

# --------------------------------------------------------------------------
# FIEMAP: is a file's data shared with another file (i.e. was it reflinked)?
# --------------------------------------------------------------------------
#
# Pitfalls:
#  * btrfs stores small files (below ~2 KiB, max_inline) inline in metadata;
#    inline extents are never shared, so test clones with files >= 64 KiB.
#  * A freshly written, not yet flushed file has delalloc extents with no
#    physical address. FIEMAP_FLAG_SYNC makes the kernel flush first, so a
#    plain copy reliably reports real, unshared extents. (A clone needs no
#    sync: FICLONE flushes the source itself.)
#  * An empty file has no extents; is_fully_shared() returns False for it.
#  * On filesystems without FIEMAP support the ioctl raises EOPNOTSUPP.

FS_IOC_FIEMAP = 0xC020660B
FIEMAP_FLAG_SYNC = 0x1
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_UNKNOWN = 0x2
FIEMAP_EXTENT_DELALLOC = 0x4
FIEMAP_EXTENT_INLINE = 0x200
FIEMAP_EXTENT_SHARED = 0x2000

# struct fiemap: u64 fm_start, u64 fm_length, u32 fm_flags,
#                u32 fm_mapped_extents, u32 fm_extent_count, u32 fm_reserved
_FIEMAP_HDR = struct.Struct("=QQIIII")
# struct fiemap_extent: u64 fe_logical, u64 fe_physical, u64 fe_length,
#                       u64 fe_reserved64[2], u32 fe_flags, u32 fe_reserved[3]
_FIEMAP_EXTENT = struct.Struct("=QQQ2QI3I")
_EXTENTS_PER_CALL = 128
_FIEMAP_MAX_OFFSET = 0xFFFFFFFFFFFFFFFF

Extent = tuple[int, int, int, int]


def fiemap_extents(path: PathLike, *, sync: bool = True) -> list[Extent]:
    """Return the file's extents as (logical, physical, length, flags)."""
    extents: list[Extent] = []
    start = 0
    fd = os.open(fsbytes(os.fspath(path)), os.O_RDONLY)
    try:
        while True:
            buf = bytearray(_FIEMAP_HDR.size + _FIEMAP_EXTENT.size * _EXTENTS_PER_CALL)
            _FIEMAP_HDR.pack_into(
                buf,
                0,
                start,
                _FIEMAP_MAX_OFFSET - start,
                FIEMAP_FLAG_SYNC if sync else 0,
                0,
                _EXTENTS_PER_CALL,
                0,
            )
            fcntl.ioctl(fd, FS_IOC_FIEMAP, buf, True)
            mapped = _FIEMAP_HDR.unpack_from(buf, 0)[3]
            if mapped == 0:
                return extents
            last_seen = False
            for i in range(mapped):
                fields = _FIEMAP_EXTENT.unpack_from(buf, _FIEMAP_HDR.size + i * _FIEMAP_EXTENT.size)
                logical, physical, length, flags = fields[0], fields[1], fields[2], fields[5]
                extents.append((logical, physical, length, flags))
                if flags & FIEMAP_EXTENT_LAST:
                    last_seen = True
            if last_seen:
                return extents
            logical, _, length, _ = extents[-1]
            start = logical + length
    finally:
        os.close(fd)


def is_fully_shared(path: PathLike) -> bool:
    """True iff the file has >= 1 extent and every extent is FIEMAP-shared."""
    extents = fiemap_extents(path)
    return bool(extents) and all(flags & FIEMAP_EXTENT_SHARED for *_, flags in extents)


def describe_extents(path: PathLike) -> str:
    """Human readable extent list for assertion messages."""
    return (
        ", ".join(f"[{lo}+{ln} @{ph} flags={fl:#x}]" for lo, ph, ln, fl in fiemap_extents(path))
        or "<no extents>"
    )


# Files at least this large are checked with FIEMAP (btrfs inlines tiny files).
FIEMAP_MIN_SIZE = 64 * 1024

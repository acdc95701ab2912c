"""Helpers for building, snapshotting and comparing directory trees.

Everything works on bytes paths (os.fsencode) so that names which are not
valid UTF-8 (e.g. b"caf\\xe9") round-trip exactly.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import os
import random
import shutil
import stat
import struct
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

import pytest

Name = Union[str, bytes]
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# Past timestamps (2020-09-13 ...) with a non-zero nanosecond part, so a
# copy that truncates to seconds or microseconds is caught.
_MTIME_BASE_NS = 1_600_000_000_123_456_789
_MTIME_STEP_NS = 1_000_003_007  # ~1 s apart, odd ns so every entry differs


def skip_or_fail(reason: str) -> None:
    """Skip locally, but never let CI go green by skipping."""
    if os.environ.get("CI"):
        pytest.fail(f"required test environment unavailable in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class File:
    content: bytes = b""
    mode: int = 0o644

    def __repr__(self) -> str:
        # Keep failure reports (e.g. hypothesis falsifying examples) readable.
        if len(self.content) <= 32:
            body = repr(self.content)
        else:
            digest = hashlib.sha256(self.content).hexdigest()[:12]
            body = f"<{len(self.content)} bytes sha256:{digest}>"
        return f"File({body}, mode={self.mode:#o})"


@dataclass
class Dir:
    children: dict[Name, Entry] = field(default_factory=dict)
    mode: int = 0o755


@dataclass
class Symlink:
    target: Name


Entry = Union[File, Dir, Symlink, bytes, dict]


def random_bytes(size: int, seed: int = 0) -> bytes:
    """Deterministic incompressible content (no zero runs, so no holes)."""
    return random.Random(seed).randbytes(size)


def _b(name: Name) -> bytes:
    return os.fsencode(name)


def make_tree(root: PathLike, spec: dict[Name, Entry], *, mtime_seed: int = 0) -> dict[bytes, dict]:
    """Create `spec` inside the (existing or new) directory `root`.

    spec maps names (str or bytes) to entries:
      bytes          -> regular file with that content, mode 0o644
      File(...)      -> regular file with content and mode
      dict / Dir(...) -> directory (a plain dict gets mode 0o755)
      Symlink(target) -> symlink whose target is stored verbatim (may dangle)

    Every created entry gets a distinct past mtime (and atime). Directory
    modes and times are applied bottom-up after their children exist, since
    creating a child changes the parent's mtime and a 0o555 dir must be
    populated before it becomes read-only (matters when not root).
    The root directory itself keeps its mode but also gets a past mtime.

    Returns snapshot(root) of the finished tree: compare copies against it
    rather than against a later snapshot, so that a copy which (wrongly)
    touches the source can't hide its own mistakes.
    """
    root_b = _b(os.fspath(root))
    os.makedirs(root_b, exist_ok=True)
    counter = [mtime_seed]

    def next_time() -> int:
        counter[0] += 1
        return _MTIME_BASE_NS + counter[0] * _MTIME_STEP_NS

    def build(dir_b: bytes, children: dict[Name, Entry]) -> None:
        for name, entry in children.items():
            path = os.path.join(dir_b, _b(name))
            if isinstance(entry, bytes):
                entry = File(entry)
            elif isinstance(entry, dict):
                entry = Dir(entry)
            if isinstance(entry, File):
                with open(path, "wb") as f:
                    f.write(entry.content)
                os.chmod(path, entry.mode)
                t = next_time()
                # atime deliberately differs from mtime to catch swaps.
                os.utime(path, ns=(t - 500_000_000, t))
            elif isinstance(entry, Symlink):
                os.symlink(_b(entry.target), path)
                t = next_time()
                os.utime(path, ns=(t, t), follow_symlinks=False)
            elif isinstance(entry, Dir):
                os.mkdir(path, 0o700)
                build(path, entry.children)
                os.chmod(path, entry.mode)
                t = next_time()
                os.utime(path, ns=(t, t))
            else:  # pragma: no cover - programming error in a test
                raise TypeError(f"unsupported tree entry {entry!r}")

    build(root_b, spec)
    t = next_time()
    os.utime(root_b, ns=(t, t))
    # Every tree a test builds is a potential source: the source guard
    # (see "Source guard" below) checks after the test that it is unchanged.
    guard = _ACTIVE_GUARD
    if guard is not None:
        guard.register(root_b)
    return _walk(root_b)


# --------------------------------------------------------------------------
# Snapshots and comparison
# --------------------------------------------------------------------------

ROOT_KEY = b"."


def snapshot(root: PathLike, *, identity: bool = False) -> dict[bytes, dict]:
    """Describe every entry under `root` (never following symlinks).

    Keys are paths relative to root as bytes; the root itself is b".".
    If root is a regular file the snapshot has the single key b".".
    The root is followed if it is a symlink, matching fastlink's src rule.

    Each entry is described the same way: "type" ("file", "dir", "symlink"
    or "other(<format>)"), "mode" (permission bits) and "mtime_ns"; a file
    also has "size" and "digest" (content_digest: of the bytes only, so a
    sparse file and its dense copy agree), a symlink its "target" (bytes,
    verbatim). The walk is fd-relative (any depth, see below) and does not
    bump atimes.

    identity=True also records inode numbers ("ino"), to catch an entry
    replaced by an identical one: for watching a tree (a destination, a
    directory outside it, a cache) across a call. Such a snapshot only
    observes. Any other snapshot of a tree that no clone_or_copy call has
    used yet re-baselines the source guard for it (tests adjust a tree after
    make_tree, e.g. chmod u+s, and then snapshot it as what a copy must be).
    """
    if not identity:
        guard = _ACTIVE_GUARD
        if guard is not None:
            guard.refresh_unused(root)
    return _walk(root, identity=identity)


def tree_counts(snap: dict[bytes, dict]) -> dict:
    """The counts fastlink's Report should have for a tree with this snapshot."""
    types = [v["type"] for v in snap.values()]
    return {
        "files": types.count("file"),
        "dirs": types.count("dir"),
        "symlinks": types.count("symlink"),
        "bytes": sum(v.get("size", 0) for v in snap.values()),
    }


def expected_dst_mode(src_mode: int) -> int:
    """Contract: permission bits are kept but setuid/setgid are cleared."""
    return src_mode & ~0o6000


Snapshot = dict[bytes, dict]
MODES = ("copy", "exact", "ignore")


def tree_differences(
    expected: PathLike | Snapshot,
    actual: PathLike | Snapshot,
    *,
    modes: str = "copy",
    times: bool = True,
    dir_times: bool = True,
    include_root: bool = True,
) -> list[str]:
    """Differences between two trees, as readable lines; [] when they match.

    Each side is a snapshot (preferably the expected one taken before the
    call, e.g. the one make_tree returns, so that a call which wrongly
    touches its source can't hide its own mistakes) or a path, which is
    snapshot() now. Compared: the set of entries, their types, and every
    field either side records (size, content digest, symlink target, inode
    numbers: compare identity=True snapshots with each other); then
      modes="copy": permission bits as for a copy (expected's setuid/setgid
        masked out, per the contract; symlink modes ignored), "exact": as
        they are, "ignore": not at all (e.g. exFAT keeps no modes);
      times: mtimes in nanoseconds; dir_times=False leaves directories'
        mtimes out (a merge that creates and removes temp entries in a
        pre-existing directory changes its mtime, which the contract does
        not promise to restore);
      include_root=False leaves the root's own entry out (a merge into a
        pre-existing dst keeps the root's metadata).
    """
    if modes not in MODES:
        raise ValueError(f"modes must be one of {MODES}, not {modes!r}")
    a = expected if isinstance(expected, dict) else snapshot(expected)
    b = actual if isinstance(actual, dict) else snapshot(actual)
    keys = set(a) | set(b)
    if not include_root:
        keys.discard(ROOT_KEY)
    problems: list[str] = []
    for k in sorted(keys):
        if k not in b:
            problems.append(f"missing: {k!r} ({a[k]['type']})")
        elif k not in a:
            problems.append(f"unexpected: {k!r} ({b[k]['type']})")
        else:
            problems.extend(_entry_differences(k, a[k], b[k], modes, times, dir_times))
    return problems


def assert_trees_equal(
    expected: PathLike | Snapshot,
    actual: PathLike | Snapshot,
    *,
    what: str | None = None,
    **options: Any,
) -> None:
    """Assert that tree_differences(expected, actual, **options) is empty:
    by default that `actual` is a faithful copy of `expected` (names, types,
    contents, symlink targets, modes as for a copy, mtimes in ns). `what`
    names the trees in the message (default: expected -> actual)."""
    problems = tree_differences(expected, actual, **options)
    if problems:
        if what is None:
            what = f"{_label(expected)!r} -> {_label(actual)!r}"
        shown = problems[:40]
        more = f"\n... and {len(problems) - 40} more" if len(problems) > 40 else ""
        raise AssertionError(f"trees differ: {what}\n  " + "\n  ".join(shown) + more)


def _label(tree: PathLike | Snapshot) -> str:
    return "<snapshot>" if isinstance(tree, dict) else os.fsdecode(os.fspath(tree))


def _entry_differences(
    key: bytes,
    s: dict,
    d: dict,
    modes: str,
    times: bool,
    dir_times: bool,
    *,
    type_only: bool = False,
) -> list[str]:
    if s["type"] != d["type"]:
        return [f"{key!r}: type {s['type']} expected, {d['type']} found"]
    if type_only:
        return []
    problems = []
    for f in sorted((set(s) | set(d)) - {"type", "mode", "mtime_ns"}):
        if s.get(f) != d.get(f):
            problems.append(f"{key!r}: {f} differs: expected {s.get(f)!r}, found {d.get(f)!r}")
    if modes == "exact" or (modes == "copy" and s["type"] != "symlink"):
        want = expected_dst_mode(s["mode"]) if modes == "copy" else s["mode"]
        if d["mode"] != want:
            problems.append(f"{key!r}: mode expected {want:#o}, found {d['mode']:#o}")
    if times and (dir_times or s["type"] != "dir") and s["mtime_ns"] != d["mtime_ns"]:
        problems.append(
            f"{key!r} ({s['type']}): mtime_ns expected {s['mtime_ns']}, found {d['mtime_ns']} "
            f"(diff {d['mtime_ns'] - s['mtime_ns']} ns)"
        )
    return problems


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
    fd = os.open(_b(os.fspath(path)), os.O_RDONLY)
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


# --------------------------------------------------------------------------
# Scratch directories
# --------------------------------------------------------------------------


def make_fresh_dir(mount: PathLike, prefix: str = "t-") -> Path:
    """A new unique directory inside `mount` (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=os.fspath(mount)))


def remove_tree(path: PathLike) -> None:
    """Remove a file or tree; copes with read-only dirs when not root."""

    def onerror(func, p, exc_info):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
        except OSError:
            pass
        func(p)

    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        try:
            shutil.rmtree(path, onerror=onerror)
        except RecursionError:
            # shutil.rmtree recurses once per level: trees thousands of
            # levels deep need the iterative, fd-relative removal.
            remove_tree_fd(path)
    else:
        os.remove(path)


# --------------------------------------------------------------------------
# A representative tree for directed tests
# --------------------------------------------------------------------------

# Files at least this large are checked with FIEMAP (btrfs inlines tiny files).
FIEMAP_MIN_SIZE = 64 * 1024


def sample_spec() -> dict[Name, Entry]:
    """Mixed tree: big (>= 64 KiB) and tiny files, exec bits, private and
    read-only modes, nesting, relative/dangling symlinks, a non-UTF-8 name."""
    return {
        "big.bin": File(random_bytes(256 * 1024, 1)),
        "tool.sh": File(b"#!/bin/sh\n" + random_bytes(96 * 1024, 2), 0o755),
        "private.key": File(random_bytes(64 * 1024, 3), 0o600),
        "empty": File(b""),
        "small.txt": b"hello\n",
        b"caf\xe9.bin": File(random_bytes(70_001, 4), 0o640),
        "sub dir": Dir(
            {
                "nested.bin": File(random_bytes(128 * 1024 + 1, 5), 0o755),
                "deeper": Dir({"leaf.txt": b"leaf\n", "-rf": b"dash"}, 0o700),
                "link-up": Symlink("../big.bin"),
            },
            0o750,
        ),
        "link-to-dir": Symlink("sub dir"),
        "dangling": Symlink("does/not/exist"),
        "readonly": Dir({"inside.bin": File(random_bytes(65 * 1024, 6), 0o444)}, 0o555),
    }


FASTLINK_WORK_PREFIXES = (
    b".fastlink-staging.",
    b".fastlink-tmp.",
    b".fastlink-probe.",
    b".fastlink-probe-",  # the probe's name before issue 16
)


def fastlink_leftovers(*roots: PathLike) -> list[bytes]:
    """Entries named like fastlink's hidden work files (staging dirs, temp
    files, probes) at or under any of `roots` (each a dir; missing ones are
    skipped). Relative names are prefixed with the root, as bytes."""
    found = []
    for root in roots:
        root_b = _b(os.fspath(root))
        if not os.path.isdir(root_b):
            continue
        for rel, _info in _walk(root_b).items():
            if os.path.basename(rel).startswith(FASTLINK_WORK_PREFIXES):
                found.append(os.path.join(root_b, rel))
    return sorted(found)


def regular_files(root: PathLike) -> list[bytes]:
    """Absolute bytes paths of every regular file under root."""
    root_b = _b(os.fspath(root))
    out = []
    for dirpath, _dirnames, filenames in os.walk(root_b):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if stat.S_ISREG(os.lstat(p).st_mode):
                out.append(p)
    return sorted(out)


# --------------------------------------------------------------------------
# fd-relative walking: no PATH_MAX limit, no atime updates, sparse-aware
# --------------------------------------------------------------------------
#
# Path-based calls fail with ENAMETOOLONG once a path exceeds PATH_MAX (4096
# bytes), so everything here works relative to directory fds and climbs back
# up with "..": it handles trees thousands of levels deep with O(1) open fds
# and no recursion. Files and directories are opened with O_NOATIME where
# allowed, so checking a source never bumps its atimes (fastlink copies them).

_O_NOATIME = getattr(os, "O_NOATIME", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_DIGEST_BLOCK = 1 << 20


def _open_quiet(path: str | bytes, flags: int, dir_fd: int | None = None) -> int:
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
        return _content_digest_fd(file)
    fd = _open_quiet(_b(os.fspath(file)), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        return _content_digest_fd(fd)
    finally:
        os.close(fd)


def _content_digest_fd(fd: int) -> str:
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


def _fd_describe(st: os.stat_result, identity: bool) -> dict:
    info: dict = {"mode": stat.S_IMODE(st.st_mode), "mtime_ns": st.st_mtime_ns}
    if identity:
        info["ino"] = st.st_ino
    fmt = stat.S_IFMT(st.st_mode)
    if fmt == stat.S_IFREG:
        info.update(type="file", size=st.st_size)
    elif fmt == stat.S_IFDIR:
        info.update(type="dir")
    elif fmt == stat.S_IFLNK:
        # Symlink modes are always 0o777 on Linux; keep them anyway.
        info.update(type="symlink")
    else:  # fifo, socket, device: described, never opened
        info.update(type=f"other({fmt:o})")
    return info


def _fd_describe_file(name: bytes, dir_fd: int, info: dict) -> None:
    # O_NONBLOCK: should a fifo replace the file after our lstat, opening it
    # must not hang; O_NOFOLLOW: nor may a symlink send us elsewhere.
    fd = _open_quiet(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd)
    try:
        info["digest"] = _content_digest_fd(fd)
    finally:
        os.close(fd)


def _listdir_fd(fd: int) -> list[bytes]:
    # os.listdir(fd) gives str (surrogateescape); fsencode restores the bytes.
    return sorted(os.fsencode(n) for n in os.listdir(fd))


def _walk(
    root: PathLike, *, identity: bool = False, tolerate_vanishing: bool = False
) -> dict[bytes, dict]:
    """The walk behind snapshot() (see there), without its side effect on
    the source guard. tolerate_vanishing=True leaves out entries that
    disappear (or change type) while the walk runs, e.g. a concurrent
    call's temporary files.
    """
    root_b = _b(os.fspath(root))
    st = os.stat(root_b)
    info = _fd_describe(st, identity)
    if info["type"] == "file":
        fd = _open_quiet(root_b, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            info["digest"] = _content_digest_fd(fd)
        finally:
            os.close(fd)
    if info["type"] != "dir":
        return {ROOT_KEY: info}

    result: dict[bytes, dict] = {ROOT_KEY: info}
    dir_fd = _open_quiet(root_b, _DIR_FLAGS)
    try:
        # Each frame: [relative path, sorted child names, next index].
        stack: list[list] = [[b"", _listdir_fd(dir_fd), 0]]
        while stack:
            frame = stack[-1]
            rel, names, index = frame
            if index == len(names):
                stack.pop()
                if stack:
                    parent = _open_quiet(b"..", _DIR_FLAGS, dir_fd)
                    os.close(dir_fd)
                    dir_fd = parent
                continue
            frame[2] = index + 1
            name = names[index]
            child_rel = rel + b"/" + name if rel else name
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                info = _fd_describe(st, identity)
                if info["type"] == "file":
                    _fd_describe_file(name, dir_fd, info)
                elif info["type"] == "symlink":
                    info["target"] = os.readlink(name, dir_fd=dir_fd)
                elif info["type"] == "dir":
                    child = _open_quiet(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd)
                    try:
                        names_below = _listdir_fd(child)
                    except OSError:
                        os.close(child)
                        raise
            except OSError as e:
                vanished = e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EINVAL)
                if tolerate_vanishing and vanished:
                    continue
                raise
            result[child_rel] = info
            if info["type"] == "dir":
                os.close(dir_fd)
                dir_fd = child
                stack.append([child_rel, names_below, 0])
    finally:
        os.close(dir_fd)
    return result


def remove_tree_fd(path: PathLike) -> None:
    """Remove a directory tree of any depth, fd-relative and iteratively.

    Descends into one non-empty subdirectory at a time and climbs back with
    "..", so neither PATH_MAX nor the recursion limit nor the fd limit matter.
    """
    path_b = _b(os.fspath(path))
    cur = os.open(path_b, _DIR_FLAGS | os.O_NOFOLLOW)
    depth = 0
    try:
        while True:
            descend_into = None
            for name in _listdir_fd(cur):
                st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=cur)
                    continue
                try:
                    os.rmdir(name, dir_fd=cur)
                except OSError as e:
                    if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                        raise
                    descend_into = name
                    break
            if descend_into is not None:
                if os.geteuid() != 0:  # a read-only dir must become writable
                    os.chmod(descend_into, 0o700, dir_fd=cur)
                child = os.open(descend_into, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=cur)
                os.close(cur)
                cur = child
                depth += 1
                continue
            if depth == 0:
                break
            parent = os.open(b"..", _DIR_FLAGS, dir_fd=cur)
            os.close(cur)
            cur = parent
            depth -= 1
    finally:
        os.close(cur)
    os.rmdir(path_b)


# --------------------------------------------------------------------------
# Source guard: after every test, every source tree is verified unchanged
# --------------------------------------------------------------------------
#
# fastlink must never modify its source (it is somebody's package cache).
# conftest.py activates one SourceGuard per test (autouse fixture
# `source_guard`) and checks it right after the test body, before fixtures
# such as fresh_dir delete the trees. What is guarded, and against what:
#
#  * every make_tree() root: baseline = the finished tree;
#  * every src passed to fastlink.clone_or_copy that no guarded root covers
#    (e.g. a tree built by hand): baseline = taken just before the call;
#  * guard_source(path): baseline = now (also re-baselines after a test
#    deliberately changed a source);
#  * snapshot() (without identity) of a tree no clone_or_copy call has used
#    yet re-baselines it (setup like "make_tree, then chmod u+s, then
#    snapshot"); snapshot(..., identity=True) only observes.
#
# Compared (snapshots with identity=True): entry set, types, content digests,
# sizes, permission bits, mtimes (ns), symlink targets and inode numbers.
# Not compared: atime, ctime, link counts (a hardlink clone bumps them).
#
# A root is not a source where a test writes on purpose:
#  * a clone_or_copy call whose dst is the root or is above it excuses the
#    root (its pre-populated content is expected to change) — unless the
#    root is (inside) that same call's src: a call must never change its own
#    source, even when src lies inside dst or dst inside src;
#  * a dst strictly inside a root excuses that dst's subtree, the existence
#    and mtimes of the dirs leading to it, and `.fastlink-*` entries in them;
#  * forget_source(path) excuses every root at, inside or above path (for
#    tests that mutate sources on purpose, e.g. through hardlinks).
# Paths are compared lexically and, at verification time, after realpath().
# Calls made in other processes are not seen: a test that lets a child
# process write into a make_tree() root must forget_source() it.

_ACTIVE_GUARD: SourceGuard | None = None


def _inside(path: bytes, root: bytes) -> bool:
    """path == root or path lies below root (both normalized, absolute)."""
    if path == root:
        return True
    prefix = root if root.endswith(b"/") else root + b"/"
    return path.startswith(prefix)


def _related(a: bytes, b: bytes) -> bool:
    return _inside(a, b) or _inside(b, a)


def _abs(path: PathLike) -> bytes:
    # No syscall for absolute paths (abspath only normalizes them), which
    # keeps the clone_or_copy wrapper from releasing the GIL in tests that
    # measure whether fastlink releases it.
    return os.path.abspath(_b(os.fspath(path)))


def _realpath_or_none(path: bytes) -> bytes | None:
    try:
        return os.path.realpath(path)
    except OSError:
        return None


class SourceGuardError(AssertionError):
    pass


@dataclass
class _Root:
    seq: int  # registration time, on the same clock as calls
    baseline: dict[bytes, dict]


@dataclass
class _Call:
    seq: int
    src: bytes
    dst: bytes


class SourceGuard:
    """Per-test registry of source trees and their expected state."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._clock = 0
        self._roots: dict[bytes, _Root] = {}
        self._forgotten: list[bytes] = []
        self._calls: list[_Call] = []

    # -- registration ------------------------------------------------------

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _forgotten_covers(self, path: bytes) -> bool:
        return any(_related(path, f) for f in self._forgotten)

    def register(self, root: PathLike) -> None:
        """Guard `root` with its current state as the baseline."""
        with self._lock:
            path = _abs(root)
            if self._forgotten_covers(path):
                return
            self._roots[path] = _Root(self._tick(), _walk(path, identity=True))

    def forget(self, root: PathLike) -> None:
        """Stop guarding every root at, inside or above `root`, for good."""
        with self._lock:
            path = _abs(root)
            self._forgotten.append(path)
            for r in [r for r in self._roots if _related(r, path)]:
                del self._roots[r]

    def refresh_unused(self, path: PathLike) -> None:
        """Re-baseline guarded roots related to `path` that no call used yet."""
        with self._lock:
            p = _abs(path)
            for r, entry in list(self._roots.items()):
                if not _related(r, p):
                    continue
                used = any(
                    c.seq > entry.seq and (_related(r, c.src) or _related(r, c.dst))
                    for c in self._calls
                )
                if not used and os.path.lexists(r):
                    self._roots[r] = _Root(self._tick(), _walk(r, identity=True))

    def before_clone(self, args: tuple, kwargs: dict) -> None:
        """Called by the clone_or_copy wrapper with the call's arguments.

        Re-baselines the src and every guarded root at, inside or above it:
        whatever the test did to its trees before the call is setup; from
        the call on, the source must not change. Skipped (make_tree and
        guard_source baselines only) while the switch interval is raised:
        such a test measures whether fastlink releases the GIL, and the
        syscalls of a snapshot would let other threads run and fake a pass.
        """
        try:
            src = _abs(args[0] if args else kwargs["src"])
            dst = _abs(args[1] if len(args) > 1 else kwargs["dst"])
        except (KeyError, TypeError, ValueError):
            return  # bad arguments: fastlink raises, nothing to guard
        measuring_gil = sys.getswitchinterval() >= 1.0
        with self._lock:
            if not measuring_gil:
                for root in [src, *(r for r in self._roots if _related(r, src))]:
                    if self._forgotten_covers(root):
                        continue
                    try:
                        snap = _walk(root, identity=True, tolerate_vanishing=True)
                    except OSError:
                        continue  # missing/unreadable src: fastlink reports that itself
                    self._roots[root] = _Root(self._tick(), snap)
            self._calls.append(_Call(self._tick(), src, dst))

    # -- verification ------------------------------------------------------

    def _exemptions(self, root: bytes, since: int) -> tuple[list, set] | None:
        """None: root is excused entirely; else (ignored subtrees, loosened dirs)."""
        root_forms = {root} | ({_realpath_or_none(root)} - {None})
        ignored: list[bytes] = []
        loosened: set[bytes] = set()
        for call in self._calls:
            # A dst strictly inside the root is ignored whenever the call was
            # made: a concurrent call may have been writing it while the
            # baseline was taken.
            src_forms = {call.src} | ({_realpath_or_none(call.src)} - {None})
            dst_forms = {call.dst} | ({_realpath_or_none(call.dst)} - {None})
            if any(_inside(r, s) for r in root_forms for s in src_forms):
                continue  # part of this call's own source: no excuse
            if any(_inside(r, d) for r in root_forms for d in dst_forms):
                if call.seq > since:
                    return None
                continue  # written before the baseline was taken: that's fine
            for r in root_forms:
                for d in dst_forms:
                    if d != r and _inside(d, r):
                        rel = os.path.relpath(d, r)
                        ignored.append(rel)
                        parts = rel.split(b"/")
                        loosened.add(ROOT_KEY)
                        for i in range(1, len(parts)):
                            loosened.add(b"/".join(parts[:i]))
        return ignored, loosened

    def problems(self) -> list[str]:
        out: list[str] = []
        with self._lock:
            for root, entry in sorted(self._roots.items()):
                if self._forgotten_covers(root) or not os.path.lexists(root):
                    continue
                exemptions = self._exemptions(root, entry.seq)
                if exemptions is None:
                    continue
                ignored, loosened = exemptions
                try:
                    current = _walk(root, identity=True)
                except OSError as e:
                    out.append(f"{os.fsdecode(root)!r}: cannot be read any more: {e}")
                    continue
                diffs = _guard_differences(entry.baseline, current, ignored, loosened)
                if diffs:
                    shown = diffs[:30]
                    more = f"\n    ... and {len(diffs) - 30} more" if len(diffs) > 30 else ""
                    out.append(
                        f"{os.fsdecode(root)!r} changed:\n    " + "\n    ".join(shown) + more
                    )
        return out

    def verify(self) -> None:
        problems = self.problems()
        if problems:
            raise SourceGuardError(
                "source guard: a source tree changed during the test (fastlink must never "
                "modify its source). If the test changes it on purpose, call "
                "treeutil.forget_source(root) (or guard_source(root) to re-baseline).\n  "
                + "\n  ".join(problems)
            )


def _guard_differences(
    baseline: dict[bytes, dict],
    current: dict[bytes, dict],
    ignored: list[bytes],
    loosened: set[bytes],
) -> list[str]:
    problems = []
    for k in sorted(set(baseline) | set(current)):
        if any(k == i or k.startswith(i + b"/") for i in ignored):
            continue
        parent, _, name = k.rpartition(b"/")
        if (parent or ROOT_KEY) in loosened and k != ROOT_KEY and name.startswith(b".fastlink-"):
            continue  # a probe/staging/temp name next to a destination, not a source change
        if k in loosened and (k not in baseline or k not in current):
            continue  # a parent of a destination, created by fastlink
        if k not in current:
            problems.append(f"missing now: {k!r} ({baseline[k]['type']})")
        elif k not in baseline:
            problems.append(f"appeared: {k!r} ({current[k]['type']})")
        else:
            problems.extend(
                _entry_differences(
                    k, baseline[k], current[k], "exact", True, True, type_only=k in loosened
                )
            )
    return problems


def activate_guard(guard: SourceGuard | None) -> None:
    """Make `guard` the one make_tree/snapshot/clone_or_copy report to (conftest)."""
    global _ACTIVE_GUARD
    _ACTIVE_GUARD = guard


def active_guard() -> SourceGuard | None:
    return _ACTIVE_GUARD


def forget_source(root: PathLike) -> None:
    """Opt out: the test changes `root` (or something at/above/inside it) on purpose."""
    if _ACTIVE_GUARD is not None:
        _ACTIVE_GUARD.forget(root)


def guard_source(root: PathLike) -> None:
    """Guard `root` from now on, with its current state as the baseline."""
    if _ACTIVE_GUARD is not None:
        _ACTIVE_GUARD.register(root)


def guarded_clone_or_copy(fn: Callable) -> Callable:
    """Wrap fastlink.clone_or_copy (or clone_files, whose roots come first
    too) so the active guard sees every call."""
    if getattr(fn, "_source_guard_wrapper", False):
        return fn

    @functools.wraps(fn)
    def clone_or_copy(*args, **kwargs):
        guard = _ACTIVE_GUARD
        if guard is not None:
            guard.before_clone(args, kwargs)
        return fn(*args, **kwargs)

    clone_or_copy._source_guard_wrapper = True  # type: ignore[attr-defined]
    return clone_or_copy

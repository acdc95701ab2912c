"""Helpers for building, snapshotting and comparing directory trees.

Everything works on bytes paths (os.fsencode) so that names which are not
valid UTF-8 (e.g. b"caf\\xe9") round-trip exactly.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import shutil
import stat
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

Name = Union[str, bytes]
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

# Past timestamps (2020-09-13 ...) with a non-zero nanosecond part, so a
# copy that truncates to seconds or microseconds is caught.
_MTIME_BASE_NS = 1_600_000_000_123_456_789
_MTIME_STEP_NS = 1_000_003_007  # ~1 s apart, odd ns so every entry differs


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
    return snapshot(root_b)


# --------------------------------------------------------------------------
# Snapshots and comparison
# --------------------------------------------------------------------------

ROOT_KEY = b"."


def _sha256_file(path: bytes) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _describe(path: bytes, st: os.stat_result) -> dict:
    info = {"mode": stat.S_IMODE(st.st_mode), "mtime_ns": st.st_mtime_ns}
    if stat.S_ISREG(st.st_mode):
        info.update(type="file", size=st.st_size, sha256=_sha256_file(path))
    elif stat.S_ISDIR(st.st_mode):
        info.update(type="dir")
    elif stat.S_ISLNK(st.st_mode):
        # Symlink modes are always 0o777 on Linux; keep them anyway.
        info.update(type="symlink", target=os.readlink(path))
    else:
        info.update(type=f"other({stat.S_IFMT(st.st_mode):o})")
    return info


def snapshot(root: PathLike) -> dict[bytes, dict]:
    """Describe every entry under `root` (never following symlinks).

    Keys are paths relative to root as bytes; the root itself is b".".
    If root is a regular file the snapshot has the single key b".".
    The root is followed if it is a symlink, matching fastlink's src rule.
    """
    root_b = _b(os.fspath(root))
    result: dict[bytes, dict] = {ROOT_KEY: _describe(root_b, os.stat(root_b))}
    if result[ROOT_KEY]["type"] != "dir":
        return result

    def walk(dir_b: bytes, rel: bytes) -> None:
        for name in sorted(os.listdir(dir_b)):
            path = os.path.join(dir_b, name)
            rel_child = os.path.join(rel, name) if rel else name
            st = os.lstat(path)
            result[rel_child] = _describe(path, st)
            if stat.S_ISDIR(st.st_mode):
                walk(path, rel_child)

    walk(root_b, b"")
    return result


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


def assert_trees_equal(
    src: PathLike | dict[bytes, dict],
    dst: PathLike,
    *,
    times: bool = True,
    include_root: bool = True,
) -> None:
    """Assert that dst is a faithful copy of src.

    `src` is a path or a snapshot taken earlier (preferably before the copy,
    e.g. the one make_tree returns). Compares types, contents (sha256),
    sizes, symlink targets, permission bits (src's setuid/setgid masked out,
    per the contract) and, if `times`, mtimes in nanoseconds.
    `include_root=False` ignores the root's own metadata (for merges into a
    pre-existing dst).
    """
    a = src if isinstance(src, dict) else snapshot(src)
    src_label = "<snapshot>" if isinstance(src, dict) else os.fsdecode(os.fspath(src))
    b = snapshot(dst)
    if not include_root:
        a = {k: v for k, v in a.items() if k != ROOT_KEY}
        b = {k: v for k, v in b.items() if k != ROOT_KEY}

    problems: list[str] = []
    missing = sorted(set(a) - set(b))
    extra = sorted(set(b) - set(a))
    for k in missing:
        problems.append(f"missing in dst: {k!r} ({a[k]['type']})")
    for k in extra:
        problems.append(f"unexpected in dst: {k!r} ({b[k]['type']})")
    for k in sorted(set(a) & set(b)):
        s, d = a[k], b[k]
        if s["type"] != d["type"]:
            problems.append(f"{k!r}: type {s['type']} in src, {d['type']} in dst")
            continue
        fields = ["size", "sha256", "target"]
        for f in fields:
            if s.get(f) != d.get(f):
                problems.append(f"{k!r}: {f} differs: src={s.get(f)!r} dst={d.get(f)!r}")
        if s["type"] != "symlink":
            want = expected_dst_mode(s["mode"])
            if d["mode"] != want:
                problems.append(
                    f"{k!r}: mode src={s['mode']:#o} expected dst={want:#o} got dst={d['mode']:#o}"
                )
        if times and s["mtime_ns"] != d["mtime_ns"]:
            problems.append(
                f"{k!r} ({s['type']}): mtime_ns src={s['mtime_ns']} dst={d['mtime_ns']} "
                f"(diff {d['mtime_ns'] - s['mtime_ns']} ns)"
            )
    if problems:
        shown = problems[:40]
        more = f"\n... and {len(problems) - 40} more" if len(problems) > 40 else ""
        raise AssertionError(
            f"trees differ: {src_label!r} -> {os.fsdecode(os.fspath(dst))!r}\n  "
            + "\n  ".join(shown)
            + more
        )


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
        shutil.rmtree(path, onerror=onerror)
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

"""Trees a test builds: File, Dir and Symlink specs, make_tree, and a
representative sample tree. Paths are bytes inside (os.fsencode) so that
names which are not valid UTF-8 round-trip exactly."""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from typing import Union

from fdwalk import walk_tree
from guardhooks import active_guard
from paths import Name, PathLike, fsbytes

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
    root_b = fsbytes(os.fspath(root))
    os.makedirs(root_b, exist_ok=True)
    counter = [mtime_seed]

    def next_time() -> int:
        counter[0] += 1
        return _MTIME_BASE_NS + counter[0] * _MTIME_STEP_NS

    def build(dir_b: bytes, children: dict[Name, Entry]) -> None:
        for name, entry in children.items():
            path = os.path.join(dir_b, fsbytes(name))
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
                os.symlink(fsbytes(entry.target), path)
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
    guard = active_guard()
    if guard is not None:
        guard.register(root_b)
    return walk_tree(root_b)


# --------------------------------------------------------------------------
# A representative tree for directed tests
# --------------------------------------------------------------------------


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

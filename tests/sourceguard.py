"""The source guard: after every test, every source tree is verified
unchanged (conftest.py activates one per test)."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass

from fdwalk import ROOT_KEY, walk_tree
from paths import PathLike, fsbytes
from snapshots import entry_differences

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
    return os.path.abspath(fsbytes(os.fspath(path)))


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
            self._roots[path] = _Root(self._tick(), walk_tree(path, identity=True))

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
                    self._roots[r] = _Root(self._tick(), walk_tree(r, identity=True))

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
                        snap = walk_tree(root, identity=True, tolerate_vanishing=True)
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
                    current = walk_tree(root, identity=True)
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
                "guardhooks.forget_source(root) (or guard_source(root) to re-baseline).\n  "
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
                entry_differences(
                    k, baseline[k], current[k], "exact", True, True, type_only=k in loosened
                )
            )
    return problems

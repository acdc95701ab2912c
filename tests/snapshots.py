"""Snapshots of trees (any depth, by fd) and their comparison."""

from __future__ import annotations

import os
from typing import Any

from fdwalk import ROOT_KEY, walk_tree
from guardhooks import active_guard
from paths import PathLike

# --------------------------------------------------------------------------
# Snapshots and comparison
# --------------------------------------------------------------------------


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
        guard = active_guard()
        if guard is not None:
            guard.refresh_unused(root)
    return walk_tree(root, identity=identity)


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
            problems.extend(entry_differences(k, a[k], b[k], modes, times, dir_times))
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


def entry_differences(
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

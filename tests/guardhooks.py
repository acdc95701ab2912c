"""Where make_tree, snapshot and clone_or_copy report to the source guard
the test runs under (conftest.py activates one per test; see sourceguard).
A module of its own, so that the tree helpers can report without importing
the guard, which uses them."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable

from paths import PathLike

if TYPE_CHECKING:
    from sourceguard import SourceGuard

_ACTIVE_GUARD: SourceGuard | None = None


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

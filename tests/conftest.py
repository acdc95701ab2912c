"""Shared fixtures: hypothesis profiles and real loop-mounted filesystems.

Tests that don't need a particular filesystem use pytest's tmp_path (the
root filesystem here is ext4, which cannot reflink). Tests about reflinks,
cross-device fallbacks and so on ask for the session-scoped `xfs`, `btrfs`,
`ext4` or `tmpfs` fixtures, which loop-mount a small real filesystem the
first time a test asks for it and unmount it at the end of the session.

Mounting needs root and the mkfs tools. Where that's not possible the tests
are skipped locally, but fail under CI (env CI set): filesystem behaviour is
the whole point of fastlink, so CI must never pass by skipping it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import HealthCheck, settings

# Make `import treeutil` work however pytest is invoked (rootdir or
# importlib import mode), without turning tests/ into a package.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastlink
import treeutil
from treeutil import make_fresh_dir, remove_tree, skip_or_fail

# `make wheel-test` runs this suite against a wheel installed in a venv, and
# sets FASTLINK_REQUIRE_PREFIX to that venv: then any other fastlink (the
# source tree's python/fastlink, a stale build) stops the run before a test.
_REQUIRED_PREFIX = os.environ.get("FASTLINK_REQUIRE_PREFIX")
if _REQUIRED_PREFIX:
    for _module in (fastlink, fastlink._fastlink):
        _file = Path(_module.__file__ or "").resolve()
        if not _file.is_relative_to(Path(_REQUIRED_PREFIX).resolve()):
            raise pytest.UsageError(
                f"{_module.__name__} was imported from {_file}, not from {_REQUIRED_PREFIX}"
            )

# Every call goes through the source guard's wrapper (a no-op outside a
# test). Installed at import time, before test modules are imported, so
# `from fastlink import clone_or_copy` in a test module gets it too.
fastlink.clone_or_copy = treeutil.guarded_clone_or_copy(fastlink.clone_or_copy)

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


# kind -> mkfs argv (None: tmpfs, nothing to format) and image/tmpfs size.
_FILESYSTEMS: dict[str, dict] = {
    "xfs": {"mkfs": ["mkfs.xfs", "-q", "-m", "reflink=1"], "size": "512M"},
    "btrfs": {"mkfs": ["mkfs.btrfs", "-q"], "size": "512M"},
    # Force 256-byte inodes: mke2fs's "small" profile may choose 128-byte
    # inodes, which have no room for nanosecond timestamps.
    "ext4": {"mkfs": ["mkfs.ext4", "-q", "-F", "-I", "256", "-b", "4096"], "size": "256M"},
    "tmpfs": {"mkfs": None, "size": "512m"},
    # Deliberately tiny, to run out of space.
    "tiny_tmpfs": {"mkfs": None, "size": "4m"},
}


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class Mounts:
    """Lazily mounts each filesystem kind once per session."""

    def __init__(self) -> None:
        self._base: str | None = None
        self._mounted: dict[str, Path] = {}
        self._failed: dict[str, str] = {}
        # Cleanup actions in creation order; run in reverse.
        self._cleanup: list[Callable[[], None]] = []

    def _base_dir(self) -> str:
        if self._base is None:
            self._base = tempfile.mkdtemp(prefix="fastlink-test-mounts-")
            base = self._base
            # Non-recursive on purpose: if an unmount failed, never delete
            # through a still-mounted filesystem; just leave the dir.
            self._cleanup.append(lambda: _rmdir_quiet(base))
        return self._base

    def get(self, kind: str) -> Path:
        if kind in self._mounted:
            return self._mounted[kind]
        if kind not in self._failed:
            try:
                self._mounted[kind] = self._mount(kind)
                return self._mounted[kind]
            except _MountUnavailable as e:
                self._failed[kind] = str(e)
        skip_or_fail(f"cannot mount {kind}: {self._failed[kind]}")
        raise AssertionError("unreachable")

    def _mount(self, kind: str) -> Path:
        spec = _FILESYSTEMS[kind]
        if os.geteuid() != 0:
            raise _MountUnavailable("loop/tmpfs mounts need root")
        mkfs = spec["mkfs"]
        if mkfs is not None and shutil.which(mkfs[0]) is None:
            raise _MountUnavailable(f"{mkfs[0]} not installed")
        base = self._base_dir()
        mnt = os.path.join(base, kind)
        os.mkdir(mnt)
        self._cleanup.append(lambda: _rmdir_quiet(mnt))  # also if mounting fails
        if mkfs is None:
            argv = ["mount", "-t", "tmpfs", "-o", f"size={spec['size']}", "tmpfs", mnt]
        else:
            image = os.path.join(base, f"{kind}.img")
            # Sparse image: costs only what is written.
            with open(image, "wb") as f:
                f.truncate(_parse_size(spec["size"]))
            self._cleanup.append(lambda: _remove(image))
            r = _run([*mkfs, image])
            if r.returncode != 0:
                raise _MountUnavailable(f"{' '.join(mkfs)} failed: {r.stdout.strip()}")
            argv = ["mount", "-o", "loop", image, mnt]
        r = _run(argv)
        if r.returncode != 0:
            raise _MountUnavailable(f"{' '.join(argv)} failed: {r.stdout.strip()}")
        self._cleanup.append(lambda: _unmount(mnt))
        return Path(mnt)

    def close(self) -> None:
        errors = []
        for action in reversed(self._cleanup):
            try:
                action()
            except Exception as e:  # keep cleaning up the rest
                errors.append(e)
        self._cleanup.clear()
        self._mounted.clear()
        if errors:
            raise errors[0]


class _MountUnavailable(Exception):
    pass


def _parse_size(size: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(size[:-1]) * units[size[-1].lower()]


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _rmdir_quiet(path: str) -> None:
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _unmount(mnt: str) -> None:
    if _run(["umount", mnt]).returncode != 0:
        # Something still holds it open (e.g. a hung test thread): detach
        # lazily so the session can end; the kernel frees it when released.
        _run(["umount", "-l", mnt])
    _rmdir_quiet(mnt)


@pytest.fixture(scope="session")
def mounts():
    """Registry of lazily mounted filesystems: mounts.get("xfs") -> Path."""
    registry = Mounts()
    try:
        yield registry
    finally:
        registry.close()


@pytest.fixture(scope="session")
def xfs(mounts) -> Path:
    """XFS with reflink=1 (512 MiB sparse image)."""
    return mounts.get("xfs")


@pytest.fixture(scope="session")
def btrfs(mounts) -> Path:
    """btrfs (512 MiB sparse image); reflinks within itself."""
    return mounts.get("btrfs")


@pytest.fixture(scope="session")
def ext4(mounts) -> Path:
    """ext4 (256 MiB sparse image); no reflink, hardlinks work."""
    return mounts.get("ext4")


@pytest.fixture(scope="session")
def tmpfs(mounts) -> Path:
    """tmpfs (512 MiB); no reflink, no FIEMAP."""
    return mounts.get("tmpfs")


@pytest.fixture(scope="session")
def tiny_tmpfs(mounts) -> Path:
    """A 4 MiB tmpfs for out-of-space tests."""
    return mounts.get("tiny_tmpfs")


@pytest.fixture
def fresh_dir():
    """Factory: fresh_dir(mount) -> new unique dir inside mount, removed after the test.

    The mounts are shared by the whole session, so every test works in its
    own directories and frees the space it used.
    """
    created: list[Path] = []

    def factory(mount: os.PathLike, prefix: str = "t-") -> Path:
        d = make_fresh_dir(mount, prefix)
        created.append(d)
        return d

    yield factory
    for d in reversed(created):
        try:
            remove_tree(d)
        except OSError:
            shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# Source guard: after every test, the source trees are verified unchanged
# --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def source_guard():
    """The per-test treeutil.SourceGuard (see treeutil, "Source guard").

    make_tree roots and clone_or_copy sources are registered automatically;
    right after the test body (before fixtures delete the trees) every one
    that still exists must match its baseline by content hash, modes,
    mtimes, symlink targets and inode numbers. Opt out for a root the test
    changes on purpose with treeutil.forget_source(root).
    """
    guard = treeutil.SourceGuard()
    treeutil.activate_guard(guard)
    try:
        yield guard
    finally:
        if treeutil.active_guard() is guard:
            treeutil.activate_guard(None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # Runs the test body; a test that already failed (or skipped) keeps its
    # own outcome. Checking here, not in the fixture's teardown, because
    # fixture teardowns (fresh_dir) may delete the trees first.
    result = yield
    guard = item.funcargs.get("source_guard") if hasattr(item, "funcargs") else None
    if guard is not None:
        guard.verify()
    return result

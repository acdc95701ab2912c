"""Shared fixtures: hypothesis profiles and real loop-mounted filesystems.

Tests that don't need a particular filesystem use pytest's tmp_path (the
root filesystem here is ext4, which cannot reflink). Tests about reflinks,
cross-device fallbacks and so on ask for the session-scoped `xfs`, `btrfs`,
`ext4` or `tmpfs` fixtures, which loop-mount a small real filesystem the
first time a test asks for it and unmount it at the end of the session
(mounts.Mounts; every other mount a test makes is in mounts.py too).

Mounting needs root and the mkfs tools. Where that's not possible the tests
are skipped locally, but fail under CI (env CI set): filesystem behaviour is
the whole point of fastlink, so CI must never pass by skipping it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Make `import treespec` (and the other helpers) work however pytest is invoked (rootdir or
# importlib import mode), without turning tests/ into a package.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastlink
from faultutil import require_root
from fdwalk import make_fresh_dir, remove_tree
from guardhooks import activate_guard, active_guard, guarded_clone_or_copy
from mounts import Mounts
from skips import skip_or_fail
from sourceguard import SourceGuard

# `make macos-sim` runs this suite against the macOS backend: make sure the
# extension really is the one asked for, not a Linux build found on the path.
_expected_backend = os.environ.get("FASTLINK_EXPECT_BACKEND")
if _expected_backend and fastlink._fastlink._platform_backend != _expected_backend:
    raise RuntimeError(
        f"FASTLINK_EXPECT_BACKEND={_expected_backend}, but {fastlink._fastlink.__file__} "
        f"has the {fastlink._fastlink._platform_backend} backend"
    )

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

# Every tree here is written moments before it is placed, so on XFS each file
# would take the fresh-data route (copied, not cloned: see
# test_fresh_data_is_copied_where_a_clone_would_wait.py, which pins that route
# and sets its own window). Everywhere else the suite pins what a call does
# with data already written back: a window of 0 takes every file as such, in
# this process and in every child it starts.
os.environ["FASTLINK_WRITEBACK_SECONDS"] = "0"

# Every call goes through the source guard's wrapper (a no-op outside a
# test). Installed at import time, before test modules are imported, so
# `from fastlink import clone_or_copy` in a test module gets it too.
fastlink.clone_or_copy = guarded_clone_or_copy(fastlink.clone_or_copy)
# clone_files(src_root, dst_root, files) too: its roots are a tree call's.
# (getattr: the suite is also run against builds older than clone_files.)
if hasattr(fastlink, "clone_files"):
    fastlink.clone_files = guarded_clone_or_copy(fastlink.clone_files)

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


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
    """The per-test SourceGuard (see sourceguard.py).

    make_tree roots and clone_or_copy sources are registered automatically;
    right after the test body (before fixtures delete the trees) every one
    that still exists must match its baseline by content hash, modes,
    mtimes, symlink targets and inode numbers. Opt out for a root the test
    changes on purpose with guardhooks.forget_source(root).
    """
    guard = SourceGuard()
    activate_guard(guard)
    try:
        yield guard
    finally:
        if active_guard() is guard:
            activate_guard(None)


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


PROTECTED_HARDLINKS = "/proc/sys/fs/protected_hardlinks"


@pytest.fixture
def protected_hardlinks() -> Iterator[None]:
    """fs.protected_hardlinks=1 for the test, restored afterwards."""
    require_root("setting fs.protected_hardlinks")
    try:
        with open(PROTECTED_HARDLINKS) as f:
            old = f.read().strip()
    except OSError as e:
        skip_or_fail(f"cannot read {PROTECTED_HARDLINKS}: {e}")
    if old != "1":
        try:
            with open(PROTECTED_HARDLINKS, "w") as f:
                f.write("1")
        except OSError as e:
            skip_or_fail(f"cannot set {PROTECTED_HARDLINKS}=1: {e}")
    try:
        yield
    finally:
        if old != "1":
            with open(PROTECTED_HARDLINKS, "w") as f:
                f.write(old)


@pytest.fixture
def open_base() -> Iterator[Path]:
    """A directory any user can traverse (the session mounts and pytest's
    tmp_path are private to root), removed after the test."""
    base = Path(tempfile.mkdtemp(prefix="fastlink-protected-"))
    try:
        os.chmod(base, 0o755)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Tests marked `macos_backend` drive the simulated macOS backend's fault
    hooks (FASTLINK_SIM_*), which no other backend reads: elsewhere they would
    pass without exercising anything, so they are deselected, not run."""
    if fastlink._fastlink._platform_backend == "macos":
        return
    kept = [item for item in items if item.get_closest_marker("macos_backend") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept

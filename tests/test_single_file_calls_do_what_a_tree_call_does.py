"""A single small file placed in the caller's thread (issue 11, item 1) comes
out exactly as the planned path makes it: the same method, bytes shared or
not, inode, modes under any umask and default ACL, times, report, errors.

The planned path's answer is a one-file tree call: the file alone in a
directory, cloned as a tree, with the same arguments. Each fast call is
watched with inotify (tests/dirwatch.py): its name is created once, by a
link of the finished file, and no staging name appears, which shows the
call really took the fast path. Calls it must not take (a setuid file to
hard-link, a special file) go the planned way and keep their old outcome.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

import fastlink
import pytest
from dirwatch import IN_CREATE, IN_OPEN, watching
from fiemap import is_fully_shared
from snapshots import assert_trees_equal, expected_dst_mode, snapshot
from test_modes_are_exact_under_umask_and_acls import DEFAULT_ACLS, _set_default_acl
from treespec import File, make_tree, random_bytes

SIZE = 100_000  # >= 64 KiB: a clone has real extents (btrfs inlines tiny files)
REPORT_FIELDS = ("method", "files", "symlinks", "bytes", "reflinked", "hardlinked", "copied",
                 "skipped", "fallbacks")  # fmt: skip


def _report(report: fastlink.Report) -> dict:
    return {name: getattr(report, name) for name in REPORT_FIELDS}


def _source(base: Path, mode: int = 0o644, name: str = "mod.py") -> Path:
    """A file alone in its directory `base/src`, so the directory is its one-file tree."""
    make_tree(base / "src", {name: File(random_bytes(SIZE, mode), mode)})
    return base / "src" / name


def _both(src: Path, dst_base: Path, *, fast: bool = True, **kwargs) -> tuple:
    """(single-file report, its file, tree report, the tree's file)."""
    single_dir = dst_base / "single"
    single_dir.mkdir(parents=True, exist_ok=True)
    single = single_dir / src.name
    before = os.stat(src)
    with watching(single_dir) as watch:
        single_report = fastlink.clone_or_copy(src, single, **kwargs)
    # Only the Linux backend has nameless files (O_TMPFILE); on the others a
    # clone or copy of one file is staged and renamed like a tree.
    if fast and fastlink._fastlink._platform_backend == "linux":
        assert watch.named_changes() == [(IN_CREATE, os.fsencode(src.name))], watch.events
    # A copy reads the source, which may move its atime: give the tree call
    # the source as the single call had it.
    os.utime(src, ns=(before.st_atime_ns, before.st_mtime_ns))
    tree_report = fastlink.clone_or_copy(src.parent, dst_base / "tree", **kwargs)
    assert tree_report.dirs == 1
    return single_report, single, tree_report, dst_base / "tree" / src.name


def _same_file(single: Path, tree: Path) -> None:
    assert_trees_equal(snapshot(tree), snapshot(single), modes="exact")
    assert os.stat(single).st_atime_ns == os.stat(tree).st_atime_ns


def test_a_clone_shares_its_extents_as_a_tree_call_does(xfs, fresh_dir):
    base = fresh_dir(xfs)
    src = _source(base)
    expected = snapshot(src)
    progress: list[tuple[int, int, int, int]] = []
    single_report, single, tree_report, tree = _both(
        src,
        base,
        progress=lambda p: progress.append(
            (p.files_done, p.files_total, p.bytes_done, p.bytes_total)
        ),
    )
    assert _report(single_report) == _report(tree_report)
    assert single_report.method == "reflink" and single_report.reflinked == 1
    assert is_fully_shared(single) and is_fully_shared(tree)
    assert_trees_equal(expected, single, modes="exact")
    _same_file(single, tree)
    # The promised final progress call, complete, from the single call too.
    assert progress[-1] == (1, 1, SIZE, SIZE)


PAIRS_THAT_CANNOT = {
    # id: (source fs, destination fs, methods, the method used)
    "reflink-xfs-to-btrfs": ("xfs", "btrfs", None, "copy"),
    "reflink-on-ext4": ("ext4", "ext4", None, "copy"),
    "reflink-on-tmpfs": ("tmpfs", "tmpfs", None, "copy"),
    "hardlink-xfs-to-btrfs": ("xfs", "btrfs", ["hardlink", "copy"], "copy"),
    "both-xfs-to-ext4": ("xfs", "ext4", ["reflink", "hardlink", "copy"], "copy"),
}


@pytest.mark.parametrize("pair", list(PAIRS_THAT_CANNOT))
def test_a_method_the_pair_cannot_do_is_skipped_as_a_tree_call_skips_it(request, fresh_dir, pair):
    src_kind, dst_kind, methods, method = PAIRS_THAT_CANNOT[pair]
    src = _source(fresh_dir(request.getfixturevalue(src_kind)))
    dst_base = fresh_dir(request.getfixturevalue(dst_kind))
    single_report, single, tree_report, tree = _both(src, dst_base, methods=methods)
    assert single_report.method == method
    assert single_report.skipped, "nothing reported as skipped"
    assert _report(single_report) == _report(tree_report)
    _same_file(single, tree)
    if src_kind == dst_kind and src_kind != "tmpfs":  # tmpfs has no FIEMAP
        assert not is_fully_shared(single)


def test_a_hard_link_is_the_source_inode_as_from_a_tree_call(xfs, fresh_dir):
    base = fresh_dir(xfs)
    src = _source(base)
    single_report, single, tree_report, tree = _both(src, base, methods="hardlink")
    assert _report(single_report) == _report(tree_report)
    assert os.stat(single).st_ino == os.stat(src).st_ino == os.stat(tree).st_ino
    assert os.stat(src).st_nlink == 3


MODES = [0o755, 0o644, 0o640, 0o600, 0o444, 0o700, 0o4755, 0o2750]


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    yield
    os.umask(old)


def _acl(path: Path) -> dict[str, bytes]:
    return {name: os.getxattr(path, name) for name in sorted(os.listxattr(path))}


@pytest.mark.parametrize("acl", [None, *DEFAULT_ACLS])
@pytest.mark.parametrize("methods", ["reflink", "copy"])
def test_modes_are_exact_under_umask_077_and_a_default_acl(xfs, fresh_dir, umask_077, acl, methods):
    base = fresh_dir(xfs)
    dst_base = base / "dst"
    dst_base.mkdir()
    if acl is not None:
        _set_default_acl(dst_base, DEFAULT_ACLS[acl])
    for mode in MODES:
        src = _source(base / f"{mode:o}", mode)
        single_report, single, _, tree = _both(src, dst_base / f"{mode:o}", methods=methods)
        assert single_report.method == methods
        got = stat.S_IMODE(os.stat(single).st_mode)
        assert got == expected_dst_mode(mode), f"{mode:#o} came out {got:#o}"
        _same_file(single, tree)
        assert _acl(single) == _acl(tree)


@pytest.mark.parametrize("methods", ["reflink", "copy", "hardlink"])
def test_times_are_kept_or_set_now_as_a_tree_call_does(xfs, fresh_dir, methods):
    base = fresh_dir(xfs)
    src = _source(base)
    source = os.stat(src)
    _, single, _, tree = _both(src, base / "kept", methods=methods)
    _same_file(single, tree)
    assert os.stat(single).st_mtime_ns == source.st_mtime_ns
    assert os.stat(single).st_atime_ns == source.st_atime_ns
    if methods == "hardlink":
        return  # one inode: its times are the source's either way
    before = time.time_ns()
    _, single, _, tree = _both(src, base / "now", methods=methods, preserve_times=False)
    after = time.time_ns()
    for made in (single, tree):
        mtime = os.stat(made).st_mtime_ns
        # Filesystem timestamps are coarser than time_ns(): allow one tick.
        assert before - 10_000_000 <= mtime <= after + 10_000_000, (made, mtime)
        assert mtime != source.st_mtime_ns


def test_a_setuid_file_is_not_hard_linked_and_falls_back_as_before(xfs, fresh_dir):
    base = fresh_dir(xfs)
    src = _source(base, 0o4755, "tool")
    os.chmod(src, 0o4755)
    single_report, single, tree_report, tree = _both(
        src, base, fast=False, methods=["hardlink", "copy"]
    )
    assert _report(single_report) == _report(tree_report)
    assert single_report.method == "copy"
    assert [(m, e, n) for m, e, n, _ in single_report.fallbacks] == [("hardlink", errno.EPERM, 1)]
    assert os.stat(single).st_ino != os.stat(src).st_ino
    assert stat.S_IMODE(os.stat(single).st_mode) == 0o755
    _same_file(single, tree)

    with pytest.raises(fastlink.HardlinkUnsupportedError) as single_error:
        fastlink.clone_or_copy(src, base / "strict", methods="hardlink")
    with pytest.raises(fastlink.HardlinkUnsupportedError) as tree_error:
        fastlink.clone_or_copy(src.parent, base / "strict-tree", methods="hardlink")
    assert single_error.value.errno == tree_error.value.errno
    assert not os.path.lexists(base / "strict")
    assert not os.path.lexists(base / "strict-tree")


@pytest.mark.parametrize("kind", ["fifo", "char-device"])
@pytest.mark.parametrize("methods", ["reflink", "copy", "hardlink"])
def test_a_special_file_is_refused_without_being_opened(tmp_path, kind, methods):
    # Opening a device can act (a tape rewinds, a watchdog arms, a serial
    # line raises DTR) and opening a fifo wakes a writer waiting for a reader.
    special = tmp_path / "src" / kind
    special.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(special)
    else:
        os.mknod(special, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers
    with watching(special.parent) as watch, pytest.raises(fastlink.SpecialFileError):
        fastlink.clone_or_copy(special, tmp_path / "dst", methods=methods)
    assert watch.names(IN_OPEN) == set(), watch.events
    assert not os.path.lexists(tmp_path / "dst")


DECLINED = ["missing-parents", "symlinked-source", "over-1-mib", "sparse"]


@pytest.mark.parametrize("shape", DECLINED)
def test_calls_the_fast_path_declines_still_give_what_a_tree_call_gives(xfs, fresh_dir, shape):
    base = fresh_dir(xfs)
    size = (1 << 20) + 1 if shape == "over-1-mib" else SIZE
    make_tree(base / "src", {"mod.py": File(random_bytes(size, 5), 0o640)})
    src = base / "src" / "mod.py"
    if shape == "sparse":  # data, then a hole to 512 KiB
        times = os.stat(src)
        os.truncate(src, 512 * 1024)
        os.utime(src, ns=(times.st_atime_ns, times.st_mtime_ns))
    expected = snapshot(src)
    called = src
    if shape == "symlinked-source":  # followed, as for a tree
        called = base / "link.py"
        os.symlink(src, called)
    dst = base / "a" / "b" / "mod.py" if shape == "missing-parents" else base / "mod.py"
    report = fastlink.clone_or_copy(called, dst)
    tree_report = fastlink.clone_or_copy(src.parent, base / "tree")
    assert _report(report) == _report(tree_report)
    assert report.method == "reflink"
    assert_trees_equal(expected, dst, modes="exact")
    assert is_fully_shared(dst) or shape == "sparse"

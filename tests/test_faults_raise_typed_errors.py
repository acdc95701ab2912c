"""Real faults (full filesystem, read-only mount, permission denied) raise the
builtin OSError subclass the OS reported, with both paths set, and leave
nothing behind: a new dst never appears (no staging entry, no created
parents), a merge is rolled back and pre-existing files are untouched
(ISSUE3 contract, guarantees 1, 2 and 4).

Every filesystem used here is private to this module (small loop/tmpfs
mounts created and unmounted by its own fixtures), so free-space accounting
is not disturbed by other tests.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import fastlink
import pytest
from faultutil import deny_access, free_counts, listdir_b, run_unprivileged, sync_all
from fdwalk import fastlink_entries, make_fresh_dir, remove_tree
from guardhooks import forget_source
from mounts import filesystem, remounted_read_only
from snapshots import assert_trees_equal, snapshot
from treespec import File, Symlink, make_tree, random_bytes, sample_spec

MiB = 1 << 20


def _inside(path, root) -> bool:
    """path (str/bytes) is root or lies below it (lexically)."""
    p = os.path.normpath(os.fsencode(path))
    r = os.path.normpath(os.fsencode(os.fspath(root)))
    return p == r or p.startswith(r + b"/")


def _assert_paths_set(err: OSError, src, dst_side_root) -> None:
    """filename is on the source side, filename2 on the destination side.

    filename2 may name the final path or fastlink's staging/temp entry for it
    (the contract only says "dst side"), so it is only required to lie inside
    the directory that holds dst (new dst) or inside dst (merge).
    """
    assert err.filename, f"filename not set on {err!r}"
    assert err.filename2, f"filename2 not set on {err!r}"
    assert _inside(err.filename, src), f"filename {err.filename!r} is not under src {src}"
    assert _inside(err.filename2, dst_side_root), (
        f"filename2 {err.filename2!r} is not under {dst_side_root}"
    )


# --------------------------------------------------------------------------
# Out of space
# --------------------------------------------------------------------------

# Free blocks on XFS are compared with this tolerance (in fs blocks, 4 KiB).
# XFS frees the blocks of unlinked inodes in a background worker (inodegc)
# and keeps a small per-AG free list (AGFL) for its free-space btrees whose
# fill level may differ by a block or two after a burst of allocations and
# frees. 8 blocks = 32 KiB, while the tree that did not fit is 48 MiB and
# every file in it is 1 MiB or a few KiB with fresh content, so a single
# leaked file or staging dir is still caught (and leaked *entries* are caught
# exactly by the listings anyway). tmpfs accounting is exact: no tolerance.
XFS_FREE_BLOCK_TOLERANCE = 8


@pytest.fixture(scope="module")
def small_tmpfs():
    with filesystem("tmpfs", 16) as mnt:
        yield mnt


@pytest.fixture(scope="module")
def small_xfs():
    with filesystem("xfs", 32) as mnt:
        yield mnt


@pytest.fixture(scope="module")
def too_big_src(tmp_path_factory) -> Path:
    """48 MiB of incompressible data in 6 dirs (plus small files/symlinks):
    larger than the 16 MiB tmpfs and the ~26 MiB free of the 32 MiB XFS."""
    src = tmp_path_factory.mktemp("enospc") / "src"
    spec = {}
    for d in range(6):
        spec[f"d{d}"] = {f"f{i}.bin": File(random_bytes(MiB, d * 100 + i)) for i in range(8)}
        spec[f"d{d}"]["small.txt"] = f"small {d}\n".encode()
    spec["d0"]["link"] = Symlink("f0.bin")
    spec["top.txt"] = b"top\n"
    make_tree(src, spec)
    return src


def _free_after_cleanup(mnt: Path, before: tuple[int, int], kind: str) -> tuple[int, int]:
    """Free (blocks, inodes) once pending frees have been processed."""
    sync_all()
    now = free_counts(mnt)
    if kind == "xfs":
        # Give XFS's background inode inactivation a moment (not a timing
        # assertion: we stop as soon as the count is back).
        for _ in range(50):
            if now[0] >= before[0]:
                break
            time.sleep(0.1)
            sync_all()
            now = free_counts(mnt)
    return now


def _assert_space_returned(mnt: Path, before: tuple[int, int], kind: str) -> None:
    after = _free_after_cleanup(mnt, before, kind)
    if kind == "tmpfs":
        assert after == before, (
            f"tmpfs free (blocks, inodes) before={before} after={after}: "
            "the failed call left data or inodes behind"
        )
    else:
        diff = before[0] - after[0]
        assert abs(diff) <= XFS_FREE_BLOCK_TOLERANCE, (
            f"XFS free blocks before={before[0]} after={after[0]} (diff {diff} blocks): "
            "the failed call left data behind"
        )


def _expect_oserror(fn, *args, **kwargs) -> OSError:
    try:
        fn(*args, **kwargs)
    except OSError as e:
        return e
    raise AssertionError(f"clone_or_copy{args!r} {kwargs!r} did not fail")


@pytest.mark.parametrize("kind", ["tmpfs", "xfs"])
@pytest.mark.parametrize("dst_shape", ["dst", "missing/parents/dst"])
def test_enospc_new_dst_raises_and_leaves_nothing(request, too_big_src, kind, dst_shape):
    mnt = request.getfixturevalue(f"small_{kind}")
    parent = make_fresh_dir(mnt, "enospc-new-")
    try:
        dst = parent / dst_shape
        sync_all()
        before = free_counts(mnt)
        err = _expect_oserror(fastlink.clone_or_copy, too_big_src, dst)
        assert err.errno == errno.ENOSPC, f"expected ENOSPC, got {err!r}"
        assert type(err) is OSError, f"ENOSPC must be a plain OSError, got {type(err).__name__}"
        _assert_paths_set(err, too_big_src, parent)
        assert not os.path.lexists(dst)
        # No staging entry, no parent fastlink created, nothing else.
        assert listdir_b(parent) == [], f"left behind in dst's parent: {listdir_b(parent)}"
        assert fastlink_entries(mnt) == []
        _assert_space_returned(mnt, before, kind)
    finally:
        remove_tree(parent)


@pytest.fixture(scope="module")
def too_big_file(tmp_path_factory) -> Path:
    """One 40 MiB file: a single-file src is staged as a file (contract 1)."""
    path = tmp_path_factory.mktemp("enospc-file") / "big.whl"
    with open(path, "wb") as f:
        for i in range(40):
            f.write(random_bytes(MiB, 7000 + i))
    return path


@pytest.mark.parametrize("kind", ["tmpfs", "xfs"])
def test_enospc_single_file_src_leaves_nothing(request, too_big_file, kind):
    mnt = request.getfixturevalue(f"small_{kind}")
    parent = make_fresh_dir(mnt, "enospc-file-")
    try:
        dst = parent / "big.whl"
        sync_all()
        before = free_counts(mnt)
        err = _expect_oserror(fastlink.clone_or_copy, too_big_file, dst)
        assert err.errno == errno.ENOSPC, f"expected ENOSPC, got {err!r}"
        assert type(err) is OSError, f"ENOSPC must be a plain OSError, got {type(err).__name__}"
        _assert_paths_set(err, too_big_file, parent)
        assert not os.path.lexists(dst)
        assert listdir_b(parent) == [], f"left behind in dst's parent: {listdir_b(parent)}"
        _assert_space_returned(mnt, before, kind)
    finally:
        remove_tree(parent)


@pytest.mark.parametrize("kind", ["tmpfs", "xfs"])
def test_enospc_merge_rolls_back_and_keeps_existing_files(request, too_big_src, kind):
    mnt = request.getfixturevalue(f"small_{kind}")
    parent = make_fresh_dir(mnt, "enospc-merge-")
    try:
        dst = parent / "dst"
        # d0 already exists (files land in a pre-existing dir: temp+rename);
        # d1..d5 are new (staged subtrees).
        make_tree(
            dst,
            {
                "keep.txt": b"keep me\n",
                "mine.bin": File(random_bytes(64 * 1024, 9001), 0o600),
                "d0": {"pre-existing.bin": File(random_bytes(100_000, 9002), 0o640)},
                "other": {"x": b"x"},
            },
        )
        before_tree = snapshot(dst)
        sync_all()
        before = free_counts(mnt)
        err = _expect_oserror(fastlink.clone_or_copy, too_big_src, dst, dirs_exist_ok=True)
        assert err.errno == errno.ENOSPC, f"expected ENOSPC, got {err!r}"
        assert type(err) is OSError, f"ENOSPC must be a plain OSError, got {type(err).__name__}"
        _assert_paths_set(err, too_big_src, dst)
        assert_trees_equal(
            before_tree, dst, modes="exact", dir_times=False, what="pre-existing dst"
        )
        assert listdir_b(parent) == [b"dst"]
        assert fastlink_entries(mnt) == []
        _assert_space_returned(mnt, before, kind)
    finally:
        remove_tree(parent)


# --------------------------------------------------------------------------
# Read-only destination mount
# --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["tmpfs", "xfs"])
def ro_mount(request):
    """A small fs holding `src/` (a sample tree), an empty `parent/` and an
    existing `merge-dst/`, remounted read-only."""
    kind = request.param
    with filesystem(kind, 32) as mnt:
        make_tree(mnt / "src", sample_spec())
        (mnt / "parent").mkdir()
        make_tree(mnt / "merge-dst", {"keep.txt": b"keep\n", "sub dir": {"mine": b"mine"}})
        sync_all()
        with remounted_read_only(mnt):
            yield kind, mnt


@pytest.fixture(scope="module")
def rw_src(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("erofs") / "src"
    make_tree(src, sample_spec())
    return src


@pytest.mark.parametrize(
    "dst_rel, merge",
    [("parent/dst", False), ("parent/a/b/dst", False), ("merge-dst", True)],
    ids=["new-dst", "new-dst-missing-parents", "merge"],
)
@pytest.mark.parametrize("src_side", ["other-fs", "same-fs"])
@pytest.mark.parametrize("methods", [None, "copy"], ids=["default-methods", "copy-only"])
def test_read_only_destination_raises_erofs_and_creates_nothing(
    ro_mount, rw_src, dst_rel, merge, src_side, methods
):
    kind, mnt = ro_mount
    # same-fs: src lives on the read-only fs too, so on XFS the reflink path
    # (and its probe) meets EROFS first; other-fs: the copy path does.
    src = mnt / "src" if src_side == "same-fs" else rw_src
    dst = mnt / dst_rel
    before = snapshot(mnt)
    err = _expect_oserror(fastlink.clone_or_copy, src, dst, dirs_exist_ok=merge, methods=methods)
    assert err.errno == errno.EROFS, f"expected EROFS on {kind}, got {err!r}"
    assert type(err) is OSError, f"EROFS must be a plain OSError, got {type(err).__name__}"
    assert not isinstance(err, fastlink.FastlinkError)
    assert err.filename and err.filename2, f"paths not set on {err!r}"
    assert snapshot(mnt) == before, "something changed on the read-only mount"
    if not merge:
        assert not os.path.lexists(dst)


# --------------------------------------------------------------------------
# Permission denied, as a process without DAC override
# --------------------------------------------------------------------------
#
# Root bypasses permission checks through CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH. A setuid to nobody is not an option here: the venv's
# interpreter lives under /root, which nobody cannot traverse. So the child
# stays uid 0 but runs with both capabilities removed from its bounding and
# inheritable sets (setpriv), which drops them from its effective set at exec;
# the files and dirs that must be denied are owned by nobody (65534) so that
# uid 0 is "other" for them. The child first proves the denial with plain
# open()/mkdir() and reports it; the test refuses to judge fastlink if the
# denial did not happen. As a normal user no setpriv/chown is needed: mode
# 000/555 already deny the owner.


def _baseline_source(src: Path):
    """After deny_access() changed modes/owners inside a make_tree() source,
    re-baseline conftest's source guard (snapshot() does that for a tree no
    call has used yet) and return the snapshot to compare with afterwards.
    As a normal user the denied entries cannot be read back at all, so the
    source is excluded from the guard instead (returns None)."""
    if os.geteuid() == 0:
        return snapshot(src)
    forget_source(src)
    return None


def _assert_permission_error(outcome: dict, src, dst_side_root, *, filename=None) -> None:
    assert not outcome["ok"], f"clone_or_copy succeeded despite the denied access: {outcome}"
    assert outcome["error"] == "PermissionError", f"expected PermissionError, got {outcome}"
    assert outcome["errno"] == errno.EACCES, outcome
    assert "FastlinkError" not in outcome["mro"], outcome
    assert outcome["filename"] and outcome["filename2"], f"paths not set: {outcome}"
    assert _inside(outcome["filename"], src), outcome
    assert _inside(outcome["filename2"], dst_side_root), outcome
    if filename is not None:
        assert os.path.normpath(outcome["filename"]) == os.path.normpath(os.fspath(filename)), (
            f"filename should name the denied source entry {filename}: {outcome}"
        )


@pytest.fixture(params=["rootfs", "xfs"])
def perm_base(request, fresh_dir) -> Path:
    """Where src and dst live: pytest's tmp dir (ext4: copy path) or the
    session XFS (src and dst on the same XFS: reflink path)."""
    if request.param == "rootfs":
        base = request.getfixturevalue("tmp_path")
    else:
        base = fresh_dir(request.getfixturevalue("xfs"), "perm-")
    # The base must be traversable by the capability-less child: keep it
    # owned by uid 0 (the child is uid 0) — nothing to do.
    yield base
    # Make it removable again whatever the test did.
    for dirpath, dirnames, _ in os.walk(base):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)
    for dirpath, _, filenames in os.walk(base):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


@pytest.mark.parametrize("dst_rel", ["dst", "not/yet/dst"])
def test_read_only_parent_dir_raises_permission_error(perm_base, dst_rel):
    src = perm_base / "src"
    make_tree(src, sample_spec())
    before_src = snapshot(src)
    locked = perm_base / "locked"
    locked.mkdir()
    deny_access(locked, 0o555)
    dst = locked / dst_rel
    outcome = run_unprivileged(src, dst, unwritable=[locked])
    assert not outcome["ok"], f"clone_or_copy succeeded despite the denied access: {outcome}"
    assert outcome["error"] == "PermissionError", f"expected PermissionError, got {outcome}"
    assert outcome["errno"] == errno.EACCES, outcome
    assert outcome["filename"] and outcome["filename2"], f"paths not set: {outcome}"
    assert _inside(outcome["filename2"], locked), outcome
    assert not os.path.lexists(dst)
    assert listdir_b(locked) == []
    assert snapshot(src) == before_src


def test_unreadable_source_file_raises_permission_error_and_leaves_no_dst(perm_base):
    src = perm_base / "src"
    spec = sample_spec()
    spec["sub dir"].children["zz-secret.bin"] = File(random_bytes(200_000, 77), 0o600)
    make_tree(src, spec)
    secret = src / "sub dir" / "zz-secret.bin"
    deny_access(secret, 0o000)
    before_src = _baseline_source(src)
    out = perm_base / "out"
    dst = out / "dst"
    outcome = run_unprivileged(src, dst, unreadable=[secret])
    _assert_permission_error(outcome, src, out, filename=secret)
    assert not os.path.lexists(dst)
    assert not os.path.lexists(out), "parents created by fastlink were not removed"
    assert fastlink_entries(perm_base) == []
    if before_src is not None:
        assert snapshot(src) == before_src, "the source was modified"


def test_unreadable_source_dir_raises_permission_error_and_leaves_no_dst(perm_base):
    src = perm_base / "src"
    make_tree(src, sample_spec())
    (src / "zz-closed").mkdir()
    (src / "zz-closed" / "inside").write_bytes(b"inside")
    closed = src / "zz-closed"
    deny_access(closed, 0o000)
    before_src = _baseline_source(src)
    dst = perm_base / "dst"
    outcome = run_unprivileged(src, dst, unreadable=[closed], unwritable=[closed])
    _assert_permission_error(outcome, src, perm_base, filename=closed)
    assert not os.path.lexists(dst)
    assert fastlink_entries(perm_base) == []
    assert sorted(os.listdir(perm_base)) == ["src"]
    if before_src is not None:
        assert snapshot(src) == before_src, "the source was modified"


def test_unreadable_source_file_in_merge_rolls_back(perm_base):
    src = perm_base / "src"
    make_tree(
        src,
        {
            "shared": {f"n{i}.bin": File(random_bytes(50_000, i)) for i in range(20)},
            "newdir": {f"m{i}.bin": File(random_bytes(50_000, 100 + i)) for i in range(20)},
            "top.bin": File(random_bytes(80_000, 999)),
        },
    )
    secret = src / "shared" / "n7.bin"
    deny_access(secret, 0o000)
    before_src = _baseline_source(src)
    dst = perm_base / "dst"
    make_tree(dst, {"keep.txt": b"keep\n", "shared": {"mine.txt": b"mine\n"}})
    # The merge runs in a child process, which the source guard cannot see;
    # dst is checked below (directory mtimes may change, contents may not).
    forget_source(dst)
    before = snapshot(dst)
    outcome = run_unprivileged(src, dst, unreadable=[secret], dirs_exist_ok=True)
    _assert_permission_error(outcome, src, dst, filename=secret)
    assert_trees_equal(before, dst, modes="exact", dir_times=False, what="pre-existing dst")
    assert fastlink_entries(perm_base) == []
    if before_src is not None:
        assert snapshot(src) == before_src, "the source was modified"

"""Hostile source trees are copied faithfully or refused cleanly.

Contract (issue 3, guarantee 6, and SourceChangedError):
  * absolute symlinks, `..` symlinks that escape the tree and symlink loops
    are copied as links (same target bytes), never followed;
  * setuid/setgid bits are cleared;
  * fifos, sockets and devices -> SpecialFileError, without hanging, and
    nothing is written;
  * dst inside src -> DestinationInsideSourceError; src inside dst (a merge)
    -> SourceInsideDestinationError; both refused before writing;
  * trees thousands of levels deep (paths far beyond PATH_MAX) work;
  * names that are not UTF-8 are copied byte-exact;
  * a source file that changes size while it is being copied ->
    SourceChangedError (errno EAGAIN), and no dst is left.

Each runs on a same-filesystem pair (XFS, reflink) and a cross-device pair
(tmpfs -> btrfs, copy) unless it is about one path only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import threading
import time

import fastlink
import pytest
from fdwalk import fastlink_entries
from guardhooks import forget_source
from procutil import call_with_deadline
from snapshots import assert_trees_equal, snapshot, tree_differences
from treespec import Dir, File, Symlink, make_tree, random_bytes

PAIRS = [("xfs", "xfs"), ("tmpfs", "btrfs")]
PAIR_IDS = ["xfs-to-xfs", "tmpfs-to-btrfs"]

# How long a call that must fail (or finish) promptly may take before it is
# declared hung. Not a performance assertion: it only turns a hang (e.g. a
# fifo opened for reading, an endless walk through a symlink loop) into a
# failure instead of a stuck suite.
HANG_TIMEOUT_S = 60


@pytest.fixture(params=PAIRS, ids=PAIR_IDS)
def bases(request, mounts, fresh_dir):
    """(src_base, dst_base): fresh dirs on the pair's filesystems."""
    src_fs, dst_fs = request.param
    src_base = fresh_dir(mounts.get(src_fs), "hostile-src-")
    return src_base, fresh_dir(mounts.get(dst_fs), "hostile-dst-")


def _call_with_timeout(fn, *args, on_hang=None, **kwargs):
    return call_with_deadline(fn, *args, deadline_s=HANG_TIMEOUT_S, on_hang=on_hang, **kwargs)


def _links(root):
    """{relative path: target} for every symlink under root."""
    return {k: v["target"] for k, v in snapshot(root).items() if v["type"] == "symlink"}


# --------------------------------------------------------------------------
# Symlinks: copied as links, never followed
# --------------------------------------------------------------------------


def test_absolute_symlinks_are_copied_as_links(bases):
    src_base, dst_base = bases
    outside = src_base / "outside"
    make_tree(outside, {"secret.txt": b"outside the tree", "dir": {"inner.txt": b"inner"}})
    src, dst = src_base / "src", dst_base / "dst"
    spec = {
        "f.txt": b"x",
        "abs-file": Symlink(os.fsencode(outside / "secret.txt")),
        "abs-dir": Symlink(os.fsencode(outside / "dir")),
        "abs-root": Symlink("/"),
        "abs-etc": Symlink("/etc/passwd"),
        "abs-into-src": Symlink(os.fsencode(src / "f.txt")),
        "abs-dangling": Symlink("/no/such/path/\xe9"),
        "sub": {"abs-src-root": Symlink(os.fsencode(src))},
    }
    src_snap = make_tree(src, spec)

    kind, report = _call_with_timeout(fastlink.clone_or_copy, src, dst)

    assert kind == "result", report
    assert_trees_equal(src_snap, dst)
    assert _links(dst) == _links(src)
    assert (report.files, report.symlinks, report.dirs) == (1, 7, 2)
    assert report.bytes == 1


def test_dotdot_symlinks_escaping_the_tree_are_copied_as_links(bases):
    src_base, dst_base = bases
    make_tree(src_base / "outside", {"secret.txt": b"outside the tree", "d": {"x": b"x"}})
    src, dst = src_base / "src", dst_base / "dst"
    spec = {
        "up": Symlink(".."),
        "upup": Symlink("../.."),
        "escape-file": Symlink("../outside/secret.txt"),
        "escape-dir": Symlink("../outside/d"),
        "sub": {
            "deep-escape": Symlink("../../outside"),
            "far": Symlink("../" * 40 + "etc/passwd"),
            "back-in": Symlink("../sub/../sub"),
        },
    }
    src_snap = make_tree(src, spec)

    kind, report = _call_with_timeout(fastlink.clone_or_copy, src, dst)

    assert kind == "result", report
    assert_trees_equal(src_snap, dst)
    assert _links(dst) == _links(src)
    assert (report.files, report.symlinks, report.dirs) == (0, 7, 2)
    assert sorted(os.listdir(dst)) == ["escape-dir", "escape-file", "sub", "up", "upup"]


def test_symlink_loops_are_copied_as_links(bases):
    src_base, dst_base = bases
    src, dst = src_base / "src", dst_base / "dst"
    spec = {
        "a": Symlink("b"),
        "b": Symlink("a"),
        "self": Symlink("self"),
        "ring1": Symlink("ring2"),
        "ring2": Symlink("ring3"),
        "ring3": Symlink("ring1"),
        "f": b"data",
        "sub": {
            "parent": Symlink(".."),  # a walker that followed it would never end
            "itself": Symlink("../sub"),
            "through-loop": Symlink("../a/x"),
        },
    }
    src_snap = make_tree(src, spec)

    kind, report = _call_with_timeout(fastlink.clone_or_copy, src, dst)

    assert kind == "result", report
    assert_trees_equal(src_snap, dst)
    assert _links(dst) == _links(src)
    assert (report.files, report.symlinks, report.dirs) == (1, 9, 2)


# --------------------------------------------------------------------------
# setuid / setgid
# --------------------------------------------------------------------------


SUID_SPEC = {
    "suid": File(b"#!/bin/sh\n" + random_bytes(70 * 1024, 31), 0o4755),
    "sgid": File(random_bytes(100, 32), 0o2755),
    "both": File(random_bytes(100, 33), 0o6755),
    "suid-not-exec": File(b"x", 0o4644),
    "sgid-dir": Dir({"inner": File(b"i", 0o2711), "plain": File(b"p", 0o755)}, 0o2775),
    "plain": File(b"p", 0o755),
}


@pytest.mark.parametrize("methods", [None, "copy"], ids=["default", "copy"])
def test_setuid_and_setgid_bits_are_cleared(bases, methods):
    src_base, dst_base = bases
    src, dst = src_base / "src", dst_base / "dst"
    src_snap = make_tree(src, SUID_SPEC)
    assert src_snap[b"suid"]["mode"] == 0o4755, "could not set up a setuid source file"

    fastlink.clone_or_copy(src, dst, methods=methods)

    assert_trees_equal(src_snap, dst)  # compares modes with setuid/setgid masked out
    for rel, info in snapshot(dst).items():
        assert not info["mode"] & 0o6000, f"{rel!r} kept {info['mode']:#o}"


def test_setgid_destination_parent_does_not_leak_the_bit_into_the_copy(bases):
    # New directories inherit S_ISGID from a setgid parent; "setuid/setgid
    # bits are cleared" and "permission bits are kept" together mean the
    # copy's modes are exactly the source's, whatever the parent is.
    src_base, dst_base = bases
    parent = dst_base / "shared-group-dir"
    os.mkdir(parent)
    os.chmod(parent, 0o2775)
    src, dst = src_base / "src", parent / "dst"
    src_snap = make_tree(src, {"d": Dir({"f": b"x", "e": Dir({}, 0o700)}, 0o755), "g": b"y"})

    fastlink.clone_or_copy(src, dst)

    assert_trees_equal(src_snap, dst)


# --------------------------------------------------------------------------
# Special files: refused before anything is written, without hanging
# --------------------------------------------------------------------------


def _unblock_fifo(path):
    # A reader blocked in open() is released when a writer opens the fifo.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


SPECIALS = ["fifo", "socket", "chardev"]


def _make_special(kind, path, cleanup):
    if kind == "fifo":
        os.mkfifo(path)
        cleanup.append(lambda: _unblock_fifo(path))
    elif kind == "socket":
        # sun_path holds ~108 bytes, less than these paths: bind through the
        # directory's /proc/self/fd entry, which resolves to the same place.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cleanup.append(sock.close)
        dir_fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            sock.bind(f"/proc/self/fd/{dir_fd}/{os.path.basename(path)}")
        finally:
            os.close(dir_fd)
    else:
        if os.geteuid() != 0:
            pytest.skip("mknod of a device needs root")
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null


@pytest.mark.parametrize("where", ["last-of-many", "deep"])
@pytest.mark.parametrize("kind", SPECIALS)
def test_special_files_are_refused_before_writing_and_without_hanging(bases, kind, where):
    src_base, dst_base = bases
    src, dst = src_base / "src", dst_base / "out" / "dst"
    # Many regular files that sort before the special one: an implementation
    # that checked while copying would already have written some of them.
    spec = {f"a{i:03d}.bin": random_bytes(4096, i) for i in range(200)}
    spec["deep"] = {"er": {"still": {"a.txt": b"a"}}}
    make_tree(src, spec)
    special = src / ("zzz-special" if where == "last-of-many" else "deep/er/still/zzz-special")
    cleanup: list = []
    try:
        _make_special(kind, special, cleanup)
        kind_, value = _call_with_timeout(
            fastlink.clone_or_copy, src, dst, on_hang=lambda: [c() for c in cleanup]
        )
    finally:
        for c in cleanup:
            c()

    assert kind_ == "error", f"expected SpecialFileError, got {value!r}"
    assert isinstance(value, fastlink.SpecialFileError), repr(value)
    assert isinstance(value, OSError) and isinstance(value, fastlink.FastlinkError)
    assert value.errno == errno.EINVAL
    assert os.fsencode(value.filename or b"").endswith(b"zzz-special"), value
    assert not os.path.lexists(dst)
    assert not os.path.lexists(dst_base / "out"), "a created parent of dst was left behind"
    assert fastlink_entries(dst_base) == []


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_special_file_in_a_merge_leaves_the_destination_untouched(xfs, fresh_dir, kind):
    base = fresh_dir(xfs, "hostile-")
    src, dst = base / "src", base / "dst"
    make_tree(src, {"a.txt": b"a", "new": {"b": b"b"}, "sub": {"c": b"c"}})
    make_tree(dst, {"old.txt": b"old", "sub": {"mine": b"m"}}, mtime_seed=1000)
    # Probe the pair first: the probe would touch dst's mtime.
    make_tree(base / "warm", {"f": b"w"})
    fastlink.clone_or_copy(base / "warm", base / "warm-dst")
    before = snapshot(dst, identity=True)
    cleanup: list = []
    try:
        _make_special(kind, src / "sub" / "zzz-special", cleanup)
        kind_, value = _call_with_timeout(
            fastlink.clone_or_copy,
            src,
            dst,
            dirs_exist_ok=True,
            overwrite=True,
            on_hang=lambda: [c() for c in cleanup],
        )
    finally:
        for c in cleanup:
            c()

    assert kind_ == "error" and isinstance(value, fastlink.SpecialFileError), repr(value)
    assert tree_differences(before, snapshot(dst, identity=True), modes="exact") == []
    assert fastlink_entries(base) == []


# --------------------------------------------------------------------------
# dst inside src, src inside dst
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how", ["child", "dotdot", "via-symlinked-parent", "via-symlinked-src", "same-merge"]
)
@pytest.mark.parametrize("overwrite", [False, True], ids=["no-overwrite", "overwrite"])
def test_dst_inside_src_is_refused_before_writing(xfs, fresh_dir, how, overwrite):
    base = fresh_dir(xfs, "hostile-")
    src = base / "src"
    src_snap = make_tree(src, {"f": b"x", "sub": {"g": b"y", "deeper": {"h": b"z"}}})
    os.symlink("src", base / "alias")
    call_src, dirs_exist_ok = src, False
    if how == "child":
        dst = src / "sub" / "copy"
    elif how == "dotdot":
        dst = src / "sub" / ".." / "copy"  # lexically under sub/.., really src/copy
    elif how == "via-symlinked-parent":
        dst = base / "alias" / "sub" / "copy"
    elif how == "via-symlinked-src":
        call_src, dst = base / "alias", src / "copy"
    else:  # merging a tree into itself, replacing files: the worst case
        dst, dirs_exist_ok = src, True

    with pytest.raises(fastlink.DestinationInsideSourceError) as caught:
        fastlink.clone_or_copy(call_src, dst, dirs_exist_ok=dirs_exist_ok, overwrite=overwrite)

    assert caught.value.errno == errno.EINVAL
    assert isinstance(caught.value, fastlink.FastlinkError)
    assert tree_differences(src_snap, snapshot(src), modes="exact") == []
    assert fastlink_entries(base) == []


@pytest.mark.parametrize("how", ["nested", "direct-child", "via-symlink"])
@pytest.mark.parametrize("overwrite", [False, True], ids=["no-overwrite", "overwrite"])
def test_src_inside_dst_merge_is_refused_before_writing(xfs, fresh_dir, how, overwrite):
    base = fresh_dir(xfs, "hostile-")
    # Probe the pair first: the probe would touch dst's mtime.
    make_tree(base / "warm", {"f": b"w"})
    fastlink.clone_or_copy(base / "warm", base / "warm-dst")
    env = base / "env"
    make_tree(
        env,
        {
            "cache": {"pkg": {"mod.py": b"cached", "sub": {"x": b"x"}}},
            "lib": {"mod.py": b"installed, different"},
            "pkg": {"mod.py": b"an older install"},
        },
    )
    before = snapshot(env, identity=True)
    if how == "nested":
        src = env / "cache" / "pkg"
    elif how == "direct-child":
        src = env / "pkg"
    else:
        os.symlink(env / "cache" / "pkg", base / "pkg-link")
        src = base / "pkg-link"

    with pytest.raises(fastlink.SourceInsideDestinationError) as caught:
        fastlink.clone_or_copy(src, env, dirs_exist_ok=True, overwrite=overwrite)

    err = caught.value
    assert isinstance(err, fastlink.FastlinkError) and isinstance(err, OSError)
    assert err.errno == errno.EINVAL
    assert err.filename and err.filename2
    # Refused before anything was written: the whole of dst (which contains
    # the source) is exactly as it was, directory mtimes included.
    assert tree_differences(before, snapshot(env, identity=True), modes="exact") == []
    assert fastlink_entries(base) == []


# --------------------------------------------------------------------------
# A tree far deeper than PATH_MAX
# --------------------------------------------------------------------------

DEPTH = 3000
PATH_MAX = 4096


def _build_deep_tree(root, depth):
    """root/0000/0001/.../<depth-1>, with files along the way and at the
    bottom, built fd-relative (path-based calls fail beyond PATH_MAX).
    Returns the length in bytes of the deepest file's path below root."""
    os.mkdir(root)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    length = 0
    try:
        for i in range(depth):
            name = f"{i:04d}"
            os.mkdir(name, 0o755, dir_fd=fd)
            if i % 500 == 0:
                _write_at(fd, f"file-{i}", random_bytes(1000 + i, i), 0o644)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            length += len(name) + 1
        _write_at(fd, "leaf.bin", random_bytes(70 * 1024, 99), 0o640)
        os.symlink("../" * 5 + "0000", "up-link", dir_fd=fd)
        os.mkdir("empty-leaf-dir", 0o700, dir_fd=fd)
        length += len("leaf.bin")
    finally:
        os.close(fd)
    return length


def _write_at(dir_fd, name, data, mode):
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode, dir_fd=dir_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_a_tree_far_deeper_than_path_max_is_cloned_completely(bases):
    src_base, dst_base = bases
    src, dst = src_base / "deep-src", dst_base / "deep-dst"
    deepest = _build_deep_tree(src, DEPTH)
    assert deepest > 10_000 > PATH_MAX
    src_snap = snapshot(src)

    kind, report = _call_with_timeout(fastlink.clone_or_copy, src, dst)

    assert kind == "result", f"deep tree failed: {report!r}"
    assert report.dirs == DEPTH + 2  # root, the chain, and the empty leaf dir
    assert report.files == DEPTH // 500 + 1
    assert report.symlinks == 1
    problems = tree_differences(src_snap, snapshot(dst))
    assert not problems, "deep copy differs:\n" + "\n".join(p[-300:] for p in problems[:10])


# --------------------------------------------------------------------------
# Names that are not UTF-8
# --------------------------------------------------------------------------


def test_non_utf8_names_and_targets_are_byte_exact(bases):
    src_base, dst_base = bases
    src, dst = src_base / "src", dst_base / "dst"
    spec = {
        b"caf\xe9": b"latin-1",
        b"\xff\xfe\xfd": File(random_bytes(70 * 1024, 41), 0o600),
        b"\x80": b"lone continuation byte",
        b"ok-\xed\xa0\x80-surrogate": b"encoded surrogate (invalid UTF-8)",
        b"\xe9" * 255: b"NAME_MAX bytes, none of them UTF-8",
        b"new\nline\xe9": b"n",
        b"dir\xe9": {b"in\x80side": b"z", b"\xc3\x28": {b"x\xfe": b"deep"}},
        b"link\xe9": Symlink(b"caf\xe9"),
        b"link-to-dir\xff": Symlink(b"dir\xe9/\xc3\x28"),
        b"dangling\xe9": Symlink(b"\xfe\xff/nowhere"),
    }
    src_snap = make_tree(src, spec)

    fastlink.clone_or_copy(src, dst)

    assert_trees_equal(src_snap, dst)
    assert sorted(os.listdir(os.fsencode(dst))) == sorted(k for k in spec)
    assert sorted(snapshot(dst)) == sorted(snapshot(src))
    assert _links(dst) == _links(src)


# --------------------------------------------------------------------------
# A source file that grows while it is copied
# --------------------------------------------------------------------------

MIB = 1 << 20


class _Appender:
    """Appends small chunks to a file, continuously, until stopped.

    Small chunks every ~millisecond: the file's size changes thousands of
    times a second, so it changes during any copy of the file, however
    fast, while growing slowly enough (a few MiB/s) for the filesystems.
    """

    def __init__(self, path, limit):
        self.path = path
        self.limit = limit
        self.appended = 0
        self.started = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        chunk = b"appended while copying\n" * 178  # ~4 KiB
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                while not self.stop.is_set() and self.appended < self.limit:
                    self.appended += os.write(fd, chunk)
                    self.started.set()
                    time.sleep(0.001)
            finally:
                os.close(fd)
        except BaseException as e:  # reported by the test
            self.error = e
            self.started.set()

    def __enter__(self):
        self.thread.start()
        assert self.started.wait(30), "the appender never wrote"
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)


@pytest.mark.parametrize(
    "pair", [("tmpfs", "xfs"), ("xfs", "btrfs")], ids=["tmpfs-to-xfs", "xfs-to-btrfs"]
)
def test_a_file_growing_during_the_copy_raises_source_changed_and_leaves_no_dst(
    mounts, fresh_dir, pair
):
    src_fs, dst_fs = (mounts.get(k) for k in pair)
    src_base, dst_base = fresh_dir(src_fs, "grow-src-"), fresh_dir(dst_fs, "grow-dst-")
    src, dst = src_base / "src", dst_base / "out" / "dst"
    make_tree(src, {"a-small.txt": b"small", "sub": {"b.bin": random_bytes(70 * 1024, 51)}})
    forget_source(src)  # it is changed on purpose, by the appender
    # A file of a few hundred MiB (non-sparse, incompressible blocks), so the
    # copy takes a while; sized to what both filesystems have room for.
    free = min(os.statvfs(m).f_bavail * os.statvfs(m).f_frsize for m in (src_fs, dst_fs))
    size = max(64 * MIB, min(192 * MIB, (free // 2) // MIB * MIB))
    block = os.urandom(MIB)
    with open(src / "big.bin", "wb") as f:
        for _ in range(size // MIB):
            f.write(block)

    with _Appender(src / "big.bin", limit=min(128 * MIB, free // 4)) as appender:
        kind, value = _call_with_timeout(fastlink.clone_or_copy, src, dst, methods="copy")
        appended_during = appender.appended

    assert appender.error is None, appender.error
    assert appended_during > 0
    assert kind == "error", f"the copy of a growing file succeeded: {value!r}"
    assert isinstance(value, fastlink.SourceChangedError), repr(value)
    assert isinstance(value, fastlink.FastlinkError) and isinstance(value, OSError)
    assert value.errno == errno.EAGAIN
    assert value.filename == str(src / "big.bin")
    assert value.filename2
    assert not os.path.lexists(dst)
    assert not os.path.lexists(dst_base / "out"), "a created parent of dst was left behind"
    assert fastlink_entries(dst_base) == []

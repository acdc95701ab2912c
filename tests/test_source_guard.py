"""The test helpers themselves: the source guard sees what it must (and only
that), and the fd-based snapshot/digest agree with a path-based view.

The guard is only worth something if it would fail a test whose source
changed; these tests drive the per-test guard (`source_guard` fixture)
directly, then forget the roots they damaged so the test itself passes.
"""

from __future__ import annotations

import os
import stat

import fastlink
import pytest
from digests import content_digest
from fdwalk import remove_tree
from guardhooks import forget_source
from snapshots import snapshot
from treespec import File, Symlink, make_tree, random_bytes, sample_spec


def _clone(tmp_path, **kwargs):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, sample_spec())
    fastlink.clone_or_copy(src, dst, **kwargs)
    return src, dst


MUTATIONS = {
    "content": lambda src: (src / "small.txt").write_bytes(b"HELLO\n"),
    "mode": lambda src: os.chmod(src / "big.bin", 0o600),
    "mtime": lambda src: os.utime(src / "sub dir" / "nested.bin", ns=(1, 2)),
    "symlink-target": lambda src: (
        os.remove(src / "dangling"),
        os.symlink("elsewhere", src / "dangling"),
    ),
    "added": lambda src: (src / "sub dir" / "new").write_bytes(b"n"),
    "removed": lambda src: os.remove(src / "empty"),
    "replaced-same-bytes": lambda src: (
        (src / "small.tmp").write_bytes((src / "small.txt").read_bytes()),
        os.rename(src / "small.tmp", src / "small.txt"),
    ),
}


@pytest.mark.parametrize("what", sorted(MUTATIONS))
def test_guard_sees_a_source_changed_after_the_call(tmp_path, source_guard, what):
    src, _ = _clone(tmp_path)
    assert source_guard.problems() == []
    MUTATIONS[what](src)
    problems = source_guard.problems()
    assert problems, f"the guard missed a {what} change"
    assert os.fsdecode(src) in problems[0]
    forget_source(src)  # done on purpose; the test itself must pass
    assert source_guard.problems() == []


def test_guard_sees_a_change_to_a_source_built_by_hand(tmp_path, source_guard):
    src = tmp_path / "by-hand"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    fastlink.clone_or_copy(src, tmp_path / "dst")  # registers src just before the call
    (src / "f").write_bytes(b"y")
    assert source_guard.problems()
    forget_source(src)


def test_setup_before_the_call_is_not_a_change(tmp_path, source_guard):
    src = tmp_path / "src"
    make_tree(src, {"tool": File(b"#!/bin/sh\n", 0o755), "d": {"f": b"x"}})
    os.chmod(src / "tool", 0o4755)  # setup after make_tree, before the call
    (src / "d" / "later").write_bytes(b"added during setup")
    fastlink.clone_or_copy(src, tmp_path / "dst")
    assert source_guard.problems() == []


def test_destinations_written_on_purpose_are_not_sources(tmp_path, source_guard):
    # A pre-populated dst (made with make_tree), merged into; and a
    # make_tree root that contains both src and dst.
    make_tree(tmp_path / "src", {"a": b"a", "sub": {"b": b"b"}})
    make_tree(tmp_path / "dst", {"old": b"o", "sub": {"mine": b"m"}})
    fastlink.clone_or_copy(tmp_path / "src", tmp_path / "dst", dirs_exist_ok=True)
    make_tree(tmp_path / "both", {"src": {"f": b"x"}})
    fastlink.clone_or_copy(tmp_path / "both" / "src", tmp_path / "both" / "out" / "dst")
    assert source_guard.problems() == []
    # ...but the source part of "both" is still guarded.
    (tmp_path / "both" / "src" / "f").write_bytes(b"changed")
    assert source_guard.problems()
    forget_source(tmp_path / "both")


def test_a_tree_used_as_a_source_after_being_a_destination_is_guarded(tmp_path, source_guard):
    make_tree(tmp_path / "a", {"f": b"x"})
    fastlink.clone_or_copy(tmp_path / "a", tmp_path / "b")
    fastlink.clone_or_copy(tmp_path / "b", tmp_path / "c")
    (tmp_path / "b" / "f").write_bytes(b"changed")
    assert source_guard.problems()
    forget_source(tmp_path / "b")


def _by_path(root) -> dict[bytes, dict]:
    """What os.walk/lstat/readlink see under root: the fd walk must agree."""
    root_b = os.fsencode(root)
    paths = [root_b]
    for dirpath, dirnames, filenames in os.walk(root_b):
        paths += [os.path.join(dirpath, name) for name in dirnames + filenames]
    seen = {}
    for path in paths:
        st = os.lstat(path)
        info = {"mode": stat.S_IMODE(st.st_mode), "mtime_ns": st.st_mtime_ns}
        if stat.S_ISREG(st.st_mode):
            info.update(type="file", size=st.st_size, digest=content_digest(path))
        elif stat.S_ISDIR(st.st_mode):
            info.update(type="dir")
        else:
            info.update(type="symlink", target=os.readlink(path))
        seen[os.path.relpath(path, root_b)] = info  # the root: b"."
    return seen


def test_snapshot_agrees_with_a_path_based_walk(tmp_path):
    root = tmp_path / "t"
    make_tree(root, sample_spec())
    assert snapshot(root) == _by_path(root)
    with_ino = snapshot(root, identity=True)
    assert {k: os.lstat(root / os.fsdecode(k)).st_ino for k in with_ino} == {
        k: v.pop("ino") for k, v in with_ino.items()
    }
    assert with_ino == _by_path(root)


def test_content_digest_depends_on_bytes_only(tmpfs, fresh_dir):
    base = fresh_dir(tmpfs)
    size = 8 * (1 << 20) + 123
    data = random_bytes(5000, 1)
    sparse, dense = base / "sparse", base / "dense"
    with open(sparse, "wb") as f:
        f.truncate(size)
        f.seek(3 * (1 << 20) + 7)
        f.write(data)
    content = bytearray(size)
    content[3 * (1 << 20) + 7 : 3 * (1 << 20) + 7 + len(data)] = data
    dense.write_bytes(bytes(content))
    assert os.stat(sparse).st_blocks < os.stat(dense).st_blocks
    assert content_digest(sparse) == content_digest(dense)
    # One byte inside what is a hole in the sparse file.
    content[6 * (1 << 20)] = 1
    dense.write_bytes(bytes(content))
    assert content_digest(sparse) != content_digest(dense)
    # The size counts, even when the extra bytes are zeros.
    with open(sparse, "r+b") as f:
        f.truncate(size + 1)
    assert content_digest(sparse) != content_digest(dense)


def test_remove_tree_copes_with_trees_deeper_than_path_max(tmp_path):
    root = tmp_path / "deep"
    os.mkdir(root)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(1500):
            os.mkdir("dddd", dir_fd=fd)
            os.symlink("..", "up", dir_fd=fd)
            child = os.open("dddd", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
    finally:
        os.close(fd)
    snap = snapshot(root)
    assert len(snap) == 1 + 2 * 1500
    assert max(len(k) for k in snap) > 4096
    remove_tree(root)
    assert not os.path.lexists(root)


def test_make_tree_spec_symlink_helper_round_trip(tmp_path):
    # snapshot() reads link targets byte-exact.
    make_tree(tmp_path / "t", {b"l\xe9": Symlink(b"t\xff")})
    assert snapshot(tmp_path / "t")[b"l\xe9"]["target"] == b"t\xff"

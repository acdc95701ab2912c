"""Merges (dirs_exist_ok=True) never damage what is already in the destination.

Contract (issue 3, guarantee 2):
  * overwrite=False (the default): any existing non-directory where fastlink
    must create something -> FileExistsError, raised before anything is
    written (so not even the non-clashing new files appear);
  * overwrite=True: an existing file or symlink is replaced by rename (temp
    file + rename in its directory). The old inode is never opened or
    truncated: it may be a hardlink into somebody's cache, whose other names
    must keep the old content;
  * an existing directory where the source has a file -> IsADirectoryError,
    and the directory is never removed;
  * new subtrees are staged and renamed into place; no `.fastlink-staging.*`
    or `.fastlink-tmp.*` entry is left behind.

All on XFS, both on the reflink path (default methods) and the copy path.
"""

from __future__ import annotations

import errno
import os
import stat

import fastlink
import pytest
from fdwalk import fastlink_entries
from snapshots import assert_trees_equal, snapshot, tree_differences
from treespec import Dir, File, Symlink, make_tree, random_bytes

METHODS = [None, "copy"]
METHOD_IDS = ["default-reflink", "copy"]


@pytest.fixture
def base(xfs, fresh_dir):
    return fresh_dir(xfs, "merge-")


def _warm_up_probe(base, methods):
    """Make sure the (src fs, dst fs) pair is already probed.

    The probe creates and removes a `.fastlink-probe-*` file in dst's
    nearest existing directory once per device pair and process; doing it
    here keeps the "nothing was written" checks below exact (dir mtimes
    included) whichever test happens to run first.
    """
    make_tree(base / "warm-src", {"f": b"warm"})
    fastlink.clone_or_copy(base / "warm-src", base / "warm-dst", methods=methods)


def _assert_src_entries_in_dst(src_snap, dst):
    """Every entry of the source is in dst, identical (content, mode, mtime);
    dst may hold more (the pre-existing entries), and pre-existing dirs keep
    their own metadata (so directories are compared by type only)."""
    dst_snap = snapshot(dst)
    problems = []
    for key, s in src_snap.items():
        if key == b".":
            continue
        d = dst_snap.get(key)
        if d is None:
            problems.append(f"missing in dst: {key!r}")
        elif d["type"] != s["type"]:
            problems.append(f"{key!r}: {s['type']} in src, {d['type']} in dst")
        elif s["type"] != "dir":
            problems.extend(tree_differences({key: s}, {key: d}))
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------
# overwrite=False: a clash is refused before anything is written
# --------------------------------------------------------------------------

CLASH_SRC = {
    # Sorted around the clash, so a writer that goes in order would already
    # have written some of these before reaching it.
    "a_new_top.txt": b"new top",
    "b_newdir": {"a": b"a", "deep": {"b": b"b"}},
    "sub": {"a_fresh.txt": b"fresh", "clash.txt": b"from src", "z_fresh.txt": b"z"},
    "z_new_top.txt": b"z top",
}
CLASH_DST = {"keep.txt": b"keep", "sub": {"clash.txt": b"already here", "mine.txt": b"mine"}}


@pytest.mark.parametrize("methods", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("kwargs", [{}, {"overwrite": False}], ids=["default", "overwrite-false"])
def test_clash_without_overwrite_is_refused_before_anything_is_written(base, methods, kwargs):
    _warm_up_probe(base, methods)
    src, dst = base / "src", base / "dst"
    make_tree(src, CLASH_SRC)
    make_tree(dst, CLASH_DST, mtime_seed=1000)
    before = snapshot(dst, identity=True)

    with pytest.raises(FileExistsError) as caught:
        fastlink.clone_or_copy(src, dst, dirs_exist_ok=True, methods=methods, **kwargs)

    assert caught.value.errno == errno.EEXIST
    assert os.fsencode(caught.value.filename2 or b"").endswith(b"sub/clash.txt"), caught.value
    # Nothing written: no new file, no new dir, no temp entry, and not even a
    # directory mtime changed.
    for new in ["a_new_top.txt", "b_newdir", "sub/a_fresh.txt", "sub/z_fresh.txt", "z_new_top.txt"]:
        assert not os.path.lexists(dst / new), f"{new} was written before the clash was refused"
    assert_trees_equal(before, snapshot(dst, identity=True), modes="exact")
    assert (dst / "sub" / "clash.txt").read_bytes() == b"already here"
    assert fastlink_entries(base) == []


# --------------------------------------------------------------------------
# overwrite=True: replace by rename, never write into the old inode
# --------------------------------------------------------------------------


@pytest.mark.parametrize("methods", METHODS, ids=METHOD_IDS)
def test_overwrite_replaces_hardlinked_files_by_rename_and_the_cache_keeps_its_content(
    base, methods
):
    _warm_up_probe(base, methods)
    cache, src, dst = base / "cache", base / "src", base / "dst"
    # Somebody's cache; the old environment hard-links into it.
    make_tree(
        cache,
        {
            "pkg.py": File(b"old cached content\n" * 100, 0o644),
            "data.bin": File(random_bytes(70 * 1024, 11), 0o644),
        },
        mtime_seed=2000,
    )
    make_tree(
        dst,
        {"unrelated.txt": b"not in src", "sub": {"mine.txt": b"mine"}, "keepdir": {"k": b"k"}},
        mtime_seed=1000,
    )
    os.link(cache / "pkg.py", dst / "sub" / "pkg.py")
    os.link(cache / "data.bin", dst / "data.bin")
    cache_before = snapshot(cache, identity=True)
    dst_before = snapshot(dst, identity=True)
    cache_inodes = {n: os.stat(cache / n).st_ino for n in ["pkg.py", "data.bin"]}

    src_snap = make_tree(
        src,
        {
            "data.bin": File(random_bytes(80 * 1024, 12), 0o600),
            "sub": {"pkg.py": File(b"new content\n", 0o755), "fresh.txt": b"fresh"},
            "newdir": Dir(
                {
                    "x.bin": File(random_bytes(65 * 1024, 13)),
                    "nested": Dir({"y": b"y", "empty": {}}, 0o700),
                    "link": Symlink("x.bin"),
                },
                0o750,
            ),
        },
    )

    report = fastlink.clone_or_copy(src, dst, dirs_exist_ok=True, overwrite=True, methods=methods)

    # The cache is untouched: same inodes, same bytes, modes and mtimes. Its
    # link count is back to 1: the dst names were replaced (renamed over),
    # not written through (O_TRUNC or in-place writes would change the cache).
    assert_trees_equal(cache_before, snapshot(cache, identity=True), modes="exact")
    for name, ino in cache_inodes.items():
        st = os.stat(cache / name)
        assert st.st_ino == ino
        assert st.st_nlink == 1, f"cache/{name} still has {st.st_nlink} links"
    # The dst names are new inodes with the source's content and metadata.
    for rel in ["sub/pkg.py", "data.bin"]:
        st = os.lstat(dst / rel)
        assert stat.S_ISREG(st.st_mode)
        assert st.st_ino not in cache_inodes.values(), f"{rel} still is the cache's inode"
        assert (dst / rel).read_bytes() == (src / rel).read_bytes()
    assert stat.S_IMODE(os.stat(dst / "sub" / "pkg.py").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dst / "data.bin").st_mode) == 0o600
    # Everything from the source is there and identical; the new subtree
    # arrived complete (modes and mtimes of its directories included).
    _assert_src_entries_in_dst(src_snap, dst)
    assert_trees_equal(snapshot(src / "newdir"), dst / "newdir")
    # Pre-existing entries the source doesn't have are untouched, and
    # pre-existing directories keep their own mode.
    after = snapshot(dst, identity=True)
    for rel in [b"unrelated.txt", b"sub/mine.txt", b"keepdir", b"keepdir/k"]:
        assert_trees_equal({rel: dst_before[rel]}, {rel: after[rel]}, modes="exact")
    assert after[b"sub"]["mode"] == dst_before[b"sub"]["mode"]
    assert after[b"sub"]["ino"] == dst_before[b"sub"]["ino"]
    assert fastlink_entries(base) == []
    assert report.files == 5


@pytest.mark.parametrize("methods", METHODS, ids=METHOD_IDS)
def test_overwrite_of_a_plain_file_gives_a_new_inode_with_the_new_content(base, methods):
    src, dst = base / "src", base / "dst"
    make_tree(src, {"f.txt": File(b"new", 0o640)})
    make_tree(dst, {"f.txt": File(b"old and longer", 0o600)}, mtime_seed=1000)
    old_ino = os.stat(dst / "f.txt").st_ino
    # Keep the old inode alive under a second name to see what happens to it.
    os.link(dst / "f.txt", base / "witness")

    fastlink.clone_or_copy(src, dst, dirs_exist_ok=True, overwrite=True, methods=methods)

    assert (dst / "f.txt").read_bytes() == b"new"
    assert os.stat(dst / "f.txt").st_ino != old_ino
    assert stat.S_IMODE(os.stat(dst / "f.txt").st_mode) == 0o640
    assert (base / "witness").read_bytes() == b"old and longer"
    assert stat.S_IMODE(os.stat(base / "witness").st_mode) == 0o600
    assert os.stat(base / "witness").st_nlink == 1
    assert fastlink_entries(base) == []


# --------------------------------------------------------------------------
# A directory where the source has a file is never replaced
# --------------------------------------------------------------------------


@pytest.mark.parametrize("methods", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("overwrite", [True, False], ids=["overwrite", "no-overwrite"])
def test_existing_directory_where_source_has_a_file_is_a_directory_error(base, methods, overwrite):
    # The contract states IsADirectoryError for overwrite=True; overwrite=False
    # has no wording of its own for a *directory* (its FileExistsError rule is
    # about non-directories), and a directory is never replaced either way.
    _warm_up_probe(base, methods)
    src, dst = base / "src", base / "dst"
    make_tree(
        src,
        {"a_first.txt": b"1", "newdir": {"f": b"x"}, "thing": b"a file", "z_last.txt": b"2"},
    )
    make_tree(dst, {"thing": {"inside.txt": b"keep me"}, "other": b"o"}, mtime_seed=1000)
    before = snapshot(dst, identity=True)

    with pytest.raises(IsADirectoryError) as caught:
        fastlink.clone_or_copy(src, dst, dirs_exist_ok=True, overwrite=overwrite, methods=methods)

    assert caught.value.errno == errno.EISDIR
    assert os.fsencode(caught.value.filename2 or b"").endswith(b"thing"), caught.value
    # Rolled back completely. (Directory mtimes are not compared: the
    # contract promises a rollback here, not a refusal before writing.)
    assert_trees_equal(before, snapshot(dst, identity=True), modes="exact", dir_times=False)
    assert (dst / "thing" / "inside.txt").read_bytes() == b"keep me"
    assert fastlink_entries(base) == []


# --------------------------------------------------------------------------
# A symlink where the source has a file: replaced as a link, never followed
# --------------------------------------------------------------------------

LINK_KINDS = ["absolute", "relative", "dangling"]


def _make_dst_with_link(base, kind):
    """dst/sub/conf is a symlink; returns (dst, link target as stored, real target path)."""
    outside = base / "outside"
    make_tree(outside, {"target.txt": File(b"precious, not ours", 0o600)}, mtime_seed=3000)
    make_tree(base / "dst", {"sub": {"mine": b"m"}}, mtime_seed=1000)
    if kind == "absolute":
        stored = os.fsencode(outside / "target.txt")
        real = outside / "target.txt"
    elif kind == "relative":
        stored = b"../../outside/target.txt"
        real = outside / "target.txt"
    else:
        stored = os.fsencode(outside / "not-there-yet.txt")
        real = outside / "not-there-yet.txt"
    os.symlink(stored, os.fsencode(base / "dst" / "sub" / "conf"))
    return base / "dst", stored, real


@pytest.mark.parametrize("methods", METHODS, ids=METHOD_IDS)
@pytest.mark.parametrize("kind", LINK_KINDS)
def test_overwrite_replaces_a_symlink_itself_and_leaves_its_target_alone(base, methods, kind):
    dst, _stored, real = _make_dst_with_link(base, kind)
    outside_before = snapshot(base / "outside", identity=True)
    src = base / "src"
    make_tree(src, {"sub": {"conf": File(b"the new config", 0o644)}})

    fastlink.clone_or_copy(src, dst, dirs_exist_ok=True, overwrite=True, methods=methods)

    conf = dst / "sub" / "conf"
    assert not os.path.islink(conf), "the symlink was written through instead of replaced"
    assert stat.S_ISREG(os.lstat(conf).st_mode)
    assert conf.read_bytes() == b"the new config"
    # The link's target: same bytes, inode and times; a dangling link's
    # target was not created.
    assert_trees_equal(outside_before, snapshot(base / "outside", identity=True), modes="exact")
    if kind == "dangling":
        assert not os.path.lexists(real)
    else:
        assert real.read_bytes() == b"precious, not ours"
    assert (dst / "sub" / "mine").read_bytes() == b"m"
    assert fastlink_entries(base) == []


@pytest.mark.parametrize("kind", LINK_KINDS)
def test_without_overwrite_a_symlink_where_the_source_has_a_file_is_refused(base, kind):
    _warm_up_probe(base, None)
    dst, stored, real = _make_dst_with_link(base, kind)
    outside_before = snapshot(base / "outside", identity=True)
    dst_before = snapshot(dst, identity=True)
    src = base / "src"
    make_tree(src, {"new.txt": b"n", "sub": {"conf": b"the new config"}})

    with pytest.raises(FileExistsError) as caught:
        fastlink.clone_or_copy(src, dst, dirs_exist_ok=True)

    assert caught.value.errno == errno.EEXIST
    assert os.readlink(os.fsencode(dst / "sub" / "conf")) == stored
    assert_trees_equal(dst_before, snapshot(dst, identity=True), modes="exact")
    assert_trees_equal(outside_before, snapshot(base / "outside", identity=True), modes="exact")
    assert not os.path.lexists(dst / "new.txt")
    if kind == "dangling":
        assert not os.path.lexists(real)
    assert fastlink_entries(base) == []

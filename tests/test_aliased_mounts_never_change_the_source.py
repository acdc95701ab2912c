"""Overlap of src and dst through mount aliases (issue 9, item 1).

One directory can have two paths that realpath() cannot relate: a bind mount
of it, or one btrfs subvolume mounted twice with `subvol=`. Whether dst lies
inside src, or a merge's dst contains src, must be decided by identity
(st_dev, st_ino), before anything is written: DestinationInsideSourceError
or SourceInsideDestinationError (both EINVAL), the source unchanged (also
checked by conftest's source guard), and nothing written on either path.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import fastlink
import pytest
from fdwalk import fastlink_entries, make_fresh_dir, remove_tree
from mounts import bind_mount, btrfs_subvolume_mounted_twice
from snapshots import assert_trees_equal, snapshot, tree_differences
from treespec import File, make_tree, random_bytes


@pytest.fixture(scope="module")
def btrfs_twice():
    with btrfs_subvolume_mounted_twice() as mounts:
        yield mounts


@pytest.fixture(params=["bind-mount", "btrfs-subvol-twice"])
def alias(request, xfs, fresh_dir) -> tuple[Path, Path]:
    """(real, alias): one fresh directory under two paths."""
    if request.param == "bind-mount":
        real = fresh_dir(xfs, "alias-")
        with bind_mount(real) as alias_path:
            yield real, alias_path
    else:
        a, b = request.getfixturevalue("btrfs_twice")
        real = make_fresh_dir(a, "alias-")
        try:
            yield real, b / real.name
        finally:
            remove_tree(real)


def _src_spec() -> dict:
    return {
        "mod.py": b"cached\n",
        "big.bin": File(random_bytes(128 * 1024, 11)),
        "bin": {"run.sh": File(b"#!/bin/sh\necho hi\n", 0o755)},
        "sub": {"g.py": b"g\n", "deeper": {"h.txt": b"h\n"}},
    }


def _refused(exc_type, src, dst, **kwargs) -> OSError:
    with pytest.raises(exc_type) as caught:
        fastlink.clone_or_copy(src, dst, **kwargs)
    err = caught.value
    assert isinstance(err, fastlink.FastlinkError), f"{type(err).__name__} is not a FastlinkError"
    assert err.errno == errno.EINVAL, err
    return err


def _assert_nothing_written(real: Path, src: Path, src_before, whole_before) -> None:
    # The source exactly as before, directory mtimes and inode numbers included.
    assert tree_differences(src_before, snapshot(src, identity=True), modes="exact") == []
    # Nothing anywhere else either (a probe may have touched a dir's mtime).
    assert_trees_equal(
        whole_before, real, modes="exact", dir_times=False, what="the aliased directory"
    )
    assert fastlink_entries(real) == []


@pytest.mark.parametrize(
    "dst_rel",
    ["copy", "sub/copy", "missing/parents/copy", "sub/deeper/missing/copy"],
    ids=["in-src", "in-subdir", "missing-parents-in-src", "missing-parents-in-subdir"],
)
def test_a_new_dst_inside_src_through_an_alias_is_refused_before_writing(alias, dst_rel):
    real, other = alias
    src = real / "src"
    make_tree(src, _src_spec())
    src_before = snapshot(src, identity=True)
    whole_before = snapshot(real)
    dst = other / "src" / dst_rel

    _refused(fastlink.DestinationInsideSourceError, src, dst)

    assert not os.path.lexists(real / "src" / dst_rel)
    _assert_nothing_written(real, src, src_before, whole_before)


@pytest.mark.parametrize("overwrite", [False, True], ids=["no-overwrite", "overwrite"])
@pytest.mark.parametrize("dst_rel", [".", "sub"], ids=["alias-of-src", "alias-of-subdir"])
def test_a_merge_into_src_or_its_subdir_through_an_alias_is_refused_before_writing(
    alias, dst_rel, overwrite
):
    real, other = alias
    src = real / "src"
    make_tree(src, _src_spec())
    src_before = snapshot(src, identity=True)
    whole_before = snapshot(real)
    dst = other / "src" / dst_rel

    _refused(
        fastlink.DestinationInsideSourceError, src, dst, dirs_exist_ok=True, overwrite=overwrite
    )

    _assert_nothing_written(real, src, src_before, whole_before)


@pytest.mark.parametrize("overwrite", [False, True], ids=["no-overwrite", "overwrite"])
@pytest.mark.parametrize("ancestor", ["parent", "grandparent"])
def test_a_merge_into_an_alias_of_an_ancestor_of_src_is_refused_before_writing(
    alias, ancestor, overwrite
):
    """src = env/lib. Its own entries are shaped so that a merge into env
    (or into env's parent) writes over src's files: lib/x.py would land on
    env/lib/x.py, which is src/x.py itself."""
    real, other = alias
    src = real / "env" / "lib"
    make_tree(
        src,
        {
            "x.py": b"v1: the source's own file\n",
            "lib": {"x.py": b"v2: would overwrite the source via parent\n"},
            "env": {"lib": {"x.py": b"v3: would overwrite the source via grandparent\n"}},
        },
    )
    make_tree(real / "env" / "other", {"keep.txt": b"keep\n"})
    src_before = snapshot(src, identity=True)
    whole_before = snapshot(real)
    dst = other / "env" if ancestor == "parent" else other

    _refused(
        fastlink.SourceInsideDestinationError, src, dst, dirs_exist_ok=True, overwrite=overwrite
    )

    assert (src / "x.py").read_bytes() == b"v1: the source's own file\n"
    _assert_nothing_written(real, src, src_before, whole_before)


@pytest.mark.parametrize("merge", [False, True], ids=["new-tree", "merge"])
def test_a_dst_below_a_bind_mount_of_a_subdir_of_src_is_refused_before_writing(
    xfs, fresh_dir, merge
):
    """The alias is of src/sub only, mounted outside src: dst's nearest
    existing ancestor is that alias (or a directory below it)."""
    real = fresh_dir(xfs, "alias-sub-")
    src = real / "src"
    make_tree(src, _src_spec())
    src_before = snapshot(src, identity=True)
    whole_before = snapshot(real)
    with bind_mount(src / "sub") as sub_alias:
        dst = sub_alias / "deeper" if merge else sub_alias / "new" / "parents" / "dst"
        _refused(
            fastlink.DestinationInsideSourceError, src, dst, dirs_exist_ok=merge, overwrite=merge
        )
        _assert_nothing_written(real, src, src_before, whole_before)

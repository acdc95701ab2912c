"""FASTLINK_METHODS sets the default methods of clone_or_copy.

When the caller passes methods=None, a comma-separated FASTLINK_METHODS
(whitespace around items allowed) is the preference; an explicit methods=
wins; unset or blank means the built-in ("reflink", "copy"). A malformed
value raises ValueError("FASTLINK_METHODS=...") before anything is written.
The variable is read at every call. probe() does not look at it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator

import fastlink
import pytest
from fdwalk import fastlink_entries, make_fresh_dir, regular_files, remove_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snapshots import assert_trees_equal, snapshot, tree_counts
from treespec import make_tree, sample_spec

ENV = "FASTLINK_METHODS"


@pytest.fixture(autouse=True)
def no_methods_env(monkeypatch):
    """Every test starts without FASTLINK_METHODS, whatever the caller's
    environment holds, and leaves it as it was."""
    monkeypatch.delenv(ENV, raising=False)


@pytest.fixture
def xfs_src(xfs, fresh_dir):
    src = fresh_dir(xfs) / "src"
    return src, make_tree(src, sample_spec())


def _inode_pairs(src, dst) -> list[tuple[int, int]]:
    """(src inode, dst inode) of every regular file."""
    pairs = []
    for s in regular_files(src):
        d = os.path.join(os.fsencode(dst), os.path.relpath(s, os.fsencode(src)))
        pairs.append((os.stat(s).st_ino, os.stat(d).st_ino))
    return pairs


# --------------------------------------------------------------------------
# The variable is the default ...
# --------------------------------------------------------------------------


def test_env_var_is_the_default_preference(xfs_src, fresh_dir, xfs, monkeypatch):
    src, src_snap = xfs_src
    dst = fresh_dir(xfs) / "dst"
    monkeypatch.setenv(ENV, "hardlink,copy")

    report = fastlink.clone_or_copy(src, dst)

    assert report.method == "hardlink"
    assert report.hardlinked == report.files == tree_counts(src_snap)["files"]
    assert all(s == d for s, d in _inode_pairs(src, dst))
    assert_trees_equal(src_snap, dst)


@pytest.mark.parametrize("methods", ["copy", ("copy",)], ids=["str", "tuple"])
def test_explicit_methods_beat_the_env_var(xfs_src, fresh_dir, xfs, monkeypatch, methods):
    src, src_snap = xfs_src
    dst = fresh_dir(xfs) / "dst"
    monkeypatch.setenv(ENV, "hardlink,copy")

    report = fastlink.clone_or_copy(src, dst, methods=methods)

    assert report.method == "copy" and report.copied == report.files
    assert all(s != d for s, d in _inode_pairs(src, dst))
    assert_trees_equal(src_snap, dst)


def test_malformed_env_var_does_not_matter_when_methods_are_explicit(
    xfs_src, fresh_dir, xfs, monkeypatch
):
    src, src_snap = xfs_src
    dst = fresh_dir(xfs) / "dst"
    monkeypatch.setenv(ENV, "symlink")

    report = fastlink.clone_or_copy(src, dst, methods="copy")

    assert report.method == "copy"
    assert_trees_equal(src_snap, dst)


@pytest.mark.parametrize("value", [None, "", "  ", "\t"], ids=["unset", "empty", "spaces", "tab"])
def test_unset_or_blank_env_var_means_reflink_then_copy(
    xfs_src, fresh_dir, xfs, btrfs, monkeypatch, value
):
    src, _ = xfs_src
    if value is not None:
        monkeypatch.setenv(ENV, value)

    same_fs = fastlink.clone_or_copy(src, fresh_dir(xfs) / "dst")
    across = fastlink.clone_or_copy(src, fresh_dir(btrfs) / "dst")

    assert same_fs.method == "reflink" and same_fs.reflinked == same_fs.files
    # Not "reflink" alone: across filesystems it falls back to copy.
    assert across.method == "copy" and across.copied == across.files
    assert [s[:2] for s in across.skipped] == [("reflink", errno.EXDEV)]


@pytest.mark.parametrize(
    "value,same_fs_method",
    [
        (" reflink , copy ", "reflink"),
        ("\treflink,\tcopy\t", "reflink"),
        ("hardlink, copy", "hardlink"),
        (" copy ", "copy"),
    ],
)
def test_whitespace_around_names_is_ignored(
    xfs_src, fresh_dir, xfs, btrfs, monkeypatch, value, same_fs_method
):
    src, src_snap = xfs_src
    monkeypatch.setenv(ENV, value)

    same_fs_dst = fresh_dir(xfs) / "dst"
    same_fs = fastlink.clone_or_copy(src, same_fs_dst)
    across = fastlink.clone_or_copy(src, fresh_dir(btrfs) / "dst")

    assert same_fs.method == same_fs_method
    assert across.method == "copy"
    assert_trees_equal(src_snap, same_fs_dst)


def test_env_var_is_read_at_every_call(xfs_src, fresh_dir, xfs, monkeypatch):
    src, _ = xfs_src
    base = fresh_dir(xfs)
    methods = []
    for i, value in enumerate(["copy", "hardlink, copy", None, "copy"]):
        if value is None:
            monkeypatch.delenv(ENV)
        else:
            monkeypatch.setenv(ENV, value)
        methods.append(fastlink.clone_or_copy(src, base / f"dst{i}").method)
    assert methods == ["copy", "hardlink", "reflink", "copy"]


# --------------------------------------------------------------------------
# ... and as strict as the same explicit methods
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["reflink", "hardlink", " reflink , hardlink "])
def test_env_var_without_copy_is_strict_across_filesystems(
    xfs_src, fresh_dir, btrfs, monkeypatch, value
):
    src, _ = xfs_src
    parent = fresh_dir(btrfs)
    dst = parent / "dst"
    monkeypatch.setenv(ENV, value)

    with pytest.raises(fastlink.CrossDeviceError) as info:
        fastlink.clone_or_copy(src, dst)

    assert info.value.errno == errno.EXDEV
    assert not os.path.lexists(dst)
    assert os.listdir(parent) == []


def test_reflink_env_var_on_a_non_cloning_fs_raises_reflink_unsupported(
    ext4, fresh_dir, monkeypatch
):
    base = fresh_dir(ext4)
    src, dst = base / "src", base / "dst"
    make_tree(src, sample_spec())
    monkeypatch.setenv(ENV, "reflink")

    with pytest.raises(fastlink.ReflinkUnsupportedError) as info:
        fastlink.clone_or_copy(src, dst)

    assert info.value.errno == errno.EOPNOTSUPP
    assert not os.path.lexists(dst)
    assert fastlink_entries(base) == []


# --------------------------------------------------------------------------
# A malformed value is an error, never silently the default
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["symlink", ",", " , ,", "copy,symlink", "reflink;copy"])
@pytest.mark.parametrize("merge", [False, True], ids=["new-dst", "merge"])
def test_malformed_env_var_raises_value_error_and_writes_nothing(
    tmp_path, monkeypatch, value, merge
):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, {"f": b"data", "sub": {"g": b"more"}})
    if merge:
        make_tree(dst, {"existing": b"keep"})
    before = snapshot(tmp_path)
    monkeypatch.setenv(ENV, value)

    with pytest.raises(ValueError) as info:
        fastlink.clone_or_copy(src, dst, dirs_exist_ok=merge)

    message = str(info.value)
    assert message.startswith(f"{ENV}="), message
    assert not isinstance(info.value, OSError)
    # Not even a directory's mtime changed.
    assert snapshot(tmp_path) == before


def test_malformed_env_var_names_the_bad_item(tmp_path, monkeypatch):
    (tmp_path / "f").write_bytes(b"x")
    monkeypatch.setenv(ENV, "reflink, symlink")
    with pytest.raises(ValueError, match=f"^{ENV}=.*symlink"):
        fastlink.clone_or_copy(tmp_path / "f", tmp_path / "g")
    assert not os.path.lexists(tmp_path / "g")


# --------------------------------------------------------------------------
# probe() reports capabilities, not preferences
# --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["copy", "hardlink", "symlink", ","])
def test_probe_ignores_the_env_var(xfs_src, fresh_dir, xfs, btrfs, monkeypatch, value):
    src, _ = xfs_src
    same_fs, across = fresh_dir(xfs), fresh_dir(btrfs)
    expected = {
        "same": {"reflink": True, "hardlink": True, "copy": True},
        "across": {"reflink": False, "hardlink": False, "copy": True},
    }
    monkeypatch.setenv(ENV, value)
    assert fastlink.probe(src, same_fs) == expected["same"]
    assert fastlink.probe(src, across) == expected["across"]
    assert os.listdir(same_fs) == [] and os.listdir(across) == []


# --------------------------------------------------------------------------
# Property: the variable means exactly the explicit list of its items
# --------------------------------------------------------------------------

_ITEM = st.one_of(
    st.sampled_from(["reflink", "hardlink", "copy"]),
    st.sampled_from(["", "symlink", "Copy", "clone"]),
)
_PAD = st.text(alphabet=" \t", max_size=2)


@st.composite
def env_values(draw) -> str:
    items = draw(st.lists(st.tuples(_PAD, _ITEM, _PAD), min_size=1, max_size=4))
    return ",".join(a + name + b for a, name, b in items)


@contextlib.contextmanager
def env_set(value: str | None) -> Iterator[None]:
    old = os.environ.get(ENV)
    try:
        if value is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = value
        yield
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old


def _outcome(src, dst, **kwargs):
    """("ok", method, files) or ("error", exception type), then clean up dst."""
    try:
        report = fastlink.clone_or_copy(src, dst, **kwargs)
    except (ValueError, OSError) as e:
        assert not os.path.lexists(dst), f"{dst} left behind after {e!r}"
        return ("error", type(e))
    remove_tree(dst)
    return ("ok", report.method, report.files)


@pytest.fixture(scope="module")
def property_dirs(mounts):
    """A tiny source on XFS and dst dirs on XFS and btrfs, shared by every
    hypothesis example (function-scoped fixtures would be reused anyway)."""
    xfs, btrfs = mounts.get("xfs"), mounts.get("btrfs")
    src_base = make_fresh_dir(xfs, "env-prop-src-")
    dirs = [make_fresh_dir(xfs, "env-prop-dst-"), make_fresh_dir(btrfs, "env-prop-dst-")]
    src = src_base / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x" * 70_000)
    (src / "sub").mkdir()
    (src / "sub" / "g").write_bytes(b"y")
    yield src, dirs
    for d in [src_base, *dirs]:
        remove_tree(d)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(value=env_values())
def test_env_var_behaves_like_the_explicit_list_of_its_items(property_dirs, value):
    src, dst_dirs = property_dirs
    items = [item.strip(" \t") for item in value.split(",")]
    # A blank value means the built-in default, like no value at all.
    methods = items if value.strip(" \t") else None
    for dst_dir in dst_dirs:
        dst = dst_dir / "dst"
        with env_set(None):
            explicit = _outcome(src, dst, methods=methods)
        with env_set(value):
            from_env = _outcome(src, dst)
        assert from_env == explicit, (value, methods, dst_dir)

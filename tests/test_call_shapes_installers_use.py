"""Shapes of call an installer makes that a tree-at-a-time API can get wrong:
a merge into the current directory, many packages racing to create one
site-packages, and one file put over an older one.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import fastlink
import pytest
from fdwalk import fastlink_entries
from snapshots import assert_trees_equal, snapshot
from treespec import make_tree


def test_a_merge_into_the_current_directory_works(xfs, fresh_dir, monkeypatch):
    base = fresh_dir(xfs)
    expected = make_tree(base / "src", {"pkg": {"mod.py": b"x = 1\n"}, "top.py": b"y = 2\n"})
    (base / "site").mkdir()
    monkeypatch.chdir(base / "site")

    for dot in (".", "./", "../site/."):
        fastlink.clone_or_copy("../src", dot, dirs_exist_ok=True, overwrite=True)
        # Files replaced in an existing directory change its mtime.
        assert_trees_equal(expected, base / "site", include_root=False, dir_times=dot == ".")


def test_a_new_dst_is_refused_without_a_name_of_its_own(xfs, fresh_dir, monkeypatch):
    base = fresh_dir(xfs)
    make_tree(base / "src", {"a.py": b"a"})
    (base / "empty").mkdir()
    monkeypatch.chdir(base / "empty")
    with pytest.raises(FileExistsError):
        fastlink.clone_or_copy("../src", ".")


def test_packages_racing_to_create_one_site_packages_all_land(xfs, fresh_dir):
    # uv-like installers link one package per thread into a site-packages
    # that the first of them creates; with dirs_exist_ok every call merges.
    base = fresh_dir(xfs)
    packages = []
    for i in range(16):
        pkg = base / "cache" / f"p{i}"
        make_tree(pkg, {f"mod{i}": {"__init__.py": f"n = {i}\n".encode()}, "ns": {f"m{i}.py": b""}})
        packages.append(pkg)
    site = base / "venv" / "lib" / "site-packages"

    for trial in range(8):
        target = site.with_name(f"site-packages-{trial}")
        with ThreadPoolExecutor(8) as pool:
            calls = [
                pool.submit(fastlink.clone_or_copy, pkg, target, dirs_exist_ok=True)
                for pkg in packages
            ]
            reports = [call.result() for call in calls]

        assert sum(r.files for r in reports) == 32
        assert sorted(os.listdir(target / "ns")) == sorted(f"m{i}.py" for i in range(16))
        for i in range(16):
            assert (target / f"mod{i}" / "__init__.py").read_bytes() == f"n = {i}\n".encode()
        assert fastlink_entries(target.parent) == []


def test_one_file_replaces_an_older_one_with_overwrite(xfs, fresh_dir):
    base = fresh_dir(xfs)
    (base / "new.py").write_bytes(b"new\n")
    os.chmod(base / "new.py", 0o755)
    (base / "old.py").write_bytes(b"old, and a hard link into someone's cache\n")
    os.link(base / "old.py", base / "cache-copy.py")
    os.symlink("old.py", base / "link.py")

    with pytest.raises(FileExistsError):
        fastlink.clone_or_copy(base / "new.py", base / "old.py")
    fastlink.clone_or_copy(base / "new.py", base / "old.py", overwrite=True)
    fastlink.clone_or_copy(base / "new.py", base / "link.py", overwrite=True)

    assert (base / "old.py").read_bytes() == b"new\n"
    assert os.stat(base / "old.py").st_mode & 0o777 == 0o755
    # Replaced by rename: the other name of the old inode keeps its content,
    # and the symlink itself was replaced, not written through.
    assert (base / "cache-copy.py").read_bytes().startswith(b"old")
    assert not os.path.islink(base / "link.py")
    assert (base / "link.py").read_bytes() == b"new\n"
    assert fastlink_entries(base) == []


def test_one_file_never_replaces_a_directory(xfs, fresh_dir):
    base = fresh_dir(xfs)
    (base / "new.py").write_bytes(b"new\n")
    (base / "pkg").mkdir()
    before = snapshot(base / "pkg")
    with pytest.raises(IsADirectoryError):
        fastlink.clone_or_copy(base / "new.py", base / "pkg", overwrite=True)
    with pytest.raises(FileExistsError):
        fastlink.clone_or_copy(base / "new.py", base / "pkg")
    assert snapshot(base / "pkg") == before

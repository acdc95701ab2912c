"""Paths are read as `os` and `shutil` read them: a `..` after a directory
that is yet to be made steps back out of it (as `os.makedirs` does), and a
NUL byte, which no syscall can take, is a ValueError before anything is
looked at, never an I/O error; an empty `dst` names nothing
(FileNotFoundError, as open("") answers)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import fastlink
import pytest
from fdwalk import fastlink_entries
from snapshots import assert_trees_equal
from treespec import File, make_tree, random_bytes, sample_spec


@pytest.mark.parametrize("dst_rel", ["missing/../d", "a/b/../../d", "missing/./../d"])
def test_a_dotdot_after_a_missing_directory_lands_where_makedirs_puts_it(
    xfs: Path, fresh_dir, dst_rel: str
) -> None:
    base = fresh_dir(xfs)
    expected = make_tree(base / "src", sample_spec())

    fastlink.clone_or_copy(base / "src", base / "out" / dst_rel)

    assert_trees_equal(expected, base / "out" / "d")
    os.makedirs(base / "by-os" / dst_rel)
    assert sorted(os.listdir(base / "out")) == sorted(os.listdir(base / "by-os"))
    assert fastlink_entries(base) == []


# Not through the test suite's source guard (conftest), which looks at the
# paths itself first.
clone_or_copy = getattr(fastlink.clone_or_copy, "__wrapped__", fastlink.clone_or_copy)
clone_files = getattr(fastlink.clone_files, "__wrapped__", fastlink.clone_files)
NUL_CALLS = {
    "src": lambda base: clone_or_copy(base / "s\0rc", base / "dst"),
    "dst": lambda base: clone_or_copy(base / "src", os.fspath(base / "d") + "\0"),
    "single-file dst": lambda base: clone_or_copy(base / "src" / "f", b"d\0"),
    "probe": lambda base: fastlink.probe(base / "src", os.fspath(base) + "/\0"),
    "clone_files entry": lambda base: clone_files(base / "src", base / "cf", ["f\0"]),
}


@pytest.mark.parametrize("call", sorted(NUL_CALLS))
def test_a_nul_byte_in_a_path_is_a_value_error(tmp_path: Path, call: str) -> None:
    make_tree(tmp_path / "src", {"f": b"data"})
    before = sorted(os.listdir(tmp_path))

    with pytest.raises(ValueError, match="embedded null byte"):
        NUL_CALLS[call](tmp_path)

    assert sorted(os.listdir(tmp_path)) == before


def test_overwriting_calls_racing_for_one_new_name_all_succeed(xfs: Path, fresh_dir) -> None:
    """overwrite=True: a file another call put at `dst` after this one
    looked is replaced, as one found when it looked would have been."""
    base = fresh_dir(xfs)
    sources = []
    for i in range(4):  # over 1 MiB: the staged path, not the nameless one
        make_tree(base / f"cache{i}", {"x.bin": File(random_bytes(3 << 20, i))})
        sources.append(base / f"cache{i}" / "x.bin")
    errors: list[BaseException] = []

    for round_ in range(25):
        dst = base / f"site{round_}" / "x.bin"
        dst.parent.mkdir()

        def place(src: Path, dst: Path = dst) -> None:
            try:
                fastlink.clone_or_copy(src, dst, overwrite=True)
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=place, args=(src,)) for src in sources]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert dst.read_bytes() in {src.read_bytes() for src in sources}
    assert errors == []
    assert fastlink_entries(base) == []


@pytest.mark.parametrize("call", ["tree", "single-file", "clone_files"])
def test_an_empty_dst_is_file_not_found(tmp_path: Path, call: str) -> None:
    make_tree(tmp_path / "src", {"a.txt": b"a"})
    with pytest.raises(FileNotFoundError):
        if call == "tree":
            fastlink.clone_or_copy(tmp_path / "src", "")
        elif call == "single-file":
            fastlink.clone_or_copy(tmp_path / "src" / "a.txt", "")
        else:
            fastlink.clone_files(tmp_path / "src", "", ["a.txt"])

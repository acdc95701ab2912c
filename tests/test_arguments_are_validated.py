"""Arguments: paths as str, bytes or PathLike; bad methods and threads are clear errors."""

import os
from pathlib import Path

import fastlink
import pytest


def _src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    return src


def test_bytes_paths_are_accepted(tmp_path: Path) -> None:
    src = _src(tmp_path)
    report = fastlink.clone_or_copy(os.fsencode(src), os.fsencode(tmp_path / "dst"))
    assert report.files == 1
    assert (tmp_path / "dst" / "f").read_bytes() == b"x"


def test_non_utf8_bytes_destination_is_byte_exact(tmp_path: Path) -> None:
    src = _src(tmp_path)
    dst = os.path.join(os.fsencode(tmp_path), b"caf\xe9")
    fastlink.clone_or_copy(src, dst)
    assert b"caf\xe9" in os.listdir(os.fsencode(tmp_path))


def test_probe_accepts_bytes_paths(tmp_path: Path) -> None:
    src = _src(tmp_path)
    assert fastlink.probe(os.fsencode(src), os.fsencode(tmp_path))["copy"] is True


@pytest.mark.parametrize("methods", [b"copy", 3, [b"copy"], ["copy", None]])
def test_methods_of_the_wrong_type_raise_type_error(tmp_path: Path, methods: object) -> None:
    with pytest.raises(TypeError, match="methods must be a str or a sequence of str"):
        fastlink.clone_or_copy(_src(tmp_path), tmp_path / "dst", methods=methods)  # type: ignore[arg-type]
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("methods", ["symlink", (), ["reflink", "clone"]])
def test_unknown_or_empty_methods_raise_value_error(tmp_path: Path, methods: object) -> None:
    with pytest.raises(ValueError):
        fastlink.clone_or_copy(_src(tmp_path), tmp_path / "dst", methods=methods)  # type: ignore[arg-type]
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("threads", [0, -1, 257, 10**12, 10**30])
def test_threads_out_of_range_raise_value_error(tmp_path: Path, threads: int) -> None:
    with pytest.raises(ValueError, match=f"threads must be between 1 and 256, not {threads}"):
        fastlink.clone_or_copy(_src(tmp_path), tmp_path / "dst", threads=threads)
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("threads", ["2", 2.0, True])
def test_threads_that_are_not_ints_raise_type_error(tmp_path: Path, threads: object) -> None:
    with pytest.raises(TypeError, match="threads must be an int"):
        fastlink.clone_or_copy(_src(tmp_path), tmp_path / "dst", threads=threads)  # type: ignore[arg-type]
    assert not (tmp_path / "dst").exists()

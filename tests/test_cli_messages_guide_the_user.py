"""The `fastlink` command's errors say what to do next (issue 20, friction 4),
and a file given an existing directory goes inside it, as cp puts it
(friction 5).

Each test runs `python -m fastlink` in a child process, as test_cli.py does.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
from faultutil import deny_access, unprivileged_prefix
from fdwalk import fastlink_entries
from guardhooks import forget_source
from snapshots import snapshot
from test_cli import (
    CLI,
    TIMEOUT,
    assert_error,
    assert_usage_error,
    cli_env,
    described,
    run_cli,
    summary_of,
)
from treespec import make_tree, sample_spec


@pytest.fixture
def src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    make_tree(src, sample_spec())
    return src


# --------------------------------------------------------------------------
# Friction 4: each message points at the way out
# --------------------------------------------------------------------------


def test_an_existing_directory_dst_suggests_merge(src, tmp_path):
    dst = tmp_path / "existing"
    before = make_tree(dst, {"mine.txt": b"keep me\n"})
    line = assert_error(run_cli(src, dst), 1)
    assert line.startswith(f"fastlink: error: File exists (EEXIST): {src} -> {dst}"), line
    assert "--merge" in line, line
    assert snapshot(dst) == before


def test_a_merge_conflict_suggests_overwrite(src, tmp_path):
    dst = tmp_path / "merged"
    before = make_tree(dst, {"small.txt": b"not the source's\n"})
    line = assert_error(run_cli("--merge", src, dst), 1)
    assert line.startswith("fastlink: error: File exists (EEXIST): "), line
    assert f"{dst / 'small.txt'}" in line, line
    assert "--overwrite" in line, line
    assert snapshot(dst) == before


def test_merging_a_tree_into_a_file_says_not_a_directory(src, tmp_path):
    afile = tmp_path / "afile"
    afile.write_bytes(b"a file\n")
    line = assert_error(run_cli(src, afile, "--merge"), 1)
    assert line.startswith("fastlink: error: Not a directory (ENOTDIR): "), line
    assert "File exists" not in line, line
    assert f"{src} -> {afile}" in line, line
    assert afile.read_bytes() == b"a file\n"
    assert fastlink_entries(tmp_path) == []


@pytest.mark.parametrize("empty", ["DST", "SRC"])
def test_an_empty_path_argument_is_a_usage_error_that_names_it(src, tmp_path, empty):
    args = [src, ""] if empty == "DST" else ["", tmp_path / "dst"]
    line = assert_usage_error(run_cli(*args))
    assert f"{empty} is empty" in line, line
    assert "EINVAL" not in line and "ENOENT" not in line, line
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("side", ["source", "destination"])
def test_permission_denied_says_which_side_was_denied(tmp_path, side):
    base = tmp_path / "perm"
    src, out = base / "src", base / "out"
    make_tree(src, {"pkg": {"mod.py": b"mod\n", "data.bin": b"x" * 5000}})
    out.mkdir(parents=True)
    forget_source(src)  # its ownership and modes change below, on purpose
    os.chmod(base, 0o755)
    denied = src / "pkg" / "data.bin" if side == "source" else out
    deny_access(denied, 0o000 if side == "source" else 0o555)
    dst = out / "dst"
    r = subprocess.run(
        [*unprivileged_prefix(), *CLI, src, dst],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        env=cli_env(),
        timeout=TIMEOUT,
    )
    line = assert_error(r, 1)
    assert line.startswith("fastlink: error: Permission denied (EACCES): "), line
    if side == "source":
        assert f"cannot read {denied} (the source side)" in line, line
    else:
        assert f"cannot write in {denied} (the destination side)" in line, line
    assert not dst.exists()
    os.chown(denied, os.getuid(), os.getgid())
    os.chmod(denied, 0o755)


def test_json_prints_an_error_object_on_stdout_when_the_call_fails(src, tmp_path):
    dst = tmp_path / "existing"
    dst.mkdir()
    r = run_cli("--json", src, dst)
    assert r.returncode == 1, described(r)
    error = json.loads(r.stdout)
    assert error == {
        "src": str(src),
        "dst": str(dst),
        "exit_code": 1,
        "exception": "FileExistsError",
        "errno": errno.EEXIST,
        "error": "EEXIST",
        "message": os.strerror(errno.EEXIST),
        "filename": str(src),
        "filename2": str(dst),
        "hint": error["hint"],
    }
    assert "--merge" in error["hint"]
    # The line on stderr stays, for a person watching.
    assert r.stderr.startswith("fastlink: error: File exists (EEXIST): "), described(r)


def test_json_prints_an_error_object_for_a_usage_error_too(src, tmp_path):
    r = run_cli("--json", "--methods", "bogus", src, tmp_path / "dst")
    assert r.returncode == 2, described(r)
    error = json.loads(r.stdout)
    assert error["exit_code"] == 2 and error["exception"] == "ValueError", error
    assert 'unknown method "bogus"' in error["message"], error
    assert (error["errno"], error["error"], error["hint"]) == (None, None, None), error


# --------------------------------------------------------------------------
# Friction 5: a file given an existing directory goes inside it, as with cp
# --------------------------------------------------------------------------


@pytest.mark.parametrize("spelled", ["existingdir/", "existingdir"])
def test_a_file_given_an_existing_directory_lands_inside_it_as_cp_puts_it(tmp_path, spelled):
    afile = tmp_path / "afile"
    afile.write_bytes(b"payload\n")
    existing = tmp_path / "existingdir"
    make_tree(existing, {"other.txt": b"keep\n"})
    forget_source(existing)  # written into, on purpose
    line = summary_of(run_cli(afile, f"{tmp_path}/{spelled}"))
    assert line.startswith(("cloned 1 file ", "copied 1 file ")), line
    assert (existing / "afile").read_bytes() == b"payload\n"
    assert (existing / "other.txt").read_bytes() == b"keep\n"
    # cp's answer, too: the path inside is reported in --json.
    r = run_cli("--json", "--overwrite", afile, existing)
    assert r.returncode == 0, described(r)
    assert json.loads(r.stdout)["dst"] == str(existing / "afile")


def test_a_file_into_a_directory_holding_that_name_suggests_overwrite(tmp_path):
    afile = tmp_path / "afile"
    afile.write_bytes(b"new\n")
    existing = tmp_path / "existingdir"
    make_tree(existing, {"afile": b"old\n"})
    line = assert_error(run_cli(afile, existing), 1)
    assert f"File exists (EEXIST): {afile} -> {existing / 'afile'}" in line, line
    assert "--overwrite" in line, line
    assert (existing / "afile").read_bytes() == b"old\n"


def test_overwrite_replaces_a_file_with_a_file_without_merge(tmp_path):
    afile, target = tmp_path / "afile", tmp_path / "target"
    afile.write_bytes(b"new\n")
    target.write_bytes(b"old\n")
    summary_of(run_cli("--overwrite", afile, target))
    assert target.read_bytes() == b"new\n"


def test_overwrite_help_says_it_applies_to_a_file_src_without_merge():
    r = run_cli("--help")
    assert r.returncode == 0, described(r)
    text = " ".join(r.stdout.split())
    assert "with --merge, or for a SRC that is a file, replace existing files" in text, text


def test_a_file_at_a_missing_directory_name_is_still_not_a_directory(tmp_path):
    afile = tmp_path / "afile"
    afile.write_bytes(b"x")
    line = assert_error(run_cli(afile, f"{tmp_path}/nodir/"), 1)
    assert "(ENOTDIR)" in line, line


@pytest.mark.parametrize("command", ["install", "probe", "reclaim"])
def test_a_subcommands_usage_error_points_at_its_own_help(command):
    r = run_cli(command)
    assert r.returncode == 2, described(r)
    assert r.stderr.rstrip("\n").endswith(f"(see fastlink {command} --help)"), described(r)

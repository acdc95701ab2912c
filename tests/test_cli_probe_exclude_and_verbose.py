"""What a user of cp or rsync expects of the command too (issue 20, the
extras): `fastlink probe SRC DST` says what a call would use and writes
nothing; `--exclude PATTERN` is `ignore=shutil.ignore_patterns(...)`; `-v`
says what is done through the logging module.
"""

from __future__ import annotations

import json
import os

import pytest
from fdwalk import fastlink_entries
from snapshots import assert_trees_equal, snapshot
from test_cli import assert_succeeded, assert_usage_error, cli_env, described, run_cli, summary_of
from treespec import make_tree


def _listing(path):
    return sorted(os.listdir(path))


@pytest.mark.parametrize("dst_fs,would_use", [("xfs", "reflink"), ("btrfs", "copy")])
def test_probe_says_what_the_call_would_use_and_writes_nothing(
    mounts, xfs, fresh_dir, dst_fs, would_use
):
    src = fresh_dir(xfs) / "src"
    make_tree(src, {"f": b"x" * 70_000})
    base = fresh_dir(mounts.get(dst_fs))
    dst = base / "venv" / "site-packages"
    r = run_cli("probe", src, dst)
    assert_succeeded(r)
    lines = r.stdout.splitlines()
    works = "works" if would_use == "reflink" else "not possible"
    assert lines[:3] == [f"reflink  {works}", f"hardlink {works}", "copy     works"], lines
    assert lines[3] == f"fastlink {src} {dst} would use {would_use} (methods reflink,copy)"
    assert _listing(base) == []

    answer = json.loads(run_cli("probe", "--json", "--methods", "hardlink", src, dst).stdout)
    assert answer == {
        "src": str(src),
        "dst": str(dst),
        "methods": ["hardlink"],
        "works": {
            "reflink": would_use == "reflink",
            "hardlink": would_use == "reflink",
            "copy": True,
        },
        "would_use": "hardlink" if would_use == "reflink" else None,
    }
    assert _listing(base) == []


def test_probe_takes_methods_from_fastlink_methods_and_checks_them(tmp_path):
    (tmp_path / "src").mkdir()
    r = run_cli("probe", tmp_path / "src", tmp_path, env=cli_env(FASTLINK_METHODS="copy"))
    assert_succeeded(r)
    assert r.stdout.splitlines()[-1].endswith("would use copy (methods copy)"), described(r)
    line = assert_usage_error(run_cli("probe", "--methods", "bogus", tmp_path / "src", tmp_path))
    assert 'unknown method "bogus"' in line


def test_exclude_leaves_out_what_shutil_ignore_patterns_would(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    spec = {
        "mod.py": b"m\n",
        "mod.pyc": b"c",
        "__pycache__": {"mod.cpython-312.pyc": b"c"},
        "pkg": {"a.py": b"a\n", "a.pyc": b"c", "__pycache__": {"a.pyc": b"c"}},
    }
    make_tree(src, spec)
    summary_of(run_cli("--exclude", "*.pyc", "--exclude", "__pycache__", src, dst))
    kept = {"mod.py": b"m\n", "pkg": {"a.py": b"a\n"}}
    make_tree(tmp_path / "expected", kept)
    assert_trees_equal(snapshot(tmp_path / "expected"), dst, times=False, include_root=False)
    assert fastlink_entries(tmp_path) == []


def test_verbose_logs_what_is_done_on_stderr_and_keeps_the_summary(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, {"f": b"x" * 1000, "sub": {"g": b"y"}})
    r = run_cli("-v", "--methods", "copy", src, dst)
    assert r.returncode == 0, described(r)
    assert r.stdout.startswith("copied 2 files, 2 dirs "), described(r)
    log = r.stderr.splitlines()
    assert log[0] == f"fastlink: placing {src} -> {dst} (methods copy)", log
    assert "fastlink: method copy: 2 copied" in log, log
    assert all(line.startswith("fastlink: ") for line in log), log
